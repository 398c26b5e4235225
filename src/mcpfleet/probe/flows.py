"""The conversation of each era, phase by phase, and how the era is told apart.

Era detection follows the 2026-07-28 backward-compatibility rules: send
``server/discover`` first; a result means modern; a modern JSON-RPC error
(-32020, -32021, -32022, or -32601 with HTTP 404) means a modern server that
refused; any other 4xx (or a JSON-RPC error that is not modern) means a legacy
server, and the probe falls back to ``initialize``.
"""

from __future__ import annotations

import uuid
from typing import Any

from mcpfleet.errors import CommandError
from mcpfleet.probe.bearer import parse_challenge
from mcpfleet.probe.checks import (
    is_read_only,
    list_page_problems,
    missing_endpoint,
    response_problems,
    tool_problems,
    tools_hash,
)
from mcpfleet.probe.model import PhaseFailed, Status
from mcpfleet.probe.session import Session, call_headers
from mcpfleet.probe.wire import Reply

MODERN_ERRORS = (-32020, -32021, -32022)


class NeedsAuth(CommandError):
    """The endpoint answered 401: the auth phase takes over."""

    def __init__(self, reply: Reply) -> None:
        super().__init__("401")
        self.reply = reply


def http_phase(session: Session, reply: Reply, elapsed: float) -> None:
    """The first exchange: did an HTTP answer come back that a client can read?"""
    detail = reply.describe()
    if reply.status == 401:
        session.record("http", Status.OK, detail, elapsed, httpStatus=reply.status)
        raise NeedsAuth(reply)
    broken = (
        not reply.status
        or reply.status >= 500
        or 300 <= reply.status < 400
        or (reply.status < 300 and reply.message is None)
    )
    missing = missing_endpoint(reply.status, reply.message, session.url)
    if broken or missing:
        if reply.snippet and reply.problem:
            detail += f": {reply.snippet[:80]!r}"
        if missing:
            detail += f": {missing}"
        session.record("http", Status.FAIL, detail, elapsed, httpStatus=reply.status)
        raise PhaseFailed
    session.record("http", Status.OK, detail, elapsed, httpStatus=reply.status)


def is_modern_refusal(reply: Reply) -> bool:
    code = reply.error_code
    return code in MODERN_ERRORS or (code == -32601 and reply.status == 404)


async def detect_and_run(session: Session) -> None:
    """Run the whole MCP conversation in the era the options ask for or the server speaks."""
    if session.options.era == "legacy":
        await legacy_flow(session, first=True)
        return
    request_id, reply, elapsed = await session.modern("server/discover", {})
    http_phase(session, reply, elapsed)
    if reply.result is not None:
        session.record("era", Status.OK, "modern (server/discover answered)")
        session.report.era = "modern"
        await modern_flow(session, request_id, reply, elapsed)
        return
    if is_modern_refusal(reply) or session.options.era == "modern":
        session.record("era", Status.FAIL, f"server/discover refused: {reply.describe()}")
        raise PhaseFailed
    session.record("era", Status.OK, f"legacy (server/discover: {reply.describe()})")
    await legacy_flow(session, first=False)


async def modern_flow(session: Session, request_id: Any, reply: Reply, elapsed: float) -> None:
    result = reply.result or {}
    problems = response_problems(reply.message, request_id)
    versions = result.get("supportedVersions")
    if not isinstance(versions, list):
        problems.append("supportedVersions missing")
    if not isinstance(result.get("capabilities"), dict):
        problems.append("capabilities missing")
    status = Status.WARN if problems else Status.OK
    detail = "; ".join(problems) or f"versions {versions}"
    session.record("server/discover", status, detail, elapsed)
    tools = await list_tools(session, modern=True)
    await check_name_validation(session)
    await call_tool(session, tools, modern=True)


async def check_name_validation(session: Session) -> None:
    """A modern server must refuse a call whose ``Mcp-Name`` disagrees with the body."""
    missing = f"mcpfleet-probe-missing-{uuid.uuid4().hex[:8]}"
    _id, reply, elapsed = await session.modern(
        "tools/call", {"name": missing, "arguments": {}}, **{"mcp-name": missing + "-other"}
    )
    if reply.status == 400 and reply.error_code == -32020:
        session.record("mcp-name-validation", Status.OK, "mismatch refused (-32020)", elapsed)
        return
    detail = f"Mcp-Name validation missing: a mismatched call got {reply.describe()}"
    session.record("mcp-name-validation", Status.WARN, detail, elapsed)


async def legacy_flow(session: Session, *, first: bool) -> None:
    request_id, reply, elapsed = await session.initialize()
    if first:
        http_phase(session, reply, elapsed)
    result = reply.result
    if result is None or response_problems(reply.message, request_id):
        session.record("initialize", Status.FAIL, reply.describe(), elapsed)
        raise PhaseFailed
    version = result.get("protocolVersion")
    session.version = version if isinstance(version, str) else session.version
    session.session_id = reply.headers.get("mcp-session-id")
    session.report.era = "legacy"
    detail = f"protocol {version}, session {'yes' if session.session_id else 'none'}"
    session.record("initialize", Status.OK, detail, elapsed, protocolVersion=version)
    await initialized(session)
    tools = await list_tools(session, modern=False)
    if session.session_id is not None:
        await check_unknown_session(session)
    await call_tool(session, tools, modern=False)
    if session.session_id is not None:
        await terminate(session)


