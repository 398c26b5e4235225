"""The auth phase: a 401 should lead, through RFC 9728 protected-resource metadata,
to the authorization server's RFC 8414 metadata. The phase reports what is missing."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mcpfleet.probe.model import Clock, PhaseFailed, Status
from mcpfleet.probe.session import Session
from mcpfleet.probe.wire import Reply, exchange

_RESOURCE_METADATA = re.compile(r'resource_metadata="([^"]{1,2000})"')
AS_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "response_types_supported")


def well_known(url: str, name: str) -> str:
    """RFC 8615 path insertion: ``https://h/p`` -> ``https://h/.well-known/{name}/p``."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{name}{path}", "", ""))


async def fetch_json(session: Session, url: str) -> dict[str, Any] | None:
    """GET a metadata document (bounded like every read); ``None`` if it is not a JSON object."""
    if urlsplit(url).scheme not in ("http", "https"):
        return None
    headers = {"accept": "application/json", **session.options.headers}
    reply = await exchange(
        session.client, "GET", url, headers, None, session.deadline, session.options.max_bytes
    )
    if reply.status != 200 or reply.content_type != "application/json" or reply.problem:
        return None
    return reply.message


async def auth_phase(session: Session, reply: Reply) -> None:
    """Follow the 401 to the metadata; FAIL if credentials were sent and refused."""
    clock = Clock()
    if any(key.lower() == "authorization" for key in session.options.headers):
        session.record("auth", Status.FAIL, "credentials refused (HTTP 401)", clock.ms)
        raise PhaseFailed
    missing: list[str] = []
    found: dict[str, Any] = {}
    challenge = reply.headers.get("www-authenticate", "")
    if not challenge.lower().startswith("bearer"):
        missing.append("WWW-Authenticate: Bearer challenge")
    match = _RESOURCE_METADATA.search(challenge)
    if match is None:
        missing.append("resource_metadata in WWW-Authenticate")
    metadata_url = match.group(1) if match else well_known(session.url, "oauth-protected-resource")
    resource = await fetch_json(session, metadata_url)
    if resource is None:
        missing.append(f"protected resource metadata at {metadata_url}")
    else:
        found["resourceMetadata"] = metadata_url
        await _follow_servers(session, resource, missing, found)
    status = Status.WARN if missing else Status.OK
    detail = "missing: " + "; ".join(missing) if missing else "401 with complete OAuth metadata"
    session.record("auth", status, detail, clock.ms, missing=missing, **found)


async def _follow_servers(
    session: Session, resource: dict[str, Any], missing: list[str], found: dict[str, Any]
) -> None:
    if not isinstance(resource.get("resource"), str):
        missing.append("'resource' in the protected resource metadata")
    servers = resource.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
        missing.append("'authorization_servers' in the protected resource metadata")
        return
    issuer = servers[0]
    found["authorizationServer"] = issuer
    metadata = None
    for url in (
        well_known(issuer, "oauth-authorization-server"),
        issuer.rstrip("/") + "/.well-known/openid-configuration",
    ):
        metadata = await fetch_json(session, url)
        if metadata is not None:
            found["authorizationServerMetadata"] = url
            break
    if metadata is None:
        missing.append(f"authorization server metadata for {issuer}")
        return
    missing.extend(
        f"'{key}' in the authorization server metadata" for key in AS_FIELDS if key not in metadata
    )
    methods = metadata.get("code_challenge_methods_supported")
    if not isinstance(methods, list) or "S256" not in methods:
        missing.append("PKCE S256 in code_challenge_methods_supported")
