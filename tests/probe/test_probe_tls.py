"""TLS verdicts from certificates made in the test, served by a local HTTPS server."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpfleet.probe import Verdict
from tests.probe import hostile
from tests.probe.apps import app as target_app
from tests.probe.certs import CertAuthority
from tests.probe.helpers import phase, run, statuses
from tests.probe.servers import threaded


@pytest.mark.parametrize(
    ("cert", "verdict", "failing", "words"),
    [
        ({}, Verdict.HEALTHY, None, "valid"),
        ({"days_left": -2, "days_old": 30}, Verdict.DOWN, "tls", "expired"),
        ({"host": "wrong.example"}, Verdict.DOWN, "tls", "hostname mismatch"),
        ({"days_left": 5}, Verdict.DEGRADED, "tls", "expires in"),
    ],
    ids=["valid", "expired", "wrong-host", "expiring-in-5-days"],
)
def test_tls_verdicts(
    tmp_path: Path, cert: dict[str, object], verdict: Verdict, failing: str | None, words: str
) -> None:
    """Valid: healthy; expired or for another host: down at tls; 5 days left: degraded at tls."""
    ca = CertAuthority(tmp_path)
    certfile, keyfile = ca.issue("server", **cert)  # type: ignore[arg-type]
    app = hostile.mcp_app(target_app)
    with threaded(app, lifespan="on", ssl_certfile=certfile, ssl_keyfile=keyfile) as server:
        report = run(f"https://localhost:{server.port}/mcp", cafile=str(ca.path), timeout=5)
    assert report.verdict is verdict, statuses(report)
    assert report.failing_phase == failing
    assert words in phase(report, "tls").detail
    if verdict is Verdict.HEALTHY:
        assert phase(report, "tls").data["daysLeft"] > 80


def test_untrusted_ca_is_down_at_tls(tmp_path: Path) -> None:
    """A certificate from a CA the prober was not told to trust: down at tls."""
    ca = CertAuthority(tmp_path)
    certfile, keyfile = ca.issue("server")
    (tmp_path / "other").mkdir()
    stranger = CertAuthority(tmp_path / "other")
    with threaded(hostile.HTML_200, ssl_certfile=certfile, ssl_keyfile=keyfile) as server:
        report = run(f"https://localhost:{server.port}/mcp", cafile=str(stranger.path), timeout=5)
    assert report.verdict is Verdict.DOWN
    assert report.failing_phase == "tls"
