"""Render an app's deployment for one target: the files, and what the user should know."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from mcpfleet.deploy import access, common, ecs, function, managed, waf
from mcpfleet.deploy.declarations import DeclarationError, Declarations, collect, policy_document
from mcpfleet.deploy.model import Json, Template, strip_notes
from mcpfleet.deploy.settings import Settings, SettingsError
from mcpfleet.deploy.yaml_out import to_yaml
from mcpfleet.server.app import Server

TEMPLATE_FILE = "template.yaml"


@dataclass(slots=True)
class Rendered:
    """The files of a rendered deployment (name -> text) and notes for the user."""

    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    template: dict[str, Json] = field(default_factory=dict)  # plain data of template.yaml

    def write(self, out: Path) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, text in sorted(self.files.items()):
            path = out / name
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        return paths


def placeholders(value: Json) -> Json:
    """Plain JSON for files used outside CloudFormation: ``Ref X`` becomes ``${X}``."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return f"${{{arg}}}"
            if key == "Fn::Sub" and isinstance(arg, str):
                return arg
            if key == "Fn::GetAtt":
                return "${" + ".".join(arg) + "}"
        return {k: placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [placeholders(v) for v in value]
    return value


def api_spelling(value: Json, keep: bool = False) -> Json:
    """CloudFormation's PascalCase keys in the ECS API's camelCase (option maps kept)."""
    if isinstance(value, dict):
        return {
            (k if keep else k[:1].lower() + k[1:]): api_spelling(v, k == "Options")
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [api_spelling(v) for v in value]
    return value


def _json(data: Json) -> str:
    return json.dumps(data, indent=2) + "\n"


def _ecs_files(props: Json, decls: Declarations, rendered: Rendered) -> None:
    task = api_spelling(placeholders(strip_notes(props)))
    rendered.files["task-definition.json"] = _json(task)
    rendered.files["task-role-policy.json"] = _json(policy_document(decls.grants, template=False))


def _describe(server: Server, settings: Settings) -> str:
    return (
        f"mcpfleet {server.name} {server.version} on {settings.target} "
        f"(fleet state: {settings.state}); rendered by mcpfleet deploy render"
    )


def render(server: Server, settings: Settings) -> Rendered:
    """Check the declarations and settings, and render every file for the target.

    An internet-facing stack for an app that authenticates no one is refused
    (``access.ExposureRefused``) unless ``settings.public``."""
    settings.check()
    decls = collect(server)
    template = Template(_describe(server, settings))
    rendered = Rendered()
    if settings.target == "ecs-fargate":
        props = ecs.render(template, settings, decls)
        _ecs_files(props, decls, rendered)
    elif settings.target == "ecs-express":
        managed.render_express(template, settings, decls)
    elif settings.target == "apprunner":
        managed.render_apprunner(template, settings, decls)
    else:
        function.render_lambda(template, settings, decls)
    if settings.waf:
        waf.protect(template, settings.target)
    common.declared_parameters(template, decls)
    access.check_exposure(template, settings, decls, server.name)
    rendered.files[TEMPLATE_FILE] = to_yaml(template.data())
    rendered.template = strip_notes(template.data())
    rendered.notes = template.notes
    return rendered


def service_name(server: Server) -> str:
    """A name AWS accepts for resources and the metrics' Service dimension."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", server.name).strip("-")
    return name[:32] or "mcp"


ExposureRefused = access.ExposureRefused

__all__ = [
    "DeclarationError",
    "ExposureRefused",
    "Rendered",
    "SettingsError",
    "render",
    "service_name",
]
