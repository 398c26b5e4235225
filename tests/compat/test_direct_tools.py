"""tools/call through ``compat.tools`` gives exactly what the SDK's own ``call_tool`` gives:
the same result dict, or the same exception with the same message and cause, for every
kind of argument, return value and failure; and the same answer through the bridge."""

from __future__ import annotations

import math
from collections.abc import Coroutine
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.server.mcpserver import Context as SdkContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import UnexpectedToolError
from mcp.server.mcpserver.tools.base import Tool as SdkTool

from mcpfleet.compat.bridge import SdkBridge, run_now
from mcpfleet.compat.mcpserver import McpServerCalls
from mcpfleet.compat.sdk import dump
from mcpfleet.compat.tools import DirectTools, direct_tools_tested, plain_result
from mcpfleet.server.app import Server
from mcpfleet.server.context import Context
from mcpfleet.server.modern import MrtrExchange
from tests.compat import tool_results_app
from tests.compat.tool_results_app import VALUE, mcp

pytestmark = pytest.mark.anyio
TOOLS = DirectTools(mcp)
# No example database (nothing written outside tests/), no deadline (CI noise).
FUZZ = settings(
    max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

CASES: list[tuple[str, dict[str, Any]]] = [
    ("echo", {"text": "hi"}),
    ("echo", {"text": ""}),
    ("echo", {"text": 5}),
    ("echo", {}),
    ("echo", {"text": "[1, 2]"}),
    ("echo", {"text": "hi", "extra": 1}),
    ("echo_many", {"text": "a"}),
    ("echo_many", {"text": "a", "times": "3"}),
    ("echo_many", {"text": "a", "times": 3, "sep": "-"}),
    ("echo_many", {"text": "a", "times": "x"}),
    ("number", {"value": 4}),
    ("number", {"value": "4"}),
    ("number", {"value": 2**80}),
    ("number", {"value": 1.5}),
    ("number", {"value": True}),
    ("flag", {"value": True}),
    ("flag", {"value": "true"}),
    ("flag", {"value": 0}),
    ("ratio", {"value": 1}),
    ("infinite", {}),
    ("infinite", {"negative": True}),
    ("nothing", {}),
    ("bool_as_int", {}),
    ("int_as_str", {}),
    ("subclass_str", {}),
    ("short", {"text": "abc"}),
    ("short", {"text": "abcd"}),
    ("mapping", {"keys": ["a", "bb"]}),
    ("mapping", {"keys": '["a", "bb"]'}),
    ("mapping", {"keys": "a"}),
    ("words", {"text": "a b  c"}),
    ("weather", {"city": "Oslo"}),
    ("weather", {"city": "Oslo", "celsius": "nan"}),
    ("infinite_model", {}),
    ("point", {"x": 1, "y": 2}),
    ("pair", {"left": "l"}),
    ("maybe_counts", {"empty": True}),
    ("maybe_counts", {"empty": False}),
    ("unstructured", {"city": "Oslo"}),
    ("listing", {"count": 2}),
    ("nested", {}),
    ("block", {}),
    ("mixed", {}),
    ("picture", {}),
    ("whole", {}),
    ("whole_checked", {}),
    ("model_argument", {"weather": {"city": "A", "celsius": 1}}),
    ("model_argument", {"weather": '{"city": "A", "celsius": 1}', "tags": '["x"]'}),
    ("model_argument", {"weather": {"city": "A"}}),
    ("optional", {}),
    ("optional", {"text": "null", "count": "null"}),
    ("optional", {"text": "5", "count": "[1]"}),
    ("aliased", {"schema": "s"}),
    ("aliased", {"schema": "s", "model_dump": 3}),
    ("aliased", {"field_schema": "s"}),
    ("bounded", {"value": 3}),
    ("bounded", {"value": 11}),
    ("blocking", {"text": "abc"}),
    ("blocking", {"text": None}),
    *[("fails", {"kind": kind}) for kind in ("tool", "resource", "nested", "protocol", "crash")],
    ("fails", {"kind": "none"}),
    ("resolved", {"unit": "kg"}),
    ("resolved", {}),
]
# Values a tool may return, beyond JSON: NaN and infinities, tuples, big integers,
# lone surrogates, bytes.
JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(codec=None, exclude_categories=()))
    | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def outcome(body: Any = None, error: BaseException | None = None) -> str:
    """A call's outcome, comparable across paths (``repr``: NaN equals itself there)."""
    if error is not None:
        cause = error.__cause__
        return repr(("raised", type(error), str(error), type(cause), str(cause)))
    return repr(("result", body if isinstance(body, dict) else dump(body)))


