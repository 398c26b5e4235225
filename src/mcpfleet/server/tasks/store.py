"""Task records in the fleet state, where any task of a fleet reads and changes them.

A record is a handle (``t_`` and 24 random bytes, URL-safe) whose value is the record's
JSON; every change reads it, changes it and swaps it in only if nobody changed it
meanwhile (``swap_handle``), and tries again if somebody did. A record that reached a
final status is never changed again. It is stored until its TTL (counted from its
creation) has passed, and at least as long as its lease.

A running task holds a lease on its record, renewed by the process that runs it. A
reader that finds a record still working (or waiting for input) past its lease knows
that process is gone, and fails the task with a retryable error: no task stays
``working`` for ever because the task of the fleet that ran it was killed.

The running tasks of each caller are held as slots of the fleet state (``take_slot``, one
step each, held for the lease and renewed with it), so that a cap holds across the fleet.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson

from mcpfleet.errors import InvalidParams, ProtocolError
from mcpfleet.protocol.tasks import FAILED, TERMINAL, expires_at, new_record
from mcpfleet.state.base import FleetState

# How often a change is tried again when other writers keep changing the record first.
SWAP_ATTEMPTS = 50
# A finished task's record is kept at least this long after it finished, whatever its TTL.
RESULT_SECONDS_AT_LEAST = 300.0


class TaskNotFound(InvalidParams):
    """The task never existed, expired, or belongs to another caller."""

    default_message = "Failed to retrieve task: Task not found"


class TaskStopped(Exception):
    """The record can no longer be changed as asked (it reached a final status)."""


class TaskBusy(ProtocolError):
    """Other writers kept changing the record first: try again in a moment (503)."""

    code = -32603
    http_status = 503
    default_message = "The task is being changed by others; retry"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.headers = {"retry-after": "1"}


def lost_runner_error() -> dict[str, Any]:
    return {
        "code": -32603,
        "message": "The server running this task stopped before it finished; run it again",
        "data": {"retryable": True},
    }


def _slots_key(principal: str | None) -> str:
    digest = hashlib.sha256((principal or "").encode()).hexdigest()[:32]
    return f"tp_{digest}"


class TaskStore:
    """The task records of one fleet state."""

    def __init__(
        self,
        state: FleetState,
        *,
        lease_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.lease_seconds = lease_seconds
        self.clock = clock
        # Told of each record whose status (or open questions) changed, once stored.
        self.on_status: Callable[[dict[str, Any]], None] = lambda record: None

    # -- records -------------------------------------------------------------

    async def create(
        self,
        *,
        principal: str | None,
        tool: str,
        ttl_ms: int,
        poll_interval_ms: int,
    ) -> dict[str, Any]:
        """Store a new working task (held by the caller's lease) and return its record:
        once this returns, ``tasks/get`` on any task of the fleet finds it."""
        now = self.clock()
        record = new_record(
            "t_" + secrets.token_urlsafe(24),
            principal=principal,
            tool=tool,
            now=now,
            ttl_ms=ttl_ms,
            poll_interval_ms=poll_interval_ms,
            lease=now + self.lease_seconds,
        )
        await self.state.put_handle(
            record["id"], orjson.dumps(record), self._keep(record), create=True
        )
        self.on_status(record)
        return record

    async def read(self, task_id: Any, principal: str | None) -> dict[str, Any]:
        """The caller's task, failed first if its runner is gone; ``TaskNotFound`` for
        anything else (unknown, expired, another caller's)."""
        record, raw = await self._load(task_id, principal)
        now = self.clock()
        if record["status"] not in TERMINAL and record["lease"] < now:

            def fail_if_lost(current: dict[str, Any]) -> bool:
                return current["lease"] < now and _fail_lost(current)

            return await self.change(record["id"], principal, fail_if_lost, (record, raw))
        return record

    async def change(
        self,
        task_id: str,
        principal: str | None,
        edit: Callable[[dict[str, Any]], bool],
        known: tuple[dict[str, Any], bytes] | None = None,
        *,
        touch: bool = True,
    ) -> dict[str, Any]:
        """Apply ``edit`` to the record (it returns whether it changed anything; it may
        raise ``TaskStopped``) and store it, unless another writer changed it first:
        then read it again and start over (``TaskBusy`` after ``SWAP_ATTEMPTS``).
        Returns the record as stored. ``touch``: the change is one the client sees (its
        ``lastUpdatedAt`` moves)."""
        for _ in range(SWAP_ATTEMPTS):
            record, raw = known if known is not None else await self._load(task_id, principal)
            known = None
            before = (record["status"], len(record.get("inputRequests") or ()))
            if not edit(record):
                return record
            if touch:
                record["updated"] = max(self.clock(), record["updated"])
            if await self.state.swap_handle(task_id, raw, orjson.dumps(record), self._keep(record)):
                if (record["status"], len(record.get("inputRequests") or ())) != before:
                    self.on_status(record)
                return record
        raise TaskBusy(f"Task {task_id} kept changing: gave up after {SWAP_ATTEMPTS} tries")

    async def _load(self, task_id: Any, principal: str | None) -> tuple[dict[str, Any], bytes]:
        if not isinstance(task_id, str) or not task_id.startswith("t_") or len(task_id) > 64:
            raise TaskNotFound()
        raw = await self.state.get_handle(task_id)
        if raw is None:
            raise TaskNotFound()
        record: dict[str, Any] = orjson.loads(raw)
        if record.get("principal") != principal:
            raise TaskNotFound()
        return record, raw

    def _keep(self, record: dict[str, Any]) -> float:
        """How long the record is stored from now: its TTL, its lease while running, and
        once finished at least ``RESULT_SECONDS_AT_LEAST`` (a task that ran past its TTL
        still has its result read)."""
        now = self.clock()
        until = expires_at(record)
        if record["status"] not in TERMINAL:
            until = max(until, record["lease"] + self.lease_seconds)
        else:
            until = max(until, float(record["updated"]) + RESULT_SECONDS_AT_LEAST)
        return max(1.0, until - now)

    # -- the running tasks of each caller --------------------------------------

    async def take_slot(self, principal: str | None, task_id: str, cap: int) -> bool:
        """Count ``task_id`` among the caller's running tasks, unless ``cap`` of them run
        (a slot held past its lease does not count: its runner is gone)."""
        return await self.state.take_slot(_slots_key(principal), task_id, cap, self.lease_seconds)

    async def renew_slots(self, principal: str | None, task_ids: list[str]) -> None:
        await self.state.renew_slots(_slots_key(principal), task_ids, self.lease_seconds)

    async def release_slot(self, principal: str | None, task_id: str) -> None:
        await self.state.release_slot(_slots_key(principal), task_id)


def _fail_lost(record: dict[str, Any]) -> bool:
    if record["status"] in TERMINAL:
        return False
    record["status"] = FAILED
    record["statusMessage"] = "The server running this task stopped"
    record["error"] = lost_runner_error()
    record.pop("inputRequests", None)
    return True
