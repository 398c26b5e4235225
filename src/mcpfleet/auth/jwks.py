"""An issuer's signing keys: found, fetched, parsed and cached, with bounded effort.

The parsing half is sans-IO: :func:`parse_jwks` turns a JWKS document into
:class:`SigningKey` values, and :func:`discovery_urls` lists where an issuer's
metadata may live. :class:`JwksCache` is the thin async driver around them:

* keys are held by ``kid``; a failed fetch keeps the last good keys;
* a ``kid`` it does not know triggers at most one refetch per cool-down, and
  concurrent callers share one in-flight fetch, so a flood of forged tokens with
  random ``kid`` values costs the issuer at most one request per cool-down;
* a background task refreshes the keys every ``refresh_seconds``;
* if no keys were ever fetched and a fetch fails, callers get an HTTP 503
  (:class:`~mcpfleet.errors.HttpRejection`): the client's token may be fine.

Every fetch is bounded: a timeout, a response-size cap, a cap on the number of
keys. httpx and PyJWT exceptions are translated here, where they enter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt as pyjwt

from mcpfleet.errors import HttpRejection, McpfleetError

log = logging.getLogger("mcpfleet.auth")

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_KEYS = 100
COLD_RETRY_SECONDS = 5.0

# The JWS algorithms a key of each type (and, for EC, curve) may sign with.
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}


class FetchFailed(McpfleetError):
    """A key or metadata fetch that did not yield a usable document (internal)."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One public key from a JWKS, with the algorithms it may verify."""

    kid: str | None
    key: Any  # a cryptography public key, as PyJWT's algorithms take it
    algorithms: frozenset[str]


def key_algorithms(jwk: Mapping[str, Any]) -> frozenset[str]:
    """The algorithms a JWK may verify: its declared ``alg``, else all its type allows."""
    kty = jwk.get("kty")
    if kty == "RSA":
        allowed = RSA_ALGORITHMS
    elif kty == "EC":
        curve = EC_ALGORITHMS.get(str(jwk.get("crv")))
        allowed = frozenset({curve} if curve else ())
    elif kty == "OKP":
        allowed = frozenset({"EdDSA"})
    else:
        allowed = frozenset()
    declared = jwk.get("alg")
    if declared is None:
        return allowed
    return frozenset({declared}) & allowed


