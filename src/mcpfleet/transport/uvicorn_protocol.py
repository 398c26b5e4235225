"""uvicorn's httptools protocol, with about 2 KB less memory per connection.

uvicorn gives every connection a ``collections.deque`` for pipelined requests
and an ``asyncio.Event`` for write flow control, and every request an
``asyncio.Event`` that its ``receive`` waits on. An empty deque takes 760 bytes
(it allocates its first block up front) and each Event keeps its waiters in
one: about 2.2 KB per connection, for queues that hold a pipelined request
almost never and at most one waiter. Against a connection held open by a GET
stream (10 KB in all on uvicorn) that is a fifth of it.

``LeanHttpToolsProtocol`` replaces the three, as soon as uvicorn has made them
and before anything can wait on them, with lists (56 bytes), which support all
that is done with them: ``append``, ``remove`` and iteration of an Event's
waiters (``asyncio.locks.Event`` of Python 3.11 to 3.13 does nothing else with
them; a later Python keeps its deques until this is checked again), and
``appendleft``, ``pop`` and truth of the pipeline. Whatever does not look
exactly as expected (another uvicorn, another asyncio) is left as uvicorn made
it: the protocol then behaves, and costs, as uvicorn's own.
"""

from __future__ import annotations

import asyncio
import collections
import sys
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


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


class LeanHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with lists for its pipeline and its Events' waiters."""

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
