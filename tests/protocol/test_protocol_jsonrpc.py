"""JSON-RPC 2.0 decoding and encoding (mcpfleet.protocol.jsonrpc)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from protocol_strategies import FAST, json_objects, json_values, request_ids, texts

from mcpfleet.errors import HeaderMismatch, InvalidParams, ParseError
from mcpfleet.protocol.jsonrpc import (
    MessageError,
    Notification,
    Request,
    Response,
    decode_message,
    dumps,
    error_message,
    message_from_value,
    notification_message,
    request_message,
    result_message,
)


def _body(value: Any) -> bytes:
    return orjson.dumps(value)


# --------------------------------------------------------------------------- valid messages


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            Request(1, "tools/list", {}),
            id="request-int-id-no-params",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": "1", "method": "tools/list", "params": {"cursor": "c"}},
            Request("1", "tools/list", {"cursor": "c"}),
            id="request-string-id",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": 0, "method": "m", "params": {}},
            Request(0, "m", {}),
            id="request-id-zero",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": -5, "method": "m"},
            Request(-5, "m", {}),
            id="request-negative-id",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": "", "method": "m"},
            Request("", "m", {}),
            id="request-empty-string-id",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"a": 1}},
            Notification("notifications/cancelled", {"a": 1}),
            id="notification-with-params",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            Notification("notifications/initialized", {}),
            id="notification-no-params",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": 3, "result": {"ok": True}},
            Response(3, {"ok": True}, None),
            id="response-result",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": "r", "result": None},
            Response("r", None, None),
            id="response-null-result",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": 4, "error": {"code": -1, "message": "no"}},
            Response(4, None, {"code": -1, "message": "no"}),
            id="response-error",
        ),
    ],
)
def test_decode_valid_messages(value: dict[str, Any], expected: Any) -> None:
    """A well-formed body decodes to the Request, Notification or Response it describes."""
    message = decode_message(_body(value))
    assert message == expected
    assert type(message) is type(expected)


@pytest.mark.parametrize(
    ("raw_id", "id_type"),
    [
        pytest.param(1, int, id="int"),
        pytest.param("1", str, id="string"),
    ],
)
def test_ids_keep_their_json_type(raw_id: Any, id_type: type) -> None:
    """An id keeps its JSON type: 1 decodes to an int and "1" to a str."""
    message = decode_message(_body({"jsonrpc": "2.0", "id": raw_id, "method": "m"}))
    assert isinstance(message, Request)
    assert type(message.id) is id_type
    assert message.id == raw_id


def test_int_and_string_ids_are_different_requests() -> None:
    """Requests with ids 1 and "1" are not equal."""
    as_int = decode_message(b'{"jsonrpc":"2.0","id":1,"method":"m"}')
    as_str = decode_message(b'{"jsonrpc":"2.0","id":"1","method":"m"}')
    assert as_int != as_str


# --------------------------------------------------------------------------- invalid messages


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty-body"),
        pytest.param(b"{", id="truncated-object"),
        pytest.param(b"not json", id="bare-words"),
        pytest.param(b'{"jsonrpc": "2.0",}', id="trailing-comma"),
        pytest.param(b'{"a": 1} x', id="trailing-garbage"),
        pytest.param(b"\xff\xfe", id="invalid-utf8"),
        pytest.param(b'{"id": NaN}', id="nan-literal"),
        pytest.param(b"{'jsonrpc': '2.0'}", id="single-quotes"),
    ],
)
def test_malformed_json_is_parse_error(body: bytes) -> None:
    """A body that is not valid JSON is ParseError (-32700) with no request id."""
    with pytest.raises(MessageError) as excinfo:
        decode_message(body)
    assert excinfo.value.code == -32700
    assert excinfo.value.code == ParseError.code
    assert excinfo.value.request_id is None
    assert excinfo.value.http_status == 400


@pytest.mark.parametrize(
    ("value", "request_id"),
    [
        pytest.param([{"jsonrpc": "2.0", "id": 1, "method": "m"}], None, id="batch"),
        pytest.param([], None, id="empty-batch"),
        pytest.param("tools/list", None, id="string-body"),
        pytest.param(42, None, id="number-body"),
        pytest.param(None, None, id="null-body"),
        pytest.param(True, None, id="boolean-body"),
        pytest.param({"id": 1, "method": "m"}, 1, id="jsonrpc-missing"),
        pytest.param({"jsonrpc": "1.0", "id": 1, "method": "m"}, 1, id="jsonrpc-1.0"),
        pytest.param({"jsonrpc": 2.0, "id": 1, "method": "m"}, 1, id="jsonrpc-number"),
        pytest.param({"jsonrpc": "2.0", "id": True, "method": "m"}, None, id="id-true"),
        pytest.param({"jsonrpc": "2.0", "id": False, "method": "m"}, None, id="id-false"),
        pytest.param({"jsonrpc": "2.0", "id": 1.5, "method": "m"}, None, id="id-fraction"),
        pytest.param({"jsonrpc": "2.0", "id": None, "method": "m"}, None, id="id-null"),
        pytest.param({"jsonrpc": "2.0", "id": [1], "method": "m"}, None, id="id-array"),
        pytest.param({"jsonrpc": "2.0", "id": {"a": 1}, "method": "m"}, None, id="id-object"),
        pytest.param({"jsonrpc": "2.0", "id": 1, "method": 7}, 1, id="method-number"),
        pytest.param({"jsonrpc": "2.0", "id": 1, "method": ["m"]}, 1, id="method-array"),
        pytest.param({"jsonrpc": "2.0", "result": 1}, None, id="response-without-id"),
        pytest.param({"jsonrpc": "2.0"}, None, id="no-method-no-id"),
        pytest.param({"jsonrpc": "2.0", "id": 2}, 2, id="response-neither-result-nor-error"),
        pytest.param(
            {"jsonrpc": "2.0", "id": 2, "result": 1, "error": {"code": 1, "message": "x"}},
            2,
            id="response-both-result-and-error",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": 2, "error": "boom"}, 2, id="response-error-not-object"
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": 2, "error": {"message": "x"}}, 2, id="response-error-no-code"
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": 2, "error": {"code": "1", "message": "x"}},
            2,
            id="response-error-code-string",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": 2, "error": {"code": 1}}, 2, id="response-error-no-message"
        ),
    ],
)
def test_invalid_messages_are_invalid_request(value: Any, request_id: Any) -> None:
    """A body that is not one JSON-RPC 2.0 message object is InvalidRequest (-32600)."""
    with pytest.raises(MessageError) as excinfo:
        decode_message(_body(value))
    assert excinfo.value.code == -32600
    assert excinfo.value.http_status == 400
    assert excinfo.value.request_id == request_id


@pytest.mark.parametrize(
    "params",
    [
        pytest.param([1, 2], id="array"),
        pytest.param("x", id="string"),
        pytest.param(3, id="number"),
        pytest.param(True, id="boolean"),
    ],
)
@pytest.mark.parametrize(
    "request_id", [pytest.param(9, id="request"), pytest.param(None, id="notification")]
)
def test_params_must_be_an_object(params: Any, request_id: Any) -> None:
    """Params that are present but not an object are rejected as an invalid message."""
    value: dict[str, Any] = {"jsonrpc": "2.0", "method": "m", "params": params}
    if request_id is not None:
        value["id"] = request_id
    with pytest.raises(MessageError) as excinfo:
        decode_message(_body(value))
    assert excinfo.value.code in (-32600, InvalidParams.code)
    assert excinfo.value.request_id == request_id


def test_message_error_keeps_the_code_of_the_wrapped_error() -> None:
    """MessageError reports the wrapped error's code, message, data and status."""
    inner = HeaderMismatch("Header mismatch: x", data={"k": 1})
    wrapped = MessageError(inner, "id-1")
    assert wrapped.code == -32020
    assert wrapped.to_error() == {"code": -32020, "message": "Header mismatch: x", "data": {"k": 1}}
    assert wrapped.request_id == "id-1"
    assert wrapped.http_status == 400


