"""Maintenance windows: a fixed span (``from``/``until``), or a weekly one (``weekdays``,
``start`` as HH:MM in UTC, ``duration``). Inside a window, results are kept but no
incident opens, resolves or reminds, and nothing is sent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from mcpfleet.monitor.source import Section

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Window:
    start: float | None = None  # a fixed span, epoch seconds
    end: float | None = None
    weekdays: frozenset[int] = frozenset()  # a weekly window: 0 is Monday
    minute: int = 0  # of the day, UTC
    duration: float = 0.0  # seconds

    def covers(self, at: float) -> bool:
        if self.start is not None and self.end is not None:
            return self.start <= at < self.end
        moment = datetime.fromtimestamp(at, UTC)
        midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        # The window may have started today or, running past midnight, on an earlier day.
        for days_back in range(int(self.duration // 86400) + 2):
            begin = midnight - days_back * 86400 + self.minute * 60
            weekday = datetime.fromtimestamp(begin, UTC).weekday()
            if weekday in self.weekdays and begin <= at < begin + self.duration:
                return True
        return False


def read_window(s: Section) -> Window:
    if s.has("from") or s.has("until"):
        start, end = _instant(s, "from"), _instant(s, "until")
        if end <= start:
            raise s.fail("until", "must be after from")
        return Window(start=start, end=end)
    days = s.strings("weekdays") if s.has("weekdays") else WEEKDAYS
    for day in days:
        if day.lower()[:3] not in WEEKDAYS:
            raise s.fail("weekdays", f"unknown weekday {day!r}")
    clock = s.text("start", required=True) or ""
    match = _CLOCK.match(clock)
    if match is None:
        raise s.fail("start", "expected HH:MM (UTC)")
    return Window(
        weekdays=frozenset(WEEKDAYS.index(day.lower()[:3]) for day in days),
        minute=int(match.group(1)) * 60 + int(match.group(2)),
        duration=s.duration("duration", 3600.0, minimum=60.0),
    )


def _instant(s: Section, name: str) -> float:
    value = s.raw(name)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise s.fail(name, "expected an ISO 8601 time, e.g. 2026-12-24T22:00:00Z") from None
    else:
        raise s.fail(name, "expected an ISO 8601 time, e.g. 2026-12-24T22:00:00Z")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
