"""Clients nobody here wrote, on the 2025-era side: the TypeScript SDK and the Inspector CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.conftest import ROOT, ServerProcess

TOOLS = ROOT / ".tools"
NODE = TOOLS / "node22" / "node_modules" / ".bin" / "node"


def node(*args: str, cwd: Any = None) -> Any:
    if not NODE.exists():
        pytest.fail("Node.js 22 is not installed: run scripts/install-tools.sh")
    completed = subprocess.run([str(NODE), *args], capture_output=True, text=True, timeout=60,
                               cwd=cwd, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_typescript_sdk_session(conformance_server: ServerProcess) -> None:
    """StreamableHTTPClientTransport connects, lists, calls, answers an elicitation, terminates."""
    sdk = TOOLS / "ts-sdk"
    if not (sdk / "node_modules" / "@modelcontextprotocol" / "sdk").exists():
        pytest.fail("the TypeScript SDK is not installed: run scripts/install-tools.sh")
    # An ES module finds its packages next to itself, so the script runs from the SDK's folder.
    shutil.copy(ROOT / "tests" / "clients" / "ts_client.mjs", sdk / "ts_client.mjs")
    seen = node(str(sdk / "ts_client.mjs"), conformance_server.url, "5")
    assert seen["protocolVersion"] == "2025-11-25"
    assert seen["sessionId"]
    assert "test_simple_text" in seen["tools"]
    assert seen["texts"] == ["This is a simple text response for testing."] * 5
    expected = 'User response: action=accept, content={"response":"from-typescript"}'
    assert seen["elicited"] == expected
    assert seen["terminated"] is True


def inspector(url: str, *args: str) -> Any:
    cli = TOOLS / "inspector" / "node_modules" / "@modelcontextprotocol" / "inspector-cli"
    if not cli.exists():
        pytest.fail("the Inspector CLI is not installed: run scripts/install-tools.sh")
    # The CLI looks for its package.json relative to the working directory; this folder works.
    return node(str(cli / "build" / "index.js"), url, "--transport", "http", *args,
                cwd=cli.parent.parent)


def test_inspector_cli_lists_and_calls(conformance_server: ServerProcess) -> None:
    """The MCP Inspector CLI lists our tools and calls one."""
    listed = inspector(conformance_server.url, "--method", "tools/list")
    assert "test_simple_text" in [tool["name"] for tool in listed["tools"]]
    called = inspector(conformance_server.url, "--method", "tools/call",
                       "--tool-name", "test_simple_text")
    assert called["content"][0]["text"] == "This is a simple text response for testing."
    read = inspector(conformance_server.url, "--method", "resources/read",
                     "--uri", "test://static-text")
    assert read["contents"][0]["text"] == "This is the content of the static text resource."
