"""Instructions per call of live servers, counted by callgrind: the fleet's tasks against one
process, a figure that does not move with what else the machine is doing.

    python -m bench.fleet --instructions              # one process, then the fleet
    python -m bench.fleet --instructions --parts      # and the steps between them

``bench.fleet`` measures CPU time, and on a machine where the work on one CPU slows the
other's (as on the 2-CPU machine of ``bench/README.md``, *Fleet cost*) CPU time per call
moves by more than the goal's margin from one set of runs to the next, and with what
shares the CPU: two tasks taking turns on one CPU, HAProxy and Redis on the other. The
instructions a call costs move with none of that. Here each server runs under ``valgrind
--tool=callgrind`` with its instrumentation off until the load generator's measured window
starts (switched on then: about 50 times slower, so the load generator easily keeps it
saturated) and its counts dumped when the window ends; the figure is the instructions of
the window (summed over the tasks) divided by the calls the load generator counted in it.
callgrind counts instructions in user space only: the kernel's share (system calls,
scheduling, the loopback network) is not in it, nor what a cache miss costs.

The window's edges are set by ``callgrind_control``, a fraction of a second after the load
generator's markers, at both ends alike; with windows of 10 s and more that offset moves
the figure by under 1%. Sessions are read from Redis once every SESSION_CACHE_SECONDS each
(30 s): 50 times slower, a task reads them as often as one serving 50 times as many
sessions would.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from bench.loadgen import MEASURE_END, MEASURE_START
from bench.run import BenchError

START_TIMEOUT = 120.0  # a Python server starts in a few seconds under valgrind
DURATION = 10.0  # measured s: about 5,000 calls at the pace callgrind allows
WARMUP = 6.0  # s: the sessions opened and the first calls' one-off work done


class Callgrind:
    """Servers started under callgrind (``wrap``), their counters zeroed and dumped at the
    load generator's markers (``marker``), and the instructions between them (``total``).
    The dumps go to a temporary folder, removed on the way out."""

    def __init__(self) -> None:
        self.valgrind = _binary("valgrind")
        self.control = _binary("callgrind_control")
        self._folder = Path(tempfile.mkdtemp(prefix="bench-callgrind-"))

    def __enter__(self) -> Callgrind:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)

    @property
    def wrap(self) -> list[str]:
        out = self._folder / "callgrind.out.%p"
        return [
            self.valgrind,
            "--tool=callgrind",
            "--instr-atstart=no",  # runs about 10 times faster until the window
            f"--callgrind-out-file={out}",
        ]

    def marker(self, pids: Sequence[int]) -> Callable[[str], None]:
        """What to do at each of the window's markers: switch the instrumentation of every
        process on at its start (nothing is counted before), dump the counts at its end
        (each command sent to all processes at once)."""

        def at_marker(line: str) -> None:
            if line == MEASURE_START:
                self._control(["-i", "on"], pids)
            elif line == MEASURE_END:
                self._control(["-d"], pids)

        return at_marker

    def _control(self, command: list[str], pids: Sequence[int]) -> None:
        running = [
            subprocess.Popen(
                [self.control, *command, str(pid)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for pid in pids
        ]
        for pid, process in zip(pids, running, strict=True):
            _out, err = process.communicate(timeout=60)
            if process.returncode != 0:
                said = err.decode(errors="replace")
                raise BenchError(f"callgrind_control {' '.join(command)} {pid}: {said}")

    def total(self, pids: Sequence[int]) -> int:
        """The instructions of the window, summed over ``pids`` (each one's dump)."""
        return sum(self._dumped(pid) for pid in pids)

    def _dumped(self, pid: int) -> int:
        dumps = sorted(
            self._folder.glob(f"callgrind.out.{pid}.*"),
            key=lambda path: int(path.suffix[1:]) if path.suffix[1:].isdigit() else -1,
        )
        if not dumps:
            raise BenchError(f"callgrind wrote no dump for process {pid}")
        return read_total(dumps[-1])


def read_total(path: Path) -> int:
    """The instruction count (the first event) of a callgrind dump: its ``totals:`` line,
    else its ``summary:`` line."""
    summary = None
    with path.open(encoding="utf-8", errors="replace") as dump:
        for line in dump:
            if line.startswith("totals:"):
                return int(line.split()[1])
            if line.startswith("summary:"):
                summary = int(line.split()[1])
    if summary is None:
        raise BenchError(f"{path.name}: no totals in the dump")
    return summary


def per_call(instructions: int, calls: int) -> float | None:
    return round(instructions / calls) if calls else None


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BenchError(f"{name} is not installed (Debian's valgrind package)")
    return found
