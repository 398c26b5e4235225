"""Create, update, compare and delete a stack with CloudFormation change sets.

Every wait is a bounded poll: ``Poll.attempts`` times ``Poll.interval`` seconds at most.
Progress (each new stack event) goes to ``echo`` as it happens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mcpfleet.errors import CommandError

Echo = Callable[[str], None]
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


class StackError(CommandError, RuntimeError):
    """CloudFormation refused or rolled back; the message says what and why."""


def client_errors() -> type[Exception]:
    """The SDK's error for a refused call (CloudFormation's validation errors among them)."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped]

    error: type[Exception] = ClientError
    return error


@dataclass(frozen=True, slots=True)
class Poll:
    interval: float = 5.0
    attempts: int = 720  # one hour at the default interval

    def sleep(self) -> None:
        time.sleep(self.interval)


IMAGE_DIGEST = "ImageDigest"
IMAGE_REPOSITORY = "ImageRepository"


def image_digest(ecr: Any, repository: str, tag: str) -> str:
    """The digest ECR holds for ``repository:tag`` (what the tag names right now)."""
    try:
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ecr.exceptions.ClientError as error:
        raise StackError(
            f"image {repository}:{tag}: ECR says {error.response['Error']['Message']}"
        ) from None
    details = found.get("imageDetails", [])
    if not details:
        raise StackError(f"image {repository}:{tag}: ECR has no such image")
    digest: str = details[0]["imageDigest"]
    return digest


def pin_image(
    ecr: Any, template: str, parameters: Mapping[str, str], tag: str, echo: Echo
) -> dict[str, str]:
    """``parameters`` with ``ImageDigest`` filled in from ``tag``, when the template takes
    one and it is not given: a pushed image deploys even when its tag did not change."""
    out = dict(parameters)
    if IMAGE_DIGEST not in template or IMAGE_DIGEST in out:
        return out
    repository = out.get(IMAGE_REPOSITORY)
    if not repository:
        raise StackError(f"give --param {IMAGE_REPOSITORY}=NAME (the ECR repository)")
    out[IMAGE_DIGEST] = image_digest(ecr, repository, tag)
    echo(f"image {repository}:{tag} is {out[IMAGE_DIGEST]}")
    return out


def stack_status(cfn: Any, stack: str) -> str | None:
    """The stack's status, or None when there is no such stack (or it was deleted)."""
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"]
    except cfn.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    status: str = found[0]["StackStatus"]
    return None if status == "DELETE_COMPLETE" else status


def _wait_change_set(cfn: Any, stack: str, name: str, poll: Poll) -> dict[str, Any] | None:
    """The change set once created; None when it holds no changes."""
    for _ in range(poll.attempts):
        described: dict[str, Any] = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        status = described["Status"]
        if status == "CREATE_COMPLETE":
            return described
        if status == "FAILED":
            reason = described.get("StatusReason", "")
            if any(text in reason for text in NO_CHANGES):
                return None
            raise StackError(f"change set {name} failed: {reason}")
        poll.sleep()
    raise StackError(f"change set {name} was not ready in time")


def create_change_set(
    cfn: Any, stack: str, template: str, parameters: Mapping[str, str], poll: Poll
) -> tuple[str, str, dict[str, Any] | None]:
    """Create a change set for ``template``; return its name, its kind and its description."""
    kind = "UPDATE" if stack_status(cfn, stack) else "CREATE"
    name = f"mcpfleet-{int(time.time() * 1000)}"
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateBody=template,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=CAPABILITIES,
    )
    return name, kind, _wait_change_set(cfn, stack, name, poll)


def describe_changes(described: dict[str, Any] | None) -> list[str]:
    """One line per change: action, logical id, type (and replacement when known)."""
    if described is None:
        return []
    lines = []
    for change in described.get("Changes", []):
        res = change.get("ResourceChange", {})
        replace = res.get("Replacement")
        suffix = " (replacement)" if replace == "True" else ""
        lines.append(
            f"{res.get('Action', '?'):<8} {res.get('LogicalResourceId', '?')} "
            f"{res.get('ResourceType', '')}{suffix}"
        )
    return lines


def diff(
    cfn: Any, stack: str, template: str, parameters: Mapping[str, str], echo: Echo, poll: Poll
) -> list[str]:
    """What deploying ``template`` would change; the change set is deleted afterwards."""
    name, kind, described = create_change_set(cfn, stack, template, parameters, poll)
    lines = describe_changes(described)
    for line in lines or ["no changes"]:
        echo(line)
    cfn.delete_change_set(StackName=stack, ChangeSetName=name)
    if kind == "CREATE":  # a CREATE change set leaves an empty REVIEW_IN_PROGRESS stack
        cfn.delete_stack(StackName=stack)
    return lines


def _events(cfn: Any, stack: str, seen: set[str]) -> list[dict[str, Any]]:
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    fresh = [e for e in events if e["EventId"] not in seen]
    seen.update(e["EventId"] for e in fresh)
    return list(reversed(fresh))


def watch(cfn: Any, stack: str, echo: Echo, poll: Poll, seen: set[str]) -> str | None:
    """Print new stack events until the stack settles; return its status (None: deleted).

    A settled status counts only once the stack's own event for it arrives, so a status
    read just before CloudFormation starts the operation is not taken for its end."""
    reached: set[str] = set()
    for _ in range(poll.attempts):
        status = stack_status(cfn, stack)
        if status is None:
            return None
        for event in _events(cfn, stack, seen):
            reason = event.get("ResourceStatusReason")
            echo(
                f"{event['ResourceStatus']:<20} {event['LogicalResourceId']}"
                + (f": {reason}" if reason else "")
            )
            if event["LogicalResourceId"] == stack:
                reached.add(event["ResourceStatus"])
        if status.endswith(("_COMPLETE", "_FAILED")) and status in reached:
            return status
        poll.sleep()
    raise StackError(f"stack {stack} did not settle in time")


def up(
    cfn: Any, stack: str, template: str, parameters: Mapping[str, str], echo: Echo, poll: Poll
) -> str:
    """Create or update ``stack`` to ``template``; return the final status."""
    seen: set[str] = set()
    if stack_status(cfn, stack):
        seen.update(e["EventId"] for e in _events(cfn, stack, set()))
    name, kind, described = create_change_set(cfn, stack, template, parameters, poll)
    if described is None:
        cfn.delete_change_set(StackName=stack, ChangeSetName=name)
        echo("no changes")
        return stack_status(cfn, stack) or "NONE"
    for line in describe_changes(described):
        echo(line)
    cfn.execute_change_set(StackName=stack, ChangeSetName=name)
    status = watch(cfn, stack, echo, poll, seen) or "NONE"
    if "ROLLBACK" in status or status.endswith("_FAILED"):
        raise StackError(f"{kind.lower()} of {stack} failed: {status}")
    return status


def down(cfn: Any, stack: str, echo: Echo, poll: Poll) -> None:
    """Delete ``stack`` and wait until it is gone."""
    if stack_status(cfn, stack) is None:
        echo(f"no stack {stack}")
        return
    seen = {e["EventId"] for e in _events(cfn, stack, set())}
    cfn.delete_stack(StackName=stack)
    status = watch(cfn, stack, echo, poll, seen)
    if status is not None:
        raise StackError(f"delete of {stack} ended in {status}")
    echo(f"deleted {stack}")
