"""A call's first step runs in the request; one that then waits is carried on by a task of
its own (``_Continued``), exactly as if the task had run it from the start: what it awaits
is awaited, results and exceptions reach it, and a cancellation is thrown into it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mcpfleet.server.tasks.service import _Continued


def continued(coroutine: Any) -> asyncio.Task[Any]:
    """Run the first step by hand, then hand the rest to a task (what the service does)."""
    waiting_on = coroutine.send(None)
    return asyncio.get_running_loop().create_task(_Continued(coroutine, waiting_on).run())


async def steps() -> dict[str, Any]:
    seen = []
    await asyncio.sleep(0)  # a bare yield
    seen.append("sleep0")
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.01, future.set_result, "value")
    seen.append(await future)  # a future's result comes back in
    await asyncio.sleep(0.01)
    return {"seen": seen}


def test_a_continued_call_awaits_and_returns() -> None:
    async def main() -> dict[str, Any]:
        return await continued(steps())

    assert asyncio.run(main()) == {"seen": ["sleep0", "value"]}


def test_an_exception_of_an_awaited_future_reaches_the_call() -> None:
    async def call() -> dict[str, Any]:
        await asyncio.sleep(0.01)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_exception(KeyError("gone"))
        try:
            await future
        except KeyError as error:
            return {"caught": str(error)}
        return {}

    async def main() -> dict[str, Any]:
        return await continued(call())

    assert asyncio.run(main()) == {"caught": "'gone'"}


def test_a_cancellation_is_thrown_into_the_call() -> None:
    """Cancelling the task cancels the call where it waits: it may clean up and re-raise
    (the task ends cancelled), or answer anyway."""
    cleaned: list[str] = []

    async def reraises() -> dict[str, Any]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cleaned.append("reraises")
            raise
        return {}

    async def answers() -> dict[str, Any]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return {"answered": True}
        return {}

    async def main() -> tuple[bool, dict[str, Any]]:
        first, second = continued(reraises()), continued(answers())
        await asyncio.sleep(0.01)
        first.cancel()
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return first.cancelled(), await second

    assert asyncio.run(main()) == (True, {"answered": True})
    assert cleaned == ["reraises"]
