"""``OpenConnections``: the bound on a server's open connections and which ones make room,
decided without I/O; and ``connection_bound``, the bound that fits ``ulimit -n``."""

from __future__ import annotations

import pytest

from mcpfleet.config import Config
from mcpfleet.transport.open_connections import (
    RESERVED_FILES,
    Admission,
    OpenConnections,
    connection_bound,
)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_connections_under_the_bound_are_admitted() -> None:
    """Up to the bound, every connection is admitted and nothing is closed or logged."""
    connections: OpenConnections[str] = OpenConnections(3)
    assert [connections.opened(name) for name in "abc"] == [Admission(True)] * 3
    assert len(connections) == 3


def test_past_the_bound_the_longest_idle_makes_room() -> None:
    """A connection past the bound takes the place of the one idle the longest: a busy
    connection is never chosen, and one that answered its request idles anew."""
    connections: OpenConnections[str] = OpenConnections(3, clock=Clock())
    for name in "abc":
        connections.opened(name)
    connections.busy("a")
    connections.busy("b")
    connections.idle("b")  # b answered and waits: idle since after c
    first = connections.opened("d")
    assert (first.admitted, first.evicted) == (True, "c")
    second = connections.opened("e")
    assert (second.admitted, second.evicted) == (True, "b")
    assert len(connections) == 3


def test_past_the_bound_with_every_connection_busy_the_new_one_is_refused() -> None:
    """When no connection is idle, the new one is refused and nothing is closed."""
    connections: OpenConnections[str] = OpenConnections(2, clock=Clock())
    for name in "ab":
        connections.opened(name)
        connections.busy(name)
    refused = connections.opened("c")
    assert (refused.admitted, refused.evicted) == (False, None)
    connections.closed("a")
    assert connections.opened("c").admitted


def test_closed_connections_leave_no_trace() -> None:
    """A closed connection is neither counted nor chosen to make room, even if it idled;
    a closed or unknown one reported idle is ignored."""
    connections: OpenConnections[str] = OpenConnections(2, clock=Clock())
    connections.opened("a")
    connections.opened("b")
    connections.closed("a")
    connections.idle("a")
    connections.idle("stranger")
    assert len(connections) == 1
    assert connections.opened("c") == Admission(True)
    assert connections.opened("d").evicted == "b"


def test_the_notice_is_rate_limited_and_counts_what_happened() -> None:
    """The bound's notice comes with the first event, then at most once per interval,
    counting the connections closed and refused since the last one."""
    clock = Clock()
    connections: OpenConnections[int] = OpenConnections(1, clock=clock, notice_every=60)
    connections.opened(0)
    notices = [connections.opened(n).notice for n in range(1, 4)]
    assert notices[0] is not None
    assert "1 idle connections closed" in notices[0]
    assert notices[1:] == [None, None]
    connections.busy(3)
    assert connections.opened(4).notice is None  # refused, within the interval
    clock.now += 60
    later = connections.opened(5).notice
    assert later is not None
    assert "2 idle connections closed" in later
    assert "2 new ones refused" in later


@pytest.mark.parametrize(
    ("requested", "soft", "hard", "expected"),
    [
        (10_000, 1_048_576, 1_048_576, (10_000, 1_048_576)),  # room already
        (10_000, 1024, 1_048_576, (10_000, 10_000 + RESERVED_FILES)),  # soft limit raised
        (10_000, 1024, -1, (10_000, 10_000 + RESERVED_FILES)),  # no hard limit
        (10_000, -1, -1, (10_000, -1)),  # no limit at all
        (10_000, 256, 256, (256 - RESERVED_FILES, 256)),  # lowered to fit
        (10_000, 256, 4096, (4096 - RESERVED_FILES, 4096)),  # raised as far as it goes
        (10, 16, 16, (1, 16)),  # never below one
    ],
)
def test_the_bound_fits_the_open_files_limit(
    requested: int, soft: int, hard: int, expected: tuple[int, int]
) -> None:
    """The soft limit is raised as far as the bound needs; what still does not fit
    lowers the bound, leaving RESERVED_FILES for everything else."""
    assert connection_bound(requested, soft, hard) == expected


def test_connection_settings_come_from_the_environment() -> None:
    """HEADER_TIMEOUT_SECONDS and MAX_CONNECTIONS default to 10 s and 10,000."""
    assert Config.from_env({}).header_timeout_seconds == 10.0
    assert Config.from_env({}).max_connections == 10_000
    config = Config.from_env({"HEADER_TIMEOUT_SECONDS": "2.5", "MAX_CONNECTIONS": "50"})
    assert (config.header_timeout_seconds, config.max_connections) == (2.5, 50)
