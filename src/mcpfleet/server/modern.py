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
    MissingClientCapability,
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
from mcpfleet.protocol.versions import META_SERVER_INFO, SUPPORTED_VERSIONS, Era
from mcpfleet.server.app import Server
from mcpfleet.server.context import Context, LazyContext
from mcpfleet.server.operations import OPERATIONS

Notify = Callable[[str, dict[str, Any]], Awaitable[None]]

# The capability each kind of input request needs the client to have declared.
INPUT_CAPABILITY = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}

ELICIT_ACTIONS = frozenset(("accept", "decline", "cancel"))

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
        missing_caps: dict[str, Any] = {}
        for request in requests.values():
            capability = INPUT_CAPABILITY.get(request["method"])
            if capability is None:
                raise ValueError(f"cannot ask the client for {request['method']}")
            if capability not in self._capabilities:
                missing_caps[capability] = {}
        if missing_caps:
            raise MissingClientCapability(missing_caps)
        pending = {key: req for key, req in requests.items() if key not in self.answers}
        for key, request in requests.items():
            if key in self.answers:
                check_input_response(key, request["method"], self.answers[key])
                self.used[key] = self.answers[key]
        if pending:
            raise InputRequired(pending, self.used)
        return {key: self.answers[key] for key in requests}


def check_input_response(key: str, method: str, answer: Any) -> None:
    """An answer must have the shape of the result its question asked for."""
    valid = isinstance(answer, dict) and (
        (method == "elicitation/create" and _valid_elicit_answer(answer))
        or (
            method == "sampling/createMessage"
            and isinstance(answer.get("role"), str)
            and isinstance(answer.get("content"), dict | list)
        )
        or (
            method == "roots/list"
            and isinstance(answer.get("roots"), list)
            and all(isinstance(root, dict) for root in answer["roots"])
        )
    )
    if not valid:
        raise InvalidParams(
            f"Invalid params: inputResponses[{key!r}] is not a valid {method} result"
        )


def _valid_elicit_answer(answer: dict[str, Any]) -> bool:
    action = answer.get("action")
    content = answer.get("content")
    return (
        isinstance(action, str)
        and action in ELICIT_ACTIONS
        and (content is None or isinstance(content, dict))
    )


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
    ) -> None:
        self.server = server
        self.state = state
        self.ring = ring
        self.state_ttl_seconds = state_ttl_seconds
        self.clock = clock
        self._server_meta = {META_SERVER_INFO: server.server_info}

    def check_method(self, method: str) -> None:
        if method not in MODERN_METHODS:
            raise MethodNotFound(f"Method not found: {method}")

    def discover(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "supportedVersions": list(SUPPORTED_VERSIONS),
            "capabilities": self.server.capabilities(),
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
            raise MethodNotFound(f"Method not found: {method}")
        answers: dict[str, Any] = {}
        retried = False
        target = MRTR_METHODS.get(method)
        if target is not None and ("requestState" in params or "inputResponses" in params):
            binding = request_binding(method, params.get(target), principal_id(principal))
            answers, retried = self._answers(params, binding)
        ctx = LazyContext(partial(self._context, request, meta, notify, principal, answers))
        try:
            result = await operation(self.server, params, ctx)
        except InputRequired as need:
            if target is None:
                raise InvalidParams(f"{method} cannot ask for client input") from None
            binding = request_binding(method, params.get(target), principal_id(principal))
            return self._input_required(need, binding)
        return self.finish(method, result, retried=retried)

    def _context(
        self,
        request: Request,
        meta: RequestMeta,
        notify: Notify,
        principal: Principal | None,
        answers: dict[str, Any],
    ) -> Context:
        return Context(
            server=self.server,
            exchange=MrtrExchange(notify, meta.client_capabilities, answers),
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
