"""The fleet test app, plus a tool that announces numbered changes to every task's streams,
so that a test can tell exactly which notification a client missed or received twice."""

from __future__ import annotations

from mcpfleet.server.notify import TOOLS_CHANGED
from tests.fleet.app import app

__all__ = ["app"]


@app.tool()
async def announce(number: int) -> str:
    """Publish notifications/tools/list_changed carrying ``number``, to the whole fleet."""
    app.notifications.publish(TOOLS_CHANGED, {"sequence": number})
    return "announced"
