"""The scenario registry: what the load generator sends and what it accepts back.

A scenario is one request, sent over and over, and a check of the result it
must get. The load generator builds the wire bytes once; only the JSON-RPC id
changes from one request to the next. Add a scenario by adding an entry to
``SCENARIOS``; every peer that serves its method and tool can run it.

Most scenarios speak 2026-07-28: no session, the protocol version in every
request's ``_meta`` and headers. A scenario with ``session=True`` speaks
2025-11-25 instead: each connection first opens a session (``initialize``, then
``notifications/initialized``) and sends every request with the
``MCP-Protocol-Version`` and ``Mcp-Session-Id`` headers and no ``_meta``. Only
peers with sessions (``Peer.sessions``) run those.

``WORKLOADS`` are the tools people write (issue 18): a tool blocking 50 ms, one
awaiting 50 ms, a 1 MiB resource, a 256 KiB argument, the document server's
``get_document`` on S3; each with its 2025-11-25 twin (``twins``). What their apps
serve is in ``bench.workloads``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bench import workloads

PROTOCOL_VERSION = "2026-07-28"
SESSION_PROTOCOL_VERSION = "2025-11-25"

# Where the 2026-07-28 wire mirrors body fields into headers.
_NAME_FIELD = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}

PROGRESS_TOKEN = "bench-progress"
CALL = "call"
HANDSHAKE = "handshake"
DISCOVER = "discover"
TASK = "task"
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"

Check = Callable[[Any], str | None]


def request_meta() -> dict[str, Any]:
    """The ``_meta`` every 2026-07-28 request carries."""
    return {
        "io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
    }


@dataclass(frozen=True, slots=True)
class Scenario:
    """One request shape and the check its result must pass.

    ``check`` gets the JSON-RPC ``result`` member and returns ``None`` when it
    is right, else a short description of what is wrong.
    """

    name: str
    description: str
    method: str
    params: dict[str, Any]
    check: Check
    tags: frozenset[str] = field(default_factory=frozenset)
    session: bool = False  # 2025-11-25: every connection opens a session first
    # The 2025-11-25 twin of a 2026-07-28 scenario, for peers that speak only 2025 (Peer.modern).
    legacy: str | None = None
    # Progress notifications the server must send (on an SSE response) before the result;
    # the request carries a progressToken.
    progress: int = 0
    # CALL: one request per unit. HANDSHAKE: initialize, notifications/initialized,
    # tools/list, DELETE, on a new session each unit. DISCOVER: server/discover, tools/list.
    # TASK: tools/call answered with a task, then tasks/get until it is completed
    # (bench.task_cycle); ``check`` is applied to the completed task's result.
    kind: str = "call"
    # The client declares the tasks extension (TASKS_EXTENSION) in its capabilities.
    tasks: bool = False
    # What the tool waits per call (the slow-tool scenarios): connections / tool_seconds is
    # the most calls/s a run can reach (goals.IDEAL).
    tool_seconds: float = 0.0
    blocking: bool = False  # the tool blocks its thread: a pool of N threads allows N/seconds
    # The payload one unit carries (the 1 MiB resource, the 256 KiB argument): the report
    # gives the server CPU per MiB.
    payload_bytes: int = 0

    @property
    def protocol_version(self) -> str:
        return SESSION_PROTOCOL_VERSION if self.session else PROTOCOL_VERSION

    def full_params(self) -> dict[str, Any]:
        meta: dict[str, Any] = {} if self.session else request_meta()
        if self.tasks:
            capabilities: dict[str, Any] = {"extensions": {TASKS_EXTENSION: {}}}
            meta["io.modelcontextprotocol/clientCapabilities"] = capabilities
        if self.progress:
            meta["progressToken"] = PROGRESS_TOKEN
        return {**self.params, "_meta": meta} if meta else dict(self.params)

    def headers(self) -> list[tuple[str, str]]:
        """The request headers besides Host, Content-Length (and Mcp-Session-Id)."""
        headers = [
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", self.protocol_version),
        ]
        if self.session:  # 2025-11-25 has no Mcp-Method / Mcp-Name headers
            return headers
        headers.append(("Mcp-Method", self.method))
        name_field = _NAME_FIELD.get(self.method)
        if name_field is not None:
            headers.append(("Mcp-Name", str(self.params[name_field])))
        return headers


def echo_check(text: str) -> Check:
    """A tools/call result whose only content is ``text``, not an error.

    ``resultType`` is not required (a 2025-11-25 result has none); when present
    it must be ``complete``.
    """

    def check(result: Any) -> str | None:
        if not isinstance(result, dict):
            return "result is not an object"
        if result.get("isError"):
            return "isError is true"
        if result.get("resultType", "complete") != "complete":
            return f"resultType is {result.get('resultType')!r}"
        content = result.get("content")
        if content != [{"type": "text", "text": text}]:
            return "content is not the echoed text"
        return None

    return check


def echo(
    name: str,
    text: str,
    description: str,
    tags: frozenset[str],
    *,
    session: bool = False,
    legacy: str | None = None,
) -> Scenario:
    return Scenario(
        name=name,
        description=description,
        method="tools/call",
        params={"name": "echo", "arguments": {"text": text}},
        check=echo_check(text),
        tags=tags,
        session=session,
        legacy=legacy,
    )


PROGRESS_STEPS = 3


def progress(name: str, description: str, *, session: bool, legacy: str | None) -> Scenario:
    """tools/call of ``progress``: the peer's tool reports each step, then returns "done"."""
    return Scenario(
        name=name,
        description=description,
        method="tools/call",
        params={"name": "progress", "arguments": {"steps": PROGRESS_STEPS}},
        check=echo_check("done"),
        session=session,
        legacy=legacy,
        progress=PROGRESS_STEPS,
    )


