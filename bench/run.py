"""Run the benchmark: every peer in turn, each on its own core, and print a table of ratios.

    python -m bench.run                        # the default: echo, 32 connections, 3 runs
    python -m bench.run --scenario session-echo  # 2025-11-25 sessions: peers with sessions
    python -m bench.run --peers mcpfleet floor --runs 1 --duration 2
    python -m bench.run --json bench/results/run.json --markdown bench/results/run.md

One scenario at one concurrency; ``python -m bench`` (``bench.suite``) runs them
all, with the fleet and memory measurements, and writes the docs page.

For each run and each peer: start the server pinned to one CPU (``taskset``),
wait until it answers its health route, run the load generator pinned to
another CPU, and read the server's CPU time (utime + stime from
``/proc/PID/stat``) when the load generator starts and ends its measured
window; then stop the server. The peers take turns within each run, so a slow
drift of the machine spreads over all of them; the table shows medians over
the runs. It is a benchmark, not a test: a missed goal is reported, not raised.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

if __package__ in (None, ""):  # run as a script: python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import goals, report
from bench.loadgen import MEASURE_END, MEASURE_START
from bench.machine import machine
from bench.peers import PEERS, Peer, default_names, select
from bench.scenarios import DEFAULT_SCENARIO, SCENARIOS
from bench.scenarios import get as get_scenario

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class BenchError(RuntimeError):
    """A run that could not produce a result (a server that did not start, ...)."""


# -- processes ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from ``/proc/PID/stat``."""
    user, system, _, _ = process_split(pid)
    return user + system


def process_split(pid: int) -> tuple[float, float, int, int]:
    """utime and stime (s), and the main thread's voluntary and involuntary context
    switches (``/proc/PID/status``): what a process's CPU time was spent on, and how
    often it stopped for want of work or was preempted."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15.
    switches = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                name, value = line.split(":")
                switches[name] = int(value)
    return (
        int(fields[11]) / CLOCK_TICKS,
        int(fields[12]) / CLOCK_TICKS,
        switches.get("voluntary_ctxt_switches", 0),
        switches.get("nonvoluntary_ctxt_switches", 0),
    )


def _sample(pids: Sequence[int]) -> tuple[list[float], list[float]]:
    """Each process's CPU seconds, and ``process_split`` summed over them, read at once."""
    found = [process_split(pid) for pid in pids]
    return [user + system for user, system, _, _ in found], [
        sum(values) for values in zip(*found, strict=True)
    ]


def process_rss_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def pinned(command: list[str], cpu: int | None) -> list[str]:
    if cpu is None:
        return command
    return ["taskset", "-c", str(cpu), *command]


def choose_cpus(requested: tuple[int, int] | None) -> tuple[int | None, int | None, str]:
    """The server's CPU, the load generator's, and a sentence saying so."""
    if shutil.which("taskset") is None:
        return None, None, "not pinned (no taskset)"
    if requested is not None:
        server, load = requested
    else:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cpus[0], cpus[0], f"server and load generator share CPU {cpus[0]}"
        server, load = cpus[0], cpus[1]
    return server, load, f"server on CPU {server}, load generator on CPU {load}"


