"""Bearer-token challenges (RFC 6750 section 3) and the metadata path (RFC 9728). No I/O."""

from __future__ import annotations

from collections.abc import Sequence

WELL_KNOWN_RESOURCE = "/.well-known/oauth-protected-resource"


def _quoted(value: str) -> str:
    """An auth-param value as a quoted-string: quotes and backslashes escaped, and only
    visible ASCII and spaces kept (a header value cannot carry the rest)."""
    kept = "".join(ch if 0x20 <= ord(ch) <= 0x7E else "?" for ch in value)
    return '"' + kept.replace("\\", "\\\\").replace('"', '\\"') + '"'


def challenge(
    *,
    resource_metadata: str | None = None,
    error: str | None = None,
    scopes: Sequence[str] = (),
    description: str | None = None,
) -> str:
    """A ``WWW-Authenticate`` value for the Bearer scheme.

    Without ``error`` it says only that credentials are needed (no credentials came);
    ``invalid_token`` and ``insufficient_scope`` say what was wrong with the ones that did.
    """
    params = []
    if resource_metadata is not None:
        params.append(f"resource_metadata={_quoted(resource_metadata)}")
    if error is not None:
        params.append(f"error={_quoted(error)}")
    if scopes:
        params.append(f"scope={_quoted(' '.join(scopes))}")
    if description is not None and error is not None:
        params.append(f"error_description={_quoted(description)}")
    return "Bearer " + ", ".join(params) if params else "Bearer"


def metadata_paths(endpoint_path: str) -> tuple[str, str]:
    """Where the protected resource metadata is served: the root form, and the form with
    the endpoint's path appended (RFC 9728 section 3.1), which clients try first."""
    return WELL_KNOWN_RESOURCE, WELL_KNOWN_RESOURCE + endpoint_path.rstrip("/")
