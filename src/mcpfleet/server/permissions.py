"""What a tool needs from AWS, declared next to it, so the deployment can grant exactly that.

    @app.tool(permissions=[aws("s3:GetObject", "arn:aws:s3:::${DocumentsBucket}/docs/*")])
    async def get_document(key: str) -> str: ...

``${Name}`` in a resource is a deployment parameter (a bucket or table name known
only at deploy time). ``mcpfleet deploy`` turns the declarations of every tool
into the task role's policy, and checks them when it renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AwsPermission:
    """Allow ``actions`` on ``resources`` (IAM action names and ARNs, maybe parameterised)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]


def aws(actions: str | Sequence[str], resources: str | Sequence[str]) -> AwsPermission:
    """Declare AWS actions a tool needs, on the resources it needs them for."""
    acts = (actions,) if isinstance(actions, str) else tuple(actions)
    res = (resources,) if isinstance(resources, str) else tuple(resources)
    if not acts or not res:
        raise ValueError("an AWS permission names at least one action and one resource")
    return AwsPermission(acts, res)