def parse_key(jwk: Any, algorithms: frozenset[str]) -> SigningKey | None:
    """A signing key from one JWK, or ``None`` for a key that cannot verify our tokens."""
    if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
        return None
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None
    usable = key_algorithms(jwk) & algorithms
    if not usable:
        return None
    try:
        parsed = pyjwt.PyJWK(jwk, algorithm=min(usable))
    except (pyjwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    return SigningKey(kid=kid, key=parsed.key, algorithms=usable)


def parse_jwks(document: bytes, algorithms: frozenset[str]) -> dict[str | None, SigningKey]:
    """The usable keys of a JWKS document by ``kid`` (the first of a repeated ``kid``
    wins); raises :class:`FetchFailed` if it is not a JWKS or holds too many keys."""
    data = load_json_object(document)
    keys = data.get("keys")
    if not isinstance(keys, list):
        raise FetchFailed("the document has no 'keys' list")
    if len(keys) > MAX_KEYS:
        raise FetchFailed(f"the document has more than {MAX_KEYS} keys")
    found: dict[str | None, SigningKey] = {}
    for jwk in keys:
        key = parse_key(jwk, algorithms)
        if key is not None:
            found.setdefault(key.kid, key)
    return found


def load_json_object(document: bytes) -> dict[str, Any]:
    try:
        data = json.loads(document)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FetchFailed("the document is not JSON") from exc
    if not isinstance(data, dict):
        raise FetchFailed("the document is not a JSON object")
    return data


def discovery_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be, in order: OpenID Connect discovery, then
    RFC 8414 with the well-known path inserted, then RFC 8414 appended."""
    base = issuer.rstrip("/")
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    urls = [
        f"{base}/.well-known/openid-configuration",
        f"{origin}/.well-known/oauth-authorization-server{parts.path}",
        f"{base}/.well-known/oauth-authorization-server",
    ]
    return list(dict.fromkeys(urls))


def jwks_uri_from_metadata(document: bytes, issuer: str) -> str:
    """The ``jwks_uri`` of an issuer's metadata, which must name that same issuer."""
    data = load_json_object(document)
    if data.get("issuer") not in (issuer, issuer.rstrip("/")):
        raise FetchFailed("the metadata names another issuer")
    uri = data.get("jwks_uri")
    if not isinstance(uri, str) or urlsplit(uri).scheme not in ("https", "http"):
        raise FetchFailed("the metadata has no usable jwks_uri")
    return uri


@contextlib.contextmanager
def map_fetch_errors() -> Iterator[None]:
    """Translate httpx's exceptions into :class:`FetchFailed`."""
    try:
        yield
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise FetchFailed(type(exc).__name__) from exc


async def fetch_document(client: httpx.AsyncClient, url: str) -> bytes:
    """The body of a 200 response from ``url``, at most :data:`MAX_DOCUMENT_BYTES`."""
    with map_fetch_errors():
        async with client.stream("GET", url, headers={"accept": "application/json"}) as resp:
            if resp.status_code != 200:
                raise FetchFailed(f"HTTP {resp.status_code}")
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise FetchFailed("the document is too large")
    return bytes(body)


class JwksCache:
    """The signing keys of one issuer, fetched from ``jwks_url`` or discovered."""

    def __init__(
        self,
        *,
        issuer: str,
        client: httpx.AsyncClient,
        algorithms: Iterable[str],
        jwks_url: str | None = None,
        cooldown_seconds: float = 30.0,
        refresh_seconds: float = 900.0,
        clock: Callable[[], float],
    ) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.fetches = 0  # attempts so far, for tests and metrics
        self._client = client
        self._algorithms = frozenset(algorithms)
        self._cooldown = cooldown_seconds
        self._refresh = refresh_seconds
        self._clock = clock
        self._keys: dict[str | None, SigningKey] = {}
        self._ever_fetched = False
        self._last_attempt: float | None = None
        self._inflight: asyncio.Task[bool] | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def get_key(self, kid: str | None) -> SigningKey | None:
        """The key named ``kid`` (a key-less ``kid`` matches a lone key), refetching at
        most once per cool-down for an unknown one; ``None`` if there is no such key."""
        if not self._ever_fetched:
            await self._fetch_first()
        found = self._lookup(kid)
        if found is None and self._may_refetch():
            await self._refetch()
            found = self._lookup(kid)
        return found

    def start_refresh(self) -> None:
        """Start the background refresh, once, in the running event loop."""
        if self._refresher is None and self._refresh > 0:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def aclose(self) -> None:
        """Stop the background refresh and any fetch in flight."""
        for task in (self._refresher, self._inflight):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._refresher = self._inflight = None

    def _lookup(self, kid: str | None) -> SigningKey | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def _may_refetch(self) -> bool:
        if self._inflight is not None and not self._inflight.done():
            return True  # joining the fetch in flight costs the issuer nothing
        return self._last_attempt is None or self._clock() - self._last_attempt >= self._cooldown

    async def _fetch_first(self) -> None:
        recent = self._last_attempt is not None and (
            self._clock() - self._last_attempt < min(self._cooldown, COLD_RETRY_SECONDS)
        )
        joinable = self._inflight is not None and not self._inflight.done()
        if (joinable or not recent) and await self._refetch():
            return
        raise HttpRejection(
            503,
            "Service Unavailable: the token issuer's signing keys cannot be fetched",
            headers={"retry-after": "5"},
        )

    async def _refetch(self) -> bool:
        """Fetch the keys, or join the fetch in flight; whether it succeeded."""
        if self._inflight is None or self._inflight.done():
            self._last_attempt = self._clock()
            self._inflight = asyncio.get_running_loop().create_task(self._fetch_and_store())
        return await asyncio.shield(self._inflight)

    async def _fetch_and_store(self) -> bool:
        self.fetches += 1
        try:
            url = self.jwks_url or await self._discover()
            keys = parse_jwks(await fetch_document(self._client, url), self._algorithms)
        except FetchFailed as exc:
            log.warning("cannot fetch the signing keys of %s: %s", self.issuer, exc)
            return False
        self.jwks_url = url
        self._keys = keys
        self._ever_fetched = True
        return True

    async def _discover(self) -> str:
        reasons = []
        for url in discovery_urls(self.issuer):
            try:
                return jwks_uri_from_metadata(await fetch_document(self._client, url), self.issuer)
            except FetchFailed as exc:
                reasons.append(f"{url}: {exc}")
        raise FetchFailed("no metadata found (" + "; ".join(reasons) + ")")

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            await self._refetch()
