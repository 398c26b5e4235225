"""An SDK app's lifespan runs with the transport: entered at startup, left at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mcpfleet.compat import serve_sdk
from mcpfleet.config import Config
from mcpfleet.transport.asgi import McpApp
from tests.compat import sdk_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_lifespan_is_entered_at_startup_and_left_at_shutdown() -> None:
    """Under the ASGI lifespan protocol, the SDK app's lifespan has started once startup
    completes (before any request) and has finished its cleanup once shutdown completes."""
    app = McpApp(serve_sdk(sdk_app.mcp), Config())
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    before = len(sdk_app.EVENTS)
    running = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)
    )
    try:
        await inbox.put({"type": "lifespan.startup"})
        assert (await asyncio.wait_for(outbox.get(), 10))["type"] == "lifespan.startup.complete"
        assert sdk_app.EVENTS[before:] == ["started"]
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await asyncio.wait_for(outbox.get(), 10))["type"] == "lifespan.shutdown.complete"
        assert sdk_app.EVENTS[before:] == ["started", "stopped"]
    finally:
        await asyncio.wait_for(running, 10)
