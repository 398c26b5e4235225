"""The official Python SDK client (mcp 2.3.0), in its default auto mode, as a peer."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client, types

from tests.conftest import ServerProcess

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_auto_mode_picks_the_modern_era(conformance_server: ServerProcess) -> None:
    """Client(url) discovers the server and speaks 2026-07-28 with it."""
    async with Client(conformance_server.url, cache=None) as client:
        assert client.protocol_version == "2026-07-28"
        assert client.server_info is not None
        assert client.server_info.name == "mcp-conformance-test-server"


async def test_lists_and_calls_tools(conformance_server: ServerProcess) -> None:
    """The SDK lists our tools and calls one, getting its text back."""
    async with Client(conformance_server.url, cache=None) as client:
        listed = await client.list_tools()
        names = [tool.name for tool in listed.tools]
        assert "test_simple_text" in names
        result = await client.call_tool("test_simple_text", {})
        assert not result.is_error
        assert isinstance(result.content[0], types.TextContent)
        assert result.content[0].text == "This is a simple text response for testing."


async def test_reads_resources_and_templates(conformance_server: ServerProcess) -> None:
    """The SDK reads a static resource, a binary one and a templated one."""
    async with Client(conformance_server.url, cache=None) as client:
        text = await client.read_resource("test://static-text")
        assert text.contents[0].text == "This is the content of the static text resource."
        binary = await client.read_resource("test://static-binary")
        assert binary.contents[0].mime_type == "image/png"
        templated = await client.read_resource("test://template/42/data")
        assert '"id":"42"' in templated.contents[0].text


async def test_gets_prompts(conformance_server: ServerProcess) -> None:
    """The SDK lists prompts and gets one with arguments."""
    async with Client(conformance_server.url, cache=None) as client:
        prompts = await client.list_prompts()
        assert "test_prompt_with_arguments" in [p.name for p in prompts.prompts]
        got = await client.get_prompt("test_prompt_with_arguments", {"arg1": "a", "arg2": "b"})
        assert got.messages[0].content.text == "Prompt with arguments: arg1='a', arg2='b'"


async def test_progress_reaches_the_callback(conformance_server: ServerProcess) -> None:
    """Progress notifications on the call's SSE stream reach the SDK's progress callback."""
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Client(conformance_server.url, cache=None) as client:
        await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
    assert seen == [0, 50, 100]


async def test_elicitation_through_mrtr(conformance_server: ServerProcess) -> None:
    """A tool that elicits completes through the SDK's elicitation callback (MRTR)."""

    async def answer(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"response": "yes"})

    async with Client(conformance_server.url, cache=None, elicitation_callback=answer) as client:
        result = await client.call_tool("test_elicitation", {"message": "Continue?"})
    assert result.content[0].text == 'User response: action=accept, content={"response":"yes"}'


async def test_listen_receives_list_changed(conformance_server: ServerProcess) -> None:
    """A listen stream opened by the SDK receives tools/list_changed after a change."""
    async with Client(conformance_server.url, cache=None) as client:
        async with client.listen(tools_list_changed=True) as subscription:
            await client.call_tool("test_trigger_tool_change", {})
            with anyio.fail_after(5):
                async for _event in subscription:
                    break
        await client.call_tool("test_trigger_tool_change", {})


async def test_legacy_mode_session(conformance_server: ServerProcess) -> None:
    """Client(url, mode="legacy") initializes a session and uses it, elicitation included."""

    async def answer(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"response": "legacy"})

    async with Client(conformance_server.url, mode="legacy", cache=None,
                      elicitation_callback=answer) as client:
        assert client.protocol_version == "2025-11-25"
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert "test_elicitation" in names
        text = await client.call_tool("test_simple_text", {})
        assert text.content[0].text == "This is a simple text response for testing."
        elicited = await client.call_tool("test_elicitation", {"message": "Go?"})
        assert elicited.content[0].text.endswith('content={"response":"legacy"}')
        prompt = await client.get_prompt("test_simple_prompt")
        assert prompt.messages[0].content.text == "This is a simple prompt for testing."