def stop(process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; only this process."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(5.0)


def _tail(log: IO[bytes], limit: int = 2000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-limit:]


def wait_ready(
    process: subprocess.Popen[Any],
    port: int,
    peer: Peer,
    log: IO[bytes],
    timeout: float = START_TIMEOUT,
) -> None:
    """Until the peer answers 200 on its health route (or accepts TCP, without one)."""
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{peer.name} exited with {process.returncode}:\n{_tail(log)}")
        try:
            if peer.health_path is None:
                socket.create_connection((HOST, port), timeout=1.0).close()
                return
            connection = http.client.HTTPConnection(HOST, port, timeout=1.0)
            try:
                connection.request("GET", peer.health_path)
                if connection.getresponse().status == 200:
                    return
            finally:
                connection.close()
        except OSError:
            pass
        time.sleep(0.05)
    raise BenchError(f"{peer.name} did not become ready in {timeout:g} s:\n{_tail(log)}")


@contextlib.contextmanager
def server(
    peer: Peer,
    port: int,
    cpu: int | None,
    extra_env: dict[str, str] | None = None,
    wrap: Sequence[str] = (),
    start_timeout: float = START_TIMEOUT,
) -> Iterator[subprocess.Popen[bytes]]:
    """The peer's server process, ready, and stopped on the way out whatever happens.
    ``wrap`` runs it under another command (callgrind, ``bench.instructions``)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **peer.env, **(extra_env or {})}
    env.pop("PORT", None)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            pinned([*wrap, *peer.command(HOST, port)], cpu),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(process, port, peer, log, start_timeout)
            yield process
            if process.poll() is not None:
                raise BenchError(f"{peer.name} exited during the run:\n{_tail(log)}")
        finally:
            stop(process)


class LineReader:
    """Lines from a child's stdout, each awaited with a deadline."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._fd = stream.fileno()
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fd, selectors.EVENT_READ)
        self.eof = False

    def readline(self, deadline: float) -> str | None:
        """The next line, or ``None`` at end of file; ``TimeoutError`` after ``deadline``."""
        while b"\n" not in self._buffer:
            if self.eof:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no line from the load generator in time")
            if self._selector.select(remaining):
                chunk = os.read(self._fd, 65536)
                if not chunk:
                    self.eof = True
                    if self._buffer:
                        self._buffer += b"\n"
                else:
                    self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def close(self) -> None:
        self._selector.close()


def _cpu_seconds(pids: Sequence[int]) -> list[float]:
    return [process_cpu_seconds(pid) for pid in pids]


