"""Protocol versions, and which generation ("era") an HTTP request speaks.

The modern era (2026-07-28) is stateless: every request carries its version in
a header and in ``_meta``. The legacy era (2025-03-26 to 2025-11-25) opens a
session with ``initialize`` and names it in ``Mcp-Session-Id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

MODERN_VERSIONS = ("2026-07-28",)
LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
LATEST_MODERN = MODERN_VERSIONS[0]
LATEST_LEGACY = LEGACY_VERSIONS[0]
SUPPORTED_VERSIONS = MODERN_VERSIONS + LEGACY_VERSIONS
LEGACY_DEFAULT = "2025-03-26"  # a session request without the header, per the spec

META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
META_SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"


class Era(Enum):
    MODERN = "modern"
    LEGACY = "legacy"
    UNSUPPORTED = "unsupported"


def request_era(headers: Mapping[str, str], method: str | None) -> tuple[Era, str | None]:
    """The era of a POST and the version it names (``None`` if it names none).

    A known modern version in ``MCP-Protocol-Version`` is modern; a legacy
    version, an ``initialize`` body or a session id is legacy; a request with no
    header and no session is treated as modern, so that its missing header is
    reported as the modern error it is. Anything else is unsupported.
    """
    version = headers.get("mcp-protocol-version")
    if version is not None:
        version = version.strip(" \t")
        if version in MODERN_VERSIONS:
            return Era.MODERN, version
        if version in LEGACY_VERSIONS:
            return Era.LEGACY, version
        if method == "initialize":
            return Era.LEGACY, None
        return Era.UNSUPPORTED, version
    if method == "initialize" or "mcp-session-id" in headers:
        return Era.LEGACY, LEGACY_DEFAULT if method != "initialize" else None
    return Era.MODERN, None


def negotiate_legacy(requested: object) -> str:
    """The version to answer ``initialize`` with: the client's if known, else our latest.
    (The constant, not the request's copy of it: every session keeps this string.)"""
    if isinstance(requested, str):
        for version in LEGACY_VERSIONS:
            if requested == version:
                return version
    return LATEST_LEGACY
