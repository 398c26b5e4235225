"""The auth tests' servers: the tests' own OAuth 2.1 authorization server and a moto
server, each started once per module on a free loopback port."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from mcpfleet.auth.jwt import JwtVerifier
from tests.auth_support.oauth_server import OAuthServer, oauth_server
from tests.moto_support import moto_server

RESOURCE = "http://127.0.0.1:8765/mcp"  # the resource server the tokens are for


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def auth_server() -> Iterator[OAuthServer]:
    with oauth_server() as server:
        yield server


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


class Clock:
    """A clock the test moves by hand, starting at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_verifier(auth_server: OAuthServer) -> AsyncIterator[Callable[..., JwtVerifier]]:
    """Builds verifiers for the auth server (issuer and audience preset), closed after."""
    made: list[JwtVerifier] = []

    def make(**options: Any) -> JwtVerifier:
        options.setdefault("issuer", auth_server.issuer)
        options.setdefault("audiences", [RESOURCE])
        verifier = JwtVerifier(**options)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()
