"""Validation of a 2026-07-28 request's _meta and headers (mcpfleet.protocol.modern)."""

from __future__ import annotations

from typing import Any

import pytest

from mcpfleet.errors import (
    HeaderMismatch,
    InvalidParams,
    ProtocolError,
    UnsupportedProtocolVersion,
)
from mcpfleet.protocol.modern import (
    REMOVED_METHODS,
    read_request_meta,
    unsupported_version,
    validate_modern_request,
)
from mcpfleet.protocol.versions import (
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
)

MODERN = "2026-07-28"


def meta(version: Any = MODERN, capabilities: Any = None, **extra: Any) -> dict[str, Any]:
    """A _meta object; pass ``...`` to leave a required key out."""
    value: dict[str, Any] = dict(extra)
    if version is not ...:
        value[META_PROTOCOL_VERSION] = version
    if capabilities is not ...:
        value[META_CLIENT_CAPABILITIES] = {} if capabilities is None else capabilities
    return value


def headers(method: str = "tools/list", name: str | None = None) -> dict[str, str]:
    found = {"mcp-protocol-version": MODERN, "mcp-method": method}
    if name is not None:
        found["mcp-name"] = name
    return found


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    ("hdrs", "method", "params"),
    [
        pytest.param(headers(), "tools/list", {"_meta": meta()}, id="tools-list"),
        pytest.param(
            headers("tools/call", "get_weather"),
            "tools/call",
            {"name": "get_weather", "arguments": {}, "_meta": meta()},
            id="tools-call",
        ),
        pytest.param(
            headers("resources/read", "=?base64?ZmlsZTovLy/DqQ==?="),
            "resources/read",
            {"uri": "file:///\u00e9", "_meta": meta()},
            id="resources-read-sentinel-name",
        ),
        pytest.param(
            headers(),
            "tools/list",
            {
                "_meta": meta(
                    capabilities={"sampling": {}},
                    **{
                        META_CLIENT_INFO: {"name": "c", "version": "1"},
                        META_LOG_LEVEL: "debug",
                        "progressToken": "t",
                    },
                )
            },
            id="all-optional-meta",
        ),
    ],
)
def test_valid_modern_request(hdrs: dict[str, str], method: str, params: dict[str, Any]) -> None:
    """A request whose _meta and headers agree passes validation and returns its metadata."""
    result = validate_modern_request(hdrs, MODERN, method, params)
    assert result.protocol_version == MODERN
    assert result.client_capabilities == params["_meta"][META_CLIENT_CAPABILITIES]
    assert result.raw == params["_meta"]


def test_request_meta_fields() -> None:
    """read_request_meta exposes client info, log level and progress token from _meta."""
    result = read_request_meta(
        {
            "_meta": meta(
                capabilities={"roots": {}},
                **{
                    META_CLIENT_INFO: {"name": "c", "version": "1"},
                    META_LOG_LEVEL: "warning",
                    "progressToken": 5,
                },
            )
        }
    )
    assert result.client_capabilities == {"roots": {}}
    assert result.client_info == {"name": "c", "version": "1"}
    assert result.log_level == "warning"
    assert result.progress_token == 5


# --------------------------------------------------------------------------- rejected


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="meta-missing"),
        pytest.param({"_meta": None}, id="meta-null"),
        pytest.param({"_meta": []}, id="meta-array"),
        pytest.param({"_meta": "2026-07-28"}, id="meta-string"),
        pytest.param({"_meta": {}}, id="meta-empty"),
        pytest.param({"_meta": meta(version=...)}, id="protocol-version-missing"),
        pytest.param({"_meta": meta(version=20260728)}, id="protocol-version-not-string"),
        pytest.param({"_meta": meta(capabilities=...)}, id="client-capabilities-missing"),
        pytest.param({"_meta": meta(capabilities=[])}, id="client-capabilities-array"),
        pytest.param({"_meta": meta(capabilities="all")}, id="client-capabilities-string"),
        pytest.param({"_meta": meta(**{META_CLIENT_INFO: "c"})}, id="client-info-string"),
        pytest.param({"_meta": meta(**{META_LOG_LEVEL: "verbose"})}, id="log-level-unknown"),
        pytest.param({"_meta": meta(progressToken=True)}, id="progress-token-bool"),
        pytest.param({"_meta": meta(progressToken=1.5)}, id="progress-token-fraction"),
    ],
)
def test_bad_meta_is_invalid_params(params: dict[str, Any]) -> None:
    """A missing or malformed _meta (or required key in it) is InvalidParams (-32602, HTTP 400)."""
    with pytest.raises(InvalidParams) as excinfo:
        validate_modern_request(headers(), MODERN, "tools/list", params)
    assert excinfo.value.code == -32602
    assert excinfo.value.http_status == 400


