"""The bearer-token peer of the benchmark harness, at its smallest: no speed is asserted."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
from pathlib import Path

from bench.client import RequestTemplate
from bench.issuer import token_issuer
from bench.peers import PEERS
from bench.run import HOST, free_port, server
from bench.scenarios import get as get_scenario

ROOT = Path(__file__).resolve().parent.parent.parent
BRIEF = (
    "--concurrency", "2", "--duration", "1", "--warmup", "0.5", "--runs", "1",
    "--request-timeout", "5",
)  # fmt: skip


def post(port: int, headers: list[tuple[str, str]]) -> int:
    """The status of one echo call sent as the load generator sends it."""
    template = RequestTemplate(get_scenario("echo"), HOST, port, "/mcp", headers)
    with socket.create_connection((HOST, port), timeout=5.0) as sock:
        sock.sendall(template.build(1))
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            response.read()
            return response.status
        finally:
            response.close()


def test_harness_measures_mcpfleet_jwt_echo(tmp_path: Path) -> None:
    """Every call carries the run's token and succeeds; the issuer's keys are fetched once."""
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench.run", "--scenario", "echo",
               "--peers", "mcpfleet-jwt", *BRIEF, "--json", str(results)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(results.read_text(encoding="utf-8"))
    (run,) = summary["peers"]["mcpfleet-jwt"]["runs"]
    assert "error" not in run, run
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]
    assert run["jwks_fetches"] == 1  # one token: verified once, then from the cache


def test_jwt_peer_refuses_a_call_without_the_token() -> None:
    """The peer really authenticates: 401 without the issuer's token, 200 with it."""
    port = free_port()
    with token_issuer() as issuer:
        env = {**issuer.server_env(), "DRAIN_DELAY_SECONDS": "0"}  # stop at once
        with server(PEERS["mcpfleet-jwt"], port, None, env):
            assert post(port, []) == 401
            assert post(port, [("Authorization", "Bearer not.a.token")]) == 401
            assert post(port, issuer.headers()) == 200
