"""Checks on what a server listed: result shapes, tool schemas, and a hash for drift."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from mcpfleet.protocol.headers import param_headers

CACHE_SCOPES = ("public", "private")
# Statuses that, without a JSON-RPC body, say no MCP endpoint is at the URL (400 and 403
# stay out: MCP servers answer with them, some without a JSON-RPC body).
NO_ENDPOINT_STATUSES = (404, 405, 410)


def missing_endpoint(status: int, message: dict[str, Any] | None, url: str) -> str | None:
    """Why the first answer says there is no MCP endpoint at ``url`` (None: there may be):
    a 404, 405 or 410 without a JSON-RPC body; at the root path, with a hint to try /mcp."""
    if status not in NO_ENDPOINT_STATUSES or (message or {}).get("jsonrpc") == "2.0":
        return None
    reason = "no MCP endpoint at this URL"
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        hint = parts._replace(path="/mcp", query="", fragment="").geturl()
        reason += f"; MCP endpoints usually live at a path: try {hint}"
    return reason


def response_problems(message: dict[str, Any] | None, request_id: Any) -> list[str]:
    """What is wrong with a JSON-RPC response to ``request_id`` (empty: nothing)."""
    if message is None:
        return ["no JSON-RPC response"]
    problems = []
    if message.get("jsonrpc") != "2.0":
        problems.append('"jsonrpc" is not "2.0"')
    if message.get("id") != request_id:
        problems.append(f"id {message.get('id')!r} does not echo {request_id!r}")
    if ("result" in message) == ("error" in message):
        problems.append("not exactly one of result and error")
    elif "error" in message and not _valid_error(message["error"]):
        problems.append("malformed error object")
    return problems


def _valid_error(error: Any) -> bool:
    if not isinstance(error, dict):
        return False
    code = error.get("code")
    return (
        isinstance(code, int)
        and not isinstance(code, bool)
        and isinstance(error.get("message"), str)
    )


def list_page_problems(result: dict[str, Any], *, modern: bool) -> list[str]:
    """Shape of one ``tools/list`` result page."""
    problems = []
    if not isinstance(result.get("tools"), list):
        problems.append("result.tools is not an array")
    cursor = result.get("nextCursor")
    if cursor is not None and not isinstance(cursor, str):
        problems.append("nextCursor is not a string")
    if modern:
        ttl = result.get("ttlMs")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
            problems.append("ttlMs missing or not a non-negative integer")
        if result.get("cacheScope") not in CACHE_SCOPES:
            problems.append("cacheScope missing or not 'public'/'private'")
    return problems


def tool_problems(tools: list[Any]) -> list[str]:
    """Names present and unique, schemas valid JSON Schema 2020-12, x-mcp-header valid."""
    problems: list[str] = []
    names = [tool.get("name") for tool in tools if isinstance(tool, dict)]
    if len(names) != len(tools):
        problems.append("a tool is not an object")
    for name, count in Counter(str(name) for name in names).items():
        if count > 1:
            problems.append(f"tool name {name!r} is listed {count} times")
    for tool in tools:
        if isinstance(tool, dict):
            problems.extend(_one_tool(tool))
    return problems


def _one_tool(tool: dict[str, Any]) -> list[str]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        return ["a tool has no name"]
    problems = []
    schema = tool.get("inputSchema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        problems.append(f"{name}: inputSchema is not an object schema")
    for key in ("inputSchema", "outputSchema"):
        if key in tool:
            problems.extend(f"{name}: {key} {p}" for p in _schema_problems(tool[key]))
    if isinstance(schema, dict):
        try:
            param_headers(schema)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    return problems


# Verdicts on schemas already checked, by their canonical JSON: a monitor probes the same
# tool lists over and over, and checking a schema costs far more than hashing it.
_CHECKED: dict[bytes, list[str]] = {}
_CHECKED_AT_MOST = 4096


def _schema_problems(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return ["is not an object"]
    try:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        key = None
    if key is not None and key in _CHECKED:
        return list(_CHECKED[key])
    problems: list[str] = []
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.path) or "(root)"
        problems = [f"is not valid JSON Schema 2020-12 at {where}: {exc.message[:120]}"]
    if key is not None:
        if len(_CHECKED) >= _CHECKED_AT_MOST:
            _CHECKED.clear()
        _CHECKED[key] = problems
    return list(problems)


def tools_hash(tools: list[Any]) -> str:
    """A canonical hash of the tool list: names and schemas, in name order, keys sorted."""
    entries = sorted(
        (
            {
                "name": tool.get("name"),
                "inputSchema": tool.get("inputSchema"),
                "outputSchema": tool.get("outputSchema"),
            }
            for tool in tools
            if isinstance(tool, dict)
        ),
        key=lambda entry: str(entry["name"]),
    )
    canonical = orjson.dumps(entries, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def is_read_only(tool: dict[str, Any]) -> bool:
    annotations = tool.get("annotations")
    return isinstance(annotations, dict) and annotations.get("readOnlyHint") is True
