"""Request metadata headers: sentinel codec, Mcp-Method/Mcp-Name, Mcp-Param-{Name}."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from protocol_strategies import FAST

from mcpfleet.errors import HeaderMismatch
from mcpfleet.protocol.headers import (
    BadHeaderValue,
    ParamHeader,
    check_param_headers,
    check_standard_headers,
    decode_header_value,
    encode_header_value,
    param_headers,
)


def sentinel(text: str) -> str:
    """The Base64 sentinel form of ``text``, built independently of the module."""
    return "=?base64?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


# --------------------------------------------------------------------------- sentinel codec

SPEC_EXAMPLES = [
    pytest.param("us-west1", "us-west1", id="plain-ascii"),
    pytest.param("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?=", id="non-ascii"),
    pytest.param(" padded ", "=?base64?IHBhZGRlZCA=?=", id="leading-trailing-spaces"),
    pytest.param("line1\nline2", "=?base64?bGluZTEKbGluZTI=?=", id="newline"),
    pytest.param(
        "=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", id="looks-like-sentinel"
    ),
]


@pytest.mark.parametrize(("value", "encoded"), SPEC_EXAMPLES)
def test_encode_matches_spec_examples(value: str, encoded: str) -> None:
    """encode_header_value produces the specification's example header values."""
    assert encode_header_value(value) == encoded


@pytest.mark.parametrize(("value", "encoded"), SPEC_EXAMPLES)
def test_decode_matches_spec_examples(value: str, encoded: str) -> None:
    """decode_header_value turns the specification's example header values back into the text."""
    assert decode_header_value(encoded) == value


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("\tx", id="leading-tab"),
        pytest.param("x ", id="trailing-space"),
        pytest.param("a\rb", id="carriage-return"),
        pytest.param("nul\x00", id="nul"),
        pytest.param("del\x7f", id="delete"),
        pytest.param("café", id="latin-1"),
        pytest.param("=?base64?x?=", id="short-sentinel-lookalike"),
    ],
)
def test_encode_uses_sentinel_when_plain_is_unsafe(value: str) -> None:
    """Values with unsafe characters, outer whitespace or sentinel markers are Base64-encoded."""
    encoded = encode_header_value(value)
    assert encoded == sentinel(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("get_weather", id="tool-name"),
        pytest.param("file:///projects/app/config.json", id="uri"),
        pytest.param("a b", id="inner-space"),
        pytest.param("=?BASE64?eA==?=", id="uppercase-markers"),
        pytest.param("=?base64?eA==", id="prefix-only"),
        pytest.param("eA==?=", id="suffix-only"),
    ],
)
def test_encode_keeps_safe_values_plain(value: str) -> None:
    """Visible-ASCII values without outer whitespace or both sentinel markers stay literal."""
    assert encode_header_value(value) == value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("us-west1", "us-west1", id="plain"),
        pytest.param("  us-west1\t ", "us-west1", id="outer-whitespace-ignored"),
        pytest.param("a  b", "a  b", id="inner-whitespace-kept"),
        pytest.param(" =?base64?SGVsbG8sIOS4lueVjA==?=\t", "Hello, 世界", id="sentinel-with-ows"),
        pytest.param("=?base64?SGk=?=", "Hi", id="one-pad"),
        pytest.param("=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, 世界", id="two-pads"),
        pytest.param("=?base64?SGVs?=", "Hel", id="no-pad"),
        pytest.param("=?base64??=", "", id="empty-payload"),
        pytest.param("=?BASE64?SGk=?=", "=?BASE64?SGk=?=", id="uppercase-markers-literal"),
        pytest.param("=?Base64?SGk=?=", "=?Base64?SGk=?=", id="mixed-case-markers-literal"),
        pytest.param("=?base64?SGk=", "=?base64?SGk=", id="missing-suffix-literal"),
        pytest.param("SGk=?=", "SGk=?=", id="missing-prefix-literal"),
        pytest.param("=?base64?=", "=?base64?=", id="overlapping-markers-literal"),
    ],
)
def test_decode_header_value(raw: str, expected: str) -> None:
    """Header values lose outer spaces/tabs; only exact lowercase sentinels are decoded."""
    assert decode_header_value(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("=?base64?SGVsbG8?=", id="missing-padding"),
        pytest.param("=?base64?SGVsbG8==?=", id="too-much-padding"),
        pytest.param("=?base64?SGk?=", id="length-not-multiple-of-4"),
        pytest.param("=?base64?S=Gk?=", id="padding-in-the-middle"),
        pytest.param("=?base64?SGk*?=", id="invalid-character"),
        pytest.param("=?base64?SG-_?=", id="urlsafe-alphabet"),
        pytest.param("=?base64?SG k=?=", id="inner-space"),
        pytest.param("=?base64?/w==?=", id="not-utf8"),
        pytest.param("=?base64?literal?=", id="literal-text-in-sentinel"),
        pytest.param("caf\u00e9", id="raw-non-ascii"),
        pytest.param("a\x01b", id="raw-control-character"),
    ],
)
def test_decode_rejects_invalid_values(raw: str) -> None:
    """Invalid Base64 in a sentinel, or characters HTTP does not allow, raise BadHeaderValue."""
    with pytest.raises(BadHeaderValue):
        decode_header_value(raw)


