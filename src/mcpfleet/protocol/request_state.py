"""Sealing of MRTR ``requestState``: tamper-proof, expiring, bound to its request.

A sealed state is ``v1.<key id>.<payload>.<tag>``: the payload is base64url JSON
holding the caller's data, an expiry and a digest of the request it belongs to;
the tag is HMAC-SHA256 over everything before it with the named key. Keys come
from configuration as a ring: the first key signs, every key verifies, so keys
rotate without breaking state already handed to clients, and any process with
the same ring verifies what another one sealed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from mcpfleet.errors import ConfigError, RequestStateInvalid

_VERSION = "v1"
MIN_KEY_BYTES = 32


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise RequestStateInvalid("malformed requestState") from None


@dataclass(frozen=True, slots=True)
class StateKey:
    key_id: str
    secret: bytes


class KeyRing:
    """Keys for sealing request state: the first signs, all verify."""

    def __init__(self, keys: Sequence[StateKey]) -> None:
        if not keys:
            raise ConfigError("REQUEST_STATE_KEYS: at least one key is needed")
        if len({key.key_id for key in keys}) != len(keys):
            raise ConfigError("REQUEST_STATE_KEYS: key ids must be unique")
        for key in keys:
            if len(key.secret) < MIN_KEY_BYTES:
                raise ConfigError(
                    f"REQUEST_STATE_KEYS: key {key.key_id!r} is shorter than {MIN_KEY_BYTES} bytes"
                )
            if not key.key_id or "." in key.key_id:
                raise ConfigError("REQUEST_STATE_KEYS: key ids are non-empty, without dots")
        self._keys = {key.key_id: key.secret for key in keys}
        self.signing = keys[0]

    @classmethod
    def generate(cls) -> KeyRing:
        """A ring with one random key: right for one process, wrong for a fleet."""
        return cls([StateKey("local", secrets.token_bytes(MIN_KEY_BYTES))])

    @classmethod
    def from_text(cls, text: str) -> KeyRing:
        """Parse ``id1:base64secret,id2:base64secret`` (the first key signs)."""
        keys = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise ConfigError("REQUEST_STATE_KEYS: each key is written id:base64secret")
            try:
                secret = base64.b64decode(encoded, validate=True)
            except ValueError:
                raise ConfigError(
                    f"REQUEST_STATE_KEYS: key {key_id!r} is not valid base64"
                ) from None
            keys.append(StateKey(key_id, secret))
        return cls(keys)

    def secret(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)


def request_binding(method: str, name: str | None, principal: str | None) -> str:
    """The digest a state is bound to: the method, its target and who asked."""
    material = orjson.dumps([method, name, principal])
    return _b64encode(hashlib.sha256(material).digest()[:16])


def seal_request_state(
    data: Any, *, ring: KeyRing, binding: str, now: float, ttl_seconds: float
) -> str:
    """Seal ``data`` so that only this request, before it expires, can open it."""
    payload = _b64encode(orjson.dumps({"d": data, "b": binding, "e": int(now + ttl_seconds)}))
    head = f"{_VERSION}.{ring.signing.key_id}.{payload}"
    tag = hmac.new(ring.signing.secret, head.encode(), hashlib.sha256).digest()
    return f"{head}.{_b64encode(tag)}"


def open_request_state(sealed: Any, *, ring: KeyRing, binding: str, now: float) -> Any:
    """Verify and unpack a sealed state; raise ``RequestStateInvalid`` otherwise."""
    if not isinstance(sealed, str) or len(sealed) > 1_000_000:
        raise RequestStateInvalid("requestState must be a string")
    parts = sealed.split(".")
    if len(parts) != 4 or parts[0] != _VERSION:
        raise RequestStateInvalid("malformed requestState")
    _, key_id, payload, tag = parts
    secret = ring.secret(key_id)
    if secret is None:
        raise RequestStateInvalid("requestState was sealed with an unknown key")
    expected = hmac.new(secret, f"{_VERSION}.{key_id}.{payload}".encode(), hashlib.sha256)
    # Compare the text itself: only the canonical encoding of the tag is accepted.
    if not hmac.compare_digest(_b64encode(expected.digest()).encode(), tag.encode()):
        raise RequestStateInvalid("requestState failed verification")
    try:
        content = orjson.loads(_b64decode(payload))
    except orjson.JSONDecodeError:
        raise RequestStateInvalid("malformed requestState") from None
    if not isinstance(content, dict) or content.get("b") != binding:
        raise RequestStateInvalid("requestState belongs to another request")
    expiry = content.get("e")
    if not isinstance(expiry, int) or now >= expiry:
        raise RequestStateInvalid("requestState has expired")
    return content.get("d")
