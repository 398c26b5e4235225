"""Lambda behind a Function URL.

Each invocation may land on a different instance, and an instance is frozen between
invocations: 2026-07-28 requests are stateless and need nothing more; 2025-era
sessions need the fleet state in Redis. With in-memory state the function refuses
2025-era requests and says why.

The contract with the runtime (``mcpfleet.aws_lambda``, which this module names but never
imports): the image's entry point is ``python -m mcpfleet.aws_lambda`` (the Lambda
runtime interface client with the handler), ``MCPFLEET_APP`` names the app, and
``LAMBDA_INVOKE_MODE`` says whether the Function URL streams responses
(``RESPONSE_STREAM``, so SSE arrives as it is produced) or returns them whole
(``BUFFERED``).
"""

from __future__ import annotations

from mcpfleet.deploy import access, cache, common, managed
from mcpfleet.deploy.declarations import Declarations
from mcpfleet.deploy.model import Json, Note, Parameter, Template, get_att, if_, ref, sub
from mcpfleet.deploy.settings import Settings

ENTRY_POINT = ["python", "-m", "mcpfleet.aws_lambda"]
VPC_ACCESS_POLICY = sub(
    "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
)
TIMEOUT_SECONDS = 60


def _environment(
    t: Template, settings: Settings, secrets: dict[str, Json], decls: Declarations
) -> tuple[dict[str, Json], list[Json]]:
    env: dict[str, Json] = {
        **common.parameter_variables(decls),
        "MCPFLEET_APP": settings.app,
        "LAMBDA_INVOKE_MODE": settings.invoke_mode,
        "MCP_PATH": settings.path,
        "KEEPALIVE_SECONDS": str(settings.keepalive_seconds),
        "METRICS_NAMESPACE": settings.metrics_namespace,
        "METRICS_SERVICE": settings.name,
        "LOG_LEVEL": "info",
        **managed.secret_variables(secrets),
        **access.environment(t, settings, decls),
    }
    statements: list[Json] = []
    if settings.state == "redis":
        group = managed.client_group(t, "FunctionSecurityGroup", "Lambda: reach Redis")
        fleet = cache.redis(t, settings, group)
        env.update(fleet.env)
        statements = fleet.statements
    else:
        t.notes.append(
            "lambda: in-memory state, so only 2026-07-28 requests are served; "
            "2025-era sessions are refused (render with --state redis for them)"
        )
    return dict(sorted(env.items())), statements


def _concurrency(t: Template) -> Json:
    t.parameter(
        "ReservedConcurrency",
        Parameter(
            "Number",
            "Concurrent executions reserved for (and capping) the function; -1: none.",
            default=-1,
            min_value=-1,
            why="A cap keeps a flood of requests from taking every execution the account "
            "has (or from running up the bill). Reserving takes from the account's pool, "
            "which must keep 100 unreserved, so it is off (-1) until you choose a number.",
        ),
    )
    has = t.condition(
        "HasReservedConcurrency", {"Fn::Not": [{"Fn::Equals": [ref("ReservedConcurrency"), -1]}]}
    )
    return if_(has, ref("ReservedConcurrency"), ref("AWS::NoValue"))


def render_lambda(t: Template, settings: Settings, decls: Declarations) -> None:
    if settings.state == "redis":
        common.network_parameters(t)
    image = common.image(t)
    secrets = common.secret_arns(t, decls)
    common.log_group(t, settings.log_retention_days, common.APP_LOGS)
    key = common.stack_key(t)
    env, cache_statements = _environment(t, settings, secrets, decls)
    extra: list[Json] = [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": get_att("LogGroup", "Arn"),
        },
        common.read_secrets_statement(secrets),
        Note(
            {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key},
            "Read its own environment, encrypted with the stack's key.",
        ),
        *cache_statements,
    ]
    role = common.app_role(t, "FunctionRole", "lambda.amazonaws.com", decls, extra)
    if settings.state == "redis":
        t.properties("FunctionRole")["ManagedPolicyArns"] = [VPC_ACCESS_POLICY]
    props: dict[str, Json] = {
        "PackageType": "Image",
        "Code": {"ImageUri": image},
        "ImageConfig": Note(
            {"EntryPoint": ENTRY_POINT, "Command": []},
            "The runtime interface client with mcpfleet's handler; the image's own "
            "entry point (mcpfleet serve) would start a web server Lambda never calls.",
        ),
        "Architectures": [settings.architecture],
        "Role": role,
        "MemorySize": settings.memory,
        "Timeout": TIMEOUT_SECONDS,
        "ReservedConcurrentExecutions": _concurrency(t),
        "KmsKeyArn": key,
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
    t.skip_check(
        "Function",
        "CKV_AWS_116",
        "A Function URL invokes synchronously and the caller gets every error; a dead-letter "
        "queue only catches asynchronous invocations.",
    )
    if settings.state == "memory":
        t.skip_check(
            "Function",
            "CKV_AWS_117",
            "In-memory state: the function reaches nothing in a VPC, so it runs outside one.",
        )
    _url(t, settings)


def _url(t: Template, settings: Settings) -> None:
    streaming = settings.invoke_mode == "RESPONSE_STREAM"
    t.add(
        "FunctionUrl",
        "AWS::Lambda::Url",
        {
            "TargetFunctionArn": get_att("Function", "Arn"),
            "AuthType": Note("NONE", access.function_url_auth(settings)),
            "InvokeMode": Note(
                settings.invoke_mode,
                "Streamed: progress and SSE events reach the client as they are produced."
                if streaming
                else "Each response is returned whole; no event arrives before the last.",
            ),
        },
    )
    t.skip_check(
        "FunctionUrl",
        "CKV_AWS_258",
        "MCP clients send OAuth bearer tokens, not SigV4 signatures; the app authenticates "
        "every request itself.",
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
    t.add(
        "FunctionInvokePermission",
        "AWS::Lambda::Permission",
        {
            "FunctionName": ref("Function"),
            "Action": "lambda:InvokeFunction",
            "Principal": "*",
            "InvokedViaFunctionUrl": True,
        },
        "Function URLs also need lambda:InvokeFunction, limited to calls that come through "
        "the URL.",
    )
    t.output(
        "Endpoint",
        sub(f"${{FunctionUrl.FunctionUrl}}{settings.path.lstrip('/')}"),
        "The MCP endpoint.",
    )
