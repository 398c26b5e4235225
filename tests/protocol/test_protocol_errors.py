"""The ProtocolError tree: every error knows its JSON-RPC code and HTTP status."""

from __future__ import annotations

import pytest

import mcpfleet.protocol.jsonrpc  # noqa: F401  (defines MessageError, a ProtocolError)
from mcpfleet.errors import (
    HeaderMismatch,
    HttpRejection,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    MissingClientCapability,
    ParseError,
    ProtocolError,
    ResourceNotFound,
    UnsupportedProtocolVersion,
)


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


PROTOCOL_ERRORS = _all_subclasses(ProtocolError)


def test_the_tree_is_discovered() -> None:
    """The subclass walk finds the error classes the other tests rely on."""
    names = {cls.__name__ for cls in PROTOCOL_ERRORS}
    assert {"HeaderMismatch", "MethodNotFound", "UnsupportedProtocolVersion"} <= names
    assert "MessageError" in names


@pytest.mark.parametrize("cls", PROTOCOL_ERRORS, ids=lambda cls: cls.__name__)
def test_every_protocol_error_has_code_and_http_status(cls: type[ProtocolError]) -> None:
    """Every ProtocolError subclass carries an integer JSON-RPC code and a 4xx/5xx status."""
    assert isinstance(cls.code, int)
    assert not isinstance(cls.code, bool)
    assert -32768 <= cls.code <= -32000
    assert isinstance(cls.http_status, int)
    assert 400 <= cls.http_status <= 599


@pytest.mark.parametrize(
    ("error", "code", "http_status"),
    [
        pytest.param(ParseError(), -32700, 400, id="ParseError"),
        pytest.param(InvalidRequest(), -32600, 400, id="InvalidRequest"),
        pytest.param(MethodNotFound(), -32601, 404, id="MethodNotFound-404"),
        pytest.param(InvalidParams(), -32602, 400, id="InvalidParams"),
        pytest.param(ResourceNotFound("file:///x"), -32602, 400, id="ResourceNotFound"),
        pytest.param(InternalError(), -32603, 500, id="InternalError"),
        pytest.param(HeaderMismatch(), -32020, 400, id="HeaderMismatch"),
        pytest.param(
            MissingClientCapability({"sampling": {}}), -32021, 400, id="MissingClientCapability"
        ),
        pytest.param(
            UnsupportedProtocolVersion("1900-01-01", ["2026-07-28"]),
            -32022,
            400,
            id="UnsupportedProtocolVersion",
        ),
        pytest.param(HttpRejection(415, "Unsupported Media Type"), -32600, 415, id="Http415"),
    ],
)
def test_error_codes_and_statuses(error: ProtocolError, code: int, http_status: int) -> None:
    """Each error instance has the code and HTTP status the specification assigns."""
    assert error.code == code
    assert error.http_status == http_status
    assert error.to_error()["code"] == code
    assert isinstance(error.to_error()["message"], str)
    assert error.to_error()["message"]


def test_unsupported_version_data_lists_supported_and_requested() -> None:
    """UnsupportedProtocolVersion carries data {supported, requested} as the schema defines."""
    error = UnsupportedProtocolVersion("1900-01-01", ["2026-07-28", "2025-11-25"])
    assert error.to_error() == {
        "code": -32022,
        "message": error.message,
        "data": {"supported": ["2026-07-28", "2025-11-25"], "requested": "1900-01-01"},
    }


def test_to_error_omits_absent_data() -> None:
    """An error without data has no ``data`` member in its JSON-RPC form."""
    assert HeaderMismatch("Header mismatch: x").to_error() == {
        "code": -32020,
        "message": "Header mismatch: x",
    }


def test_http_status_can_be_overridden_per_instance() -> None:
    """An explicit http_status changes only that instance, not the class default."""
    error = InvalidParams(http_status=422)
    assert error.http_status == 422
    assert InvalidParams().http_status == 400
