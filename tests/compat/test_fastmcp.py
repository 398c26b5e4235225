"""A 1.x ``FastMCP`` app, served by ``mcpfleet serve`` in an environment of its own (mcp
1.x and 2.x cannot share one), answers the SDK client as the 1.x SDK's own server does."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, types

from tests.conftest import ROOT, free_port
from tests.probe.servers import wait_for_port

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

ENV = ROOT / ".tools" / "compat-mcp1"
SDK_1X = "mcp==1.30.*"
TARGET = "tests.compat.fastmcp_app:mcp"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def v1_python() -> Path:
    """A virtual environment with mcp 1.x, which sees mcpfleet and its dependencies
    through this one's site-packages (its own packages come first); made once."""
    python = ENV / "bin" / "python"
    ready = ENV / "ready"
    if ready.exists() and ready.read_text() == SDK_1X:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(ENV)], check=True, timeout=120)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", SDK_1X],
        check=True,
        timeout=300,
        capture_output=True,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "mcpfleet-beside.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    ready.write_text(SDK_1X)
    return python


@contextlib.contextmanager
def child(command: list[str], port: int) -> Iterator[str]:
    """A server in a child process on ``port``, stopped with SIGINT (no drain wait)."""
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="module")
def python() -> Path:
    return v1_python()


@pytest.fixture(scope="module")
def fleet(python: Path) -> Iterator[str]:
    port = free_port()
    command = [
        str(python),
        "-m",
        "mcpfleet",
        "serve",
        TARGET,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with child(command, port) as url:
        yield url


@pytest.fixture(scope="module")
def reference(python: Path) -> Iterator[str]:
    """The same app under the 1.x SDK's own Streamable HTTP server."""
    port = free_port()
    with child([str(python), "-m", "tests.compat.fastmcp_app", str(port)], port) as url:
        yield url


async def answer(context: Any, params: Any) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"name": "Ann", "agree": True})


def wire(model: Any) -> Any:
    body = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    body.pop("cacheScope", None)
    body.pop("ttlMs", None)
    return body


async def exercise(url: str, mode: str) -> dict[str, Any]:
    """Everything the 1.x app offers, asked through the official SDK client."""
    seen: dict[str, Any] = {"logs": [], "progress": []}

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        seen["logs"].append((params.level, params.data))

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen["progress"].append((progress, total, message))

    async with Client(
        url, mode=mode, cache=None, elicitation_callback=answer, logging_callback=on_log
    ) as client:
        seen["version"] = client.protocol_version
        seen["tools"] = wire(await client.list_tools())
        for name, arguments in [
            ("add", {"a": 1}),
            ("fail", {"reason": "no"}),
            ("add", {"a": "x"}),
            ("work", {"steps": 2}),
            ("ask", {}),
            ("inspect", {}),
        ]:
            result = await client.call_tool(name, arguments, progress_callback=on_progress)
            seen[f"{name} {arguments}"] = wire(result)
        seen["readme"] = wire(await client.read_resource("notes://readme"))
        seen["summary"] = wire(await client.read_resource("notes://cats/summary"))
        seen["templates"] = wire(await client.list_resource_templates())
        seen["prompts"] = wire(await client.list_prompts())
        seen["review"] = wire(await client.get_prompt("review", {"code": "x"}))
        ref = types.PromptReference(type="ref/prompt", name="review")
        seen["complete"] = wire(await client.complete(ref, {"name": "language", "value": "p"}))
    return seen


async def test_same_answers_as_the_1x_sdk_server(fleet: str, reference: str) -> None:
    """In a 2025 session, every tool, resource, prompt and completion answers as under
    the 1.x SDK's own server, progress, log lines and elicitation included."""
    with anyio.fail_after(60):
        ours = await exercise(fleet, "legacy")
        theirs = await exercise(reference, "legacy")
    assert ours == theirs
    assert ours["ask {}"]["structuredContent"] == {"result": "hello Ann agree=True"}
    assert ours["inspect {}"]["structuredContent"]["lifespan"] == "hello from the lifespan"


async def test_a_1x_app_speaks_2026_07_28(fleet: str) -> None:
    """Served by mcpfleet, the 1.x app also answers a 2026-07-28 client, its elicitation
    carried by input-required rounds."""
    with anyio.fail_after(60):
        seen = await exercise(fleet, "auto")
    assert seen["version"] == "2026-07-28"
    assert seen["ask {}"]["structuredContent"] == {"result": "hello Ann agree=True"}
    assert seen["add {'a': 1}"]["structuredContent"] == {"result": 3}
