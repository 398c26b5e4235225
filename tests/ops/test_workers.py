"""How many workers ``mcpfleet serve`` runs: from ``--workers``/``WORKERS``, else from the
CPUs the process may use (affinity, capped by a cgroup v2 ``cpu.max``), and never more than
one with state in memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcpfleet.config import Config
from mcpfleet.errors import ConfigError
from mcpfleet.runner import available_cpus, worker_count

AFFINITY = len(os.sched_getaffinity(0))
REDIS = "redis://127.0.0.1:6379/0"


def cpu_max(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpu.max"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("max 100000\n", None),  # no quota
        ("200000 100000\n", 2),
        ("150000 100000\n", 2),  # 1.5 CPUs: rounded up
        ("50000 100000\n", 1),  # a fraction: still one
        ("400000 100000\n", 4),
        ("garbage\n", None),
        ("", None),
    ],
)
def test_available_cpus_is_the_affinity_capped_by_the_cgroup_limit(
    tmp_path: Path, text: str, limit: int | None
) -> None:
    """A cgroup v2 quota caps the affinity, rounded up and at least 1; no readable quota
    leaves the affinity."""
    expected = AFFINITY if limit is None else max(1, min(AFFINITY, limit))
    assert available_cpus(cpu_max(tmp_path, text)) == expected


def test_available_cpus_without_a_cgroup_file_is_the_affinity(tmp_path: Path) -> None:
    """Outside a container (no cpu.max), every CPU of the affinity counts."""
    assert available_cpus(tmp_path / "absent") == AFFINITY


@pytest.mark.parametrize(
    ("state_url", "workers", "expected"),
    [
        (None, None, 1),  # memory, default: one process
        ("memory:", None, 1),
        (None, 1, 1),
        (REDIS, None, "cpus"),
        (REDIS, 1, 1),
        (REDIS, 3, 3),
    ],
)
def test_worker_count(
    tmp_path: Path, state_url: str | None, workers: int | None, expected: int | str
) -> None:
    """WORKERS wins; by default Redis state gets one worker per available CPU and memory
    state one."""
    config = Config(state_url=state_url, workers=workers)
    limit = cpu_max(tmp_path, "300000 100000")
    want = min(AFFINITY, 3) if expected == "cpus" else expected
    assert worker_count(config, limit) == want


@pytest.mark.parametrize("state_url", [None, "memory:"])
def test_several_workers_with_state_in_memory_are_a_config_error(state_url: str | None) -> None:
    """Two workers on memory state would lose 2025-era sessions between them: refused,
    naming the setting."""
    with pytest.raises(ConfigError, match=r"WORKERS \(--workers\): 2 workers need fleet state"):
        worker_count(Config(state_url=state_url, workers=2))


def test_workers_from_the_environment() -> None:
    """WORKERS is read from the environment; 0 or a word names the setting."""
    assert Config.from_env({"WORKERS": "3"}).workers == 3
    assert Config.from_env({}).workers is None
    for bad in ("0", "two"):
        with pytest.raises(ConfigError, match="WORKERS"):
            Config.from_env({"WORKERS": bad})
