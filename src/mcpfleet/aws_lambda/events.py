"""HTTP requests out of Lambda invocation events, and responses back into their shapes.

Three sources invoke a function with an HTTP request, each with its own event shape:

- a Function URL: payload 2.0, ``requestContext.http``, a ``*.lambda-url.*`` domain;
- an API Gateway HTTP API: payload 2.0 too; on a named stage the raw path starts
  with ``/{stage}``;
- an API Gateway REST API: payload 1.0 (``httpMethod``, ``path``, ``multiValueHeaders``).

``decode_event`` turns any of them into one ``HttpRequest`` whose path is the one the
app knows (the stage prefix gone); ``buffered_result`` and ``stream_prelude`` write a
response in the shape its source reads back. No I/O here: values in, values out.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlencode

from mcpfleet.errors import ConfigError

Event = dict[str, Any]
Headers = list[tuple[bytes, bytes]]

# Where a streamed response's JSON prelude ends and the body begins.
PRELUDE_DELIMITER = b"\x00" * 8
# The content type of a streamed response that carries an HTTP prelude.
HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
# Set by Lambda and the gateways themselves; a response that names them confuses both.
DROPPED_RESPONSE_HEADERS = frozenset((b"content-length", b"connection", b"transfer-encoding"))


class Source(Enum):
    """Who invoked the function with the HTTP request."""

    FUNCTION_URL = "function-url"
    HTTP_API = "http-api"
    REST_API = "rest-api"

    @property
    def streams(self) -> bool:
        """Whether this source can read a streamed response (HTTP APIs only buffer)."""
        return self is not Source.HTTP_API


class UnsupportedEvent(ConfigError):
    """An invocation event that is no HTTP request from a Function URL or API Gateway:
    the function is wired to a trigger it cannot serve."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request, whatever event shape it came in."""

    source: Source
    method: str
    path: str
    query: bytes
    headers: Headers  # lower-case names; a repeated header is repeated
    body: bytes
    client_ip: str
    host: str

    def header(self, name: bytes) -> str | None:
        """The last value of a header, or ``None``."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return None if found is None else found.decode("latin-1")


def decode_event(event: Any) -> HttpRequest:
    """The HTTP request an invocation event carries; ``UnsupportedEvent`` if none."""
    if not isinstance(event, dict):
        raise UnsupportedEvent("the invocation event is not a JSON object")
    context = event.get("requestContext")
    if not isinstance(context, dict):
        raise UnsupportedEvent("the invocation event has no requestContext: not an HTTP request")
    try:
        if event.get("version") == "2.0" and isinstance(context.get("http"), dict):
            return _payload_v2(event, context)
        if isinstance(event.get("httpMethod"), str):
            return _payload_v1(event, context)
    except (TypeError, ValueError, AttributeError, KeyError) as error:
        raise UnsupportedEvent(f"a malformed HTTP event ({type(error).__name__})") from None
    raise UnsupportedEvent("the invocation event is no Function URL, HTTP API or REST API request")


def strip_stage(path: str, stage: Any) -> str:
    """``path`` without the ``/{stage}`` an API Gateway stage puts in front of it."""
    if not isinstance(stage, str) or not stage or stage == "$default":
        return path
    prefix = "/" + stage
    if path == prefix:
        return "/"
    if path.startswith(prefix + "/"):
        return path[len(prefix) :]
    return path


def _payload_v2(event: Event, context: Event) -> HttpRequest:
    http = context["http"]
    domain = str(context.get("domainName") or "")
    source = Source.FUNCTION_URL if ".lambda-url." in domain else Source.HTTP_API
    headers = _single_headers(event.get("headers"))
    cookies = event.get("cookies")
    if isinstance(cookies, list) and cookies:
        headers.append((b"cookie", "; ".join(str(c) for c in cookies).encode()))
    path = strip_stage(str(event.get("rawPath") or http.get("path") or "/"), context.get("stage"))
    return HttpRequest(
        source=source,
        method=str(http["method"]).upper(),
        path=path,
        query=str(event.get("rawQueryString") or "").encode(),
        headers=headers,
        body=_body(event),
        client_ip=str(http.get("sourceIp") or "0.0.0.0"),
        host=_host(headers, domain),
    )


def _payload_v1(event: Event, context: Event) -> HttpRequest:
    headers = _multi_headers(event.get("multiValueHeaders"), event.get("headers"))
    identity = context.get("identity")
    client_ip = identity.get("sourceIp") if isinstance(identity, dict) else None
    domain = str(context.get("domainName") or "")
    return HttpRequest(
        source=Source.REST_API,
        method=str(event["httpMethod"]).upper(),
        path=strip_stage(str(event.get("path") or "/"), context.get("stage")),
        query=_v1_query(event),
        headers=headers,
        body=_body(event),
        client_ip=str(client_ip or "0.0.0.0"),
        host=_host(headers, domain),
    )


def _single_headers(raw: Any) -> Headers:
    if not isinstance(raw, dict):
        return []
    return [(str(k).lower().encode(), str(v).encode()) for k, v in raw.items() if v is not None]


def _multi_headers(multi: Any, single: Any) -> Headers:
    """REST headers: every value of ``multiValueHeaders`` when there, else ``headers``."""
    if not isinstance(multi, dict) or not multi:
        return _single_headers(single)
    headers: Headers = []
    for name, values in multi.items():
        key = str(name).lower().encode()
        items = values if isinstance(values, list) else [values]
        if key == b"cookie":
            headers.append((key, "; ".join(str(v) for v in items).encode()))
        else:
            headers.extend((key, str(v).encode()) for v in items if v is not None)
    return headers


def _v1_query(event: Event) -> bytes:
    multi = event.get("multiValueQueryStringParameters")
    if isinstance(multi, dict) and multi:
        pairs = [(k, v) for k, values in multi.items() for v in (values or [])]
    else:
        single = event.get("queryStringParameters")
        pairs = list(single.items()) if isinstance(single, dict) else []
    return urlencode([(str(k), str(v)) for k, v in pairs]).encode("ascii")


def _body(event: Event) -> bytes:
    raw = event.get("body")
    if raw is None:
        return b""
    if event.get("isBase64Encoded"):
        return base64.b64decode(str(raw), validate=True)
    return str(raw).encode()


def _host(headers: Headers, domain: str) -> str:
    for key, value in headers:
        if key == b"host":
            return value.decode("latin-1")
    return domain or "lambda"


@dataclass(slots=True)
class ResponseHead:
    """A response's status and headers, split the way every source wants them."""

    status: int
    headers: dict[str, list[str]]  # lower-case name -> values, Set-Cookie apart
    cookies: list[str]

    @classmethod
    def of(cls, status: int, headers: Headers) -> ResponseHead:
        named: dict[str, list[str]] = {}
        cookies: list[str] = []
        for key, value in headers:
            if key.lower() in DROPPED_RESPONSE_HEADERS:
                continue
            name, text = key.decode("latin-1").lower(), value.decode("latin-1")
            if name == "set-cookie":
                cookies.append(text)
            else:
                named.setdefault(name, []).append(text)
        return cls(status, named, cookies)

    def joined(self) -> dict[str, str]:
        """One value per header, repeated ones joined with commas (payload 2.0)."""
        return {name: ", ".join(values) for name, values in self.headers.items()}

    def rest_fields(self) -> Event:
        """REST (payload 1.0) headers: single values in ``headers``, the rest (and every
        Set-Cookie) in ``multiValueHeaders``; no ``cookies`` field."""
        single = {n: v[0] for n, v in self.headers.items() if len(v) == 1}
        multi = {n: v for n, v in self.headers.items() if len(v) > 1}
        if self.cookies:
            multi["set-cookie"] = list(self.cookies)
        fields: Event = {"headers": single}
        if multi:
            fields["multiValueHeaders"] = multi
        return fields

    def fields(self, source: Source) -> Event:
        """statusCode and the header fields ``source`` reads."""
        if source is Source.REST_API:
            return {"statusCode": self.status, **self.rest_fields()}
        fields: Event = {"statusCode": self.status, "headers": self.joined()}
        if self.cookies:
            fields["cookies"] = list(self.cookies)
        return fields


def buffered_result(source: Source, status: int, headers: Headers, body: bytes) -> Event:
    """The whole response as the function's result: text as is, anything else base64."""
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    return {
        **ResponseHead.of(status, headers).fields(source),
        "body": text,
        "isBase64Encoded": encoded,
    }


def stream_prelude(source: Source, status: int, headers: Headers) -> bytes:
    """What a streamed response starts with: the JSON status and headers, then the
    delimiter; the body follows as the app produces it."""
    fields = ResponseHead.of(status, headers).fields(source)
    if source is Source.FUNCTION_URL:
        fields.setdefault("cookies", [])
    return json.dumps(fields, separators=(",", ":")).encode() + PRELUDE_DELIMITER
