"""Healthy verdicts against real servers of both eras: ours, the Python and TypeScript SDKs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from mcpfleet.probe import Verdict
from mcpfleet.probe.cli import probe as probe_command
from tests.conftest import ServerProcess, serving
from tests.probe.helpers import phase, run, statuses
from tests.probe.servers import sdk_server, ts_server

MODERN_PHASES = [
    "dns",
    "tcp",
    "http",
    "era",
    "server/discover",
    "tools/list",
    "checks",
    "drift",
    "mcp-name-validation",
]
LEGACY_PHASES = [
    "dns",
    "tcp",
    "http",
    "initialize",
    "notifications/initialized",
    "tools/list",
    "checks",
    "drift",
    "unknown-session",
    "delete",
]


@pytest.fixture(scope="module")
def target() -> Iterator[ServerProcess]:
    with serving("tests.probe.apps:app") as server:
        yield server


def test_mcpfleet_modern_is_healthy(conformance_server: ServerProcess) -> None:
    """mcpfleet answers server/discover, so auto-detection picks modern and every phase passes."""
    report = run(conformance_server.url)
    assert report.verdict is Verdict.HEALTHY, statuses(report)
    assert report.era == "modern"
    assert [p.name for p in report.phases] == MODERN_PHASES
    assert report.tools_hash is not None
    assert report.tools_hash.startswith("sha256:")


def test_mcpfleet_legacy_is_healthy(conformance_server: ServerProcess) -> None:
    """With --era legacy, mcpfleet's 2025 session passes initialize to DELETE, with 404s."""
    report = run(conformance_server.url, era="legacy")
    assert report.verdict is Verdict.HEALTHY, statuses(report)
    assert report.era == "legacy"
    assert [p.name for p in report.phases] == LEGACY_PHASES
    assert report.tools_hash == run(conformance_server.url).tools_hash


def test_read_only_call_mirrors_headers(target: ServerProcess) -> None:
    """--call of a read-only tool succeeds on the modern era, its x-mcp-header mirrored."""
    report = run(target.url, call="lookup", args={"region": "eu-west-1", "key": "k"})
    assert report.verdict is Verdict.HEALTHY, statuses(report)
    assert phase(report, "call").status.value == "ok"


def test_call_of_writing_tool_is_refused_unless_forced(target: ServerProcess) -> None:
    """A tool not annotated read-only is not called without --force, and is with it."""
    refused = run(target.url, call="remove", args={"key": "a"})
    assert phase(refused, "call").status.value == "skip"
    assert "readOnlyHint" in phase(refused, "call").detail
    forced = run(target.url, call="remove", args={"key": "a"}, force=True, era="legacy")
    assert phase(forced, "call").status.value == "ok"
    assert forced.verdict is Verdict.HEALTHY


def test_cli_command_object_exits_zero(conformance_server: ServerProcess) -> None:
    """The click command `probe` prints a table with the verdict and exits 0 when healthy."""
    result = CliRunner().invoke(probe_command, [conformance_server.url])
    assert result.exit_code == 0, result.output
    assert "healthy" in result.output
    assert "server/discover" in result.output


@pytest.mark.parametrize(
    ("json_response", "stateless"),
    [(False, False), (False, True), (True, False)],
    ids=["stateful-sse", "stateless-sse", "stateful-json"],
)
def test_python_sdk_server_is_healthy(json_response: bool, stateless: bool) -> None:
    """mcp 2.3.0's MCPServer is healthy in the modern era and in a forced 2025 session."""
    with sdk_server(json_response=json_response, stateless=stateless) as url:
        modern = run(url)
        legacy = run(url, era="legacy", call="echo", args={"text": "hi"}, force=True)
    assert modern.verdict is Verdict.HEALTHY, statuses(modern)
    assert modern.era == "modern"
    assert legacy.verdict is Verdict.HEALTHY, statuses(legacy)
    assert phase(legacy, "call").status.value == "ok"
    assert ("unknown-session" in statuses(legacy)) is not stateless


def test_typescript_sdk_server_is_healthy() -> None:
    """The TypeScript SDK's server refuses server/discover with 400, so the probe falls back to
    initialize, and the whole 2025 session, including a read-only call, passes."""
    with ts_server() as url:
        report = run(url, call="echo", args={"text": "hi"})
    assert report.verdict is Verdict.HEALTHY, statuses(report)
    assert report.era == "legacy"
    assert phase(report, "era").detail.startswith("legacy")
    assert phase(report, "call").status.value == "ok"
    assert phase(report, "delete").status.value == "ok"