@FAST
@given(value=st.text(st.characters(exclude_categories=("Cs",))))
def test_sentinel_encode_decode_identity(value: str) -> None:
    """Any text encodes to a header-safe value that decodes back to the same text."""
    encoded = encode_header_value(value)
    assert all(0x20 <= ord(ch) <= 0x7E or ch == "\t" for ch in encoded)
    assert decode_header_value(encoded) == value


@FAST
@given(
    value=st.text(st.characters(exclude_categories=("Cs",))),
    left=st.text(" \t", max_size=3),
    right=st.text(" \t", max_size=3),
)
def test_decode_ignores_optional_whitespace(value: str, left: str, right: str) -> None:
    """Spaces and tabs around an encoded header value do not change what it decodes to."""
    assert decode_header_value(left + encode_header_value(value) + right) == value


# --------------------------------------------------------------------------- Mcp-Method / Mcp-Name


@pytest.mark.parametrize(
    ("headers", "method", "params"),
    [
        pytest.param({"mcp-method": "tools/list"}, "tools/list", {}, id="method-only"),
        pytest.param({"mcp-method": " tools/list\t"}, "tools/list", {}, id="method-ows"),
        pytest.param(
            {"mcp-method": "tools/list", "mcp-name": "ignored"},
            "tools/list",
            {},
            id="name-ignored-for-list",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "get_weather"},
            "tools/call",
            {"name": "get_weather"},
            id="tools-call",
        ),
        pytest.param(
            {"mcp-method": "prompts/get", "mcp-name": "greet"},
            "prompts/get",
            {"name": "greet"},
            id="prompts-get",
        ),
        pytest.param(
            {"mcp-method": "resources/read", "mcp-name": "file:///projects/myapp/config.json"},
            "resources/read",
            {"uri": "file:///projects/myapp/config.json"},
            id="resources-read-uri",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "=?base64?SGVsbG8sIOS4lueVjA==?="},
            "tools/call",
            {"name": "Hello, 世界"},
            id="name-sentinel-non-ascii",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": sentinel("get_weather")},
            "tools/call",
            {"name": "get_weather"},
            id="name-sentinel-for-safe-value",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "  get_weather "},
            "tools/call",
            {"name": "get_weather"},
            id="name-ows",
        ),
        pytest.param(
            {"mcp-method": "resources/read", "mcp-name": sentinel("file:///données/é.txt")},
            "resources/read",
            {"uri": "file:///données/é.txt"},
            id="uri-sentinel",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="},
            "tools/call",
            {"name": "=?base64?literal?="},
            id="name-that-looks-like-sentinel",
        ),
    ],
)
def test_standard_headers_accepted(
    headers: dict[str, str], method: str, params: dict[str, Any]
) -> None:
    """Mcp-Method equal to the method and Mcp-Name equal to the name or URI are accepted."""
    check_standard_headers(headers, method, params)


