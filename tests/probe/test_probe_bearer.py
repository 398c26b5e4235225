"""The client's OAuth decisions, with no I/O: challenges read, scope and client
authentication chosen, token answers understood, secrets kept out of text."""

from __future__ import annotations

import base64
import os
import random
from typing import Any

import pytest

from mcpfleet.probe.bearer import (
    Challenge,
    basic_authorization,
    choose_scope,
    client_auth_method,
    describe_challenge,
    may_carry_secret,
    parse_challenge,
    read_token_response,
    redact,
    token_form,
)

META = "https://mcp.example.test/.well-known/oauth-protected-resource/mcp"

CHALLENGES: dict[str, tuple[str, Challenge | None]] = {
    "bare": ("Bearer", Challenge()),
    "metadata only": (f'Bearer resource_metadata="{META}"', Challenge(resource_metadata=META)),
    "mcpfleet invalid token": (
        f'Bearer resource_metadata="{META}", error="invalid_token", '
        'error_description="Unauthorized: token expired"',
        Challenge(META, None, "invalid_token", "Unauthorized: token expired"),
    ),
    "insufficient scope": (
        'Bearer error="insufficient_scope", scope="docs:read docs:write"',
        Challenge(scope="docs:read docs:write", error="insufficient_scope"),
    ),
    "unquoted values, odd case": (
        "bearer Error=invalid_token,Scope=a",
        Challenge(scope="a", error="invalid_token"),
    ),
    "escaped quote": (
        r'Bearer error="invalid_token", error_description="say \"hi\""',
        Challenge(error="invalid_token", error_description='say "hi"'),
    ),
    "after another scheme": (
        'Basic realm="x", Bearer scope="s"',
        Challenge(scope="s"),
    ),
    "before another scheme": (
        'Bearer scope="s", Basic realm="x"',
        Challenge(scope="s"),
    ),
    "basic only": ('Basic realm="x"', None),
    "empty": ("", None),
    "garbage": ('"""===,,,', None),
}


@pytest.mark.parametrize("case", list(CHALLENGES))
def test_challenges_are_read(case: str) -> None:
    """Each WWW-Authenticate value gives the Bearer challenge's parameters, or none."""
    header, expected = CHALLENGES[case]
    assert parse_challenge(header) == expected


def test_fuzzed_challenges_never_raise() -> None:
    """Random damage to a challenge gives a Challenge or None, never an exception."""
    seed = int(os.environ.get("FUZZ_SEED", random.randrange(2**32)))
    print(f"fuzz seed {seed} (FUZZ_SEED={seed} to replay)")
    rng = random.Random(seed)
    good = CHALLENGES["mcpfleet invalid token"][0]
    for _ in range(2000):
        chars = list(good[: rng.randrange(len(good) + 1)])
        for _ in range(rng.randrange(6)):
            if chars:
                chars[rng.randrange(len(chars))] = rng.choice('"\\=, \t\x00éB')
        result = parse_challenge("".join(chars))
        assert result is None or isinstance(result, Challenge)
        describe_challenge(result)


def test_refusal_is_described_in_one_clean_line() -> None:
    """The error, the scope and the description, control characters replaced."""
    challenge = Challenge(scope="docs:read", error="insufficient_scope", error_description="a\nb")
    assert describe_challenge(challenge) == "insufficient_scope (scope docs:read): a b"
    assert describe_challenge(Challenge(resource_metadata=META)) == ""


SUPPORTED = {"scopes_supported": ["docs:read", "docs:write", "docs:read"]}


@pytest.mark.parametrize(
    ("override", "challenge", "metadata", "expected"),
    [
        ("x", Challenge(scope="y"), SUPPORTED, "x"),
        (None, Challenge(scope="y"), SUPPORTED, "y"),
        (None, Challenge(), SUPPORTED, "docs:read docs:write"),
        (None, None, {"scopes_supported": "not a list"}, None),
        (None, None, {}, None),
    ],
    ids=["override", "challenge", "scopes_supported", "malformed", "none"],
)
def test_scope_is_chosen_in_order(
    override: str | None, challenge: Challenge | None, metadata: dict[str, Any], expected: str
) -> None:
    """The caller's scope, else the challenge's, else scopes_supported (deduplicated)."""
    assert choose_scope(override, challenge, metadata) == expected


