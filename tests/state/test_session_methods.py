"""The 2025-era methods that change a session (``logging/setLevel``,
``resources/subscribe`` and ``unsubscribe``), through the dispatcher onto the state."""

from __future__ import annotations

from typing import Any

import pytest

from mcpfleet.errors import InvalidParams
from mcpfleet.protocol.jsonrpc import Request
from mcpfleet.server.app import Server
from mcpfleet.server.legacy import LegacyDispatcher
from mcpfleet.state.base import SessionRecord
from mcpfleet.state.memory import MemoryFleetState

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class NoStream:
    """The outbound stream of a request that sends nothing (these methods never do)."""

    async def send(self, message: dict[str, Any]) -> None:
        raise AssertionError(f"nothing should be sent: {message}")

    async def release(self, retry_ms: int) -> None:
        raise AssertionError("nothing should be released")


async def opened(dispatcher: LegacyDispatcher) -> SessionRecord:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}
    _, record = await dispatcher.initialize(Request(0, "initialize", params), None)
    return record


async def test_subscribing_past_the_cap_is_invalid_params() -> None:
    """A session at its subscription cap gets -32602 with the cap in the message for a new
    URI, and nothing is stored; a URI it holds, or one after an unsubscribe, is fine."""
    state = MemoryFleetState()
    dispatcher = LegacyDispatcher(Server("t"), state, max_subscriptions=2)
    record = await opened(dispatcher)

    async def call(method: str, uri: str) -> dict[str, Any]:
        return await dispatcher.dispatch(Request(1, method, {"uri": uri}), record, NoStream())

    assert await call("resources/subscribe", "x://a") == {}
    assert await call("resources/subscribe", "x://b") == {}
    with pytest.raises(InvalidParams) as refused:
        await call("resources/subscribe", "x://c")
    assert refused.value.code == -32602
    assert "at most 2 resources" in refused.value.message
    assert await call("resources/subscribe", "x://a") == {}
    await call("resources/unsubscribe", "x://b")
    assert await call("resources/subscribe", "x://c") == {}
    stored = await state.get_session(record.id)
    assert stored is not None
    assert stored.subscriptions == ["x://a", "x://c"]


async def test_set_level_changes_the_stored_session_not_the_request_copy() -> None:
    """``logging/setLevel`` stores the level in the state; a record a request holds is
    its own copy, so the next request sees the level from the state."""
    state = MemoryFleetState()
    dispatcher = LegacyDispatcher(Server("t"), state)
    record = await opened(dispatcher)
    held = await state.get_session(record.id)
    assert held is not None
    request = Request(1, "logging/setLevel", {"level": "error"})
    assert await dispatcher.dispatch(request, held, NoStream()) == {}
    stored = await state.get_session(record.id)
    assert stored is not None
    assert stored.log_level == "error"
