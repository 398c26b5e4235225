"""Bearer-token verification: a JWT access token from an OAuth 2.1 / OpenID Connect
issuer becomes a :class:`~mcpfleet.auth.principal.Principal`, or an ``InvalidToken``.

The claim rules are sans-IO functions (:func:`check_header`, :func:`check_claims`,
:func:`principal_from_claims`) that take values and a time and return or raise;
:class:`JwtVerifier` drives them with keys from :class:`~mcpfleet.auth.jwks.JwksCache`
and keeps a bounded cache of verified tokens, so a repeated token costs a dictionary
lookup and a comparison (see :meth:`JwtVerifier.cached`).

Presets: ``oidc`` wants ``aud`` (a string or a list) to name one of the audiences;
``cognito`` follows Amazon Cognito access tokens, which carry no ``aud``:
``token_use`` must be ``access`` and ``client_id`` one of the audiences.

Every refusal is an :class:`~mcpfleet.errors.InvalidToken` whose message names the
reason and never the token; PyJWT's and cryptography's exceptions stop here.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import httpx
import jwt as pyjwt

from mcpfleet.auth.jwks import JwksCache
from mcpfleet.auth.principal import Principal
from mcpfleet.errors import ConfigError, InvalidToken

PRESETS = ("oidc", "cognito")
MAX_TOKEN_CHARS = 16 * 1024
# The verified-token cache is keyed by a token's last characters (its signature's end),
# and an entry serves only the token it holds, compared whole: hashing a short key costs
# a fraction of hashing a whole token (about 1 KB, new with every request).
CACHE_KEY_CHARS = 32
# A compact JWS: three base64url segments without padding (RFC 7515), the signature's
# possibly empty (refused later by its algorithm). Anything else never reaches the
# decoder, which would skip characters outside the alphabet: one token could then be
# sent in many spellings, each verifying.
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
NEVER_ALLOWED = ("none", "HS256", "HS384", "HS512")

# What PyJWT checks: the signature only; the claims are checked below, on our clock.
SIGNATURE_ONLY: Any = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "require": [],
}


def check_header(header: Mapping[str, Any], algorithms: frozenset[str]) -> str | None:
    """The ``kid`` of a token header whose ``alg`` is allowed; ``InvalidToken`` if not."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise InvalidToken("Unauthorized: algorithm not allowed")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidToken("Unauthorized: malformed token")
    return kid


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"Unauthorized: malformed token ('{name}' is not a number)")
    return float(value)


def check_times(claims: Mapping[str, Any], now: float, leeway: float) -> float:
    """The token's ``exp``, if ``exp``, ``nbf`` and ``iat`` admit ``now`` (with leeway)."""
    exp = _number(claims, "exp")
    if exp is None:
        raise InvalidToken("Unauthorized: token has no expiry")
    if now >= exp + leeway:
        raise InvalidToken("Unauthorized: token expired")
    nbf = _number(claims, "nbf")
    iat = _number(claims, "iat")
    if (nbf is not None and nbf > now + leeway) or (iat is not None and iat > now + leeway):
        raise InvalidToken("Unauthorized: token not yet valid")
    return exp