def tools_check(result: Any) -> str | None:
    """A tools/list result that lists the ``echo`` tool."""
    if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
        return "result has no tools list"
    if not any(isinstance(tool, dict) and tool.get("name") == "echo" for tool in result["tools"]):
        return "echo is not listed"
    return None


def resource_check(uri: str, text: str) -> Check:
    """A resources/read result whose only contents are ``text`` at ``uri``."""

    def check(result: Any) -> str | None:
        if not isinstance(result, dict) or not isinstance(result.get("contents"), list):
            return "result has no contents list"
        contents = result["contents"]
        if len(contents) != 1 or not isinstance(contents[0], dict):
            return f"{len(contents)} contents, not 1"
        if contents[0].get("uri") != uri:
            return f"contents uri is {contents[0].get('uri')!r}"
        if contents[0].get("text") != text:
            return "contents text is not the payload"
        return None

    return check


def structured_check(expected: dict[str, Any]) -> Check:
    """A tools/call result, not an error, whose structuredContent is ``expected``."""

    def check(result: Any) -> str | None:
        if not isinstance(result, dict):
            return "result is not an object"
        if result.get("isError"):
            return f"isError is true: {repr(result.get('content'))[:200]}"
        if result.get("structuredContent") != expected:
            return "structuredContent is not the expected object"
        return None

    return check


def twins(name: str, description: str, **fields: Any) -> tuple[Scenario, Scenario]:
    """A 2026-07-28 scenario and its 2025-11-25 twin (``session-NAME``: one session per
    connection), which peers speaking only 2025-11-25, or keeping their state in sessions
    (``Peer.twin``), run instead."""
    modern = Scenario(name=name, description=description, legacy=f"session-{name}", **fields)
    legacy = replace(
        modern,
        name=f"session-{name}",
        description=f"2025-11-25 session per connection, then {description}",
        session=True,
        legacy=None,
    )
    return modern, legacy


def _tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


_MS = round(workloads.TOOL_SECONDS * 1000)
_KIB = workloads.ARGUMENT_BYTES // 1024
# The scenarios of issue 18: tools that wait, large payloads, the document server on S3.
WORKLOADS = (
    *twins(
        f"blocking-{_MS}ms",
        f"tools/call of a def tool blocking its thread {_MS} ms (time.sleep, as boto3 blocks)",
        method="tools/call",
        params=_tool("block", {"text": "hello"}),
        check=echo_check("hello"),
        tool_seconds=workloads.TOOL_SECONDS,
        blocking=True,
    ),
    *twins(
        f"async-{_MS}ms",
        f"tools/call of an async def tool awaiting asyncio.sleep({workloads.TOOL_SECONDS:g})",
        method="tools/call",
        params=_tool("wait", {"text": "hello"}),
        check=echo_check("hello"),
        tool_seconds=workloads.TOOL_SECONDS,
    ),
    *twins(
        "resource-1m",
        "resources/read of a 1 MiB text resource",
        method="resources/read",
        params={"uri": workloads.PAYLOAD_URI},
        check=resource_check(workloads.PAYLOAD_URI, workloads.PAYLOAD),
        payload_bytes=workloads.PAYLOAD_BYTES,
    ),
    *twins(
        f"argument-{_KIB}k",
        f"tools/call of a tool given a {_KIB} KiB text argument, answering its length",
        method="tools/call",
        params=_tool("length", {"data": workloads.ARGUMENT}),
        check=echo_check(str(workloads.ARGUMENT_BYTES)),
        payload_bytes=workloads.ARGUMENT_BYTES,
    ),
    *twins(
        "get-document",
        f"tools/call of the document server's get_document (boto3 GetObject of a "
        f"{workloads.DOCUMENT_BYTES // 1024} KiB object from an S3 API server)",
        method="tools/call",
        params=_tool("get_document", {"key": workloads.DOCUMENT_KEY}),
        check=structured_check(workloads.document_result()),
        tags=frozenset({"s3"}),
    ),
)
WORKLOAD_NAMES = frozenset(scenario.name for scenario in WORKLOADS)


