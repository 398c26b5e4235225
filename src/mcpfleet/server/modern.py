"""Dispatch of 2026-07-28 requests, and MRTR: client input across retries.

When a handler asks the client for input that the request does not carry, the
pass ends with an ``InputRequiredResult``: the questions, and a sealed
``requestState`` that holds the answers gathered so far. The client's retry
brings the state back with the new answers, and the handler runs again from
the start; questions already answered return at once. No process keeps
anything between the two requests, so any task of a fleet can take the retry.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from mcpfleet.auth.principal import Principal, principal_id
from mcpfleet.errors import (
    InputRequired,
    InvalidParams,
    MethodNotFound,
    RequestStateInvalid,
)
from mcpfleet.protocol.jsonrpc import Request
from mcpfleet.protocol.methods import METHODS
from mcpfleet.protocol.modern import RequestMeta
from mcpfleet.protocol.request_state import (
    KeyRing,
    open_request_state,
    request_binding,
    seal_request_state,
)
from mcpfleet.protocol.tasks import (
    TASK_METHODS,
    TASK_STATUS,
    TASKS_EXTENSION,
    declares_tasks,
    status_notification,
)
from mcpfleet.protocol.versions import META_SERVER_INFO, SUPPORTED_VERSIONS, Era
from mcpfleet.server.app import Server
from mcpfleet.server.context import Context, LazyContext
from mcpfleet.server.input_checks import check_capabilities, check_input_response
from mcpfleet.server.operations import OPERATIONS, call_tool
from mcpfleet.server.registry import Tool
from mcpfleet.server.tasks.service import TaskService, TaskSettings

Notify = Callable[[str, dict[str, Any]], Awaitable[None]]

CACHEABLE = frozenset(
    (
        "server/discover",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
    )
)
MRTR_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


MODERN_METHODS = METHODS[Era.MODERN]  # looked up once: this check runs on every request


class MrtrExchange:
    """The modern ``Exchange``: notifications on the response stream, questions by MRTR."""

    __slots__ = ("_capabilities", "_notify", "answers", "used")

    def __init__(
        self, notify: Notify, capabilities: dict[str, Any], answers: dict[str, Any]
    ) -> None:
        self._notify = notify
        self._capabilities = capabilities
        self.answers = answers
        self.used: dict[str, Any] = {}  # answers to questions this pass asked

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        await self._notify(method, params)

    async def close_stream(self, retry_ms: int) -> None:
        return None  # a modern response stream cannot be resumed, so it stays open

    async def ping(self) -> None:
        return None  # the modern era has no server-to-client ping

    async def ask(self, requests: dict[str, dict[str, Any]]) -> dict[str, Any]:
        check_capabilities(requests, self._capabilities)
        pending = {key: req for key, req in requests.items() if key not in self.answers}
        for key, request in requests.items():
            if key in self.answers:
                check_input_response(key, request["method"], self.answers[key])
                self.used[key] = self.answers[key]
        if pending:
            raise InputRequired(pending, self.used)
        return {key: self.answers[key] for key in requests}


class ModernDispatcher:
    """Runs one modern request against the app and returns its result body."""

    def __init__(
        self,
        server: Server,
        ring: KeyRing,
        *,
        state_ttl_seconds: float = 600.0,
        clock: Callable[[], float] = time.time,
        state: Any = None,
        task_settings: TaskSettings | None = None,
    ) -> None:
        self.server = server
        self.state = state
        # Tasks need somewhere to keep their records: the fleet state.
        self.tasks = None if state is None else TaskService(state, task_settings)
        if self.tasks is not None:  # status changes reach listen streams fleet-wide
            hub = server.notifications
            self.tasks.store.on_status = lambda record: hub.publish(
                TASK_STATUS, status_notification(record)
            )
        self.ring = ring
        self.state_ttl_seconds = state_ttl_seconds
        self.clock = clock
        self._server_meta = {META_SERVER_INFO: server.server_info}

    def check_method(self, method: str) -> None:
        if method not in MODERN_METHODS and not (method in TASK_METHODS and self.offers_tasks):
            raise MethodNotFound(f"Method not found: {method}")

    @property
    def offers_tasks(self) -> bool:
        """Tools may run as tasks: the app has some, there is a state for their records,
        and the process lives on after a response (not on AWS Lambda)."""
        server = self.server
        return bool(server.task_tools) and self.tasks is not None and server.holds_streams

    def discover(self) -> dict[str, Any]:
        capabilities = self.server.capabilities()
        if self.offers_tasks:
            capabilities["extensions"] = {TASKS_EXTENSION: {}}
        result: dict[str, Any] = {
            "supportedVersions": list(SUPPORTED_VERSIONS),
            "capabilities": capabilities,
        }
        if self.server.instructions:
            result["instructions"] = self.server.instructions
        return self.finish("server/discover", result)

    def finish(
        self, method: str, result: dict[str, Any], *, retried: bool = False
    ) -> dict[str, Any]:
        """Add the fields every modern result carries, and cache hints where due."""
        result["resultType"] = "complete"
        meta = result.get("_meta")
        result["_meta"] = self._server_meta if meta is None else {**self._server_meta, **meta}
        if method in CACHEABLE:
            if retried:  # depends on the client's answers: must not be cached or shared
                result["ttlMs"], result["cacheScope"] = 0, "private"
            else:
                ttl = (
                    self.server.read_ttl_ms
                    if method == "resources/read"
                    else (self.server.list_ttl_ms)
                )
                result.setdefault("ttlMs", ttl)
                result.setdefault("cacheScope", "public")
        return result

    async def dispatch(
        self, request: Request, meta: RequestMeta, notify: Notify, principal: Principal | None
    ) -> dict[str, Any]:
        method = request.method
        params = request.params
        if method == "server/discover":
            return self.discover()
        operation = OPERATIONS.get(method)
        if operation is None:
            if method in TASK_METHODS and self.tasks is not None and self.offers_tasks:
                found = await self.tasks.handle(
                    method, params, meta.client_capabilities, principal_id(principal)
                )
                return self.finish(method, found)
            raise MethodNotFound(f"Method not found: {method}")
        answers: dict[str, Any] = {}
        retried = False
        target = MRTR_METHODS.get(method)
        if target is not None and ("requestState" in params or "inputResponses" in params):
            binding = request_binding(method, params.get(target), principal_id(principal))
            answers, retried = self._answers(params, binding)
        if method == "tools/call" and self.server.task_tools:
            tool = self.server.tools.get(params.get("name"))  # type: ignore[arg-type]
            if (
                tool is not None
                and tool.task is not None
                and declares_tasks(meta.client_capabilities)
                and self.offers_tasks
            ):
                return await self._task_call(
                    tool, request, meta, notify, principal, answers, retried
                )
        ctx = LazyContext(partial(self._context, request, meta, notify, principal, answers))
        try:
            result = await operation(self.server, params, ctx)
        except InputRequired as need:
            if target is None:
                raise InvalidParams(f"{method} cannot ask for client input") from None
            binding = request_binding(method, params.get(target), principal_id(principal))
            return self._input_required(need, binding)
        return self.finish(method, result, retried=retried)

    async def _task_call(
        self,
        tool: Tool,
        request: Request,
        meta: RequestMeta,
        notify: Notify,
        principal: Principal | None,
        answers: dict[str, Any],
        retried: bool,
    ) -> dict[str, Any]:
        """A call of a tool that may run as a task, from a client that declared the tasks
        extension: answered at once, by MRTR, or with a ``CreateTaskResult``.

        Unless it is to be a task at once, the call's first step runs right here: one that
        finishes without waiting on anything costs no task and no turn of the event loop.
        """
        tasks = self.tasks
        assert tasks is not None
        params = request.params
        caps = meta.client_capabilities
        name = principal_id(principal)
        exchange = tasks.exchange(MrtrExchange(notify, caps, answers), name, caps)
        ctx = LazyContext(
            partial(self._context, request, meta, notify, principal, answers, exchange)
        )
        after = self.server.task_after_ms if tool.task_after_ms is None else tool.task_after_ms
        required = tool.task == "required"
        try:
            if after <= 0:
                run = partial(call_tool, self.server, params, ctx)
                result, is_task = await tasks.start_now(tool.name, required, run, exchange)
            else:
                coroutine = call_tool(self.server, params, ctx)
                try:
                    waiting_on = coroutine.send(None)
                except StopIteration as finished:
                    return self.finish("tools/call", finished.value, retried=retried)
                result, is_task = await tasks.carry_on(
                    tool.name, after, required, coroutine, waiting_on, exchange
                )
        except InputRequired as need:
            return self._input_required(need, request_binding("tools/call", tool.name, name))
        if is_task:
            result["_meta"] = self._server_meta
            return result
        return self.finish("tools/call", result, retried=retried)

    def _context(
        self,
        request: Request,
        meta: RequestMeta,
        notify: Notify,
        principal: Principal | None,
        answers: dict[str, Any],
        exchange: Any = None,
    ) -> Context:
        return Context(
            server=self.server,
            exchange=exchange or MrtrExchange(notify, meta.client_capabilities, answers),
            request_id=request.id,
            method=request.method,
            protocol_version=meta.protocol_version,
            client_capabilities=meta.client_capabilities,
            client_info=meta.client_info,
            meta=meta.raw,
            log_level=meta.log_level,
            progress_token=meta.progress_token,
            principal=principal,
            state=self.state,
        )

    def _answers(self, params: dict[str, Any], binding: str) -> tuple[dict[str, Any], bool]:
        """The client's answers so far: those sealed in the state, and the new ones.

        Without a state, every ``inputResponses`` entry is a candidate answer (a
        first-round retry needs no state). With one, new entries count only for
        the questions the state says are pending; unknown keys are ignored.
        """
        sealed = params.get("requestState")
        retried = sealed is not None or "inputResponses" in params
        responses = params.get("inputResponses", {})
        if not isinstance(responses, dict):
            raise InvalidParams("Invalid params: inputResponses must be an object")
        if sealed is None:
            return dict(responses), retried
        try:
            state = open_request_state(sealed, ring=self.ring, binding=binding, now=self.clock())
        except RequestStateInvalid as exc:
            raise InvalidParams(f"Invalid requestState: {exc}") from None
        answers = dict(state.get("answers", {}))
        for key in state.get("pending", []):
            if key in responses:
                answers[key] = responses[key]
        return answers, retried

    def _input_required(self, need: InputRequired, binding: str) -> dict[str, Any]:
        state = {"answers": need.responses, "pending": sorted(need.requests)}
        sealed = seal_request_state(
            state,
            ring=self.ring,
            binding=binding,
            now=self.clock(),
            ttl_seconds=self.state_ttl_seconds,
        )
        return {
            "resultType": "input_required",
            "inputRequests": need.requests,
            "requestState": sealed,
            "_meta": self._server_meta,
        }
