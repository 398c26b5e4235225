"""Event shapes in, response shapes out: each source's request and response, the stage
prefix, the refusals, and garbage events refused with one clear exception."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import pytest

from mcpfleet.aws_lambda.events import (
    PRELUDE_DELIMITER,
    Source,
    UnsupportedEvent,
    buffered_result,
    decode_event,
    stream_prelude,
    strip_stage,
)
from mcpfleet.aws_lambda.refusals import refusal
from tests.aws_lambda.events import (
    LEGACY,
    http_api_event,
    initialize,
    listen,
    modern_call,
    rest_event,
    url_event,
)

HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"set-cookie", b"a=1"),
    (b"set-cookie", b"b=2"),
    (b"vary", b"origin"),
    (b"vary", b"accept"),
    (b"content-length", b"12"),
]


@pytest.mark.parametrize(
    ("path", "stage", "expected"),
    [
        ("/prod/mcp", "prod", "/mcp"),
        ("/prod", "prod", "/"),
        ("/production/mcp", "prod", "/production/mcp"),
        ("/mcp", "prod", "/mcp"),
        ("/mcp", "$default", "/mcp"),
        ("/mcp", None, "/mcp"),
    ],
)
def test_stage_prefix_is_stripped_only_when_there(path: str, stage: Any, expected: str) -> None:
    """The /{stage} prefix goes when the path starts with it, and nothing else does."""
    assert strip_stage(path, stage) == expected


@pytest.mark.parametrize(
    ("event", "source"),
    [
        (url_event("POST", "/mcp", {"x": 1}), Source.FUNCTION_URL),
        (http_api_event("POST", "/mcp", {"x": 1}, stage="prod"), Source.HTTP_API),
        (http_api_event("POST", "/mcp", {"x": 1}, stage="$default"), Source.HTTP_API),
        (rest_event("POST", "/mcp", {"x": 1}, stage="prod"), Source.REST_API),
    ],
)
def test_each_source_decodes_to_the_apps_path(event: dict[str, Any], source: Source) -> None:
    """Every source's event becomes a POST to /mcp with its body and headers."""
    request = decode_event(event)
    assert (request.source, request.method, request.path) == (source, "POST", "/mcp")
    assert json.loads(request.body) == {"x": 1}
    assert request.header(b"content-type") == "application/json"
    assert request.client_ip == "203.0.113.7"


def test_rest_repeated_headers_cookies_and_query() -> None:
    """REST multi-value headers stay repeated, cookies join, and the query is re-encoded."""
    event = rest_event("GET", "/healthz")
    event["multiValueHeaders"]["x-many"] = ["1", "2"]
    event["multiValueHeaders"]["cookie"] = ["a=1", "b=2"]
    event["multiValueQueryStringParameters"] = {"q": ["a b", "c"]}
    request = decode_event(event)
    assert [v for k, v in request.headers if k == b"x-many"] == [b"1", b"2"]
    assert request.header(b"cookie") == "a=1; b=2"
    assert request.query == b"q=a+b&q=c"


def test_function_url_cookies_become_a_cookie_header() -> None:
    """The cookies list of a payload 2.0 event is one Cookie header for the app."""
    event = url_event("GET", "/healthz")
    event["cookies"] = ["a=1", "b=2"]
    assert decode_event(event).header(b"cookie") == "a=1; b=2"


def test_buffered_results_have_each_sources_shape() -> None:
    """2.0 results carry cookies apart and joined headers; REST results carry no cookies
    field, repeated headers in multiValueHeaders; Lambda's own headers are dropped."""
    url = buffered_result(Source.FUNCTION_URL, 200, HEADERS, b"data: x\n\n")
    assert url["cookies"] == ["a=1", "b=2"]
    assert url["headers"] == {"content-type": "text/event-stream", "vary": "origin, accept"}
    rest = buffered_result(Source.REST_API, 200, HEADERS, b"data: x\n\n")
    assert "cookies" not in rest
    assert rest["headers"] == {"content-type": "text/event-stream"}
    assert rest["multiValueHeaders"] == {"vary": ["origin", "accept"], "set-cookie": ["a=1", "b=2"]}
    binary = buffered_result(Source.HTTP_API, 200, [], b"\xff\x00")
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\x00"


