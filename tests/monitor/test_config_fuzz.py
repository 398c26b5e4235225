"""Mangled config files: each is read or refused with a line and key, never a crash."""

from __future__ import annotations

import os
import random

from mcpfleet.monitor import MonitorConfig, parse_config
from mcpfleet.monitor.source import MonitorConfigError
from tests.monitor.test_config import EXAMPLE, EXAMPLE_ENV

TOKENS = ["", "{", "}", "[", "]", ":", "- ", "'", '"', "&a", "*a", "!!binary", "~", "null",
          "-1", "1e309", "true", "  ", "\t", "0x10", "2026-13-45", "??", "%", "\\u0000",
          "99999999999999999999", "sqlite:///", "ftp://x", "[[[]]]",
          "{a: {b: {c: d}}}"]  # fmt: skip


def mangle(lines: list[str], rng: random.Random) -> str:
    lines = list(lines)
    for _ in range(rng.randint(1, 4)):
        index = rng.randrange(len(lines))
        action = rng.randrange(4)
        if action == 0:
            del lines[index]
        elif action == 1:
            lines.insert(index, lines[rng.randrange(len(lines))])
        elif action == 2:
            line = lines[index]
            cut = rng.randint(0, len(line))
            lines[index] = line[:cut] + rng.choice(TOKENS) + line[cut:]
        else:
            key, sep, _value = lines[index].partition(":")
            if sep:
                lines[index] = f"{key}: {rng.choice(TOKENS)}"
    return "\n".join(lines)


def test_mangled_configs_are_read_or_refused_with_a_place() -> None:
    """150 random edits of the example each give a config or a MonitorConfigError
    whose line is in the file (seed printed; MONITOR_FUZZ_SEED replays it)."""
    seed = int(os.environ.get("MONITOR_FUZZ_SEED", random.randrange(2**32)))
    print(f"MONITOR_FUZZ_SEED={seed}")
    rng = random.Random(seed)
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    refused = 0
    for _ in range(150):
        text = mangle(lines, rng)
        try:
            config: MonitorConfig | MonitorConfigError = parse_config(text, "f.yaml", EXAMPLE_ENV)
        except MonitorConfigError as error:
            config = error
        if isinstance(config, MonitorConfigError):
            refused += 1
            assert 1 <= config.line <= text.count("\n") + 2, (seed, str(config))
    assert refused > 0
