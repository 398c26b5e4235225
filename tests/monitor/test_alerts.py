"""The alert book on its own: sequences of results in, notices out, no I/O."""

from __future__ import annotations

import pytest

from mcpfleet.monitor.alerts import AlertBook, Notice
from mcpfleet.monitor.config import AlertRule
from mcpfleet.monitor.maintenance import Window
from mcpfleet.monitor.results import Failure, Result
from tests.monitor.support import START

KIND_STATE = {"down": "down", "auth_broken": "down", "degraded": "degraded"}


def result(step: int, outcome: str, *, maintenance: bool = False) -> Result:
    """Step ``step`` (a minute apart): ``ok``, a health kind, or ``cert`` (expiring)."""
    failures = []
    if outcome == "cert":
        failures.append(Failure("cert_expiring", "cert_days_left", "3 days left"))
    elif outcome != "ok":
        failures.append(Failure(outcome, "status", f"{outcome} at {step}"))
    lanes: dict[str, bool | None] = {"health": outcome in ("ok", "cert"), "cert": outcome != "cert"}
    state = "degraded" if outcome == "cert" else KIND_STATE.get(outcome, "up")
    return Result("api", START + step * 60, state, failures=failures, lanes=lanes,
                  maintenance=maintenance)  # fmt: skip


def feed(book: AlertBook, outcomes: list[str]) -> list[Notice]:
    notices = []
    for step, outcome in enumerate(outcomes):
        notices.extend(book.observe(result(step, outcome)))
    return notices


def summary(notices: list[Notice]) -> list[str]:
    return [
        notice.event
        + (" (reminder)" if notice.reminder else "")
        + (" (escalated)" if notice.escalated else "")
        for notice in notices
    ]


F, OK = "down", "ok"
CASES = [
    # (failures, window, successes), outcomes, expected notices
    ((3, 5, 2), [OK, OK, F] * 4, []),
    ((2, 5, 3), [OK, OK, F] * 4, ["down"]),
    ((2, 5, 3), [OK, OK, F] * 4 + [OK] * 3, ["down", "recovered"]),
    ((3, 5, 2), [F, F, F, F, F, OK, OK], ["down", "recovered"]),
    ((3, 5, 2), [F, F, F, OK, F, OK, OK, F], ["down", "recovered"]),
    ((1, 1, 1), [F, OK, F, OK], ["down", "recovered", "down", "recovered"]),
    ((3, 5, 2), ["degraded"] * 3 + [F], ["degraded", "down (escalated)"]),
    ((3, 5, 2), [F] * 3 + ["degraded", OK, OK], ["down", "recovered"]),
    ((2, 2, 1), ["auth_broken", "auth_broken", "down", OK], ["auth_broken", "recovered"]),
    ((2, 3, 1), ["cert", "cert", OK], ["cert_expiring", "recovered"]),
]


@pytest.mark.parametrize(("rule", "outcomes", "expected"), CASES)
def test_sequences_open_and_resolve_as_the_rule_says(
    rule: tuple[int, int, int], outcomes: list[str], expected: list[str]
) -> None:
    """Each sequence of outcomes gives exactly the listed notices, in order."""
    failures, window, successes = rule
    book = AlertBook("api", AlertRule(failures=failures, window=window, successes=successes))
    assert summary(feed(book, outcomes)) == expected


def test_one_incident_keeps_one_dedup_key_from_open_to_resolve() -> None:
    """The open, escalation, reminder and recovery of one incident share its key; the next
    incident has a new one."""
    book = AlertBook("api", AlertRule(failures=1, window=1, successes=1, remind_every=120))
    notices = feed(book, ["degraded", "down", "down", "down", "ok", "down"])
    assert summary(notices) == [
        "degraded",
        "down (escalated)",
        "down (reminder)",
        "recovered",
        "down",
    ]
    keys = [notice.incident.dedup_key for notice in notices]
    assert len(set(keys[:4])) == 1
    assert keys[4] != keys[0]


