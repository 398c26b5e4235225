"""Fleet state: what outlives one HTTP request (see ``base`` for the interface)."""

from __future__ import annotations

from mcpfleet.state.base import FleetState
from mcpfleet.state.memory import MemoryFleetState


def open_state(url: str | None, *, session_ttl_seconds: float) -> FleetState:
    """The fleet state a URL names: ``redis://``/``rediss://``, else this process's memory."""
    if url is None or url.startswith("memory:"):
        return MemoryFleetState(session_ttl_seconds=session_ttl_seconds)
    from mcpfleet.state.redis import RedisFleetState

    return RedisFleetState(url, session_ttl_seconds=session_ttl_seconds)


__all__ = ["FleetState", "MemoryFleetState", "open_state"]