async def sdk_outcome(app: MCPServer, name: str, arguments: dict[str, Any]) -> str:
    """The SDK's own ``call_tool``, dumped as the bridge dumps it."""
    try:
        return outcome(await app.call_tool(name, arguments, SdkContext(mcp_server=app)))
    except Exception as exc:
        return outcome(error=exc)


async def direct_outcome(tools: DirectTools, name: str, arguments: dict[str, Any]) -> str:
    """The same call through ``tools`` (which keep what they derived from earlier calls)."""
    tool = tools.find(name)
    assert tool is not None
    try:
        return outcome(await tools.call(tool, arguments, lambda: SdkContext(mcp_server=tools.app)))
    except Exception as exc:
        return outcome(error=exc)


def at_once(coroutine: Coroutine[Any, Any, str]) -> str:
    return str(run_now(coroutine))


@pytest.mark.parametrize(("name", "arguments"), CASES)
async def test_each_case_matches_the_sdk(name: str, arguments: dict[str, Any]) -> None:
    """Each tool, with valid, invalid and missing arguments, gives the SDK's result or
    raises its exception, with the same message and the same cause."""
    expected = await sdk_outcome(mcp, name, dict(arguments))
    assert await direct_outcome(TOOLS, name, dict(arguments)) == expected
    # a second call, from what was derived from the tool on the first
    assert await direct_outcome(TOOLS, name, dict(arguments)) == expected


@FUZZ
@given(value=JSONISH, name=st.sampled_from(["raw", "echo_any", "echo_dict", "echo_list"]))
def test_any_returned_value_matches_the_sdk(value: Any, name: str) -> None:
    """Whatever a tool returns, as text or as structured output, converts as in the SDK."""
    VALUE[0] = value
    expected = at_once(sdk_outcome(mcp, name, {}))
    assert at_once(direct_outcome(TOOLS, name, {})) == expected


@FUZZ
@given(
    case=st.one_of(
        st.tuples(st.just("echo"), st.fixed_dictionaries({"text": JSONISH})),
        st.tuples(st.just("number"), st.fixed_dictionaries({"value": JSONISH})),
        st.tuples(st.just("flag"), st.fixed_dictionaries({"value": JSONISH})),
        st.tuples(st.just("mapping"), st.fixed_dictionaries({"keys": JSONISH})),
        st.tuples(
            st.just("echo_many"),
            st.fixed_dictionaries({"text": st.text()}, optional={"times": JSONISH}),
        ),
    )
)
def test_any_argument_matches_the_sdk(case: tuple[str, dict[str, Any]]) -> None:
    """Whatever arguments arrive, they validate (or fail) as in the SDK, and the plain
    ``str``/``int``/``bool`` results are wrapped as the SDK wraps them."""
    name, arguments = case
    expected = at_once(sdk_outcome(mcp, name, dict(arguments)))
    assert at_once(direct_outcome(TOOLS, name, dict(arguments))) == expected


async def test_the_sdk_context_is_made_only_for_a_tool_that_reads_one() -> None:
    """A plain tool runs without an SDK Context; one that takes a Context, or has
    parameters a resolver fills, gets one."""
    tools = DirectTools(mcp)
    made: list[str] = []

    def context_for(name: str) -> Any:
        def make() -> SdkContext[Any, Any]:
            made.append(name)
            return SdkContext(mcp_server=mcp)

        return make

    for name, arguments in [("echo", {"text": "a"}), ("blocking", {"text": "a"})]:
        await tools.call(tools.find(name), arguments, context_for(name))
    await tools.call(tools.find("resolved"), {"unit": "kg"}, context_for("resolved"))
    with pytest.raises(UnexpectedToolError):  # it reads the request, which this one lacks
        await tools.call(tools.find("with_context"), {"text": "a"}, context_for("with_context"))
    assert made == ["resolved", "with_context"]


def test_plain_results_are_only_the_sdks_own_wrappers() -> None:
    """Only the SDK's wrapper of a bare str, int or bool is taken as returning its value."""

    def output_model(name: str) -> Any:
        tool = mcp._tool_manager.get_tool(name)
        assert tool is not None
        return tool.fn_metadata.output_model

    assert plain_result(output_model("echo")) is str
    assert plain_result(output_model("number")) is int
    assert plain_result(output_model("flag")) is bool
    for name in ("ratio", "nothing", "short", "words", "weather", "point", "pair", "mapping"):
        assert plain_result(output_model(name)) is None, name
    assert plain_result(tool_results_app.Weather) is None
    assert plain_result(str) is None


