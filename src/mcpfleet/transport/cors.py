"""CORS for browser clients of the MCP endpoint.

A browser sends a request with MCP headers to another origin only after a preflight
``OPTIONS`` is answered, and lets the page read a response header only when the
response exposes it. The Origin itself is judged before this module is reached
(``McpApp.check_caller``): an origin not allowed gets 403, preflight or not, and a
request without an ``Origin`` header never reaches here, so it pays nothing.

CORS has no wildcard for header names, and MCP has a family of them
(``Mcp-Param-*``): the preflight echoes the requested headers when every one is a
header the endpoint reads (or one a browser may always send), and lists the fixed
ones otherwise, which the browser then refuses.
"""

from __future__ import annotations

from mcpfleet.transport.http import Message, Send, send_empty

ALLOWED_METHODS = b"GET, POST, DELETE"
# The request headers the endpoint reads, besides the Mcp-Param-* family.
ALLOWED_HEADERS = (
    "content-type",
    "accept",
    "authorization",
    "mcp-protocol-version",
    "mcp-session-id",
    "mcp-method",
    "mcp-name",
    "last-event-id",
)
_LISTED = (
    b"Content-Type, Accept, Authorization, Mcp-Protocol-Version, Mcp-Session-Id, "
    b"Mcp-Method, Mcp-Name, Last-Event-ID"
)
# Headers a page may send that the endpoint ignores or carries through: the ones CORS
# always lets a page send, and trace context.
_HARMLESS = ("accept-language", "content-language", "traceparent", "tracestate")
_ACCEPTABLE = frozenset(ALLOWED_HEADERS + _HARMLESS)
PARAM_PREFIX = "mcp-param-"
# What a client must read from a response: the session it was given, why it was refused
# (a bearer challenge), when to come back, and the protocol version when one is sent.
EXPOSED_HEADERS = b"Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate, Retry-After"
# How long a browser may reuse a preflight's answer (Chromium caps it at two hours).
MAX_AGE_SECONDS = 7200
_VARY = (b"vary", b"origin")


def acceptable_headers(requested: str) -> bool:
    """Whether every header named in ``Access-Control-Request-Headers`` is one the
    endpoint accepts."""
    for name in requested.split(","):
        name = name.strip().lower()
        if name and name not in _ACCEPTABLE and not name.startswith(PARAM_PREFIX):
            return False
    return True


def preflight_headers(
    origin: str, requested: str | None, methods: bytes = ALLOWED_METHODS
) -> list[tuple[bytes, bytes]]:
    """The headers of a preflight's answer to ``origin`` (already judged allowed)."""
    allowed = _LISTED
    if requested and acceptable_headers(requested):
        allowed = requested.encode("latin-1")
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        _VARY,
        (b"access-control-allow-methods", methods),
        (b"access-control-allow-headers", allowed),
        (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
    ]


async def send_preflight(
    send: Send, origin: str, headers: dict[str, str], methods: bytes = ALLOWED_METHODS
) -> None:
    """Answer a preflight ``OPTIONS`` from an allowed ``origin``: 204, no body."""
    requested = headers.get("access-control-request-headers")
    await send_empty(send, 204, preflight_headers(origin, requested, methods))


def cross_origin(send: Send, origin: str) -> Send:
    """``send`` whose response carries ``Access-Control-Allow-Origin: origin`` and
    exposes the MCP response headers; only requests with an allowed Origin get it."""
    added = [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSED_HEADERS),
        _VARY,
    ]

    async def cors_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *added]}
        await send(message)

    return cors_send