@pytest.mark.parametrize(
    ("headers", "method", "params"),
    [
        pytest.param({}, "tools/list", {}, id="method-missing"),
        pytest.param({"mcp-method": "tools/call"}, "tools/list", {}, id="method-differs"),
        pytest.param({"mcp-method": "Tools/List"}, "tools/list", {}, id="method-case-differs"),
        pytest.param({"mcp-method": ""}, "tools/list", {}, id="method-empty"),
        pytest.param(
            {"mcp-method": sentinel("tools/list")},
            "tools/list",
            {},
            id="method-sentinel-not-permitted",
        ),
        pytest.param(
            {"mcp-method": "tools/call"},
            "tools/call",
            {"name": "get_weather"},
            id="name-missing-tools-call",
        ),
        pytest.param(
            {"mcp-method": "prompts/get"}, "prompts/get", {"name": "p"}, id="name-missing-prompt"
        ),
        pytest.param(
            {"mcp-method": "resources/read"},
            "resources/read",
            {"uri": "file:///a"},
            id="name-missing-resources-read",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "other"},
            "tools/call",
            {"name": "get_weather"},
            id="name-differs",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "Get_Weather"},
            "tools/call",
            {"name": "get_weather"},
            id="name-case-differs",
        ),
        pytest.param(
            {"mcp-method": "resources/read", "mcp-name": "r"},
            "resources/read",
            {"name": "r", "uri": "file:///r"},
            id="resources-read-compares-uri-not-name",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "=?base64?SGVsbG8sIOS4lueVjA=?="},
            "tools/call",
            {"name": "Hello, 世界"},
            id="name-sentinel-bad-padding",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "=?base64?SGVs!G8=?="},
            "tools/call",
            {"name": "Hello"},
            id="name-sentinel-bad-character",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "=?BASE64?SGVsbG8=?="},
            "tools/call",
            {"name": "Hello"},
            id="name-uppercase-markers-are-literal",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "=?base64?literal?="},
            "tools/call",
            {"name": "=?base64?literal?="},
            id="name-unencoded-sentinel-lookalike",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "caf\u00e9"},
            "tools/call",
            {"name": "caf\u00e9"},
            id="name-raw-non-ascii",
        ),
        pytest.param(
            {"mcp-method": "tools/call", "mcp-name": "x"},
            "tools/call",
            {},
            id="name-absent-from-body",
        ),
    ],
)
def test_standard_headers_rejected(
    headers: dict[str, str], method: str, params: dict[str, Any]
) -> None:
    """A missing, different or malformed Mcp-Method/Mcp-Name is HeaderMismatch (-32020, 400)."""
    with pytest.raises(HeaderMismatch) as excinfo:
        check_standard_headers(headers, method, params)
    assert excinfo.value.code == -32020
    assert excinfo.value.http_status == 400


@FAST
@given(name=st.text(st.characters(exclude_categories=("Cs",)), min_size=1))
def test_mcp_name_accepts_any_encoded_name(name: str) -> None:
    """Any tool name sent in its encoded header form passes the Mcp-Name check."""
    headers = {"mcp-method": "tools/call", "mcp-name": encode_header_value(name)}
    check_standard_headers(headers, "tools/call", {"name": name})


# --------------------------------------------------------------------------- x-mcp-header schema


