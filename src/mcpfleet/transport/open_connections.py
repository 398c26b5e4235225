"""The open connections of one server process, the bound on how many, and which to let go.

A connection is *idle* while no request of it is being answered: from the moment
it is made until its first request head is complete, and again from each
response's end until the next head is. A connection that would pass the bound
takes the place of the connection idle the longest, which is closed; only when
every open connection is busy with a request is the new one refused. So a crowd
of connections that send nothing (or half a head) cannot keep a caller out, and
the process never needs more files than the bound (plus ``RESERVED_FILES``).

uvicorn's ``limit_concurrency`` is not this: it keeps accepting and answers 503
to every request once connections (idle ones included) or tasks reach the limit,
so it neither bounds the files a process holds nor lets a caller in past idle
connections.

No I/O here: the server's protocol reports what its connections do and acts on
the answers (``uvicorn_protocol``). The bound's notice is rate-limited with an
injected clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

# Files a process keeps open besides its connections (listening socket, logs, Redis,
# the event loop's own, an imported module being read): subtracted from ``ulimit -n``.
RESERVED_FILES = 64

# The bound's notice is logged at most this often (seconds).
NOTICE_EVERY_SECONDS = 60.0

C = TypeVar("C", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Admission(Generic[C]):
    """What to do with a new connection: keep it or refuse it, what to close to make
    room, and the notice to log (rate-limited), if any."""

    admitted: bool
    evicted: C | None = None
    notice: str | None = None


class OpenConnections(Generic[C]):
    """The connections a server holds open, at most ``bound`` of them."""

    def __init__(
        self,
        bound: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        notice_every: float = NOTICE_EVERY_SECONDS,
    ) -> None:
        if bound < 1:
            raise ValueError(f"bound: must be at least 1, got {bound}")
        self.bound = bound
        self._clock = clock
        self._notice_every = notice_every
        self._open: set[C] = set()
        self._idle: dict[C, None] = {}  # in the order they became idle: the oldest first
        self._last_notice: float | None = None
        self._evicted = 0
        self._refused = 0

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, connection: C) -> Admission[C]:
        """A new connection: admitted (idle) while under the bound, else in place of the
        connection idle the longest, else refused."""
        evicted: C | None = None
        if len(self._open) >= self.bound:
            if not self._idle:
                self._refused += 1
                return Admission(False, None, self._notice())
            evicted = next(iter(self._idle))
            del self._idle[evicted]
            self._open.discard(evicted)
            self._evicted += 1
        self._open.add(connection)
        self._idle[connection] = None
        return Admission(True, evicted, None if evicted is None else self._notice())

    def busy(self, connection: C) -> None:
        """A request head of ``connection`` is complete: it is no longer idle."""
        self._idle.pop(connection, None)

    def idle(self, connection: C) -> None:
        """``connection`` has answered its requests and waits for the next one."""
        if connection in self._open:
            self._idle.pop(connection, None)
            self._idle[connection] = None

    def closed(self, connection: C) -> None:
        """``connection`` is gone (whether it was counted or not)."""
        self._open.discard(connection)
        self._idle.pop(connection, None)

    def _notice(self) -> str | None:
        now = self._clock()
        if self._last_notice is not None and now - self._last_notice < self._notice_every:
            return None
        self._last_notice = now
        line = (
            f"connection bound reached: {len(self._open)} connections open "
            f"(MAX_CONNECTIONS {self.bound}); since the last notice, {self._evicted} idle "
            f"connections closed to make room and {self._refused} new ones refused with 503"
        )
        self._evicted = self._refused = 0
        return line


def connection_bound(
    requested: int, soft_limit: int, hard_limit: int, reserved: int = RESERVED_FILES
) -> tuple[int, int]:
    """The bound that fits the open-files limit, and the soft limit to ask for.

    The soft limit is raised as far as needed, up to the hard limit (a negative limit is
    no limit, as ``resource.RLIM_INFINITY``); the bound then leaves ``reserved`` files.
    """
    needed = requested + reserved
    if soft_limit < 0 or soft_limit >= needed:
        return requested, soft_limit
    soft = needed if hard_limit < 0 else max(soft_limit, min(needed, hard_limit))
    return max(1, min(requested, soft - reserved)), soft
