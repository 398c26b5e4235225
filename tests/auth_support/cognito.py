"""Amazon Cognito as moto's server mode plays it: a user pool, a resource server with
custom scopes, an app client and a user, and access tokens from ``InitiateAuth``.

What moto 5.2 does (read from its tokens and its ``cognitoidp`` source):

* tokens are RS256 JWTs with ``kid: "dummy"``, signed by one static key that ships
  inside moto and is the same for every pool;
* an access token carries ``iss`` naming the real Cognito host
  (``https://cognito-idp.{region}.amazonaws.com/{pool_id}``), ``sub`` (the user's
  id), ``client_id``, ``token_use: "access"``, ``username``, ``iat``, ``auth_time``,
  ``exp`` (an hour), ``jti``, ``origin_jti``, and ``cognito:groups`` for a user in
  groups; no ``aud`` (as in real Cognito). An id token has ``aud`` = the client id
  and ``token_use: "id"``;
* ``scope`` is always ``aws.cognito.signin.user.admin``: the resource server's
  custom scopes never appear (real Cognito puts them only in tokens from its hosted
  ``/oauth2/token`` endpoint, which moto does not serve: it answers 500);
* the pool's JWKS is served over HTTP at ``{moto_url}/{pool_id}/.well-known/jwks.json``
  and its discovery document at ``.../openid-configuration`` (whose ``issuer`` is
  the real Cognito host and whose ``jwks_uri`` points back at moto).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, NamedTuple

import boto3

from tests.moto_support import FAKE_AWS

RESOURCE_SERVER = "mcp-api"
CUSTOM_SCOPES = ("tools.read", "tools.write")


class CognitoAccess(NamedTuple):
    access_token: str
    issuer: str
    jwks_url: str
    client_id: str


@dataclass(frozen=True)
class CognitoPool:
    """A user pool on a moto server, with one app client and one confirmed user."""

    moto_url: str
    region: str
    pool_id: str
    client_id: str
    username: str
    password: str

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.moto_url}/{self.pool_id}/.well-known/jwks.json"

    def sign_in(self) -> dict[str, Any]:
        """``InitiateAuth`` with ``USER_PASSWORD_AUTH``: the ``AuthenticationResult``
        (``AccessToken``, ``IdToken``, ``RefreshToken``, ...)."""
        result = cognito_client(self.moto_url, self.region).initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": self.username, "PASSWORD": self.password},
        )
        authenticated: dict[str, Any] = result["AuthenticationResult"]
        return authenticated


def cognito_client(moto_url: str, region: str) -> Any:
    return boto3.client(
        "cognito-idp",
        endpoint_url=moto_url,
        region_name=region,
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    )


def create_pool(moto_url: str, region: str = "us-east-1", username: str = "alice") -> CognitoPool:
    """A pool, a resource server with :data:`CUSTOM_SCOPES`, an app client allowed to
    sign in with a password, and a confirmed user."""
    idp = cognito_client(moto_url, region)
    pool_id = idp.create_user_pool(PoolName=f"mcp-{secrets.token_hex(3)}")["UserPool"]["Id"]
    idp.create_resource_server(
        UserPoolId=pool_id,
        Identifier=RESOURCE_SERVER,
        Name="MCP API",
        Scopes=[{"ScopeName": s, "ScopeDescription": s} for s in CUSTOM_SCOPES],
    )
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="mcp-client",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        AllowedOAuthFlows=["code"],
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthScopes=[f"{RESOURCE_SERVER}/{s}" for s in CUSTOM_SCOPES],
        CallbackURLs=["http://localhost/callback"],
    )["UserPoolClient"]["ClientId"]
    password = f"Pw-{secrets.token_hex(8)}!"
    idp.admin_create_user(UserPoolId=pool_id, Username=username, TemporaryPassword=password)
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=password, Permanent=True
    )
    return CognitoPool(moto_url, region, pool_id, client_id, username, password)


def cognito_access_token(moto_url: str, region: str = "us-east-1") -> CognitoAccess:
    """A fresh pool's access token, with what a verifier needs to check it."""
    pool = create_pool(moto_url, region)
    token = pool.sign_in()["AccessToken"]
    return CognitoAccess(token, pool.issuer, pool.jwks_url, pool.client_id)
