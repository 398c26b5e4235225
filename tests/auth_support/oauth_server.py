"""The tests' OAuth 2.1 authorization server: its HTTP routes, its command line, and
:class:`OAuthServer`, which runs it in a child process on 127.0.0.1 and drives it.

Run by hand: ``python -m tests.auth_support.oauth_server --port 9000``. In a test::

    with oauth_server() as auth:
        client = auth.register_client(scopes=["tools:read"])
        token = auth.client_credentials_token(client, resource="http://x/mcp",
                                              scope="tools:read")
        bad = auth.mint({"exp": 1}, signature="valid")
        auth.rotate_key(); auth.set_jwks_up(False); auth.jwks_fetches

What the server does is told in :mod:`tests.auth_support.authorization`; the
``/admin/`` endpoints in :mod:`tests.auth_support.admin`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCOPES = ["openid", "offline_access", "tools", "tools:read", "tools:write", "admin"]


def create_app(base: str, issuer_path: str = "", scopes: Sequence[str] = (), ttl: int = 300) -> Any:
    """The Flask app: metadata, JWKS, authorize, token, register, and ``/admin/``."""
    from authlib.oauth2 import OAuth2Error
    from flask import Flask, Response, jsonify, request

    from tests.auth_support.admin import admin
    from tests.auth_support.authorization import (
        STORE,
        User,
        build_authorization_server,
        server_metadata,
    )

    issuer = base + issuer_path
    app = Flask(__name__)
    app.config["ISSUER"] = issuer
    server = build_authorization_server(app, issuer, ttl)
    metadata = server_metadata(issuer, base, list(scopes or DEFAULT_SCOPES))
    from tests.auth_support.authorization import Registration

    server.register_endpoint(Registration(metadata))

    def serve_metadata() -> Any:
        return jsonify(metadata)

    for kind in ("openid-configuration", "oauth-authorization-server"):
        app.add_url_rule(f"{issuer_path}/.well-known/{kind}", f"{kind}-suffix", serve_metadata)
        if issuer_path:
            app.add_url_rule(f"/.well-known/{kind}{issuer_path}", f"{kind}-insert", serve_metadata)

    @app.get("/jwks")
    def jwks() -> Any:
        with STORE.lock:
            STORE.jwks_fetches += 1
        if not STORE.jwks_up:
            return Response("down for the test", status=503)
        return jsonify(keys=[k.jwk.as_dict(private=False) for k in STORE.keys])

    @app.get("/authorize")
    def authorize() -> Any:
        user = User()
        try:
            grant = server.get_consent_grant(end_user=user)
        except OAuth2Error as error:
            return server.handle_error_response(request, error)
        return server.create_authorization_response(grant=grant, grant_user=user)

    @app.post("/token")
    def token() -> Any:
        return server.create_token_response()

    @app.post("/register")
    def register() -> Any:
        return server.create_endpoint_response("client_registration")

    app.register_blueprint(admin)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--issuer-path", default="", help="e.g. /tenant-a: a path in the issuer")
    parser.add_argument("--ttl", type=int, default=300, help="access-token lifetime, seconds")
    parser.add_argument("--scopes", default="", help="space-separated scopes_supported")
    args = parser.parse_args(argv)
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain HTTP on loopback, for tests
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from werkzeug.serving import run_simple

    base = f"http://127.0.0.1:{args.port}"
    app = create_app(base, args.issuer_path.rstrip("/"), args.scopes.split(), args.ttl)
    print(f"serving {base}", flush=True)
    run_simple("127.0.0.1", args.port, app, threaded=True)


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str | None


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE ``(code_verifier, code_challenge)`` for S256."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OAuthServer:
    """The authorization server in a child process, and the calls tests make to it."""

    def __init__(self, *, issuer_path: str = "", ttl: int = 300, scopes: Sequence[str] = ()):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.issuer = self.base + issuer_path.rstrip("/")
        self.jwks_url = f"{self.base}/jwks"
        self.token_endpoint = f"{self.base}/token"
        self._args = ["--issuer-path", issuer_path, "--ttl", str(ttl), "--scopes", " ".join(scopes)]
        self._http = httpx.Client(base_url=self.base, timeout=10.0)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> OAuthServer:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.auth_support.oauth_server",
                "--port",
                str(self.port),
                *self._args,
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the authorization server exited early:\n{self.stop()}")
            with contextlib.suppress(httpx.HTTPError):
                if self._http.get("/.well-known/oauth-authorization-server").status_code == 200:
                    return self
            time.sleep(0.05)
        output = self.stop()
        raise RuntimeError(f"the authorization server did not start in {timeout} s:\n{output}")

    def stop(self) -> str:
        """Stop the server; returns what it printed."""
        self._http.close()
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        output = self.process.stdout.read().decode() if self.process.stdout else ""
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None
        return output

    def _admin(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        response = self._http.request(method, f"/admin/{path}", json=json)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def register_client(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        scopes: Sequence[str] | None = None,
        grant_types: Sequence[str] = ("client_credentials",),
        redirect_uris: Sequence[str] = (),
        auth_methods: Sequence[str] = ("client_secret_basic", "client_secret_post"),
    ) -> ClientCredentials:
        """Register a client (``scopes=None``: any scope) and return its credentials."""
        data = self._admin(
            "POST",
            "clients",
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "scopes": None if scopes is None else list(scopes),
                "grant_types": list(grant_types),
                "redirect_uris": list(redirect_uris),
                "auth_methods": list(auth_methods),
            },
        )
        return ClientCredentials(data["client_id"], data["client_secret"])

    def token_request(
        self, form: dict[str, Any], client: ClientCredentials, *, auth: str = "basic"
    ) -> httpx.Response:
        """POST ``form`` to the token endpoint, the client authenticated by ``auth``
        (``basic``, ``post`` or ``none``)."""
        form = {k: v for k, v in form.items() if v is not None}
        basic = None
        if auth == "basic":
            basic = (client.client_id, client.client_secret or "")
        elif auth == "post":
            form |= {"client_id": client.client_id, "client_secret": client.client_secret}
        else:
            form["client_id"] = client.client_id
        return self._http.post("/token", data=form, auth=basic)

    def client_credentials_token(
        self,
        client: ClientCredentials,
        *,
        resource: str | Sequence[str] | None = None,
        scope: str | None = None,
        auth: str = "basic",
    ) -> str:
        """An access token for ``client`` by the client-credentials grant."""
        form = {"grant_type": "client_credentials", "scope": scope, "resource": resource}
        response = self.token_request(form, client, auth=auth)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def authorize(
        self,
        client_id: str,
        redirect_uri: str,
        *,
        resource: str | None = None,
        scope: str | None = None,
        state: str = "st",
        challenge: str | None = None,
    ) -> dict[str, str]:
        """The parameters ``/authorize`` redirects back with (``code``, ``state``, ``iss``;
        or ``error``)."""
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": scope,
            "resource": resource,
            "code_challenge": challenge,
            "code_challenge_method": "S256" if challenge else None,
        }
        response = self._http.get("/authorize", params={k: v for k, v in params.items() if v})
        if response.status_code != 302:
            return {"error": f"HTTP {response.status_code}", "body": response.text}
        query = parse_qs(urlsplit(response.headers["location"]).query)
        return {k: v[0] for k, v in query.items()}

    def authorization_code_tokens(
        self,
        client: ClientCredentials,
        redirect_uri: str,
        *,
        resource: str | None = None,
        scope: str | None = None,
        auth: str = "none",
    ) -> dict[str, Any]:
        """The token response of a whole authorization-code flow with PKCE S256."""
        verifier, challenge = pkce_pair()
        back = self.authorize(
            client.client_id, redirect_uri, resource=resource, scope=scope, challenge=challenge
        )
        if "code" not in back:
            raise RuntimeError(f"authorization refused: {back}")
        form = {
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "resource": resource,
        }
        response = self.token_request(form, client, auth=auth)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def mint(
        self,
        claims: dict[str, Any] | None = None,
        *,
        drop: Sequence[str] = (),
        header: dict[str, Any] | None = None,
        signature: str = "valid",
        ttl: int = 300,
    ) -> str:
        """A token with these claims over the defaults (``iss`` this server, ``sub``
        ``test-user``, ``exp`` in ``ttl`` s); ``drop`` removes claims; ``header`` adds to
        the JOSE header (``{"kid": "x"}``); ``signature``: ``valid``, ``none``,
        ``hs256-public``, ``garbage`` or ``foreign``."""
        body = {
            "claims": claims or {},
            "drop": list(drop),
            "header": header or {},
            "signature": signature,
            "ttl": ttl,
        }
        return str(self._admin("POST", "mint", body)["token"])

    def rotate_key(self, *, keep_old: bool = True) -> str:
        """Sign with a new key from now on; returns its ``kid``."""
        return str(self._admin("POST", "rotate", {"keep_old": keep_old})["kid"])

    def set_jwks_up(self, up: bool) -> None:
        """Serve the JWKS (``True``) or answer it with 503 (``False``)."""
        self._admin("POST", "jwks", {"up": up})

    @property
    def jwks_fetches(self) -> int:
        """How many times the JWKS was requested since the last reset."""
        return int(self._admin("GET", "jwks")["fetches"])

    def reset_jwks_fetches(self) -> None:
        self._admin("DELETE", "jwks/fetches")

    @property
    def kids(self) -> list[str]:
        """The ``kid`` of each key the JWKS serves, the signing key last."""
        return list(self._admin("GET", "jwks")["kids"])


@contextlib.contextmanager
def oauth_server(**options: Any) -> Iterator[OAuthServer]:
    """An :class:`OAuthServer`, started, and stopped after."""
    server = OAuthServer(**options).start()
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    main()
