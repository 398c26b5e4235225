"""A real browser (Debian's headless Chromium) calls mcpfleet from a page of another origin:
its preflights and CORS checks are the browser's own, not the test's idea of them.

(The MCP Inspector's web UI against mcpfleet is a separate, larger test, not this one.)
"""

from __future__ import annotations

import contextlib
import html
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import STATE_KEYS, serving

CHROMIUM = "/usr/bin/chromium"

# The page: a 2026-07-28 tools/call with an Mcp-Param header, then a 2025-11-25 initialize
# whose Mcp-Session-Id it reads and uses for a call; the outcome is written into the DOM.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>mcpfleet CORS</title></head>
<body><h1>mcpfleet from another origin</h1><pre id="result">pending</pre>
<script>
const MCP = %(url)s;
const BASE = {"Content-Type": "application/json",
              "Accept": "application/json, text/event-stream"};
async function post(headers, message) {
  const response = await fetch(MCP, {method: "POST", headers: {...BASE, ...headers},
                                     body: JSON.stringify(message)});
  return {status: response.status, session: response.headers.get("Mcp-Session-Id"),
          text: await response.text()};
}
async function run() {
  const meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}};
  const modern = await post(
    {"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
     "Mcp-Name": "regional", "Mcp-Param-Region": "eu"},
    {jsonrpc: "2.0", id: 1, method: "tools/call",
     params: {name: "regional", arguments: {region: "eu"}, _meta: meta}});
  const opened = await post({}, {jsonrpc: "2.0", id: 2, method: "initialize",
    params: {protocolVersion: "2025-11-25", capabilities: {},
             clientInfo: {name: "browser", version: "1"}}});
  const session = {"Mcp-Protocol-Version": "2025-11-25", "Mcp-Session-Id": opened.session};
  const initialized = await post(session, {jsonrpc: "2.0", method: "notifications/initialized"});
  const legacy = await post(session, {jsonrpc: "2.0", id: 3, method: "tools/call",
    params: {name: "echo", arguments: {text: "from the browser"}}});
  return {modern, opened, initialized: initialized.status, legacy};
}
run().then(
  (outcome) => { document.getElementById("result").textContent = JSON.stringify(outcome); },
  (error) => { document.getElementById("result").textContent = "FAILED " + error; });
</script></body></html>
"""


@contextlib.contextmanager
def page_server(pages: dict[str, str]) -> Iterator[str]:
    """A static server on its own loopback port serving ``pages["/"]`` (read at each
    request, so it may be written once the origin is known); yields its origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages["/"].encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def chromium(*arguments: str, profile: Path) -> str:
    """Run headless Chromium to completion (bounded); its stdout."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=20000",
        "--window-size=1000,700",
        *arguments,
    ]
    completed = subprocess.run(command, capture_output=True, timeout=90, check=False)
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")[-2000:]
    return completed.stdout.decode(errors="replace")


def outcome_of(dom: str) -> dict[str, Any]:
    start = dom.index('<pre id="result">') + len('<pre id="result">')
    text = html.unescape(dom[start : dom.index("</pre>", start)])
    assert not text.startswith(("FAILED", "pending")), text
    outcome: dict[str, Any] = json.loads(text)
    return outcome


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed")
def test_a_page_of_another_origin_calls_both_eras(tmp_path: Path) -> None:
    """Headless Chromium on a page from one loopback origin makes a 2026-07-28 tools/call
    with MCP headers and opens and uses a 2025-11-25 session at mcpfleet on another, reading
    Mcp-Session-Id; a screenshot of the page is saved with the test's files."""
    pages: dict[str, str] = {}
    with (
        page_server(pages) as origin,
        serving(
            "tests.apps.behaviours:app",
            {"ALLOWED_ORIGINS": origin, "REQUEST_STATE_KEYS": STATE_KEYS},
        ) as server,
    ):
        pages["/"] = PAGE % {"url": json.dumps(server.url)}
        dom = chromium("--dump-dom", f"{origin}/", profile=tmp_path / "profile")
        screenshot = tmp_path / "cors.png"
        chromium(f"--screenshot={screenshot}", f"{origin}/", profile=tmp_path / "profile2")
    outcome = outcome_of(dom)
    modern = outcome["modern"]
    assert modern["status"] == 200, outcome
    assert json.loads(modern["text"])["result"]["content"][0]["text"] == "eu:1"
    assert outcome["opened"]["status"] == 200, outcome
    assert outcome["opened"]["session"], "the page could not read Mcp-Session-Id"
    assert outcome["initialized"] == 202
    assert outcome["legacy"]["status"] == 200, outcome
    assert "from the browser" in outcome["legacy"]["text"]
    assert screenshot.stat().st_size > 0
