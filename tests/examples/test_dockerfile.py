"""The Dockerfile of the example app, read as text (no image can be built here)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mcpfleet.cli import load_app
from mcpfleet.server.app import Server
from tests.conftest import ROOT, free_port, serving

Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    out: list[Instruction] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        out.append((keyword.upper(), rest.strip()))
        pending = ""
    return out


def only(keyword: str) -> str:
    values = [rest for key, rest in instructions() if key == keyword]
    assert len(values) == 1, f"expected one {keyword}, found {values}"
    return values[0]


def healthcheck_command() -> list[str]:
    options, _, command = only("HEALTHCHECK").partition("CMD ")
    assert "--interval=" in options
    parsed: list[str] = json.loads(command)
    return parsed


def test_base_image_and_install() -> None:
    """The image is python:3.11-slim and installs the project with the deploy and lambda
    extras (boto3, and awslambdaric for BUFFERED Lambda functions)."""
    assert only("FROM") == "python:3.11-slim"
    runs = [rest for key, rest in instructions() if key == "RUN"]
    assert any("pip install" in run and "[deploy,lambda]" in run for run in runs)


def test_lambda_extra_carries_the_runtime_interface_client() -> None:
    """The lambda extra the image installs names awslambdaric."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(requirement.startswith("awslambdaric") for requirement in extras["lambda"])


def test_lambda_entry_point_is_documented_and_runnable() -> None:
    """The comment says how Lambda runs the image (the EntryPoint override, the invoke
    modes, the handler), and what it names exists: the module and the handler."""
    text = (ROOT / "Dockerfile").read_text()
    assert 'EntryPoint: ["python", "-m", "mcpfleet.aws_lambda"], Command: []' in text
    for words in ("MCPFLEET_APP", "RESPONSE_STREAM", "BUFFERED", "mcpfleet.aws_lambda.handler"):
        assert words in text, words
    assert importlib.util.find_spec("mcpfleet.aws_lambda.__main__") is not None
    import mcpfleet.aws_lambda

    assert callable(mcpfleet.aws_lambda.handler)
    assert mcpfleet.aws_lambda.HANDLER == "mcpfleet.aws_lambda.handler"


def test_runs_as_a_non_root_user() -> None:
    """A USER that is not root is set after the installs and before the entrypoint."""
    keys = [key for key, _ in instructions()]
    user = only("USER").split(":")[0]
    assert user not in ("root", "0")
    assert max(i for i, key in enumerate(keys) if key == "RUN") < keys.index("USER")
    assert keys.index("USER") < keys.index("ENTRYPOINT")


def test_exec_form_entrypoint_serves_the_example() -> None:
    """ENTRYPOINT and CMD are exec form (JSON arrays), and CMD names a loadable Server."""
    assert json.loads(only("ENTRYPOINT")) == ["mcpfleet", "serve"]
    (target,) = json.loads(only("CMD"))
    assert target == "examples.docs_server:app"
    assert isinstance(load_app(target), Server)


def test_listens_on_port_3000_everywhere() -> None:
    """HOST=0.0.0.0 and PORT=3000 are set, and port 3000 is exposed."""
    env = " ".join(rest for key, rest in instructions() if key == "ENV").split()
    assert "HOST=0.0.0.0" in env
    assert "PORT=3000" in env
    assert only("EXPOSE") == "3000"


def test_stop_signal_is_sigterm() -> None:
    """STOPSIGNAL is SIGTERM, the signal the server drains on."""
    assert only("STOPSIGNAL") == "SIGTERM"


def test_healthcheck_probes_healthz_with_python() -> None:
    """HEALTHCHECK is an exec-form python command that asks /healthz."""
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    assert "/healthz" in command[2]


def test_healthcheck_command_passes_and_fails() -> None:
    """The health check command exits 0 against a live server and non-zero against none."""
    _, code = healthcheck_command()[1:]
    with serving("examples.hello:app") as server:
        live = subprocess.run(
            [sys.executable, "-c", code],
            timeout=30,
            capture_output=True,
            env={**os.environ, "PORT": str(server.port)},
        )
    assert live.returncode == 0, live.stderr
    dead = subprocess.run(
        [sys.executable, "-c", code],
        timeout=30,
        capture_output=True,
        env={**os.environ, "PORT": str(free_port())},
    )
    assert dead.returncode != 0


@pytest.mark.parametrize(
    "entry",
    [
        ".venv",
        ".tools",
        ".git",
        "**/__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        "bench/results",
        "tests",
    ],
)
def test_dockerignore_excludes(entry: str) -> None:
    """.dockerignore keeps the entry out of the build context."""
    assert entry in (ROOT / ".dockerignore").read_text().splitlines()


def test_copied_sources_exist_and_are_not_ignored() -> None:
    """Every COPY source exists in the repository and is not excluded by .dockerignore."""
    ignored = set((ROOT / ".dockerignore").read_text().splitlines())
    sources = [src for key, rest in instructions() if key == "COPY" for src in rest.split()[:-1]]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert Path(source).parts[0] not in ignored, source
