"""The one place that decides who may call, and what: every request of both eras, on
every method and path of the endpoint, passes through ``Gate``.

``authenticate`` runs first, on the headers alone (before the body is read): a
bearer token is verified, or the app's own hook names the caller. ``authorize``
runs once the JSON-RPC request is decoded: the scopes its target needs, and the
caller's rate limits. Failures carry their challenge (``WWW-Authenticate``, RFC
6750 and the MCP authorization specification) or their ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from mcpfleet.auth.limits import Rate, parse_rate
from mcpfleet.auth.principal import Principal, missing_scopes
from mcpfleet.config import Config
from mcpfleet.errors import (
    HttpRejection,
    InsufficientScope,
    InternalError,
    InvalidToken,
    McpfleetError,
    RateLimited,
    Unauthorized,
)
from mcpfleet.protocol.auth import WELL_KNOWN_RESOURCE, challenge
from mcpfleet.server.app import Authenticator, Server
from mcpfleet.state.base import Bucket, FleetState


class TokenVerifier(Protocol):
    """Turns a bearer token into a principal, or raises ``InvalidToken``."""

    async def verify(self, token: str) -> Principal:
        """The token's principal."""

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified before and still valid, without awaiting."""

    async def aclose(self) -> None:
        """Stop background work."""


ANONYMOUS = "anonymous"
TARGETED = frozenset(("tools/call", "prompts/get", "resources/read"))  # targets with scopes
log = logging.getLogger("mcpfleet.auth")


def _bucket_prefix(principal: Principal | None) -> str:
    owner = ANONYMOUS if principal is None else principal.id
    digest = hashlib.sha256(owner.encode()).hexdigest()[:24]
    return f"{{{digest}}}"  # one hash tag per caller: its buckets share a Redis Cluster slot


class Gate:
    """Authentication, scopes and per-caller limits for one app."""

    def __init__(
        self,
        server: Server,
        config: Config,
        state: FleetState,
        verifier: TokenVerifier | None = None,
        hook: Authenticator | None = None,
    ) -> None:
        self.server = server
        self.hook = hook or server.authenticator
        self.config = config
        self.state = state
        self.verifier = verifier
        self.required = tuple(
            dict.fromkeys((*server.required_scopes, *config.auth_required_scopes))
        )
        self.rate: Rate | None = server.rate or (
            parse_rate(config.rate_limit) if config.rate_limit else None
        )
        self._trusted = [
            ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies if p != "*"
        ]
        self._trust_all = "*" in config.trusted_proxies

    @classmethod
    def for_app(
        cls, server: Server, config: Config, state: FleetState, hook: Authenticator | None = None
    ) -> Gate | None:
        """The app's gate, or ``None`` when there is nothing to enforce (no cost then)."""
        verifier: TokenVerifier | None = None
        if config.auth_issuer is not None:
            from mcpfleet.auth.jwt import JwtVerifier

            audiences = config.auth_audience or (str(config.resource_url),)
            verifier = JwtVerifier(
                issuer=config.auth_issuer,
                audiences=audiences,
                jwks_url=config.auth_jwks_url,
                algorithms=config.auth_algorithms,
                leeway_seconds=config.auth_leeway_seconds,
                preset=config.auth_preset,
                scope_prefix=config.auth_scope_prefix,
            )
        gate = cls(server, config, state, verifier, hook)
        needed = (verifier, gate.hook, gate.required, gate.rate)
        if (
            not any(needed)
            and not server.scoped
            and not any(tool.rate for tool in server.tools.values())
        ):
            return None
        return gate

    @property
    def oauth(self) -> bool:
        """Whether the endpoint is an OAuth resource server (and publishes its metadata)."""
        return self.verifier is not None

    async def aclose(self) -> None:
        if self.verifier is not None:
            await self.verifier.aclose()

    # -- who is calling ---------------------------------------------------------

    def known_caller(self, headers: dict[str, str]) -> Principal | None:
        """The caller, when its bearer token verified before and nothing else must be
        asked (the common case, decided without awaiting); ``None``: ``authenticate``."""
        verifier = self.verifier
        if verifier is None or self.hook is not None:
            return None
        credentials = headers.get("authorization")
        if credentials is None or (
            not credentials.startswith("Bearer ") and credentials[:7].lower() != "bearer "
        ):
            return None
        principal = verifier.cached(credentials[7:].strip())
        if principal is None or (
            self.required
            and missing_scopes(principal.scopes, self.required, self.server.scope_implies)
        ):
            return None
        return principal

    def nothing_to_check(self, method: str, params: dict[str, Any]) -> bool:
        """Whether ``authorize`` would find nothing to check (decided without awaiting)."""
        if self.rate is not None:
            return False
        if method not in TARGETED:
            return True
        if method == "tools/call":
            name = params.get("name")
            tool = self.server.tools.get(name) if isinstance(name, str) else None
            return tool is not None and not tool.scopes and tool.rate is None
        return False

    async def authenticate(self, headers: dict[str, str], scope: Any) -> Principal | None:
        """The caller, or ``Unauthorized`` with its challenge."""
        try:
            principal = await self._principal(headers)
            if principal is None and (self.required or self.verifier is not None):
                raise Unauthorized()
            if self.required and principal is not None:
                missing = missing_scopes(principal.scopes, self.required, self.server.scope_implies)
                if missing:
                    raise InsufficientScope(self.required, "this server")
        except (Unauthorized, InsufficientScope) as error:
            raise self.challenged(error, headers, scope) from None
        return principal

    async def _principal(self, headers: dict[str, str]) -> Principal | None:
        hook = self.hook
        if hook is not None:
            named = await self._ask_hook(hook, headers)
            if named is not None:
                return named if isinstance(named, Principal) else Principal.named(named)
        if self.verifier is None:
            return None
        credentials = headers.get("authorization")
        if credentials is None:
            return None
        scheme, _, token = credentials.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None  # another scheme: as if no credentials came (RFC 6750 3.1)
        token = token.strip()
        if not token or " " in token:
            raise InvalidToken("Unauthorized: malformed bearer token")
        return await self.verifier.verify(token)

    @staticmethod
    async def _ask_hook(hook: Authenticator, headers: dict[str, str]) -> Principal | str | None:
        """The app's hook; a 401 it raises the old way becomes a challenge, and a hook that
        fails is the app's internal error, never the caller's (no detail leaks)."""
        try:
            return await hook(headers)
        except HttpRejection as refused:
            if refused.http_status == 401:
                raise Unauthorized(refused.message) from None
            raise
        except McpfleetError:
            raise
        except Exception:
            log.exception("the app's authenticate hook failed")
            raise InternalError() from None

    # -- what it may do ---------------------------------------------------------

    async def authorize(
        self,
        principal: Principal | None,
        method: str,
        params: dict[str, Any],
        headers: dict[str, str],
        scope: Any,
    ) -> None:
        """Scopes the request's target needs, then the caller's limits."""
        needed, what = self.target_scopes(method, params)
        if needed:
            granted = frozenset() if principal is None else principal.scopes
            missing = missing_scopes(granted, needed, self.server.scope_implies)
            if missing:
                error: Unauthorized | InsufficientScope = (
                    Unauthorized() if principal is None else InsufficientScope(needed, what)
                )
                raise self.challenged(error, headers, scope, needed)
        buckets = self._buckets(principal, method, params)
        if buckets:
            wait, index = await self.state.take_tokens(buckets)
            if wait > 0:
                raise RateLimited(buckets[index][3], wait)

    def target_scopes(self, method: str, params: dict[str, Any]) -> tuple[tuple[str, ...], str]:
        """The scopes a request's target (tool, resource, prompt) needs."""
        server = self.server
        if method == "tools/call":
            name = params.get("name")
            tool = server.tools.get(name) if isinstance(name, str) else None
            return (tool.scopes, f"tool {name}") if tool is not None else ((), "")
        if method == "prompts/get":
            name = params.get("name")
            prompt = server.prompts.get(name) if isinstance(name, str) else None
            return (prompt.scopes, f"prompt {name}") if prompt is not None else ((), "")
        if method == "resources/read":
            uri = params.get("uri")
            if not isinstance(uri, str):
                return (), ""
            resource = server.resources.get(uri)
            if resource is not None:
                return resource.scopes, f"resource {uri}"
            for template in server.templates:
                if template.scopes and template.match(uri) is not None:
                    return template.scopes, f"resource {uri}"
        return (), ""

    def _buckets(
        self, principal: Principal | None, method: str, params: dict[str, Any]
    ) -> list[Bucket]:
        buckets: list[Bucket] = []
        prefix = None
        if self.rate is not None:
            prefix = _bucket_prefix(principal)
            buckets.append(
                (
                    prefix + ":*",
                    self.rate.count,
                    self.rate.per_second,
                    f"{self.rate.text} per caller",
                )
            )
        if method == "tools/call":
            name = params.get("name")
            tool = self.server.tools.get(name) if isinstance(name, str) else None
            if tool is not None and tool.rate is not None:
                prefix = prefix or _bucket_prefix(principal)
                buckets.append(
                    (
                        f"{prefix}:t:{name}",
                        tool.rate.count,
                        tool.rate.per_second,
                        f"{tool.rate.text} per caller for tool {name}",
                    )
                )
        return buckets

    # -- challenges and metadata ----------------------------------------------------

    def challenged(
        self,
        error: Unauthorized | InsufficientScope,
        headers: dict[str, str],
        scope: Any,
        needed: Sequence[str] = (),
    ) -> Unauthorized | InsufficientScope:
        """The error with its ``WWW-Authenticate`` challenge."""
        scopes = self.advertised(
            needed or (error.scopes if isinstance(error, InsufficientScope) else self.required)
        )
        metadata = self.metadata_url(headers, scope) if self.oauth else None
        description = error.message if error.oauth_error else None
        error.headers = {
            "www-authenticate": challenge(
                resource_metadata=metadata,
                error=error.oauth_error,
                scopes=scopes,
                description=description,
            )
        }
        return error

    def advertised(self, scopes: Iterable[str]) -> list[str]:
        """Scopes as a client must ask the authorization server for them: with the prefix
        the issuer puts on them (Cognito names custom scopes ``identifier/scope``)."""
        prefix = self.config.auth_scope_prefix or ""
        return [prefix + scope for scope in scopes]

    def base_url(self, headers: dict[str, str], scope: Any) -> str:
        """Where clients reach this server: ``PUBLIC_URL``, else the request's own origin
        (``X-Forwarded-*`` only from a trusted proxy)."""
        if self.config.public_url is not None:
            return self.config.public_url
        scheme = str(scope.get("scheme", "http"))
        host = headers.get("host", f"{self.config.host}:{self.config.port}")
        if self._from_trusted_proxy(scope):
            scheme = headers.get("x-forwarded-proto", scheme).split(",")[0].strip() or scheme
            host = headers.get("x-forwarded-host", host).split(",")[0].strip() or host
        return f"{scheme}://{host}"

    def _from_trusted_proxy(self, scope: Any) -> bool:
        if self._trust_all:
            return True
        client = scope.get("client")
        if not self._trusted or not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for network in self._trusted)

    def metadata_url(self, headers: dict[str, str], scope: Any) -> str:
        return self.base_url(headers, scope) + WELL_KNOWN_RESOURCE + self.config.path

    def metadata(self, headers: dict[str, str], scope: Any) -> dict[str, Any]:
        """The RFC 9728 protected resource metadata document."""
        servers = self.config.auth_servers or (
            (self.config.auth_issuer,) if self.config.auth_issuer else ()
        )
        document: dict[str, Any] = {
            "resource": self.base_url(headers, scope) + self.config.path,
            "authorization_servers": list(servers),
            "bearer_methods_supported": ["header"],
            "resource_name": self.server.name,
        }
        scopes = self.advertised(dict.fromkeys((*self.required, *self.server.declared_scopes())))
        if scopes:
            document["scopes_supported"] = scopes
        return document