def test_message_from_value_matches_decode_message() -> None:
    """message_from_value applies the same shape rules to an already-parsed value."""
    value = {"jsonrpc": "2.0", "id": "x", "method": "m", "params": {"a": [1]}}
    assert message_from_value(value) == decode_message(_body(value))


# --------------------------------------------------------------------------- builders


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        pytest.param(
            result_message(1, {"a": 1}),
            {"jsonrpc": "2.0", "id": 1, "result": {"a": 1}},
            id="result",
        ),
        pytest.param(
            error_message(None, ParseError()),
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}},
            id="error-null-id",
        ),
        pytest.param(
            error_message("a", InvalidParams("bad", data={"field": "x"})),
            {
                "jsonrpc": "2.0",
                "id": "a",
                "error": {"code": -32602, "message": "bad", "data": {"field": "x"}},
            },
            id="error-with-data",
        ),
        pytest.param(
            notification_message("notifications/progress"),
            {"jsonrpc": "2.0", "method": "notifications/progress"},
            id="notification-without-params",
        ),
        pytest.param(
            notification_message("n", {"p": 1}),
            {"jsonrpc": "2.0", "method": "n", "params": {"p": 1}},
            id="notification-with-params",
        ),
        pytest.param(
            request_message("7", "sampling/createMessage", {}),
            {"jsonrpc": "2.0", "id": "7", "method": "sampling/createMessage", "params": {}},
            id="request",
        ),
    ],
)
def test_builders_write_jsonrpc_shapes(built: dict[str, Any], expected: dict[str, Any]) -> None:
    """Each builder produces exactly the JSON-RPC 2.0 object for its message kind."""
    assert built == expected
    assert orjson.loads(dumps(built)) == expected