def _prop(kind: Any, header: Any) -> dict[str, Any]:
    return {"type": kind, "x-mcp-header": header}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param({"type": "object"}, (), id="no-properties"),
        pytest.param(
            {"type": "object", "properties": {"q": {"type": "string"}}}, (), id="no-annotation"
        ),
        pytest.param(
            {"properties": {"region": _prop("string", "Region")}},
            (ParamHeader("Region", ("region",), "string"),),
            id="string",
        ),
        pytest.param(
            {"properties": {"n": _prop("integer", "Count")}},
            (ParamHeader("Count", ("n",), "integer"),),
            id="integer",
        ),
        pytest.param(
            {"properties": {"b": _prop("boolean", "Dry-Run")}},
            (ParamHeader("Dry-Run", ("b",), "boolean"),),
            id="boolean",
        ),
        pytest.param(
            {"properties": {"s": _prop("string", "X!#$%&'*+-.^_`|~09az")}},
            (ParamHeader("X!#$%&'*+-.^_`|~09az", ("s",), "string"),),
            id="every-tchar",
        ),
        pytest.param(
            {
                "properties": {
                    "outer": {
                        "type": "object",
                        "properties": {
                            "inner": {
                                "type": "object",
                                "properties": {"tenant": _prop("string", "Tenant")},
                            }
                        },
                    }
                }
            },
            (ParamHeader("Tenant", ("outer", "inner", "tenant"), "string"),),
            id="nested-properties-chain",
        ),
        pytest.param(
            {
                "properties": {
                    "a": _prop("string", "A"),
                    "b": {"type": "string"},
                    "c": _prop("integer", "C"),
                }
            },
            (ParamHeader("A", ("a",), "string"), ParamHeader("C", ("c",), "integer")),
            id="several",
        ),
    ],
)
def test_param_headers_collects_annotations(
    schema: dict[str, Any], expected: tuple[ParamHeader, ...]
) -> None:
    """x-mcp-header annotations on primitive properties become ParamHeaders with their path."""
    assert param_headers(schema) == expected


def test_param_header_field_name_is_lowercase() -> None:
    """A ParamHeader is looked up under the lowercase header name mcp-param-{name}."""
    assert ParamHeader("Region", ("region",), "string").field_name == "mcp-param-region"


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param({"properties": {"x": _prop("number", "X")}}, id="type-number"),
        pytest.param({"properties": {"x": _prop("object", "X")}}, id="type-object"),
        pytest.param({"properties": {"x": _prop("array", "X")}}, id="type-array"),
        pytest.param({"properties": {"x": _prop("null", "X")}}, id="type-null"),
        pytest.param({"properties": {"x": {"x-mcp-header": "X"}}}, id="type-missing"),
        pytest.param({"properties": {"x": _prop("string", "")}}, id="name-empty"),
        pytest.param({"properties": {"x": _prop("string", "A B")}}, id="name-with-space"),
        pytest.param({"properties": {"x": _prop("string", "A:B")}}, id="name-with-colon"),
        pytest.param({"properties": {"x": _prop("string", "A\r\nB")}}, id="name-with-crlf"),
        pytest.param({"properties": {"x": _prop("string", "Région")}}, id="name-non-ascii"),
        pytest.param({"properties": {"x": _prop("string", "(X)")}}, id="name-with-delimiters"),
        pytest.param({"properties": {"x": _prop("string", 7)}}, id="name-not-a-string"),
        pytest.param(
            {"properties": {"a": _prop("string", "Region"), "b": _prop("string", "region")}},
            id="duplicate-names-differing-in-case",
        ),
        pytest.param(
            {
                "properties": {
                    "a": _prop("string", "Tenant"),
                    "o": {"type": "object", "properties": {"b": _prop("string", "TENANT")}},
                }
            },
            id="duplicate-names-at-different-depths",
        ),
        pytest.param(
            {"properties": {"list": {"type": "array", "items": _prop("string", "X")}}},
            id="under-items",
        ),
        pytest.param(
            {
                "properties": {
                    "list": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"y": _prop("string", "Y")}},
                    }
                }
            },
            id="under-items-properties",
        ),
        pytest.param(
            {"properties": {"u": {"anyOf": [_prop("string", "X"), {"type": "integer"}]}}},
            id="under-anyOf",
        ),
        pytest.param(
            {"allOf": [{"properties": {"x": _prop("string", "X")}}]}, id="under-root-allOf"
        ),
        pytest.param(
            {"properties": {"m": {"type": "object", "additionalProperties": _prop("string", "X")}}},
            id="under-additionalProperties",
        ),
        pytest.param(
            {
                "$defs": {"R": _prop("string", "Region")},
                "properties": {"r": {"$ref": "#/$defs/R"}},
            },
            id="under-defs-via-ref",
        ),
    ],
)
def test_param_headers_rejects_invalid_annotations(schema: dict[str, Any]) -> None:
    """Invalid x-mcp-header annotations (type, name, uniqueness, reachability) raise ValueError."""
    with pytest.raises(ValueError, match="x-mcp-header"):
        param_headers(schema)