def test_bad_meta_wins_over_missing_headers() -> None:
    """With both _meta and every header missing, the error is InvalidParams."""
    with pytest.raises(InvalidParams):
        validate_modern_request({}, None, "tools/list", {})


@pytest.mark.parametrize(
    ("hdrs", "header_version", "method", "params"),
    [
        pytest.param(
            {"mcp-method": "tools/list"},
            None,
            "tools/list",
            {"_meta": meta()},
            id="version-header-missing",
        ),
        pytest.param(
            headers(),
            MODERN,
            "tools/list",
            {"_meta": meta("2025-11-25")},
            id="meta-says-legacy-version",
        ),
        pytest.param(
            headers(),
            MODERN,
            "tools/list",
            {"_meta": meta("2099-01-01")},
            id="meta-says-unknown-version",
        ),
        pytest.param(
            {"mcp-protocol-version": MODERN},
            MODERN,
            "tools/list",
            {"_meta": meta()},
            id="mcp-method-missing",
        ),
        pytest.param(
            headers("tools/call"),
            MODERN,
            "tools/list",
            {"_meta": meta()},
            id="mcp-method-differs",
        ),
        pytest.param(
            headers("tools/call"),
            MODERN,
            "tools/call",
            {"name": "t", "_meta": meta()},
            id="mcp-name-missing",
        ),
        pytest.param(
            headers("tools/call", "other"),
            MODERN,
            "tools/call",
            {"name": "t", "_meta": meta()},
            id="mcp-name-differs",
        ),
        pytest.param(
            headers("prompts/get", "=?base64?bad?="),
            MODERN,
            "prompts/get",
            {"name": "p", "_meta": meta()},
            id="mcp-name-bad-sentinel",
        ),
    ],
)
def test_header_problems_are_header_mismatch(
    hdrs: dict[str, str], header_version: str | None, method: str, params: dict[str, Any]
) -> None:
    """Missing or disagreeing version, Mcp-Method or Mcp-Name headers are HeaderMismatch."""
    with pytest.raises(HeaderMismatch) as excinfo:
        validate_modern_request(hdrs, header_version, method, params)
    assert excinfo.value.code == -32020
    assert excinfo.value.http_status == 400


@pytest.mark.parametrize(
    "version",
    [
        pytest.param("2099-01-01", id="future"),
        pytest.param("1900-01-01", id="past"),
        pytest.param("garbage", id="garbage"),
    ],
)
def test_same_unsupported_version_is_unsupported(version: str) -> None:
    """Header and _meta naming the same unsupported version is UnsupportedProtocolVersion."""
    hdrs = {"mcp-protocol-version": version, "mcp-method": "tools/list"}
    with pytest.raises(UnsupportedProtocolVersion) as excinfo:
        validate_modern_request(hdrs, version, "tools/list", {"_meta": meta(version)})
    error = excinfo.value
    assert error.code == -32022
    assert error.http_status == 400
    assert error.data["requested"] == version
    assert set(error.data["supported"]) == set(SUPPORTED_VERSIONS)


def test_unsupported_version_helper() -> None:
    """unsupported_version builds -32022 with every supported version and the requested one."""
    error = unsupported_version("1900-01-01")
    assert isinstance(error, ProtocolError)
    assert error.to_error() == {
        "code": -32022,
        "message": error.message,
        "data": {"supported": list(SUPPORTED_VERSIONS), "requested": "1900-01-01"},
    }
    assert error.http_status == 400


def test_removed_methods() -> None:
    """The legacy-only methods are listed as removed from the modern era."""
    assert {"initialize", "ping", "logging/setLevel"} <= REMOVED_METHODS
    assert "tools/call" not in REMOVED_METHODS


def test_the_method_table_matches_what_each_era_dispatches() -> None:
    """The protocol's one table of methods per era names exactly the operations both eras
    share, plus each era's own methods, as the dispatchers serve them."""
    from mcpfleet.protocol.methods import LEGACY_ONLY, METHODS, MODERN_ONLY, SHARED_METHODS
    from mcpfleet.protocol.versions import Era
    from mcpfleet.server.legacy import _SESSION_METHODS
    from mcpfleet.server.operations import OPERATIONS

    assert set(OPERATIONS) == SHARED_METHODS
    assert set(_SESSION_METHODS) == LEGACY_ONLY - {"initialize"}
    assert METHODS[Era.MODERN] == SHARED_METHODS | MODERN_ONLY
    assert not METHODS[Era.MODERN] & LEGACY_ONLY
