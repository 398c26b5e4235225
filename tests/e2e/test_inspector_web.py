"""The MCP Inspector's web UI, in headless Chromium, connected straight to mcpfleet.

The Inspector (v1 line, ``@modelcontextprotocol/inspector@1.0.3``, installed by
scripts/install-tools.sh into .tools/inspector-web) serves its UI from its own loopback
origin; with the connection type "Direct" the page's own fetches reach mcpfleet, so the
browser's preflights and CORS checks decide. The Inspector's proxy is not started at all:
the UI still asks it for default settings once at start-up (and logs that it could not),
which is the only console error allowed.

Era: the v1 web client bundles TypeScript SDK 1.x, which speaks only the 2025 era (it
initializes with 2025-11-25 and keeps the session); it has no protocol-version setting.
The Inspector that speaks 2026-07-28 (v2) connects from its Node backend, never from the
browser, so no Inspector reaches the 2026-07-28 era directly from a page.
The second test pins that down, so an upgrade that changes it is noticed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, serving
from tests.e2e.devtools import CHROMIUM, ConsoleEntry, Exchange, Page, headless_chromium

TOOLS = ROOT / ".tools"
NODE = TOOLS / "node22" / "node_modules" / ".bin" / "node"
INSPECTOR_CLIENT = (
    TOOLS / "inspector-web" / "node_modules" / "@modelcontextprotocol" / "inspector-client"
)


def button(text: str) -> str:
    """A JavaScript expression for the button whose text is ``text``."""
    return f"[...document.querySelectorAll('button')].find(e => e.textContent.trim() === {text!r})"


def tab(text: str) -> str:
    """A JavaScript expression for the tab whose text is ``text``."""
    return (
        f"[...document.querySelectorAll('[role=tab]')].find(e => e.textContent.trim() === {text!r})"
    )


@contextlib.contextmanager
def inspector_ui(log: Path) -> Iterator[str]:
    """The Inspector's web client (its static server only) on a free loopback port; yields
    its origin."""
    if not NODE.exists() or not INSPECTOR_CLIENT.exists():
        pytest.fail("the MCP Inspector web UI is not installed: run scripts/install-tools.sh")
    if shutil.which(CHROMIUM) is None:
        pytest.fail("chromium is missing: apt-get install chromium (Debian)")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CLIENT_PORT": str(port), "HOST": "127.0.0.1",
           "MCP_AUTO_OPEN_ENABLED": "false"}  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(NODE), str(INSPECTOR_CLIENT / "bin" / "client.js")],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                assert process.poll() is None, log.read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(origin, timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the Inspector UI did not start in 20 s"
                time.sleep(0.1)
            yield origin
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def connect_directly(page: Page) -> None:
    """Choose the connection type "Direct" in the sidebar and press Connect."""
    page.click("document.getElementById('connection-type-select')", "the connection type")
    page.click(
        "[...document.querySelectorAll('[role=option]')]"
        ".find(e => e.textContent.trim() === 'Direct')",
        "the option Direct",
    )
    page.wait_for(
        "!document.querySelector('[role=listbox]')"
        " && getComputedStyle(document.body).pointerEvents !== 'none'",
        "the connection type's list to close",
    )
    page.click(button("Connect"), "Connect")
    page.wait_for(f"!!{button('Disconnect')}", "the Inspector to connect")


def call_greet(page: Page, name: str) -> str:
    """Tools tab → List Tools → greet → type ``name`` → Run Tool; the result panel's text."""
    page.click(tab("Tools"), "the Tools tab")
    page.click(button("List Tools"), "List Tools")
    page.click(
        "[...document.querySelectorAll('[role=tabpanel] span')]"
        ".find(e => e.textContent.trim() === 'greet')",
        "the tool greet in the list",
    )
    page.click("document.getElementById('name')", "the argument name")
    page.type(name)
    page.click(button("Run Tool"), "Run Tool")
    return str(
        page.wait_for(
            """(() => { const h = [...document.querySelectorAll('h4')]
                          .find(e => e.textContent.startsWith('Tool Result:'));
                        return h && h.parentElement.innerText; })()""",
            "the tool's result",
        )
    )


