"""The one map from an exception to the error response a client gets.

Every path of both eras (POST JSON, POST SSE, GET, DELETE, reply POSTs, listen)
sends what ``client_error`` returns: a ``ProtocolError`` with its HTTP status, its
headers (``Retry-After``, ``WWW-Authenticate``) and a JSON-RPC body written for
clients. An exception with no row is the server's own fault: it is logged with its
traceback and the client gets -32603 with no detail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mcpfleet.auth.jwks import FetchFailed
from mcpfleet.errors import (
    CommandError,
    ConfigError,
    HttpRejection,
    InputRequired,
    InternalError,
    InvalidParams,
    McpfleetError,
    ProtocolError,
    RateLimited,
    RequestStateInvalid,
    StateUnavailable,
    ToolError,
)
from mcpfleet.protocol.headers import BadHeaderValue
from mcpfleet.state.base import SessionLimitReached
from mcpfleet.transport.http import ClientDisconnected

log = logging.getLogger("mcpfleet.transport")


def unavailable(retry_after: int = 1) -> HttpRejection:
    """503 with Retry-After: the state store is unreachable, the client should retry."""
    return HttpRejection(
        503, "Service Unavailable: try again shortly", headers={"retry-after": str(retry_after)}
    )


def _session_limit(error: BaseException) -> ProtocolError:
    assert isinstance(error, SessionLimitReached)
    if error.per_principal:  # this caller's own quota: others are still served
        return RateLimited(str(error), 30)
    return unavailable(5)


def _as_protocol(error: BaseException) -> ProtocolError:
    assert isinstance(error, ProtocolError)
    return error


def _internal(error: BaseException) -> ProtocolError:
    return InternalError()


# Each of our exceptions, and each library exception we let reach the transport,
# to the error the client gets. The first row that matches wins.
ERROR_MAP: list[tuple[type[BaseException], Callable[[BaseException], ProtocolError]]] = [
    (ProtocolError, lambda error: _as_protocol(error)),
    (StateUnavailable, lambda error: unavailable(getattr(error, "retry_after", 1))),
    (SessionLimitReached, _session_limit),
    (RequestStateInvalid, lambda error: InvalidParams("Invalid params: invalid requestState")),
    # Handled before the transport: a tool error is an isError result, input required an
    # MRTR result; reaching this map, either is a bug, answered as one.
    (ToolError, _internal),
    (InputRequired, _internal),
    (ConfigError, _internal),
    # Raised and handled elsewhere (the CLI's commands, the probe, the verifier, the
    # body reader): reaching this map, each is a bug, answered as one.
    (ClientDisconnected, _internal),
    (BadHeaderValue, _internal),
    (FetchFailed, _internal),
    (CommandError, _internal),
]

# Kept apart so the test can check that every exception of ours has a row.
MAPPED: tuple[type[BaseException], ...] = tuple(row[0] for row in ERROR_MAP)


def client_error(error: BaseException, context: str = "request") -> ProtocolError:
    """The error response for ``error``; anything unmapped is logged as a server fault."""
    for kind, make in ERROR_MAP:
        if isinstance(error, kind):
            if make is _internal:
                log.error("%s failed: %s", context, type(error).__name__, exc_info=error)
            return make(error)
    if isinstance(error, McpfleetError):  # a new exception of ours with no row: a bug
        log.error("%s failed: unmapped %s", context, type(error).__name__, exc_info=error)
    else:
        log.error("%s failed", context, exc_info=error)
    return InternalError()
