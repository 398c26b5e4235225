"""The open connections of one server process, the bound on how many, and which to let go.

A connection is *idle* while no request of it is being answered: from the moment
it is made until its first request head is complete, and again from each
response's end until the next head is. Nobody reports that as it changes (it would
cost every request): when a connection would pass the bound, the server's
``is_idle`` predicate is asked then, and the new connection takes the place of the
*oldest idle* connection, which is closed; only when every open connection is busy
with a request is the new one refused. So a crowd of connections that send nothing
(or half a head) cannot keep a caller out, and the process never needs more files
than the bound (plus ``RESERVED_FILES``).

"Oldest" is by the order connections were opened, except that a connection found
busy by such a look goes behind all others (it was idle, at most, since then): so
the one closed is near the one idle the longest, and a look does not walk past the
same busy connections again. When a look finds every connection busy, new
connections are refused without another look for ``RESCAN_SECONDS``, so a flood of
them at a full bound costs one walk of the connections, not one each.

uvicorn's ``limit_concurrency`` is not this: it keeps accepting and answers 503
to every request once connections (idle ones included) or tasks reach the limit,
so it neither bounds the files a process holds nor lets a caller in past idle
connections.

No I/O here: the server's protocol reports its connections opened and closed, says
which are idle when asked, and acts on the answers (``uvicorn_protocol``). The
bound's notice and the pause between looks use an injected clock.
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

# After a look at a full bound found every connection busy: how long new connections
# are refused without another look (seconds).
RESCAN_SECONDS = 0.1

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
        rescan_after: float = RESCAN_SECONDS,
    ) -> None:
        if bound < 1:
            raise ValueError(f"bound: must be at least 1, got {bound}")
        self.bound = bound
        self._clock = clock
        self._notice_every = notice_every
        self._rescan_after = rescan_after
        # In the order they were opened (or last found busy): the oldest first.
        self._open: dict[C, None] = {}
        self._all_busy_until: float | None = None
        self._last_notice: float | None = None
        self._evicted = 0
        self._refused = 0

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, connection: C, is_idle: Callable[[C], bool]) -> Admission[C]:
        """A new connection: admitted while under the bound, else in place of the oldest
        connection that ``is_idle``, else refused."""
        evicted: C | None = None
        if len(self._open) >= self.bound:
            evicted = self._oldest_idle(is_idle)
            if evicted is None:
                self._refused += 1
                return Admission(False, None, self._notice())
            del self._open[evicted]
            self._evicted += 1
        self._open[connection] = None
        return Admission(True, evicted, None if evicted is None else self._notice())

    def closed(self, connection: C) -> None:
        """``connection`` is gone (whether it was counted or not)."""
        self._open.pop(connection, None)

    def _oldest_idle(self, is_idle: Callable[[C], bool]) -> C | None:
        now = self._clock()
        if self._all_busy_until is not None and now < self._all_busy_until:
            return None
        busy: list[C] = []
        for connection in self._open:
            if is_idle(connection):
                for seen in busy:  # behind all others: idle, at most, since now
                    del self._open[seen]
                    self._open[seen] = None
                return connection
            busy.append(connection)
        self._all_busy_until = now + self._rescan_after
        return None

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