async def initialized(session: Session) -> None:
    reply, elapsed = await session.notify("notifications/initialized")
    if reply.status == 202:
        session.record("notifications/initialized", Status.OK, "HTTP 202", elapsed)
    elif 200 <= reply.status < 300:
        session.record(
            "notifications/initialized", Status.WARN, f"{reply.describe()} (expected 202)", elapsed
        )
    else:
        session.record("notifications/initialized", Status.FAIL, reply.describe(), elapsed)
        raise PhaseFailed


async def check_unknown_session(session: Session) -> None:
    """A request naming a session the server does not know must get 404."""
    unknown = f"mcpfleet-probe-{uuid.uuid4().hex}"
    _id, reply, elapsed = await session.legacy("tools/list", {}, session_id=unknown)
    if reply.status == 404:
        session.record("unknown-session", Status.OK, "HTTP 404", elapsed)
        return
    detail = f"an unknown session got {reply.describe()}, expected HTTP 404"
    session.record("unknown-session", Status.WARN, detail, elapsed)


async def terminate(session: Session) -> None:
    reply, elapsed = await session.delete()
    if 200 <= reply.status < 300:
        session.record("delete", Status.OK, f"HTTP {reply.status}", elapsed)
    elif reply.status == 405:
        session.record("delete", Status.OK, "HTTP 405 (termination not offered)", elapsed)
    else:
        session.record("delete", Status.WARN, reply.describe(), elapsed)


async def list_tools(session: Session, *, modern: bool) -> list[dict[str, Any]]:
    """``tools/list`` through every page (bounded), then the checks and the hash."""
    tools: list[Any] = []
    problems: list[str] = []
    cursor: str | None = None
    total = 0.0
    for _page in range(session.options.max_pages):
        params = {} if cursor is None else {"cursor": cursor}
        request_id, reply, elapsed = await session.list_request(modern, "tools/list", params)
        total += elapsed
        result = reply.result
        if result is None or response_problems(reply.message, request_id):
            session.record("tools/list", Status.FAIL, reply.describe(), total)
            raise PhaseFailed
        problems.extend(list_page_problems(result, modern=modern))
        page = result.get("tools")
        tools.extend(page if isinstance(page, list) else [])
        next_cursor = result.get("nextCursor")
        cursor = next_cursor if isinstance(next_cursor, str) and next_cursor else None
        if cursor is None:
            break
    else:
        problems.append(f"more than {session.options.max_pages} pages")
    session.record("tools/list", Status.OK, f"{len(tools)} tools", total, count=len(tools))
    record_checks(session, tools, problems)
    return [tool for tool in tools if isinstance(tool, dict)]


def record_checks(session: Session, tools: list[Any], problems: list[str]) -> None:
    problems = problems + tool_problems(tools)
    report = session.report
    report.tools = [str(tool.get("name")) for tool in tools if isinstance(tool, dict)]
    report.tools_hash = tools_hash(tools)
    if problems:
        session.record("checks", Status.WARN, "; ".join(problems[:5]), problems=problems[:50])
    else:
        session.record("checks", Status.OK, "shapes, schemas, names and headers valid")
    expected = session.options.expect_hash
    if expected is None:
        session.record("drift", Status.SKIP, f"no previous hash; now {report.tools_hash}")
    elif expected == report.tools_hash:
        session.record("drift", Status.OK, "tool list unchanged")
    else:
        detail = f"tool list changed: was {expected}, now {report.tools_hash}"
        session.record("drift", Status.WARN, detail)


async def call_tool(session: Session, tools: list[dict[str, Any]], *, modern: bool) -> None:
    """The optional ``--call``: only a tool annotated read-only, unless forced."""
    name = session.options.call
    if name is None:
        return
    tool = next((tool for tool in tools if tool.get("name") == name), None)
    if tool is None:
        session.record("call", Status.FAIL, f"tool {name!r} is not listed")
        return
    if not is_read_only(tool) and not session.options.force:
        detail = f"refused: {name} is not annotated readOnlyHint (use --force)"
        session.record("call", Status.SKIP, detail)
        return
    params = {"name": name, "arguments": session.options.args}
    if modern:
        extra = call_headers(tool, session.options.args)
        request_id, reply, elapsed = await session.modern("tools/call", params, **extra)
    else:
        request_id, reply, elapsed = await session.legacy("tools/call", params)
    result = reply.result
    if result is None or response_problems(reply.message, request_id):
        challenge = parse_challenge(reply.headers.get("www-authenticate", ""))
        error = {"error": challenge.error} if challenge and challenge.error else {}
        session.record(
            "call", Status.FAIL, reply.describe(), elapsed, httpStatus=reply.status, **error
        )
    elif result.get("isError") is True or not isinstance(result.get("content"), list):
        session.record("call", Status.WARN, f"tool error: {str(result)[:200]}", elapsed)
    else:
        session.record("call", Status.OK, f"{len(result['content'])} content blocks", elapsed)
