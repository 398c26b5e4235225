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

With ``workers`` above 1 (fleet state in Redis only), this process binds the port,
forks that many workers that accept on the same socket, and supervises them: a worker
that dies is replaced, and SIGTERM or SIGINT is forwarded to every worker, each of
which drains as above; what has not exited by ``drain_deadline_seconds`` is killed.
With one worker there is no supervisor: the process serves by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from signal import SIGINT, SIGTERM
from types import FrameType
from typing import Any

import uvicorn

from mcpfleet.config import Config
from mcpfleet.errors import ConfigError
from mcpfleet.observe.logs import logging_config
from mcpfleet.observe.otel import wrap
from mcpfleet.server.app import Server
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
    draining_server(app).run()


def draining_server(app: McpApp) -> DrainingServer:
    """The uvicorn server for ``app``, configured from its settings."""
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
        wrap(app, settings),  # the app itself unless tracing is on (mcpfleet.observe.otel)
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
    return DrainingServer(config, app, settings)


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


# -- several worker processes on one port ---------------------------------------------

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "quota period", or "max period"
# How often the supervisor looks at its workers when no signal wakes it.
_POLL_SECONDS = 0.5
# A worker that dies this soon after its start is restarted only after this long, so that
# one failing at start (a bad REDIS_URL) is not restarted in a tight loop.
_RESTART_PAUSE_SECONDS = 1.0


def available_cpus(cpu_max: Path = CPU_MAX) -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup v2 CPU limit (a
    container's, as on ECS) rounded up; at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform (macOS)
        count = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            count = min(count, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError, ZeroDivisionError):
        pass  # no cgroup v2 limit to read: the affinity is the answer
    return max(1, count)


def worker_count(settings: Config, cpu_max: Path = CPU_MAX) -> int:
    """How many processes serve: ``WORKERS`` (``--workers``), else one per available CPU
    with fleet state in Redis and one with state in memory. Several workers with state
    in memory are refused: each would hold its own sessions, and a 2025-era session
    opened on one would be unknown to the next."""
    memory = settings.state_url is None or settings.state_url.startswith("memory:")
    if settings.workers is None:
        return 1 if memory else available_cpus(cpu_max)
    if settings.workers > 1 and memory:
        raise ConfigError(
            f"WORKERS (--workers): {settings.workers} workers need fleet state in Redis "
            "(REDIS_URL or --state): with state in memory each worker keeps its own "
            "sessions, and a 2025-era session opened on one would be 'not found' on "
            "another; serve with one worker, or give the workers Redis"
        )
    return settings.workers


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket every worker accepts on, bound here so that all share one port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


def run_workers(server: Server, settings: Config, count: int) -> int:
    """Serve ``server`` from ``count`` worker processes sharing one listening socket;
    returns the exit status. This process supervises: it restarts a worker that dies,
    forwards SIGTERM and SIGINT to every worker (each then drains as a single process
    does), and kills what is left ``DRAIN_DEADLINE_SECONDS`` after the first signal."""
    logging.config.dictConfig(logging_config(settings.log_level, calls=settings.log_calls))
    sock = listening_socket(settings.host, settings.port)
    supervisor = Supervisor(lambda: _start_worker(server, settings, sock), count)
    with sock:
        return supervisor.run(settings.drain_deadline_seconds)


def _start_worker(server: Server, settings: Config, sock: socket.socket) -> BaseProcess:
    # Forked, not spawned: the app is imported and checked once, here, and its memory is
    # shared until written; nothing here runs an event loop or a thread yet.
    worker = multiprocessing.get_context("fork").Process(
        target=_serve_worker, args=(server, settings, sock), daemon=False
    )
    worker.start()
    return worker


def _serve_worker(server: Server, settings: Config, sock: socket.socket) -> None:
    """One worker: its own app, state connections and event loop, on the shared socket."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)  # the supervisor's handlers are not ours
    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the supervisor, which forwards it once
    _stop_with_parent()
    uvicorn_server = draining_server(McpApp(server, settings))
    uvicorn_server.run(sockets=[sock])
    if not uvicorn_server.started:
        sys.exit(3)  # the app did not start (uvicorn's own status for that)


def _stop_with_parent() -> None:
    """Ask Linux for SIGTERM (a drain) should the supervisor die without forwarding one."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the supervisor's own exit must do
        return


class Supervisor:
    """Keeps ``count`` workers running until a signal, then stops them."""

    def __init__(self, start: Callable[[], BaseProcess], count: int) -> None:
        self.start = start
        self.count = count
        self.workers: list[BaseProcess] = []
        self.started_at: list[float] = []
        self.signals: list[int] = []

    def forward(self, sig: int, frame: FrameType | None) -> None:
        """A signal handler: the signal goes to every worker (a second one stops them at
        once, as it does a single process)."""
        self.signals.append(sig)
        for worker in self.workers:
            if worker.pid is not None and worker.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, sig)

    def run(self, deadline_seconds: float) -> int:
        previous = {sig: signal.signal(sig, self.forward) for sig in (SIGTERM, SIGINT)}
        try:
            for _ in range(self.count):
                if self.signals:  # stopped while starting: stop what has started
                    break
                self.workers.append(self.start())
                self.started_at.append(time.monotonic())
            log.info(
                "serving with %d workers: %s",
                self.count,
                ", ".join(str(worker.pid) for worker in self.workers),
                extra={"event": "workers_started"},
            )
            while not self.signals:
                sentinels = [worker.sentinel for worker in self.workers]
                multiprocessing.connection.wait(sentinels, _POLL_SECONDS)
                if not self.signals:
                    self.replace_dead()
            return self.stop(time.monotonic() + deadline_seconds)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def replace_dead(self) -> None:
        """Start a new worker in the place of each one that exited."""
        for index, worker in enumerate(self.workers):
            if worker.exitcode is None:
                continue
            lived = time.monotonic() - self.started_at[index]
            log.warning(
                "worker %s exited with status %s after %.1f s; starting another",
                worker.pid,
                worker.exitcode,
                lived,
                extra={"event": "worker_exited"},
            )
            if lived < _RESTART_PAUSE_SECONDS:
                time.sleep(_RESTART_PAUSE_SECONDS)
            if self.signals:
                return  # stopping: the exited worker stays listed, and joins at once
            self.workers[index] = self.start()
            self.started_at[index] = time.monotonic()
            worker.close()

    def stop(self, deadline: float) -> int:
        """Wait for every worker to drain and exit, until ``deadline``; kill the rest.
        0 when every worker exited with 0."""
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        status = 0
        for worker in self.workers:
            if worker.exitcode is None:
                log.warning("worker %s did not drain in time: killed", worker.pid)
                worker.kill()
                worker.join(5)
            if worker.exitcode != 0:
                status = 1
        log.info("workers stopped", extra={"event": "workers_stopped"})
        return status
