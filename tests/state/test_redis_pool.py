"""The Redis state under many concurrent commands: a busy task is not an unavailable one."""

from __future__ import annotations

import asyncio

import pytest

from mcpfleet.state.base import SessionRecord
from mcpfleet.state.redis import RedisFleetState

pytestmark = pytest.mark.anyio

CONCURRENT = 300  # above redis-py's default pool of 100 connections


async def test_hundreds_of_concurrent_commands_all_succeed(redis_url: str) -> None:
    """300 session lookups at once on a task with no cached copy all find their session:
    none is refused for want of a pooled connection."""
    writer = RedisFleetState(redis_url)
    reader = RedisFleetState(redis_url)
    try:
        ids = [f"pool-{n}" for n in range(CONCURRENT)]
        for session_id in ids:
            record = SessionRecord(id=session_id, protocol_version="2025-11-25")
            await writer.create_session(record, max_sessions=CONCURRENT + 1)
        found = await asyncio.wait_for(
            asyncio.gather(*(reader.get_session(session_id) for session_id in ids)), 30
        )
        assert [record.id if record else None for record in found] == ids
    finally:
        await writer.aclose()
        await reader.aclose()
