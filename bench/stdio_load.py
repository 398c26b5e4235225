"""The stdio load driver: starts a server as its child and sends it ``tools/call`` over stdin.

    python -m bench.stdio_load --duration 3 --window 16 -- mcpfleet serve --stdio MOD:APP

It opens the 2025-11-25 session every stdio server speaks (``initialize``,
``notifications/initialized``), then keeps ``--window`` calls of ``echo`` outstanding
(1: one at a time; more: pipelined, each answer followed at once by the next call),
checks every answer in full (its id, and the echoed text as the one content; a
notification in between is skipped), and measures over a window after ``--warmup``:
calls/s, p50/p99 latency, and the server's CPU (utime + stime of the child and of any
process it started, from ``/proc``), which it reads itself: it is the server's parent.
One JSON line on stdout at the end. Bounded in time (``--warmup + --duration``, each
answer within ``--timeout``) and in count (``--max-calls``); the server gets EOF on
stdin at the end, then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import IO, Any

import orjson

from bench.scenarios import SCENARIOS, SESSION_PROTOCOL_VERSION

SCENARIO = SCENARIOS["session-echo"]  # the echo tool's call and its check, without _meta
STOP_TIMEOUT = 5.0


class DriverError(RuntimeError):
    """The server did not answer as it must (exited, timed out, wrong answer)."""


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and of its children, recursively (a ``taskset`` or a
    wrapper that forks), from ``/proc``; 0 for a process that is gone."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
            kids = [int(kid) for kid in children.read().split()]
    except (OSError, ValueError):
        return total
    return total + sum(cpu_seconds(kid) for kid in kids)


class Channel:
    """Lines to and from the child, each read awaited with a deadline."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.process = process
        self.out = process.stdin.fileno()
        self.fd = process.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ)
        self.buffer = b""

    def send(self, messages: Sequence[bytes]) -> None:
        data = b"".join(messages)
        while data:
            written = os.write(self.out, data)
            data = data[written:]

    def lines(self, timeout: float) -> list[bytes]:
        """The complete lines available now, waiting up to ``timeout`` for at least one."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DriverError(f"no answer in {timeout:g} s")
            if self.selector.select(remaining):
                try:
                    chunk = os.read(self.fd, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise DriverError(f"the server closed stdout (exit {self.process.poll()})")
                self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\n")
        return [line for line in complete if line.strip()]

    def close(self) -> None:
        self.selector.close()


def _request(number: int, method: str, params: dict[str, Any]) -> bytes:
    message = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
    return orjson.dumps(message) + b"\n"


def handshake(channel: Channel, timeout: float) -> None:
    """``initialize`` (answered), then ``notifications/initialized``."""
    params = {
        "protocolVersion": SESSION_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "bench-stdio", "version": "1.0"},
    }
    channel.send([_request(0, "initialize", params)])
    while True:
        for line in channel.lines(timeout):
            message = orjson.loads(line)
            if message.get("id") == 0:
                if "result" not in message:
                    raise DriverError(f"initialize failed: {line[:300]!r}")
                note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
                channel.send([orjson.dumps(note) + b"\n"])
                return


def check(line: bytes, sent: dict[int, float]) -> float | None:
    """When the call a right answer answers was sent (None for a notification, a log
    message, which is skipped); ``DriverError`` for anything else."""
    message = orjson.loads(line)
    if not isinstance(message, dict):
        raise DriverError(f"not a JSON-RPC message: {line[:300]!r}")
    if "id" not in message and "method" in message:
        return None
    number = message.get("id")
    if number not in sent:
        raise DriverError(f"an answer to no call of ours: {line[:300]!r}")
    if "result" not in message:
        raise DriverError(f"an error answer: {line[:300]!r}")
    wrong = SCENARIO.check(message["result"])
    if wrong is not None:
        raise DriverError(f"a wrong answer ({wrong}): {line[:300]!r}")
    return sent.pop(number)


class Meter:
    """The measured window: the server's and this process's CPU at its start and end, and
    the calls answered inside it."""

    def __init__(self, pid: int, start_at: float, end_at: float) -> None:
        self.pid = pid
        self.start_at, self.end_at = start_at, end_at
        self.begun = self.ended = False
        self.cpu = [0.0, 0.0]  # the server's, at the start and at the end
        self.own = [0.0, 0.0]  # this process's
        self.calls = self.warmup_calls = 0
        self.latencies: list[float] = []

    def tick(self, now: float) -> None:
        if not self.begun and now >= self.start_at:
            self._read(0)
            self.begun, self.start_at = True, now
        if self.begun and not self.ended and now >= self.end_at:
            self.end(now)

    def end(self, now: float) -> None:
        self._read(1)
        self.ended, self.end_at = True, now

    def _read(self, index: int) -> None:
        self.cpu[index], self.own[index] = cpu_seconds(self.pid), time.process_time()

    def record(self, latency: float) -> None:
        if self.begun and not self.ended:
            self.calls += 1
            self.latencies.append(latency)
        elif not self.begun:
            self.warmup_calls += 1

    def percentile(self, share: float) -> float | None:
        ordered = sorted(self.latencies)
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1e3, 3)

    def result(self) -> dict[str, Any]:
        window = self.end_at - self.start_at
        server_cpu = self.cpu[1] - self.cpu[0]
        per_second = window if window > 0 else None
        return {
            "duration_s": round(window, 4),
            "calls": self.calls,
            "warmup_calls": self.warmup_calls,
            "errors": 0,
            "calls_per_s": round(self.calls / per_second, 1) if per_second else None,
            "p50_ms": self.percentile(0.5),
            "p99_ms": self.percentile(0.99),
            "server_cpu_s": round(server_cpu, 3),
            "server_cpu_util": round(server_cpu / per_second, 3) if per_second else None,
            "cpu_us_per_call": round(server_cpu / self.calls * 1e6, 2) if self.calls else None,
            "loadgen_cpu_util": (
                round((self.own[1] - self.own[0]) / per_second, 3) if per_second else None
            ),
        }


def drive(channel: Channel, args: argparse.Namespace, pid: int) -> dict[str, Any]:
    """Calls with ``args.window`` outstanding until the window's end; the measurements."""
    sent: dict[int, float] = {}
    number = 0
    started = time.monotonic()
    meter = Meter(pid, started + args.warmup, started + args.warmup + args.duration)
    while True:
        now = time.monotonic()
        meter.tick(now)
        ending = meter.ended or meter.calls >= args.max_calls
        if ending and not sent:
            break
        if not ending:
            batch = []
            while len(sent) < args.window:
                number += 1
                sent[number] = now
                batch.append(_request(number, SCENARIO.method, SCENARIO.full_params()))
            channel.send(batch)
        for line in channel.lines(args.timeout):
            when = check(line, sent)
            if when is not None:
                meter.record(time.monotonic() - when)
    if not meter.begun:
        raise DriverError("--max-calls reached before the measured window began")
    if not meter.ended:  # --max-calls ended the window early
        meter.end(time.monotonic())
    return {"window": args.window, **meter.result()}