# --------------------------------------------------------------------------- Mcp-Param-{Name}

STRING = (ParamHeader("Region", ("region",), "string"),)
INTEGER = (ParamHeader("Count", ("count",), "integer"),)
BOOLEAN = (ParamHeader("Dry", ("dry",), "boolean"),)
NESTED = (ParamHeader("Tenant", ("scope", "tenant"), "string"),)


@pytest.mark.parametrize(
    ("declared", "headers", "arguments"),
    [
        pytest.param(STRING, {"mcp-param-region": "us-west1"}, {"region": "us-west1"}, id="string"),
        pytest.param(
            STRING, {"mcp-param-region": " us-west1\t"}, {"region": "us-west1"}, id="string-ows"
        ),
        pytest.param(
            STRING,
            {"mcp-param-region": "=?base64?SGVsbG8sIOS4lueVjA==?="},
            {"region": "Hello, 世界"},
            id="string-sentinel",
        ),
        pytest.param(
            STRING,
            {"mcp-param-region": "=?base64?IHBhZGRlZCA=?="},
            {"region": " padded "},
            id="string-sentinel-padded",
        ),
        pytest.param(STRING, {}, {}, id="absent-no-header"),
        pytest.param(STRING, {}, {"region": None}, id="null-no-header"),
        pytest.param(STRING, {}, None, id="no-arguments"),
        pytest.param(
            STRING, {"mcp-param-region": "us-west1"}, {}, id="absent-but-valid-header-sent"
        ),
        pytest.param(INTEGER, {"mcp-param-count": "42"}, {"count": 42}, id="integer"),
        pytest.param(INTEGER, {"mcp-param-count": "42.0"}, {"count": 42}, id="integer-42.0"),
        pytest.param(INTEGER, {"mcp-param-count": "4.2e1"}, {"count": 42}, id="integer-exponent"),
        pytest.param(INTEGER, {"mcp-param-count": "-7"}, {"count": -7}, id="integer-negative"),
        pytest.param(INTEGER, {"mcp-param-count": "0"}, {"count": 0}, id="integer-zero"),
        pytest.param(
            INTEGER,
            {"mcp-param-count": "9007199254740991"},
            {"count": 2**53 - 1},
            id="integer-max-safe",
        ),
        pytest.param(
            INTEGER,
            {"mcp-param-count": "-9007199254740991"},
            {"count": -(2**53 - 1)},
            id="integer-min-safe",
        ),
        pytest.param(INTEGER, {"mcp-param-count": " 42 "}, {"count": 42}, id="integer-ows"),
        pytest.param(BOOLEAN, {"mcp-param-dry": "true"}, {"dry": True}, id="boolean-true"),
        pytest.param(BOOLEAN, {"mcp-param-dry": "false"}, {"dry": False}, id="boolean-false"),
        pytest.param(
            NESTED,
            {"mcp-param-tenant": "acme"},
            {"scope": {"tenant": "acme"}},
            id="nested-path",
        ),
        pytest.param(NESTED, {}, {"scope": {}}, id="nested-absent"),
        pytest.param(NESTED, {}, {"scope": "flat"}, id="nested-parent-not-object"),
    ],
)
def test_param_headers_accepted(
    declared: tuple[ParamHeader, ...], headers: dict[str, str], arguments: Any
) -> None:
    """Mcp-Param headers that mirror present arguments, or are absent for absent ones, pass."""
    check_param_headers(declared, headers, arguments)


