"""The memory state's event log: a reader never loses the events that end a stream."""

from __future__ import annotations

import asyncio
import time

import pytest

from mcpfleet.state.memory import MemoryFleetState

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("steps", range(6))
async def test_a_wait_that_times_out_as_the_stream_ends_still_returns_its_last_event(
    steps: int,
) -> None:
    """A reader whose wait runs out around the loop step in which the stream's last event
    is appended and the stream completed gets that event, not an empty, complete log
    (``steps``: loop steps between the reader's deadline and the end of the stream)."""
    state = MemoryFleetState()
    first = await state.append_event("s", "st", b"one")

    async def finish_late() -> None:
        await asyncio.sleep(0)  # let the reader start waiting
        time.sleep(0.05)  # noqa: ASYNC251 - holds the loop on purpose, past the reader's deadline
        for _ in range(steps):
            await asyncio.sleep(0)
        await state.append_event("s", "st", b"two")
        await state.end_stream("s", "st")

    finisher = asyncio.create_task(finish_late())
    result = await state.read_events("s", first, wait=0.02)
    await finisher
    assert result is not None
    events, complete = result
    if complete:  # the reader will not ask again: it must have the last event
        assert [event.data for event in events] == [b"two"]
    else:  # it asks again from where it is, and finds the event then
        assert [event.data for event in events] in ([], [b"two"])
