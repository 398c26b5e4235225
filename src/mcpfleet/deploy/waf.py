"""An AWS WAF web ACL in front of the endpoint (``--waf``).

A regional web ACL with three rules, cheapest first: a per-IP rate limit (its limit a
parameter), then AWS's managed common rule set and known-bad-inputs set. It attaches
where AWS WAF can: the ALB (ecs-fargate), the load balancer ECS Express manages, the App
Runner service. A Lambda Function URL takes no web ACL, so ``--waf`` is refused there
(see ``Settings.check_access``).
"""

from __future__ import annotations

from mcpfleet.deploy.model import Json, Note, Parameter, Template, get_att, ref
from mcpfleet.deploy.settings import Target

RATE_WINDOW_SECONDS = 300
# What the web ACL is associated with, per target (Lambda has nothing it can attach to).
PROTECTED: dict[Target, Json] = {
    "ecs-fargate": ref("LoadBalancer"),
    "ecs-express": get_att("Service", "ECSManagedResourceArns.IngressPath.LoadBalancerArn"),
    "apprunner": get_att("Service", "ServiceArn"),
}


def _visibility(metric: str) -> dict[str, Json]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": metric}


def _managed(name: str, priority: int, overrides: list[Json] | None = None) -> dict[str, Json]:
    statement: dict[str, Json] = {"VendorName": "AWS", "Name": name}
    if overrides:
        statement["RuleActionOverrides"] = overrides
    return {
        "Name": name,
        "Priority": priority,
        "OverrideAction": {"None": {}},
        "Statement": {"ManagedRuleGroupStatement": statement},
        "VisibilityConfig": _visibility(name),
    }


def rules() -> list[Json]:
    rate: dict[str, Json] = {
        "Name": "rate-per-ip",
        "Priority": 0,
        "Action": {"Block": {}},
        "Statement": {
            "RateBasedStatement": {
                "Limit": ref("WafRateLimit"),
                "AggregateKeyType": "IP",
                "EvaluationWindowSec": RATE_WINDOW_SECONDS,
            }
        },
        "VisibilityConfig": _visibility("rate-per-ip"),
    }
    body_size = Note(
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}},
        (
            "Count, not block, bodies over 8 KB: a tool call carries its arguments in the JSON "
            "body, and large ones are ordinary."
        ),
    )
    return [
        Note(rate, "First and cheapest: one client IP flooding the endpoint is cut off."),
        _managed("AWSManagedRulesCommonRuleSet", 1, [body_size]),
        _managed("AWSManagedRulesKnownBadInputsRuleSet", 2),
    ]


def protect(t: Template, target: Target) -> None:
    """Add the web ACL and associate it with what ``target`` serves the endpoint from."""
    t.parameter(
        "WafRateLimit",
        Parameter(
            "Number",
            f"Requests one client IP may make in {RATE_WINDOW_SECONDS // 60} minutes before "
            "AWS WAF blocks it for a while.",
            default=3000,
            min_value=10,
            max_value=2_000_000_000,
        ),
    )
    t.add(
        "WebAcl",
        "AWS::WAFv2::WebACL",
        {
            "Scope": "REGIONAL",
            "DefaultAction": {"Allow": {}},
            "Rules": rules(),
            "VisibilityConfig": _visibility("mcp-web-acl"),
        },
        "Filters requests before they reach the app: rate per IP, AWS managed rules.",
    )
    t.add(
        "WebAclAssociation",
        "AWS::WAFv2::WebACLAssociation",
        {
            "ResourceArn": PROTECTED[target],
            "WebACLArn": get_att("WebAcl", "Arn"),
        },
    )
    if target == "ecs-express":
        t.notes.append(
            "waf: the web ACL goes on the load balancer ECS Express manages; if ECS "
            "puts other Express services behind the same load balancer, it filters "
            "their requests too (a load balancer takes one web ACL)"
        )
