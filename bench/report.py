"""Tables of a benchmark's results: aligned text for the terminal, Markdown for the docs."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.peers import PEERS
from bench.scenarios import SCENARIOS

COLUMNS = (
    ("peer", "peer", "{}"),
    ("calls_per_s", "calls/s", "{:,.0f}"),
    ("calls_spread", "spread", "±{:.0%}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("cpu_us_per_call", "server CPU µs/call", "{:.1f}"),
    ("speedup", "mcpfleet ÷ peer", "{:.2f}x"),
    ("cpu_ratio", "peer CPU ÷ mcpfleet", "{:.2f}x"),
    ("server_cpu_util", "server CPU", "{:.0%}"),
    ("loadgen_cpu_util", "load gen CPU", "{:.0%}"),
    ("errors", "errors", "{}"),
)
GOAL_COLUMNS = ("goal", "measured", "target", "result")
SUBJECT = "mcpfleet"


def _cell(value: Any, form: str) -> str:
    return "n/a" if value is None else form.format(value)


def _ratio(mine: float | None, theirs: float | None) -> float | None:
    return None if mine is None or not theirs else mine / theirs


def _spread(peer: dict[str, Any], key: str) -> float | None:
    """Half the range of ``key`` over the runs, as a fraction of its median."""
    low_high = peer.get("spread", {}).get(key)
    median = peer["median"].get(key)
    if not low_high or not median or None in low_high:
        return None
    return float((low_high[1] - low_high[0]) / 2 / median)


def peer_label(name: str, peer: dict[str, Any], scenario: str) -> str:
    wire = peer.get("wire", scenario)
    return name if wire == scenario else f"{name} (as {wire})"


def peer_rows(summary: dict[str, Any]) -> list[list[str]]:
    """One row per peer; the ratio columns compare mcpfleet with that peer."""
    rows = []
    scenario = summary["config"]["scenario"]
    peers = summary["peers"]
    # mcpfleet, or the run's first mcpfleet configuration (an SDK app served by mcpfleet)
    first = next((name for name, peer in peers.items() if peer["role"] == "subject"), None)
    subject_name = SUBJECT if SUBJECT in peers else first
    subject = peers[subject_name]["median"] if subject_name is not None else {}
    for name, peer in summary["peers"].items():
        median = peer["median"]
        cells = {
            **median,
            "peer": peer_label(name, peer, scenario),
            "errors": peer["errors"],
            "calls_spread": _spread(peer, "calls_per_s"),
            "speedup": _ratio(subject.get("calls_per_s"), median.get("calls_per_s")),
            "cpu_ratio": _ratio(median.get("cpu_us_per_call"), subject.get("cpu_us_per_call")),
        }
        if name == subject_name:
            cells["speedup"] = cells["cpu_ratio"] = None
        rows.append([_cell(cells.get(key), form) for key, _, form in COLUMNS])
    return rows


def goal_rows(summary: dict[str, Any]) -> list[list[str]]:
    rows = []
    for goal in summary["goals"]:
        rows.append(goal_row(goal))
    return rows


def goal_row(goal: dict[str, Any]) -> list[str]:
    """goal, measured (a ratio, or a value in the goal's unit), target, PASS or MISS."""
    if goal.get("absolute"):
        label = f"{goal['goal']}: {goal['subject']}"
        unit = f" {goal['unit']}"
    else:
        label = f"{goal['goal']}: {goal['subject']} / {goal['reference']}"
        unit = "x"
    return [
        label,
        f"{goal['ratio']:.2f}{unit}",
        f"{goal['op']} {goal['target']:g}{unit}",
        "PASS" if goal["passed"] else "MISS",
    ]


def aligned(header: Sequence[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [list(header), *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def caption(summary: dict[str, Any]) -> str:
    config = summary["config"]
    pinning = config["pinning"]
    return (
        f"scenario {config['scenario']} ({config['scenario_description']}); "
        f"{config['concurrency']} connections; {config['duration']:g} s measured after "
        f"{config['warmup']:g} s warm-up; median of {config['runs']} runs; {pinning}"
    )


def text_table(summary: dict[str, Any]) -> str:
    lines = [caption(summary), ""]
    lines += aligned([label for _, label, _ in COLUMNS], peer_rows(summary))
    if summary["goals"]:
        lines += ["", *aligned(GOAL_COLUMNS, goal_rows(summary))]
    lines += [f"note: {note}" for note in summary.get("notes", [])]
    return "\n".join(lines)


def markdown_rows(header: Sequence[str], rows: list[list[str]]) -> list[str]:
    align = ["---", *["---:" for _ in header[1:]]]
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def scenario_markdown(summary: dict[str, Any]) -> str:
    """A scenario's caption, peer table, goals and notes (no machine line)."""
    lines = [caption(summary) + ".", ""]
    lines += markdown_rows([label for _, label, _ in COLUMNS], peer_rows(summary))
    if summary["goals"]:
        lines += ["", *markdown_rows(GOAL_COLUMNS, goal_rows(summary))]
    if summary.get("notes"):
        lines += ["", *(f"- {note}" for note in summary["notes"])]
    return "\n".join(lines) + "\n"


def markdown_table(summary: dict[str, Any]) -> str:
    machine = summary["machine"]
    return (
        f"Measured {summary['date']} on {machine['cpu']} ({machine['cpus']} CPUs), "
        f"Python {machine['python']}, {machine['versions_line']}; commit {machine['commit']}.\n\n"
        + scenario_markdown(summary)
    )


def run_notes(
    peers: dict[str, dict[str, Any]],
    shared_cpu: bool,
    scenario: str | None = None,
    concurrency: int = 0,
) -> list[str]:
    found = []
    if shared_cpu:
        found.append("server and load generator shared a CPU: figures are not comparable")
    known = SCENARIOS.get(scenario or "")
    seconds = known.tool_seconds if known is not None else 0.0
    for name, peer in peers.items():
        median = peer["median"]
        if seconds:  # a server waiting on its tool is not meant to be saturated
            peer_threads = PEERS[name].threads if name in PEERS else None
            threads = peer_threads if known is not None and known.blocking else None
            found += _slow_notes(name, median, seconds, concurrency, threads)
        elif (median["loadgen_cpu_util"] or 0) >= 0.9:
            found.append(f"{name}: the load generator was CPU-bound; its calls/s is a lower bound")
        elif (median["server_cpu_util"] or 1) < 0.85:
            found.append(
                f"{name}: the server used {median['server_cpu_util']:.0%} of its CPU "
                "(not saturated)"
            )
        else:
            idle = [
                f"run {run['run']} ({run['server_cpu_util']:.0%})"
                for run in peer["runs"]
                if (run.get("server_cpu_util") or 1) < 0.85
            ]
            if idle:
                found.append(
                    f"{name}: server under 85% of its CPU in {', '.join(idle)}; "
                    "another process may have taken the CPU (a median damps one such run)"
                )
        if peer["errors"]:
            found.append(f"{name}: {peer['errors']} errors; see the JSON results")
        fetches = [run["jwks_fetches"] for run in peer["runs"] if "jwks_fetches" in run]
        if fetches:
            found.append(
                f"{name}: one RS256 bearer token per run, sent with every request: the server "
                "verified its signature once, then answered from its cache of verified tokens "
                f"(JWKS fetched {max(fetches)} time{'s' if max(fetches) != 1 else ''} per run "
                "at most)"
            )
        if median.get("redis_cpu_us_per_call") is not None:
            found.append(
                f"{name}: its redis-server (on the load generator's CPU, not in server CPU) "
                f"used {median['redis_cpu_us_per_call']:.1f} µs CPU/call "
                f"({median['redis_cpu_util']:.0%} of a CPU)"
            )
        if median.get("s3_cpu_us_per_call") is not None:
            busy = (median.get("s3_cpu_util") or 0) >= 0.75
            found.append(
                f"{name}: its S3 API server (moto, on the load generator's CPU, not in server "
                f"CPU) used {median['s3_cpu_us_per_call']:.0f} µs CPU/call "
                f"({median['s3_cpu_util']:.0%} of a CPU"
                + ("; near a whole CPU, it bounds this calls/s)" if busy else ")")
            )
    if known is not None and known.payload_bytes:
        found.append(_per_mib_note(peers, known.payload_bytes))
    return found


def _slow_notes(
    name: str, median: dict[str, Any], seconds: float, concurrency: int, threads: int | None
) -> list[str]:
    """What share of connections ÷ latency a peer reached, and what stopped it (``threads``:
    the peer's pool for a blocking tool)."""
    calls, cpu = median.get("calls_per_s"), median.get("cpu_us_per_call")
    if not calls or not concurrency:
        return []
    ideal = concurrency / seconds
    note = (
        f"{name}: {calls / ideal:.0%} of {concurrency:,} connections ÷ {seconds * 1e3:g} ms "
        f"({ideal:,.0f} calls/s)"
    )
    if calls >= 0.9 * ideal:
        return [note]
    pool = threads / seconds if threads and threads < concurrency else None
    if pool is not None and calls >= 0.8 * pool:
        note += (
            f"; its pool of {threads} threads is the limit: {threads} ÷ {seconds * 1e3:g} ms "
            f"= {pool:,.0f} calls/s"
        )
    elif (median.get("server_cpu_util") or 0) >= 0.85 and cpu:
        note += (
            f"; its core is the limit: at {cpu:,.0f} µs CPU/call one core serves "
            f"{1e6 / cpu:,.0f} calls/s at most"
        )
    elif (median.get("loadgen_cpu_util") or 0) >= 0.9:
        note += "; the load generator's core is the limit: a lower bound"
    else:
        note += (
            f"; neither the server ({median.get('server_cpu_util') or 0:.0%} of its CPU) nor "
            "the load generator was saturated: calls waited elsewhere, or another process "
            "took the server's CPU"
        )
    return [note]


def _per_mib_note(peers: dict[str, dict[str, Any]], payload: int) -> str:
    scale = (1 << 20) / payload
    each = [
        f"{name} {peer['median']['cpu_us_per_call'] * scale:,.0f}"
        for name, peer in peers.items()
        if peer["median"].get("cpu_us_per_call")
    ]
    return (
        f"{payload:,} payload bytes per call; server CPU µs per MiB: {', '.join(each)} "
        "(the load generator parses and checks every byte: where it is near 100% of its CPU, "
        "it bounds calls/s, not the CPU per byte)"
    )


# -- bench.memory -------------------------------------------------------------

MEMORY_COLUMNS = (
    ("peer", "peer", "{}"),
    ("rss_warm_mb", "RSS warm MB", "{:.1f}"),
    ("idle_kb_per_session", "idle KB/session", "{:.2f}"),
    ("stream_kb_per_session", "GET stream KB/session", "{:.2f}"),
    ("idle_open_s", "open idle s", "{:.2f}"),
    ("stream_open_s", "open streamed s", "{:.2f}"),
    ("server_open_files", "server nofile", "{}"),
)
MEMORY_GOAL_COLUMNS = ("goal", "measured", "target", "others", "result")


def memory_peer_rows(summary: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, result in summary["peers"].items():
        if "error" in result:
            rows.append([name, "failed", *("n/a" for _ in MEMORY_COLUMNS[2:])])
            continue
        values = {
            **result,
            "peer": name,
            "rss_warm_mb": result["rss_warm_kb"] / 1024,
            "idle_open_s": result["idle"]["open_s"] if result["idle"] else None,
            "stream_open_s": result["stream"]["open_s"],
        }
        rows.append([_cell(values.get(key), form) for key, _, form in MEMORY_COLUMNS])
    return rows


def memory_goal_rows(summary: dict[str, Any]) -> list[list[str]]:
    rows = []
    for goal in summary["goals"]:
        others = ", ".join(
            f"{name}{'' if summary['peers'][name]['sessions'] else ' (no session)'} {kb:.1f} KB"
            for name, kb in goal["others"].items()
        )
        rows.append(
            [
                f"{goal['goal']}: {goal['subject']}",
                f"{goal['value_kb']:.2f} KB",
                f"{goal['op']} {goal['target_kb']:g} KB",
                others or "n/a",
                "PASS" if goal["passed"] else "MISS",
            ]
        )
    return rows


def memory_caption(summary: dict[str, Any]) -> str:
    config = summary["config"]
    return (
        f"memory: server VmRSS growth per 2025-11-25 session; {config['sessions']} idle sessions "
        f"opened over {config['connections']} keep-alive connections, then {config['streams']} "
        f"sessions each with a GET stream held open on its own connection (a peer without "
        f"sessions: GET streams only); {config['settle']:g} s settle before each reading; "
        f"{config['pinning']}"
    )


def _memory_notes(summary: dict[str, Any]) -> list[str]:
    return [
        f"{name}: {result['error']}"
        for name, result in summary["peers"].items()
        if "error" in result
    ]


def memory_text_table(summary: dict[str, Any]) -> str:
    lines = [memory_caption(summary), ""]
    lines += aligned([label for _, label, _ in MEMORY_COLUMNS], memory_peer_rows(summary))
    if summary["goals"]:
        lines += ["", *aligned(MEMORY_GOAL_COLUMNS, memory_goal_rows(summary))]
    lines += [f"note: {note}" for note in _memory_notes(summary)]
    return "\n".join(lines)


def memory_markdown_table(summary: dict[str, Any]) -> str:
    machine = summary["machine"]
    lines = [
        f"Measured {summary['date']} on {machine['cpu']} ({machine['cpus']} CPUs), "
        f"Python {machine['python']}, {machine['versions_line']}; commit {machine['commit']}.",
        "",
        memory_caption(summary) + ".",
        "",
    ]
    lines += markdown_rows([label for _, label, _ in MEMORY_COLUMNS], memory_peer_rows(summary))
    if summary["goals"]:
        lines += ["", *markdown_rows(MEMORY_GOAL_COLUMNS, memory_goal_rows(summary))]
    notes = _memory_notes(summary)
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


# -- bench.fleet --------------------------------------------------------------

FLEET_COLUMNS = (
    ("config", "config", "{}"),
    ("calls_per_s", "calls/s", "{:,.0f}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("cpu_us_per_call", "mcpfleet CPU µs/call", "{:.1f}"),
    ("user_us_per_call", "user µs/call", "{:.1f}"),
    ("sys_us_per_call", "system µs/call", "{:.1f}"),
    ("voluntary_per_1k", "waits /1k calls", "{:.1f}"),
    ("involuntary_per_1k", "preempted /1k calls", "{:.1f}"),
    ("server_cpu_util", "mcpfleet CPU", "{:.0%}"),
    ("haproxy_cpu_us_per_call", "HAProxy µs/call", "{:.1f}"),
    ("redis_cpu_us_per_call", "Redis µs/call", "{:.1f}"),
    ("loadgen_cpu_util", "load gen CPU", "{:.0%}"),
    ("task_share", "busiest task", "{:.0%}"),
    ("errors", "errors", "{}"),
)
# bench.fleet --instructions: the servers ran under callgrind, their CPU time is callgrind's
COUNTED_COLUMNS = (
    ("config", "config", "{}"),
    ("calls_per_s", "calls/s (under callgrind)", "{:,.0f}"),
    ("instructions_per_call", "mcpfleet instructions/call", "{:,.0f}"),
    ("instructions_ratio", "÷ mcpfleet's", "{:.3f}x"),
    ("server_cpu_util", "mcpfleet CPU", "{:.0%}"),
    ("task_share", "busiest task", "{:.0%}"),
    ("errors", "errors", "{}"),
)


def fleet_columns(summary: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    return COUNTED_COLUMNS if summary["config"].get("instructions") else FLEET_COLUMNS


def fleet_rows(summary: dict[str, Any]) -> list[list[str]]:
    rows = []
    base = summary["configs"].get(SUBJECT, {}).get("median", {}).get("instructions_per_call")
    for name, config in summary["configs"].items():
        values = {**config["median"], "config": name, "errors": config["errors"]}
        values["instructions_ratio"] = _ratio(values.get("instructions_per_call"), base)
        rows.append([_cell(values.get(key), form) for key, _, form in fleet_columns(summary)])
    return rows


def fleet_caption(summary: dict[str, Any]) -> str:
    config = summary["config"]
    paired = "fleet-redis, pair-memory and sticky-redis" if config.get("parts") else "fleet-redis"
    counted = (
        "every mcpfleet process under callgrind, its instructions (user space) counted "
        "over the window, summed over the config's processes"
    )
    timed = (
        "mcpfleet CPU (user + system; waits and preempted: the main threads' voluntary and "
        "involuntary context switches per 1,000 calls) summed over the config's mcpfleet "
        "processes"
    )
    return (
        f"fleet cost: scenario {config['scenario']} (2025-11-25 session calls); "
        f"{config['concurrency']} connections; {config['duration']:g} s measured after "
        f"{config['warmup']:g} s warm-up; median of {config['runs']} runs; "
        f"{counted if config.get('instructions') else timed} ({paired}: "
        f"{config['tasks']} tasks), 100% = one CPU; HAProxy and Redis apart; "
        f"{config['pinning']}"
    )


def fleet_text_table(summary: dict[str, Any]) -> str:
    lines = [fleet_caption(summary), ""]
    lines += aligned([label for _, label, _ in fleet_columns(summary)], fleet_rows(summary))
    if summary["goals"]:
        lines += ["", *aligned(GOAL_COLUMNS, goal_rows(summary))]
    lines += [f"note: {note}" for note in summary.get("notes", [])]
    return "\n".join(lines)


def fleet_markdown_table(summary: dict[str, Any]) -> str:
    machine = summary["machine"]
    lines = [
        f"Measured {summary['date']} on {machine['cpu']} ({machine['cpus']} CPUs), "
        f"Python {machine['python']}, {machine['versions_line']}; commit {machine['commit']}.",
        "",
        fleet_caption(summary) + ".",
        "",
    ]
    lines += markdown_rows([label for _, label, _ in fleet_columns(summary)], fleet_rows(summary))
    if summary["goals"]:
        lines += ["", *markdown_rows(GOAL_COLUMNS, goal_rows(summary))]
    if summary.get("notes"):
        lines += ["", *(f"- {note}" for note in summary["notes"])]
    return "\n".join(lines) + "\n"


def write_outputs(
    summary: dict[str, Any],
    json_path: Path | None,
    markdown_path: Path | None,
    markdown: Callable[[dict[str, Any]], str],
) -> None:
    """Write a run's summary as JSON and its table as Markdown, where asked."""
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if markdown_path:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(markdown(summary), encoding="utf-8")