def test_dumps_writes_compact_single_line_json() -> None:
    """dumps writes JSON bytes without line breaks, fit for one SSE data line."""
    out = dumps({"a": "line1\nline2", "b": [1, 2]})
    assert isinstance(out, bytes)
    assert b"\n" not in out
    assert b"\r" not in out


# --------------------------------------------------------------------------- properties


@FAST
@given(request_id=request_ids, method=texts.filter(bool), params=json_objects)
def test_request_round_trip(request_id: Any, method: str, params: dict[str, Any]) -> None:
    """A request built by request_message decodes back to the same id (and type), method, params."""
    message = decode_message(dumps(request_message(request_id, method, params)))
    assert message == Request(request_id, method, params)
    assert type(message.id) is type(request_id)  # type: ignore[union-attr]


@FAST
@given(method=texts.filter(bool), params=st.none() | json_objects)
def test_notification_round_trip(method: str, params: dict[str, Any] | None) -> None:
    """A notification built by notification_message decodes back to the same method and params."""
    message = decode_message(dumps(notification_message(method, params)))
    assert message == Notification(method, params if params is not None else {})


@FAST
@given(request_id=request_ids, result=json_values)
def test_result_round_trip(request_id: Any, result: Any) -> None:
    """A reply built by result_message decodes back to a Response with the same id and result."""
    message = decode_message(dumps(result_message(request_id, result)))
    assert message == Response(request_id, result, None)
    assert type(message.id) is type(request_id)  # type: ignore[union-attr]


@FAST
@given(request_id=request_ids, text=texts, data=json_values)
def test_error_round_trip(request_id: Any, text: str, data: Any) -> None:
    """A reply built by error_message decodes back to a Response carrying the same error."""
    error = InvalidParams(text or None, data=data)
    message = decode_message(dumps(error_message(request_id, error)))
    assert message == Response(request_id, None, error.to_error())


def _nested(depth: int, padding: int) -> bytes:
    """A tools/call body whose arguments nest ``depth`` levels, with ``padding`` bytes of
    string data beside them."""
    inner: Any = "x"
    for _ in range(depth):
        inner = [inner]
    arguments = {"deep": inner, "text": "{[" * (padding // 2)}
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": arguments}}
    )


@pytest.mark.parametrize("padding", [0, 100_000], ids=["small", "big"])
@pytest.mark.parametrize(("depth", "refused"), [(10, False), (70, True)])
def test_nesting_is_bounded_whatever_the_body_size(padding: int, depth: int, refused: bool) -> None:
    """A body nested deeper than 64 levels is refused with -32600 and its id, small or big
    (a big one is walked, a small one scanned first); brackets inside strings do not count."""
    body = _nested(depth, padding)
    if not refused:
        message = decode_message(body)
        assert isinstance(message, Request)
        assert message.method == "tools/call"
        return
    with pytest.raises(MessageError) as caught:
        decode_message(body)
    assert caught.value.code == -32600
    assert caught.value.request_id == 1
