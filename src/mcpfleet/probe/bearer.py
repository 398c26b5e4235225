"""What a client decides from OAuth answers, with no I/O: the Bearer challenge of a 401 or
403 (RFC 6750 section 3), which scope and client authentication to use, and what a token
endpoint's answer means (RFC 6749 sections 5.1 and 5.2)."""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlsplit

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*,?')
_SCHEME = re.compile(rf"\s*({_TOKEN})(?=\s|,|$)\s*,?")
_QUOTED_PAIR = re.compile(r"\\(.)")
MAX_TEXT = 200
LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True, slots=True)
class Challenge:
    """The parameters of a ``WWW-Authenticate: Bearer`` challenge (absent ones ``None``)."""

    resource_metadata: str | None = None
    scope: str | None = None
    error: str | None = None
    error_description: str | None = None


def parse_challenge(header: str) -> Challenge | None:
    """The Bearer challenge in a ``WWW-Authenticate`` value, ``None`` if there is none.

    The value may hold several challenges (``Basic realm="x", Bearer error="..."``); only
    the Bearer one's parameters are read, quoted strings unescaped.
    """
    params: dict[str, str] | None = None
    position = 0
    while position < len(header):
        param = _PARAM.match(header, position)
        if param is not None and param.end() > position:
            if params is not None:
                name, value = param.group(1).lower(), param.group(2)
                if value.startswith('"'):
                    value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
                params.setdefault(name, value)
            position = param.end()
            continue
        scheme = _SCHEME.match(header, position)
        if scheme is None or scheme.end() == position:
            break  # not a challenge we can read any further
        if params is not None:
            break  # the Bearer challenge ended where the next scheme begins
        if scheme.group(1).lower() == "bearer":
            params = {}
        position = scheme.end()
    if params is None:
        return None
    return Challenge(
        resource_metadata=params.get("resource_metadata"),
        scope=params.get("scope"),
        error=params.get("error"),
        error_description=params.get("error_description"),
    )


def describe_challenge(challenge: Challenge | None, *, description: bool = True) -> str:
    """``invalid_token: the token expired`` or ``insufficient_scope (scope docs:read)``."""
    if challenge is None or challenge.error is None:
        return ""
    text = clean(challenge.error, 60)
    if challenge.scope:
        text += f" (scope {clean(challenge.scope, 120)})"
    if description and challenge.error_description:
        text += f": {clean(challenge.error_description)}"
    return text


def clean(text: Any, limit: int = MAX_TEXT) -> str:
    """Text from a server made safe for one line of a report: printable and bounded."""
    kept = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return kept[:limit] + ("..." if len(kept) > limit else "")


def choose_scope(
    override: str | None, challenge: Challenge | None, metadata: dict[str, Any]
) -> str | None:
    """The scope to ask for: the caller's, else the challenge's, else ``scopes_supported``."""
    if override:
        return override
    if challenge is not None and challenge.scope:
        return challenge.scope
    supported = metadata.get("scopes_supported")
    if isinstance(supported, list):
        names = [item for item in supported if isinstance(item, str) and item]
        if names:
            return " ".join(dict.fromkeys(names))
    return None


def client_auth_method(metadata: dict[str, Any]) -> str | None:
    """``client_secret_basic`` unless the server lists only ``client_secret_post`` (RFC 8414:
    an absent list means basic); ``None`` if it offers neither."""
    methods = metadata.get("token_endpoint_auth_methods_supported")
    if methods is None:
        return "client_secret_basic"
    if not isinstance(methods, list):
        return None
    for method in ("client_secret_basic", "client_secret_post"):
        if method in methods:
            return method
    return None


def basic_authorization(client_id: str, client_secret: str) -> str:
    """RFC 6749 section 2.3.1: both parts form-encoded, then HTTP Basic."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def token_form(
    method: str, client_id: str, client_secret: str, resource: str | None, scope: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """The form and headers of a client-credentials token request (RFC 8707 ``resource``)."""
    form = {"grant_type": "client_credentials"}
    if resource:
        form["resource"] = resource
    if scope:
        form["scope"] = scope
    headers = {"accept": "application/json"}
    if method == "client_secret_post":
        form |= {"client_id": client_id, "client_secret": client_secret}
    else:
        headers["authorization"] = basic_authorization(client_id, client_secret)
    return form, headers


def may_carry_secret(url: str) -> bool:
    """A client secret goes only over HTTPS, or plain HTTP to this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Grant:
    """A token endpoint's answer: a token, or why there is none."""

    access_token: str | None = None
    expires_in: int | None = None
    scope: str | None = None
    refusal: str | None = None  # set when there is no token
    data: dict[str, Any] = field(default_factory=dict)


def read_token_response(
    status: int, message: dict[str, Any] | None, requested_scope: str | None, fallback: str
) -> Grant:
    """What a token endpoint's answer means; ``fallback`` describes an unreadable one."""
    message = message or {}
    token = message.get("access_token")
    if status != 200 or not isinstance(token, str) or not token:
        error = message.get("error")
        if isinstance(error, str) and error:
            text = f"token refused: HTTP {status}, {clean(error, 60)}"
            description = message.get("error_description")
            data: dict[str, Any] = {"httpStatus": status, "error": clean(error, 60)}
            if isinstance(description, str) and description:
                text += f": {clean(description)}"
                data["errorDescription"] = clean(description)
            return Grant(refusal=text, data=data)
        what = "no access_token in the answer" if status == 200 else "token refused"
        return Grant(refusal=f"{what}: {fallback}", data={"httpStatus": status})
    token_type = message.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return Grant(refusal=f"token_type {clean(token_type, 40)!r} is not Bearer")
    lifetime = message.get("expires_in")
    expires_in = lifetime if isinstance(lifetime, int) and not isinstance(lifetime, bool) else None
    granted = message.get("scope")
    scope = clean(granted, 500) if isinstance(granted, str) else requested_scope
    return Grant(access_token=token, expires_in=expires_in, scope=scope)


def describe_grant(grant: Grant, method: str) -> str:
    lifetime = "no expires_in" if grant.expires_in is None else f"expires in {grant.expires_in} s"
    scopes = f"scopes {grant.scope}" if grant.scope else "no scopes"
    return f"token by client credentials ({method}): {lifetime}, {scopes}"


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (longest first) replaced by ``[redacted]``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text
