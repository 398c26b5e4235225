"""The SDK's exceptions, translated where they leave it.

MCPError (a JSON-RPC error the app raised)  -> the ProtocolError of its code
ResourceError (raised by the app on purpose) -> InternalError, the app's message
ValueError "Unknown prompt"/"Missing ..."    -> InvalidParams, the SDK's message
an mcpfleet exception the SDK wrapped        -> itself (a question ending an MRTR pass)
anything else                                -> InternalError, logged, no detail sent
"""

from __future__ import annotations

import logging
from typing import Any

from mcpfleet.compat.sdk import sdk
from mcpfleet.errors import (
    InternalError,
    InvalidParams,
    McpfleetError,
    MethodNotFound,
    ProtocolError,
)

log = logging.getLogger("mcpfleet.compat")

PROMPT_ARGUMENT_ERRORS = ("Unknown prompt", "Missing required arguments")


def carried(exc: BaseException) -> McpfleetError | None:
    """The mcpfleet exception behind ``exc``, if the SDK wrapped one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, McpfleetError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def protocol_error(exc: Exception) -> McpfleetError:
    """An exception out of the SDK as the mcpfleet error a client gets."""
    inner = carried(exc)
    if inner is not None:
        return inner
    shared = sdk("shared.exceptions")
    mcp_error = getattr(shared, "MCPError", None) or shared.McpError  # 2.x, 1.x
    if isinstance(exc, mcp_error):
        return from_code(exc.error.code, exc.error.message, exc.error.data)
    if _is_resource_error(exc):
        return InternalError(str(exc))  # raised on purpose by the app: its message is for clients
    if isinstance(exc, ValueError) and str(exc).startswith(PROMPT_ARGUMENT_ERRORS):
        return InvalidParams(str(exc))
    log.error("the SDK app failed", exc_info=exc)
    return InternalError()


def from_code(code: int, message: str, data: Any) -> ProtocolError:
    """A JSON-RPC error raised by the app, with its code, message and data."""
    known: dict[int, type[ProtocolError]] = {
        InvalidParams.code: InvalidParams,
        MethodNotFound.code: MethodNotFound,
        InternalError.code: InternalError,
    }
    cls = known.get(code)
    if cls is not None:
        return cls(message, data=data)
    error = ProtocolError(message, data=data)
    error.code = code
    return error


def _is_resource_error(exc: Exception) -> bool:
    return any(cls.__name__ == "ResourceError" for cls in type(exc).__mro__)
