"""What an app declares it needs from AWS, checked, and turned into IAM policy statements.

The policy grants exactly the declared actions on exactly the declared resources:
nothing is widened, merged across tools or added. A declaration that IAM would
reject, or that would grant a whole service, is refused here, at render time, with
the name of the tool that made it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mcpfleet.deploy.model import Json, sub
from mcpfleet.errors import CommandError
from mcpfleet.server.app import Server
from mcpfleet.server.permissions import AwsPermission

# A template parameter ``${Name}``, or one of CloudFormation's pseudo parameters.
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,254}$")
_PSEUDO = {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix"}
_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
_SLOT = "\x00"  # where a placeholder stood, while the ARN is split at its colons
_PARTITION = re.compile(r"^(aws|aws-cn|aws-us-gov|aws-iso[a-z-]*|\x00)$")
_REGION = re.compile(r"^(|\*|[a-z]{2}(-[a-z]+)+-\d|\x00)$")
_ACCOUNT = re.compile(r"^(|\*|\d{12}|aws|\x00)$")
_SERVICE = re.compile(r"^[a-z0-9-]+$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
STATE_KEYS_SECRET = "REQUEST_STATE_KEYS"  # every task of a fleet must seal requestState alike


class DeclarationError(CommandError, ValueError):
    """A declaration that cannot be turned into IAM (or Cognito); the message names who
    declared it."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One declaration, checked: who declared it, and the actions and resources it names."""

    owner: str  # "tool get_document" or "the app"
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Declarations:
    """Everything the app declares, checked."""

    grants: tuple[Grant, ...]
    parameters: dict[str, tuple[str, ...]]  # template parameter -> owners that use it
    secrets: tuple[str, ...]  # environment variables filled from Secrets Manager
    # -- who may call: what an unauthenticated endpoint would expose, and the app's scopes
    offers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "tools" -> names
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # scope -> who needs it
    authenticates: bool = False  # the app has its own @app.authenticate hook


def check_action(action: str, owner: str) -> None:
    if action == "*" or not _ACTION.match(action):
        raise DeclarationError(
            f"{owner}: malformed IAM action {action!r} (expected service:Action, "
            "for example s3:GetObject)"
        )
    if action.split(":", 1)[1] == "*":
        raise DeclarationError(
            f"{owner}: action {action!r} grants every action of the service; "
            "declare the actions the tool calls"
        )


def check_resource(resource: str, owner: str) -> tuple[str, ...]:
    """Check an ARN (or a declared ``*``); return the template parameters it uses."""
    if resource == "*":
        return ()
    names = _PLACEHOLDER.findall(resource)
    bare = _PLACEHOLDER.sub(_SLOT, resource)
    bad = [n for n in names if n not in _PSEUDO and not _PARAM_NAME.match(n)]
    if bad or "$" in bare or "{" in bare or "}" in bare:
        raise DeclarationError(
            f"{owner}: malformed ARN {resource!r}: a template parameter is written "
            "${Name} (letters and digits)"
        )
    parts = bare.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise DeclarationError(
            f"{owner}: malformed ARN {resource!r} (expected "
            "arn:partition:service:region:account:resource)"
        )
    _, partition, service, region, account, rest = parts
    checks = {
        "partition": _PARTITION.match(partition),
        "service": _SERVICE.match(service),
        "region": _REGION.match(region),
        "account": _ACCOUNT.match(account),
        "resource": rest.strip() != "",
    }
    wrong = [part for part, ok in checks.items() if not ok]
    if wrong:
        raise DeclarationError(f"{owner}: malformed ARN {resource!r} (bad {', '.join(wrong)})")
    return tuple(n for n in names if n not in _PSEUDO)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name))


def _grants(owner: str, prefix: str, perms: tuple[AwsPermission, ...]) -> list[Grant]:
    out = []
    for index, perm in enumerate(perms, start=1):
        for action in perm.actions:
            check_action(action, owner)
        for resource in perm.resources:
            check_resource(resource, owner)
        out.append(Grant(owner, f"{prefix}{index}", perm.actions, perm.resources))
    return out


def collect(server: Server) -> Declarations:
    """Check every declaration of ``server`` (its tools' and its own)."""
    grants: list[Grant] = []
    for name in sorted(server.tools):
        tool = server.tools[name]
        grants += _grants(f"tool {name!r}", f"Tool{_camel(name)}", tool.permissions)
    grants += _grants("the app", "App", tuple(server.permissions))
    parameters: dict[str, tuple[str, ...]] = {}
    for grant in grants:
        for resource in grant.resources:
            for param in check_resource(resource, grant.owner):
                if grant.owner not in parameters.get(param, ()):
                    parameters[param] = (*parameters.get(param, ()), grant.owner)
    secrets: list[str] = []
    for secret in [*server.secrets, STATE_KEYS_SECRET]:
        if not _ENV_NAME.match(secret):
            raise DeclarationError(f"the app: secret {secret!r} is not an environment variable")
        if secret not in secrets:
            secrets.append(secret)
    return Declarations(
        tuple(grants),
        parameters,
        tuple(secrets),
        offers(server),
        scope_owners(server),
        server.authenticator is not None,
    )


def offers(server: Server) -> dict[str, tuple[str, ...]]:
    """What the app offers a caller, by kind (only the kinds it has)."""
    kinds = {
        "tools": tuple(server.tools),
        "resources": tuple(server.resources),
        "resource templates": tuple(t.template for t in server.templates),
        "prompts": tuple(server.prompts),
    }
    return {kind: names for kind, names in kinds.items() if names}


def scope_owners(server: Server) -> dict[str, tuple[str, ...]]:
    """Every OAuth scope the app names, in the app's order, with what needs it."""
    owners: dict[str, list[str]] = {scope: [] for scope in server.declared_scopes()}
    needs = [
        ("every request", server.required_scopes),
        *((f"tool {name}", tool.scopes) for name, tool in server.tools.items()),
        *((f"resource {uri}", r.scopes) for uri, r in server.resources.items()),
        *((f"resource template {t.template}", t.scopes) for t in server.templates),
        *((f"prompt {name}", p.scopes) for name, p in server.prompts.items()),
    ]
    for owner, scopes in needs:
        for scope in scopes:
            owners.setdefault(scope, []).append(owner)
    return {scope: tuple(names) for scope, names in owners.items()}


def policy_document(grants: tuple[Grant, ...], *, template: bool) -> dict[str, Json]:
    """The IAM policy for ``grants``; ``template`` writes ``${Name}`` as ``Fn::Sub``."""
    statements: list[Json] = []
    for grant in grants:
        resources: list[Json] = [_in_template(r) if template else r for r in grant.resources]
        statements.append(
            {
                "Sid": grant.sid,
                "Effect": "Allow",
                "Action": list(grant.actions),
                "Resource": resources,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _in_template(resource: str) -> Json:
    """A declared ARN as the template writes it: ``${Name}`` through ``Fn::Sub``, and the
    ``aws`` partition as the stack's own, so the policy holds in every partition."""
    if resource.startswith("arn:aws:"):
        resource = "arn:${AWS::Partition}:" + resource.removeprefix("arn:aws:")
    return sub(resource) if "${" in resource else resource


def secret_parameter(secret: str) -> str:
    """The template parameter that holds a secret's ARN: DATABASE_URL -> DatabaseUrlSecretArn."""
    return _camel(secret.lower().replace("_", "-")) + "SecretArn"
