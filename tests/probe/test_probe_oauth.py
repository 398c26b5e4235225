"""The probe with credentials against a real mcpfleet OAuth resource server (``jwt_app``) and
the tests' own authorization server: ``--token``, and ``--client-credentials``, which finds
the token endpoint from the 401 and gets its own token. No output shows a token or a secret.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from mcpfleet.probe import ClientCredentials, Verdict
from mcpfleet.probe.cli import probe as probe_command
from tests.auth_support.oauth_server import ClientCredentials as Client
from tests.auth_support.oauth_server import OAuthServer, oauth_server
from tests.conftest import ServerProcess, free_port
from tests.probe import hostile
from tests.probe.apps import app as target_app
from tests.probe.helpers import cli, cli_text, phase, run, statuses
from tests.probe.servers import threaded

JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.")  # any JWT access token in the output
ALL_SCOPES = "docs:read docs:write docs:admin"
SECRET = "probe-client-secret-0123456789"


@pytest.fixture(scope="module")
def auth() -> Iterator[OAuthServer]:
    with oauth_server() as server:
        yield server


@contextlib.contextmanager
def jwt_server(auth: OAuthServer, audience: str | None = None) -> Iterator[ServerProcess]:
    """``jwt_app`` on a free port; the audience is its own URL unless given. Listings are
    unfiltered, so a token without a tool's scope still sees the tool (and meets the 403)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "AUTH_ISSUER": auth.issuer,
        "AUTH_AUDIENCE": audience or f"{base}/mcp",
        "AUTH_JWKS_URL": auth.jwks_url,
        "AUTH_FILTER_LISTS": "0",
    }
    running = ServerProcess("tests.auth.guarded_app:jwt_app", env)
    # The audience names the port, so the port is chosen first and handed to the server.
    running.port, running.base, running.url = port, base, f"{base}/mcp"
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def server(auth: OAuthServer) -> Iterator[ServerProcess]:
    with jwt_server(auth) as running:
        yield running


@pytest.fixture(scope="module")
def client(auth: OAuthServer) -> Client:
    return auth.register_client(client_secret=SECRET)


def credentials_env(client: Client, secret: str | None = None) -> dict[str, str]:
    return {
        "MCP_PROBE_CLIENT_ID": client.client_id,
        "MCP_PROBE_CLIENT_SECRET": secret or client.client_secret or "",
    }


def phases_of(output: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in output["phases"]}


def test_good_token_from_the_environment_is_healthy(
    server: ServerProcess, auth: OAuthServer
) -> None:
    """A good token in MCP_PROBE_TOKEN is sent on every phase: healthy, and never printed."""
    token = auth.mint({"aud": server.url, "scope": ALL_SCOPES})
    code, output, _ = cli(server.url, env={"MCP_PROBE_TOKEN": token})
    text = cli_text(server.url, "--token", token)
    assert (code, output["verdict"]) == (0, "healthy"), output
    assert "whoami" in output["tools"]
    assert "auth" not in phases_of(output)
    assert text.returncode == 0, text.stdout
    assert "healthy" in text.stdout
    for printed in (str(output), text.stdout, text.stderr):
        assert token not in printed
        assert token.split(".")[2] not in printed


def test_bad_token_is_refused_with_invalid_token(server: ServerProcess, auth: OAuthServer) -> None:
    """A token with a broken signature: down at auth, saying 401 and invalid_token."""
    token = auth.mint({"aud": server.url, "scope": ALL_SCOPES}, signature="garbage")
    code, output, _ = cli(server.url, "--token", token)
    text = cli_text(server.url, env={"MCP_PROBE_TOKEN": token})
    refusal = phases_of(output)["auth"]
    assert (code, output["verdict"], output["failingPhase"]) == (2, "down", "auth")
    assert refusal["status"] == "fail"
    assert "HTTP 401" in refusal["detail"]
    assert "invalid_token" in refusal["detail"]
    assert refusal["data"]["error"] == "invalid_token"
    assert text.returncode == 2
    assert "invalid_token" in text.stdout
    for printed in (str(output), text.stdout, text.stderr):
        assert token not in printed


