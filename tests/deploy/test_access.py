"""Who may call the rendered endpoint: the refusal to expose an unauthenticated app, the
Cognito user pool and the existing identity provider (--auth), and AWS WAF (--waf)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import loads
from click.testing import CliRunner

from mcpfleet import Server
from mcpfleet.deploy.access import ExposureRefused, exposures
from mcpfleet.deploy.cli import deploy
from mcpfleet.deploy.declarations import DeclarationError
from mcpfleet.deploy.model import Template
from mcpfleet.deploy.render import Rendered, render
from mcpfleet.deploy.settings import Settings, SettingsError
from tests.deploy import apps
from tests.deploy.conftest import AUTH_COMBOS, ISSUER, Case, rendered_case, settings_for

TARGETS = [
    ("ecs-fargate", "redis"),
    ("ecs-express", "redis"),
    ("apprunner", "redis"),
    ("lambda", "memory"),
]
# What makes each target internet-facing, as the refusal says it.
EXPOSED_BY = {
    "ecs-fargate": "load balancer LoadBalancer is internet-facing",
    "ecs-express": "ECS Express gives Service a public HTTPS endpoint",
    "apprunner": "App Runner gives Service public ingress",
    "lambda": "Lambda Function URL FunctionUrl takes requests from anyone",
}
COGNITO = [combo for combo in AUTH_COMBOS if combo[3].startswith("cognito")]
WAF = [combo for combo in AUTH_COMBOS if combo[3].endswith("waf")]
SRC = Path(__file__).parents[2] / "src" / "mcpfleet" / "deploy"


def environment(case: Case, target: str) -> dict[str, Any]:
    """The app's environment variables, wherever the target keeps them."""
    if target == "lambda":
        variables: dict[str, Any] = case.resource("Function")["Environment"]["Variables"]
        return variables
    if target == "ecs-fargate":
        [container] = case.resource("TaskDefinition")["ContainerDefinitions"]
        pairs = container["Environment"]
    elif target == "ecs-express":
        pairs = case.resource("Service")["PrimaryContainer"]["Environment"]
    else:
        pairs = case.resource("Service")["SourceConfiguration"]["ImageRepository"][
            "ImageConfiguration"
        ]["RuntimeEnvironmentVariables"]
    return {pair["Name"]: pair["Value"] for pair in pairs}


@pytest.mark.parametrize(("target", "state"), TARGETS)
def test_unauthenticated_internet_facing_render_is_refused(target: str, state: str) -> None:
    """Every target is internet-facing, so an app that checks no one is refused, naming what
    makes it public, the tools it would expose and the ways to fix it."""
    with pytest.raises(ExposureRefused) as refused:
        render(apps.docs, Settings(target=target, state=state))  # type: ignore[arg-type]
    message = str(refused.value)
    assert EXPOSED_BY[target] in message
    assert "its tools get_document, put_document, list_documents" in message
    for fix in (
        "--auth cognito",
        "--auth jwt --issuer URL --audience AUD",
        "--public",
        "@app.authenticate",
    ):
        assert fix in message


@pytest.mark.parametrize(
    ("kind", "props", "exposed"),
    [
        ("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internet-facing"}, True),
        ("AWS::ElasticLoadBalancingV2::LoadBalancer", {}, True),
        ("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internal"}, False),
        ("AWS::Lambda::Url", {"AuthType": "NONE"}, True),
        ("AWS::Lambda::Url", {"AuthType": "AWS_IAM"}, False),
        ("AWS::AppRunner::Service", {}, True),
        (
            "AWS::AppRunner::Service",
            {"NetworkConfiguration": {"IngressConfiguration": {"IsPubliclyAccessible": False}}},
            False,
        ),
        ("AWS::ECS::ExpressGatewayService", {}, True),
        ("AWS::ECS::Service", {}, False),
    ],
)
def test_what_counts_as_internet_facing(kind: str, props: dict[str, Any], exposed: bool) -> None:
    """A public ALB, an open Function URL, public App Runner ingress and ECS Express count;
    an internal ALB, an IAM-only Function URL and private ingress do not."""
    template = Template("t")
    template.add("Front", kind, props)
    assert bool(exposures(template)) is exposed


