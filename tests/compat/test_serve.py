"""An app written for the SDK's MCPServer, served by ``mcpfleet serve`` and by the SDK
itself side by side: the official SDK client gets the same answers from both."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters, types
from mcp.shared.exceptions import MCPError

from mcpfleet.compat.sdk import listing_hash
from tests.compat.sdk_app import mcp
from tests.conftest import ROOT, ServerProcess
from tests.probe.servers import ThreadedServer
from tests.wire import headers_for, request

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.timeout(60),
    # The app logs through the SDK's Context, which the SDK marks deprecated.
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]
TARGET = "tests.compat.sdk_app:mcp"
# Tools whose answers need a question to the client: the SDK's own server cannot ask
# one in the stateless 2026-07-28 era (it has no back-channel there); mcpfleet can.
ASKING = {"ask", "roots", "summarize"}
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("add", {"a": 1}),
    ("add", {"a": 40, "b": 2}),
    ("weather", {"city": "Oslo"}),
    ("shout", {"text": "quiet"}),
    ("fail", {"reason": "no"}),
    ("add", {"a": "not a number"}),
    ("work", {"steps": 3}),
    ("inspect", {}),
    ("ask", {}),
    ("roots", {}),
    ("summarize", {"text": "a long story"}),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def fleet() -> Iterator[ServerProcess]:
    server = ServerProcess(TARGET).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def reference() -> Iterator[ThreadedServer]:
    """The same app under the SDK's own Streamable HTTP server."""
    server = ThreadedServer(mcp.streamable_http_app(), lifespan="on").start()
    try:
        yield server
    finally:
        server.stop()


async def answer_elicitation(context: Any, params: Any) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"name": "Ann", "agree": True})


async def answer_sampling(context: Any, params: Any) -> types.CreateMessageResult:
    text = types.TextContent(type="text", text="short")
    return types.CreateMessageResult(role="assistant", content=text, model="test-model")


