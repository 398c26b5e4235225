"""The ``auth`` phase of ``--client-credentials``: find the token endpoint the way a client
does, starting from a request without a token, and get a token by the client-credentials
grant. Each step that can fail is named in the phase's detail::

    request without a token -> 401, WWW-Authenticate: Bearer resource_metadata=, scope=
                                                           (else: "no challenge")
    -> protected resource metadata (RFC 9728): resource, authorization_servers
                                                           (else: "metadata unreachable")
    -> authorization server metadata (RFC 8414, then OpenID discovery): token_endpoint
                                                           (else: "no token endpoint")
    -> POST token_endpoint: grant_type=client_credentials, resource (RFC 8707), scope;
       client_secret_basic, or client_secret_post if that is all the server takes
                                                           (else: "token refused: error")

The decisions are made in :mod:`mcpfleet.probe.bearer`; this module only asks.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mcpfleet.errors import CommandError
from mcpfleet.probe.auth import authorization_server_metadata, fetch_json, well_known
from mcpfleet.probe.bearer import (
    Challenge,
    choose_scope,
    clean,
    client_auth_method,
    describe_grant,
    may_carry_secret,
    parse_challenge,
    read_token_response,
    token_form,
)
from mcpfleet.probe.model import ClientCredentials, Clock, PhaseFailed, Status
from mcpfleet.probe.session import Session
from mcpfleet.probe.wire import exchange

PHASE = "auth"


class StepFailed(CommandError):
    """A step of the discovery or the grant failed; ``detail`` says which and why."""

    def __init__(self, detail: str, **data: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.data = data


async def grant_phase(session: Session, credentials: ClientCredentials) -> str:
    """Record the ``auth`` phase and return the access token; PhaseFailed if there is none."""
    clock = Clock()
    found: dict[str, Any] = {}
    warnings: list[str] = []
    try:
        token, detail = await _obtain(session, credentials, found, warnings)
    except StepFailed as failure:
        session.record(PHASE, Status.FAIL, failure.detail, clock.ms, **found, **failure.data)
        raise PhaseFailed from None
    status = Status.WARN if warnings else Status.OK
    session.record(PHASE, status, "; ".join([detail, *warnings]), clock.ms, **found)
    return token


async def _obtain(
    session: Session,
    credentials: ClientCredentials,
    found: dict[str, Any],
    warnings: list[str],
) -> tuple[str, str]:
    challenge = await _challenge(session)
    if challenge.resource_metadata is None:
        warnings.append("no resource_metadata in the challenge (used the well-known URL)")
    resource_doc = await _resource_metadata(session, challenge, found)
    resource = resource_doc.get("resource")
    if not isinstance(resource, str) or not resource:
        raise StepFailed("no 'resource' in the protected resource metadata")
    found["resource"] = resource
    if resource.rstrip("/") != session.url.rstrip("/"):
        warnings.append(f"the metadata's resource {clean(resource)} is not the probed URL")
    issuer = credentials.authorization_server or _first_server(resource_doc)
    found["authorizationServer"] = issuer
    located = await authorization_server_metadata(session, issuer)
    if located is None:
        raise StepFailed(f"metadata unreachable: authorization server metadata for {issuer}")
    found["authorizationServerMetadata"], server_doc = located
    endpoint, method = _token_endpoint(server_doc)
    found |= {"tokenEndpoint": endpoint, "clientAuth": method}
    scope = choose_scope(credentials.scope, challenge, resource_doc)
    found["scopeRequested"] = scope
    form, headers = token_form(
        method, credentials.client_id, credentials.client_secret, resource, scope
    )
    reply = await exchange(
        session.client,
        "POST",
        endpoint,
        headers,
        None,
        session.deadline,
        session.options.max_bytes,
        form=form,
        follow_redirects=False,  # a redirect must not carry the secret elsewhere
    )
    grant = read_token_response(reply.status, reply.message, scope, reply.describe())
    if grant.access_token is None:
        raise StepFailed(grant.refusal or "token refused", **grant.data)
    found |= {"expiresIn": grant.expires_in, "scopeGranted": grant.scope}
    return grant.access_token, describe_grant(grant, method)


async def _challenge(session: Session) -> Challenge:
    """The first request of the era, without a token: it should be refused with a 401."""
    if session.options.era == "legacy":
        _id, reply, _elapsed = await session.initialize()
    else:
        _id, reply, _elapsed = await session.modern("server/discover", {})
    if reply.status != 401:
        raise StepFailed(
            f"no challenge: without a token the endpoint answered {reply.describe()}",
            httpStatus=reply.status,
        )
    challenge = parse_challenge(reply.headers.get("www-authenticate", ""))
    if challenge is None:
        raise StepFailed("no challenge: HTTP 401 without WWW-Authenticate: Bearer")
    return challenge


async def _resource_metadata(
    session: Session, challenge: Challenge, found: dict[str, Any]
) -> dict[str, Any]:
    if challenge.resource_metadata is not None:
        urls = [challenge.resource_metadata]
    else:
        parts = urlsplit(session.url)
        root = urlunsplit(
            (parts.scheme, parts.netloc, "/.well-known/oauth-protected-resource", "", "")
        )
        urls = [well_known(session.url, "oauth-protected-resource"), root]
    for url in urls:
        document = await fetch_json(session, url)
        if document is not None:
            found["resourceMetadata"] = url
            return document
    raise StepFailed(f"metadata unreachable: protected resource metadata at {' or '.join(urls)}")


def _first_server(resource_doc: dict[str, Any]) -> str:
    servers = resource_doc.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
        raise StepFailed("no authorization server in the protected resource metadata")
    return servers[0]


def _token_endpoint(server_doc: dict[str, Any]) -> tuple[str, str]:
    endpoint = server_doc.get("token_endpoint")
    if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https"):
        raise StepFailed("no token endpoint in the authorization server metadata")
    if not may_carry_secret(endpoint):
        raise StepFailed(f"the token endpoint {clean(endpoint)} is not HTTPS: secret not sent")
    method = client_auth_method(server_doc)
    if method is None:
        offered = clean(server_doc.get("token_endpoint_auth_methods_supported"))
        raise StepFailed(f"no client authentication the probe can do (server offers {offered})")
    return endpoint, method
