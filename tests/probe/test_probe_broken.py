"""Down and degraded verdicts, each naming its failing phase, against broken or hostile servers."""

from __future__ import annotations

import time

import pytest

from mcpfleet.probe import Verdict
from tests.conftest import ServerProcess
from tests.probe import hostile
from tests.probe.apps import app as target_app
from tests.probe.apps import other
from tests.probe.helpers import cli, phase, run, statuses
from tests.probe.servers import silent_listener, threaded


@pytest.mark.parametrize(
    ("app", "words"),
    [
        (hostile.HTML_200, "unexpected content type text/html"),
        (hostile.ERROR_500, "HTTP 500"),
        (hostile.BAD_UTF8, "not valid UTF-8"),
        (hostile.redirect_loop, "redirect"),
        (hostile.HUGE_JSON, "body larger than"),
        (hostile.BAD_UTF8_SSE, "SSE stream is not valid UTF-8"),
        (hostile.LONG_SSE_LINE, "SSE line longer than"),
    ],
    ids=[
        "html-200",
        "http-500",
        "invalid-utf8",
        "redirect-loop",
        "huge-body",
        "invalid-utf8-sse",
        "endless-sse-line",
    ],
)
def test_broken_http_is_down_at_http(app: hostile.App, words: str) -> None:
    """An HTML page with 200, a 500, invalid UTF-8 (JSON or SSE), a redirect loop, a body over
    the size bound or an SSE line without end: down, phase http, the cause named."""
    with threaded(app) as server:
        report = run(server.url, timeout=5)
    assert report.verdict is Verdict.DOWN
    assert report.failing_phase == "http"
    assert words in phase(report, "http").detail


def test_server_that_never_answers_is_down_within_timeout() -> None:
    """A listener that accepts and never answers: down at http, within the probe timeout."""
    with silent_listener() as url:
        start = time.monotonic()
        report = run(url, timeout=1.5)
        elapsed = time.monotonic() - start
    assert report.verdict is Verdict.DOWN
    assert report.failing_phase == "http"
    assert "no response before the timeout" in phase(report, "http").detail
    assert elapsed < 1.5 + 1.0


def test_endless_sse_stream_is_cut_off() -> None:
    """An SSE stream that never carries a response ends at the timeout: down, phase http."""
    with threaded(hostile.endless_sse) as server:
        start = time.monotonic()
        report = run(server.url, timeout=1.0)
        elapsed = time.monotonic() - start
    assert report.verdict is Verdict.DOWN
    assert report.failing_phase == "http"
    assert "SSE stream still open" in phase(report, "http").detail
    assert elapsed < 2.0


def test_nothing_listening_is_down_at_tcp() -> None:
    """A closed port: down, phase tcp."""
    with silent_listener() as url:
        pass  # the port is free again
    report = run(url, timeout=2)
    assert report.verdict is Verdict.DOWN
    assert report.failing_phase == "tcp"


def test_legacy_400_for_unknown_session_is_degraded() -> None:
    """A 2025-only server answering an unknown session with 400 (not 404): degraded, named."""
    with threaded(hostile.legacy_400(hostile.mcp_app(target_app)), lifespan="on") as server:
        report = run(server.url)
    assert report.era == "legacy"
    assert report.verdict is Verdict.DEGRADED, statuses(report)
    assert report.failing_phase == "unknown-session"
    assert "HTTP 400" in phase(report, "unknown-session").detail


def test_missing_mcp_name_validation_is_degraded() -> None:
    """A modern server that accepts a mismatched Mcp-Name: degraded at mcp-name-validation."""
    app = hostile.no_name_validation(hostile.mcp_app(target_app))
    with threaded(app, lifespan="on") as server:
        report = run(server.url)
    assert report.era == "modern"
    assert report.verdict is Verdict.DEGRADED, statuses(report)
    assert report.failing_phase == "mcp-name-validation"
    assert "validation missing" in phase(report, "mcp-name-validation").detail


def test_changed_tool_list_is_degraded_at_drift() -> None:
    """The same hash again is healthy; the hash of a different tool list is drift: degraded."""
    with threaded(hostile.mcp_app(other), lifespan="on") as before:
        old_hash = run(before.url).tools_hash
    with threaded(hostile.mcp_app(target_app), lifespan="on") as after:
        current = run(after.url).tools_hash
        unchanged = run(after.url, expect_hash=current)
        changed = run(after.url, expect_hash=old_hash)
    assert old_hash != current
    assert unchanged.verdict is Verdict.HEALTHY
    assert changed.verdict is Verdict.DEGRADED
    assert changed.failing_phase == "drift"
    assert old_hash is not None
    assert old_hash in phase(changed, "drift").detail


def test_slow_phase_is_degraded(conformance_server: ServerProcess) -> None:
    """A phase over --slow-ms makes a working endpoint degraded, with the phase named."""
    report = run(conformance_server.url, slow_ms=0.001)
    assert report.verdict is Verdict.DEGRADED
    assert "slow" in phase(report, report.failing_phase or "").detail


def test_cli_exit_codes_and_json() -> None:
    """`python -m mcpfleet.probe --json` exits 2 for down and prints every phase."""
    with threaded(hostile.HTML_200) as server:
        code, output, _ = cli(server.url, "--timeout", "3")
    assert code == 2
    assert output["verdict"] == "down"
    assert output["failingPhase"] == "http"
    assert [p["name"] for p in output["phases"]] == ["dns", "tcp", "http"]