def run_load(
    server_pid: int | Sequence[int],
    port: int,
    args: argparse.Namespace,
    scenario: str,
    cpu: int | None,
    others: dict[str, int] | None = None,
    headers: Sequence[tuple[str, str]] = (),
    at_marker: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the load generator; sample the server's CPU at its window's start and end.

    Several server PIDs (the tasks of a fleet): their CPU is summed, and each one's
    share is kept (``server_cpu_s_each``). ``others`` (a label -> PID; Redis,
    HAProxy) are sampled at the same moments and reported apart, for information:
    ``{label}_cpu_util`` and ``{label}_cpu_us_per_call``. ``headers`` go with every
    request (a bearer token). ``at_marker`` is called with each of the window's markers
    (``MEASURE_START``, ``MEASURE_END``) as it comes, before the samples.
    """
    pids = [server_pid] if isinstance(server_pid, int) else list(server_pid)
    labels = list(others or {})
    other_pids = [(others or {})[label] for label in labels]
    command = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--host",
        HOST,
        "--port",
        str(port),
        "--scenario",
        scenario,
        "--connections",
        str(args.concurrency),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
        "--timeout",
        str(args.request_timeout),
        *(f"--header={name}: {value}" for name, value in headers),
        f"--sessions-per-connection={getattr(args, 'sessions_per_connection', 1)}",
    ]
    deadline = time.monotonic() + args.warmup + args.duration + 2 * args.request_timeout + 30
    cpu_start = cpu_end = rss = None
    each_start = each_end = other_start = other_end = split_start = split_end = []
    started = ended = 0.0
    result: dict[str, Any] | None = None
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            pinned(command, cpu),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert process.stdout is not None
        lines = LineReader(process.stdout)
        try:
            while (line := lines.readline(deadline)) is not None:
                if at_marker is not None and line in (MEASURE_START, MEASURE_END):
                    at_marker(line)
                if line == MEASURE_START:
                    (each_start, split_start), other_start = _sample(pids), _cpu_seconds(other_pids)
                    cpu_start, started = sum(each_start), time.monotonic()
                elif line == MEASURE_END:
                    (each_end, split_end), other_end = _sample(pids), _cpu_seconds(other_pids)
                    cpu_end, ended = sum(each_end), time.monotonic()
                    rss = process_rss_mb(pids[0])
                elif line.startswith("{"):
                    result = json.loads(line)
            process.wait(max(1.0, deadline - time.monotonic()))
        except (TimeoutError, subprocess.TimeoutExpired) as exc:
            raise BenchError(f"load generator: {exc}\n{_tail(errors)}") from None
        finally:
            lines.close()
            stop(process, 2.0)
            process.stdout.close()
        if result is None or cpu_start is None or cpu_end is None:
            raise BenchError(f"load generator gave no result:\n{_tail(errors)}")
    server_cpu = cpu_end - cpu_start
    window = ended - started
    calls = result["calls"]
    result.update(
        server_cpu_s=round(server_cpu, 3),
        server_window_s=round(window, 3),
        server_cpu_util=round(server_cpu / window, 3) if window > 0 else None,
        cpu_us_per_call=round(server_cpu / calls * 1e6, 2) if calls else None,
        loadgen_cpu_util=round(result["loadgen_cpu_s"] / result["duration_s"], 3),
        server_rss_mb=rss,
    )
    if calls:
        user, system, voluntary, involuntary = (
            end - begin for begin, end in zip(split_start, split_end, strict=True)
        )
        result.update(
            user_us_per_call=round(user / calls * 1e6, 2),
            sys_us_per_call=round(system / calls * 1e6, 2),
            voluntary_per_1k=round(voluntary / calls * 1e3, 2),
            involuntary_per_1k=round(involuntary / calls * 1e3, 2),
        )
    if len(pids) > 1:
        result["server_cpu_s_each"] = [
            round(end - begin, 3) for begin, end in zip(each_start, each_end, strict=True)
        ]
    for label, begin, end in zip(labels, other_start, other_end, strict=True):
        used = end - begin
        result[f"{label}_cpu_util"] = round(used / window, 3) if window > 0 else None
        result[f"{label}_cpu_us_per_call"] = round(used / calls * 1e6, 2) if calls else None
    return result


def run_peer(
    peer: Peer, args: argparse.Namespace, scenario: str, cpus: tuple[int | None, int | None]
) -> Any:
    port = free_port()
    scenario = peer.wire_scenario(scenario)  # a 2025-only peer runs the 2025 twin
    from bench.services import for_run  # imports this module: not at the top

    late: dict[str, Any] = {}  # read after the server has stopped
    with contextlib.ExitStack() as stack:
        extra = for_run(stack, peer, scenario, args.concurrency, cpus[1])
        if extra.otlp is not None:  # the server exports its last spans as it stops
            stack.callback(lambda: late.update(otlp=extra.otlp.stats()))
        process = stack.enter_context(server(peer, port, cpus[0], extra.env))
        result = run_load(process.pid, port, args, scenario, cpus[1], extra.others, extra.headers())
        if extra.issuer is not None:
            result["jwks_fetches"] = len(extra.issuer.fetches)
    result.update(late)
    return result


# -- summary ------------------------------------------------------------------

MEDIAN_KEYS = (
    "calls_per_s",
    "p50_ms",
    "p99_ms",
    "cpu_us_per_call",
    "server_cpu_util",
    "loadgen_cpu_util",
    "server_rss_mb",
    "redis_cpu_util",
    "redis_cpu_us_per_call",
    "s3_cpu_util",
    "s3_cpu_us_per_call",
    "otlp_cpu_util",
    "otlp_cpu_us_per_call",
)


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


SPREAD_KEYS = ("calls_per_s", "p50_ms", "p99_ms", "cpu_us_per_call")


def _low_high(values: list[Any]) -> list[float] | None:
    present = [v for v in values if v is not None]
    return [min(present), max(present)] if present else None


def summarize_peer(peer: Peer, runs: list[dict[str, Any]], scenario: str) -> dict[str, Any]:
    good = [run for run in runs if "error" not in run]
    return {
        "role": peer.role,
        "description": peer.description,
        "wire": peer.wire_scenario(scenario),
        "median": {key: _median([run.get(key) for run in good]) for key in MEDIAN_KEYS},
        "spread": {key: _low_high([run.get(key) for run in good]) for key in SPREAD_KEYS},
        "calls": sum(run.get("calls", 0) for run in good),
        "errors": sum(run.get("errors", 0) for run in good) + (len(runs) - len(good)),
        "runs": runs,
    }


# -- command line -------------------------------------------------------------


def _cpu_pair(text: str) -> tuple[int, int]:
    try:
        server_cpu, load_cpu = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected SERVER_CPU,LOADGEN_CPU, e.g. 0,1") from None
    return server_cpu, load_cpu


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark mcpfleet against its peers and print a table of ratios.",
        epilog="peers: "
        + "; ".join(f"{p.name} ({p.role}): {p.description}" for p in PEERS.values()),
    )
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, choices=sorted(SCENARIOS))
    parser.add_argument(
        "--peers",
        nargs="+",
        metavar="PEER",
        help=f"peers to run (default: {' '.join(default_names())})",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    parser.add_argument("--duration", type=float, default=5.0, help="measured s per run")
    parser.add_argument("--warmup", type=float, default=1.5, help="warm-up s per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per peer; medians are shown")
    parser.add_argument("--request-timeout", type=float, default=10.0, help="s per request")
    parser.add_argument("--cpus", type=_cpu_pair, help="SERVER_CPU,LOADGEN_CPU (default: 2 first)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write all results as JSON")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write the Markdown table")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.runs < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("concurrency and runs must be >= 1, duration > 0, warmup >= 0")
    return args


def run_scenario(args: argparse.Namespace, name: str, progress: Any) -> dict[str, Any]:
    """Every selected peer that serves scenario ``name``, ``args.runs`` times; the summary."""
    scenario = get_scenario(name)
    selected = select(args.peers)
    peers = [peer for peer in selected if peer.serves(scenario.name)]
    if not peers:
        raise SystemExit(f"no selected peer serves scenario {scenario.name}")
    skipped = [peer.name for peer in selected if peer not in peers]
    server_cpu, load_cpu, pinning = choose_cpus(args.cpus)
    runs: dict[str, list[dict[str, Any]]] = {peer.name: [] for peer in peers}

    progress(f"bench: {scenario.name}, {len(peers)} peers x {args.runs} runs; {pinning}")
    if skipped:
        progress(f"  not running {scenario.name} (see PEERS): {', '.join(skipped)}")
    for number in range(args.runs):
        shift = number % len(peers)  # take turns: each peer leads a run in turn
        for peer in peers[shift:] + peers[:shift]:
            try:
                result = run_peer(peer, args, scenario.name, (server_cpu, load_cpu))
            except BenchError as exc:
                result = {"error": str(exc)}
                progress(f"  run {number + 1} {peer.name}: FAILED: {exc}")
            else:
                progress(
                    f"  run {number + 1} {peer.name}: {result['calls_per_s']:,.0f} calls/s, "
                    f"{result['cpu_us_per_call'] or 0:.1f} µs CPU/call, "
                    f"{result['errors']} errors"
                )
            result["run"] = number + 1
            runs[peer.name].append(result)

    summary_peers = {
        peer.name: summarize_peer(peer, runs[peer.name], scenario.name) for peer in peers
    }
    medians = {name: peer["median"] for name, peer in summary_peers.items()}
    shared = server_cpu is not None and server_cpu == load_cpu
    summary: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "config": {
            "scenario": scenario.name,
            "scenario_description": scenario.description,
            "concurrency": args.concurrency,
            "duration": args.duration,
            "warmup": args.warmup,
            "runs": args.runs,
            "pinning": pinning,
            "server_cpu": server_cpu,
            "loadgen_cpu": load_cpu,
        },
        "machine": machine(),
        "peers": summary_peers,
        "goals": goals.evaluate(scenario.name, args.concurrency, medians),
        "notes": report.run_notes(summary_peers, shared, scenario.name, args.concurrency),
    }
    if skipped:
        summary["skipped_peers"] = skipped
    return summary


def failed(summary: dict[str, Any]) -> bool:
    return any(peer["errors"] or not peer["calls"] for peer in summary["peers"].values())


def _write(path: Path | None, text: str) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)

    def progress(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    summary = run_scenario(args, args.scenario, progress)
    print(report.text_table(summary))
    _write(args.json, json.dumps(summary, indent=2) + "\n")
    _write(args.markdown, report.markdown_table(summary))
    return 1 if failed(summary) else 0


if __name__ == "__main__":
    sys.exit(main())
