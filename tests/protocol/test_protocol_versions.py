"""Protocol versions and the era of a request (mcpfleet.protocol.versions)."""

from __future__ import annotations

import pytest

from mcpfleet.protocol.versions import (
    LATEST_LEGACY,
    LEGACY_VERSIONS,
    MODERN_VERSIONS,
    SUPPORTED_VERSIONS,
    Era,
    negotiate_legacy,
    request_era,
)


def test_version_sets() -> None:
    """2026-07-28 is the modern version; 2025-03-26, 2025-06-18 and 2025-11-25 are legacy."""
    assert set(MODERN_VERSIONS) == {"2026-07-28"}
    assert set(LEGACY_VERSIONS) == {"2025-03-26", "2025-06-18", "2025-11-25"}
    assert set(SUPPORTED_VERSIONS) == set(MODERN_VERSIONS) | set(LEGACY_VERSIONS)
    assert LATEST_LEGACY == "2025-11-25"


@pytest.mark.parametrize(
    ("headers", "method", "era", "version"),
    [
        pytest.param(
            {"mcp-protocol-version": "2026-07-28"},
            "tools/list",
            Era.MODERN,
            "2026-07-28",
            id="modern-header",
        ),
        pytest.param(
            {"mcp-protocol-version": " 2026-07-28\t"},
            "tools/call",
            Era.MODERN,
            "2026-07-28",
            id="modern-header-ows",
        ),
        pytest.param(
            {"mcp-protocol-version": "2026-07-28", "mcp-session-id": "abc"},
            "tools/list",
            Era.MODERN,
            "2026-07-28",
            id="modern-header-with-stray-session",
        ),
        pytest.param(
            {"mcp-protocol-version": "2026-07-28"},
            None,
            Era.MODERN,
            "2026-07-28",
            id="modern-header-no-method",
        ),
        pytest.param(
            {"mcp-protocol-version": "2025-03-26"},
            "tools/list",
            Era.LEGACY,
            "2025-03-26",
            id="legacy-2025-03-26",
        ),
        pytest.param(
            {"mcp-protocol-version": "2025-06-18"},
            "tools/list",
            Era.LEGACY,
            "2025-06-18",
            id="legacy-2025-06-18",
        ),
        pytest.param(
            {"mcp-protocol-version": "2025-11-25", "mcp-session-id": "s"},
            "tools/call",
            Era.LEGACY,
            "2025-11-25",
            id="legacy-2025-11-25-with-session",
        ),
        pytest.param(
            {"mcp-protocol-version": "2024-11-05"},
            "tools/list",
            Era.UNSUPPORTED,
            "2024-11-05",
            id="unsupported-older",
        ),
        pytest.param(
            {"mcp-protocol-version": "2099-01-01"},
            "tools/list",
            Era.UNSUPPORTED,
            "2099-01-01",
            id="unsupported-future",
        ),
        pytest.param(
            {"mcp-protocol-version": "garbage"},
            "tools/list",
            Era.UNSUPPORTED,
            "garbage",
            id="unsupported-garbage",
        ),
        pytest.param(
            {"mcp-protocol-version": "2026-07-28 "},
            "tools/list",
            Era.MODERN,
            "2026-07-28",
            id="trailing-space-only",
        ),
        pytest.param({}, "tools/list", Era.MODERN, None, id="no-header-no-session"),
        pytest.param({}, None, Era.MODERN, None, id="no-header-no-method"),
    ],
)
def test_request_era(
    headers: dict[str, str], method: str | None, era: Era, version: str | None
) -> None:
    """The MCP-Protocol-Version header, method and session id decide the era and version."""
    assert request_era(headers, method) == (era, version)


@pytest.mark.parametrize(
    ("headers", "method"),
    [
        pytest.param({}, "initialize", id="initialize-without-header"),
        pytest.param({"mcp-session-id": "abc"}, "tools/list", id="session-without-header"),
        pytest.param({"mcp-session-id": "abc"}, None, id="session-without-header-no-method"),
    ],
)
def test_request_era_legacy_without_header(headers: dict[str, str], method: str | None) -> None:
    """An initialize body or a session id without the version header is legacy."""
    era, version = request_era(headers, method)
    assert era is Era.LEGACY
    assert version in (None, *LEGACY_VERSIONS)


def test_request_era_near_miss_version_is_unsupported() -> None:
    """A version header that is not exactly a known version is unsupported, not close enough."""
    era, _ = request_era({"mcp-protocol-version": "2026-7-28"}, "tools/list")
    assert era is Era.UNSUPPORTED


@pytest.mark.parametrize(
    ("requested", "answer"),
    [
        pytest.param("2025-03-26", "2025-03-26", id="oldest-legacy"),
        pytest.param("2025-06-18", "2025-06-18", id="middle-legacy"),
        pytest.param("2025-11-25", "2025-11-25", id="latest-legacy"),
        pytest.param("2024-11-05", LATEST_LEGACY, id="unknown-older"),
        pytest.param("2026-07-28", LATEST_LEGACY, id="modern-is-not-negotiated"),
        pytest.param(None, LATEST_LEGACY, id="missing"),
        pytest.param(20250326, LATEST_LEGACY, id="not-a-string"),
    ],
)
def test_negotiate_legacy(requested: object, answer: str) -> None:
    """initialize is answered with the client's legacy version if known, else the latest."""
    assert negotiate_legacy(requested) == answer
