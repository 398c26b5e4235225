"""A token issuer for the peers that verify bearer tokens, on loopback only.

``token_issuer()`` generates an RSA key, serves its JWKS from a small HTTP server
on 127.0.0.1 (a thread of this process) and mints one RS256 access token for it
(``iss``, ``aud``, ``sub``, ``scope``, ``iat``, ``exp`` an hour ahead; ``kid`` in
the header). The server under test gets the ``AUTH_*`` settings that point at it
(``Issuer.server_env``); the load generator sends the token on every request
(``Issuer.headers``).

One token for the whole run, as a real client uses its access token until it
refreshes it: the server verifies the signature once, and every later call is
served from its cache of verified tokens. That cache is what a run measures.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

HOST = "127.0.0.1"
JWKS_PATH = "/jwks.json"
AUDIENCE = "mcpfleet-bench"
SUBJECT = "bench-client"
SCOPE = "mcp:tools"
KEY_ID = "bench-key-1"
ALGORITHM = "RS256"
TOKEN_LIFETIME = 3600.0  # seconds; no benchmark run comes close


@dataclass(slots=True)
class Issuer:
    """A running issuer: its identifier, the audience, where its keys are, one token."""

    url: str
    audience: str
    jwks_url: str
    token: str
    fetches: list[float] = field(default_factory=list)  # when its JWKS was served

    def server_env(self) -> dict[str, str]:
        """The settings that make ``mcpfleet serve`` verify this issuer's tokens."""
        return {
            "AUTH_ISSUER": self.url,
            "AUTH_AUDIENCE": self.audience,
            "AUTH_JWKS_URL": self.jwks_url,
        }

    def headers(self) -> list[tuple[str, str]]:
        """What a client sends with every request."""
        return [("Authorization", f"Bearer {self.token}")]


def jwks_document(public_key: rsa.RSAPublicKey, kid: str) -> bytes:
    """A JWKS holding one RSA signing key."""
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True)
    jwk.update(kid=kid, use="sig", alg=ALGORITHM)
    return json.dumps({"keys": [jwk]}).encode()


def mint_token(
    private_key: rsa.RSAPrivateKey, *, issuer: str, audience: str, now: float, kid: str
) -> str:
    """One RS256 access token, valid for ``TOKEN_LIFETIME`` seconds from ``now``."""
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": SUBJECT,
        "scope": SCOPE,
        "iat": int(now),
        "exp": int(now + TOKEN_LIFETIME),
    }
    return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"kid": kid})


def _handler(document: bytes, fetches: list[float]) -> type[http.server.BaseHTTPRequestHandler]:
    class JwksHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != JWKS_PATH:
                self.send_error(404)
                return
            fetches.append(time.time())
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a benchmark's output is its tables."""

    return JwksHandler


@contextlib.contextmanager
def token_issuer() -> Iterator[Issuer]:
    """A fresh key, its JWKS served on 127.0.0.1 (a free port), and a token; stopped after."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fetches: list[float] = []
    document = jwks_document(private_key.public_key(), KEY_ID)
    httpd = http.server.ThreadingHTTPServer((HOST, 0), _handler(document, fetches))
    httpd.daemon_threads = True
    origin = f"http://{HOST}:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="bench-jwks", daemon=True)
    thread.start()
    try:
        token = mint_token(
            private_key, issuer=origin, audience=AUDIENCE, now=time.time(), kid=KEY_ID
        )
        yield Issuer(origin, AUDIENCE, origin + JWKS_PATH, token, fetches)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5.0)
