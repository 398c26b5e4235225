"""Handles: named, expiring values a tool keeps for a caller between requests.

A 2026-07-28 server keeps no sessions, so a tool that must hand a client
something to come back to (a cursor, a draft, an upload in progress) mints a
handle: an unguessable id for a value stored in the fleet state, bound to the
principal that minted it, and gone after its TTL. Any task can read it.

    handle = await ctx.handles.mint({"draft": text}, ttl_seconds=600)
    draft = await ctx.handles.read(handle)
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from mcpfleet.errors import InvalidParams
from mcpfleet.state.base import FleetState

MAX_TTL_SECONDS = 7 * 24 * 3600


class HandleNotFound(InvalidParams):
    """The handle never existed, expired, was dropped, or belongs to someone else."""

    default_message = "Unknown or expired handle"


class Handles:
    """The handles of one caller (the request's principal)."""

    __slots__ = ("principal", "state")

    def __init__(self, state: FleetState, principal: str | None) -> None:
        self.state = state
        self.principal = principal

    async def mint(self, value: Any, *, ttl_seconds: float = 3600) -> str:
        """Store ``value`` (JSON-serialisable) and return its new handle."""
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"ttl_seconds must be in (0, {MAX_TTL_SECONDS}]")
        handle = "h_" + secrets.token_urlsafe(18)
        await self.state.put_handle(handle, self._record(value), ttl_seconds, create=True)
        return handle

    async def read(self, handle: str) -> Any:
        """The value of a handle of this caller; ``HandleNotFound`` otherwise."""
        record = await self.state.get_handle(handle)
        if record is None:
            raise HandleNotFound()
        owner, value = orjson.loads(record)
        if owner != self.principal:
            raise HandleNotFound()
        return value

    async def update(self, handle: str, value: Any, *, ttl_seconds: float = 3600) -> None:
        """Replace the value of a handle of this caller, and renew its TTL."""
        await self.read(handle)
        await self.state.put_handle(handle, self._record(value), ttl_seconds, create=False)

    async def drop(self, handle: str) -> None:
        """Forget a handle of this caller."""
        await self.read(handle)
        await self.state.delete_handle(handle)

    def _record(self, value: Any) -> bytes:
        return orjson.dumps([self.principal, value])
