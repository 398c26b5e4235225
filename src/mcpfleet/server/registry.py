"""What an app registers: tools, resources, resource templates, prompts.

Each registration is checked once, when the decorator runs, and keeps its wire
description ready, so that listing costs nothing per request.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcpfleet.auth.limits import Rate, parse_rate
from mcpfleet.server.permissions import AwsPermission
from mcpfleet.server.signature import Signature, analyse

Handler = Callable[..., Any]

TOOL_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")  # RFC 6749 scope-token


def checked_scopes(scopes: Sequence[str], owner: str) -> tuple[str, ...]:
    """Scopes as declared, checked against the OAuth scope-token grammar."""
    if isinstance(scopes, str):
        raise TypeError(f"{owner}: scopes is a list of scope names, not one string")
    for scope in scopes:
        if not isinstance(scope, str) or not SCOPE_TOKEN.match(scope):
            raise ValueError(f"{owner}: {scope!r} is not a valid OAuth scope name")
    return tuple(dict.fromkeys(scopes))


def checked_rate(rate_limit: str | None, owner: str) -> Rate | None:
    if rate_limit is None:
        return None
    try:
        return parse_rate(rate_limit)
    except ValueError as exc:
        raise ValueError(f"{owner}: rate_limit: {exc}") from None


def _description(func: Handler, given: str | None) -> str:
    if given is not None:
        return given
    doc = (func.__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ").strip() if doc else ""


def _put(wire: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        wire[key] = value


@dataclass(slots=True)
class Tool:
    name: str
    func: Handler
    signature: Signature
    wire: dict[str, Any]
    required_capabilities: dict[str, Any] = field(default_factory=dict)
    permissions: tuple[AwsPermission, ...] = ()
    scopes: tuple[str, ...] = ()  # OAuth scopes a caller needs to list and call it
    rate: Rate | None = None  # per-caller limit on calls
    max_concurrency: int | None = None  # calls of it running at once in this process
    task: str | None = None  # "optional" or "required": it may run as a task (2026-07-28)
    task_after_ms: int | None = None  # a task after this long; None: the server's policy
    _slots: asyncio.Semaphore | None = None

    @property
    def plain(self) -> bool:
        """Nothing to do around a call but await it (the fast path)."""
        return self.max_concurrency is None

    def slots(self) -> asyncio.Semaphore:
        """The semaphore that bounds its concurrent calls (made on first use)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrency or 1)
        return self._slots


def make_tool(
    func: Handler,
    *,
    name: str | None,
    title: str | None,
    description: str | None,
    annotations: dict[str, Any] | None,
    icons: list[dict[str, Any]] | None,
    meta: dict[str, Any] | None,
    structured_output: bool | None,
    requires: dict[str, Any] | None,
    permissions: Sequence[AwsPermission] = (),
) -> Tool:
    tool_name = func.__name__ if name is None else name
    if not TOOL_NAME.match(tool_name):
        raise ValueError(f"tool name {tool_name!r}: 1-128 of A-Z a-z 0-9 _ . -")
    signature = analyse(func, structured=structured_output)
    wire: dict[str, Any] = {"name": tool_name}
    _put(wire, "title", title)
    wire["description"] = _description(func, description)
    wire["inputSchema"] = signature.input_schema
    _put(wire, "outputSchema", signature.output_schema)
    _put(wire, "annotations", annotations)
    _put(wire, "icons", icons)
    _put(wire, "_meta", meta)
    return Tool(tool_name, func, signature, wire, dict(requires or {}), tuple(permissions))


@dataclass(slots=True)
class Resource:
    uri: str
    func: Handler
    signature: Signature
    wire: dict[str, Any]
    mime_type: str | None
    scopes: tuple[str, ...] = ()


@dataclass(slots=True)
class ResourceTemplate:
    template: str
    pattern: re.Pattern[str]
    func: Handler
    signature: Signature
    wire: dict[str, Any]
    mime_type: str | None
    scopes: tuple[str, ...] = ()

    def match(self, uri: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(uri)
        return found.groupdict() if found else None


_TEMPLATE_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_pattern(template: str) -> re.Pattern[str]:
    """A regular expression for a level-1 URI template (``{name}`` expressions)."""
    parts = []
    position = 0
    for found in _TEMPLATE_VAR.finditer(template):
        parts.append(re.escape(template[position : found.start()]))
        parts.append(f"(?P<{found.group(1)}>[^/?#]+)")
        position = found.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts))


def make_resource(
    func: Handler,
    uri: str,
    *,
    name: str | None,
    title: str | None,
    description: str | None,
    mime_type: str | None,
    annotations: dict[str, Any] | None,
    size: int | None,
    icons: list[dict[str, Any]] | None,
    meta: dict[str, Any] | None,
) -> Resource | ResourceTemplate:
    signature = analyse(func, structured=False)
    wire: dict[str, Any] = {"name": name or func.__name__}
    _put(wire, "title", title)
    _put(wire, "description", _description(func, description) or None)
    _put(wire, "mimeType", mime_type)
    _put(wire, "annotations", annotations)
    _put(wire, "icons", icons)
    _put(wire, "_meta", meta)
    variables = _TEMPLATE_VAR.findall(uri)
    if not variables:
        wire = {"uri": uri, **wire}
        _put(wire, "size", size)
        return Resource(uri, func, signature, wire, mime_type)
    missing = set(variables) - set(signature.param_names)
    if missing:
        raise TypeError(f"resource template {uri}: no parameter for {sorted(missing)}")
    wire = {"uriTemplate": uri, **wire}
    return ResourceTemplate(uri, template_pattern(uri), func, signature, wire, mime_type)


@dataclass(slots=True)
class Prompt:
    name: str
    func: Handler
    signature: Signature
    wire: dict[str, Any]
    scopes: tuple[str, ...] = ()


def make_prompt(
    func: Handler,
    *,
    name: str | None,
    title: str | None,
    description: str | None,
    icons: list[dict[str, Any]] | None,
    meta: dict[str, Any] | None,
) -> Prompt:
    signature = analyse(func, structured=False)
    properties = signature.input_schema.get("properties", {})
    required = set(signature.input_schema.get("required", []))
    arguments = []
    for arg in signature.param_names:
        entry: dict[str, Any] = {"name": arg, "required": arg in required}
        _put(entry, "description", properties.get(arg, {}).get("description"))
        arguments.append(entry)
    prompt_name = name or func.__name__
    wire: dict[str, Any] = {"name": prompt_name}
    _put(wire, "title", title)
    _put(wire, "description", _description(func, description) or None)
    if arguments:
        wire["arguments"] = arguments
    _put(wire, "icons", icons)
    _put(wire, "_meta", meta)
    return Prompt(prompt_name, func, signature, wire)
