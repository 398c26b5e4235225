"""An Amazon Cognito user pool as the app's OAuth authorization server (``--auth cognito``).

What is added to the template:

- a user pool, where an administrator creates the people's accounts;
- a resource server whose scopes are exactly the scopes the app declares (Cognito scope
  names allow ``:``, not ``/``), so a token grants ``<identifier>/<scope>``;
- a public app client for people: authorization code (MCP clients add PKCE), no secret,
  redirect URLs from the ``CallbackUrls`` parameter;
- a confidential app client for machines: client credentials, every scope, a generated
  secret that goes to Secrets Manager, never to an output;
- a hosted domain (prefix from the ``CognitoDomainPrefix`` parameter) whose
  ``/oauth2/token`` is the token endpoint.

Cognito access tokens carry no ``aud``: the app checks ``token_use=access`` and that
``client_id`` is one of the two clients instead (``AUTH_PRESET=cognito``), and strips
``<identifier>/`` from the scopes it is granted (``AUTH_SCOPE_PREFIX``).
"""

from __future__ import annotations

import re

from mcpfleet.deploy.declarations import DeclarationError, Declarations
from mcpfleet.deploy.model import Json, Note, Parameter, Template, ref, sub
from mcpfleet.deploy.settings import Settings

SCOPE_NAME = re.compile(r"^[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]{1,256}$")  # Cognito's grammar
MAX_CLIENT_SCOPES = 50  # Cognito's limit on one app client's scopes
DEFAULT_SCOPE = "mcp"  # for an app that declares none: client credentials needs one
ISSUER = "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"
TOKEN_ENDPOINT = "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com/oauth2/token"
DOMAIN_PREFIX = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"


def identifier(settings: Settings) -> str:
    """The resource server's identifier: the service name, in characters Cognito takes."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", settings.name).strip("-") or "mcp"


def checked_scopes(decls: Declarations, prefix: str) -> dict[str, tuple[str, ...]]:
    """The app's scopes, refused by name when Cognito cannot hold them."""
    scopes = decls.scopes or {DEFAULT_SCOPE: ("every request (the app declares no scopes)",)}
    for scope, owners in scopes.items():
        if not SCOPE_NAME.match(scope) or len(prefix + scope) > 256:
            raise DeclarationError(
                f"{', '.join(owners)}: scope {scope!r} cannot be a Cognito scope (no '/', "
                f"at most {256 - len(prefix)} characters here); rename it, or use --auth jwt "
                "with an identity provider that takes it"
            )
    if len(scopes) >= MAX_CLIENT_SCOPES:  # the people's client also asks for openid
        raise DeclarationError(
            f"the app declares {len(scopes)} scopes; a Cognito app client takes at most "
            f"{MAX_CLIENT_SCOPES} (openid among them): use fewer, or --auth jwt"
        )
    return scopes


def _description(owners: tuple[str, ...]) -> str:
    text = "Needed by " + ", ".join(owners)
    return text if len(text) <= 256 else text[:253] + "..."


def parameters(t: Template) -> None:
    t.parameter(
        "CognitoDomainPrefix",
        Parameter(
            "String",
            "Prefix of the Cognito hosted domain (<prefix>.auth.<region>.amazoncognito.com); "
            "unique in the region, and without 'aws', 'amazon' or 'cognito'.",
            allowed_pattern=DOMAIN_PREFIX,
            constraint="lower-case letters, digits and hyphens, at most 63",
        ),
    )
    t.parameter(
        "CallbackUrls",
        Parameter(
            "CommaDelimitedList",
            "Redirect URLs of the MCP clients people sign in with (https://..., or "
            "http://localhost:PORT/... for a client on the person's machine).",
            why="Cognito redirects only to these after sign-in; an MCP client registers its "
            "redirect URL with the client id in the PeopleClientId output.",
        ),
    )


def user_pool(t: Template) -> None:
    t.add(
        "UserPool",
        "AWS::Cognito::UserPool",
        {
            "UserPoolName": sub("${AWS::StackName}-users"),
            "UsernameAttributes": ["email"],
            "AutoVerifiedAttributes": ["email"],
            "AdminCreateUserConfig": Note(
                {"AllowAdminCreateUserOnly": True},
                (
                    "No self sign-up: an account grants the app's tools, so an administrator "
                    "creates it (aws cognito-idp admin-create-user)."
                ),
            ),
            "Policies": {
                "PasswordPolicy": {
                    "MinimumLength": 12,
                    "RequireLowercase": True,
                    "RequireUppercase": True,
                    "RequireNumbers": True,
                    "RequireSymbols": True,
                    "TemporaryPasswordValidityDays": 7,
                }
            },
            "MfaConfiguration": "OPTIONAL",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            "AccountRecoverySetting": {
                "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
            },
        },
        "The people and machines that may call the app; kept when the stack is deleted, "
        "since its accounts cannot be recreated.",
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
    )
    t.add(
        "UserPoolDomain",
        "AWS::Cognito::UserPoolDomain",
        {
            "Domain": ref("CognitoDomainPrefix"),
            "UserPoolId": ref("UserPool"),
        },
        "The hosted sign-in pages and the OAuth endpoints (/oauth2/authorize, /oauth2/token).",
    )


