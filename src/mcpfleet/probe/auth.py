"""The auth phase: a 401 should lead, through RFC 9728 protected-resource metadata,
to the authorization server's RFC 8414 metadata. The phase reports what is missing."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mcpfleet.probe.bearer import describe_challenge, parse_challenge
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


async def authorization_server_metadata(
    session: Session, issuer: str
) -> tuple[str, dict[str, Any]] | None:
    """RFC 8414 metadata of ``issuer``, then OpenID discovery: where it was, and what."""
    for url in (
        well_known(issuer, "oauth-authorization-server"),
        issuer.rstrip("/") + "/.well-known/openid-configuration",
        well_known(issuer, "openid-configuration"),
    ):
        metadata = await fetch_json(session, url)
        if metadata is not None:
            return url, metadata
    return None


def refused(session: Session, reply: Reply) -> None:
    """Credentials were sent and the endpoint answered 401: FAIL, with the server's reason.

    The phase is ``auth``, or ``credentials`` when an ``auth`` phase got the token.
    """
    challenge = parse_challenge(reply.headers.get("www-authenticate", ""))
    reason = describe_challenge(challenge)
    detail = "credentials refused: HTTP 401" + (f", {reason}" if reason else "")
    data: dict[str, Any] = {"httpStatus": reply.status}
    if challenge is not None and challenge.error:
        data["error"] = challenge.error
    if challenge is not None and challenge.error_description:
        data["errorDescription"] = challenge.error_description
    name = "credentials" if any(p.name == "auth" for p in session.report.phases) else "auth"
    session.record(name, Status.FAIL, detail, **data)
    raise PhaseFailed


async def auth_phase(session: Session, reply: Reply) -> None:
    """Follow the 401 to the metadata; FAIL if credentials were sent and refused."""
    clock = Clock()
    if any(key.lower() == "authorization" for key in session.options.headers):
        refused(session, reply)
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
    located = await authorization_server_metadata(session, issuer)
    if located is None:
        missing.append(f"authorization server metadata for {issuer}")
        return
    found["authorizationServerMetadata"], metadata = located
    missing.extend(
        f"'{key}' in the authorization server metadata" for key in AS_FIELDS if key not in metadata
    )
    methods = metadata.get("code_challenge_methods_supported")
    if not isinstance(methods, list) or "S256" not in methods:
        missing.append("PKCE S256 in code_challenge_methods_supported")
