"""What the official Python SDK's OAuth client needs from a test: a token store in memory,
a "browser" that follows the authorization URL with httpx, and a log of every HTTP
exchange the SDK makes, so a test can tell the OAuth flow really happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthToken


@dataclass
class MemoryTokenStorage:
    """The SDK's ``TokenStorage`` protocol, in memory, remembering what it was given."""

    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Browser:
    """The user agent of the authorization-code flow: it GETs the authorization URL the SDK
    hands it, without following the redirect, and gives back what the redirect carried."""

    redirect_uri: str
    authorization_urls: list[str] = field(default_factory=list)
    _back: dict[str, str] = field(default_factory=dict)

    async def open(self, authorization_url: str) -> None:
        """The SDK's ``redirect_handler``."""
        self.authorization_urls.append(authorization_url)
        async with httpx.AsyncClient(timeout=10.0) as http:
            response = await http.get(authorization_url)
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(self.redirect_uri), location
        self._back = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    async def callback(self) -> AuthorizationCodeResult:
        """The SDK's ``callback_handler``: the code, state and iss of the last redirect."""
        back, self._back = self._back, {}
        assert "code" in back, f"the authorization server refused: {back}"
        return AuthorizationCodeResult(
            code=back["code"], state=back.get("state"), iss=back.get("iss")
        )


@dataclass(frozen=True)
class Exchange:
    method: str
    url: str
    status: int
    authorization: str | None


@dataclass
class HttpLog:
    """Every request the SDK's HTTP client sent (auth-flow requests included) and the
    status it got, in order, through httpx2's event hooks."""

    exchanges: list[Exchange] = field(default_factory=list)

    async def on_response(self, response: httpx2.Response) -> None:
        request = response.request
        self.exchanges.append(
            Exchange(
                request.method,
                str(request.url),
                response.status_code,
                request.headers.get("authorization"),
            )
        )

    def client(self, auth: httpx2.Auth) -> httpx2.AsyncClient:
        """An HTTP client for ``streamable_http_client`` that authenticates with ``auth``
        and logs here."""
        return httpx2.AsyncClient(
            auth=auth,
            timeout=httpx2.Timeout(30.0, read=300.0),
            event_hooks={"response": [self.on_response]},
        )

    def to(self, url_prefix: str, method: str | None = None) -> list[Exchange]:
        return [
            e
            for e in self.exchanges
            if e.url.startswith(url_prefix) and (method is None or e.method == method)
        ]
