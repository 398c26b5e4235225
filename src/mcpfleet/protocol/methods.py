"""Which JSON-RPC methods exist in which protocol era: the one table. No I/O."""

from __future__ import annotations

from mcpfleet.protocol.versions import Era

# The operations on an app both eras share (``mcpfleet.server.operations`` runs them).
SHARED_METHODS = frozenset(
    (
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "prompts/list",
        "prompts/get",
        "completion/complete",
    )
)
# 2026-07-28 added these ...
MODERN_ONLY = frozenset(("server/discover", "subscriptions/listen"))
# ... and removed these, which only a 2025-era session may call.
LEGACY_ONLY = frozenset(
    ("initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe")
)

METHODS: dict[Era, frozenset[str]] = {
    Era.MODERN: SHARED_METHODS | MODERN_ONLY,
    Era.LEGACY: SHARED_METHODS | LEGACY_ONLY,
}


def method_exists(era: Era, method: str) -> bool:
    """Whether a request of ``era`` may name ``method``."""
    return method in METHODS.get(era, frozenset())
