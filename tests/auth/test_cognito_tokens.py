"""Amazon Cognito access tokens, as moto's server mode issues them, through the
``cognito`` preset (Cognito access tokens carry ``client_id`` and no ``aud``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mcpfleet.auth.jwt import JwtVerifier
from mcpfleet.errors import InvalidToken
from tests.auth_support.cognito import CognitoPool, cognito_access_token, create_pool

pytestmark = pytest.mark.anyio

MakeVerifier = Callable[..., JwtVerifier]


@pytest.fixture(scope="module")
def pool(moto_url: str) -> CognitoPool:
    return create_pool(moto_url)


@pytest.fixture
async def cognito_verifier(pool: CognitoPool) -> AsyncIterator[MakeVerifier]:
    """Builds verifiers for the pool (issuer, JWKS on moto, cognito preset), closed after."""
    made: list[JwtVerifier] = []

    def make(**options: Any) -> JwtVerifier:
        settings: dict[str, Any] = {
            "issuer": pool.issuer,
            "audiences": [pool.client_id],
            "jwks_url": pool.jwks_url,
            "preset": "cognito",
        }
        verifier = JwtVerifier(**{**settings, **options})
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()


async def test_cognito_access_token_verifies(moto_url: str) -> None:
    """A Cognito access token verifies with the cognito preset and the pool's JWKS on moto."""
    token, issuer, jwks_url, client_id = cognito_access_token(moto_url)
    verifier = JwtVerifier(
        issuer=issuer, audiences=[client_id], jwks_url=jwks_url, preset="cognito"
    )
    try:
        principal = await verifier.verify(token)
    finally:
        await verifier.aclose()
    assert issuer.startswith("https://cognito-idp.us-east-1.amazonaws.com/")
    assert principal.id == f"{issuer}|{principal.subject}"
    assert principal.client_id == client_id
    assert principal.claims["token_use"] == "access"
    assert principal.scopes == {"aws.cognito.signin.user.admin"}  # moto's only scope


async def test_wrong_client_id_is_refused(
    pool: CognitoPool, cognito_verifier: MakeVerifier
) -> None:
    """A Cognito access token for another app client is refused as the wrong audience."""
    token = pool.sign_in()["AccessToken"]
    with pytest.raises(InvalidToken, match="wrong audience"):
        await cognito_verifier(audiences=["some-other-client"]).verify(token)


async def test_id_token_is_not_an_access_token(
    pool: CognitoPool, cognito_verifier: MakeVerifier
) -> None:
    """A Cognito id token (``token_use: id``) is refused under the cognito preset."""
    token = pool.sign_in()["IdToken"]
    with pytest.raises(InvalidToken, match="not an access token"):
        await cognito_verifier().verify(token)


async def test_oidc_preset_refuses_a_token_without_aud(
    pool: CognitoPool, cognito_verifier: MakeVerifier
) -> None:
    """Under the oidc preset a Cognito access token has no ``aud`` and is refused."""
    token = pool.sign_in()["AccessToken"]
    with pytest.raises(InvalidToken, match="wrong audience"):
        await cognito_verifier(preset="oidc").verify(token)


async def test_another_pools_issuer_is_refused(
    pool: CognitoPool, cognito_verifier: MakeVerifier
) -> None:
    """moto signs every pool with one key, so only ``iss`` tells pools apart: it is checked."""
    other = create_pool(pool.moto_url)
    token = other.sign_in()["AccessToken"]
    with pytest.raises(InvalidToken, match="wrong issuer"):
        await cognito_verifier(audiences=[other.client_id]).verify(token)
