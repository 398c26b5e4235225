"""What the monitor's tests run against: target servers that flap, slow down, change
their tools or lose their auth (real uvicorn on 127.0.0.1), channel receivers that
check the documented payloads, a clock the test moves, and a config writer."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from mcpfleet.monitor import Monitor, load_config, open_store
from tests.probe import hostile
from tests.probe.apps import app as target_app
from tests.probe.apps import other as other_app
from tests.probe.hostile import App, respond
from tests.probe.servers import ThreadedServer, threaded

START = 1_796_000_000.0  # the wall time the tests' clocks start at (2026-11-30 00:53 UTC)


class ManualClock:
    """Wall time that moves only when the test says so."""

    def __init__(self, start: float = START) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Sleeps:
    """A sleep that returns at once and remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(0)


def mcp_target() -> App:
    """An mcpfleet server (both protocol eras) with a read-only tool."""
    return hostile.mcp_app(target_app)


async def _read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


@dataclass
class Faults:
    """Switches a test flips while the target runs (read by the target's thread)."""

    fail_every: int = 0  # every n-th probe (its first request) gets a 503; 0: never
    delay: float = 0.0  # seconds before answering a probe's first request
    use_other: bool = False  # serve the other tool list
    refuse_auth: bool = False  # 401 even with the right token
    probes: int = 0


def faulty(faults: Faults, *, protected: bool = False) -> App:
    """The mcpfleet target behind the faults a test switches on and off."""
    normal, other = mcp_target(), hostile.mcp_app(other_app)
    if protected:
        normal, other = hostile.protected(normal), hostile.protected(other)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await normal(scope, receive, send)
            return
        body = await _read_body(receive)
        if b'"server/discover"' in body or b'"initialize"' in body:  # a probe's first request
            faults.probes += 1
            if faults.fail_every and faults.probes % faults.fail_every == 0:
                await respond(send, 503, b"try later", "text/plain")
                return
            if faults.delay:
                await asyncio.sleep(faults.delay)
        inner = other if faults.use_other else normal
        if faults.refuse_auth:  # the token no longer works (needs protected=True)
            kept = [h for h in scope["headers"] if h[0] != b"authorization"]
            scope = {**scope, "headers": [*kept, (b"authorization", b"Bearer revoked")]}
        await inner(scope, _replay(body), send)

    return app


@contextmanager
def served_on(app: App, port: int, **tls: Any) -> Iterator[None]:
    """``app`` under uvicorn on a given port (to bring a stopped target back where it was);
    ``tls`` is uvicorn's ssl_certfile and ssl_keyfile."""
    settings = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="critical",
        access_log=False, loop="asyncio", http="h11", timeout_graceful_shutdown=1, **tls,
    )  # fmt: skip
    server = uvicorn.Server(settings)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start in 10 s"
        assert thread.is_alive(), "server thread ended at start"
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Receiver:
    """Records every POST; ``check`` decides the answer (status, body) of each."""

    kind: str
    secret: str = ""
    fail_first: int = 0
    seen: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self.lock:
            number = len(self.seen) + 1
            if number <= self.fail_first:
                self.seen.append({"failed": True})
                await respond(send, 500, b"not now", "text/plain")
                return
            problems = CHECKS[self.kind](self, headers, body)
            self.problems.extend(problems)
            self.seen.append({"headers": headers, "json": json.loads(body), "problems": problems})
        if problems:
            await respond(send, 400, json.dumps(problems).encode(), "application/json")
        elif self.kind == "pagerduty":
            document = json.loads(body)
            reply = {"status": "success", "message": "Event processed"}
            reply["dedup_key"] = document["dedup_key"]
            await respond(send, 202, json.dumps(reply).encode(), "application/json")
        else:
            await respond(send, 200, b"ok", "text/plain")

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()
            self.problems.clear()
            self.fail_first = 0

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [entry["json"] for entry in self.seen if not entry.get("failed")]


def _check_webhook(receiver: Receiver, headers: dict[str, str], body: bytes) -> list[str]:
    """The documented scheme: HMAC-SHA256 over "<timestamp>.<body>", v1=<hex>, fresh."""
    timestamp = headers.get("x-mcpfleet-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return ["stale or missing timestamp"]
    signed = timestamp.encode() + b"." + body
    expected = "v1=" + hmac.new(receiver.secret.encode(), signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers.get("x-mcpfleet-signature", "")):
        return ["bad signature"]
    return []


def _check_slack(_receiver: Receiver, headers: dict[str, str], body: bytes) -> list[str]:
    """An incoming-webhook message: a text, and blocks of known shape."""
    document = json.loads(body)
    problems = []
    if not isinstance(document.get("text"), str) or not document["text"]:
        problems.append("no text")
    for block in document.get("blocks", []):
        text = block.get("text", {})
        if block.get("type") != "section" or text.get("type") not in ("mrkdwn", "plain_text"):
            problems.append(f"bad block {block}")
        elif len(text.get("text", "")) > 3000:
            problems.append("section text over 3000 characters")
    return problems


def _check_pagerduty(_receiver: Receiver, headers: dict[str, str], body: bytes) -> list[str]:
    """Events API v2: routing key, action, dedup key; a trigger's payload fields."""
    document = json.loads(body)
    problems = []
    if len(document.get("routing_key", "")) != 32:
        problems.append("routing_key must be 32 characters")
    action = document.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        problems.append("bad event_action")
    if action in ("acknowledge", "resolve") and not document.get("dedup_key"):
        problems.append("dedup_key required")
    if action == "trigger":
        payload = document.get("payload", {})
        for key in ("summary", "source", "severity"):
            if not payload.get(key):
                problems.append(f"payload.{key} required")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            problems.append("bad severity")
        if len(payload.get("summary", "")) > 1024:
            problems.append("summary over 1024 characters")
    return problems


CHECKS = {"webhook": _check_webhook, "slack": _check_slack, "pagerduty": _check_pagerduty}
ROUTING_KEY = "r" * 32
WEBHOOK_SECRET = "s3cret-for-tests"


@contextmanager
def receivers() -> Iterator[dict[str, tuple[Receiver, ThreadedServer]]]:
    """A webhook, a Slack and a PagerDuty receiver, each a server of its own."""
    made = {
        "webhook": Receiver("webhook", WEBHOOK_SECRET),
        "slack": Receiver("slack"),
        "pagerduty": Receiver("pagerduty"),
    }
    with (
        threaded(made["webhook"]) as hook,
        threaded(made["slack"]) as slack,
        threaded(made["pagerduty"]) as pager,
    ):
        yield {
            "webhook": (made["webhook"], hook),
            "slack": (made["slack"], slack),
            "pagerduty": (made["pagerduty"], pager),
        }


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


ENV = {"HOOK_SECRET": WEBHOOK_SECRET, "PD_KEY": ROUTING_KEY, "TARGET_TOKEN": hostile.TOKEN}


async def start_monitor(path: Path, clock: ManualClock, sleeps: Sleeps | None = None) -> Monitor:
    config = load_config(path, ENV)
    monitor = Monitor(config, open_store(config.storage.url), now=clock, sleep=sleeps or Sleeps())
    await monitor.start()
    return monitor
