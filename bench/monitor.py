"""The monitor's speed goals (issue 17), measured on real processes.

    python -m bench.monitor                       # 1,000 endpoints, 90 s of probing, 90 days
    python -m bench.monitor --endpoints 200 --duration 35 --out bench/results/monitor.json
    python -m bench.monitor --docs                # and its section in docs/benchmarks.md
    python -m bench.monitor --from bench/results/monitor.json --docs   # saved results

Two measurements:

1. **Probing.** A few target processes serve an mcpfleet app (``bench.apps.mcpfleet_echo``)
   on 127.0.0.1, each on many ports: one distinct URL (its own port) per endpoint. A
   ``mcpfleet monitor run`` process probes every endpoint every 30 s, on a fresh SQLite
   history. After ``--warmup`` seconds (the first round, spread over the jitter), its CPU
   time (utime + stime from ``/proc/PID/stat``) is read at the start and end of a
   ``--duration`` window: CPU seconds / wall seconds is its share of one core.
2. **The status page.** A second history is filled with ``--days`` of aggregates for every
   endpoint (hourly and daily counts, per-phase means for the chart's 7 days, as the store
   keeps them), ``--raw-hours`` of raw results, a round written through the store's own
   ``add_result``, and some incidents; a ``monitor run`` process on it (probing the same
   targets, so results keep arriving) serves the page. ``GET /`` is timed: the first
   request (cold), then requests a second apart (results written in between), then
   back-to-back (warm).

``--docs`` writes the section into the page between markers of its own, which
``python -m bench.extras --docs`` leaves as they are (``bench.extras_docs.splice_monitor``).

It is a benchmark, not a test: a missed goal is reported as MISS. Every process it starts
is stopped on the way out, and every wait is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/monitor.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine
from bench.run import HOST, ROOT, free_port, process_cpu_seconds, stop

CPU_GOAL = 0.25  # share of one core
PAGE_GOAL_MS = 200.0
INTERVAL = 30.0
START_TIMEOUT = 60.0
PORTS_PER_TARGET = 250
PHASE_DAYS = 7  # the latency chart's window: per-phase means are filled this far back
PHASES = {"dns": 0.3, "tcp": 0.2, "http": 3.0, "tools/list": 1.5}


# -- targets ------------------------------------------------------------------------------


def serve_targets(count: int) -> None:
    """(In a child.) The echo app on ``count`` ports of 127.0.0.1; prints them, one JSON line."""
    import uvicorn

    from bench.apps import mcpfleet_echo

    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        sock.listen(512)
        sockets.append(sock)
    settings = uvicorn.Config(
        mcpfleet_echo.asgi_app(["--host", HOST, "--port", "0"]),
        loop="uvloop", http="httptools", lifespan="on", access_log=False, log_level="warning",
        timeout_graceful_shutdown=2,
    )  # fmt: skip
    print(json.dumps([s.getsockname()[1] for s in sockets]), flush=True)
    uvicorn.Server(settings).run(sockets=sockets)


@contextlib.contextmanager
def targets(count: int) -> Iterator[tuple[list[str], list[int]]]:
    """``count`` endpoint URLs served by ceil(count / PORTS_PER_TARGET) processes; their pids."""
    with contextlib.ExitStack() as stack:
        urls: list[str] = []
        pids: list[int] = []
        while len(urls) < count:
            share = min(PORTS_PER_TARGET, count - len(urls))
            command = [sys.executable, "-m", "bench.monitor", "serve-targets", str(share)]
            process = subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                env={**os.environ, "DRAIN_DELAY_SECONDS": "0"},
            )  # fmt: skip
            stack.callback(stop, process)
            line = _read_line(process, START_TIMEOUT)
            urls += [f"http://{HOST}:{port}/mcp" for port in json.loads(line)]
            pids.append(process.pid)
        yield urls, pids


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise RuntimeError(f"no line from pid {process.pid} in {timeout:g} s")
    return process.stdout.readline().decode()


# -- the monitor process ------------------------------------------------------------------


def names(count: int) -> list[str]:
    return [f"ep{index:04d}" for index in range(count)]


def write_config(folder: Path, urls: list[str], db: Path, port: int | None) -> Path:
    lines = [
        f'storage: {{url: "sqlite:///{db}", raw_days: 14, hourly_days: 400}}',
        "defaults: {interval: 30s, timeout: 10s}",
        "serve: {host: 127.0.0.1" + (f", port: {port}" if port else "") + "}",
        "endpoints:",
    ]
    lines += [f'  - {{name: {n}, url: "{u}"}}' for n, u in zip(names(len(urls)), urls, strict=True)]
    path = folder / f"monitor-{db.stem}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def monitor_process(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mcpfleet", "monitor", "run", "--config", str(config)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield process
        finally:
            stop(process)


def count_results(db: Path, since: float, until: float) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        query = "SELECT state, COUNT(*) FROM results WHERE at >= ? AND at < ? GROUP BY state"
        return {str(state): int(n) for state, n in conn.execute(query, (since, until))}


def measure_probing(args: argparse.Namespace, urls: list[str], folder: Path) -> dict[str, Any]:
    db = folder / "probing.db"
    config = write_config(folder, urls, db, None)
    log = folder / "probing.log"
    with monitor_process(config, log) as process:
        time.sleep(args.warmup)
        if process.poll() is not None:
            raise RuntimeError(f"the monitor exited:\n{log.read_text()[-2000:]}")
        wall0, cpu0, at0 = time.monotonic(), process_cpu_seconds(process.pid), time.time()
        time.sleep(args.duration)
        wall1, cpu1, at1 = time.monotonic(), process_cpu_seconds(process.pid), time.time()
    share = (cpu1 - cpu0) / (wall1 - wall0)
    states = count_results(db, at0, at1)
    probes = sum(states.values())
    return {
        "endpoints": len(urls),
        "interval_s": INTERVAL,
        "wall_s": round(wall1 - wall0, 2),
        "cpu_s": round(cpu1 - cpu0, 2),
        "cpu_share": round(share, 4),
        "startup_cpu_s": round(cpu0, 2),  # start, migration, alert restore, the first round
        "probes": probes,
        "probes_per_s": round(probes / (wall1 - wall0), 1),
        "expected_probes_per_s": round(len(urls) / INTERVAL, 1),
        "states": states,
        "cpu_ms_per_probe": round(1000 * (cpu1 - cpu0) / max(probes, 1), 2),
        "loadavg": os.getloadavg(),
    }


# -- the status page ----------------------------------------------------------------------


def fill_history(
    db: Path, endpoints: list[str], now: float, days: int, raw_hours: int
) -> dict[str, Any]:
    """Aggregates for ``days`` (as the store keeps them), raw results for ``raw_hours``,
    one round through ``add_result``, and incidents."""
    import asyncio

    from mcpfleet.monitor.store import open_store

    started = time.monotonic()
    rng = random.Random(17)
    per_hour = int(3600 / INTERVAL)
    this_hour = int(now // 3600)
    first_hour = this_hour - days * 24 + 1
    hourly, daily, phased, raw = [], {}, [], []
    for name in endpoints:
        bad = {
            rng.randrange(first_hour, this_hour): rng.choice(("down", "degraded")) for _ in range(3)
        }
        for hour in range(first_hour, this_hour):
            kind = bad.get(hour)
            down = per_hour // 20 if kind == "down" else 0
            degraded = per_hour // 10 if kind == "degraded" else 0
            row = (per_hour, per_hour - down - degraded, degraded, down)
            hourly.append((name, "local", hour, *row))
            day = daily.setdefault((name, hour // 24), [0, 0, 0, 0])
            for index, value in enumerate(row):
                day[index] += value
            if hour >= this_hour - PHASE_DAYS * 24:
                total = sum(PHASES.values())
                phased += [
                    (name, "local", hour, p, ms * per_hour, per_hour) for p, ms in PHASES.items()
                ]
                phased.append((name, "local", hour, "total", total * per_hour, per_hour))
    for name in endpoints:
        for step in range(raw_hours * per_hour, 0, -1):
            raw.append(_raw_row(name, now - step * INTERVAL))
    with contextlib.closing(sqlite3.connect(db)) as conn:
        _schema(db)
        conn.executemany("INSERT INTO hourly VALUES (?, ?, ?, ?, ?, ?, ?)", hourly)
        conn.executemany(
            "INSERT INTO daily VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(name, "local", day, *row) for (name, day), row in daily.items()],
        )
        conn.executemany("INSERT INTO hourly_phase VALUES (?, ?, ?, ?, ?, ?)", phased)
        conn.executemany(
            "INSERT INTO results (endpoint, location, at, state, maintenance, tools_hash, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            raw,
        )
        conn.commit()

    async def through_store() -> None:
        from mcpfleet.monitor.alerts import Incident

        store = open_store(f"sqlite:///{db}")
        try:
            await store.migrate()
            for name in endpoints:
                await store.add_result(_result(name, now - 1))
            for index, name in enumerate(endpoints[: max(1, len(endpoints) // 10)]):
                opened = now - rng.uniform(1, 29) * 86400
                resolved = opened + 1800
                await store.save_incident(
                    Incident(
                        name, "health", "down", f"bench-{index}", opened, "tcp: refused", resolved
                    )
                )
        finally:
            await store.aclose()

    asyncio.run(through_store())
    return {
        "days": days,
        "raw_hours": raw_hours,
        "hourly_rows": len(hourly),
        "daily_rows": len(daily),
        "phase_rows": len(phased),
        "raw_rows": len(raw) + len(endpoints),
        "db_mb": round(db.stat().st_size / 2**20, 1),
        "fill_s": round(time.monotonic() - started, 1),
    }


def _schema(db: Path) -> None:
    import asyncio

    from mcpfleet.monitor.store import open_store

    async def migrate() -> None:
        store = open_store(f"sqlite:///{db}")
        try:
            await store.migrate()
        finally:
            await store.aclose()

    asyncio.run(migrate())


def _result(name: str, at: float) -> Any:
    from mcpfleet.monitor.results import Result

    phases = {phase: ("ok", ms) for phase, ms in PHASES.items()}
    lanes: dict[str, bool | None] = {"health": True, "cert": None}
    return Result(name, at, "up", "local", phases, [], lanes, "2026-07-28", "sha256:bench", 2)


def _raw_row(name: str, at: float) -> tuple[Any, ...]:
    import orjson

    body = orjson.dumps(_result(name, at).to_json()).decode()
    return (name, "local", at, "up", 0, "sha256:bench", body)


def _get(port: int, path: str) -> tuple[float, int, int]:
    """Milliseconds to the whole body of ``GET path``, the status and the body's size."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        body = reply.read()
    finally:
        conn.close()
    return (time.perf_counter() - started) * 1000, reply.status, len(body)


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the monitor exited:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            if _get(port, "/healthz")[1] == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the status server did not answer in {START_TIMEOUT:g} s")


