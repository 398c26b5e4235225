"""The README's quickstart does what the README says, against a real `mcpfleet serve`."""

from __future__ import annotations

import re
import shutil
import subprocess

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
        completed = subprocess.run(["bash", "-c", command], capture_output=True, timeout=30,
                                   check=True)
    assert orjson.loads(completed.stdout) == expected


def test_example_module_serves_what_the_readme_shows() -> None:
    """The hello example in the README is the file the first command serves."""
    example = next(block for block in fenced("python") if "examples/hello.py" in block)
    source = (ROOT / "examples" / "hello.py").read_text()
    for line in example.splitlines()[1:]:
        if line.strip() and not line.startswith(("from ", "    for ", "        await")):
            assert line in source, f"README line not in examples/hello.py: {line!r}"