def test_reminders_come_every_interval_while_open() -> None:
    """With reminders every 5 minutes, 12 failing minutes give the page and two reminders."""
    book = AlertBook("api", AlertRule(failures=1, window=1, successes=1, remind_every=300))
    assert summary(feed(book, [F] * 12)) == ["down", "down (reminder)", "down (reminder)"]


def test_maintenance_window_holds_everything() -> None:
    """Failures inside a maintenance window neither open an incident nor count later."""
    book = AlertBook("api", AlertRule(failures=2, window=3, successes=1))
    held = [book.observe(result(step, F, maintenance=True)) for step in range(5)]
    assert held == [[]] * 5
    assert summary(feed(book, [F, OK, OK])) == []


def test_weekly_and_fixed_windows_cover_the_right_times() -> None:
    """A Saturday 23:00 two-hour window covers Sunday 00:30 UTC; a fixed span is half-open."""
    saturday_late = Window(weekdays=frozenset({5}), minute=23 * 60, duration=7200)
    sunday = 1_796_515_200.0  # 2026-12-06 00:00 UTC, a Sunday
    assert saturday_late.covers(sunday + 1800)
    assert not saturday_late.covers(sunday + 3 * 3600)
    assert not saturday_late.covers(sunday + 23 * 3600 + 60)
    fixed = Window(start=100.0, end=200.0)
    assert fixed.covers(100.0)
    assert not fixed.covers(200.0)


def test_restore_rebuilds_the_window_and_the_open_incident() -> None:
    """A book rebuilt from history resolves the open incident after the rest of the streak,
    and one failure short of the threshold stays short after a restart."""
    rule = AlertRule(failures=3, window=5, successes=2)
    first = AlertBook("api", rule)
    history = [result(step, outcome) for step, outcome in enumerate([F, F, F, OK])]
    opened = [n for r in history for n in first.observe(r)]
    second = AlertBook("api", rule)
    second.restore(history, [opened[0].incident])
    assert summary(second.observe(result(4, OK))) == ["recovered"]
    third = AlertBook("api", rule)
    third.restore([result(step, F) for step in range(2)], [])
    assert summary(third.observe(result(2, F))) == ["down"]


def test_drift_is_a_notice_opened_and_closed_at_once() -> None:
    """A changed tool list gives one drift notice, already resolved, with both hashes."""
    book = AlertBook("api", AlertRule())
    changed = result(0, OK)
    changed.tools_hash, changed.drift_from = "sha256:" + "b" * 64, "sha256:" + "a" * 64
    (notice,) = book.observe(changed)
    assert notice.event == "drift"
    assert not notice.incident.is_open
    assert "sha256:aaaa" in notice.incident.cause
    assert book.open_incidents() == []


def test_quorum_waits_for_other_locations() -> None:
    """Under a quorum of 2, failures seen here alone open nothing; the first failure while
    another location's latest probe also failed opens the incident."""
    book = AlertBook("api", AlertRule(failures=2, window=3, successes=1, quorum=2))
    alone = [book.observe(result(step, F), {"health": 0}) for step in range(3)]
    assert alone == [[]] * 3
    (opened,) = book.observe(result(3, F), {"health": 1})
    assert opened.event == "down"


def test_the_total_counts_the_first_exchange_once() -> None:
    """The probe records its first exchange as ``http`` and as its method's phase, with
    the same time: the total counts it once, and every other phase once."""
    modern = Result("api", START, "up", phases={
        "http": ("ok", 12.5), "server/discover": ("ok", 12.5), "tools/list": ("ok", 3.0),
        "tools/call": ("ok", 4.0), "tls": ("ok", None),
    })  # fmt: skip
    assert modern.total_ms == 12.5 + 3.0 + 4.0
    refused = Result("api", START, "down", phases={"http": ("fail", 7.0)})
    assert refused.total_ms == 7.0
