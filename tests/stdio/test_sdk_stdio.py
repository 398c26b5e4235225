"""The official Python SDK's stdio client (mcp 2.3.0) as a peer, in both protocol eras."""

from __future__ import annotations

import sys
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters, types

from tests.conftest import ROOT

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

ERAS = ["legacy", "2026-07-28", "auto"]
TARGET = "tests.stdio.stdio_app:app"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def launched(*args: str) -> StdioServerParameters:
    """How a client launches the test app: ``mcpfleet serve --stdio`` by default."""
    command = args or ("-m", "mcpfleet", "serve", "--stdio", TARGET)
    return StdioServerParameters(command=sys.executable, args=list(command), cwd=ROOT)


async def answer_elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"name": "Ada"})


async def answer_sampling(
    context: Any, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text="short"),
        model="test-model",
    )


async def answer_roots(context: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///work", name="work")])


def text_of(result: Any) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@pytest.mark.parametrize("mode", ERAS)
async def test_lists_and_calls_tools(mode: str) -> None:
    """The SDK lists the app's tools over stdio and calls an async and a sync one."""
    with anyio.fail_after(30):
        async with Client(launched(), mode=mode, cache=None) as client:
            expected = "2025-11-25" if mode == "legacy" else "2026-07-28"
            assert client.protocol_version == expected
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert {"echo", "add", "slow", "ask_name"} <= set(names)
            assert text_of(await client.call_tool("echo", {"text": "over stdio"})) == "over stdio"
            assert text_of(await client.call_tool("add", {"a": 2, "b": 3})) == "5"


@pytest.mark.parametrize("mode", ERAS)
async def test_reads_resources_and_gets_prompts(mode: str) -> None:
    """The SDK reads a static and a templated resource and gets a prompt over stdio."""
    with anyio.fail_after(30):
        async with Client(launched(), mode=mode, cache=None) as client:
            listed = await client.list_resources()
            assert [str(r.uri) for r in listed.resources] == ["test://greeting"]
            greeting = await client.read_resource("test://greeting")
            assert greeting.contents[0].text == "hello from stdio"
            templated = await client.read_resource("test://items/seven")
            assert templated.contents[0].text == "item seven"
            prompts = await client.list_prompts()
            assert [p.name for p in prompts.prompts] == ["review"]
            got = await client.get_prompt("review", {"code": "x = 1"})
            assert got.messages[0].content.text == "Please review: x = 1"


@pytest.mark.parametrize("mode", ERAS)
async def test_elicitation_sampling_and_roots(mode: str) -> None:
    """Elicitation, sampling and roots reach the SDK's callbacks and come back: as
    server requests on stdout in 2025, as MRTR rounds in 2026-07-28."""
    with anyio.fail_after(30):
        async with Client(
            launched(),
            mode=mode,
            cache=None,
            elicitation_callback=answer_elicitation,
            sampling_callback=answer_sampling,
            list_roots_callback=answer_roots,
        ) as client:
            assert text_of(await client.call_tool("ask_name", {})) == "accept:Ada"
            summary = await client.call_tool("summarise", {"text": "a long text"})
            assert text_of(summary) == "model said: short"
            assert text_of(await client.call_tool("roots", {})) == "file:///work"


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_progress_and_logs_reach_the_client(mode: str) -> None:
    """A tool's progress and log notifications reach the SDK's callbacks over stdio."""
    progress: list[float] = []
    logs: list[Any] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data)

    with anyio.fail_after(30):
        async with Client(
            launched(), mode=mode, cache=None, logging_callback=on_log, log_level="info"
        ) as client:
            result = await client.call_tool(
                "slow", {"seconds": 0.01}, progress_callback=on_progress
            )
            assert text_of(result) == "slept 0.01"
    assert progress == [0]
    assert logs == ["slow started"]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_script_that_calls_run(mode: str) -> None:
    """A script ending in ``mcpfleet.stdio.run(app)`` is served the same way."""
    with anyio.fail_after(30):
        async with Client(
            launched(str(ROOT / "tests" / "stdio" / "stdio_app.py")), mode=mode, cache=None
        ) as client:
            assert text_of(await client.call_tool("echo", {"text": "script"})) == "script"
