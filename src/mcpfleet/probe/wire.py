"""One HTTP exchange with a server, every read bounded in bytes, events and time.

A POST's reply is JSON or an SSE stream; either way the caller gets the JSON-RPC
response with the id it sent (or why there is none): a stream that never ends,
an HTML page, a body too large or not UTF-8 are all described, never raised.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from mcpfleet.probe.bearer import describe_challenge, parse_challenge
from mcpfleet.protocol.jsonrpc import MessageError, RequestId, dumps, parse_json
from mcpfleet.protocol.sse import EventParser

MAX_EVENTS = 10_000
MAX_LINE = 1024 * 1024  # an SSE line longer than this is refused before it is parsed
SNIPPET = 200


@dataclass(slots=True)
class Reply:
    """What came back: status, headers, and the JSON-RPC response if one could be read."""

    status: int = 0
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    content_type: str = ""
    message: dict[str, Any] | None = None
    problem: str | None = None  # why ``message`` is None when one was expected
    snippet: str = ""
    events: int = 0

    @property
    def error_code(self) -> int | None:
        error = (self.message or {}).get("error")
        code = error.get("code") if isinstance(error, dict) else None
        return code if isinstance(code, int) and not isinstance(code, bool) else None

    @property
    def result(self) -> dict[str, Any] | None:
        result = (self.message or {}).get("result")
        return result if isinstance(result, dict) else None

    def describe(self) -> str:
        """A one-line account of the reply, for a phase's detail."""
        parts = [f"HTTP {self.status}" if self.status else "no HTTP response"]
        if self.content_type:
            parts.append(self.content_type)
        if self.error_code is not None:
            error = (self.message or {}).get("error") or {}
            parts.append(f"JSON-RPC error {self.error_code}: {str(error.get('message'))[:120]}")
        if self.problem:
            parts.append(self.problem)
        refusal = self.oauth_refusal
        if refusal:
            parts.append(refusal)
        return ", ".join(parts)

    @property
    def oauth_refusal(self) -> str:
        """The Bearer challenge's error of a 401 or 403 (``insufficient_scope (scope x)``)."""
        if self.status not in (401, 403):
            return ""
        challenge = parse_challenge(self.headers.get("www-authenticate", ""))
        # A JSON-RPC error already carries the description: say it once.
        return describe_challenge(challenge, description=self.error_code is None)


async def exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    payload: Any,
    deadline: float,
    max_bytes: int,
    *,
    form: dict[str, str] | None = None,
    follow_redirects: bool = True,
) -> Reply:
    """Send ``payload`` (``None``: no body), or ``form`` form-encoded, and read the reply to
    the payload's id, within bounds."""
    request_id = payload.get("id") if isinstance(payload, dict) else None
    body = None if payload is None else dumps(payload)
    if form is not None:
        body = urlencode(form).encode()
        headers = {**headers, "content-type": "application/x-www-form-urlencoded"}
    reply = Reply()
    try:
        async with (
            asyncio.timeout_at(deadline),
            client.stream(
                method, url, content=body, headers=headers, follow_redirects=follow_redirects
            ) as response,
        ):
            reply.status = response.status_code
            reply.headers = response.headers
            content_type = response.headers.get("content-type", "")
            reply.content_type = content_type.split(";", 1)[0].strip().lower()
            if reply.content_type == "text/event-stream":
                await _read_stream(response, reply, request_id, max_bytes)
            else:
                await _read_body(response, reply, max_bytes, expect=request_id is not None)
    except TimeoutError:
        reply.problem = _timeout_problem(reply)
    except httpx.TooManyRedirects:
        reply.problem = "too many redirects (a redirect loop?)"
    except httpx.HTTPError as exc:
        reply.problem = f"{type(exc).__name__}: {exc}"[:300]
    return reply


def _timeout_problem(reply: Reply) -> str:
    if not reply.status:
        return "no response before the timeout"
    if reply.content_type == "text/event-stream":
        return f"SSE stream still open at the timeout, no response after {reply.events} events"
    return "body not complete before the timeout"


async def _read_bounded(response: httpx.Response, max_bytes: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_body(
    response: httpx.Response, reply: Reply, max_bytes: int, *, expect: bool
) -> None:
    raw = await _read_bounded(response, max_bytes)
    if raw is None:
        reply.problem = f"body larger than {max_bytes} bytes"
        return
    reply.snippet = raw[:SNIPPET].decode("utf-8", "replace")
    if not raw and not expect:
        return
    if reply.content_type != "application/json":
        reply.problem = f"unexpected content type {reply.content_type or '(none)'}"
        return
    _take_json(reply, raw)


def _take_json(reply: Reply, raw: bytes) -> None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        reply.problem = "body is not valid UTF-8"
        return
    try:
        value = parse_json(raw)
    except MessageError:
        reply.problem = "body is not valid JSON"
        return
    if not isinstance(value, dict):
        reply.problem = "body is not a JSON object"
        return
    reply.message = value


async def _read_stream(
    response: httpx.Response, reply: Reply, request_id: RequestId | None, max_bytes: int
) -> None:
    parser = EventParser()
    size = 0
    line = 0  # bytes since the last line break
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            reply.problem = f"SSE stream passed {max_bytes} bytes without a response"
            return
        last_break = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        line = line + len(chunk) if last_break < 0 else len(chunk) - last_break - 1
        if line > MAX_LINE:
            reply.problem = f"SSE line longer than {MAX_LINE} bytes"
            return
        try:
            events = parser.feed(chunk)
        except UnicodeDecodeError:
            reply.problem = "SSE stream is not valid UTF-8"
            return
        for event in events:
            reply.events += 1
            if reply.events > MAX_EVENTS:
                reply.problem = f"SSE stream passed {MAX_EVENTS} events without a response"
                return
            if _is_response(event.data, request_id, reply):
                return
    if reply.message is None:
        reply.problem = reply.problem or "SSE stream ended without a response"


def _is_response(data: str, request_id: RequestId | None, reply: Reply) -> bool:
    if not data.strip():
        return False
    probe = Reply()
    _take_json(probe, data.encode())
    message = probe.message
    if message is None:
        reply.problem = f"SSE event is not a JSON-RPC message: {probe.problem}"
        return False
    if "method" in message or message.get("id") != request_id:
        return False  # a notification or a server request: not our answer
    reply.message = message
    return True
