"""Sealing of MRTR requestState (mcpfleet.protocol.request_state)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from hypothesis import given
from protocol_strategies import FAST, json_values, texts

from mcpfleet.errors import ConfigError, RequestStateInvalid
from mcpfleet.protocol.request_state import (
    MIN_KEY_BYTES,
    KeyRing,
    StateKey,
    open_request_state,
    request_binding,
    seal_request_state,
)

NOW = 1_700_000_000.0
TTL = 300.0
KEY_A = StateKey("a", b"A" * 32)
KEY_B = StateKey("b", b"B" * 32)
RING = KeyRing([KEY_A])
BINDING = request_binding("tools/call", "deploy", "alice")
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def seal(data: Any = None, *, ring: KeyRing = RING, binding: str = BINDING) -> str:
    return seal_request_state(
        {"step": 1} if data is None else data,
        ring=ring,
        binding=binding,
        now=NOW,
        ttl_seconds=TTL,
    )


def test_round_trip() -> None:
    """A sealed state opens, with the same ring and binding before expiry, to the same data."""
    data = {"step": 2, "answers": ["x", 1, None], "nested": {"ok": True}}
    assert open_request_state(seal(data), ring=RING, binding=BINDING, now=NOW) == data


def test_sealed_state_is_an_opaque_ascii_token() -> None:
    """A sealed state is printable ASCII without the sealed data in clear text."""
    sealed = seal({"secret-plan": "launch"})
    assert sealed.isascii()
    assert sealed.isprintable()
    assert "launch" not in sealed


@FAST
@given(data=json_values)
def test_round_trip_any_json(data: Any) -> None:
    """Any JSON value survives sealing and opening unchanged."""
    sealed = seal_request_state(data, ring=RING, binding=BINDING, now=NOW, ttl_seconds=TTL)
    assert open_request_state(sealed, ring=RING, binding=BINDING, now=NOW) == data


# --------------------------------------------------------------------------- tampering


def _replace_part(sealed: str, index: int, new: str) -> str:
    parts = sealed.split(".")
    parts[index] = new
    return ".".join(parts)


def _flip_char(text: str, position: int) -> str:
    char = text[position]
    replacement = "B" if char == "A" else "A"
    return text[:position] + replacement + text[position + 1 :]


def _payload_with(sealed: str, content: dict[str, Any]) -> str:
    encoded = base64.urlsafe_b64encode(orjson.dumps(content)).rstrip(b"=").decode()
    return _replace_part(sealed, 2, encoded)


def _tag_unused_bits_flipped(sealed: str) -> str:
    # A 32-byte tag is 43 base64url characters: the last one carries 4 bits of the tag
    # and 2 bits that decoders ignore. Flipping those 2 bits changes the text only.
    tag = sealed.rsplit(".", 1)[1]
    index = BASE64URL.index(tag[-1])
    return sealed[:-1] + BASE64URL[index ^ 0b01]


TAMPERINGS = [
    pytest.param(lambda s: _replace_part(s, 0, "v2"), id="version-changed"),
    pytest.param(lambda s: _replace_part(s, 1, "b"), id="key-id-changed"),
    pytest.param(lambda s: _replace_part(s, 1, ""), id="key-id-emptied"),
    pytest.param(lambda s: _replace_part(s, 2, _flip_char(s.split(".")[2], 0)), id="payload-first"),
    pytest.param(lambda s: _replace_part(s, 2, _flip_char(s.split(".")[2], -1)), id="payload-last"),
    pytest.param(
        lambda s: _payload_with(s, {"d": {"step": 99}, "b": BINDING, "e": int(NOW + TTL)}),
        id="payload-replaced-with-forged-data",
    ),
    pytest.param(
        lambda s: _payload_with(s, {"d": {"step": 1}, "b": BINDING, "e": int(NOW + 10 * TTL)}),
        id="payload-expiry-extended",
    ),
    pytest.param(lambda s: _replace_part(s, 3, _flip_char(s.split(".")[3], 0)), id="tag-first"),
    pytest.param(lambda s: _replace_part(s, 3, ""), id="tag-emptied"),
    pytest.param(lambda s: s[:-1], id="tag-truncated-by-one"),
    pytest.param(lambda s: s[:-4], id="tag-truncated-by-four"),
    pytest.param(lambda s: s + "A", id="tag-extended"),
    pytest.param(lambda s: s + "=", id="tag-padding-appended"),
    pytest.param(lambda s: s + "==", id="tag-double-padding-appended"),
    pytest.param(_tag_unused_bits_flipped, id="tag-unused-bits-flipped"),
    pytest.param(lambda s: s + ".x", id="extra-part"),
    pytest.param(lambda s: s.rsplit(".", 1)[0], id="tag-removed"),
    pytest.param(lambda s: s.upper(), id="upper-cased"),
    pytest.param(lambda s: " " + s, id="leading-space"),
    pytest.param(lambda s: "", id="empty"),
    pytest.param(lambda s: "v1.a.e30.\u00e9", id="non-ascii-tag"),
]


@pytest.mark.parametrize("tamper", TAMPERINGS)
def test_tampered_state_is_rejected(tamper: Any) -> None:
    """Any change to any part of a sealed state makes it fail to open."""
    sealed = seal()
    forged = tamper(sealed)
    assert forged != sealed
    with pytest.raises(RequestStateInvalid):
        open_request_state(forged, ring=RING, binding=BINDING, now=NOW)


def test_every_single_character_substitution_is_rejected() -> None:
    """Replacing any one character of a sealed state with any other token character fails."""
    sealed = seal()
    accepted = []
    for position, original in enumerate(sealed):
        for char in BASE64URL + ".=":
            if char == original:
                continue
            forged = sealed[:position] + char + sealed[position + 1 :]
            try:
                open_request_state(forged, ring=RING, binding=BINDING, now=NOW)
            except RequestStateInvalid:
                continue
            accepted.append(forged)
    assert accepted == []


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="null"),
        pytest.param(42, id="number"),
        pytest.param(["v1", "a"], id="array"),
        pytest.param({"state": "x"}, id="object"),
        pytest.param("x" * 1_000_001, id="oversized"),
        pytest.param("not-a-state", id="no-dots"),
    ],
)
def test_non_state_values_are_rejected(value: Any) -> None:
    """Values that are not a sealed-state string raise RequestStateInvalid, not another error."""
    with pytest.raises(RequestStateInvalid):
        open_request_state(value, ring=RING, binding=BINDING, now=NOW)


# --------------------------------------------------------------------------- expiry


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        pytest.param(NOW - 1000, True, id="clock-behind"),
        pytest.param(NOW, True, id="at-sealing"),
        pytest.param(NOW + TTL - 1, True, id="one-second-left"),
        pytest.param(NOW + TTL, False, id="at-expiry"),
        pytest.param(NOW + TTL + 0.5, False, id="just-after-expiry"),
        pytest.param(NOW + 100 * TTL, False, id="long-after-expiry"),
    ],
)
def test_expiry(now: float, opens: bool) -> None:
    """A state opens until now + ttl_seconds and is refused from then on."""
    sealed = seal()
    if opens:
        assert open_request_state(sealed, ring=RING, binding=BINDING, now=now) == {"step": 1}
    else:
        with pytest.raises(RequestStateInvalid):
            open_request_state(sealed, ring=RING, binding=BINDING, now=now)


# --------------------------------------------------------------------------- binding


@pytest.mark.parametrize(
    ("method", "name", "principal"),
    [
        pytest.param("prompts/get", "deploy", "alice", id="other-method"),
        pytest.param("tools/call", "destroy", "alice", id="other-name"),
        pytest.param("tools/call", "deploy", "mallory", id="other-principal"),
        pytest.param("tools/call", "deploy", None, id="anonymous-principal"),
        pytest.param("tools/call", None, "alice", id="no-name"),
        pytest.param("tools/call", "deploy", "", id="empty-principal"),
        pytest.param("tools/call", "Deploy", "alice", id="name-case"),
    ],
)
def test_state_is_bound_to_its_request(
    method: str, name: str | None, principal: str | None
) -> None:
    """A state sealed for (method, name, principal) does not open for any other triple."""
    other = request_binding(method, name, principal)
    assert other != BINDING
    with pytest.raises(RequestStateInvalid):
        open_request_state(seal(), ring=RING, binding=other, now=NOW)


def test_binding_is_deterministic() -> None:
    """request_binding gives the same digest for the same triple, so any process can check it."""
    assert request_binding("tools/call", "deploy", "alice") == BINDING


@FAST
@given(first=texts, second=texts)
def test_binding_does_not_confuse_name_and_principal(first: str, second: str) -> None:
    """Swapping or merging name and principal never yields the same binding."""
    if first != second:
        assert request_binding("m", first, second) != request_binding("m", second, first)
    assert request_binding("m", first + second, None) != request_binding("m", first, second)


# --------------------------------------------------------------------------- key ring


def test_rotation_new_key_signs_old_key_still_verifies() -> None:
    """After rotation, states sealed with the old key open, and new states use the new key."""
    old_state = seal(ring=KeyRing([KEY_A]))
    rotated = KeyRing([KEY_B, KEY_A])
    assert open_request_state(old_state, ring=rotated, binding=BINDING, now=NOW) == {"step": 1}
    new_state = seal(ring=rotated)
    assert new_state.split(".")[1] == "b"
    assert open_request_state(new_state, ring=rotated, binding=BINDING, now=NOW) == {"step": 1}


def test_removed_key_no_longer_verifies() -> None:
    """A state sealed with a key that was removed from the ring fails to open."""
    old_state = seal(ring=KeyRing([KEY_A]))
    with pytest.raises(RequestStateInvalid):
        open_request_state(old_state, ring=KeyRing([KEY_B]), binding=BINDING, now=NOW)


def test_same_key_id_with_other_secret_does_not_verify() -> None:
    """A ring reusing the key id with a different secret cannot open the state."""
    impostor = KeyRing([StateKey("a", b"Z" * 32)])
    with pytest.raises(RequestStateInvalid):
        open_request_state(seal(), ring=impostor, binding=BINDING, now=NOW)


def test_generated_rings_are_independent() -> None:
    """Two generated rings each open their own states and not each other's."""
    first, second = KeyRing.generate(), KeyRing.generate()
    sealed = seal(ring=first)
    assert open_request_state(sealed, ring=first, binding=BINDING, now=NOW) == {"step": 1}
    with pytest.raises(RequestStateInvalid):
        open_request_state(sealed, ring=second, binding=BINDING, now=NOW)


