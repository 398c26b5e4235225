"""uvicorn's httptools protocol as ``mcpfleet serve`` runs it: guarded, and lighter if it can.

``GuardedHttpToolsProtocol`` adds to uvicorn's protocol what uvicorn leaves out:

- a **header timeout**: a connection that has not delivered a complete request head
  ``header_timeout`` seconds after it was made (or, on a kept-alive connection, after
  the first bytes of its next head) is closed, with a 408 if a head had begun. A
  connection idle between requests is left to uvicorn's keep-alive timeout.
- **no draining after an early answer**: a response that ends before its request's
  body was read (a 413, a 401) closes the connection, where uvicorn would read the
  rest of the body only to discard it.
- **a bound on open connections** (``open_connections``): a connection past it takes
  the place of the one idle the longest, or is refused with 503 when none is idle.

It uses uvicorn's protocol through the asyncio protocol methods, the parser callbacks
(``on_message_begin``, ``on_headers_complete``), the response callback
(``on_response_complete``), its ``loop``, ``transport`` and ``cycle``, and the cycle's
``response_complete`` and ``more_body`` (read) and ``keep_alive`` (cleared, as uvicorn's
own ``shutdown`` does): all as on every uvicorn this project allows (``pyproject.toml``
caps it below the next minor), and all exercised by the tests with LEAN_HTTP on and off.

``LeanHttpToolsProtocol`` is that, with about 2 KB less memory per connection.
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
from asyncio import TimerHandle
from typing import Any, ClassVar, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from mcpfleet.transport.open_connections import OpenConnections

log = logging.getLogger("mcpfleet.transport.connections")

# The uvicorn releases LeanHttpToolsProtocol was read against and tested with.
TESTED_UVICORN_VERSIONS = frozenset({"0.55.0"})

# After an answer sent before its request's body was read, what of the body is still read
# (and dropped) before the connection closes: enough for the answer to reach the client.
LINGER_SECONDS = 2.0
LINGER_BYTES = 8 * 1024 * 1024  # twice the default MAX_BODY_BYTES

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
    # A connection's pending head deadline, and the connections with a head begun and not
    # yet complete: kept per server (``serving_protocol``), not as attributes of each
    # connection, whose attribute dict shares its keys up to uvicorn's own and grows from
    # 0.3 to 1.6 KB with one more.
    _head_timers: ClassVar[dict[GuardedHttpToolsProtocol, TimerHandle]] = {}
    _heads_begun: ClassVar[set[GuardedHttpToolsProtocol]] = set()
    # Connections closing gently after an early answer: the request bytes dropped so far.
    _lingering: ClassVar[dict[GuardedHttpToolsProtocol, int]] = {}

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        connections = self.open_connections
        if connections is not None:
            admission = connections.opened(self)
            if admission.notice is not None:
                log.warning(admission.notice)
            if admission.evicted is not None:
                admission.evicted.let_go()
            if not admission.admitted:
                transport.write(_REFUSED)
                transport.close()
                return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lingering.pop(self, None)
        if self.header_timeout is not None:
            self._disarm_head_timer()
            self._heads_begun.discard(self)
        if self.open_connections is not None:
            self.open_connections.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        dropped = self._lingering.get(self)
        if dropped is not None:  # the rest of an answered request: read, and dropped
            dropped += len(data)
            self._lingering[self] = dropped
            if dropped > LINGER_BYTES:
                self.transport.close()
            return
        super().data_received(data)
        # A head begun and left incomplete by this data, on a connection past its first
        # head (that one's deadline runs from the connection): its deadline runs from now.
        # Heads that arrive whole, the usual case, never need a timer.
        if (
            self in self._heads_begun
            and self not in self._head_timers
            and not self.transport.is_closing()
        ):
            self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_timeout is not None:
            self._heads_begun.add(self)

    def on_headers_complete(self) -> None:
        if self.header_timeout is not None:
            self._heads_begun.discard(self)
            self._disarm_head_timer()
        if self.open_connections is not None:
            self.open_connections.busy(self)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        cycle: RequestResponseCycle | None = self.cycle
        if cycle is not None and cycle.response_complete and cycle.more_body:
            # Answered before its body was read (a 413, a 401): uvicorn would read the
            # rest only to discard it, however long it is.
            self._linger()
        super().on_response_complete()
        if self.open_connections is not None and not self.transport.is_closing():
            current: RequestResponseCycle | None = self.cycle
            if current is None or current.response_complete:
                self.open_connections.idle(self)

    def _linger(self) -> None:
        """Close gently: end our side (the client reads the answer, then end of stream),
        drop what the client still sends for a bounded time and size, then close. Closing
        at once, with the client's bytes unread, would reset the connection, and a reset
        can destroy the answer before the client reads it."""
        if self.transport.is_closing() or self in self._lingering:
            return
        self._lingering[self] = 0
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self._stop_lingering)

    def _stop_lingering(self) -> None:
        if self._lingering.pop(self, None) is not None and not self.transport.is_closing():
            self.transport.close()

    def let_go(self) -> None:
        """Close this idle connection to make room for a new one."""
        if not self.transport.is_closing():
            self.transport.close()

    def _arm_head_timer(self) -> None:
        if self.header_timeout is not None:
            timer = self.loop.call_later(self.header_timeout, self._head_timed_out)
            self._head_timers[self] = timer

    def _disarm_head_timer(self) -> None:
        timer = self._head_timers.pop(self, None)
        if timer is not None:
            timer.cancel()

    def _head_timed_out(self) -> None:
        self._head_timers.pop(self, None)
        if self.transport.is_closing():
            return
        cycle: RequestResponseCycle | None = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The next head (pipelined) is late while a request is still answered:
            # close once that response is sent, as at a graceful shutdown.
            cycle.keep_alive = False
            return
        if self in self._heads_begun:
            self.transport.write(_TIMED_OUT)
        self.transport.close()


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
    """``GuardedHttpToolsProtocol`` with lists for its pipeline and its Events' waiters."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pipeline = getattr(self, "pipeline", None)
        if pipeline.__class__ is collections.deque and not pipeline:
            self.pipeline = _Pipeline()  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _lighten(getattr(self.flow, "_is_writable_event", None))

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if not _LISTS_FOR_WAITERS:
            return
        # What _lighten does, inline: this runs once per request.
        try:
            event: Any = self.cycle.message_event
            if event._waiters.__class__ is collections.deque and not event._waiters:
                event._waiters = []
        except AttributeError:
            pass


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
        "_head_timers": {},
        "_heads_begun": set(),
        "_lingering": {},
    }
    return cast("type[GuardedHttpToolsProtocol]", type(base.__name__, (base,), attributes)), refusal