@pytest.mark.parametrize(("era", "expected"), [("auto", "modern"), ("legacy", "legacy")])
def test_client_credentials_end_to_end(
    server: ServerProcess, auth: OAuthServer, client: Client, era: str, expected: str
) -> None:
    """--client-credentials discovers the token endpoint from the 401, gets a token for the
    resource with the metadata's scopes, and every phase of the era passes with it."""
    args = (server.url, "--client-credentials", "--era", era, "--call", "whoami", "--force")
    code, output, _ = cli(*args, env=credentials_env(client))
    text = cli_text(*args, env=credentials_env(client))
    grant = phases_of(output)["auth"]
    assert (code, output["verdict"], output["era"]) == (0, "healthy", expected), output
    assert [p["name"] for p in output["phases"]][:3] == ["dns", "tcp", "auth"]
    assert grant["status"] == "ok"
    assert grant["data"]["tokenEndpoint"] == auth.token_endpoint
    assert grant["data"]["resource"] == server.url
    assert grant["data"]["clientAuth"] == "client_secret_basic"
    assert grant["data"]["authorizationServer"] == auth.issuer
    assert grant["data"]["scopeGranted"] == ALL_SCOPES
    assert grant["data"]["expiresIn"] == 300
    assert "expires in 300 s" in grant["detail"]
    assert phases_of(output)["call"]["status"] == "ok"
    assert text.returncode == 0
    assert "auth" in text.stdout
    for printed in (str(output), text.stdout, text.stderr):
        assert SECRET not in printed
        assert JWT.search(printed) is None


def test_wrong_secret_fails_the_auth_phase(server: ServerProcess, client: Client) -> None:
    """A wrong client secret: down at auth with the server's invalid_client, never echoed."""
    wrong = "wrong-secret-9876543210"
    args = (server.url, "--client-credentials")
    code, output, _ = cli(*args, env=credentials_env(client, wrong))
    text = cli_text(*args, env=credentials_env(client, wrong))
    grant = phases_of(output)["auth"]
    assert (code, output["verdict"], output["failingPhase"]) == (2, "down", "auth")
    assert grant["status"] == "fail"
    assert grant["detail"].startswith("token refused: HTTP 401, invalid_client")
    assert grant["data"]["error"] == "invalid_client"
    assert "http" not in phases_of(output)  # nothing ran without a token
    assert text.returncode == 2
    assert "invalid_client" in text.stdout
    for printed in (str(output), text.stdout, text.stderr):
        assert wrong not in printed


def test_missing_scope_is_reported_as_insufficient_scope(
    server: ServerProcess, client: Client
) -> None:
    """A token asked with --scope docs:write only: read_doc's call is a 403 naming
    insufficient_scope and the scope it needs."""
    args = (
        server.url,
        "--client-credentials",
        "--scope",
        "docs:write",
        "--call",
        "read_doc",
        "--args",
        '{"doc": "a"}',
        "--force",
    )
    code, output, _ = cli(*args, env=credentials_env(client))
    call = phases_of(output)["call"]
    assert phases_of(output)["auth"]["data"]["scopeGranted"] == "docs:write"
    assert (code, output["failingPhase"]) == (2, "call")
    assert call["status"] == "fail"
    assert call["data"] == {"httpStatus": 403, "error": "insufficient_scope"}
    assert "HTTP 403" in call["detail"]
    assert "insufficient_scope (scope docs:read)" in call["detail"]


