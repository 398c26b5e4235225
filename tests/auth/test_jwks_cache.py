"""The signing-key cache against a real issuer that rotates keys, goes down, and counts
how often its JWKS is fetched; and the sans-IO key parsing and discovery rules."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mcpfleet.auth.jwks import FetchFailed, discovery_urls, parse_jwks
from mcpfleet.auth.jwt import JwtVerifier
from mcpfleet.errors import HttpRejection, InvalidToken
from tests.auth.conftest import RESOURCE, Clock
from tests.auth_support.oauth_server import OAuthServer

pytestmark = pytest.mark.anyio

MakeVerifier = Callable[..., JwtVerifier]
RSA_ALGS = frozenset({"RS256", "PS256", "ES256"})


@pytest.fixture
def jwks_up(auth_server: OAuthServer) -> Iterator[OAuthServer]:
    """The auth server, with its JWKS served again after the test whatever happened."""
    try:
        yield auth_server
    finally:
        auth_server.set_jwks_up(True)


def with_kid(token: str, kid: str) -> str:
    """The token under a header naming ``kid`` (the signature no longer matches: a forgery)."""
    header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return encoded + token[token.index(".") :]


async def test_rotated_key_is_picked_up_without_restart(
    auth_server: OAuthServer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    """After the issuer rotates its key, new tokens verify once the cool-down has passed."""
    verifier = make_verifier(clock=clock, jwks_cooldown_seconds=30)
    assert await verifier.verify(auth_server.mint({"aud": RESOURCE}))
    new_kid = auth_server.rotate_key(keep_old=True)
    fresh = auth_server.mint({"aud": RESOURCE})
    clock.advance(31)
    principal = await verifier.verify(fresh)
    assert principal.subject == "test-user"
    assert new_kid in {k for k in auth_server.kids}


async def test_known_keys_keep_verifying_while_the_jwks_is_down(
    jwks_up: OAuthServer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    """With the JWKS endpoint answering 503, tokens signed by known keys still verify."""
    verifier = make_verifier(clock=clock)
    assert await verifier.verify(jwks_up.mint({"aud": RESOURCE}))
    jwks_up.set_jwks_up(False)
    clock.advance(60)  # past the cool-down: an unknown kid makes the verifier try again
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(with_kid(jwks_up.mint({"aud": RESOURCE}), "rotated-away"))
    for _ in range(3):
        assert await verifier.verify(jwks_up.mint({"aud": RESOURCE, "jti": secrets.token_hex()}))


async def test_no_keys_ever_is_a_503_not_a_401(
    jwks_up: OAuthServer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    """If the keys were never fetched and cannot be, the caller gets 503 with Retry-After."""
    token = jwks_up.mint({"aud": RESOURCE})
    jwks_up.set_jwks_up(False)
    verifier = make_verifier(clock=clock)
    for _ in range(2):
        with pytest.raises(HttpRejection) as refused:
            await verifier.verify(token)
        assert refused.value.http_status == 503
        assert refused.value.headers == {"retry-after": "5"}
        assert token not in refused.value.message
    jwks_up.set_jwks_up(True)
    clock.advance(5)
    assert await verifier.verify(token)


async def test_unknown_kid_flood_makes_one_fetch_per_cooldown(
    auth_server: OAuthServer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    """1,000 concurrent tokens with random kids cost the issuer at most one JWKS fetch per
    cool-down."""
    verifier = make_verifier(clock=clock, jwks_cooldown_seconds=30)
    good = auth_server.mint({"aud": RESOURCE})
    await verifier.verify(good)
    auth_server.reset_jwks_fetches()

    async def refused(token: str) -> str:
        with pytest.raises(InvalidToken) as caught:
            await verifier.verify(token)
        return caught.value.message

    for _period in range(2):
        clock.advance(31)
        forged = [with_kid(good, secrets.token_hex(8)) for _ in range(1000)]
        messages = await asyncio.gather(*(refused(t) for t in forged))
        assert {m for m in messages} == {"Unauthorized: unknown signing key"}
        forged = [with_kid(good, secrets.token_hex(8)) for _ in range(1000)]
        await asyncio.gather(*(refused(t) for t in forged))  # same period: no fetch at all
    assert auth_server.jwks_fetches == 2  # one per cool-down period, however many tokens


async def test_keys_are_refreshed_in_the_background(
    auth_server: OAuthServer, make_verifier: MakeVerifier
) -> None:
    """The key set is refetched every ``jwks_refresh_seconds``, and no more after aclose."""
    verifier = make_verifier(jwks_refresh_seconds=0.2, jwks_cooldown_seconds=3600)
    assert await verifier.verify(auth_server.mint({"aud": RESOURCE}))
    auth_server.rotate_key(keep_old=False)
    fresh = auth_server.mint({"aud": RESOURCE})
    await asyncio.sleep(0.6)
    assert await verifier.verify(fresh)  # no on-demand fetch: the cool-down is an hour
    await verifier.aclose()
    auth_server.reset_jwks_fetches()
    await asyncio.sleep(0.5)
    assert auth_server.jwks_fetches == 0


def key_document(count: int) -> bytes:
    """A JWKS of ``count`` copies of one RSA public key under distinct kids."""
    rsa = {
        "kty": "RSA",
        "e": "AQAB",
        "n": base64.urlsafe_b64encode(secrets.token_bytes(256)).rstrip(b"=").decode(),
    }
    return json.dumps({"keys": [{**rsa, "kid": f"k{i}"} for i in range(count)]}).encode()


def test_parse_jwks_keeps_only_keys_that_can_verify() -> None:
    """HMAC secrets, encryption keys, and keys whose ``alg`` is not allowed are skipped."""
    usable = json.loads(key_document(1))["keys"][0]
    document = {
        "keys": [
            usable,
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {**usable, "kid": "enc", "use": "enc"},
            {**usable, "kid": "rs512", "alg": "RS512"},
            {**usable, "kid": 7},
            "not a key",
            {**usable, "kid": "k0", "alg": "PS256"},  # a repeated kid: the first one wins
        ]
    }
    keys = parse_jwks(json.dumps(document).encode(), RSA_ALGS)
    assert list(keys) == ["k0"]
    assert keys["k0"].algorithms == {"RS256", "PS256"}


@pytest.mark.parametrize(
    "document", [b"not json", b"[]", b'{"keys": {}}', key_document(101)], ids=str
)
def test_parse_jwks_refuses_what_is_not_a_small_jwks(document: bytes) -> None:
    """A document that is not JSON, has no key list, or holds over 100 keys is refused."""
    with pytest.raises(FetchFailed):
        parse_jwks(document, RSA_ALGS)


@pytest.mark.parametrize(
    ("issuer", "urls"),
    [
        (
            "https://as.example",
            [
                "https://as.example/.well-known/openid-configuration",
                "https://as.example/.well-known/oauth-authorization-server",
            ],
        ),
        (
            "https://as.example/tenant/",
            [
                "https://as.example/tenant/.well-known/openid-configuration",
                "https://as.example/.well-known/oauth-authorization-server/tenant",
                "https://as.example/tenant/.well-known/oauth-authorization-server",
            ],
        ),
    ],
)
def test_discovery_urls(issuer: str, urls: list[str]) -> None:
    """OIDC discovery comes first, then RFC 8414's inserted form, then its appended form."""
    assert discovery_urls(issuer) == urls


@pytest.fixture(scope="module")
def odd_issuer() -> Iterator[str]:
    """A plain HTTP server in a thread whose paths answer with oversized or odd bodies."""
    bodies = {
        "/huge": b'{"keys": [' + b" " * (2 * 1024 * 1024) + b"]}",
        "/many": key_document(500),
        "/redirect": b"",
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies.get(self.path.split("?")[0], b"")
            self.send_response(302 if self.path == "/redirect" else 200)
            self.send_header("location", "/many")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("path", ["/huge", "/many", "/redirect", "/nothing-here"])
async def test_unusable_jwks_responses_are_a_503(
    auth_server: OAuthServer, odd_issuer: str, path: str
) -> None:
    """An oversized body, too many keys, a redirect or an empty body yield no keys: 503."""
    verifier = JwtVerifier(
        issuer=auth_server.issuer, audiences=[RESOURCE], jwks_url=odd_issuer + path
    )
    try:
        with pytest.raises(HttpRejection) as refused:
            await verifier.verify(auth_server.mint({"aud": RESOURCE}))
        assert refused.value.http_status == 503
    finally:
        await verifier.aclose()
