"""Running an app under uvicorn, with the drain that ECS's stop sequence expects.

ECS first takes a task out of its load balancer's target group and waits out the
deregistration delay, and only then sends SIGTERM. So on ECS the drain is mostly
done before the signal: every long-lived stream ends itself, with a retry hint,
within ``stream_max_seconds`` (below the deregistration delay), and its client
reconnects through the balancer to a registered task (``transport.lifetimes``);
``drain_delay_seconds`` is then 0.

On SIGTERM: readiness turns 503 at once (for balancers that deregister on it);
requests are still served for ``drain_delay_seconds``; then every long-lived stream
still open ends with a retry hint (the same call as its lifetime's end), uvicorn
stops accepting, in-flight requests finish, and the process exits before
``drain_deadline_seconds``. With a delay of 0 all of that starts at once. SIGINT
does the same without the delay. A second signal stops at once.

An idle keep-alive connection is closed after ``http_keepalive_seconds``, which must
exceed the load balancer's idle timeout: a balancer that reuses a connection the
server has just closed answers its client 502. Each connection must deliver its
request head within ``header_timeout_seconds`` (counted only while a head is due,
never while the connection waits idle between requests), and at most
``max_connections`` are open at once, lowered to fit ``ulimit -n``
(``mcpfleet.transport.uvicorn_protocol``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import sys
from types import FrameType
from typing import Any

import uvicorn

from mcpfleet.config import Config
from mcpfleet.observe.logs import logging_config
from mcpfleet.transport.asgi import McpApp
from mcpfleet.transport.handover import SETTLE_SECONDS
from mcpfleet.transport.open_connections import OpenConnections, connection_bound
from mcpfleet.transport.uvicorn_protocol import LeanHttpToolsProtocol, serving_protocol

log = logging.getLogger("mcpfleet.runner")

# How ``mcpfleet serve`` runs uvicorn, besides the address, loop, logging and timeouts.
UVICORN_OPTIONS: dict[str, Any] = {
    # uvicorn's httptools protocol with ~2 KB less per connection (see the module); ``run``
    # gives each server its own subclass, with the header timeout and connection bound.
    "http": LeanHttpToolsProtocol,
    "lifespan": "on",
    "access_log": False,
    # Nothing here reads the client address or scheme that X-Forwarded-* would set, so
    # uvicorn's proxy-headers middleware would only add a frame to every request
    # (~0.4 KB per open stream).
    "proxy_headers": False,
}


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with a drain before the stop."""

    def __init__(self, config: uvicorn.Config, app: McpApp, settings: Config) -> None:
        super().__init__(config)
        self.app = app
        self.settings = settings
        self._stopping = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # The drain is the whole answer to the signal: the process then exits with 0,
        # instead of re-raising the signal as uvicorn does by default.
        if self.app.draining:
            self.should_exit = self.force_exit = True  # a second signal: stop now
            return
        self.app.begin_drain()
        delay = 0.0 if sig == signal.SIGINT else self.settings.drain_delay_seconds
        asyncio.get_running_loop().call_later(delay, self._stop, sig)

    def _stop(self, sig: int) -> None:
        if self._stopping:
            return
        self._stopping = True
        loop = asyncio.get_running_loop()
        closing = loop.create_task(self.app.close_streams())
        closing.add_done_callback(lambda _: setattr(self, "should_exit", True))


def run(app: McpApp) -> None:
    """Serve ``app`` until a signal, then drain and exit."""
    settings = app.config
    # uvicorn's wait for in-flight requests, leaving time for the ended streams' handovers.
    grace = settings.drain_deadline_seconds - settings.drain_delay_seconds - 0.5 - SETTLE_SECONDS
    bound, bound_notice = _connection_bound(settings.max_connections)
    protocol, refusal = serving_protocol(
        lean=settings.lean_http,
        header_timeout=settings.header_timeout_seconds,
        connections=OpenConnections(bound),
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        log_level=settings.log_level if settings.log_level != "notice" else "info",
        log_config=logging_config(settings.log_level, calls=settings.log_calls),
        timeout_graceful_shutdown=max(1, int(grace)),
        # Whole seconds for uvicorn, rounded up: never below the setting, which is chosen
        # to outlast the load balancer's idle timeout.
        timeout_keep_alive=math.ceil(settings.http_keepalive_seconds),
        **{**UVICORN_OPTIONS, "http": protocol},
    )
    for line in (refusal, bound_notice):  # logged once uvicorn.Config has set logging up
        if line is not None:
            log.warning(line)
    DrainingServer(config, app, settings).run()


def _connection_bound(requested: int) -> tuple[int, str | None]:
    """``MAX_CONNECTIONS``, lowered to fit the open-files limit (raised first if it can be),
    and what was done about it, if anything."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to fit
        return requested, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    bound, wanted = connection_bound(requested, soft, hard)
    if wanted != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            bound, wanted = connection_bound(requested, soft, soft)
    if bound == requested:
        return bound, None
    return bound, (
        f"MAX_CONNECTIONS {requested} lowered to {bound}: the open-files limit (ulimit -n) "
        f"is {wanted}, and some files are kept for everything else"
    )