def test_python_api_takes_client_credentials(server: ServerProcess, client: Client) -> None:
    """Options(client_credentials=...) does the same through the Python API, in either era."""
    credentials = ClientCredentials(client.client_id, SECRET, scope="docs:read")
    assert SECRET not in repr(credentials)
    report = run(server.url, client_credentials=credentials, call="read_doc", args={"doc": "a"})
    assert report.verdict is Verdict.HEALTHY, statuses(report)
    assert phase(report, "call").status.value == "skip"  # read_doc is not annotated read-only
    forced = run(
        server.url,
        client_credentials=credentials,
        call="read_doc",
        args={"doc": "a"},
        force=True,
        era="legacy",
    )
    assert forced.verdict is Verdict.HEALTHY, statuses(forced)
    assert phase(forced, "auth").data["scopeGranted"] == "docs:read"


def test_token_the_resource_refuses_is_named(auth: OAuthServer, client: Client) -> None:
    """A token the endpoint refuses after the grant (another audience): auth ok, then a
    failed credentials phase with the server's invalid_token."""
    credentials = ClientCredentials(client.client_id, SECRET)
    with jwt_server(auth, audience="https://somewhere-else.example.test/mcp") as other:
        report = run(other.url, client_credentials=credentials)
    assert phase(report, "auth").status.value == "ok"
    refused = phase(report, "credentials")
    assert (report.verdict, report.failing_phase) == (Verdict.DOWN, "credentials")
    assert refused.data["error"] == "invalid_token"


def test_unprotected_endpoint_has_no_challenge(conformance_server: ServerProcess) -> None:
    """--client-credentials against an endpoint that answers without a token: no challenge."""
    report = run(conformance_server.url, client_credentials=ClientCredentials("id", "s3cret-x"))
    grant = phase(report, "auth")
    assert (report.verdict, report.failing_phase) == (Verdict.DOWN, "auth")
    assert grant.detail.startswith("no challenge: without a token the endpoint answered HTTP 200")


def test_unreachable_metadata_is_named() -> None:
    """A challenge pointing at metadata that is not there: metadata unreachable, with the URL."""
    nowhere = "http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        challenge = f'Bearer resource_metadata="{nowhere}"'.encode()
        await hostile.respond(
            send, 401, b"{}", "application/json", [(b"www-authenticate", challenge)]
        )

    with threaded(app) as endpoint:
        report = run(endpoint.url, client_credentials=ClientCredentials("id", "s3cret-x"))
    assert (
        phase(report, "auth").detail
        == f"metadata unreachable: protected resource metadata at {nowhere}"
    )


def test_missing_token_endpoint_is_named() -> None:
    """Authorization server metadata without token_endpoint: no token endpoint, secret unsent."""
    app = hostile.protected(hostile.mcp_app(target_app), complete=False)
    with threaded(app, lifespan="on") as endpoint:
        report = run(endpoint.url, client_credentials=ClientCredentials("id", "s3cret-x"))
    grant = phase(report, "auth")
    assert grant.detail == "no token endpoint in the authorization server metadata"
    assert grant.data["authorizationServer"].endswith("/auth")
    assert report.verdict is Verdict.DOWN


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--client-credentials"], {}, "MCP_PROBE_CLIENT_ID and MCP_PROBE_CLIENT_SECRET"),
        (["--scope", "a"], {}, "--scope and --auth-server need --client-credentials"),
        (
            ["--client-credentials"],
            {"MCP_PROBE_TOKEN": "t", "MCP_PROBE_CLIENT_ID": "i", "MCP_PROBE_CLIENT_SECRET": "s"},
            "gets its own token",
        ),
    ],
    ids=["no client", "scope alone", "token and client"],
)
def test_usage_errors_say_what_is_missing(
    args: list[str], env: dict[str, str], message: str
) -> None:
    """Misused auth options are refused before anything is sent, saying why."""
    clean = {"MCP_PROBE_TOKEN": None, "MCP_PROBE_CLIENT_ID": None, "MCP_PROBE_CLIENT_SECRET": None}
    result = CliRunner().invoke(
        probe_command, ["http://127.0.0.1:9/mcp", *args], env={**clean, **env}
    )
    assert result.exit_code == 2
    assert message in result.output