@pytest.mark.parametrize(
    ("declared", "headers", "arguments"),
    [
        pytest.param(STRING, {}, {"region": "us-west1"}, id="string-header-missing"),
        pytest.param(
            STRING, {"mcp-param-region": "eu-west1"}, {"region": "us-west1"}, id="string-differs"
        ),
        pytest.param(
            STRING, {"mcp-param-region": "US-WEST1"}, {"region": "us-west1"}, id="string-case"
        ),
        pytest.param(
            STRING,
            {"mcp-param-region": "=?base64?SGVsbG8sIOS4lueVjA=?="},
            {"region": "Hello, 世界"},
            id="string-sentinel-bad-padding",
        ),
        pytest.param(
            STRING,
            {"mcp-param-region": "=?base64?SGVs*G8=?="},
            {"region": "Hello"},
            id="string-sentinel-bad-character",
        ),
        pytest.param(
            STRING,
            {"mcp-param-region": "=?base64?SGVsbG8?="},
            {},
            id="absent-but-header-has-bad-sentinel",
        ),
        pytest.param(
            STRING, {"mcp-param-region": "caf\u00e9"}, {}, id="absent-but-header-raw-non-ascii"
        ),
        pytest.param(STRING, {"mcp-param-region": "42"}, {"region": 42}, id="string-got-int"),
        pytest.param(INTEGER, {}, {"count": 42}, id="integer-header-missing"),
        pytest.param(INTEGER, {}, {"count": 0}, id="integer-zero-header-missing"),
        pytest.param(INTEGER, {"mcp-param-count": "43"}, {"count": 42}, id="integer-differs"),
        pytest.param(INTEGER, {"mcp-param-count": "forty"}, {"count": 42}, id="integer-words"),
        pytest.param(INTEGER, {"mcp-param-count": ""}, {"count": 42}, id="integer-empty"),
        pytest.param(INTEGER, {"mcp-param-count": "NaN"}, {"count": 42}, id="integer-nan"),
        pytest.param(INTEGER, {"mcp-param-count": "inf"}, {"count": 42}, id="integer-inf"),
        pytest.param(INTEGER, {"mcp-param-count": "0x2a"}, {"count": 42}, id="integer-hex"),
        pytest.param(INTEGER, {"mcp-param-count": "4_2"}, {"count": 42}, id="integer-underscore"),
        pytest.param(
            INTEGER,
            {"mcp-param-count": sentinel("\uff14\uff12")},
            {"count": 42},
            id="integer-fullwidth-digits",
        ),
        pytest.param(
            INTEGER,
            {"mcp-param-count": "42.0000000000000001"},
            {"count": 42},
            id="integer-not-numerically-equal",
        ),
        pytest.param(INTEGER, {"mcp-param-count": "1"}, {"count": True}, id="integer-got-bool"),
        pytest.param(INTEGER, {"mcp-param-count": "42"}, {"count": "42"}, id="integer-got-string"),
        pytest.param(BOOLEAN, {}, {"dry": False}, id="boolean-false-header-missing"),
        pytest.param(BOOLEAN, {"mcp-param-dry": "True"}, {"dry": True}, id="boolean-capitalised"),
        pytest.param(BOOLEAN, {"mcp-param-dry": "1"}, {"dry": True}, id="boolean-as-digit"),
        pytest.param(BOOLEAN, {"mcp-param-dry": "false"}, {"dry": True}, id="boolean-differs"),
        pytest.param(BOOLEAN, {"mcp-param-dry": "true"}, {"dry": "true"}, id="boolean-got-string"),
        pytest.param(NESTED, {}, {"scope": {"tenant": "acme"}}, id="nested-header-missing"),
    ],
)
def test_param_headers_rejected(
    declared: tuple[ParamHeader, ...], headers: dict[str, str], arguments: Any
) -> None:
    """A missing, different or malformed Mcp-Param header is HeaderMismatch (-32020)."""
    with pytest.raises(HeaderMismatch) as excinfo:
        check_param_headers(declared, headers, arguments)
    assert excinfo.value.code == -32020
    assert excinfo.value.http_status == 400


@FAST
@given(value=st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1))
def test_integer_param_round_trip(value: int) -> None:
    """A safe integer written in decimal, as clients do, matches its argument."""
    check_param_headers(INTEGER, {"mcp-param-count": str(value)}, {"count": value})


@FAST
@given(value=st.text(st.characters(exclude_categories=("Cs",))))
def test_string_param_round_trip(value: str) -> None:
    """Any string argument encoded with encode_header_value matches its Mcp-Param header."""
    check_param_headers(STRING, {"mcp-param-region": encode_header_value(value)}, {"region": value})
