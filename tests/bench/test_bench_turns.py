"""The configurations of a measurement take turns (``bench.turns``): no server is started."""

from __future__ import annotations

from typing import Any

from bench.run import BenchError
from bench.turns import take_turns


def test_the_leader_rotates_and_a_failed_run_is_recorded() -> None:
    """Each run starts with the next configuration; a run that raises BenchError is kept as
    an error with its run number, and the others go on."""
    order: list[str] = []
    lines: list[str] = []

    def measure(name: str) -> dict[str, Any]:
        order.append(name)
        if name == "b" and len(order) == 4:
            raise BenchError("did not start")
        return {"calls_per_s": 1.0, "cpu_us_per_call": 2.0, "server_cpu_util": 1.0}

    runs = take_turns(["a", "b", "c"], 2, measure, lines.append)
    assert order == ["a", "b", "c", "b", "c", "a"]
    assert [run["run"] for run in runs["b"]] == [1, 2]
    assert runs["b"][1] == {"error": "did not start", "run": 2}
    assert len(lines) == 6
    assert "FAILED: did not start" in lines[3]
