"""A task record that other writers keep changing: the store gives up after its bounded
tries with ``TaskBusy``, which the one error map answers as 503 with Retry-After (never a
500)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from mcpfleet.server.tasks.store import SWAP_ATTEMPTS, TaskBusy, TaskStore
from mcpfleet.state.memory import MemoryFleetState
from mcpfleet.transport.errors import client_error


def test_a_record_that_keeps_changing_is_busy_not_an_internal_error() -> None:
    async def main() -> tuple[TaskBusy, int]:
        state = MemoryFleetState()
        store = TaskStore(state)
        record = await store.create(principal="p", tool="t", ttl_ms=60_000, poll_interval_ms=1)
        tries = 0

        def edit(current: dict[str, Any]) -> bool:
            """Another writer changes the record between every read and its swap."""
            nonlocal tries
            tries += 1
            changed = {**current, "statusMessage": f"other writer {tries}"}
            asyncio.get_running_loop().create_task(
                state.put_handle(record["id"], orjson.dumps(changed), 60, create=False)
            )
            current["statusMessage"] = "mine"
            return True

        async def racing_edit() -> None:
            await store.change(record["id"], "p", edit)

        original = state.swap_handle

        async def swap_after_the_other_writer(*args: Any) -> bool:
            await asyncio.sleep(0)  # the other writer's put lands first
            return await original(*args)

        state.swap_handle = swap_after_the_other_writer  # type: ignore[method-assign]
        with pytest.raises(TaskBusy) as raised:
            await racing_edit()
        return raised.value, tries

    busy, tries = asyncio.run(main())
    assert tries == SWAP_ATTEMPTS
    answered = client_error(busy)
    assert answered.http_status == 503
    assert answered.headers["retry-after"] == "1"
