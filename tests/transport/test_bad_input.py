"""Bad input gets the specified HTTP status and JSON-RPC code, and the server keeps serving."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ServerProcess
from tests.wire import call, meta, post, request


@pytest.fixture(autouse=True)
def still_serving(test_server: ServerProcess) -> Any:
    """After every bad request, the same server answers a good one."""
    yield
    assert test_server.alive
    response = call(test_server.url, "tools/call", {"name": "echo", "arguments": {"text": "ok"}})
    assert response.status_code == 200
    assert response.json()["result"]["content"][0]["text"] == "ok"


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    error: dict[str, Any] = body["error"]
    return error


def test_malformed_json_is_a_parse_error(test_server: ServerProcess) -> None:
    """A body that is not JSON gets 400 and -32700 with a null id."""
    response = post(test_server.url, {}, content=b'{"jsonrpc": "2.0", "id": 1,')
    assert response.status_code == 400
    assert error_of(response)["code"] == -32700
    assert response.json()["id"] is None


def test_array_body_is_an_invalid_request(test_server: ServerProcess) -> None:
    """A JSON array (a batch) gets 400 and -32600."""
    batch = [request("tools/list"), request("tools/list")]
    response = post(test_server.url, batch, content=orjson.dumps(batch), mcp_method="tools/list")
    assert response.status_code == 400
    assert error_of(response)["code"] == -32600


@pytest.mark.parametrize(
    ("field", "value"),
    [("jsonrpc", "1.0"), ("jsonrpc", None), ("id", True), ("id", 1.5), ("params", [1, 2])],
    ids=["old-version", "no-version", "bool-id", "fraction-id", "array-params"],
)
def test_malformed_envelope_is_an_invalid_request(
    test_server: ServerProcess, field: str, value: Any
) -> None:
    """A message that breaks the JSON-RPC envelope gets 400 and -32600."""
    message = request("tools/list")
    if value is None:
        del message[field]
    else:
        message[field] = value
    response = post(test_server.url, message)
    assert response.status_code == 400
    assert error_of(response)["code"] == -32600


def test_string_and_integer_ids_are_echoed_with_their_type(test_server: ServerProcess) -> None:
    """Id 1 and id "1" are different ids, and each comes back as it was sent."""
    for request_id in (1, "1"):
        response = post(test_server.url, request("tools/list", request_id=request_id))
        assert response.json()["id"] == request_id
        assert type(response.json()["id"]) is type(request_id)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"mcp_method": None}, -32020),
        ({"mcp_method": "tools/list"}, -32020),
        ({"mcp_name": None}, -32020),
        ({"mcp_name": "add"}, -32020),
        ({"mcp_name": "=?base64?ZWNobw?="}, -32020),
        ({"mcp_protocol_version": None}, -32020),
        ({"mcp_protocol_version": "2026-01-01"}, -32022),
    ],
    ids=["no-method", "wrong-method", "no-name", "wrong-name", "bad-base64", "no-version",
         "unknown-version"],
)
def test_header_problems_are_rejected(
    test_server: ServerProcess, overrides: dict[str, str | None], code: int
) -> None:
    """Missing or mismatched routing headers get 400 and the specified code."""
    response = call(test_server.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}},
                    **overrides)
    assert response.status_code == 400
    assert error_of(response)["code"] == code


def test_base64_sentinel_name_is_accepted(test_server: ServerProcess) -> None:
    """An Mcp-Name sent in the Base64 sentinel form matches its decoded value."""
    response = call(test_server.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}},
                    mcp_name="=?base64?ZWNobw==?=")
    assert response.status_code == 200


def test_unknown_version_lists_the_supported_versions(test_server: ServerProcess) -> None:
    """An unsupported version gets -32022 with the supported list and the requested version."""
    message = request("tools/list", {"_meta": {**meta(),
                      "io.modelcontextprotocol/protocolVersion": "2099-01-01"}})
    response = post(test_server.url, message, mcp_protocol_version="2099-01-01")
    assert response.status_code == 400
    data = error_of(response)["data"]
    assert "2026-07-28" in data["supported"]
    assert data["requested"] == "2099-01-01"


@pytest.mark.parametrize(
    "params",
    [{}, {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}],
    ids=["no-meta", "no-capabilities"],
)
def test_missing_meta_is_invalid_params(test_server: ServerProcess, params: dict[str, Any]) -> None:
    """A request without the required _meta fields gets 400 and -32602."""
    message = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": params}
    response = post(test_server.url, message)
    assert response.status_code == 400
    assert error_of(response)["code"] == -32602
    assert response.json()["id"] == 7


@pytest.mark.parametrize("method", ["initialize", "ping", "no/such/method"])
def test_unknown_and_removed_methods_are_404(test_server: ServerProcess, method: str) -> None:
    """Methods the modern era does not have get 404 and -32601."""
    response = call(test_server.url, method)
    assert response.status_code == 404
    assert error_of(response)["code"] == -32601


def test_unknown_tool_is_invalid_params(test_server: ServerProcess) -> None:
    """Calling a tool that does not exist is a protocol error, -32602."""
    response = call(test_server.url, "tools/call", {"name": "nope", "arguments": {}})
    assert error_of(response)["code"] == -32602


@pytest.mark.parametrize(
    "arguments",
    [{}, {"a": "one", "b": 2}, {"a": 1}],
    ids=["missing-both", "wrong-type", "missing-one"],
)
def test_invalid_arguments_are_a_tool_error(
    test_server: ServerProcess, arguments: dict[str, Any]
) -> None:
    """Arguments that fail validation give an isError result naming the field."""
    response = call(test_server.url, "tools/call", {"name": "add", "arguments": arguments})
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["isError"] is True
    assert "Invalid arguments" in result["content"][0]["text"]
    assert "pydantic" not in result["content"][0]["text"].lower()


def test_a_crashing_tool_leaks_nothing(test_server: ServerProcess) -> None:
    """An unexpected exception in a tool is an isError result without its text."""
    response = call(test_server.url, "tools/call", {"name": "crash", "arguments": {}})
    result = response.json()["result"]
    assert result["isError"] is True
    assert "secret" not in response.text


def test_a_crashing_resource_leaks_nothing(test_server: ServerProcess) -> None:
    """An unexpected exception in a resource is -32603 without its text."""
    response = call(test_server.url, "resources/read", {"uri": "behaviours://broken"})
    assert error_of(response)["code"] == -32603
    assert "secret" not in response.text


def test_unknown_resource_is_invalid_params_with_the_uri(test_server: ServerProcess) -> None:
    """Reading a resource that does not exist is -32602 carrying the URI."""
    response = call(test_server.url, "resources/read", {"uri": "behaviours://missing"})
    error = error_of(response)
    assert error["code"] == -32602
    assert error["data"]["uri"] == "behaviours://missing"


def test_oversized_body_is_413(test_server: ServerProcess) -> None:
    """A body over the configured limit is refused with 413."""
    big = request("tools/call", {"name": "echo", "arguments": {"text": "x" * (5 * 1024 * 1024)}})
    response = post(test_server.url, big)
    assert response.status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(test_server: ServerProcess, content_type: str) -> None:
    """A POST that is not application/json gets 415."""
    response = post(test_server.url, request("tools/list"), content_type=content_type)
    assert response.status_code == 415


@pytest.mark.parametrize("accept", ["text/html", "application/json", ""])
def test_unacceptable_accept_is_406(test_server: ServerProcess, accept: str) -> None:
    """A client that does not accept both JSON and SSE gets 406."""
    response = post(test_server.url, request("tools/list"), accept=accept)
    assert response.status_code == 406


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
def test_other_http_methods_are_405(test_server: ServerProcess, method: str) -> None:
    """Only POST is served to modern clients; others get 405 with Allow: POST."""
    response = httpx.request(method, test_server.url,
                             headers={"mcp-protocol-version": "2026-07-28"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("origin", "status"),
    [("http://evil.example", 403), ("null", 403), ("http://localhost:5173", 200)],
)
def test_origin_is_checked(test_server: ServerProcess, origin: str, status: int) -> None:
    """A present Origin must be local when the server is bound to localhost."""
    response = post(test_server.url, request("tools/list"), origin=origin)
    assert response.status_code == status


def test_foreign_host_is_refused(test_server: ServerProcess) -> None:
    """A Host header that is not local is refused (DNS rebinding guard)."""
    response = post(test_server.url, request("tools/list"), host="evil.example")
    assert response.status_code == 403


def test_notification_is_accepted_with_202(test_server: ServerProcess) -> None:
    """A notification gets 202 and no body."""
    message = {"jsonrpc": "2.0", "method": "notifications/whatever", "params": {}}
    response = post(test_server.url, message)
    assert response.status_code == 202
    assert response.content == b""


def test_client_response_is_refused_in_the_modern_era(test_server: ServerProcess) -> None:
    """A JSON-RPC response POSTed by a modern client is an invalid request."""
    response = post(test_server.url, {"jsonrpc": "2.0", "id": 5, "result": {}})
    assert response.status_code == 400
    assert error_of(response)["code"] == -32600


def test_bad_cursor_is_invalid_params(test_server: ServerProcess) -> None:
    """An unknown pagination cursor gets -32602."""
    response = call(test_server.url, "tools/list", {"cursor": "not-a-cursor"})
    assert error_of(response)["code"] == -32602


def test_unknown_log_level_is_invalid_params(test_server: ServerProcess) -> None:
    """A log level the protocol does not define gets -32602."""
    message = request("tools/list", {"_meta": meta(**{"io.modelcontextprotocol/logLevel": "loud"})})
    response = post(test_server.url, message)
    assert error_of(response)["code"] == -32602


def test_mcp_param_header_must_match(test_server: ServerProcess) -> None:
    """A mirrored argument must arrive in its Mcp-Param header with the same value."""
    params = {"name": "regional", "arguments": {"region": "eu-west-1", "size": 2}}
    missing = call(test_server.url, "tools/call", params)
    assert error_of(missing)["code"] == -32020
    wrong = call(test_server.url, "tools/call", params, mcp_param_region="us-east-1")
    assert error_of(wrong)["code"] == -32020
    right = call(test_server.url, "tools/call", params, mcp_param_region="eu-west-1")
    assert right.json()["result"]["content"][0]["text"] == "eu-west-1:2"
