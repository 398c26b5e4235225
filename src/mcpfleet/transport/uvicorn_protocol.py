"""uvicorn's httptools protocol as ``mcpfleet serve`` runs it: guarded, and lighter if it can.

``GuardedHttpToolsProtocol`` adds to uvicorn's protocol what uvicorn leaves out, at almost no
cost to each request (of uvicorn's per-request callbacks it overrides only
``on_response_complete`` and ``on_message_complete``, for an attribute check each):

- a **header timeout**: a connection that has not delivered a complete request head
  ``header_timeout`` seconds after it was made (or, on a kept-alive connection, after
  the first bytes of its next head) is closed, with a 408 if a head had begun. A
  connection idle between requests is left to uvicorn's keep-alive timeout
  (``HTTP_KEEPALIVE_SECONDS``, set above the load balancer's idle timeout): the sweep
  never counts the wait for a next request, however much longer than the header
  timeout it is, so nothing here closes an idle connection sooner. One timer
  per server sweeps its connections every ``header_timeout / 4`` seconds (0.25 s at the
  least) while it has any; the wait is counted from the sweep that first finds a
  connection waiting, so one is closed between ``header_timeout`` and one and a half
  times it after it was made (or its next head began).
- **a bounded drain after an early answer**: a response that ends before its request's
  body was read (a 401, a 406) went out as keep-alive, so the connection stays usable:
  the rest of the body is read and dropped as uvicorn does, but for ``LINGER_SECONDS``
  at most, and not at all when the declared length leaves over ``LINGER_BYTES`` to
  come (a 413). Past either, the connection closes gently (``_linger``); the client is
  then still sending its body, so the end of stream reaches it before it could reuse
  the connection. Closing at once instead, even gently, lets a client that sent its
  whole body read the keep-alive answer and send its next request into a closing
  connection. The end of a drained body is seen in ``on_message_complete`` (uvicorn
  ignores it once the response is complete), which re-arms the keep-alive timeout.
- **a bound on open connections** (``open_connections``): a connection past it takes
  the place of the oldest idle one, or is refused with 503 when none is idle; which
  are idle is looked at only then (``is_idle``). That is the one way an idle connection
  closes before its keep-alive timeout: at a full bound, to let a new one in.

It uses, of uvicorn's protocol: the asyncio protocol methods (``connection_made``,
``connection_lost``, ``pause_writing``, ``resume_writing``), the callbacks
``on_response_complete`` and ``on_message_complete``, ``timeout_keep_alive_handler``, and
the attributes ``timeout_keep_alive``, ``loop``, ``transport``, ``connections``
(the server's open connections), ``cycle`` (``None`` until the first head is complete),
``scope`` (``None`` until a head begins, then a new dict at each head's start, the one
its cycle gets), ``pipeline`` and ``timeout_keep_alive_task`` (``None`` unless waiting
for a next request under the keep-alive timeout: bytes received cancel it); of its
cycle, ``scope``,
``response_complete`` and ``more_body`` (read) and ``keep_alive`` (cleared, as uvicorn's
own ``shutdown`` does). All as on every uvicorn this project allows (``pyproject.toml``
caps it below the next minor), and all exercised by the tests with LEAN_HTTP on and off.
A lingering connection's transport gets another protocol (``set_protocol``, as
uvicorn's own WebSocket upgrade does): uvloop looks ``data_received`` up once, when the
protocol is set, so replacing the method on the instance would not reach it.

``LeanHttpToolsProtocol`` is that, with a whole response in one write (its requests'
cycles are ``LeanCycle``, see ``mcpfleet.transport.lean_cycle``: its
``on_headers_complete`` is uvicorn's with that cycle) and about 2 KB less memory per
connection.
uvicorn gives every connection a ``collections.deque`` for pipelined requests
and an ``asyncio.Event`` for write flow control, and every request an
``asyncio.Event`` that its ``receive`` waits on. An empty deque takes 760 bytes
(it allocates its first block up front) and each Event keeps its waiters in
one: about 2.2 KB per connection, for queues that hold a pipelined request
almost never and at most one waiter. Against a connection held open by a GET
stream (10 KB in all on uvicorn) that is a fifth of it. It replaces the three,
as soon as uvicorn has made them and before anything can wait on them, with
lists (56 bytes), which support all that is done with them: ``append``,
``remove`` and iteration of an Event's waiters (``asyncio.locks.Event`` of
Python 3.11 to 3.13 does nothing else with them; a later Python keeps its deques
until this is checked again), and ``appendleft``, ``pop`` and truth of the
pipeline. That reaches into uvicorn's and asyncio's internals, so it is used
only with the uvicorn releases it was tested with (``TESTED_UVICORN_VERSIONS``);
with any other, ``serving_protocol`` falls back to the guarded protocol and says
why. Whatever does not look exactly as expected is left as uvicorn made it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
import urllib.parse
from asyncio import TimerHandle
from typing import Any, ClassVar, cast

import httptools
import uvicorn
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from mcpfleet.transport.lean_cycle import LeanCycle
from mcpfleet.transport.open_connections import OpenConnections

log = logging.getLogger("mcpfleet.transport.connections")

# The uvicorn releases LeanHttpToolsProtocol was read against and tested with.
TESTED_UVICORN_VERSIONS = frozenset({"0.55.0"})

# After an answer sent before its request's body was read, how long and (by the declared
# length) how much of the rest of the body is read and dropped to keep the connection.
LINGER_SECONDS = 2.0
LINGER_BYTES = 8 * 1024 * 1024  # twice the default MAX_BODY_BYTES

# The header-timeout sweep runs every quarter of the timeout, and not more often than this.
SWEEP_SECONDS_AT_LEAST = 0.25

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\n"
    b"connection: close\r\n\r\n"
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a header timeout, no draining of unread bodies and a
    bound on open connections (the class attributes; ``None``: that guard is off)."""

    header_timeout: ClassVar[float | None] = None
    open_connections: ClassVar[OpenConnections[Any] | None] = None
    # The server's header-timeout sweep (``serving_protocol`` gives each server its own).
    # Per server, not attributes of each connection, whose attribute dict shares its keys
    # up to uvicorn's own and grows from 0.3 to 1.6 KB with one more.
    _heads: ClassVar[HeadSweep | None] = None
    # Connections reading and dropping the rest of a body after an early answer, with the
    # timer that stops the wait (shared by all servers of the process; keyed by connection).
    _draining: ClassVar[dict[GuardedHttpToolsProtocol, TimerHandle]] = {}

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        connections = self.open_connections
        if connections is not None:
            admission = connections.opened(self, is_idle)
            if admission.notice is not None:
                log.warning(admission.notice)
            if admission.evicted is not None:
                admission.evicted.let_go()
            if not admission.admitted:
                transport.write(_REFUSED)
                transport.close()
                return
        heads = self._heads
        if heads is not None:
            heads.watch(self)

    def connection_lost(self, exc: Exception | None) -> None:
        heads = self._heads
        if heads is not None:
            heads.forget(self)
        if self._draining:
            timer = self._draining.pop(self, None)
            if timer is not None:
                timer.cancel()
        if self.open_connections is not None:
            self.open_connections.closed(self)
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        cycle: RequestResponseCycle = self.cycle
        if cycle.more_body and cycle.response_complete:
            # Answered before its body was read (a 413, a 401): uvicorn would read the
            # rest only to discard it, however long it is.
            self._drain_or_linger(cycle)
        super().on_response_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._draining and self.cycle.response_complete:
            self._drained_body()

    def _drained_body(self) -> None:
        timer = self._draining.pop(self, None)
        if timer is not None:  # the drained body is all in: the connection is idle
            timer.cancel()
            # After this data is parsed: a next request may follow in it.
            self.loop.call_soon(self._drained, self.cycle)

    def _drain_or_linger(self, cycle: RequestResponseCycle) -> None:
        headers = cycle.scope["headers"]
        declared = next((value for name, value in headers if name == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > LINGER_BYTES:
            self._linger()
        elif not self.transport.is_closing():
            self._draining[self] = self.loop.call_later(LINGER_SECONDS, self._drain_late, cycle)

    def _drain_late(self, cycle: RequestResponseCycle) -> None:
        """The rest of the body is still not in: stop waiting for it."""
        self._draining.pop(self, None)
        if self.cycle is cycle:
            self._linger()

    def _drained(self, cycle: RequestResponseCycle) -> None:
        """Wait for a next request under the keep-alive timeout, as uvicorn does after a
        response (its timer was stopped by the body's bytes), unless one has begun."""
        if (
            self.cycle is cycle
            and self.scope is cycle.scope
            and self.timeout_keep_alive_task is None
            and not self.transport.is_closing()
        ):
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def _linger(self) -> None:
        """Close gently: end our side (the client reads the answer, then end of stream),
        drop what the client still sends for a bounded time and size, then close. Closing
        at once, with the client's bytes unread, would reset the connection, and a reset
        can destroy the answer before the client reads it."""
        transport = self.transport
        if transport.is_closing():
            return
        transport.set_protocol(LingeringProtocol(self, transport))
        if transport.can_write_eof():
            transport.write_eof()

    def let_go(self) -> None:
        """Close this idle connection to make room for a new one."""
        if not self.transport.is_closing():
            self.transport.close()

    def time_out(self) -> None:
        """Its request head is late: close, with a 408 if it had begun (uvicorn makes a
        head's ``scope`` when it begins, and gives it to the head's cycle once complete)."""
        cycle: RequestResponseCycle | None = self.cycle
        if self.scope is not (None if cycle is None else cycle.scope):
            self.transport.write(_TIMED_OUT)
        self.transport.close()


def is_idle(connection: GuardedHttpToolsProtocol) -> bool:
    """No request of ``connection`` is being answered, nor waits in its pipeline."""
    cycle: RequestResponseCycle | None = connection.cycle
    return cycle is None or (cycle.response_complete and not connection.pipeline)


class LingeringProtocol(asyncio.Protocol):
    """What a connection closing gently after an early answer runs instead of its HTTP
    protocol: the request bytes still coming are read and dropped, up to ``LINGER_BYTES``
    and for ``LINGER_SECONDS`` at most; the rest is the HTTP protocol's to handle."""

    __slots__ = ("dropped", "http", "timer", "transport")

    def __init__(self, http: GuardedHttpToolsProtocol, transport: asyncio.Transport) -> None:
        self.http = http
        self.transport = transport
        self.dropped = 0
        self.timer = http.loop.call_later(LINGER_SECONDS, self.stop)

    def data_received(self, data: bytes) -> None:
        self.dropped += len(data)
        if self.dropped > LINGER_BYTES:
            self.transport.close()

    def eof_received(self) -> None:
        return None  # the client is done too: the transport closes

    def stop(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def pause_writing(self) -> None:
        self.http.pause_writing()

    def resume_writing(self) -> None:
        self.http.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.timer.cancel()
        self.http.connection_lost(exc)


class HeadSweep:
    """The header timeout of one server's connections, checked by one timer while the
    server has any (uvicorn's ``connections``, which it keeps anyway). Only a connection
    found waiting for a head (its first, or its next one begun) is noted, with the time it
    was found so: connections whose heads arrive whole between two sweeps cost nothing."""

    __slots__ = ("connections", "every", "timeout", "timer", "waiting")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.every = max(SWEEP_SECONDS_AT_LEAST, timeout / 4)
        self.connections: set[Any] = set()
        self.waiting: dict[GuardedHttpToolsProtocol, float] = {}
        self.timer: TimerHandle | None = None

    def watch(self, connection: GuardedHttpToolsProtocol) -> None:
        if self.timer is None:
            self.connections = connection.connections
            self.timer = connection.loop.call_later(self.every, self.sweep, connection.loop)

    def forget(self, connection: GuardedHttpToolsProtocol) -> None:
        self.waiting.pop(connection, None)

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        late = [
            connection
            for connection in self.connections  # only read here: acted on after
            if isinstance(connection, GuardedHttpToolsProtocol) and self._late(connection, now)
        ]
        for connection in late:
            cycle: RequestResponseCycle | None = connection.cycle
            if cycle is None or cycle.response_complete:
                connection.time_out()
            else:
                # The next head (pipelined) is late while a request is still answered: close
                # once that response is sent, as at a graceful shutdown.
                cycle.keep_alive = False
        self.timer = loop.call_later(self.every, self.sweep, loop) if self.connections else None

    def _late(self, connection: GuardedHttpToolsProtocol, now: float) -> bool:
        """Whether ``connection`` has waited for a head past the timeout (noting since when
        it waits, or forgetting it once it no longer does)."""
        if connection.transport.is_closing() or connection in connection._draining:
            self.forget(connection)
            return False
        cycle: RequestResponseCycle | None = connection.cycle
        if (
            cycle is not None
            and connection.scope is cycle.scope  # no next head begun
            and (not cycle.response_complete or connection.timeout_keep_alive_task is not None)
        ):  # answering, or waiting for a next request under uvicorn's keep-alive timeout
            if self.waiting:
                self.waiting.pop(connection, None)
            return False
        # Its first head, a next head begun, or bytes that stopped the keep-alive timeout.
        return now - self.waiting.setdefault(connection, now) >= self.timeout


class _Pipeline(list[Any]):
    """The pipelined requests of a connection, as uvicorn uses its deque: the newest is
    added at the left, the oldest popped from the right."""

    __slots__ = ()

    def appendleft(self, item: Any) -> None:
        self.insert(0, item)

    def popleft(self) -> Any:
        return self.pop(0)


# The Pythons whose asyncio.Event was read (3.11 to 3.13): it appends, removes and
# iterates its waiters, nothing else.
_LISTS_FOR_WAITERS = sys.version_info < (3, 14)


def _lighten(event: Any) -> None:
    """An Event's empty waiter deque becomes an empty list (nothing waits on it yet)."""
    if not _LISTS_FOR_WAITERS:
        return
    try:
        if event._waiters.__class__ is collections.deque and not event._waiters:
            event._waiters = []
    except AttributeError:  # not the asyncio.Event this was written for: leave it
        pass


class LeanHttpToolsProtocol(GuardedHttpToolsProtocol):
    """``GuardedHttpToolsProtocol`` with lists for its pipeline and its Events' waiters,
    and its requests' cycles ``LeanCycle``: a whole response in one write."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pipeline = getattr(self, "pipeline", None)
        if pipeline.__class__ is collections.deque and not pipeline:
            self.pipeline = _Pipeline()  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _lighten(getattr(self.flow, "_is_writable_event", None))

    def on_headers_complete(self) -> None:
        # uvicorn's own, with a LeanCycle for the request and its Event's waiters in a
        # list. (Making uvicorn's cycle a LeanCycle afterwards, by its ``__class__``, would
        # leave its attributes laid out for the other class: every read of one then
        # misses CPython's specialised path, which costs more than the one write saves.)
        parser = self.parser
        http_version = parser.get_http_version()
        method = parser.get_method()
        scope: Any = self.scope
        scope["method"] = method.decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
        if parser.should_upgrade() and self._should_upgrade():
            return
        parsed_url = httptools.parse_url(self.url)
        raw_path = parsed_url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope["path"] = self.root_path + path
        scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        scope["query_string"] = parsed_url.query or b""
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            app: Any = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        else:
            app = self.app
        event = asyncio.Event()
        _lighten(event)
        existing_cycle = self.cycle
        self.cycle = cycle = LeanCycle(
            scope=scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=event,
            expect_100_continue=self.expect_100_continue,
            keep_alive=http_version != "1.0" and parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        if existing_cycle is None or existing_cycle.response_complete:
            self._start_asgi_task(cycle, app)
        else:  # pipelined: queued until the responses before it are sent
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, app))

    # uvicorn's two callbacks below, each with the guarded protocol's addition, in one
    # frame each (they run for every request).

    def on_message_complete(self) -> None:
        cycle: Any = self.cycle
        if not cycle.response_complete:
            if not (self.parser.should_upgrade() and self._should_upgrade()):
                cycle.more_body = False
                cycle.message_event.set()
        elif self._draining:
            self._drained_body()

    def on_response_complete(self) -> None:
        cycle: Any = self.cycle
        if cycle.more_body and cycle.response_complete:
            self._drain_or_linger(cycle)  # answered before its body was read
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        if self.flow.read_paused:
            self.flow.resume_reading()
        if self.pipeline:  # the next pipelined request starts
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )


def lean_http_refusal(uvicorn_version: str) -> str | None:
    """Why ``LeanHttpToolsProtocol`` is not for this uvicorn, or ``None`` when it is."""
    if uvicorn_version in TESTED_UVICORN_VERSIONS:
        return None
    tested = ", ".join(sorted(TESTED_UVICORN_VERSIONS))
    return (
        f"LEAN_HTTP is on, but uvicorn {uvicorn_version} is not a release it was tested "
        f"with ({tested}): serving with uvicorn's httptools protocol as it is instead (still "
        "with the header timeout and the connection bound)"
    )


def serving_protocol(
    *,
    lean: bool,
    header_timeout: float,
    connections: OpenConnections[Any],
    uvicorn_version: str = uvicorn.__version__,
) -> tuple[type[GuardedHttpToolsProtocol], str | None]:
    """The protocol class for one server, and why it is not the lean one when asked for."""
    refusal = lean_http_refusal(uvicorn_version) if lean else None
    base = LeanHttpToolsProtocol if lean and refusal is None else GuardedHttpToolsProtocol
    attributes = {
        "header_timeout": header_timeout,
        "open_connections": connections,
        "_heads": HeadSweep(header_timeout),
    }
    return cast("type[GuardedHttpToolsProtocol]", type(base.__name__, (base,), attributes)), refusal
