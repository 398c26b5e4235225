"""Lambda behind a Function URL.

Each invocation may land on a different instance, and an instance is frozen between
invocations: 2026-07-28 requests are stateless and need nothing more; 2025-era
sessions need the fleet state in Redis. With in-memory state the handler adapter
refuses 2025-era requests and says why.
"""

from __future__ import annotations

from mcpfleet.deploy import access, common, managed
from mcpfleet.deploy.declarations import Declarations
from mcpfleet.deploy.model import Json, Note, Template, get_att, ref, sub
from mcpfleet.deploy.settings import Settings

HANDLER = "mcpfleet.deploy.lambda_adapter.handler"
VPC_ACCESS_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
TIMEOUT_SECONDS = 60


def _environment(
    t: Template, settings: Settings, secrets: dict[str, Json], decls: Declarations
) -> dict[str, Json]:
    env: dict[str, Json] = {
        **common.parameter_variables(decls),
        "MCPFLEET_APP": settings.app,
        "MCP_PATH": settings.path,
        "KEEPALIVE_SECONDS": str(settings.keepalive_seconds),
        "LOG_LEVEL": "info",
        **managed.secret_variables(secrets),
        **access.environment(t, settings, decls),
    }
    if settings.state == "redis":
        group = managed.client_group(t, "FunctionSecurityGroup", "Lambda: reach Redis")
        env["REDIS_URL"] = common.redis(t, group)
    else:
        t.notes.append(
            "lambda: in-memory state, so only 2026-07-28 requests are served; "
            "2025-era sessions are refused (render with --state redis for them)"
        )
    return dict(sorted(env.items()))


def render_lambda(t: Template, settings: Settings, decls: Declarations) -> None:
    if settings.state == "redis":
        common.network_parameters(t)
    image = common.image(t)
    secrets = common.secret_arns(t, decls)
    common.log_group(t, settings, "/mcpfleet/lambda")
    extra: list[Json] = [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": get_att("LogGroup", "Arn"),
        },
        common.read_secrets_statement(secrets),
    ]
    role = common.app_role(t, "FunctionRole", "lambda.amazonaws.com", decls, extra)
    env = _environment(t, settings, secrets, decls)
    if settings.state == "redis":
        role_props = t.resources["FunctionRole"].value["Properties"]
        role_props["ManagedPolicyArns"] = [VPC_ACCESS_POLICY]
    props: dict[str, Json] = {
        "PackageType": "Image",
        "Code": {"ImageUri": image},
        "ImageConfig": {"Command": [HANDLER]},
        "Role": role,
        "MemorySize": settings.memory,
        "Timeout": TIMEOUT_SECONDS,
        "Environment": {"Variables": env},
        "LoggingConfig": {"LogGroup": ref("LogGroup")},
    }
    if settings.state == "redis":
        props["VpcConfig"] = Note(
            {
                "SubnetIds": ref("PrivateSubnetIds"),
                "SecurityGroupIds": [get_att("FunctionSecurityGroup", "GroupId")],
            },
            "In the VPC to reach Redis (outbound internet then needs a NAT route).",
        )
    t.add("Function", "AWS::Lambda::Function", props)
    _url(t, settings)


def _url(t: Template, settings: Settings) -> None:
    t.add(
        "FunctionUrl",
        "AWS::Lambda::Url",
        {
            "TargetFunctionArn": get_att("Function", "Arn"),
            "AuthType": Note("NONE", access.function_url_auth(settings)),
            "InvokeMode": Note(
                "BUFFERED", "Each response is returned whole; no long-lived streams."
            ),
        },
    )
    t.add(
        "FunctionUrlPermission",
        "AWS::Lambda::Permission",
        {
            "FunctionName": ref("Function"),
            "Action": "lambda:InvokeFunctionUrl",
            "Principal": "*",
            "FunctionUrlAuthType": "NONE",
        },
    )
    t.output(
        "Endpoint",
        sub(f"${{FunctionUrl.FunctionUrl}}{settings.path.lstrip('/')}"),
        "The MCP endpoint.",
    )
