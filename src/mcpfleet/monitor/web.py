"""The monitor's HTTP side, a small ASGI app (served by uvicorn), and the static export.

    GET /                      the status page (HTML)
    GET /endpoint/{name}.html  one endpoint's page: latency per phase, all incidents
    GET /api/status.json       the JSON status API (also /api/status)
    GET /badge/{name}.svg      an SVG badge per endpoint
    GET /metrics               Prometheus text
    GET /healthz               200 while the monitor runs

``export_static`` writes the same pages, JSON and badges as files, for a bucket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from mcpfleet.monitor.config import MonitorConfig
from mcpfleet.monitor.metrics import render_metrics
from mcpfleet.monitor.page import render_endpoint_page, render_page
from mcpfleet.monitor.status import DayCache, Snapshot, snapshot, snapshot_json
from mcpfleet.monitor.store import HistoryStore
from mcpfleet.monitor.svg import badge

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Answer = tuple[int, bytes, str]  # status, body, content type
HTML = "text/html; charset=utf-8"
SVG = "image/svg+xml"
JSON = "application/json"
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
PAGES = ("/", "/index.html", "/api/status", "/api/status.json", "/metrics")
QUIET_MAX_AGE = 60.0  # without writes of its own, a snapshot is read again this often
log = logging.getLogger("mcpfleet.monitor")


class StatusApp:
    """ASGI app over the history. The summary, JSON, badges and metrics are rendered from
    one snapshot read at most once every ``max_age`` seconds, and each rendering is kept
    that long too (every viewer gets the same); after that, it is read again once the
    store has written something (a result, an incident), or ``QUIET_MAX_AGE`` seconds on
    (for other monitors' writes to a shared history). An endpoint's own page is read
    fresh. The days before today are kept between snapshots (``DayCache``), and read at
    start-up (lifespan), so that the first viewer does not wait for them."""

    def __init__(
        self,
        config: MonitorConfig,
        store: HistoryStore,
        now: Callable[[], float],
        max_age: float = 5.0,
    ) -> None:
        self.config = config
        self.store = store
        self.now = now
        self.max_age = max_age
        self._read_at = float("-inf")
        self._snapshot: Snapshot | None = None
        self._rendered: dict[str, Answer] = {}
        self._lock = asyncio.Lock()
        self._days = DayCache()
        self._writes = -1

    def _stale(self, moment: float) -> bool:
        age = moment - self._read_at
        if age < self.max_age:
            return False
        return self.store.writes != self._writes or age >= QUIET_MAX_AGE

    async def _cached(self, path: str) -> Answer:
        async with self._lock:
            moment = time.monotonic()
            snap = self._snapshot
            if snap is None or self._stale(moment):
                writes = self.store.writes
                snap = await snapshot(self.config, self.store, self.now(), days=self._days)
                self._snapshot, self._read_at, self._rendered, self._writes = (
                    snap,
                    moment,
                    {},
                    writes,
                )
            if path not in self._rendered:
                self._rendered[path] = self._render(path, snap)
            return self._rendered[path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.warm)
            return
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"method not allowed\n", "text/plain", {"allow": "GET, HEAD"})
            return
        status, body, kind = await self.route(scope["path"])  # already percent-decoded
        head = scope["method"] == "HEAD"
        await _respond(send, status, body, kind, {"cache-control": "no-cache"}, head=head)

    async def warm(self) -> None:
        """Read the history and render the summary once, before the first viewer comes."""
        try:
            await self._cached("/")
        except Exception:  # the page then tries again on its first request
            log.exception("the status page could not be prepared at start")

    async def route(self, path: str) -> Answer:
        if path == "/healthz":
            return 200, b"ok\n", "text/plain"
        if path.startswith("/endpoint/") and path.endswith(".html"):
            return await self._endpoint_page(path[len("/endpoint/") : -len(".html")])
        if path not in PAGES and not (path.startswith("/badge/") and path.endswith(".svg")):
            return 404, b"not found\n", "text/plain"
        return await self._cached(path)

    def _render(self, path: str, snap: Snapshot) -> Answer:
        if path in ("/", "/index.html"):
            return 200, render_page(snap).encode(), HTML
        if path.startswith("/api/status"):
            return 200, orjson.dumps(snapshot_json(snap)), JSON
        if path == "/metrics":
            return 200, render_metrics(snap, self.config.location).encode(), PROMETHEUS
        return _badge(snap, path[len("/badge/") : -len(".svg")])

    async def _endpoint_page(self, name: str) -> Answer:
        snap = await snapshot(self.config, self.store, self.now(), detail=name, days=self._days)
        endpoint = snap.endpoint(name)
        if endpoint is None:
            return 404, b"not found\n", "text/plain"
        return 200, render_endpoint_page(snap, endpoint).encode(), HTML


def _badge(snap: Snapshot, name: str) -> Answer:
    endpoint = snap.endpoint(name)
    if endpoint is None:
        return 404, badge(name, "unknown").encode(), SVG
    return 200, badge(name, endpoint.state).encode(), SVG


async def export_static(
    config: MonitorConfig, store: HistoryStore, now: float, out: Path
) -> list[Path]:
    """Write index.html, api/status.json and badge/NAME.svg under ``out``; the paths written."""
    days = DayCache()  # read once for every page written
    snap = await snapshot(config, store, now, days=days)
    files = {
        out / "index.html": render_page(snap).encode(),
        out / "api" / "status.json": orjson.dumps(snapshot_json(snap)),
    }
    for e in snap.endpoints:
        files[out / "badge" / f"{e.name}.svg"] = badge(e.name, e.state).encode()
        detail = await snapshot(config, store, now, detail=e.name, days=days)
        page = render_endpoint_page(detail, detail.endpoint(e.name) or e)
        files[out / "endpoint" / f"{e.name}.html"] = page.encode()
    for path, body in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return list(files)


async def _respond(
    send: Send, status: int, body: bytes, kind: str, extra: dict[str, str], *, head: bool = False
) -> None:
    headers = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _lifespan(receive: Receive, send: Send, startup: Callable[[], Awaitable[None]]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