def measure_page(args: argparse.Namespace, urls: list[str], folder: Path) -> dict[str, Any]:
    db = folder / "history.db"
    history = fill_history(db, names(len(urls)), time.time(), args.days, args.raw_hours)
    port = free_port()
    config = write_config(folder, urls, db, port)
    log = folder / "page.log"
    with monitor_process(config, log) as process:
        _wait_healthy(process, port, log)
        time.sleep(args.settle)  # past the first round's burst of probes
        cold, status, size = _get(port, "/")
        if status != 200:
            raise RuntimeError(f"GET / answered {status}")
        spaced = []
        for _ in range(args.requests):
            time.sleep(1.0)
            spaced.append(_get(port, "/")[0])
        warm = [_get(port, "/")[0] for _ in range(args.requests)]
        api = [_get(port, "/api/status.json")[0] for _ in range(3)]
        detail = [_get(port, "/endpoint/ep0000.html")[0] for _ in range(3)]
    every = [cold, *spaced, *warm]
    return {
        "history": history,
        "page_bytes": size,
        "cold_ms": round(cold, 1),
        "spaced_ms": _summary(spaced),
        "warm_ms": _summary(warm),
        "all_ms": _summary(every),
        "api_ms": _summary(api),
        "endpoint_page_ms": _summary(detail),
    }


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 1), "max": round(max(values), 1)}


