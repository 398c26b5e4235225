"""With tracing off, or the otel extra absent, the app served is the app itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mcpfleet.config import Config
from mcpfleet.observe.otel import OtelSettings, wrap
from mcpfleet.server.app import Server
from mcpfleet.transport.asgi import McpApp
from tests.conftest import ROOT


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": ""},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SDK_DISABLED": "true"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_TRACES_EXPORTER": "none"},
    ],
    ids=["unset", "empty", "sdk-disabled", "exporter-none"],
)
def test_off_returns_the_app_itself(env: dict[str, str]) -> None:
    """Without an OTLP endpoint (or with the SDK disabled) wrap returns the same object."""
    config = Config()
    app = McpApp(Server("plain", "1"), config)
    assert wrap(app, config, env) is app


def test_settings_follow_the_sdk_variables() -> None:
    """Endpoints and intervals come from the variables every OpenTelemetry SDK reads."""
    settings = OtelSettings.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_METRICS_EXPORTER": "none",
        }
    )
    assert settings == OtelSettings("http://collector:4318/v1/traces", None, 200.0, None)
    only_traces = OtelSettings.from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x"})
    assert only_traces == OtelSettings("http://t/x", None, None, None)


# Runs in a fresh interpreter: OpenTelemetry cannot be imported at all, as if the extra
# were not installed; serving a request imports nothing of it, and asking for tracing
# fails at start, naming the extra.
ABSENT = textwrap.dedent(
    """
    import asyncio, importlib.abc, sys

    class NoOpenTelemetry(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ImportError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoOpenTelemetry())

    from mcpfleet.config import Config
    from mcpfleet.errors import ConfigError
    from mcpfleet.observe.otel import check_tracing, wrap
    from mcpfleet.server.app import Server
    from mcpfleet.transport.asgi import McpApp

    server = Server("plain", "1")

    @server.tool()
    async def echo(text: str) -> str:
        return text

    config = Config()
    app = McpApp(server, config)
    assert wrap(app, config, {}) is app
    body = (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo",'
            b'"arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":'
            b'"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}')
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"accept", b"application/json, text/event-stream"),
               (b"mcp-protocol-version", b"2026-07-28"), (b"mcp-method", b"tools/call"),
               (b"mcp-name", b"echo")]
    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": headers,
             "query_string": b"", "http_version": "1.1"}
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200, sent
    assert b'"hi"' in b"".join(m.get("body", b"") for m in sent[1:]), sent
    assert not [m for m in sys.modules if m.startswith("opentelemetry")]
    try:
        wrap(app, config, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    except ConfigError as error:
        assert "mcpfleet[otel]" in str(error), error
    else:
        raise AssertionError("tracing was asked for without the extra")
    assert check_tracing({}) is False
    try:
        check_tracing({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/v1/traces"})
    except ConfigError as error:
        assert "mcpfleet[otel]" in str(error), error
    else:
        raise AssertionError("the check passed without the extra")
    print("unchanged")
    """
)


def test_absent_extra_changes_nothing() -> None:
    """Without OpenTelemetry installed, requests are served, nothing of it is imported, and
    asking for tracing fails at start naming the extra."""
    done = subprocess.run(
        [sys.executable, "-c", ABSENT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "unchanged"


def test_off_imports_nothing_even_when_installed() -> None:
    """With the extra installed but tracing off, the CLI, runner and app import none of it."""
    code = (
        "import sys; import mcpfleet.cli, mcpfleet.runner, mcpfleet.observe.otel\n"
        "from mcpfleet.config import Config; from mcpfleet.observe.otel import wrap\n"
        "from mcpfleet.server.app import Server; from mcpfleet.transport.asgi import McpApp\n"
        "c = Config(); a = McpApp(Server('p', '1'), c); assert wrap(a, c, {}) is a\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
