"""The benchmark harness end to end, at its smallest: no speed is asserted."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def harness(
    tmp_path: Path, module: str, *options: str, timeout: float = 60
) -> tuple[str, dict[str, Any]]:
    """Run a harness command briefly; return what it printed and its JSON summary."""
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", module, *options, "--json", str(results)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads(results.read_text(encoding="utf-8"))


BRIEF = (
    "--concurrency",
    "2",
    "--duration",
    "2",
    "--warmup",
    "0.5",
    "--runs",
    "1",
    "--request-timeout",
    "5",
)


def test_harness_measures_mcpfleet_echo(tmp_path: Path) -> None:
    """The echo scenario against mcpfleet yields calls, no errors and a CPU figure."""
    printed, summary = harness(
        tmp_path, "bench.run", "--scenario", "echo", "--peers", "mcpfleet", *BRIEF
    )
    (run,) = summary["peers"]["mcpfleet"]["runs"]
    assert "error" not in run, run
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]
    assert run["cpu_us_per_call"] is not None
    assert "calls/s" in printed


def test_harness_measures_mcpfleet_session_echo(tmp_path: Path) -> None:
    """The session scenario opens one session per connection and skips peers without any."""
    _, summary = harness(
        tmp_path, "bench.run", "--scenario", "session-echo", "--peers", "mcpfleet", "floor", *BRIEF
    )
    assert list(summary["peers"]) == ["mcpfleet"]  # the floor has no sessions
    (run,) = summary["peers"]["mcpfleet"]["runs"]
    assert "error" not in run, run
    assert run["sessions"] == 2
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]


def test_harness_measures_mcpfleet_with_redis_state(tmp_path: Path) -> None:
    """The Redis peer: the harness starts its redis-server and stops it afterwards."""
    _, summary = harness(
        tmp_path, "bench.run", "--scenario", "session-echo", "--peers", "mcpfleet-redis", *BRIEF
    )
    (run,) = summary["peers"]["mcpfleet-redis"]["runs"]
    assert "error" not in run, run
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]
    assert run["redis_cpu_us_per_call"] is not None


def test_memory_reports_kb_per_session(tmp_path: Path) -> None:
    """The memory measurement reports KB per idle and per streaming session, with its goals."""
    printed, summary = harness(
        tmp_path,
        "bench.memory",
        "--peers",
        "mcpfleet",
        "--sessions",
        "20",
        "--streams",
        "5",
        "--warmup-sessions",
        "10",
        "--settle",
        "0.2",
    )
    result = summary["peers"]["mcpfleet"]
    assert "error" not in result, result
    assert isinstance(result["idle_kb_per_session"], float | int)
    assert isinstance(result["stream_kb_per_session"], float | int)
    assert {goal["metric"] for goal in summary["goals"]} == {
        "idle_kb_per_session",
        "stream_kb_per_session",
    }
    assert "KB/session" in printed


@pytest.mark.parametrize("scenario", ["progress", "handshake", "discover"])
def test_harness_runs_each_unit_kind_against_mcpfleet(tmp_path: Path, scenario: str) -> None:
    """Progress over SSE, the 2025 handshake and the 2026 discovery: calls, and no errors."""
    _, summary = harness(
        tmp_path, "bench.run", "--scenario", scenario, "--peers", "mcpfleet", *BRIEF
    )
    (run,) = summary["peers"]["mcpfleet"]["runs"]
    assert "error" not in run, run
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]
    if scenario == "handshake":  # a new session per unit
        assert run["sessions"] >= run["calls"]


def test_quick_mode_smallest_scenario_writes_results_and_docs(tmp_path: Path) -> None:
    """python -m bench --quick, cut to one peer and one scenario: ceiling, table, page, plot."""
    page = tmp_path / "benchmarks.md"
    printed, results = harness(
        tmp_path,
        "bench",
        "--quick",
        "--peers",
        "mcpfleet",
        "--scenarios",
        "echo",
        "--duration",
        "1",
        "--skip-fleet",
        "--skip-memory",
        "--docs",
        str(page),
    )
    assert results["mode"] == "quick"
    assert results["ceiling"]["calls"] > 0, results["ceiling"]
    (run,) = results["scenarios"]["echo@c32"]["peers"]["mcpfleet"]["runs"]
    assert run["calls"] > 0, run
    assert run["errors"] == 0, run
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks")
    assert "Load generator ceiling" in text
    assert "### echo@c32" in text
    svg = (tmp_path / "benchmarks.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg")
    assert "mcpfleet" in svg
    assert "Load generator ceiling" in printed


# -- issue 18's workloads: slow tools, payloads, the document server on S3 ------------------

TINY = (
    "--concurrency",
    "4",
    "--duration",
    "1",
    "--warmup",
    "0.5",
    "--runs",
    "1",
    "--request-timeout",
    "5",
)


def _good_runs(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each peer's one run, checked: no failure, calls, no errors."""
    runs = {}
    for name, peer in summary["peers"].items():
        (run,) = peer["runs"]
        assert "error" not in run, (name, run)
        assert run["calls"] > 0, (name, run)
        assert run["errors"] == 0, (name, run["error_samples"])
        runs[name] = run
    return runs


