"""The disconnect watcher's background work ends with the app: no task is left pending for
the garbage collector to report later."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mcpfleet.config import Config
from mcpfleet.server.app import Server
from mcpfleet.transport.asgi import McpApp
from mcpfleet.transport.streams import WATCH_AFTER_SECONDS

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Response:
    """A response waiting long enough to get a disconnect listener."""

    def __init__(self) -> None:
        self.receive: Any = None
        self.tick = 0
        self.listener: asyncio.Task[None] | None = None
        self.gone = False

    def disconnected(self) -> None:
        self.gone = True


def sweepers() -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "DisconnectWatcher._sweep"
        and not task.done()
    ]


async def test_closing_the_app_stops_the_sweeper_and_its_listeners() -> None:
    """``McpApp.aclose`` cancels the sweeper (which otherwise stays up for seconds after
    the last request) and the listener of a response still watched."""
    app = McpApp(Server("watched"), Config.from_env({}))
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await never.wait()
        return {"type": "http.disconnect"}

    response = Response()
    app.disconnects.watch(response, receive)
    for _ in range(100):  # a listener starts once the response has waited a whole tick
        await asyncio.sleep(WATCH_AFTER_SECONDS)
        if response.listener is not None:
            break
    listener = response.listener
    assert listener is not None
    assert len(sweepers()) == 1
    await app.aclose()
    await asyncio.sleep(0)
    assert sweepers() == []
    assert listener.cancelled()
    assert not response.gone