def test_only_the_sdks_own_classes_are_called_directly() -> None:
    """Another SDK release, a server class with its own call_tool, or a tool of another
    class takes the SDK's public call_tool."""

    class Audited(MCPServer):
        async def call_tool(self, *args: Any, **kwargs: Any) -> Any:
            return await super().call_tool(*args, **kwargs)

    class OwnTool(SdkTool):
        pass

    assert direct_tools_tested(mcp)
    assert not direct_tools_tested(mcp, version="2.3.1")  # internals not tested there
    assert not direct_tools_tested(Audited("audited"))
    app = MCPServer("own")
    tool = OwnTool.from_function(lambda: "own", name="own")
    app._tool_manager._tools["own"] = tool
    assert DirectTools(app).find("own") is None
    assert DirectTools(app).find("absent") is None


async def test_a_replaced_tool_is_called_as_registered_now() -> None:
    """A tool removed and added again under its name, or given another output model,
    converts by what it is now."""
    app = MCPServer("changing")

    async def first() -> str:
        return "one"

    async def second(count: int = 2) -> list[int]:
        return [count]

    tools = DirectTools(app)
    app.add_tool(first, name="swap")
    assert await direct_outcome(tools, "swap", {}) == await sdk_outcome(app, "swap", {})
    app.remove_tool("swap")
    app.add_tool(second, name="swap")
    for arguments in ({}, {"count": "3"}):
        expected = await sdk_outcome(app, "swap", dict(arguments))
        assert await direct_outcome(tools, "swap", dict(arguments)) == expected
    tool = app._tool_manager.get_tool("swap")
    assert tool is not None
    tool.fn_metadata.output_schema = None  # now advertised and converted as unstructured
    assert await direct_outcome(tools, "swap", {}) == await sdk_outcome(app, "swap", {})

    class Scaled(tool.fn_metadata.arg_model):  # type: ignore[name-defined,misc]  # a model made at run time
        def model_dump_one_level(self) -> dict[str, Any]:
            return {"count": self.count * 10}

    tool.fn_metadata.arg_model = Scaled
    expected = await sdk_outcome(app, "swap", {"count": 4})
    assert "40" in expected
    assert await direct_outcome(tools, "swap", {"count": 4}) == expected


def bridged(direct: bool) -> Server:
    """An mcpfleet server over the test app, its tools called directly or not."""
    server = Server("results", "1.0.0")
    SdkBridge(mcp, McpServerCalls(mcp, direct=direct), server).sync()
    return server


async def bridge_outcome(server: Server, name: str, arguments: dict[str, Any]) -> str:
    """A call through the mcpfleet registration, with its notifications."""
    sent: list[tuple[str, dict[str, Any]]] = []

    async def notify(method: str, params: dict[str, Any]) -> None:
        sent.append((method, params))

    ctx = Context(
        server=server,
        exchange=MrtrExchange(notify, {}, {}),
        request_id=7,
        method="tools/call",
        protocol_version="2026-07-28",
        client_capabilities={},
        progress_token="p",
    )
    tool = server.tools[name]
    try:
        result = await tool.func(arguments=dict(arguments), context=ctx)
    except Exception as exc:
        return repr(("raised", type(exc), str(exc), getattr(exc, "data", None), sent))
    return repr(("result", result, sent))


def log_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, Any]]:
    """Each record's level, message and the type of the exception it carries; asyncio's
    own lines are left out (the garbage collector may report another test's pending task
    while this one runs, at no fixed place)."""
    return [
        (r.levelname, r.getMessage(), r.exc_info and type(r.exc_info[1]))
        for r in caplog.records
        if r.name != "asyncio"
    ]


@pytest.mark.parametrize(
    ("name", "arguments"), [*CASES, ("with_context", {"text": "a"}), ("with_context", {})]
)
async def test_the_bridge_answers_as_through_the_public_path(
    name: str, arguments: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Through the bridge, each call gives the same ToolResult or mcpfleet error, the same
    notifications and the same log lines with either path."""
    public, direct = bridged(direct=False), bridged(direct=True)
    expected = await bridge_outcome(public, name, arguments)
    logged = log_lines(caplog)
    caplog.clear()
    assert await bridge_outcome(direct, name, arguments) == expected
    assert log_lines(caplog) == logged


def test_infinity_is_carried_as_the_sdk_carries_it() -> None:
    """A float the output model dumps as infinity reaches the wire as the SDK sends it."""
    expected = at_once(sdk_outcome(mcp, "infinite_model", {}))
    assert "None" in expected or "inf" in expected
    assert at_once(direct_outcome(TOOLS, "infinite_model", {})) == expected
    assert math.isinf(tool_results_app.Infinite(value=math.inf).value)