async def answer_roots(context: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///work", name="work")])


def wire(model: Any) -> Any:
    """A result as compared: its wire form, less the era's cache scope (the SDK says
    private, mcpfleet public; both say the result is stale at once)."""
    body = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    body.pop("cacheScope", None)
    return body


async def exercise(url: str, mode: str) -> dict[str, Any]:
    """Everything the app offers, asked through the official SDK client."""
    seen: dict[str, Any] = {"logs": [], "progress": []}

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        seen["logs"].append((params.level, params.data, params.logger))

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen["progress"].append((progress, total, message))

    async with Client(
        url,
        mode=mode,
        cache=None,
        elicitation_callback=answer_elicitation,
        sampling_callback=answer_sampling,
        list_roots_callback=answer_roots,
        logging_callback=on_log,
    ) as client:
        if mode == "legacy":
            # mcpfleet sends info and above until a client asks for more; the SDK's
            # server sends every level and has no logging/setLevel.
            with contextlib.suppress(MCPError):
                await client.set_logging_level("debug")
        seen["version"] = client.protocol_version
        seen["tools"] = wire(await client.list_tools())
        for name, arguments in CALLS:
            try:
                result = await client.call_tool(name, arguments, progress_callback=on_progress)
                seen[f"{name} {arguments}"] = wire(result)
            except Exception as exc:  # an answer to compare, whichever way it came
                seen[f"{name} {arguments}"] = repr(exc)
        seen["resources"] = wire(await client.list_resources())
        seen["templates"] = wire(await client.list_resource_templates())
        for uri in ("notes://readme", "notes://logo", "notes://cats/summary"):
            seen[uri] = wire(await client.read_resource(uri))
        seen["prompts"] = wire(await client.list_prompts())
        seen["review"] = wire(await client.get_prompt("review", {"code": "x = 1"}))
        seen["chat"] = wire(await client.get_prompt("chat", {"topic": "cats"}))
        ref = types.PromptReference(type="ref/prompt", name="review")
        seen["complete"] = wire(await client.complete(ref, {"name": "language", "value": "p"}))
    return seen


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_same_answers_as_the_sdk_server(
    fleet: ServerProcess, reference: ThreadedServer, mode: str
) -> None:
    """Every tool, resource, template, prompt and completion answers as under the SDK."""
    with anyio.fail_after(30):
        ours = await exercise(fleet.url, mode)
        theirs = await exercise(reference.url, mode)
    if mode == "auto":
        assert ours["version"] == "2026-07-28"
        for name, arguments in CALLS:
            if name in ASKING:
                key = f"{name} {arguments}"
                assert "no back-channel" in theirs.pop(key)
                assert not ours.pop(key)["isError"]
    assert ours == theirs


async def test_context_methods_reach_the_client(fleet: ServerProcess) -> None:
    """Progress, log lines, elicitation, sampling, roots, the request id, the client's
    capabilities, a resource read and the lifespan's state all work through mcpfleet."""
    with anyio.fail_after(20):
        seen = await exercise(fleet.url, "legacy")
    assert seen["progress"] == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert [level for level, _, _ in seen["logs"]] == ["debug", "info", "warning", "error"]
    assert seen["logs"][-1] == ("error", "erring", "notes")
    assert seen["ask {}"]["structuredContent"] == {"result": "hello Ann agree=True"}
    assert seen["roots {}"]["structuredContent"] == {"result": ["file:///work"]}
    assert seen["summarize {'text': 'a long story'}"]["content"][0]["text"] == "test-model: short"
    assert seen["inspect {}"]["structuredContent"] == {
        "client": "mcp",
        "has_request_id": True,
        "elicitation": True,
        "lifespan": "hello from the lifespan",
        "readme": "# Notes",
    }


def raw_tools(url: str) -> list[dict[str, Any]]:
    message = request("tools/list")
    response = httpx.post(url, json=message, headers=headers_for(message), timeout=10)
    body = response.json() if "json" in response.headers["content-type"] else sse_body(response)
    tools: list[dict[str, Any]] = body["result"]["tools"]
    return tools


def sse_body(response: httpx.Response) -> Any:
    import orjson

    data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
    return orjson.loads(data[-1])


def test_tools_list_hashes_the_same(fleet: ServerProcess, reference: ThreadedServer) -> None:
    """The tools/list bodies on the wire, from both servers, hash the same."""
    ours, theirs = raw_tools(fleet.url), raw_tools(reference.url)
    assert len(ours) == len(mcp._tool_manager.list_tools())
    assert listing_hash(ours) == listing_hash(theirs)


async def test_list_changed_reaches_a_listener() -> None:
    """A tool added at run time by the app is announced to a listen stream and listed."""
    server = ServerProcess(TARGET).start()
    try:
        with anyio.fail_after(20):
            async with Client(server.url, cache=None) as client:
                async with client.listen(tools_list_changed=True) as subscription:
                    await client.call_tool("grow", {"name": "sprout"})
                    async for _event in subscription:
                        break
                names = [tool.name for tool in (await client.list_tools()).tools]
        assert "sprout" in names
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_served_over_stdio(mode: str) -> None:
    """``mcpfleet serve --stdio`` serves the SDK app to the SDK's stdio client."""
    command = ["-m", "mcpfleet", "serve", "--stdio", TARGET]
    launched = StdioServerParameters(command=sys.executable, args=command, cwd=ROOT)
    with anyio.fail_after(30):
        async with Client(
            launched, mode=mode, cache=None, elicitation_callback=answer_elicitation
        ) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            added = await client.call_tool("add", {"a": 2, "b": 3})
            asked = await client.call_tool("ask", {})
            readme = await client.read_resource("notes://readme")
            prompt = await client.get_prompt("review", {"code": "y"})
    assert "inspect" in names
    assert added.structured_content == {"result": 5}
    assert asked.structured_content == {"result": "hello Ann agree=True"}
    assert readme.contents[0].text == "# Notes"
    assert prompt.messages[0].content.text == "Review this python: y"