@pytest.mark.parametrize(
    ("scenario", "peers"),
    [
        ("blocking-50ms", ["mcpfleet"]),  # the floor has no thread pool: it does not run it
        ("async-50ms", ["mcpfleet", "floor"]),
        ("resource-1m", ["mcpfleet", "floor"]),
        ("argument-256k", ["mcpfleet", "floor"]),
    ],
)
def test_harness_runs_each_workload(tmp_path: Path, scenario: str, peers: list[str]) -> None:
    """The slow tools and the payloads: every response checked in full, none wrong."""
    printed, summary = harness(
        tmp_path, "bench.run", "--scenario", scenario, "--peers", "mcpfleet", "floor", *TINY
    )
    runs = _good_runs(summary)
    assert sorted(runs) == sorted(peers)
    if scenario.endswith("50ms"):  # no call returns before the tool's 50 ms
        assert all(run["p50_ms"] >= 50 for run in runs.values()), runs
        assert "connections ÷ 50 ms" in printed
    if scenario == "resource-1m":  # the CPU-per-byte goal, whatever its verdict
        (goal,) = summary["goals"]
        assert goal["reference"] == "floor"
        assert goal["metric"] == "cpu_us_per_call"


def test_harness_runs_a_workload_on_redis_state_in_sessions(tmp_path: Path) -> None:
    """mcpfleet on Redis runs a workload as its 2025-11-25 twin: one session per connection."""
    _, summary = harness(
        tmp_path, "bench.run", "--scenario", "blocking-50ms", "--peers", "mcpfleet-redis", *TINY
    )
    assert summary["peers"]["mcpfleet-redis"]["wire"] == "session-blocking-50ms"
    run = _good_runs(summary)["mcpfleet-redis"]
    assert run["sessions"] == 4
    assert run["redis_cpu_us_per_call"] is not None


def test_harness_runs_the_document_server_against_s3(tmp_path: Path) -> None:
    """get_document of examples/docs_server, with boto3, against a moto S3 the harness starts."""
    printed, summary = harness(
        tmp_path, "bench.run", "--scenario", "get-document", "--peers", "mcpfleet", *TINY
    )
    run = _good_runs(summary)["mcpfleet"]
    assert run["s3_cpu_us_per_call"] is not None
    assert "S3 API server" in printed


def test_workload_goals_and_schedule() -> None:
    """The goals of issue 18 apply where they should; the modes run every workload."""
    from bench import goals, suite

    medians = {
        "mcpfleet": {"calls_per_s": 18_000.0},
        "sdk-json-async": {"calls_per_s": 1_500.0},
        "ts-sdk": {"calls_per_s": 9_000.0},  # not an SDK configuration of mcp 2.3.0
    }
    found = {goal["goal"]: goal for goal in goals.evaluate("async-50ms", 1024, medians)}
    assert len(found) == 2
    ideal = found["async 50 ms tool throughput vs connections ÷ latency"]
    assert ideal["ratio"] == pytest.approx(18_000 / 20_480, abs=1e-3)  # < 90%
    assert not ideal["passed"]
    versus = found["async 50 ms tool throughput vs mcp 2.3.0 (fastest config)"]
    assert versus["reference"] == "sdk-json-async"
    assert versus["passed"]
    assert goals.evaluate("async-50ms", 256, medians) == []
    full = suite.schedule(suite.MODES["full"], None)
    assert {name for name, _ in suite.WORKLOADS} <= {name for name, _ in full}
    assert ("blocking-50ms", 64) in full
    assert ("async-50ms", 1024) in full
    assert suite.schedule(suite.MODES["quick"], ["get-document"]) == [("get-document", 64)]


