"""What a Lambda function cannot serve, answered at once instead of held until timeout.

An invocation lasts as long as its response, is billed all that time, and ends at
the function's timeout; an instance is frozen between invocations. So:

- a 2025-era GET stream (server-initiated messages for a session) is never opened:
  405, which the 2025 transports define as "this endpoint offers no GET stream";
  clients then carry on with POSTs alone;
- ``subscriptions/listen`` (2026-07-28) is not a method this deployment serves:
  404 with -32601, the answer the 2026-07-28 transport gives for a method a server
  does not implement;
- without the fleet state in Redis no 2025-era request is served at all (a session
  opened on one instance would be unknown on the next): 400 with the reason.

``refusal`` decides from the request alone; the app never sees a refused request.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from mcpfleet.aws_lambda.events import Headers, HttpRequest
from mcpfleet.errors import HttpRejection, InvalidRequest, MethodNotFound, ProtocolError
from mcpfleet.protocol.jsonrpc import RequestId, dumps, error_message
from mcpfleet.protocol.versions import Era, request_era

LISTEN = "subscriptions/listen"

STATELESS_REFUSAL = (
    "this Lambda deployment keeps no state between invocations (no REDIS_URL), so it serves "
    "only stateless 2026-07-28 requests; a 2025-era session needs the fleet state in Redis "
    "(render with --state redis)"
)
GET_STREAM_REFUSAL = (
    "Method Not Allowed: this endpoint runs on AWS Lambda, which cannot hold a GET stream "
    "open; send requests as POSTs (server messages arrive on their response streams)"
)
LISTEN_REFUSAL = (
    "Method not found: subscriptions/listen needs a stream held open, which this deployment "
    "on AWS Lambda cannot do; list changes are not pushed here, so list again when needed"
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request answered without the app: the error and the id of the request it answers."""

    error: ProtocolError
    request_id: RequestId | None = None

    def response(self) -> tuple[int, Headers, bytes]:
        """Status, headers and JSON-RPC error body."""
        headers: Headers = [(b"content-type", b"application/json")]
        headers += [(k.encode(), v.encode()) for k, v in self.error.headers.items()]
        return self.error.http_status, headers, dumps(error_message(self.request_id, self.error))


def refusal(request: HttpRequest, path: str, *, stateless: bool) -> Refusal | None:
    """The refusal for ``request`` at the MCP endpoint ``path``, or ``None`` to serve it."""
    if request.path not in (path, path + "/"):
        return None
    if request.method == "GET":
        allow = "POST" if stateless else "POST, DELETE"
        return Refusal(HttpRejection(405, GET_STREAM_REFUSAL, headers={"allow": allow}))
    if request.method == "DELETE":
        return Refusal(InvalidRequest(STATELESS_REFUSAL)) if stateless else None
    if request.method != "POST":
        return None
    method, request_id = _method_and_id(request.body)
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}
    era, _ = request_era(headers, method)
    if era is Era.LEGACY and stateless:
        return Refusal(InvalidRequest(STATELESS_REFUSAL), request_id)
    if era is Era.MODERN and method == LISTEN:
        return Refusal(MethodNotFound(LISTEN_REFUSAL), request_id)
    return None


def _method_and_id(body: bytes) -> tuple[str | None, RequestId | None]:
    """The JSON-RPC method and id of a body, if it has them; the app judges the rest."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(value, dict):
        return None, None
    method = value.get("method")
    raw_id = value.get("id")
    valid_id = (isinstance(raw_id, int) and not isinstance(raw_id, bool)) or isinstance(raw_id, str)
    return (method if isinstance(method, str) else None), (raw_id if valid_id else None)
