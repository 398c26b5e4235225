"""Node.js peers over stdio: the TypeScript SDK's stdio client and the Inspector CLI in
stdio mode, each launching ``mcpfleet serve --stdio`` itself."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(120)

TOOLS = ROOT / ".tools"
NODE = TOOLS / "node22" / "node_modules" / ".bin" / "node"
TS_SDK = TOOLS / "ts-sdk"
INSPECTOR_MODULES = TOOLS / "inspector" / "node_modules"
INSPECTOR = INSPECTOR_MODULES / "@modelcontextprotocol" / "inspector-cli" / "build" / "index.js"
SERVE = [sys.executable, "-m", "mcpfleet", "serve", "--stdio", "tests.stdio.stdio_app:app"]


def node(*args: str, cwd: Path) -> Any:
    """Run a Node.js script and decode the JSON it prints."""
    if not NODE.exists():
        pytest.fail("Node.js 22 is not installed: run scripts/install-tools.sh")
    completed = subprocess.run(
        [str(NODE), *args], capture_output=True, text=True, timeout=90, cwd=cwd, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(completed.stdout)


def test_typescript_sdk_stdio_client() -> None:
    """StdioClientTransport launches the server, lists and calls tools, reads resources,
    gets a prompt, answers an elicitation, pings, and closes it."""
    if not (TS_SDK / "node_modules" / "@modelcontextprotocol" / "sdk").exists():
        pytest.fail("the TypeScript SDK is not installed: run scripts/install-tools.sh")
    # An ES module finds its packages next to itself, so the script runs from the SDK's folder.
    script = TS_SDK / "ts_stdio_client.mjs"
    shutil.copy(ROOT / "tests" / "stdio" / "ts_stdio_client.mjs", script)
    seen = node(str(script), *SERVE, cwd=ROOT)  # the server inherits the working directory
    assert seen["server"] == {"name": "stdio-test", "version": "1.0.0"}
    assert {"echo", "add", "ask_name"} <= set(seen["tools"])
    assert seen["echo"] == "from typescript"
    assert seen["add"] == "42"
    assert seen["resources"] == ["test://greeting"]
    assert seen["greeting"] == "hello from stdio"
    assert seen["item"] == "item nine"
    assert seen["prompts"] == ["review"]
    assert seen["prompt"] == "Please review: let x"
    assert seen["elicited"] == "accept:from-typescript"
    assert seen["pinged"] is True


def inspector(*args: str) -> Any:
    """The Inspector CLI against a server it launches over stdio.

    The CLI gives the server a minimal environment and its own working directory, so
    the server is launched through a shell that changes to the project first."""
    if not INSPECTOR.exists():
        pytest.fail("the Inspector CLI is not installed: run scripts/install-tools.sh")
    launch = f"cd {shlex.quote(str(ROOT))} && exec {shlex.join(SERVE)}"
    # The CLI reads its package.json relative to the working directory; this folder works.
    return node(str(INSPECTOR), "/bin/sh", *args, "--", "-c", launch, cwd=INSPECTOR_MODULES)


def test_inspector_cli_lists_and_calls_tools() -> None:
    """The Inspector CLI in stdio mode lists the tools and calls one with arguments."""
    listed = inspector("--method", "tools/list")
    assert "echo" in [tool["name"] for tool in listed["tools"]]
    called = inspector("--method", "tools/call", "--tool-name", "add", "--tool-arg", "a=4", "b=5")
    assert called["content"][0]["text"] == "9"


def test_inspector_cli_reads_resources_and_gets_prompts() -> None:
    """The Inspector CLI in stdio mode reads a resource and gets a prompt."""
    read = inspector("--method", "resources/read", "--uri", "test://greeting")
    assert read["contents"][0]["text"] == "hello from stdio"
    prompt = inspector(
        "--method", "prompts/get", "--prompt-name", "review", "--prompt-args", "code=abc"
    )
    assert prompt["messages"][0]["content"]["text"] == "Please review: abc"