def test_wire_measures_peers_through_their_http_protocol() -> None:
    """``bench.wire`` feeds requests to mcpfleet's and the floor's protocol classes
    in-process, checks an answer of each and prints a CPU figure per call."""
    command = [sys.executable, "-m", "bench.wire", "--rounds", "3", "--connections", "2"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["mcpfleet", "floor"]
    assert all("µs CPU per call" in line for line in lines)


def test_wire_opens_sessions_and_runs_a_redis_peer_in_them() -> None:
    """``bench.wire --scenario session-echo`` opens a 2025-11-25 session on each
    connection as the load generator does; the Redis peer gets a redis-server of its own
    and runs its twin of ``echo`` in sessions; every answer checked is right."""
    for scenario, peer in (("session-echo", "mcpfleet"), ("echo", "mcpfleet-redis")):
        command = [sys.executable, "-m", "bench.wire", "--peers", peer, "--scenario", scenario]
        command += ["--rounds", "3", "--connections", "2"]
        done = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "LOG_LEVEL": "warning"},
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith(f"{peer}: "), done.stdout
        assert "µs CPU per call, session-echo" in done.stdout


def full_page(summary: dict[str, Any], **fleets: dict[str, Any]) -> str:
    """The docs page of a full run holding only ``fleets`` (results key -> a bench.fleet
    summary), dated and placed by ``summary``."""
    from bench import docs

    results = {
        "mode": "full",
        "mode_description": "a test",
        "date": summary["date"],
        "machine": summary["machine"],
        "ceiling": {"error": "not measured in this test"},
        "goals": [],
        "scenarios": {},
        **fleets,
    }
    return docs.page(results, "benchmarks.svg")


def test_fleet_parts_split_the_ratio_into_steps(tmp_path: Path) -> None:
    """``bench.fleet --parts`` measures the single process, the fleet and the two
    configurations between them; each serves its sessions without an error, warm-up
    included (the pair keeps each session on the task that opened it, or its calls would
    get 404), and the steps' ratios multiply to the goal's. ``--busy-neighbour`` says so
    in the caption and leaves no busy loop behind."""
    printed, summary = harness(tmp_path, "bench.fleet", "--parts", "--busy-neighbour", *BRIEF)
    configs = summary["configs"]
    assert list(configs) == [
        "mcpfleet",
        "fleet-redis",
        "single-haproxy",
        "pair-memory",
        "sticky-redis",
    ]
    for name, config in configs.items():
        assert config["calls"] > 0, name
        assert config["errors"] == 0, name
        assert all(run["warmup_errors"] == 0 for run in config["runs"]), name
    (pair,) = configs["pair-memory"]["runs"]
    assert all(stats["requests"] > 0 for stats in pair["haproxy_tasks"].values())
    assert len(pair["haproxy_tasks"]) == 2
    (sticky,) = configs["sticky-redis"]["runs"]
    assert len(sticky["haproxy_tasks"]) == 2
    (single,) = configs["single-haproxy"]["runs"]
    assert len(single["haproxy_tasks"]) == 1
    # Each run's CPU splits into user and system time; the tasks' switches are counted.
    for name, config in configs.items():
        (run,) = config["runs"]
        split = run["user_us_per_call"] + run["sys_us_per_call"]
        assert split == pytest.approx(run["cpu_us_per_call"], abs=0.05), name
        assert run["voluntary_per_1k"] >= 0, name
        assert run["involuntary_per_1k"] >= 0, name
    steps = summary["steps"]
    assert [(step["from"], step["to"]) for step in steps] == [
        ("mcpfleet", "single-haproxy"),
        ("single-haproxy", "pair-memory"),
        ("pair-memory", "sticky-redis"),
        ("sticky-redis", "fleet-redis"),
    ]
    cost = {name: config["median"]["cpu_us_per_call"] for name, config in configs.items()}
    product = math.prod(step["ratio"] for step in steps)
    assert product == pytest.approx(cost["fleet-redis"] / cost["mcpfleet"])
    assert any(note.startswith("steps from mcpfleet to fleet-redis") for note in summary["notes"])
    assert "a busy loop at the lowest priority" in printed
    left = subprocess.run(["pgrep", "-f", "while True: pass"], capture_output=True, text=True)
    assert left.stdout.strip() == ""
    # The page of a full run shows the fleet twice, the second with the busy neighbour.
    text = full_page(summary, fleet=summary, fleet_busy={**summary, "goals": []})
    fleet_at = text.index("## Fleet: CPU per call")
    busy_at = text.index("### The same, the load side's CPU kept busy")
    assert fleet_at < busy_at
    assert text.count("| pair-memory |") == 2


