"""The tasks this process runs: their asyncio tasks, their leases, their questions to the
client, and their outcome written to their records.

A task runs on the process that accepted its ``tools/call``, as an asyncio task of its
own (not the request's, which ends with the ``CreateTaskResult``). While it runs, one timer
per process renews the lease of each of its records. Messages on the fleet's ``tasks``
channel reach the process that runs a task from whichever process took the client's
``tasks/cancel`` (the work is cancelled) or ``tasks/update`` (the waiting question looks
at the record again); a message lost on the way is made up for by a look at the record at
least every ``POLL_SECONDS`` while a question waits, and at each lease renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from mcpfleet.errors import InputRequired, ProtocolError, StateUnavailable
from mcpfleet.protocol.tasks import (
    CANCELLED,
    COMPLETED,
    FAILED,
    INPUT_REQUIRED,
    TERMINAL,
)
from mcpfleet.server.tasks.store import TaskBusy, TaskStopped, TaskStore
from mcpfleet.state.base import FleetState

log = logging.getLogger("mcpfleet.tasks")

CHANNEL = "tasks"
POLL_SECONDS = 1.0  # a waiting question looks at its record at least this often


@dataclass(slots=True)
class Running:
    principal: str | None
    work: asyncio.Task[dict[str, Any]]
    wake: asyncio.Event = field(default_factory=asyncio.Event)


def drained_error() -> dict[str, Any]:
    return {
        "code": -32603,
        "message": "The server running this task was stopped before it finished; run it again",
        "data": {"retryable": True},
    }


class TaskRunner:
    """The running tasks of this process."""

    def __init__(self, store: TaskStore, state: FleetState, *, max_result_bytes: int) -> None:
        self.store = store
        self.state = state
        self.max_result_bytes = max_result_bytes
        self.running: dict[str, Running] = {}
        self._finishing: set[asyncio.Task[None]] = set()
        self._subscribed = False
        self._renewer: asyncio.Task[None] | None = None

    # -- starting and ending -----------------------------------------------------

    def track(self, record: dict[str, Any], work: asyncio.Task[dict[str, Any]]) -> None:
        """Run ``work`` as the task of ``record``: renew its lease, write its outcome."""
        task_id = record["id"]
        self.running[task_id] = Running(record["principal"], work)
        if not self._subscribed:
            self._subscribed = True
            self.state.subscribe(CHANNEL, self.deliver)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_leases())
        work.add_done_callback(lambda done: self._spawn(self._finish(task_id, done)))

    def _spawn(self, coroutine: Any) -> None:
        finishing = asyncio.get_running_loop().create_task(coroutine)
        self._finishing.add(finishing)
        finishing.add_done_callback(self._finishing.discard)

    async def _finish(self, task_id: str, work: asyncio.Task[dict[str, Any]]) -> None:
        running = self.running.pop(task_id, None)
        principal = running.principal if running is not None else None
        try:
            if not work.cancelled():
                outcome = self._outcome(work)

                def settle(record: dict[str, Any]) -> bool:
                    if record["status"] in TERMINAL:
                        return False  # cancelled (or failed by a drain) meanwhile
                    record.pop("inputRequests", None)
                    record.update(outcome)
                    return True

                await self.store.change(task_id, principal, settle)
        except (StateUnavailable, TaskStopped, TaskBusy) as error:
            log.warning("task %s: its outcome could not be stored: %s", task_id, error)
        except Exception:
            log.exception("task %s: its outcome could not be stored", task_id)
        finally:
            with contextlib.suppress(Exception):
                await self.store.release_slot(principal, task_id)

    def _outcome(self, work: asyncio.Task[dict[str, Any]]) -> dict[str, Any]:
        error = work.exception()
        if error is None:
            result = work.result()
            size = len(orjson.dumps(result))
            if size > self.max_result_bytes:
                return _failed(
                    f"The task's result is {size} bytes, over the limit of "
                    f"{self.max_result_bytes} bytes"
                )
            return {"status": COMPLETED, "result": result}
        if isinstance(error, ProtocolError):
            return {"status": FAILED, "statusMessage": error.message, "error": error.to_error()}
        if isinstance(error, InputRequired):  # never raised in a task: its questions wait
            return _failed("The task asked for input it could not wait for")
        log.error("task failed", exc_info=error)
        return _failed("Internal error")

    async def drain(self, budget: float) -> None:
        """Wait up to ``budget`` seconds for the running tasks; fail the rest with a
        retryable error and stop them."""
        works = [running.work for running in self.running.values()]
        if works and budget > 0:
            await asyncio.wait(works, timeout=budget)
        for task_id, running in list(self.running.items()):

            def fail(record: dict[str, Any]) -> bool:
                if record["status"] in TERMINAL:
                    return False
                record.pop("inputRequests", None)
                record.update(
                    status=FAILED, statusMessage="The server stopped", error=drained_error()
                )
                return True

            try:
                await self.store.change(task_id, running.principal, fail)
            except Exception as error:  # the lease still fails it, a little later
                log.warning("task %s was not marked failed at the drain: %s", task_id, error)
            running.work.cancel()
        # The cancelled works end, then their done callbacks start their ``_finish`` (which
        # gives back each caller's slot): wait for both before the state closes.
        if works:
            await asyncio.wait(works, timeout=2.0)
        await asyncio.sleep(0)
        if self._finishing:
            await asyncio.wait(list(self._finishing), timeout=2.0)
        if self._renewer is not None:
            self._renewer.cancel()

    # -- messages from the fleet -------------------------------------------------

    def deliver(self, message: dict[str, Any]) -> None:
        running = self.running.get(message.get("task", ""))
        if running is None:
            return
        if message.get("op") == "cancel":
            running.work.cancel()
        else:
            running.wake.set()

    async def announce(self, task_id: str, op: str) -> None:
        """Tell the process that runs the task (this one, or another) of a change."""
        message = {"task": task_id, "op": op}
        self.deliver(message)
        if self.state.shared:
            try:
                await self.state.publish(CHANNEL, message)
            except StateUnavailable:
                log.warning(
                    "task %s: the %s was not announced: the state is unreachable", task_id, op
                )

    # -- questions -----------------------------------------------------------------

    async def wait_input(
        self, task_id: str, principal: str | None, questions: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        """Put the task in ``input_required`` with ``questions`` and wait for the answers
        that ``tasks/update`` stores (on any task of the fleet)."""

        def ask(record: dict[str, Any]) -> bool:
            if record["status"] in TERMINAL:
                raise TaskStopped(record["status"])
            issued = record.setdefault("issued", [])
            record["inputRequests"] = {**(record.get("inputRequests") or {}), **questions}
            issued.extend(key for key in questions if key not in issued)
            record["status"] = INPUT_REQUIRED
            return True

        try:
            await self.store.change(task_id, principal, ask)
        except TaskStopped:
            raise asyncio.CancelledError() from None
        running = self.running.get(task_id)
        wake = running.wake if running is not None else asyncio.Event()
        while True:
            wake.clear()
            record = await self.store.read(task_id, principal)
            if record["status"] in TERMINAL:
                raise asyncio.CancelledError()
            answers = record.get("answers") or {}
            if all(key in answers for key in questions):
                return {key: answers[key] for key in questions}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), POLL_SECONDS)

    # -- leases ----------------------------------------------------------------------

    async def _renew_leases(self) -> None:
        every = max(0.05, self.store.lease_seconds / 3)
        while self.running:
            await asyncio.sleep(every)
            by_principal: dict[str | None, list[str]] = {}
            for task_id, running in list(self.running.items()):
                by_principal.setdefault(running.principal, []).append(task_id)
                try:
                    record = await self.store.change(
                        task_id, running.principal, self._renewal, touch=False
                    )
                except (StateUnavailable, TaskStopped, TaskBusy) as error:
                    log.warning("task %s: lease not renewed: %s", task_id, error)
                    continue
                except Exception:  # unknown now (expired): nothing to hold
                    record = {"status": CANCELLED}
                if record["status"] in TERMINAL:
                    running.work.cancel()  # cancelled elsewhere, its message lost
            for principal, task_ids in by_principal.items():
                with contextlib.suppress(Exception):
                    await self.store.renew_slots(principal, task_ids)

    def _renewal(self, record: dict[str, Any]) -> bool:
        if record["status"] in TERMINAL:
            return False
        record["lease"] = self.store.clock() + self.store.lease_seconds
        return True


def _failed(message: str) -> dict[str, Any]:
    return {"status": FAILED, "error": {"code": -32603, "message": message}}
