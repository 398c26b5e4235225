"""The auth phase: a 401 followed to RFC 9728 and RFC 8414 metadata; credentials used when given."""

from __future__ import annotations

from mcpfleet.probe import Verdict
from tests.probe import hostile
from tests.probe.apps import app as target_app
from tests.probe.helpers import phase, run, statuses
from tests.probe.servers import threaded


def test_unauthenticated_probe_follows_metadata() -> None:
    """Without credentials, a 401 leading to complete metadata is a healthy auth phase."""
    app = hostile.protected(hostile.mcp_app(target_app))
    with threaded(app, lifespan="on") as server:
        report = run(server.url)
    auth = phase(report, "auth")
    assert report.verdict is Verdict.HEALTHY, statuses(report)
    assert auth.status.value == "ok"
    assert auth.data["authorizationServer"].endswith("/auth")
    assert auth.data["authorizationServerMetadata"].endswith(
        "/.well-known/oauth-authorization-server/auth"
    )


def test_incomplete_metadata_is_degraded_and_named() -> None:
    """Authorization server metadata without token endpoint or PKCE: degraded, each named."""
    app = hostile.protected(hostile.mcp_app(target_app), complete=False)
    with threaded(app, lifespan="on") as server:
        report = run(server.url)
    auth = phase(report, "auth")
    assert report.verdict is Verdict.DEGRADED
    assert report.failing_phase == "auth"
    assert "'token_endpoint' in the authorization server metadata" in auth.data["missing"]
    assert "PKCE S256 in code_challenge_methods_supported" in auth.data["missing"]


def test_401_without_challenge_or_metadata_is_degraded() -> None:
    """A bare 401 with no WWW-Authenticate and no metadata: degraded, what is missing listed."""
    app = hostile.fixed(401, b"{}", "application/json")
    with threaded(app) as server:
        report = run(server.url)
    missing = phase(report, "auth").data["missing"]
    assert report.verdict is Verdict.DEGRADED
    assert "WWW-Authenticate: Bearer challenge" in missing
    assert any(item.startswith("protected resource metadata") for item in missing)


def test_token_gives_the_full_sequence() -> None:
    """With the right --token every phase runs and passes; a wrong token is down at auth."""
    app = hostile.protected(hostile.mcp_app(target_app))
    with threaded(app, lifespan="on") as server:
        good = run(
            server.url,
            headers={"authorization": f"Bearer {hostile.TOKEN}"},
            call="lookup",
            args={"region": "eu", "key": "k"},
        )
        bad = run(server.url, headers={"authorization": "Bearer wrong"})
    assert good.verdict is Verdict.HEALTHY, statuses(good)
    assert phase(good, "call").status.value == "ok"
    assert "auth" not in statuses(good)
    assert bad.verdict is Verdict.DOWN
    assert bad.failing_phase == "auth"
