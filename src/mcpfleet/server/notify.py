"""Server-side change notifications, fanned out to the listeners of this process.

A listener is a callable that takes a JSON-RPC notification (method and
params); it must not block. Listen streams and GET streams register one each.
The fleet state relays notifications between processes into this hub.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Listener = Callable[[str, dict[str, Any]], None]

TOOLS_CHANGED = "notifications/tools/list_changed"
PROMPTS_CHANGED = "notifications/prompts/list_changed"
RESOURCES_CHANGED = "notifications/resources/list_changed"
RESOURCE_UPDATED = "notifications/resources/updated"


class NotificationHub:
    """Fan-out of change notifications to the listeners in this process."""

    def __init__(self) -> None:
        self._listeners: dict[int, Listener] = {}
        self._next = 0
        self.relay: Listener | None = None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener``; call the returned function to remove it."""
        key = self._next
        self._next += 1
        self._listeners[key] = listener

        def unsubscribe() -> None:
            self._listeners.pop(key, None)

        return unsubscribe

    def publish(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Send to every listener here, and to the fleet when a relay is set."""
        if self.relay is not None:
            self.relay(method, params or {})
        else:
            self.deliver(method, params or {})

    def deliver(self, method: str, params: dict[str, Any]) -> None:
        """Hand a notification to the listeners of this process only."""
        for listener in list(self._listeners.values()):
            listener(method, params)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)
