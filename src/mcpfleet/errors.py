"""The one exception tree of mcpfleet.

    McpfleetError
    ├── ProtocolError                    a JSON-RPC error sent to the client
    │   ├── ParseError                   -32700  malformed JSON
    │   ├── InvalidRequest               -32600  not a JSON-RPC request
    │   ├── MethodNotFound               -32601  unknown or removed method
    │   ├── InvalidParams                -32602  bad parameters, unknown tool
    │   │   └── ResourceNotFound         -32602  resources/read of an unknown URI
    │   ├── InternalError                -32603  a handler failed (no detail leaks)
    │   ├── HeaderMismatch               -32020  HTTP headers disagree with the body
    │   ├── MissingClientCapability      -32021  the request needs an undeclared capability
    │   ├── UnsupportedProtocolVersion   -32022  a version this server does not speak
    │   ├── HttpRejection                -32600  refused at the HTTP layer (403/405/406/413/415)
    │   ├── Unauthorized                 -32001  no or bad credentials (HTTP 401, a challenge)
    │   │   └── InvalidToken             -32001  a bearer token that does not verify
    │   ├── InsufficientScope            -32003  the token lacks a scope (HTTP 403, a challenge)
    │   └── RateLimited                  -32005  over a per-caller limit (HTTP 429, Retry-After)
    │   (also: MessageError, a protocol error tied to a message's id; ResourceGone, the
    │   2025-era -32002; HandleNotFound, an unknown handle)
    ├── ToolError                        a tool's failure, returned as an ``isError`` result
    │   └── ClientRequestFailed          a 2025-era question the client could not answer
    ├── InputRequired                    a handler needs client input (MRTR); not an error
    ├── RequestStateInvalid              a forged, expired or foreign ``requestState``
    ├── ConfigError                      a bad setting, named, found at start
    ├── StateUnavailable                 the fleet state cannot be reached (HTTP 503)
    │   └── StateCertificateRejected     its TLS certificate does not verify (503 too)
    ├── SessionLimitReached              no session can open (503; 429 for one caller's cap)
    ├── ClientDisconnected               the client left before its request body arrived
    ├── BadHeaderValue                   an Mcp-Param header value that does not decode
    ├── FetchFailed                      an issuer's signing keys could not be fetched
    └── CommandError                     raised and handled by a CLI command, never a request
        ├── SettingsError, DeclarationError, StackError    ``mcpfleet deploy`` refusing
        └── PhaseFailed, NeedsAuth, StepFailed             ``mcpfleet probe``'s own flow

The transport's map (``mcpfleet.transport.errors``) has a row for every class here.

Every ``ProtocolError`` knows its JSON-RPC code and its HTTP status, and carries a
message written for clients: exception text from lower layers never reaches a
client. Third-party exceptions are translated where they enter the project.
"""

from __future__ import annotations

from typing import Any


class McpfleetError(Exception):
    """Base of every exception mcpfleet raises on purpose."""


