"""Tools called as tasks, and the methods of the tasks extension: ``tasks/get``,
``tasks/update`` and ``tasks/cancel``, answered by any task of the fleet.

When a tool that supports tasks is called by a client that declared the extension, the
tool's policy (``task_after_ms``) decides: 0 makes it a task at once; N runs it in the
request for up to N ms, so that a call that finishes sooner (or asks the client a
question first, by MRTR) is answered as any other, and one still running then becomes a
task: its record is stored, the client gets the ``CreateTaskResult``, and the work goes on
in this process. From then on its questions go to the task (``input_required``) and wait
for ``tasks/update``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any

from mcpfleet.errors import InvalidParams, ProtocolError
from mcpfleet.protocol.tasks import (
    CANCELLED,
    INPUT_REQUIRED,
    TERMINAL,
    WORKING,
    create_result,
    declares_tasks,
    detailed,
    tasks_not_declared,
)
from mcpfleet.server.input_checks import check_capabilities, check_input_response
from mcpfleet.server.tasks.runner import TaskRunner
from mcpfleet.server.tasks.store import TaskStore
from mcpfleet.state.base import FleetState


@dataclass(frozen=True, slots=True)
class TaskSettings:
    """The limits of tasks, per server (``Config``'s ``TASK_*`` settings)."""

    ttl_seconds: float = 3600.0  # a task's record is kept this long after its creation
    poll_interval_ms: int = 1000  # what clients are told to wait between two polls
    lease_seconds: float = 30.0  # a task whose process stops is failed after this
    max_running_per_principal: int = 20
    max_running_anonymous: int = 1000  # all callers without a principal, together
    max_result_bytes: int = 4 * 1024 * 1024

    @classmethod
    def from_config(cls, config: Any) -> TaskSettings:
        return cls(
            ttl_seconds=config.task_ttl_seconds,
            poll_interval_ms=config.task_poll_interval_ms,
            lease_seconds=config.task_lease_seconds,
            max_running_per_principal=config.task_max_running_per_principal,
            max_running_anonymous=config.task_max_running_anonymous,
            max_result_bytes=config.task_max_result_bytes,
        )


class TooManyTasks(ProtocolError):
    code = -32005
    http_status = 429

    def __init__(self, cap: int) -> None:
        super().__init__(
            f"Too many running tasks: at most {cap} per caller; retry when one has finished",
            data={"maxRunningTasks": cap},
        )
        self.headers = {"retry-after": "5"}


class TaskExchange:
    """The exchange of a call that may become a task: the request's MRTR exchange until
    then; afterwards questions wait in the task's record, and notifications (whose
    response stream has ended) are dropped."""

    __slots__ = ("_adopting", "capabilities", "mrtr", "principal", "runner", "task_id")

    def __init__(
        self,
        mrtr: Any,
        runner: TaskRunner,
        principal: str | None,
        capabilities: dict[str, Any],
    ) -> None:
        self.mrtr = mrtr
        self.runner = runner
        self.principal = principal
        self.capabilities = capabilities
        self.task_id: str | None = None
        self._adopting: asyncio.Event | None = None

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        if self.task_id is None:
            await self.mrtr.notify(method, params)

    async def close_stream(self, retry_ms: int) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def ask(self, requests: dict[str, dict[str, Any]]) -> dict[str, Any]:
        if self._adopting is not None:
            await self._adopting.wait()  # becoming a task right now: ask it as one
        if self.task_id is None:
            answers: dict[str, Any] = await self.mrtr.ask(requests)
            return answers
        check_capabilities(requests, self.capabilities)
        known: dict[str, Any] = self.mrtr.answers
        pending = {key: request for key, request in requests.items() if key not in known}
        if pending:
            known.update(await self.runner.wait_input(self.task_id, self.principal, pending))
        return {key: known[key] for key in requests}


class _Continued:
    """A coroutine whose first step was run by hand, carried on by an asyncio task: the
    task waits on what the coroutine waits on, sends it on, and throws into it what is
    thrown at the task (a cancellation), until the coroutine returns."""

    __slots__ = ("coroutine", "waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, dict[str, Any]], waiting_on: Any) -> None:
        self.coroutine = coroutine
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, None, dict[str, Any]]:
        coroutine, waiting_on = self.coroutine, self.waiting_on
        while True:
            thrown: BaseException | None = None
            try:
                yield waiting_on
            except BaseException as error:
                thrown = error
            try:
                waiting_on = coroutine.send(None) if thrown is None else coroutine.throw(thrown)
            except StopIteration as finished:
                result: dict[str, Any] = finished.value
                return result

    async def run(self) -> dict[str, Any]:
        return await self


class TaskService:
    """Tasks on one server's fleet state."""

    def __init__(self, state: FleetState, settings: TaskSettings | None = None) -> None:
        self.settings = settings or TaskSettings()
        self.store = TaskStore(state, lease_seconds=self.settings.lease_seconds)
        self.runner = TaskRunner(self.store, state, max_result_bytes=self.settings.max_result_bytes)

    def exchange(
        self, mrtr: Any, principal: str | None, capabilities: dict[str, Any]
    ) -> TaskExchange:
        return TaskExchange(mrtr, self.runner, principal, capabilities)

    async def start_now(
        self,
        tool: str,
        required: bool,
        run: Callable[[], Coroutine[Any, Any, dict[str, Any]]],
        exchange: TaskExchange,
    ) -> tuple[dict[str, Any], bool]:
        """A call that is a task at once (``task_after_ms=0``): ``(CreateTaskResult,
        True)``, or ``(result, False)`` answered in the request when the caller's cap is
        reached and the tool may run without a task."""
        try:
            record = await self._create(tool, exchange.principal)
        except TooManyTasks:
            if required:
                raise
            return await run(), False
        exchange.task_id = record["id"]
        self.runner.track(record, asyncio.get_running_loop().create_task(run()))
        return create_result(record), True

    async def carry_on(
        self,
        tool: str,
        after_ms: int,
        required: bool,
        coroutine: Coroutine[Any, Any, dict[str, Any]],
        waiting_on: Any,
        exchange: TaskExchange,
    ) -> tuple[dict[str, Any], bool]:
        """A call whose first step ran in the request and now waits: it goes on in a task
        of its own, and becomes a task of the extension unless it finishes within
        ``after_ms``. ``(result, False)`` answered in the request, or
        ``(CreateTaskResult, True)``."""
        work = asyncio.get_running_loop().create_task(_Continued(coroutine, waiting_on).run())
        try:
            await asyncio.wait((work,), timeout=after_ms / 1000)
        except asyncio.CancelledError:
            work.cancel()
            raise
        if work.done():
            return work.result(), False
        exchange._adopting = asyncio.Event()
        try:
            record = await self._create(tool, exchange.principal)
        except TooManyTasks:
            if required:
                work.cancel()
                raise
            exchange._adopting.set()
            exchange._adopting = None
            return await work, False  # over the cap: answered in the request instead
        except BaseException:
            work.cancel()
            raise
        exchange.task_id = record["id"]
        exchange._adopting.set()
        exchange._adopting = None
        self.runner.track(record, work)
        return create_result(record), True

    async def _create(self, tool: str, principal: str | None) -> dict[str, Any]:
        settings = self.settings
        record = await self.store.create(
            principal=principal,
            tool=tool,
            ttl_ms=int(settings.ttl_seconds * 1000),
            poll_interval_ms=settings.poll_interval_ms,
        )
        # Anonymous callers cannot be told apart: they share one, larger budget.
        cap = (
            settings.max_running_per_principal
            if principal is not None
            else settings.max_running_anonymous
        )
        if not await self.store.take_slot(principal, record["id"], cap):
            await self.store.state.delete_handle(record["id"])
            raise TooManyTasks(cap)
        return record

    # -- the extension's methods ------------------------------------------------------

    async def handle(
        self,
        method: str,
        params: dict[str, Any],
        client_capabilities: dict[str, Any],
        principal: str | None,
    ) -> dict[str, Any]:
        if not declares_tasks(client_capabilities):
            raise tasks_not_declared()
        task_id = params.get("taskId")
        if not isinstance(task_id, str):
            raise InvalidParams("Invalid params: taskId must be a string")
        if method == "tasks/get":
            return detailed(await self.store.read(task_id, principal))
        if method == "tasks/update":
            await self._update(task_id, params, principal)
        else:
            await self._cancel(task_id, principal)
        return {}

    async def _update(self, task_id: str, params: dict[str, Any], principal: str | None) -> None:
        responses = params.get("inputResponses")
        if not isinstance(responses, dict):
            raise InvalidParams("Invalid params: inputResponses must be an object")
        await self.store.read(task_id, principal)  # unknown, or lost: said before anything

        def answer(record: dict[str, Any]) -> bool:
            if record["status"] != INPUT_REQUIRED:
                return False  # nothing asked: answers to nothing are ignored
            open_questions: dict[str, Any] = record.get("inputRequests") or {}
            answered = [key for key in responses if key in open_questions]
            for key in answered:
                check_input_response(key, open_questions[key]["method"], responses[key])
            if not answered:
                return False
            answers = record.setdefault("answers", {})
            for key in answered:
                answers[key] = responses[key]
                del open_questions[key]
            if not open_questions:
                record.pop("inputRequests", None)
                record["status"] = WORKING
            return True

        record = await self.store.change(task_id, principal, answer)
        if record["status"] == WORKING:
            await self.runner.announce(task_id, "update")

    async def _cancel(self, task_id: str, principal: str | None) -> None:
        await self.store.read(task_id, principal)

        def cancel(record: dict[str, Any]) -> bool:
            if record["status"] in TERMINAL:
                return False  # idempotent: a finished task stays as it finished
            record.pop("inputRequests", None)
            record["status"] = CANCELLED
            record["statusMessage"] = "Cancelled by the client"
            return True

        record = await self.store.change(task_id, principal, cancel)
        if record["status"] == CANCELLED:
            await self.runner.announce(task_id, "cancel")
