"""A small typed model of CloudFormation over plain data.

A template is plain JSON-shaped data (dicts, lists, strings, numbers). Two things
are added on top: ``Note`` attaches the reason for a setting, which the YAML
writer prints as a comment above it, and a few helpers build intrinsic functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

Json: TypeAlias = Any  # dict[str, Json] | list[Json] | str | int | float | bool | None | Note


@dataclass(frozen=True, slots=True)
class Note:
    """A value with the reason it is what it is (a YAML comment above it)."""

    value: Json
    why: str


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def get_att(resource: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, attribute]}


def if_(condition: str, then: Json, otherwise: Json) -> dict[str, list[Json]]:
    return {"Fn::If": [condition, then, otherwise]}


NO_VALUE = ref("AWS::NoValue")


def arn(service: str, resource: str, region: bool = True, account: bool = True) -> dict[str, str]:
    """An ARN in this stack's partition (and region and account), as ``Fn::Sub``."""
    where = "${AWS::Region}" if region else ""
    who = "${AWS::AccountId}" if account else ""
    return sub(f"arn:${{AWS::Partition}}:{service}:{where}:{who}:{resource}")


def strip_notes(value: Json) -> Json:
    """The plain data, without the reasons."""
    if isinstance(value, Note):
        return strip_notes(value.value)
    if isinstance(value, dict):
        return {key: strip_notes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [strip_notes(item) for item in value]
    return value


@dataclass(slots=True)
class Parameter:
    """A template parameter: a value known only at deploy time."""

    type: str
    description: str
    default: str | int | None = None
    allowed_pattern: str | None = None
    constraint: str | None = None
    min_value: int | None = None
    max_value: int | None = None
    why: str | None = None  # a comment above the parameter: why the deployer must give it

    def data(self) -> Json:
        out: dict[str, Json] = {"Type": self.type, "Description": self.description}
        if self.default is not None:
            out["Default"] = self.default
        if self.allowed_pattern is not None:
            out["AllowedPattern"] = self.allowed_pattern
        if self.min_value is not None:
            out["MinValue"] = self.min_value
        if self.max_value is not None:
            out["MaxValue"] = self.max_value
        if self.constraint is not None:
            out["ConstraintDescription"] = self.constraint
        return Note(out, self.why) if self.why else out


@dataclass(slots=True)
class Template:
    """A CloudFormation template being built: parameters, resources, outputs."""

    description: str
    parameters: dict[str, Parameter] = field(default_factory=dict)
    resources: dict[str, Json] = field(default_factory=dict)
    outputs: dict[str, Json] = field(default_factory=dict)
    conditions: dict[str, Json] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the renderer wants the user to know

    def parameter(self, name: str, parameter: Parameter) -> dict[str, str]:
        """Add a parameter (once) and return a ``Ref`` to it."""
        self.parameters.setdefault(name, parameter)
        return ref(name)

    def add(
        self, name: str, kind: str, properties: Json, why: str | None = None, **extra: Json
    ) -> dict[str, str]:
        """Add a resource and return a ``Ref`` to it."""
        if name in self.resources:
            raise ValueError(f"resource {name} added twice")
        body: dict[str, Json] = {"Type": kind, **extra, "Properties": properties}
        self.resources[name] = Note(body, why) if why else body
        return ref(name)

    def output(self, name: str, value: Json, description: str) -> None:
        self.outputs[name] = {"Description": description, "Value": value}

    def condition(self, name: str, expression: Json) -> str:
        """Add a condition (once) and return its name."""
        self.conditions.setdefault(name, expression)
        return name

    def body(self, name: str) -> dict[str, Json]:
        """A resource's body (``Type``, ``Properties``...), without its reason."""
        resource = self.resources[name]
        body: dict[str, Json] = resource.value if isinstance(resource, Note) else resource
        return body

    def properties(self, name: str) -> dict[str, Json]:
        props: dict[str, Json] = self.body(name)["Properties"]
        return props

    def skip_check(self, name: str, check: str, reason: str) -> None:
        """Tell checkov to skip ``check`` on resource ``name``, with the reason it does not apply
        (checkov reads ``Metadata: checkov: skip: [{id, comment}]``)."""
        body = self.body(name)
        metadata = body.setdefault("Metadata", {})
        skips = metadata.setdefault("checkov", {}).setdefault("skip", [])
        skips.append({"id": check, "comment": reason})
        body["Metadata"] = metadata
        ordered = {"Type": body.pop("Type"), "Metadata": body.pop("Metadata"), **body}
        body.clear()
        body.update(ordered)

    def data(self) -> dict[str, Json]:
        out: dict[str, Json] = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": self.description,
        }
        if self.parameters:
            out["Parameters"] = {k: p.data() for k, p in self.parameters.items()}
        if self.conditions:
            out["Conditions"] = self.conditions
        out["Resources"] = self.resources
        if self.outputs:
            out["Outputs"] = self.outputs
        return out