class ProtocolError(McpfleetError):
    """A JSON-RPC error: code, client-facing message, optional data, HTTP status."""

    code: int = -32603
    http_status: int = 400
    default_message: str = "Error"
    headers: dict[str, str] = {}  # noqa: RUF012 -- read-only default; instances assign their own

    def __init__(
        self,
        message: str | None = None,
        *,
        data: Any = None,
        http_status: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.data = data
        if http_status is not None:
            self.http_status = http_status
        super().__init__(self.message)

    def to_error(self) -> dict[str, Any]:
        """The ``error`` member of a JSON-RPC response."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class ParseError(ProtocolError):
    code = -32700
    default_message = "Parse error"


class InvalidRequest(ProtocolError):
    code = -32600
    default_message = "Invalid request"


class MethodNotFound(ProtocolError):
    code = -32601
    http_status = 404
    default_message = "Method not found"


class InvalidParams(ProtocolError):
    code = -32602
    default_message = "Invalid params"


class ResourceNotFound(InvalidParams):
    default_message = "Resource not found"

    def __init__(self, uri: str, *, http_status: int | None = None) -> None:
        super().__init__(f"Resource not found: {uri}", data={"uri": uri}, http_status=http_status)


class InternalError(ProtocolError):
    code = -32603
    http_status = 500
    default_message = "Internal error"


class HeaderMismatch(ProtocolError):
    code = -32020
    default_message = "HTTP headers do not match the request body"


class MissingClientCapability(ProtocolError):
    code = -32021
    default_message = "The request needs a client capability that was not declared"

    def __init__(self, capabilities: dict[str, Any]) -> None:
        names = ", ".join(sorted(capabilities))
        super().__init__(
            f"Missing required client capability: {names}",
            data={"requiredCapabilities": capabilities},
        )


class UnsupportedProtocolVersion(ProtocolError):
    code = -32022
    default_message = "Unsupported protocol version"

    def __init__(self, requested: str | None, supported: list[str]) -> None:
        super().__init__(
            f"Unsupported protocol version: {requested}",
            data={"supported": supported, "requested": requested},
        )


class HttpRejection(ProtocolError):
    """A request refused before JSON-RPC dispatch; the status says why."""

    code = -32600

    def __init__(
        self, http_status: int, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, http_status=http_status)
        self.headers = headers or {}


class Unauthorized(ProtocolError):
    """No credentials, or credentials that do not name a caller: HTTP 401.

    ``oauth_error`` is the RFC 6750 error code for the ``WWW-Authenticate`` challenge
    (``invalid_token``, ``invalid_request``), or ``None`` when no credentials came.
    The challenge header itself is added where the request's resource is known.
    """

    code = -32001
    http_status = 401
    default_message = "Unauthorized: a valid bearer token is required"
    oauth_error: str | None = None

    def __init__(self, message: str | None = None, *, oauth_error: str | None = None) -> None:
        super().__init__(message)
        if oauth_error is not None:
            self.oauth_error = oauth_error


class InvalidToken(Unauthorized):
    """A bearer token that is malformed, forged, expired, or not for this resource.

    The message is safe to show a client: it says what is wrong, never the token.
    """

    oauth_error = "invalid_token"
    default_message = "Unauthorized: invalid token"


class InsufficientScope(ProtocolError):
    """The caller's token lacks scopes the request needs: HTTP 403 with a challenge."""

    code = -32003
    http_status = 403
    oauth_error = "insufficient_scope"

    def __init__(self, scopes: tuple[str, ...] | list[str], what: str = "this request") -> None:
        self.scopes = tuple(scopes)
        super().__init__(
            f"Forbidden: {what} needs scope {' '.join(self.scopes)}",
            data={"requiredScopes": list(self.scopes)},
        )


class RateLimited(ProtocolError):
    """A per-caller limit is used up: HTTP 429, retry after the given seconds."""

    code = -32005
    http_status = 429

    def __init__(self, limit: str, retry_after: float) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(
            f"Too many requests: over the limit {limit}; retry in {seconds} s",
            data={"limit": limit, "retryAfterSeconds": seconds},
        )
        self.headers = {"retry-after": str(seconds)}


class ToolError(McpfleetError):
    """Raised by a tool to report a failure to the model as an ``isError`` result."""


class InputRequired(McpfleetError):
    """A handler asked for client input that the request does not carry yet."""

    def __init__(self, requests: dict[str, dict[str, Any]], responses: dict[str, Any]) -> None:
        super().__init__("input required")
        self.requests = requests
        self.responses = responses


class RequestStateInvalid(McpfleetError):
    """A ``requestState`` that is forged, expired, or belongs to another request."""


class ConfigError(McpfleetError):
    """A setting that cannot be used; the message names the setting."""


class CommandError(McpfleetError):
    """Raised and handled within a CLI command (deploy, probe): never by a request."""


class StateUnavailable(McpfleetError):
    """The fleet state cannot be reached; the request may be retried later."""

    def __init__(self, message: str = "state store unavailable", retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StateCertificateRejected(StateUnavailable):
    """The fleet state's server presented a TLS certificate that does not verify (a wrong
    ``REDIS_CA_FILE``, or a host the certificate is not for): a 503 like any other state
    outage, logged as a setting to fix."""