@pytest.mark.parametrize(
    ("keys", "ok"),
    [
        pytest.param([StateKey("k", b"x" * MIN_KEY_BYTES)], True, id="exactly-32-bytes"),
        pytest.param([StateKey("k", b"x" * 64)], True, id="64-bytes"),
        pytest.param([StateKey("k", b"x" * (MIN_KEY_BYTES - 1))], False, id="31-bytes"),
        pytest.param([StateKey("k", b"")], False, id="empty-secret"),
        pytest.param([KEY_A, StateKey("k", b"short")], False, id="one-short-key-in-ring"),
        pytest.param([], False, id="no-keys"),
        pytest.param([StateKey("", b"x" * 32)], False, id="empty-key-id"),
        pytest.param([StateKey("a.b", b"x" * 32)], False, id="dotted-key-id"),
    ],
)
def test_key_ring_construction(keys: list[StateKey], ok: bool) -> None:
    """A ring needs at least one key, every secret of 32+ bytes and dot-free non-empty ids."""
    assert MIN_KEY_BYTES == 32
    if ok:
        assert KeyRing(keys).signing == keys[0]
    else:
        with pytest.raises(ConfigError, match="REQUEST_STATE_KEYS"):
            KeyRing(keys)


# --------------------------------------------------------------------------- KeyRing.from_text

