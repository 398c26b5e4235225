"""The ``Context`` a handler receives: progress, logging and client input.

One API for both protocol generations. How a notification travels and how a
question reaches the client is the job of an ``Exchange``: in the 2026-07-28 era
a question ends the pass with an ``InputRequiredResult`` and the answer comes in
the client's retry (MRTR); in the 2025 era it is a request on the SSE stream and
the answer is the client's next POST. The handler's code is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, overload

from pydantic import BaseModel

from mcpfleet.auth.principal import Principal, principal_id
from mcpfleet.server.handles import Handles

LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
LOG_RANK = {level: rank for rank, level in enumerate(LOG_LEVELS)}


class Exchange(Protocol):
    """How a handler's messages reach the client of one request."""

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification on the request's response stream."""

    async def ask(self, requests: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Ask the client; each request is ``{"method": ..., "params": ...}``, keyed."""

    async def close_stream(self, retry_ms: int) -> None:
        """Close the response connection early; the client resumes (2025-11-25 polling)."""

    async def ping(self) -> None:
        """Check that the client is there and answering."""


class ElicitResult(BaseModel):
    """The user's answer: ``action`` is accept, decline or cancel."""

    action: str
    content: dict[str, Any] | None = None


class Context:
    """Per-request handle passed to tools, resources and prompts that ask for it."""

    __slots__ = (
        "_asked",
        "_exchange",
        "client_capabilities",
        "client_info",
        "log_level",
        "meta",
        "method",
        "principal",
        "progress_token",
        "protocol_version",
        "request_id",
        "server",
        "session_id",
        "state",
    )

    def __init__(
        self,
        *,
        server: Any,
        exchange: Exchange,
        request_id: int | str | None,
        method: str,
        protocol_version: str,
        client_capabilities: dict[str, Any],
        client_info: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        log_level: str | None = None,
        progress_token: int | str | None = None,
        principal: Principal | None = None,
        state: Any = None,
        session_id: str | None = None,
    ) -> None:
        self.server = server
        self.state = state
        self.session_id = session_id
        self._exchange = exchange
        self.request_id = request_id
        self.method = method
        self.protocol_version = protocol_version
        self.client_capabilities = client_capabilities
        self.client_info = client_info
        self.meta = meta or {}
        self.log_level = log_level
        self.progress_token = progress_token
        self.principal = principal
        self._asked = 0

    @property
    def handles(self) -> Handles:
        """Values this caller can come back to from any task (see ``server.handles``)."""
        if self.state is None:
            raise RuntimeError("handles need a fleet state; this context has none")
        return Handles(self.state, principal_id(self.principal))

    async def progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Report progress; a no-op when the client sent no progress token."""
        if self.progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": self.progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self._exchange.notify("notifications/progress", params)

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        """Send a log message if the client asked for this level or a more severe one."""
        if level not in LOG_RANK:
            raise ValueError(f"unknown log level {level!r}")
        if self.log_level is None or LOG_RANK[level] < LOG_RANK[self.log_level]:
            return
        params: dict[str, Any] = {"level": level, "data": data}
        if logger is not None:
            params["logger"] = logger
        await self._exchange.notify("notifications/message", params)

    @overload
    async def ask(self, requests: list[dict[str, Any]]) -> list[Any]: ...

    @overload
    async def ask(self, requests: dict[str, dict[str, Any]]) -> dict[str, Any]: ...

    async def ask(
        self, requests: list[dict[str, Any]] | dict[str, dict[str, Any]]
    ) -> list[Any] | dict[str, Any]:
        """Ask the client several things in one round.

        Each request is ``{"method": ..., "params": ...}`` (elicitation/create,
        sampling/createMessage or roots/list). Given a list, answers come back in
        the same order; given a dict, keyed alike (keys must be unique across the
        rounds of one request).
        """
        if isinstance(requests, dict):
            return await self._exchange.ask(requests)
        keyed = {}
        for request in requests:
            keyed[f"q{self._asked}"] = request
            self._asked += 1
        answers = await self._exchange.ask(keyed)
        return [answers[key] for key in keyed]

    async def ping(self) -> None:
        """Ping the client and wait for its answer (2025 sessions; a no-op in 2026-07-28,
        whose clients answer nothing but the request they sent)."""
        await self._exchange.ping()

    async def close_stream(self, retry_ms: int = 1000) -> None:
        """Let go of the response connection while the work goes on.

        With 2025-11-25 sessions the client reconnects after ``retry_ms`` and
        resumes the stream (SEP-1699 polling); in the 2026-07-28 era the stream
        stays open and this does nothing.
        """
        await self._exchange.close_stream(retry_ms)

    async def elicit(self, message: str, schema: dict[str, Any] | type[BaseModel]) -> ElicitResult:
        """Ask the user to fill a form; ``schema`` is a flat JSON Schema object."""
        if isinstance(schema, type):
            schema = schema.model_json_schema()
            schema.pop("title", None)
        params = {"mode": "form", "message": message, "requestedSchema": schema}
        (answer,) = await self.ask([elicitation_request(params)])
        return ElicitResult.model_validate(answer)

    async def sample(
        self,
        messages: list[dict[str, Any]] | str,
        *,
        max_tokens: int,
        system_prompt: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Ask the client's model for a completion; returns the CreateMessageResult."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": {"type": "text", "text": messages}}]
        params: dict[str, Any] = {"messages": messages, "maxTokens": max_tokens, **extra}
        if system_prompt is not None:
            params["systemPrompt"] = system_prompt
        (answer,) = await self.ask([sampling_request(params)])
        result: dict[str, Any] = answer
        return result

    async def list_roots(self) -> list[dict[str, Any]]:
        """The client's roots (file system boundaries)."""
        (answer,) = await self.ask([roots_request()])
        roots: list[dict[str, Any]] = answer.get("roots", [])
        return roots


def elicitation_request(params: dict[str, Any]) -> dict[str, Any]:
    return {"method": "elicitation/create", "params": params}


def sampling_request(params: dict[str, Any]) -> dict[str, Any]:
    return {"method": "sampling/createMessage", "params": params}


def roots_request() -> dict[str, Any]:
    return {"method": "roots/list", "params": {}}


class LazyContext:
    """The request's one ``Context``, made on first use only: most handlers take no
    context, and their calls should not pay for one."""

    __slots__ = ("_made", "_make")

    def __init__(self, make: Callable[[], Context]) -> None:
        self._make = make
        self._made: Context | None = None

    def __call__(self) -> Context:
        if self._made is None:
            self._made = self._make()
        return self._made
