"""Validation of a 2026-07-28 request: its ``_meta`` and its mirrored headers.

The checks run in the order the specification's error codes imply: a missing
or malformed ``_meta`` is ``InvalidParams``; a version the server does not
speak is ``UnsupportedProtocolVersion``; headers that disagree with the body
are ``HeaderMismatch``. Each returns HTTP 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mcpfleet.errors import HeaderMismatch, InvalidParams, UnsupportedProtocolVersion
from mcpfleet.protocol.headers import ParamHeader, check_param_headers, check_standard_headers
from mcpfleet.protocol.methods import LEGACY_ONLY
from mcpfleet.protocol.versions import (
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    MODERN_VERSIONS,
    SUPPORTED_VERSIONS,
)

LOG_LEVELS = frozenset(
    ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
)

# Methods of the legacy era that 2026-07-28 removed: unknown to a modern request.
REMOVED_METHODS = LEGACY_ONLY


@dataclass(slots=True)
class RequestMeta:
    """What a modern request says about its client, read from ``params._meta``."""

    protocol_version: str
    client_capabilities: dict[str, Any]
    client_info: dict[str, Any] | None
    log_level: str | None
    progress_token: int | str | None
    raw: dict[str, Any]


def read_request_meta(params: Mapping[str, Any]) -> RequestMeta:
    """Check ``params._meta`` of a modern request and return what it carries."""
    meta = params.get("_meta")
    if not isinstance(meta, dict):
        raise InvalidParams("Invalid params: _meta is required in this protocol version")
    version = meta.get(META_PROTOCOL_VERSION)
    if not isinstance(version, str):
        raise InvalidParams(f"Invalid params: _meta is missing {META_PROTOCOL_VERSION}")
    capabilities = meta.get(META_CLIENT_CAPABILITIES)
    if not isinstance(capabilities, dict):
        raise InvalidParams(f"Invalid params: _meta is missing {META_CLIENT_CAPABILITIES}")
    client_info = meta.get(META_CLIENT_INFO)
    if client_info is not None and not isinstance(client_info, dict):
        raise InvalidParams(f"Invalid params: {META_CLIENT_INFO} must be an object")
    log_level = meta.get(META_LOG_LEVEL)
    if log_level is not None and (not isinstance(log_level, str) or log_level not in LOG_LEVELS):
        raise InvalidParams("Invalid params: unknown log level")
    token = meta.get("progressToken")
    if token is not None and (isinstance(token, bool) or not isinstance(token, int | str)):
        raise InvalidParams("Invalid params: progressToken must be a string or an integer")
    return RequestMeta(version, capabilities, client_info, log_level, token, meta)


def validate_modern_request(
    headers: Mapping[str, str],
    header_version: str | None,
    method: str,
    params: Mapping[str, Any],
    param_headers: tuple[ParamHeader, ...] | None = None,
) -> RequestMeta:
    """All transport-level checks of a modern request, before dispatch: its ``_meta``,
    its version, its standard headers, and the ``Mcp-Param-*`` headers of the arguments
    the target declares (``param_headers``)."""
    meta = read_request_meta(params)
    if header_version is None:
        raise HeaderMismatch("Header mismatch: MCP-Protocol-Version header is missing")
    if meta.protocol_version == header_version and header_version not in MODERN_VERSIONS:
        raise UnsupportedProtocolVersion(header_version, list(SUPPORTED_VERSIONS))
    if meta.protocol_version != header_version:
        if meta.protocol_version not in SUPPORTED_VERSIONS and header_version not in (
            MODERN_VERSIONS
        ):
            raise UnsupportedProtocolVersion(meta.protocol_version, list(SUPPORTED_VERSIONS))
        raise HeaderMismatch(
            f"Header mismatch: MCP-Protocol-Version does not match _meta {META_PROTOCOL_VERSION}"
        )
    check_standard_headers(headers, method, params)
    if param_headers:
        check_param_headers(param_headers, headers, params.get("arguments"))
    return meta


def unsupported_version(requested: str | None) -> UnsupportedProtocolVersion:
    return UnsupportedProtocolVersion(requested, list(SUPPORTED_VERSIONS))