SECRET_1 = b"1" * 32
SECRET_2 = b"2" * 48


@pytest.mark.parametrize(
    ("text", "signing_id", "verify_ids"),
    [
        pytest.param(f"a:{b64(SECRET_1)}", "a", ["a"], id="one-key"),
        pytest.param(f"a:{b64(SECRET_1)},b:{b64(SECRET_2)}", "a", ["a", "b"], id="two-keys"),
        pytest.param(
            f" a:{b64(SECRET_1)} , b:{b64(SECRET_2)} ", "a", ["a", "b"], id="spaces-around-items"
        ),
        pytest.param(f"a:{b64(SECRET_1)},", "a", ["a"], id="trailing-comma"),
        pytest.param(f"2026-q3:{b64(SECRET_2)}", "2026-q3", ["2026-q3"], id="dashed-id"),
    ],
)
def test_from_text_parses_key_rings(text: str, signing_id: str, verify_ids: list[str]) -> None:
    """from_text reads id:base64secret items; the first key signs and every key is known."""
    ring = KeyRing.from_text(text)
    assert ring.signing.key_id == signing_id
    for key_id in verify_ids:
        assert ring.secret(key_id) is not None
    assert ring.secret("unknown") is None


def test_from_text_secrets_are_decoded() -> None:
    """from_text stores the decoded bytes of each secret, not its Base64 text."""
    ring = KeyRing.from_text(f"a:{b64(SECRET_1)},b:{b64(SECRET_2)}")
    assert ring.secret("a") == SECRET_1
    assert ring.secret("b") == SECRET_2


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param(" , ,", id="only-separators"),
        pytest.param(b64(SECRET_1), id="missing-id"),
        pytest.param(f":{b64(SECRET_1)}", id="empty-id"),
        pytest.param(f"a.b:{b64(SECRET_1)}", id="dotted-id"),
        pytest.param("a:", id="empty-secret"),
        pytest.param("a:not base64!", id="invalid-base64-characters"),
        pytest.param(f"a:{b64(SECRET_1)[:-1]}", id="invalid-base64-padding"),
        pytest.param(
            "a:" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(), id="urlsafe-alphabet"
        ),
        pytest.param(f"a:{b64(b'x' * 31)}", id="31-byte-secret"),
        pytest.param(f"a:{b64(SECRET_1)},b:{b64(b'short')}", id="second-key-short"),
        pytest.param(f"a:{b64(SECRET_1)};b:{b64(SECRET_2)}", id="wrong-separator"),
        pytest.param(f"a:{b64(SECRET_1)},a:{b64(SECRET_2)}", id="duplicate-key-id"),
    ],
)
def test_from_text_rejects_bad_input(text: str) -> None:
    """Malformed REQUEST_STATE_KEYS text raises ConfigError naming the setting."""
    with pytest.raises(ConfigError, match="REQUEST_STATE_KEYS"):
        KeyRing.from_text(text)


def test_from_text_ring_seals_and_opens() -> None:
    """A ring parsed from text seals states that the same text, parsed elsewhere, opens."""
    text = f"a:{b64(SECRET_1)},b:{b64(SECRET_2)}"
    sealed = seal(ring=KeyRing.from_text(text))
    assert open_request_state(sealed, ring=KeyRing.from_text(text), binding=BINDING, now=NOW) == {
        "step": 1
    }
