"""The test-control endpoints of the tests' authorization server, under ``/admin/``.

Only loopback callers may use them. Each takes and returns JSON:

* ``POST /admin/clients`` ``{client_id?, client_secret?, scopes?, grant_types?,
  redirect_uris?, auth_methods?}`` → ``{client_id, client_secret}``
* ``POST /admin/rotate`` ``{keep_old?: true}`` → ``{kid, kids}``
* ``POST /admin/jwks`` ``{up: bool}``; ``GET /admin/jwks`` → ``{up, fetches, kids}``;
  ``DELETE /admin/jwks/fetches`` sets the count back to zero
* ``POST /admin/mint`` ``{claims?, drop?, header?, signature?, ttl?}`` → ``{token}``;
  ``signature`` is ``valid`` (default), ``none`` (``alg: none``), ``hs256-public``
  (HS256 keyed with the public key PEM), ``garbage`` (random bytes) or ``foreign``
  (a key the JWKS does not hold, under the current ``kid``).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from tests.auth_support import forge
from tests.auth_support.authorization import ADMIN_CALLERS, STORE, USER_ID, Client, KeyPair

admin = Blueprint("admin", __name__, url_prefix="/admin")


@admin.before_request
def loopback_only() -> None:
    if request.remote_addr not in ADMIN_CALLERS:
        abort(403)


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@admin.post("/clients")
def register_client() -> ResponseReturnValue:
    data = body()
    client_id = data.get("client_id") or f"client-{secrets.token_hex(4)}"
    secret = data.get("client_secret") or secrets.token_urlsafe(24)
    scopes = data.get("scopes")
    client = Client(
        client_id=client_id,
        client_secret=secret,
        scopes=None if scopes is None else frozenset(scopes),
        grant_types=frozenset(data.get("grant_types") or ["client_credentials"]),
        redirect_uris=tuple(data.get("redirect_uris") or ()),
        auth_methods=frozenset(
            data.get("auth_methods") or ["client_secret_basic", "client_secret_post"]
        ),
    )
    with STORE.lock:
        STORE.clients[client_id] = client
    return jsonify(client_id=client_id, client_secret=secret), 201


@admin.post("/rotate")
def rotate() -> ResponseReturnValue:
    new = KeyPair.generate()
    with STORE.lock:
        STORE.keys = [*STORE.keys, new] if body().get("keep_old", True) else [new]
        kids = [k.kid for k in STORE.keys]
    return jsonify(kid=new.kid, kids=kids)


@admin.route("/jwks", methods=["GET", "POST"])
def jwks_control() -> ResponseReturnValue:
    if request.method == "POST":
        STORE.jwks_up = bool(body().get("up", True))
    return jsonify(up=STORE.jwks_up, fetches=STORE.jwks_fetches, kids=[k.kid for k in STORE.keys])


@admin.delete("/jwks/fetches")
def reset_fetches() -> ResponseReturnValue:
    with STORE.lock:
        STORE.jwks_fetches = 0
    return jsonify(fetches=0)


def default_claims(issuer: str, ttl: int) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer,
        "sub": USER_ID,
        "client_id": "minted-client",
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_hex(8),
        "scope": "",
    }


def mint_token(issuer: str, data: dict[str, Any]) -> str:
    """A token as ``data`` asks (see the module docstring)."""
    claims = {**default_claims(issuer, int(data.get("ttl", 300))), **(data.get("claims") or {})}
    for name in data.get("drop") or ():
        claims.pop(name, None)
    key = STORE.signing_key
    header = {"typ": "at+jwt", "kid": key.kid, **(data.get("header") or {})}
    header = {k: v for k, v in header.items() if v is not None}
    kind = data.get("signature", "valid")
    if kind == "none":
        return forge.unsigned(claims, header)
    if kind == "hs256-public":
        return forge.hmac_signed(claims, header, key.public_pem)
    signer = KeyPair.generate().private if kind == "foreign" else key.private
    token = forge.signed(claims, header, signer, header.get("alg", "RS256"))
    return forge.with_garbage_signature(token) if kind == "garbage" else token


@admin.post("/mint")
def mint() -> ResponseReturnValue:
    return jsonify(token=mint_token(current_app.config["ISSUER"], body()))