def resource_server(
    t: Template, server_id: str, scopes: dict[str, tuple[str, ...]], name: str
) -> None:
    t.add(
        "ResourceServer",
        "AWS::Cognito::UserPoolResourceServer",
        {
            "UserPoolId": ref("UserPool"),
            "Identifier": server_id,
            "Name": name,
            "Scopes": [
                {"ScopeName": scope, "ScopeDescription": _description(owners)}
                for scope, owners in scopes.items()
            ],
        },
        f"The app as Cognito knows it: the scopes it declares, granted as {server_id}/<scope>.",
    )


def clients(t: Template, granted: list[str]) -> None:
    after = ["ResourceServer"]  # the scopes are plain names: CloudFormation cannot infer it
    t.add(
        "PeopleClient",
        "AWS::Cognito::UserPoolClient",
        {
            "UserPoolId": ref("UserPool"),
            "ClientName": sub("${AWS::StackName}-people"),
            "GenerateSecret": Note(
                False,
                (
                    "A public client: an MCP client on a person's machine cannot keep a secret, so "
                    "it proves itself with PKCE (which MCP requires) instead."
                ),
            ),
            "AllowedOAuthFlowsUserPoolClient": True,
            "AllowedOAuthFlows": ["code"],
            "AllowedOAuthScopes": ["openid", *granted],
            "CallbackURLs": ref("CallbackUrls"),
            "SupportedIdentityProviders": ["COGNITO"],
            "ExplicitAuthFlows": ["ALLOW_REFRESH_TOKEN_AUTH"],
            "PreventUserExistenceErrors": "ENABLED",
            "EnableTokenRevocation": True,
        },
        "People: authorization code with PKCE through the hosted sign-in.",
        DependsOn=after,
    )
    t.add(
        "MachineClient",
        "AWS::Cognito::UserPoolClient",
        {
            "UserPoolId": ref("UserPool"),
            "ClientName": sub("${AWS::StackName}-machines"),
            "GenerateSecret": True,
            "AllowedOAuthFlowsUserPoolClient": True,
            "AllowedOAuthFlows": ["client_credentials"],
            "AllowedOAuthScopes": granted,
            "EnableTokenRevocation": True,
        },
        "Machines: client credentials, with every scope of the app.",
        DependsOn=after,
    )
    t.add(
        "MachineClientSecret",
        "AWS::SecretsManager::Secret",
        {
            "Description": sub("Client id and secret of ${AWS::StackName}'s machine client"),
            "SecretString": sub(
                '{"client_id":"${MachineClient}","client_secret":"${MachineClient.ClientSecret}",'
                '"token_endpoint":"' + TOKEN_ENDPOINT + '"}'
            ),
        },
        "The machine client's secret, readable with secretsmanager:GetSecretValue; never an "
        "output. It is remade with the client, so it goes with the stack.",
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
    )
    t.skip_check(
        "MachineClientSecret",
        "CKV_AWS_149",
        "Encrypted with Secrets Manager's AWS managed key; who may read it is decided by "
        "IAM, and a customer key would add a grant to every reader without narrowing them.",
    )


def outputs(t: Template) -> None:
    t.output("Issuer", sub(ISSUER), "OAuth issuer of the app's tokens (AUTH_ISSUER).")
    t.output(
        "PeopleClientId",
        ref("PeopleClient"),
        "Client id for MCP clients that people sign in with (authorization code + PKCE).",
    )
    t.output(
        "MachineClientId", ref("MachineClient"), "Client id for machines (client credentials)."
    )
    t.output(
        "MachineClientSecretArn",
        ref("MachineClientSecret"),
        "Secrets Manager secret holding the machine client's id and secret.",
    )
    t.output("TokenEndpoint", sub(TOKEN_ENDPOINT), "The hosted domain's token endpoint.")


def render(t: Template, settings: Settings, decls: Declarations) -> dict[str, Json]:
    """Add the user pool, its resource server, clients and domain; return the app's env."""
    server_id = identifier(settings)
    prefix = f"{server_id}/"
    scopes = checked_scopes(decls, prefix)
    if not decls.scopes:
        t.notes.append(
            f"cognito: the app declares no scopes, so the resource server has one, "
            f"{DEFAULT_SCOPE!r}, for client credentials to ask for"
        )
    parameters(t)
    user_pool(t)
    resource_server(t, server_id, scopes, settings.name)
    clients(t, [prefix + scope for scope in scopes])
    outputs(t)
    t.notes.append(
        "cognito: the user pool is kept when the stack is deleted "
        "(DeletionPolicy Retain); delete it by hand once its accounts are not needed"
    )
    return {
        "AUTH_ISSUER": sub(ISSUER),
        "AUTH_AUDIENCE": Note(
            sub("${PeopleClient},${MachineClient}"),
            (
                "Cognito access tokens have no aud: the app accepts a token whose client_id is "
                "one of these (AUTH_PRESET cognito)."
            ),
        ),
        "AUTH_PRESET": "cognito",
        "AUTH_SCOPE_PREFIX": prefix,
    }