def _task_echo(name: str, tool: str, description: str, **fields: Any) -> Scenario:
    return Scenario(
        name=name,
        description=description,
        method="tools/call",
        params=_tool(tool, {"text": "hello"}),
        check=echo_check("hello"),
        **fields,
    )


# The tasks extension (bench.tasks_bench): the same echo tool, plain (``echo``), task-optional
# with the default 500 ms before a call becomes a task (``echo_optional``), and a task at
# once (``echo_task``); served by bench.apps.mcpfleet_tasks.
TASK_SCENARIOS = (
    _task_echo(
        "tasks-plain",
        "echo",
        "tools/call of the plain echo tool by a client declaring the tasks extension",
        tasks=True,
    ),
    _task_echo(
        "tasks-optional",
        "echo_optional",
        "tools/call of echo registered with task='optional' (a task after 500 ms) by a "
        "client declaring the tasks extension: answered in the request",
        tasks=True,
    ),
    _task_echo(
        "tasks-cycle",
        "echo_task",
        "tools/call of echo registered with task='optional', task_after_ms=0 by a client "
        "declaring the tasks extension (a task at once), then tasks/get until completed; "
        "a caller of its own per connection",
        tasks=True,
        kind=TASK,
        tags=frozenset({"caller"}),  # bench.task_cycle.CALLER
    ),
    _task_echo(
        "tasks-cycle-anonymous",
        "echo_task",
        "the same cycle by anonymous callers: their running tasks share one budget",
        tasks=True,
        kind=TASK,
    ),
    _task_echo(
        "tasks-sync",
        "echo_task",
        "tools/call of the same task_after_ms=0 tool by a client not declaring the "
        "extension: answered in the request",
    ),
)

_4K_TEXT = ("The quick brown fox jumps over the lazy dog. " * 92)[:4096]

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        echo(
            "echo",
            "hello",
            "tools/call of echo with a 5-byte text: per-request overhead",
            frozenset({"default", "smoke"}),
            legacy="session-echo",
        ),
        echo(
            "echo-4k",
            _4K_TEXT,
            "tools/call of echo with a 4 KiB text: JSON and body handling",
            frozenset(),
        ),
        progress(
            "progress",
            f"tools/call of a tool sending {PROGRESS_STEPS} progress notifications (SSE), "
            "then its result",
            session=False,
            legacy="session-progress",
        ),
        echo(
            "session-echo",
            "hello",
            "2025-11-25 session per connection, then tools/call of echo with a 5-byte text",
            frozenset({"sessions"}),
            session=True,
        ),
        progress(
            "session-progress",
            f"2025-11-25 session per connection, then tools/call of a tool sending "
            f"{PROGRESS_STEPS} progress notifications (SSE), then its result",
            session=True,
            legacy=None,
        ),
        Scenario(
            name="handshake",
            description="2025-11-25: initialize, notifications/initialized, tools/list, "
            "then DELETE of the session; one unit is the four requests",
            method="tools/list",
            params={},
            check=tools_check,
            session=True,
            kind=HANDSHAKE,
        ),
        Scenario(
            name="discover",
            description="2026-07-28: server/discover, then tools/list; one unit is both",
            method="tools/list",
            params={},
            check=tools_check,
            legacy="handshake",
            kind=DISCOVER,
        ),
        *WORKLOADS,
        *TASK_SCENARIOS,
    )
}

DEFAULT_SCENARIO = "echo"
SMOKE_SCENARIO = "echo"


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise SystemExit(f"unknown scenario {name!r}; known: {known}") from None
