"""Start-up and operator messages: one line that names the setting or says what to do."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mcpfleet.cli import main
from mcpfleet.config import MAKE_STATE_KEY, Config
from mcpfleet.errors import ConfigError
from mcpfleet.probe.checks import missing_endpoint
from tests.conftest import ROOT, STATE_KEYS, serving
from tests.probe.helpers import cli as probe_cli

# Settings of the test process's own environment that would change what serve reads.
CLEAN_ENV: dict[str, str | None] = {
    name: None
    for name in ("HOST", "PORT", "LOG_LEVEL", "REDIS_URL", "REQUEST_STATE_KEYS", "MCP_PATH")
}

# ``mcpfleet`` run by a Python where boto3 and botocore cannot be imported.
WITHOUT_BOTO3 = """
import sys

class RefuseBoto3:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("boto3", "botocore"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, RefuseBoto3())
from mcpfleet.cli import main
main(prog_name="mcpfleet")
"""


def serve(*args: str, env: Mapping[str, str] | None = None) -> Result:
    """``mcpfleet serve ARGS`` through click, with ``env`` over a clean environment."""
    return CliRunner().invoke(main, ["serve", *args], env={**CLEAN_ENV, **(env or {})})


def one_error_line(result: Result) -> str:
    """The failure's single ``Error:`` line (and no traceback)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


def run_mcpfleet(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``python -m mcpfleet ARGS`` (or ``python -c CODE ARGS``) from the repository."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    command = ["-m", "mcpfleet"] if code is None else ["-c", code]
    return subprocess.run(
        [sys.executable, *command, *args],
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- 1. REDIS_URL needs REQUEST_STATE_KEYS ---------------------------------------------


@pytest.mark.parametrize(
    ("env", "args"),
    [({"REDIS_URL": "redis://127.0.0.1:6379/0"}, ()), ({}, ("--state", "rediss://cache:6379"))],
    ids=["env", "flag"],
)
def test_redis_without_state_keys_refuses_to_start(
    env: dict[str, str], args: tuple[str, ...]
) -> None:
    """Fleet state in Redis without REQUEST_STATE_KEYS stops the start, naming both settings
    and the command that makes a key."""
    line = one_error_line(serve("examples.hello:app", *args, env=env))
    assert "REQUEST_STATE_KEYS" in line
    assert "REDIS_URL" in line
    assert MAKE_STATE_KEY in line


def test_suggested_command_makes_keys_the_config_accepts() -> None:
    """The command the error suggests prints a key ring that starts a Redis fleet."""
    made = subprocess.run(
        [sys.executable if word == "python" else word for word in shlex.split(MAKE_STATE_KEY)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    config = Config.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0", "REQUEST_STATE_KEYS": made})
    assert config.request_state_keys.signing.key_id == "k1"


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"REDIS_URL": "memory:"},
        {"REDIS_URL": "redis://127.0.0.1:6379/0", "REQUEST_STATE_KEYS": STATE_KEYS},
    ],
    ids=["memory", "memory-url", "redis-with-keys"],
)
def test_state_without_redis_or_with_keys_needs_no_more(env: dict[str, str]) -> None:
    """State in this process, or in Redis with shared keys, configures without complaint."""
    assert Config.from_env(env).state_url == env.get("REDIS_URL")


def test_state_keys_given_through_the_api_satisfy_redis() -> None:
    """A key ring passed as a keyword, not the environment, counts as shared keys."""
    ring = Config.from_env({"REQUEST_STATE_KEYS": STATE_KEYS}).request_state_keys
    config = Config.from_env({}, state_url="redis://127.0.0.1:6379/0", request_state_keys=ring)
    assert config.request_state_keys is ring


# -- 2. LOG_LEVEL ----------------------------------------------------------------------


def test_unknown_log_level_names_the_setting_and_the_choices() -> None:
    """LOG_LEVEL=loud fails in one line naming LOG_LEVEL and the levels it takes."""
    line = one_error_line(serve("examples.hello:app", env={"LOG_LEVEL": "loud"}))
    assert "LOG_LEVEL" in line
    assert "'loud'" in line
    for level in ("critical", "error", "warning", "info", "debug"):
        assert level in line


@pytest.mark.parametrize("level", ["DEBUG", "info", "notice", "Warning", "trace"])
def test_known_log_levels_are_accepted(level: str) -> None:
    """Every level uvicorn knows, and notice, in any case, is accepted."""
    assert Config.from_env({"LOG_LEVEL": level}).log_level == level.lower()


# -- 3. HOST ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["999.1.1.1", "256.0.0.1", "10.0.0", "[::1]", "", "bad_name", "-x.example.com"]
)
def test_impossible_host_raises_config_error_naming_host(host: str) -> None:
    """An impossible IPv4 address, a bracketed IPv6 one, or a malformed name raises a
    ConfigError naming HOST."""
    with pytest.raises(ConfigError, match=r"^HOST: "):
        Config.from_env({"HOST": host})


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "0.0.0.0", "::", "::1", "localhost", "mcp-1.internal.example.com"]
)
def test_addresses_and_host_names_are_accepted(host: str) -> None:
    """IPv4 and IPv6 addresses and well-formed host names pass (resolving is uvicorn's job)."""
    assert Config.from_env({"HOST": host}).host == host