def test_fleet_compares_session_caches_over_many_sessions(tmp_path: Path) -> None:
    """``bench.fleet --cache-compare --sessions-per-connection 3``: every connection opens
    three sessions and uses them in turn, in every configuration; the fleet with a 1 s
    session cache runs beside the others without an error, and a note gives the ratio."""
    _, summary = harness(
        tmp_path, "bench.fleet", "--cache-compare", "--sessions-per-connection", "3", *BRIEF
    )
    configs = summary["configs"]
    assert list(configs) == ["mcpfleet", "fleet-redis", "fleet-redis-1s"]
    for name, config in configs.items():
        (run,) = config["runs"]
        assert run["sessions"] == 2 * 3, name  # two connections, three sessions each
        assert config["calls"] > 0, name
        assert config["errors"] == 0, name
        assert run["warmup_errors"] == 0, name
    assert summary["config"]["sessions_per_connection"] == 3
    assert any(note.startswith("fleet-redis-1s / fleet-redis:") for note in summary["notes"])


def test_fleet_counts_instructions_per_call_under_callgrind(tmp_path: Path) -> None:
    """``bench.fleet --instructions`` runs the single process and both of the fleet's tasks
    under callgrind, switches their instrumentation on when the measured window starts
    and dumps the counts when it ends: every configuration serves its calls without an
    error, its figure is the window's instructions over its calls (a server's start
    alone costs more than 1.5 billion, so a count that did not start at the window would
    be millions a call, and one never switched on none), a note gives the fleet's ratio,
    no goal is judged on it, and the dumps are removed."""
    scratch = Path(tempfile.gettempdir())
    before = set(scratch.glob("bench-callgrind-*"))
    printed, summary = harness(
        tmp_path, "bench.fleet", "--instructions", "--concurrency", "2", "--duration", "1",
        "--warmup", "0.5", timeout=300,
    )  # fmt: skip
    configs = summary["configs"]
    assert list(configs) == ["mcpfleet", "fleet-redis"]
    for name, config in configs.items():
        (run,) = config["runs"]
        assert run["errors"] == 0, name
        assert run["calls"] > 0, name
        assert run["instructions_per_call"] == round(run["instructions"] / run["calls"]), name
        assert 50_000 < run["instructions_per_call"] < 1_000_000, name
    assert summary["config"]["instructions"] is True
    assert summary["goals"] == []
    (note,) = [n for n in summary["notes"] if n.startswith("instructions per call")]
    assert "fleet-redis / mcpfleet:" in note
    assert "mcpfleet instructions/call" in printed
    assert set(scratch.glob("bench-callgrind-*")) <= before
    # A full run's page shows it in a section of its own, with its own columns.
    text = full_page(summary, fleet_instructions=summary)
    section = text[text.index("### The same in instructions per call (callgrind)") :]
    assert "| mcpfleet instructions/call |" in section
    assert "| fleet-redis |" in section


def test_callgrind_dump_totals_are_read(tmp_path: Path) -> None:
    """A dump's ``totals:`` line is its count; without one, its ``summary:`` line."""
    from bench.instructions import read_total

    dump = tmp_path / "callgrind.out.1.1"
    dump.write_text("version: 1\nevents: Ir\nsummary: 120\nfn=(1) f\n3 4\ntotals: 123\n")
    assert read_total(dump) == 123
    dump.write_text("version: 1\nevents: Ir\nsummary: 120\nfn=(1) f\n3 4\n")
    assert read_total(dump) == 120
