"""Tokens a verifier must refuse, crafted by hand: no I/O, values in, a token out.

PyJWT refuses to make most of these (an HMAC keyed with a public key, ``alg: none``),
which is the point: an attacker is not so polite, so these are built from bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import jwt as pyjwt


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def signed(claims: dict[str, Any], header: dict[str, Any], private_key: Any, alg: str) -> str:
    """A token signed properly with ``private_key``; ``header`` adds to or overrides the
    JOSE header (``kid`` included)."""
    extra = {k: v for k, v in header.items() if k != "alg"}
    return pyjwt.encode(claims, private_key, algorithm=alg, headers=extra)


def unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    """An ``alg: none`` token with an empty signature."""
    return f"{_segment({**header, 'alg': 'none'})}.{_segment(claims)}."


def hmac_signed(claims: dict[str, Any], header: dict[str, Any], secret: bytes) -> str:
    """An HS256 token keyed with ``secret`` (the issuer's public key PEM, in the attack)."""
    signing_input = f"{_segment({**header, 'alg': 'HS256'})}.{_segment(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def with_garbage_signature(token: str) -> str:
    """The same header and claims under random bytes of the same length as the signature."""
    signing_input, _, signature = token.rpartition(".")
    size = len(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    return f"{signing_input}.{b64url(secrets.token_bytes(size))}"