def _stop(process: subprocess.Popen[bytes]) -> None:
    """EOF on stdin, then SIGTERM, then SIGKILL, each with a bounded wait."""
    if process.stdin is not None:
        process.stdin.close()
    for action in (None, process.terminate, process.kill):
        if action is not None and process.poll() is None:
            action()
        try:
            process.wait(STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-1500:]


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            args.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, bufsize=0
        )
        channel = Channel(process)
        try:
            handshake(channel, args.start_timeout)
            result = drive(channel, args, process.pid)
        except (DriverError, OSError, orjson.JSONDecodeError) as exc:
            return {"error": f"{exc}\n{_tail(log)}"}
        finally:
            channel.close()
            _stop(process)
        result["server_exit"] = process.returncode
        return result


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.stdio_load", description=__doc__)
    parser.add_argument("--duration", type=float, default=3.0, help="measured s")
    parser.add_argument("--warmup", type=float, default=1.0, help="s before measuring")
    parser.add_argument("--window", type=int, default=16, help="calls outstanding (1: none)")
    parser.add_argument("--timeout", type=float, default=10.0, help="s for each answer")
    parser.add_argument("--start-timeout", type=float, default=30.0, help="s for initialize")
    parser.add_argument("--max-calls", type=int, default=2_000_000, help="at most this many")
    parser.add_argument("command", nargs="+", help="the server command (after --)")
    args = parser.parse_args(argv)
    if args.window < 1 or args.duration <= 0 or args.warmup < 0 or args.max_calls < 1:
        parser.error("--window and --max-calls must be >= 1, --duration > 0, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    result = run(arguments(argv))
    print(json.dumps(result), flush=True)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
