"""Fleet state: what outlives one HTTP request (see ``base`` for the interface)."""

from __future__ import annotations

from mcpfleet.state.base import SESSION_CACHE_SECONDS, FleetState
from mcpfleet.state.memory import MemoryFleetState
from mcpfleet.state.redis_settings import RedisSettings


def open_state(
    url: str | None,
    *,
    session_ttl_seconds: float,
    connection: RedisSettings | None = None,
    cache_seconds: float = SESSION_CACHE_SECONDS,
) -> FleetState:
    """The fleet state a URL names: ``redis://``/``rediss://``, else this process's memory.

    ``connection`` says how to reach Redis besides the URL (TLS CA, user, AUTH token,
    ElastiCache IAM, cluster: ``RedisSettings.from_config(config)``); None connects with
    the URL alone. ``cache_seconds``: how long a task of a Redis fleet reuses a session
    record it read (``SESSION_CACHE_SECONDS``).
    """
    if url is None or url.startswith("memory:"):
        return MemoryFleetState(session_ttl_seconds=session_ttl_seconds)
    from mcpfleet.state.redis import RedisFleetState

    return RedisFleetState(
        url,
        session_ttl_seconds=session_ttl_seconds,
        connection=connection,
        cache_seconds=cache_seconds,
    )


__all__ = ["FleetState", "MemoryFleetState", "RedisSettings", "open_state"]
