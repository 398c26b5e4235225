"""The names of the Redis state's keys and channels (the whole layout is drawn in
``mcpfleet.state.redis``)."""

from __future__ import annotations

PREFIX = "mcpf"
CHANNELS = f"{PREFIX}:ch:"  # messages of channel ``c`` go out on ``mcpf:ch:c``
EVICT = "_sessions-changed"  # the state's own channel: a session was changed or deleted


def session_key(session_id: str, part: str) -> str:
    """A key of one session: all of them share the hash tag ``{id}``, so that Redis
    Cluster keeps them in one slot and one script may touch them together."""
    return f"{PREFIX}:{{{session_id}}}:{part}"