# -- report -------------------------------------------------------------------------------


def verdicts(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(goal, measured, verdict) for each measured goal."""
    rows = []
    probing = results.get("probing")
    if probing:
        share = probing["cpu_share"]
        rows.append((
            f"{probing['endpoints']:,} local endpoints probed every 30 s: monitor CPU / wall < 25%",
            f"{share:.1%} ({probing['cpu_ms_per_probe']} ms CPU per probe, "
            f"{probing['probes_per_s']} probes/s)",
            "MET" if share < CPU_GOAL else "MISS",
        ))  # fmt: skip
    page = results.get("page")
    if page:
        worst = page["all_ms"]["max"]
        rows.append((
            f"status page, {results['endpoints']:,} endpoints, "
            f"{page['history']['days']} days: < 200 ms",
            f"cold {page['cold_ms']} ms; after new results p50 {page['spaced_ms']['p50']} ms; "
            f"warm p50 {page['warm_ms']['p50']} ms; max {worst} ms",
            "MET" if worst < PAGE_GOAL_MS else "MISS",
        ))  # fmt: skip
    return rows


def markdown(results: dict[str, Any]) -> str:
    """The "## Monitor" section of docs/benchmarks.md."""
    machine = results.get("machine", {})
    when = f"Measured {results['date']}" if results.get("date") else "Measured"
    lines = [
        "## The monitor (issue 17)",
        "",
        f"{when} by `python -m bench.monitor` (commit {machine.get('commit', 'n/a')}), apart "
        "from the run the rest of this page comes from: real `mcpfleet monitor run` processes "
        "against local mcpfleet endpoints (one port each) on a SQLite history. Goals: 1,000 "
        "endpoints probed every 30 s under a quarter of a core; the status page of 1,000 "
        "endpoints with 90 days of history under 200 ms.",
        "",
        "| goal | measured | verdict |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {goal} | {measured} | {verdict} |" for goal, measured, verdict in verdicts(results)
    ]
    page = results.get("page")
    if page:
        h = page["history"]
        lines += [
            "",
            f"The page ({page['page_bytes'] / 2**20:.1f} MiB of HTML) over {h['hourly_rows']:,} "
            f"hourly and {h['daily_rows']:,} daily rows and {h['raw_rows']:,} raw results "
            f"({h['raw_hours']} h); while it was timed the monitor kept probing every endpoint.",
        ]
    return "\n".join(lines) + "\n"


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The monitor's speed goals (issue 17).")
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=90.0, help="measured probing, s (<= 600)")
    parser.add_argument("--warmup", type=float, default=10.0, help="before measuring, s (<= 120)")
    parser.add_argument("--days", type=int, default=90, help="history for the page (<= 400)")
    parser.add_argument("--raw-hours", type=int, default=2, help="raw results kept (<= 48)")
    parser.add_argument("--requests", type=int, default=10, help="page requests per kind (<= 100)")
    parser.add_argument("--settle", type=float, default=8.0, help="after start, before the page, s")
    parser.add_argument("--skip-probing", action="store_true")
    parser.add_argument("--skip-page", action="store_true")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--from", dest="saved", type=Path, help="no measuring: these results")
    parser.add_argument(
        "--docs",
        nargs="?",
        type=Path,
        const=ROOT / "docs" / "benchmarks.md",
        metavar="PATH",
        help="write the section into this page (default docs/benchmarks.md)",
    )
    args = parser.parse_args(argv)
    args.duration = min(max(args.duration, 5.0), 600.0)
    args.warmup = min(max(args.warmup, 0.0), 120.0)
    args.days = min(max(args.days, 1), 400)
    args.raw_hours = min(max(args.raw_hours, 0), 48)
    args.requests = min(max(args.requests, 1), 100)
    args.settle = min(max(args.settle, 0.0), 120.0)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve-targets"]:
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt):
            serve_targets(int(argv[1]))
        return 0
    args = arguments(argv)
    if args.saved is not None:
        results = json.loads(args.saved.read_text(encoding="utf-8"))
    else:
        results = measure(args)
    print(markdown(results))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.docs is not None:
        from bench import extras_docs

        extras_docs.splice_monitor(args.docs, results)
    return 0


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Both measurements (unless skipped), each printed as JSON as it ends."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: dict[str, Any] = {"date": when, "machine": machine(), "endpoints": args.endpoints}
    with (
        tempfile.TemporaryDirectory(prefix="bench-monitor-") as folder,
        targets(args.endpoints) as (urls, _pids),
    ):
        if not args.skip_probing:
            results["probing"] = measure_probing(args, urls, Path(folder))
            print(json.dumps(results["probing"]), flush=True)
        if not args.skip_page:
            results["page"] = measure_page(args, urls, Path(folder))
            print(json.dumps(results["page"]), flush=True)
    return results


if __name__ == "__main__":
    sys.exit(main())