def test_refusal_names_resources_and_prompts_too() -> None:
    """An app's resources and prompts are named beside its tools."""
    with pytest.raises(
        ExposureRefused,
        match=r"its tools read_note, write_note; its resource "
        r"notes://index; its prompt summarize",
    ):
        render(apps.notes, Settings())


def test_cli_refusal_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    """deploy render prints the refusal with the tools' names and writes no file."""
    result = CliRunner().invoke(
        deploy, ["render", "--app", "tests.deploy.apps:docs", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "refusing to render docs for ecs-fargate" in result.output
    assert "get_document, put_document, list_documents" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("target", "state"), TARGETS)
def test_public_lifts_the_refusal_and_says_so(target: str, state: str) -> None:
    """With --public the stack renders as before, and a note says who can call what."""
    notes = rendered_case("docs", target, state).rendered.notes
    [public] = [note for note in notes if note.startswith("public: ")]
    assert EXPOSED_BY[target] in public
    assert "get_document, put_document, list_documents" in public


@pytest.mark.parametrize("variant", ["cognito", "jwt"])
def test_auth_lifts_the_refusal(variant: str) -> None:
    """With --auth cognito or --auth jwt the app renders, with no 'public' note."""
    result = render(apps.docs, settings_for("docs", "ecs-fargate", "memory", variant))
    assert not [note for note in result.notes if note.startswith("public: ")]


@pytest.mark.parametrize(("target", "state"), TARGETS)
def test_app_with_its_own_authenticate_hook_is_not_refused(target: str, state: str) -> None:
    """An app whose @app.authenticate hook names callers renders without --auth or --public."""
    result = render(apps.keyed, Settings(target=target, state=state))  # type: ignore[arg-type]
    assert not [note for note in result.notes if note.startswith("public: ")]


@pytest.mark.parametrize("combo", COGNITO, ids="-".join)
def test_cognito_scopes_are_the_apps_declared_scopes(combo: tuple[str, str, str, str]) -> None:
    """The resource server holds exactly the app's declared scopes, in order, and both
    clients are granted every one of them under the server's identifier."""
    case = rendered_case(*combo)
    declared = apps.notes.declared_scopes()
    server = case.resource("ResourceServer")
    assert [scope["ScopeName"] for scope in server["Scopes"]] == declared
    granted = [f"{server['Identifier']}/{scope}" for scope in declared]
    assert case.resource("MachineClient")["AllowedOAuthScopes"] == granted
    assert case.resource("PeopleClient")["AllowedOAuthScopes"] == ["openid", *granted]
    for client in ("PeopleClient", "MachineClient"):
        assert case.template["Resources"][client]["DependsOn"] == ["ResourceServer"]


@pytest.mark.parametrize("combo", COGNITO, ids="-".join)
def test_cognito_settings_reach_the_app(combo: tuple[str, str, str, str]) -> None:
    """The container (or function) gets the pool's issuer, both client ids as audiences,
    the cognito preset, the scope prefix, and PUBLIC_URL from the PublicUrl parameter."""
    case = rendered_case(*combo)
    env = environment(case, combo[1])
    assert env["AUTH_ISSUER"] == {
        "Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"
    }
    assert env["AUTH_AUDIENCE"] == {"Fn::Sub": "${PeopleClient},${MachineClient}"}
    assert env["AUTH_PRESET"] == "cognito"
    assert env["AUTH_SCOPE_PREFIX"] == case.resource("ResourceServer")["Identifier"] + "/"
    assert env["PUBLIC_URL"] == {"Ref": "PublicUrl"}


@pytest.mark.parametrize("combo", COGNITO, ids="-".join)
def test_cognito_clients_and_outputs(combo: tuple[str, str, str, str]) -> None:
    """People get a public code-flow client, machines a confidential client-credentials one;
    the outputs give the issuer, both client ids and the token endpoint, never the secret."""
    case = rendered_case(*combo)
    people, machines = case.resource("PeopleClient"), case.resource("MachineClient")
    assert (people["GenerateSecret"], people["AllowedOAuthFlows"]) == (False, ["code"])
    assert people["CallbackURLs"] == {"Ref": "CallbackUrls"}
    assert (machines["GenerateSecret"], machines["AllowedOAuthFlows"]) == (
        True,
        ["client_credentials"],
    )
    assert case.resource("UserPoolDomain")["Domain"] == {"Ref": "CognitoDomainPrefix"}
    outputs = case.template["Outputs"]
    assert {"Issuer", "PeopleClientId", "MachineClientId", "TokenEndpoint"} <= set(outputs)
    assert outputs["TokenEndpoint"]["Value"]["Fn::Sub"].endswith("/oauth2/token")
    values = str([output["Value"] for output in outputs.values()])
    assert "MachineClient.ClientSecret" not in values
    assert "['MachineClient', 'ClientSecret']" not in values
    assert outputs["MachineClientSecretArn"]["Value"] == {"Ref": "MachineClientSecret"}


def test_app_without_scopes_gets_one_cognito_scope_and_a_note() -> None:
    """Client credentials needs a scope to ask for: an app that declares none gets 'mcp'."""
    result = render(apps.bare, Settings(auth="cognito", name="bare"))
    server = result.template["Resources"]["ResourceServer"]["Properties"]
    assert [scope["ScopeName"] for scope in server["Scopes"]] == ["mcp"]
    assert any("declares no scopes" in note for note in result.notes)


def test_scope_cognito_cannot_hold_is_refused_by_name() -> None:
    """A scope with '/' cannot be a Cognito scope name: refused, naming who declared it."""
    app = Server("slashed", "1.0.0")

    @app.tool(scopes=["docs/write"])
    async def save(text: str) -> str:
        """Save."""
        return text

    with pytest.raises(DeclarationError, match=r"tool save: scope 'docs/write'.*--auth jwt"):
        render(app, Settings(auth="cognito"))


@pytest.mark.parametrize("target", ["ecs-fargate", "lambda"])
def test_jwt_passes_only_the_settings(target: str) -> None:
    """--auth jwt adds the issuer, audiences, key URL and public URL, and no Cognito."""
    case = rendered_case("notes", target, "memory", "jwt")
    env = environment(case, target)
    assert (env["AUTH_ISSUER"], env["AUTH_AUDIENCE"], env["AUTH_JWKS_URL"]) == (
        ISSUER,
        "notes-api,notes-cli",
        f"{ISSUER}/keys",
    )
    assert env["PUBLIC_URL"] == "https://notes.example.com"
    assert "AUTH_PRESET" not in env
    kinds = {resource["Type"] for resource in case.template["Resources"].values()}
    assert not [kind for kind in kinds if kind.startswith("AWS::Cognito::")]
    assert "PublicUrl" not in case.template.get("Parameters", {})


def test_public_url_parameter_is_explained() -> None:
    """Without --public-url, PublicUrl is a parameter with a comment saying what to give."""
    text = rendered_case("notes", "ecs-fargate", "redis", "cognito-waf").rendered.files[
        "template.yaml"
    ]
    lines = text.splitlines()
    index = lines.index("  PublicUrl:")
    assert lines[index - 1].strip().startswith("#")
    assert "--param PublicUrl=https://" in text


def test_function_url_stays_open_and_says_the_app_checks_tokens() -> None:
    """With --auth the Function URL keeps AuthType NONE, with the reason as a comment."""
    case = rendered_case("notes", "lambda", "redis", "cognito")
    assert case.resource("FunctionUrl")["AuthType"] == "NONE"
    text = case.rendered.files["template.yaml"]
    assert "# NONE on purpose: the app checks the OAuth bearer token itself" in text


def test_cli_takes_audiences_repeated_and_comma_separated(tmp_path: Path) -> None:
    """--audience a,b --audience c reaches the app as AUTH_AUDIENCE=a,b,c."""
    result = CliRunner().invoke(
        deploy,
        [
            "render",
            "--app",
            "tests.deploy.apps:notes",
            "--out",
            str(tmp_path),
            "--state",
            "memory",
            "--auth",
            "jwt",
            "--issuer",
            ISSUER,
            "--audience",
            "a, b",
            "--audience",
            "c",
            "--public-url",
            "https://notes.example.com",
        ],
    )
    assert result.exit_code == 0, result.output
    case = Case(Rendered(), loads((tmp_path / "template.yaml").read_text()))
    assert environment(case, "ecs-fargate")["AUTH_AUDIENCE"] == "a,b,c"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"auth": "cognito", "public": True}, "drop --public"),
        ({"issuer": ISSUER}, "--issuer: only with --auth jwt"),
        ({"auth": "cognito", "audience": ("x",)}, "--audience: only with --auth jwt"),
        ({"auth": "jwt", "issuer": ISSUER}, "needs --issuer URL and --audience AUD"),
        (
            {"auth": "jwt", "issuer": "http://login.example.com", "audience": ("x",)},
            "--issuer: expected an https:// URL",
        ),
        ({"auth": "cognito", "public_url": "https://mcp.example.com/mcp"}, "no path"),
        (
            {"target": "lambda", "auth": "cognito", "waf": True},
            "AWS WAF cannot attach to a Lambda Function URL",
        ),
    ],
)
def test_contradictory_access_settings_are_refused(options: dict[str, Any], message: str) -> None:
    """Authentication options that contradict each other or are incomplete are refused."""
    with pytest.raises(SettingsError, match=message):
        Settings(**options).check()


