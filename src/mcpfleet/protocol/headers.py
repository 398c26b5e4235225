"""Request metadata headers of the 2026-07-28 Streamable HTTP transport.

``Mcp-Method``, ``Mcp-Name`` and ``Mcp-Param-{Name}`` mirror body fields so that
intermediaries can route without parsing JSON; the server checks that they
agree with the body. Values outside plain visible ASCII travel in the Base64
sentinel form ``=?base64?...?=``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mcpfleet.errors import HeaderMismatch, McpfleetError

_PREFIX = "=?base64?"
_SUFFIX = "?="
_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_DECIMAL = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$")  # ASCII only
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
MAX_SAFE_INTEGER = 2**53 - 1

NAME_SOURCE = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    "tasks/get": "taskId",  # the tasks extension: a task's methods name the task
    "tasks/update": "taskId",
    "tasks/cancel": "taskId",
}


class BadHeaderValue(McpfleetError, ValueError):
    """A header value that is not valid plain text nor a valid sentinel."""


def _is_plain(value: str) -> bool:
    """Visible ASCII, space and tab only (RFC 9110 field values, without obs-text)."""
    if value.isascii() and value.isprintable():
        return True
    return all(0x20 <= ord(ch) <= 0x7E or ch == "\t" for ch in value)


def decode_header_value(raw: str) -> str:
    """The value a header carries: OWS removed, the Base64 sentinel decoded."""
    value = raw.strip(" \t")
    if not _is_plain(value):
        raise BadHeaderValue("header value has characters outside visible ASCII")
    if not (value.startswith(_PREFIX) and value.endswith(_SUFFIX) and len(value) >= 11):
        return value
    encoded = value[len(_PREFIX) : -len(_SUFFIX)]
    if len(encoded) % 4 or not _B64.match(encoded):
        raise BadHeaderValue("invalid Base64 in sentinel-encoded header value")
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise BadHeaderValue("invalid Base64 in sentinel-encoded header value") from None


def encode_header_value(value: str) -> str:
    """The header form of ``value``: plain when safe, else the Base64 sentinel."""
    plain = (
        _is_plain(value)
        and value == value.strip(" \t")
        and not (value.startswith(_PREFIX) and value.endswith(_SUFFIX))
    )
    if plain:
        return value
    return _PREFIX + base64.b64encode(value.encode()).decode() + _SUFFIX


@dataclass(frozen=True, slots=True)
class ParamHeader:
    """A tool argument mirrored into ``Mcp-Param-{header}``."""

    header: str
    path: tuple[str, ...]
    kind: str  # "string", "integer" or "boolean"

    @property
    def field_name(self) -> str:
        return "mcp-param-" + self.header.lower()


def param_headers(input_schema: Mapping[str, Any]) -> tuple[ParamHeader, ...]:
    """Collect ``x-mcp-header`` annotations; raise ``ValueError`` on an invalid one."""
    found: list[ParamHeader] = []

    def walk(schema: Mapping[str, Any], path: tuple[str, ...]) -> None:
        for key, sub in (schema.get("properties") or {}).items():
            if not isinstance(sub, Mapping):
                continue
            here = (*path, key)
            name = sub.get("x-mcp-header")
            if name is not None:
                kind = sub.get("type")
                if not isinstance(name, str) or not _TOKEN.match(name):
                    raise ValueError(f"x-mcp-header on {'.'.join(here)} is not a header token")
                if kind not in ("string", "integer", "boolean"):
                    raise ValueError(f"x-mcp-header on {'.'.join(here)} needs a primitive type")
                found.append(ParamHeader(name, here, kind))
            walk(sub, here)

    walk(input_schema, ())
    if _count_annotations(input_schema) != len(found):
        raise ValueError(
            "x-mcp-header is allowed only on properties reached through 'properties' alone"
        )
    seen = [p.header.lower() for p in found]
    if len(seen) != len(set(seen)):
        raise ValueError("x-mcp-header values must be unique regardless of case")
    return tuple(found)


def _count_annotations(schema: Any) -> int:
    if isinstance(schema, Mapping):
        own = 1 if "x-mcp-header" in schema else 0
        return own + sum(_count_annotations(value) for value in schema.values())
    if isinstance(schema, list):
        return sum(_count_annotations(item) for item in schema)
    return 0


def _lookup(arguments: Any, path: tuple[str, ...]) -> Any:
    value = arguments
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _matches(header: str, value: Any, kind: str) -> bool:
    if kind == "boolean":
        return isinstance(value, bool) and header == ("true" if value else "false")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not _DECIMAL.match(header):
            return False
        number = Decimal(header)
        return abs(number) <= MAX_SAFE_INTEGER and number == Decimal(value)
    return isinstance(value, str) and header == value


def check_param_headers(
    declared: tuple[ParamHeader, ...], headers: Mapping[str, str], arguments: Any
) -> None:
    """Every declared argument present in the body must be mirrored, and equal."""
    for param in declared:
        value = _lookup(arguments, param.path)
        raw = headers.get(param.field_name)
        if value is None:
            if raw is not None:
                _decode(raw, f"Mcp-Param-{param.header}")
            continue
        if raw is None:
            raise HeaderMismatch(f"Header mismatch: Mcp-Param-{param.header} header is missing")
        decoded = _decode(raw, f"Mcp-Param-{param.header}")
        if not _matches(decoded, value, param.kind):
            raise HeaderMismatch(
                f"Header mismatch: Mcp-Param-{param.header} does not match the argument"
            )


def _decode(raw: str, name: str) -> str:
    try:
        return decode_header_value(raw)
    except BadHeaderValue as exc:
        raise HeaderMismatch(f"Header mismatch: {name}: {exc}") from None


def check_standard_headers(
    headers: Mapping[str, str], method: str, params: Mapping[str, Any]
) -> None:
    """``Mcp-Method`` must equal the method; ``Mcp-Name`` the name or URI it targets."""
    header_method = headers.get("mcp-method")
    if header_method is None:
        raise HeaderMismatch("Header mismatch: Mcp-Method header is missing")
    if header_method != method and header_method.strip(" \t") != method:
        raise HeaderMismatch("Header mismatch: Mcp-Method does not match the body method")
    source = NAME_SOURCE.get(method)
    if source is None:
        return
    raw = headers.get("mcp-name")
    if raw is None:
        raise HeaderMismatch("Header mismatch: Mcp-Name header is missing")
    expected = params.get(source)
    if (
        raw == expected
        and not raw.startswith(_PREFIX)
        and raw.strip(" \t") == raw
        and _is_plain(raw)
    ):
        return  # the common case: a plain name sent as it is
    if _decode(raw, "Mcp-Name") != expected:
        raise HeaderMismatch(f"Header mismatch: Mcp-Name does not match params.{source}")
