"""Who may call the rendered endpoint: the refusal to expose an app that checks no one,
and the settings that make the app an OAuth resource server.

An endpoint is internet-facing when anyone on the internet can send it a request. What
counts is read from the rendered template itself, so the rule cannot drift from the
resources:

- ecs-fargate: an Application Load Balancer whose scheme is ``internet-facing``;
- ecs-express: every Express service, since ECS gives it an HTTPS endpoint on a load
  balancer it manages (the render cannot tell whether the subnets given are private);
- apprunner: a service whose ingress is public (``IsPubliclyAccessible``, on by default);
- lambda: a Function URL with ``AuthType: NONE``.

An internet-facing render of an app that authenticates no one (no ``--auth``, no
``@app.authenticate`` hook) is refused, naming what it would expose, unless ``--public``
says that is the intent.
"""

from __future__ import annotations

from mcpfleet.deploy import cognito
from mcpfleet.deploy.declarations import Declarations
from mcpfleet.deploy.model import Json, Parameter, Template, strip_notes
from mcpfleet.deploy.settings import PUBLIC_URL_PATTERN, Settings, SettingsError

LISTED = 12  # offers named in the refusal before "and N more"
FIX = (
    "add authentication: --auth cognito (a new Amazon Cognito user pool), --auth jwt "
    "--issuer URL --audience AUD (an identity provider you already have), or an "
    "@app.authenticate hook in the app; or pass --public to expose it on purpose"
)


class ExposureRefused(SettingsError):
    """An internet-facing render of an app that authenticates no one."""


def exposures(t: Template) -> list[str]:
    """Why the rendered stack takes requests from the internet (empty: it does not)."""
    found = []
    for name, resource in strip_notes(t.resources).items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::ElasticLoadBalancingV2::LoadBalancer":
            if props.get("Scheme", "internet-facing") == "internet-facing":
                found.append(f"its load balancer {name} is internet-facing")
        elif kind == "AWS::Lambda::Url" and props.get("AuthType") == "NONE":
            found.append(
                f"its Lambda Function URL {name} takes requests from anyone (AuthType NONE)"
            )
        elif kind == "AWS::AppRunner::Service":
            ingress = props.get("NetworkConfiguration", {}).get("IngressConfiguration", {})
            if ingress.get("IsPubliclyAccessible", True):
                found.append(f"App Runner gives {name} public ingress")
        elif kind == "AWS::ECS::ExpressGatewayService":
            found.append(f"ECS Express gives {name} a public HTTPS endpoint")
    return found


def _listed(offers: dict[str, tuple[str, ...]]) -> str:
    """``its tools a, b and c; its prompts d``, each kind cut after ``LISTED`` names."""
    if not offers:
        return "the app (it offers nothing yet)"
    parts = []
    for kind, names in offers.items():
        shown = ", ".join(names[:LISTED])
        more = len(names) - LISTED
        kind = kind if len(names) > 1 else kind[:-1]  # "its tool echo"
        parts.append(f"its {kind} {shown}" + (f" and {more} more" if more > 0 else ""))
    return "; ".join(parts)


def check_exposure(t: Template, settings: Settings, decls: Declarations, app: str) -> None:
    """Refuse an internet-facing stack for an app that authenticates no one, unless
    ``--public``; with ``--public`` the render says what anyone can now call."""
    reasons = exposures(t)
    if not reasons or settings.auth is not None or decls.authenticates:
        return
    where = "; ".join(reasons)
    if settings.public:
        t.notes.append(
            f"public: {where}, and {app} authenticates no one, so anyone on the "
            f"internet can call {_listed(decls.offers)} (rendered with --public)"
        )
        return
    raise ExposureRefused(
        f"refusing to render {app} for {settings.target}: {where}, and the app authenticates "
        f"no one, so anyone on the internet could call {_listed(decls.offers)}. To fix it, "
        f"{FIX}"
    )


def public_url(t: Template, settings: Settings) -> Json:
    """``--public-url`` as given, else ``--domain``'s URL, else the ``PublicUrl`` parameter
    (with the reason)."""
    if settings.public_url is not None:
        return settings.public_url
    if settings.domain is not None:  # the Route 53 alias is the name on the certificate
        return f"https://{settings.domain}"
    if settings.target != "ecs-fargate":  # an AWS-made URL, known once the stack exists
        t.notes.append(
            f"{settings.target}: give PublicUrl at deploy up; the URL AWS makes for the "
            "service (the Endpoint output) exists only once the stack does, so use a custom "
            "domain, or deploy once and update with --param PublicUrl=<that origin>"
        )
    return t.parameter(
        "PublicUrl",
        Parameter(
            "String",
            f"Public base URL of the endpoint, such as https://mcp.example.com (the OAuth "
            f"resource is this URL + {settings.path}).",
            allowed_pattern=PUBLIC_URL_PATTERN,
            constraint="an https:// origin with no path and no trailing slash",
            why="Give it at deploy up (--param PublicUrl=https://...) or render with "
            "--public-url. The app names itself to OAuth clients with it (the protected "
            "resource is PublicUrl + MCP_PATH), so it must be the URL clients use: the name "
            "on the certificate behind an ALB, else a custom domain or the URL AWS made for "
            "the service. The template cannot fill it in: a service's own URL would be a "
            "reference from the service to itself.",
        ),
    )


def environment(t: Template, settings: Settings, decls: Declarations) -> dict[str, Json]:
    """The app's OAuth settings as environment variables (none without ``--auth``).

    With ``--auth cognito`` this adds the user pool and its clients to ``t``."""
    if settings.auth is None:
        return {} if settings.public_url is None else {"PUBLIC_URL": settings.public_url}
    env: dict[str, Json] = {"PUBLIC_URL": public_url(t, settings)}
    if settings.auth == "cognito":
        env.update(cognito.render(t, settings, decls))
        return env
    if settings.issuer is None:  # Settings.check_access refuses this already
        raise SettingsError("--auth jwt needs --issuer URL")
    env["AUTH_ISSUER"] = settings.issuer
    env["AUTH_AUDIENCE"] = ",".join(settings.audience)
    if settings.jwks_url is not None:
        env["AUTH_JWKS_URL"] = settings.jwks_url
    return env


def function_url_auth(settings: Settings) -> str:
    """The reason a Lambda Function URL takes anyone (``AuthType NONE``)."""
    if settings.auth is not None:
        return (
            "NONE on purpose: the app checks the OAuth bearer token itself (AUTH_ISSUER); "
            "AWS_IAM would demand SigV4-signed requests, which MCP clients do not send."
        )
    return "MCP authorization is the app's (its authenticate hook)."


__all__ = ["ExposureRefused", "check_exposure", "environment", "exposures", "public_url"]
