"""The SDK's exceptions become mcpfleet's where they leave the SDK (a table)."""

from __future__ import annotations

import pytest
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.shared.exceptions import MCPError

from mcpfleet.compat.translate import protocol_error
from mcpfleet.errors import (
    InputRequired,
    InternalError,
    InvalidParams,
    MethodNotFound,
    ProtocolError,
)


def wrapped(inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as exc:
            raise ToolError("Error executing tool t") from exc
    except ToolError as outer:
        return outer


QUESTION = InputRequired({"q0": {"method": "roots/list", "params": {}}}, {})

TABLE = [
    (MCPError(-32602, "bad city", {"city": "x"}), InvalidParams, -32602, "bad city"),
    (MCPError(-32601, "no such method"), MethodNotFound, -32601, "no such method"),
    (MCPError(-32603, "broken"), InternalError, -32603, "broken"),
    (MCPError(-32021, "needs sampling"), ProtocolError, -32021, "needs sampling"),
    (ResourceError("the disk is gone"), InternalError, -32603, "the disk is gone"),
    (ValueError("Missing required arguments: {'a'}"), InvalidParams, -32602, None),
    (ValueError("Unknown prompt: p"), InvalidParams, -32602, "Unknown prompt: p"),
    (RuntimeError("secret detail"), InternalError, -32603, "Internal error"),
]


@pytest.mark.parametrize(("raised", "kind", "code", "message"), TABLE)
def test_sdk_exceptions_map_to_protocol_errors(
    raised: Exception, kind: type[ProtocolError], code: int, message: str | None
) -> None:
    """Each SDK exception becomes one mcpfleet error with the right code; only what the
    app raised on purpose carries its message, never an unexpected exception's text."""
    error = protocol_error(raised)
    assert type(error) is kind
    assert isinstance(error, ProtocolError)
    assert error.code == code
    if message is not None:
        assert error.message == message


def test_a_question_wrapped_by_the_sdk_comes_out_as_itself() -> None:
    """An input-required round that the SDK wrapped in its own error is raised as is."""
    assert protocol_error(wrapped(QUESTION)) is QUESTION
