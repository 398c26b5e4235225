"""The Authlib half of the tests' OAuth 2.1 authorization server: in-memory models,
grants, token generator, registration (the HTTP routes are in ``oauth_server``).

The server offers RFC 8414 metadata and OpenID Connect discovery, a JWKS of RS256 keys,
client credentials (``client_secret_basic`` and ``client_secret_post``),
authorization code with PKCE S256 (``/authorize`` approves at once, for the user
``test-user``, and adds RFC 9207 ``iss``), refresh tokens, RFC 7591 dynamic
registration (public clients included) and RFC 8707 resource indicators: the
``resource`` parameter becomes the access token's ``aud``.

Under ``/admin/`` (loopback callers only) tests register clients, rotate the
signing key, take the JWKS down and up, read how often it was fetched, and mint
tokens with any claims, header, or a broken signature. Everything is in memory.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oauth2.rfc9207 import IssuerParameter
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, g, request
from joserfc.jwk import KeySet, RSAKey

USER_ID = "test-user"
ADMIN_CALLERS = ("127.0.0.1", "::1")
GRANT_TYPES = ["authorization_code", "client_credentials", "refresh_token"]
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class InvalidTarget(OAuth2Error):
    """RFC 8707: a ``resource`` the grant does not cover."""

    error = "invalid_target"


@dataclass
class User:
    id: str = USER_ID

    def get_user_id(self) -> str:
        return self.id


@dataclass
class Client:
    """An OAuth client (Authlib's ``ClientMixin`` contract, in memory)."""

    client_id: str
    client_secret: str | None
    scopes: frozenset[str] | None  # None: any scope
    grant_types: frozenset[str]
    redirect_uris: tuple[str, ...] = ()
    auth_methods: frozenset[str] = frozenset({"client_secret_basic", "client_secret_post"})
    metadata: dict[str, Any] = field(default_factory=dict)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        if not scope:
            return " ".join(sorted(self.scopes)) if self.scopes else ""
        wanted = scope.split()
        if self.scopes is not None and not set(wanted) <= self.scopes:
            return None
        return " ".join(dict.fromkeys(wanted))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret is not None and hmac.compare_digest(
            self.client_secret, client_secret
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    resources: list[str]

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class RefreshToken:
    refresh_token: str
    client_id: str
    scope: str
    user_id: str
    resources: list[str]
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope


@dataclass
class KeyPair:
    kid: str
    private: rsa.RSAPrivateKey
    jwk: RSAKey

    @classmethod
    def generate(cls) -> KeyPair:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = f"k-{secrets.token_hex(6)}"
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        jwk = RSAKey.import_key(pem, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
        return cls(kid, private, jwk)

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class Store:
    """Everything the server knows; one lock, since Werkzeug serves on threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.keys: list[KeyPair] = [KeyPair.generate()]
        self.jwks_up = True
        self.jwks_fetches = 0

    @property
    def signing_key(self) -> KeyPair:
        return self.keys[-1]


STORE = Store()


def requested_resources() -> list[str]:
    """The ``resource`` parameters of this request (query or form)."""
    return request.values.getlist("resource")


class TokenGenerator(JWTBearerTokenGenerator):
    """RS256 JWT access tokens; ``aud`` is the requested resource (RFC 8707)."""

    def get_jwks(self) -> KeySet:
        return KeySet([STORE.signing_key.jwk])  # one key, so Authlib puts its kid in the header

    def get_audiences(self, client: Client, user: User | None, scope: str) -> str | list[str]:
        granted: list[str] | None = g.get("granted_resources")
        wanted = requested_resources() or granted or []
        if granted and not set(wanted) <= set(granted):
            raise InvalidTarget("the resource was not part of the grant")
        g.token_resources = wanted
        if not wanted:
            return client.client_id
        return wanted[0] if len(wanted) == 1 else wanted


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar = ["client_secret_basic", "client_secret_post"]


class S256Challenge(CodeChallenge):
    """PKCE as OAuth 2.1 wants it: a challenge on every request, S256 only."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code: str, req: Any) -> None:
        data = req.payload.data
        with STORE.lock:
            STORE.codes[code] = AuthorizationCode(
                code=code,
                client_id=req.client.client_id,
                redirect_uri=req.payload.redirect_uri or "",
                scope=req.scope or "",
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                resources=requested_resources(),
            )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        found = STORE.codes.get(code)
        return found if found is not None and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        with STORE.lock:
            STORE.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User:
        g.granted_resources = authorization_code.resources
        return User()


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        found = STORE.refresh_tokens.get(refresh_token)
        return found if found is not None and not found.revoked else None

    def authenticate_user(self, refresh_token: RefreshToken) -> User:
        g.granted_resources = refresh_token.resources
        return User(refresh_token.user_id)

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        refresh_token.revoked = True


class Registration(ClientRegistrationEndpoint):
    """RFC 7591 open registration: anyone on the test machine may register."""

    def __init__(self, metadata: dict[str, Any]) -> None:
        super().__init__()
        self.metadata = metadata

    def authenticate_token(self, req: Any) -> bool:
        return True

    def generate_client_info(self, req: Any) -> dict[str, Any]:
        info: dict[str, Any] = super().generate_client_info(req)
        if req.payload.data.get("token_endpoint_auth_method") == "none":
            del info["client_secret"], info["client_secret_expires_at"]  # a public client
        return info

    def get_server_metadata(self) -> dict[str, Any]:
        return {k: v for k, v in self.metadata.items() if k != "scopes_supported"}

    def save_client(self, info: dict[str, Any], meta: dict[str, Any], req: Any) -> Client:
        method = meta.get("token_endpoint_auth_method", "client_secret_basic")
        scope = meta.get("scope")
        client = Client(
            client_id=info["client_id"],
            client_secret=info.get("client_secret"),
            scopes=frozenset(scope.split()) if scope else None,
            grant_types=frozenset(meta.get("grant_types") or ["authorization_code"]),
            redirect_uris=tuple(meta.get("redirect_uris") or ()),
            auth_methods=frozenset({method}),
            metadata=meta,
        )
        with STORE.lock:
            STORE.clients[client.client_id] = client
        return client


def server_metadata(issuer: str, base: str, scopes: list[str]) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "registration_endpoint": f"{base}/register",
        "jwks_uri": f"{base}/jwks",
        "response_types_supported": ["code"],
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes,
        "authorization_response_iss_parameter_supported": True,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


def save_token(token: dict[str, Any], req: Any) -> None:
    if "refresh_token" not in token:
        return
    with STORE.lock:
        STORE.refresh_tokens[token["refresh_token"]] = RefreshToken(
            refresh_token=token["refresh_token"],
            client_id=req.client.client_id,
            scope=token.get("scope", ""),
            user_id=req.user.get_user_id() if req.user else req.client.client_id,
            resources=g.get("token_resources") or [],
        )


def build_authorization_server(app: Flask, issuer: str, ttl: int) -> AuthorizationServer:
    server = AuthorizationServer(app, query_client=STORE.clients.get, save_token=save_token)
    server.register_token_generator(
        "default",
        TokenGenerator(
            issuer,
            refresh_token_generator=lambda **_: secrets.token_urlsafe(32),
            expires_generator=ttl,
        ),
    )
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(AuthorizationCodeGrant, [S256Challenge(required=True)])
    server.register_grant(RefreshTokenGrant)

    class Iss(IssuerParameter):
        def get_issuer(self) -> str:
            return issuer

    server.register_extension(Iss())
    return server