def check_audience(claims: Mapping[str, Any], audiences: frozenset[str], preset: str) -> None:
    """The audience rule of the preset: ``aud`` for OIDC, ``client_id`` for Cognito."""
    if preset == "cognito":
        if claims.get("token_use") != "access":
            raise InvalidToken("Unauthorized: not an access token")
        if claims.get("client_id") not in audiences:
            raise InvalidToken("Unauthorized: wrong audience")
        return
    aud = claims.get("aud")
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and a in audiences for a in named):
        raise InvalidToken("Unauthorized: wrong audience")


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audiences: frozenset[str],
    preset: str,
    now: float,
    leeway: float,
) -> float:
    """Every claim rule, in the order a client can act on; returns ``exp``."""
    if claims.get("iss") != issuer:
        raise InvalidToken("Unauthorized: wrong issuer")
    exp = check_times(claims, now, leeway)
    check_audience(claims, audiences, preset)
    for name in ("sub", "client_id", "azp"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidToken(f"Unauthorized: malformed token ('{name}' is not a string)")
    return exp


def granted_scopes(claims: Mapping[str, Any], prefix: str | None) -> frozenset[str]:
    """Scopes from ``scope`` (space-separated) or ``scp`` (a list or a string), with
    ``prefix`` taken off those that start with it."""
    raw = claims.get("scope", claims.get("scp"))
    if isinstance(raw, str):
        names = raw.split()
    elif isinstance(raw, list):
        names = [s for s in raw if isinstance(s, str)]
    else:
        names = []
    if prefix:
        names = [n[len(prefix) :] if n.startswith(prefix) and n != prefix else n for n in names]
    return frozenset(names)


def principal_from_claims(claims: Mapping[str, Any], scope_prefix: str | None) -> Principal:
    """The caller named by verified claims: ``iss|sub``, or ``iss|client id`` without ``sub``."""
    issuer = str(claims["iss"])
    subject = claims.get("sub")
    client_id = claims.get("client_id", claims.get("azp"))
    who = subject or client_id
    if not who:
        raise InvalidToken("Unauthorized: token names no subject")
    return Principal(
        id=f"{issuer}|{who}",
        scopes=granted_scopes(claims, scope_prefix),
        issuer=issuer,
        subject=subject,
        client_id=client_id,
        claims=MappingProxyType(dict(claims)),
        expires_at=float(claims["exp"]),
    )


class JwtVerifier:
    """Verifies JWT access tokens of one issuer for one resource server."""

    def __init__(
        self,
        *,
        issuer: str,
        audiences: Sequence[str],
        jwks_url: str | None = None,
        algorithms: Sequence[str] = ("RS256", "ES256", "PS256"),
        leeway_seconds: float = 30.0,
        preset: str = "oidc",
        scope_prefix: str | None = None,
        jwks_cooldown_seconds: float = 30.0,
        jwks_refresh_seconds: float = 900.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
        http_timeout: float = 5.0,
    ) -> None:
        refused = sorted(a for a in algorithms if a in NEVER_ALLOWED or a.startswith("HS"))
        if refused:
            raise ConfigError(f"JWT algorithms not allowed for bearer tokens: {refused}")
        if preset not in PRESETS:
            raise ConfigError(f"JWT preset must be one of {PRESETS}, not {preset!r}")
        if not audiences:
            raise ConfigError("a JWT verifier needs at least one audience")
        self.issuer = issuer
        self.audiences = frozenset(audiences)
        self.algorithms = frozenset(algorithms)
        self.preset = preset
        self.scope_prefix = scope_prefix
        self.leeway = leeway_seconds
        self._clock = clock
        self._cache_size = max(0, cache_size)
        # Verified tokens (only those: bounded in length and number), by the end of their
        # text: (token, principal, the time from which the token no longer serves).
        self._verified: OrderedDict[str, tuple[str, Principal, float]] = OrderedDict()
        self._client = httpx.AsyncClient(timeout=http_timeout, follow_redirects=False)
        self.keys = JwksCache(
            issuer=issuer,
            client=self._client,
            algorithms=self.algorithms,
            jwks_url=jwks_url,
            cooldown_seconds=jwks_cooldown_seconds,
            refresh_seconds=jwks_refresh_seconds,
            clock=clock,
        )

    def cached(self, token: str) -> Principal | None:
        """The principal of a token that verified before and has not expired, without
        awaiting anything; ``None`` when ``verify`` must decide.

        The entry is found by the token's last characters and serves only when the whole
        token is the one it holds: a token that shares an end with a verified one is
        verified in full, never taken for it."""
        entry = self._verified.get(token[-CACHE_KEY_CHARS:])
        if entry is None or entry[0] != token or self._clock() >= entry[2]:
            return None
        return entry[1]

    async def verify(self, token: str) -> Principal:
        """The principal a bearer token names; ``InvalidToken`` saying why not."""
        key = token[-CACHE_KEY_CHARS:]
        entry = self._verified.get(key)
        if entry is not None and entry[0] == token:
            if self._clock() >= entry[2]:
                del self._verified[key]
                raise InvalidToken("Unauthorized: token expired")
            return entry[1]
        principal = await self._verify_uncached(token)
        self._remember(token, principal)
        return principal

    async def aclose(self) -> None:
        """Stop the key refresh and close the HTTP client."""
        await self.keys.aclose()
        await self._client.aclose()

    async def _verify_uncached(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_CHARS or COMPACT_JWS.fullmatch(token) is None:
            raise InvalidToken("Unauthorized: malformed token")
        try:
            header = pyjwt.get_unverified_header(token)
        except (pyjwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken("Unauthorized: malformed token") from exc
        kid = check_header(header, self.algorithms)
        self.keys.start_refresh()
        key = await self.keys.get_key(kid)
        if key is None:
            raise InvalidToken("Unauthorized: unknown signing key")
        if header["alg"] not in key.algorithms:
            raise InvalidToken("Unauthorized: algorithm not allowed for this key")
        claims = self._decode(token, key.key, sorted(key.algorithms & self.algorithms))
        check_claims(
            claims,
            issuer=self.issuer,
            audiences=self.audiences,
            preset=self.preset,
            now=self._clock(),
            leeway=self.leeway,
        )
        return principal_from_claims(claims, self.scope_prefix)

    @staticmethod
    def _decode(token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = pyjwt.decode(
                token, key, algorithms=algorithms, options=SIGNATURE_ONLY
            )
        except pyjwt.InvalidSignatureError as exc:
            raise InvalidToken("Unauthorized: signature does not verify") from exc
        except pyjwt.InvalidAlgorithmError as exc:
            raise InvalidToken("Unauthorized: algorithm not allowed") from exc
        except (pyjwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken("Unauthorized: malformed token") from exc
        return claims

    def _remember(self, token: str, principal: Principal) -> None:
        if self._cache_size == 0:
            return
        key = token[-CACHE_KEY_CHARS:]
        self._verified.pop(key, None)  # a token with the same end gives way
        while len(self._verified) >= self._cache_size:
            self._verified.popitem(last=False)
        expires = principal.expires_at or 0.0  # always set: 'exp' is required
        self._verified[key] = (token, principal, expires + self.leeway)