def test_stream_prelude_is_json_then_eight_nul_bytes() -> None:
    """A streamed response starts with its status and headers as JSON, then 8 NUL bytes."""
    prelude = stream_prelude(Source.FUNCTION_URL, 201, HEADERS)
    assert prelude.endswith(PRELUDE_DELIMITER)
    head = json.loads(prelude[: -len(PRELUDE_DELIMITER)])
    assert head["statusCode"] == 201
    assert head["cookies"] == ["a=1", "b=2"]
    rest = json.loads(stream_prelude(Source.REST_API, 200, HEADERS)[:-8])
    assert "cookies" not in rest
    assert rest["multiValueHeaders"]["set-cookie"] == ["a=1", "b=2"]


@pytest.mark.parametrize(
    ("event", "stateless", "status", "code"),
    [
        (url_event("POST", "/mcp", *listen()), False, 404, -32601),
        (url_event("POST", "/mcp", *listen()), True, 404, -32601),
        (url_event("GET", "/mcp", None, {"mcp-protocol-version": LEGACY}), False, 405, -32600),
        (url_event("GET", "/mcp/"), True, 405, -32600),
        (url_event("POST", "/mcp", initialize()), True, 400, -32600),
        (url_event("DELETE", "/mcp", None, {"mcp-session-id": "s"}), True, 400, -32600),
        (url_event("POST", "/mcp", *modern_call("echo", {"text": "x"})), True, None, None),
        (url_event("POST", "/mcp", initialize()), False, None, None),
        (url_event("DELETE", "/mcp", None, {"mcp-session-id": "s"}), False, None, None),
        (url_event("GET", "/healthz"), True, None, None),
        (url_event("POST", "/mcp", None), True, None, None),
    ],
)
def test_refusal_table(
    event: dict[str, Any], stateless: bool, status: int | None, code: int | None
) -> None:
    """What a Lambda cannot hold open, or cannot serve without Redis, is refused; the rest
    goes to the app."""
    refused = refusal(decode_event(event), "/mcp", stateless=stateless)
    if status is None:
        assert refused is None
        return
    assert refused is not None
    answer_status, _, body = refused.response()
    assert (answer_status, json.loads(body)["error"]["code"]) == (status, code)


def garbage(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value, biased towards the keys HTTP events have."""
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice([None, True, 0, -1, 2.5, "", "2.0", "GET", "$default"])
    if kind == 1:
        return "".join(rng.choice("/ab$%\x00é") for _ in range(rng.randrange(6)))
    if kind == 2:
        return rng.randrange(-5, 5)
    if kind == 3:
        return rng.choice(["prod", "/prod/mcp", "aGk=", "!!notbase64"])
    if kind == 4:
        return [garbage(rng, depth + 1) for _ in range(rng.randrange(3))]
    keys = [
        "version",
        "requestContext",
        "http",
        "method",
        "rawPath",
        "headers",
        "body",
        "httpMethod",
        "path",
        "multiValueHeaders",
        "isBase64Encoded",
        "stage",
        "cookies",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "domainName",
    ]
    return {rng.choice(keys): garbage(rng, depth + 1) for _ in range(rng.randrange(6))}


def test_garbage_events_are_unsupported_or_decoded() -> None:
    """Random events either decode or raise UnsupportedEvent, never anything else."""
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    for _ in range(3000):
        event = garbage(rng)
        if rng.random() < 0.5 and isinstance(event, dict):
            event = {**url_event("POST", "/mcp", {"x": 1}), **event}
        try:
            request = decode_event(event)
        except UnsupportedEvent:
            continue
        assert isinstance(request.path, str)
        assert isinstance(request.body, bytes)
        refusal(request, "/mcp", stateless=True)