@pytest.mark.parametrize("where", ["env", "flag"])
def test_impossible_host_on_the_command_line_names_host(where: str) -> None:
    """serve with HOST=999.1.1.1 or --host 999.1.1.1 fails in one line naming HOST."""
    if where == "env":
        result = serve("examples.hello:app", env={"HOST": "999.1.1.1"})
    else:
        result = serve("examples.hello:app", "--host", "999.1.1.1")
    line = one_error_line(result)
    assert "HOST" in line
    assert "999.1.1.1" in line


# -- 4. A port in use ------------------------------------------------------------------


def test_busy_port_says_so_and_does_not_drain() -> None:
    """A port another process listens on fails the start naming HOST:PORT as in use, and
    nothing about a drain is printed."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = run_mcpfleet(
            "serve", "examples.hello:app", "--host", "127.0.0.1", "--port", str(port)
        )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert f"127.0.0.1:{port}" in completed.stderr
    assert "in use" in completed.stderr
    assert "drain" not in (completed.stdout + completed.stderr).lower()
    assert "Traceback" not in completed.stderr


# -- 5. deploy without the deploy extra ------------------------------------------------


@pytest.mark.parametrize("command", ["up", "diff", "down"])
def test_deploy_without_boto3_says_to_install_the_extra(command: str, tmp_path: Path) -> None:
    """deploy up, diff and down without boto3 end in one line naming mcpfleet[deploy]."""
    template = tmp_path / "template.yaml"
    template.write_text("Resources: {}\n")
    args = ["deploy", command, "--stack", "demo"]
    if command != "down":
        args += ["--template", str(template)]
    completed = run_mcpfleet(*args, code=WITHOUT_BOTO3)
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines() == [
        "Error: this command needs boto3, which comes with the deploy extra: "
        "pip install 'mcpfleet[deploy]'"
    ]


# -- 6. probe at a URL with no MCP endpoint --------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "url", "expected"),
    [
        (404, None, "https://mcp.example.com", "try https://mcp.example.com/mcp"),
        (404, {"error": "not found"}, "http://127.0.0.1:3000/", "try http://127.0.0.1:3000/mcp"),
        (405, None, "https://mcp.example.com/?a=1", "try https://mcp.example.com/mcp"),
        (410, None, "https://mcp.example.com/api", "no MCP endpoint at this URL"),
        (
            404,
            {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "x"}},
            "https://mcp.example.com/",
            None,
        ),
        (400, None, "https://mcp.example.com/", None),
        (403, None, "https://mcp.example.com/", None),
        (200, None, "https://mcp.example.com/", None),
    ],
)
def test_first_answer_without_an_endpoint(
    status: int, message: dict[str, object] | None, url: str, expected: str | None
) -> None:
    """A 404, 405 or 410 without a JSON-RPC body means no endpoint (at the root: try /mcp);
    a JSON-RPC 404 (a modern refusal), a 400 or a 403 may still be one."""
    problem = missing_endpoint(status, message, url)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert expected in problem
        assert ("try " in problem) == expected.startswith("try ")


@pytest.mark.parametrize("path", ["/", ""])
def test_probe_at_the_root_is_down_and_suggests_mcp(path: str) -> None:
    """Probing a server's root, which answers 404, is down at the http phase, which
    suggests the /mcp path."""
    with serving("examples.hello:app") as server:
        code, report, _ = probe_cli(server.base + path)
    assert code == 2
    http = next(p for p in report["phases"] if p["name"] == "http")
    assert http["status"] == "fail"
    assert f"try {server.base}/mcp" in http["detail"]


# -- 7. serve TARGET that is not there -------------------------------------------------


def test_missing_attribute_says_so_and_lists_the_servers() -> None:
    """serve examples.hello:nope says the module has no attribute nope and lists its Servers."""
    line = one_error_line(serve("examples.hello:nope"))
    assert line == "Error: module 'examples.hello' has no attribute 'nope'; its Servers: app"


def test_attribute_that_is_not_a_server_says_what_it_is() -> None:
    """serve of a module attribute that is not a Server names its type and the Servers."""
    line = one_error_line(serve("examples.hello:Server"))
    assert line == (
        "Error: examples.hello:Server is a type, not an mcpfleet Server; its Servers: app"
    )


def test_missing_module_is_one_line() -> None:
    """serve of a module that does not exist says no module named it, in one line."""
    completed = run_mcpfleet("serve", "examples.nope:app")
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == ["Error: no module named 'examples.nope'"]
