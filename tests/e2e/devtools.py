"""Headless Chromium driven over the DevTools protocol, for tests that click through a
web UI: real input events, every wait bounded, and the page's console kept.

Only what the browser tests use: open a page, evaluate JavaScript, wait for a condition,
click an element's centre, type into the focused one, take a screenshot; what the page
logged and the HTTP requests it made are kept. Chromium listens
for DevTools on a loopback port of its own choosing (``--remote-debugging-port=0``), which
it writes into its profile folder.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

CHROMIUM = "/usr/bin/chromium"


class DevToolsError(Exception):
    """The browser answered a command with an error, or a wait ran out of time."""


@dataclass(frozen=True)
class ConsoleEntry:
    """One thing the page logged: a console call, a browser log entry (CORS refusals,
    failed loads) or an uncaught exception."""

    kind: str  # "console", "log" or "exception"
    level: str
    text: str
    url: str = ""

    def __str__(self) -> str:
        where = f" ({self.url})" if self.url else ""
        return f"{self.kind}/{self.level}: {self.text}{where}"


@dataclass
class Exchange:
    """One HTTP request the page made (a CORS preflight included) and, once it came, the
    response's status and headers (names in lower case)."""

    method: str
    url: str
    headers: dict[str, str]
    kind: str  # the resource type: "Fetch", "Document", "Other" (a CORS preflight), ...
    body: str = ""
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)


class Page:
    """One browser tab over its DevTools WebSocket."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._next_id = 0
        self.console: list[ConsoleEntry] = []
        self.exchanges: dict[str, Exchange] = {}  # by DevTools request id
        self._loads = 0  # load events of the top document so far

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        """Run one DevTools command; its result. Events that arrive meanwhile are kept."""
        self._next_id += 1
        ident = self._next_id
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DevToolsError(f"{method}: no answer in {timeout} s")
            try:
                message = json.loads(self._socket.recv(timeout=remaining))
            except TimeoutError:
                continue
            if message.get("id") == ident:
                if "error" in message:
                    raise DevToolsError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._keep(message)

    def _keep(self, event: dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Page.loadEventFired":
            self._loads += 1
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(
                str(arg.get("value", arg.get("description", ""))) for arg in params["args"]
            )
            self.console.append(ConsoleEntry("console", params["type"], text))
        elif method == "Log.entryAdded":
            entry = params["entry"]
            self.console.append(
                ConsoleEntry("log", entry["level"], entry["text"], entry.get("url", ""))
            )
        elif method == "Network.requestWillBeSent":
            request = params["request"]
            self.exchanges[params["requestId"]] = Exchange(
                request["method"], request["url"], _lower(request["headers"]),
                params.get("type", ""), request.get("postData", ""),
            )  # fmt: skip
        elif method == "Network.responseReceived":
            exchange = self.exchanges.get(params["requestId"])
            if exchange is not None:
                exchange.status = params["response"]["status"]
                exchange.response_headers = _lower(params["response"]["headers"])
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details["text"]
            self.console.append(ConsoleEntry("exception", "error", text))

    def pump(self, seconds: float) -> None:
        """Let the page run for ``seconds``, keeping its events."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                self._keep(json.loads(self._socket.recv(timeout=remaining)))

    def errors(self) -> list[ConsoleEntry]:
        """What the page logged at error level."""
        return [entry for entry in self.console if entry.level == "error"]

    def open(self, url: str) -> None:
        """Navigate and wait until the new document has loaded."""
        loads = self._loads
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + 30
        while self._loads == loads:
            if time.monotonic() > deadline:
                raise DevToolsError(f"{url} did not load in 30 s")
            self.pump(0.1)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 20) -> Any:
        """Poll until ``expression`` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            self.pump(0.1)
        errors = "\n".join(str(entry) for entry in self.errors())
        raise DevToolsError(f"waited {timeout} s for {what}; the page's errors:\n{errors}")

    def click(self, element: str, what: str, timeout: float = 20) -> None:
        """Click the centre of the element ``element`` (a JavaScript expression) evaluates
        to, once it is there, with real mouse events."""
        box = self.wait_for(
            f"""(() => {{ const e = {element};
                 if (!e) return null;
                 e.scrollIntoView({{block: "center"}});
                 const r = e.getBoundingClientRect();
                 return r.width && r.height ? {{x: r.x + r.width / 2, y: r.y + r.height / 2}}
                                            : null; }})()""",
            what,
            timeout,
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )

    def type(self, text: str) -> None:
        """Type ``text`` into the focused element."""
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the viewport."""
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@contextlib.contextmanager
def headless_chromium(profile: Path, width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """Chromium with a fresh profile, its DevTools on loopback; yields its one tab, and
    stops the browser afterwards."""
    profile.mkdir(parents=True, exist_ok=True)
    port_file = profile / "DevToolsActivePort"
    port_file.unlink(missing_ok=True)  # a browser that used this profile before left its own
    process = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", "--disable-extensions", "--hide-scrollbars",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise DevToolsError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
        tab = next(target for target in targets if target["type"] == "page")
        with connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as socket:
            page = Page(socket)
            for domain in ("Page", "Runtime", "Log", "Network"):
                page.send(f"{domain}.enable")
            yield page
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