@pytest.mark.parametrize(
    ("methods", "expected"),
    [
        (None, "client_secret_basic"),
        (["client_secret_post", "client_secret_basic"], "client_secret_basic"),
        (["client_secret_post"], "client_secret_post"),
        (["private_key_jwt"], None),
        ("client_secret_basic", None),
    ],
    ids=["absent", "both", "post only", "neither", "malformed"],
)
def test_client_authentication_prefers_basic(methods: Any, expected: str | None) -> None:
    """Basic unless the metadata lists only post (absent means basic, RFC 8414)."""
    metadata = {} if methods is None else {"token_endpoint_auth_methods_supported": methods}
    assert client_auth_method(metadata) == expected


def test_token_request_carries_the_secret_once() -> None:
    """Basic puts the form-encoded pair in the header; post puts it in the form instead."""
    form, headers = token_form("client_secret_basic", "id:1", "s&p", "https://r/mcp", "a b")
    assert form == {"grant_type": "client_credentials", "resource": "https://r/mcp", "scope": "a b"}
    encoded = headers["authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded).decode() == "id%3A1:s%26p"
    assert basic_authorization("a", "b") == "Basic " + base64.b64encode(b"a:b").decode()
    form, headers = token_form("client_secret_post", "id", "secret", None, None)
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "id",
        "client_secret": "secret",
    }
    assert "authorization" not in headers


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://as.example.test/token", True),
        ("http://127.0.0.1:9000/token", True),
        ("http://localhost/token", True),
        ("http://[::1]/token", True),
        ("http://as.example.test/token", False),
        ("ftp://127.0.0.1/token", False),
    ],
)
def test_secret_goes_only_over_https_or_loopback(url: str, allowed: bool) -> None:
    """A client secret is sent over HTTPS, or plain HTTP to this machine only."""
    assert may_carry_secret(url) is allowed


TOKEN_ANSWERS: dict[str, tuple[int, dict[str, Any] | None, str | None, str | None]] = {
    # case -> (status, body, the token expected, a fragment of the refusal expected)
    "granted": (
        200,
        {"access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": "a"},
        "t",
        None,
    ),
    "lower-case type": (200, {"access_token": "t", "token_type": "bearer"}, "t", None),
    "refused with description": (
        401,
        {"error": "invalid_client", "error_description": "bad\x00secret"},
        None,
        "token refused: HTTP 401, invalid_client: bad secret",
    ),
    "refused bare": (400, {"error": "invalid_scope"}, None, "HTTP 400, invalid_scope"),
    "not JSON": (502, None, None, "token refused: fallback"),
    "no token": (200, {"token_type": "Bearer"}, None, "no access_token in the answer"),
    "not bearer": (200, {"access_token": "t", "token_type": "DPoP"}, None, "is not Bearer"),
}


@pytest.mark.parametrize("case", list(TOKEN_ANSWERS))
def test_token_answers_are_understood(case: str) -> None:
    """A token endpoint's answer gives a token, or a refusal naming the server's error."""
    status, body, token, refusal = TOKEN_ANSWERS[case]
    grant = read_token_response(status, body, "requested", "fallback")
    assert grant.access_token == token
    if refusal is None:
        assert grant.refusal is None
    else:
        assert grant.refusal is not None
        assert refusal in grant.refusal


def test_granted_scope_defaults_to_the_requested_one() -> None:
    """Without scope in the answer, the requested scope was granted (RFC 6749 5.1)."""
    body = {"access_token": "t", "token_type": "Bearer", "expires_in": True}
    grant = read_token_response(200, body, "docs:read", "")
    assert (grant.scope, grant.expires_in) == ("docs:read", None)


def test_redaction_replaces_every_secret_longest_first() -> None:
    """Each secret, and a secret inside a longer one, becomes [redacted]."""
    text = "Bearer abc.def and abc, not ab"
    assert redact(text, ["abc", "abc.def", ""]) == "Bearer [redacted] and [redacted], not ab"