def mcp_method(exchange: Exchange) -> str | None:
    """The JSON-RPC method a POST carried."""
    if exchange.method != "POST" or not exchange.body:
        return None
    return str(json.loads(exchange.body).get("method"))


def from_the_absent_proxy(entry: ConsoleEntry, proxy: str) -> bool:
    """The UI's start-up request for its proxy's settings, which fails because no proxy
    runs, and the UI's own report of it."""
    return entry.url == f"{proxy}/config" or entry.text.startswith(
        "Error fetching default environment: TypeError: Failed to fetch"
    )


@pytest.mark.timeout(240)
def test_inspector_web_ui_lists_and_calls_directly_in_the_2025_era(tmp_path: Path) -> None:
    """The Inspector's web UI in headless Chromium, connection type Direct, connects to
    mcpfleet from its own origin with no Inspector proxy running: its page's own
    preflighted fetches open a 2025-11-25 session, list the tools, call one (the UI shows
    the tool's result) and end the session on Disconnect; the page logs no CORS error (nor
    any error but the absent proxy's); a screenshot is kept with the test's files."""
    with inspector_ui(tmp_path / "inspector.log") as origin:
        proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        with (
            serving("examples.hello:app", {"ALLOWED_ORIGINS": origin}) as server,
            headless_chromium(tmp_path / "profile") as page,
        ):
            page.open(
                f"{origin}/?transport=streamable-http&serverUrl={server.url}"
                f"&MCP_PROXY_FULL_ADDRESS={proxy}"
            )
            assert page.evaluate("document.getElementById('sse-url-input').value") == server.url
            connect_directly(page)
            result = call_greet(page, "Inspector")
            screenshot = page.screenshot(tmp_path / "inspector-2025-11-25.png")
            page.click(button("Disconnect"), "Disconnect")
            page.wait_for(f"!!{button('Connect')}", "the Inspector to disconnect")
            page.pump(0.5)  # the last network and console events
    print(f"screenshot: {screenshot}")
    assert "Tool Result: Success" in result, result
    assert json.dumps("Hello, Inspector!") in result, result

    to_server = [e for e in page.exchanges.values() if e.url == server.url]
    preflights = [e for e in to_server if e.method == "OPTIONS"]
    assert preflights, "the browser sent no preflight: the page did not reach mcpfleet itself"
    for exchange in to_server:
        assert exchange.response_headers.get("access-control-allow-origin") == origin, exchange
    posts = [e for e in to_server if e.method == "POST"]
    initialize = json.loads(posts[0].body)
    assert initialize["method"] == "initialize"
    assert initialize["params"]["protocolVersion"] == "2025-11-25"
    methods = [mcp_method(e) for e in posts]
    assert "tools/list" in methods, methods
    assert "tools/call" in methods, methods
    # Every later request names the session, so the page could read Mcp-Session-Id.
    session = posts[0].response_headers["mcp-session-id"]
    for exchange in to_server:
        if exchange.method != "OPTIONS" and exchange is not posts[0]:
            assert exchange.headers.get("mcp-session-id") == session, exchange
            assert exchange.headers.get("mcp-protocol-version") == "2025-11-25", exchange
    assert [e.status for e in to_server if e.method == "DELETE"] == [204]  # Disconnect

    cors = [str(e) for e in page.console if "CORS" in e.text or "Access-Control" in e.text]
    assert cors == []
    assert [str(e) for e in page.errors() if not from_the_absent_proxy(e, proxy)] == []
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_installed_web_inspector_speaks_only_the_2025_era() -> None:
    """The web client's bundled SDK initializes with 2025-11-25 and knows no 2026-07-28:
    when an installed Inspector's page can speak the stateless era, the test above should
    learn to drive it there too."""
    if not INSPECTOR_CLIENT.exists():
        pytest.fail("the MCP Inspector web UI is not installed: run scripts/install-tools.sh")
    bundle = "".join(
        path.read_text() for path in (INSPECTOR_CLIENT / "dist" / "assets").glob("*.js")
    )
    assert 'LATEST_PROTOCOL_VERSION = "2025-11-25"' in bundle
    assert "2026-07-28" not in bundle
