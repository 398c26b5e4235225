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


class Busy(set[str]):
    """The connections answering a request: the rest are idle (``is_idle``)."""

    def is_idle(self, connection: object) -> bool:
        return connection not in self


def test_connections_under_the_bound_are_admitted() -> None:
    """Up to the bound, every connection is admitted and nothing is closed or logged."""
    connections: OpenConnections[str] = OpenConnections(3)
    assert [connections.opened(name, Busy().is_idle) for name in "abc"] == [Admission(True)] * 3
    assert len(connections) == 3


def test_past_the_bound_the_oldest_idle_makes_room() -> None:
    """A connection past the bound takes the place of the oldest idle one: a busy
    connection is never chosen, and one found busy goes behind the others."""
    connections: OpenConnections[str] = OpenConnections(3, clock=Clock())
    busy = Busy("a")
    for name in "abc":
        connections.opened(name, busy.is_idle)
    first = connections.opened("d", busy.is_idle)
    assert (first.admitted, first.evicted) == (True, "b")
    busy.clear()  # a answered and waits: found busy after c was opened, so behind c
    second = connections.opened("e", busy.is_idle)
    assert (second.admitted, second.evicted) == (True, "c")
    third = connections.opened("f", busy.is_idle)
    assert (third.admitted, third.evicted) == (True, "a")
    assert len(connections) == 3


def test_idleness_is_asked_only_at_the_bound() -> None:
    """Under the bound nobody is asked whether it is idle; at the bound, only the oldest
    connections up to the first idle one."""
    asked: list[str] = []

    def is_idle(connection: str) -> bool:
        asked.append(connection)
        return connection != "a"

    connections: OpenConnections[str] = OpenConnections(3, clock=Clock())
    for name in "abc":
        connections.opened(name, is_idle)
    assert asked == []
    assert connections.opened("d", is_idle).evicted == "b"
    assert asked == ["a", "b"]


def test_past_the_bound_with_every_connection_busy_the_new_one_is_refused() -> None:
    """When no connection is idle, the new one is refused and nothing is closed."""
    connections: OpenConnections[str] = OpenConnections(2, clock=Clock())
    busy = Busy("ab")
    for name in "ab":
        connections.opened(name, busy.is_idle)
    refused = connections.opened("c", busy.is_idle)
    assert (refused.admitted, refused.evicted) == (False, None)
    connections.closed("a")
    assert connections.opened("c", busy.is_idle).admitted


def test_a_full_bound_of_busy_connections_is_not_looked_at_again_at_once() -> None:
    """After a look finds every connection busy, new connections are refused without
    another look for ``rescan_after``; then the connections are looked at again."""
    clock = Clock()
    connections: OpenConnections[str] = OpenConnections(2, clock=clock, rescan_after=0.1)
    busy = Busy("ab")
    for name in "ab":
        connections.opened(name, busy.is_idle)
    assert not connections.opened("c", busy.is_idle).admitted
    busy.clear()

    def not_asked(connection: str) -> bool:
        raise AssertionError(f"asked about {connection}")

    assert not connections.opened("d", not_asked).admitted
    clock.now += 0.1
    assert connections.opened("e", busy.is_idle).evicted == "a"


def test_closed_connections_leave_no_trace() -> None:
    """A closed connection is neither counted nor chosen to make room; closing an unknown
    one is ignored."""
    connections: OpenConnections[str] = OpenConnections(2, clock=Clock())
    idle = Busy().is_idle
    connections.opened("a", idle)
    connections.opened("b", idle)
    connections.closed("a")
    connections.closed("stranger")
    assert len(connections) == 1
    assert connections.opened("c", idle) == Admission(True)
    assert connections.opened("d", idle).evicted == "b"


def test_the_notice_is_rate_limited_and_counts_what_happened() -> None:
    """The bound's notice comes with the first event, then at most once per interval,
    counting the connections closed and refused since the last one."""
    clock = Clock()
    connections: OpenConnections[int] = OpenConnections(1, clock=clock, notice_every=60)
    busy: set[int] = set()

    def is_idle(connection: int) -> bool:
        return connection not in busy

    connections.opened(0, is_idle)
    notices = [connections.opened(n, is_idle).notice for n in range(1, 4)]
    assert notices[0] is not None
    assert "1 idle connections closed" in notices[0]
    assert notices[1:] == [None, None]
    busy.add(3)
    assert connections.opened(4, is_idle).notice is None  # refused, within the interval
    clock.now += 60
    later = connections.opened(5, is_idle).notice
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
