"""JSON-RPC 2.0 messages: decode bytes into typed messages, encode replies.

Ids keep their JSON type: ``1`` and ``"1"`` are different ids. Booleans and
fractional numbers are not ids. A null id appears only on an error reply to a
message whose id could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import orjson

from mcpfleet.errors import InternalError, InvalidRequest, ParseError, ProtocolError

RequestId: TypeAlias = int | str


@dataclass(slots=True)
class Request:
    id: RequestId
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Notification:
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Response:
    """A client's reply to a server-to-client request (legacy era)."""

    id: RequestId
    result: Any = None
    error: dict[str, Any] | None = None


Message: TypeAlias = Request | Notification | Response


class MessageError(ProtocolError):
    """A protocol error tied to the id of the message that caused it, when known."""

    def __init__(self, error: ProtocolError, request_id: RequestId | None) -> None:
        super().__init__(error.message, data=error.data, http_status=error.http_status)
        self.code = error.code
        self.headers = error.headers
        self.request_id = request_id


def _valid_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def parse_json(body: bytes) -> Any:
    """JSON text to a Python value; malformed text is a ``ParseError``."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MessageError(ParseError("Parse error: body is not valid JSON"), None) from None


# Deepest nesting of arrays and objects a message may have: well past any real schema,
# well short of what our encoder (and Redis, and the sealing of requestState) can re-encode.
MAX_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` in a decoded value."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item)
    return False


# Above this size a body is walked rather than scanned: a big body is mostly string data
# (a file, a document), whose bytes cost more to count than its few containers to walk.
SCAN_BYTES = 8192


def decode_message(body: bytes) -> Message:
    """Decode one JSON-RPC message from a request body, bounded in nesting depth: a
    small body is walked only when it has enough brackets to be that deep (counting is
    C-speed). (The depth check inline: this runs for every request.)"""
    value = parse_json(body)
    if (
        too_deep(value)
        if len(body) > SCAN_BYTES
        else body.count(b"{") + body.count(b"[") > MAX_DEPTH and too_deep(value)
    ):
        request_id = value.get("id") if isinstance(value, dict) else None
        raise MessageError(
            InvalidRequest(f"Invalid request: JSON nested deeper than {MAX_DEPTH} levels"),
            request_id if _valid_id(request_id) else None,
        )
    return message_from_value(value)


def message_from_value(value: Any) -> Message:
    """Check a decoded JSON value against the JSON-RPC 2.0 message shapes."""
    if not isinstance(value, dict):
        kind = "a batch (array)" if isinstance(value, list) else "not an object"
        raise MessageError(InvalidRequest(f"Invalid request: the body is {kind}"), None)
    raw_id = value.get("id")
    has_id = "id" in value
    id_type = raw_id.__class__
    request_id: RequestId | None = (
        raw_id if id_type is int or id_type is str or _valid_id(raw_id) else None
    )
    if value.get("jsonrpc") != "2.0":
        raise MessageError(InvalidRequest('Invalid request: "jsonrpc" must be "2.0"'), request_id)
    if has_id and request_id is None:
        raise MessageError(
            InvalidRequest("Invalid request: id must be a string or an integer"), None
        )
    method = value.get("method")
    if method is None:
        return _response_from_value(value, request_id)
    if not isinstance(method, str) or not method:
        raise MessageError(InvalidRequest("Invalid request: method must be a string"), request_id)
    params = value.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise MessageError(InvalidRequest("Invalid request: params must be an object"), request_id)
    if request_id is None:
        return Notification(method, params)
    return Request(request_id, method, params)


def _response_from_value(value: dict[str, Any], request_id: RequestId | None) -> Response:
    if request_id is None:
        raise MessageError(InvalidRequest("Invalid request: no method and no id"), None)
    has_result = "result" in value
    error = value.get("error")
    if has_result == (error is not None):
        raise MessageError(
            InvalidRequest("Invalid response: exactly one of result and error"), request_id
        )
    if error is not None and not (
        isinstance(error, dict) and isinstance(error.get("code"), int) and "message" in error
    ):
        raise MessageError(InvalidRequest("Invalid response: malformed error"), request_id)
    return Response(request_id, value.get("result"), error)


UNENCODABLE = "The tool's result cannot be encoded as JSON"


def encode_final(message: dict[str, Any]) -> bytes:
    """A request's final message as JSON. A result that cannot be encoded (a number past
    64 bits, a value of no JSON type) becomes, for a tool, a tool error the model can read,
    and for anything else an internal error: never a broken response."""
    try:
        return dumps(message)
    except orjson.JSONEncodeError:
        pass
    result = message.get("result")
    if isinstance(result, dict) and "content" in result:  # a CallToolResult
        fallback: dict[str, Any] = {
            "content": [{"type": "text", "text": UNENCODABLE}],
            "isError": True,
        }
        if "resultType" in result:
            fallback["resultType"] = "complete"
        return dumps({"jsonrpc": "2.0", "id": message.get("id"), "result": fallback})
    return dumps(error_message(message.get("id"), InternalError()))


def result_message(request_id: RequestId, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_message(request_id: RequestId | None, error: ProtocolError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_error()}


def notification_message(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


def request_message(request_id: RequestId, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def dumps(message: Any) -> bytes:
    """Serialise a message; the one place JSON is written."""
    return orjson.dumps(message)
