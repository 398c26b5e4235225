"""The README's quickstart does what the README says, against a real `mcpfleet serve`."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import ROOT, serving

README = (ROOT / "README.md").read_text()


def fenced(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_quickstart_curl_gets_the_documented_answer() -> None:
    """The curl command of the quickstart, run against examples.hello:app, prints the JSON shown."""
    curl = next(block for block in fenced("bash") if block.lstrip().startswith("curl"))
    expected = orjson.loads(next(block for block in fenced("json") if "Hello, Ada!" in block))
    if shutil.which("curl") is None:
        pytest.fail("curl is needed for the README test; scripts/install-tools.sh installs it")
    with serving("examples.hello:app") as server:
        command = curl.replace("127.0.0.1:3000", f"127.0.0.1:{server.port}")
        completed = subprocess.run(
            ["bash", "-c", command], capture_output=True, timeout=30, check=True
        )
    assert orjson.loads(completed.stdout) == expected


def test_example_module_serves_what_the_readme_shows() -> None:
    """The hello example in the README is the file the first command serves."""
    example = next(block for block in fenced("python") if "examples/hello.py" in block)
    source = (ROOT / "examples" / "hello.py").read_text()
    for line in example.splitlines()[1:]:
        if line.strip() and not line.startswith(("from ", "    for ", "        await")):
            assert line in source, f"README line not in examples/hello.py: {line!r}"


def test_quickstart_client_script_runs_as_written(tmp_path: Path) -> None:
    """The SDK client script of the quickstart, run as a file against examples.hello:app,
    greets Ada in the 2026-07-28 era and again in legacy (2025-11-25) mode."""
    script = next(block for block in fenced("python") if "from mcp import Client" in block)
    install = [block for block in fenced("bash") if "pip install" in block and "mcp" in block]
    assert install, "the README must show how to install the SDK client"
    assert "asyncio.run(main())" in script  # no top-level await: it runs as a plain script
    with serving("examples.hello:app") as server:
        path = tmp_path / "client.py"
        path.write_text(script.replace("127.0.0.1:3000", f"127.0.0.1:{server.port}"))
        completed = subprocess.run(
            [sys.executable, str(path)], capture_output=True, timeout=60, check=False, cwd=tmp_path
        )
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")[-3000:]
    assert completed.stdout.decode().splitlines() == [
        "2026-07-28 Hello, Ada!",
        "2025-11-25 Hello, Ada!",
    ]


def test_deploy_extra_install_command_is_shown() -> None:
    """The README shows the command that installs the deploy extra, and the extra exists."""
    commands = [block for block in fenced("bash") if "[deploy]" in block]
    assert commands
    assert "pip install" in commands[0]
    assert "\ndeploy = [" in (ROOT / "pyproject.toml").read_text()