@pytest.mark.parametrize("combo", WAF, ids="-".join)
def test_waf_attaches_to_what_serves_the_endpoint(combo: tuple[str, str, str, str]) -> None:
    """The regional web ACL (rate per IP, AWS managed rules) is associated with the ALB, the
    load balancer ECS Express manages, or the App Runner service."""
    case = rendered_case(*combo)
    acl = case.resource("WebAcl")
    assert acl["Scope"] == "REGIONAL"
    rate, *managed = acl["Rules"]
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == {"Ref": "WafRateLimit"}
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    groups = [rule["Statement"]["ManagedRuleGroupStatement"]["Name"] for rule in managed]
    assert groups == ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]
    protected = {
        "ecs-fargate": {"Ref": "LoadBalancer"},
        "ecs-express": {
            "Fn::GetAtt": ["Service", "ECSManagedResourceArns.IngressPath.LoadBalancerArn"]
        },
        "apprunner": {"Fn::GetAtt": ["Service", "ServiceArn"]},
    }
    assert case.resource("WebAclAssociation")["ResourceArn"] == protected[combo[1]]


def test_cli_refuses_waf_for_lambda(tmp_path: Path) -> None:
    """deploy render --target lambda --waf exits non-zero and says why."""
    result = CliRunner().invoke(
        deploy,
        [
            "render",
            "--app",
            "tests.deploy.apps:notes",
            "--target",
            "lambda",
            "--auth",
            "cognito",
            "--waf",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 1
    assert "AWS WAF cannot attach to a Lambda Function URL" in result.output


def test_rendering_never_imports_the_transport() -> None:
    """No deploy module imports the transport or the Lambda runtime: rendering runs no app."""
    importers = []
    for path in sorted(SRC.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            runtime = ("mcpfleet.transport", "mcpfleet.aws_lambda", "mcpfleet.deploy.lambda_")
            if any(name.startswith(runtime) for name in names):
                importers.append(path.name)
    assert importers == []
