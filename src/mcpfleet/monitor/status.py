"""What the status page, the JSON API, the badges and the metrics show, read from the
history once: per endpoint the latest result, uptime over 24 h, 7 d and 30 d, 90 daily
bars (each the worst state of its day), mean latency per phase in four-hour buckets
over 7 days, incidents.

The days before today change only when the day does (retention prunes whole days too),
or just after, while the probes begun before midnight (here or at other locations) are
written: a ``DayCache`` keeps them, read when the day changes and once more
``LATE_SECONDS`` into it, and each snapshot reads only today's counts, the last 24 hours,
the latest results and the incidents, whatever the number of days shown. What a
renderer makes of the cached days can be kept with them (``PastDays.memo``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mcpfleet.monitor.alerts import Incident
from mcpfleet.monitor.config import MonitorConfig
from mcpfleet.monitor.results import Result
from mcpfleet.monitor.store import Bucket, HistoryStore

DAY = 86400.0
DAYS_SHOWN = 90
DAYS_UPTIME = {"7d": 7, "30d": 30}  # over calendar days (UTC), today included
LATENCY_HOURS = 7 * 24
LATENCY_BUCKET_HOURS = 4  # one chart point per four hours
PAST_INCIDENTS_DAYS = 30
STATE_ORDER = {"unknown": -1, "up": 0, "degraded": 1, "down": 2}
LATE_SECONDS = 300.0  # into a day, yesterday's counts are read once more (late writes)


@dataclass(frozen=True, slots=True)
class DayBar:
    day: str  # YYYY-MM-DD, UTC
    state: str | None  # the worst state that day; None: no probes
    probes: int = 0
    uptime: float | None = None
    down: int = 0


@dataclass(slots=True)
class EndpointStatus:
    name: str
    url: str
    latest: Result | None
    uptime: dict[str, float | None] = field(default_factory=dict)
    days: list[DayBar] = field(default_factory=list)
    latency: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # (hour, ms)
    open_incidents: list[Incident] = field(default_factory=list)
    past_incidents: list[Incident] = field(default_factory=list)
    past: PastDays | None = None  # the cached days before today (all of ``days`` but one)

    @property
    def state(self) -> str:
        if self.latest is None:
            return "unknown"
        return "maintenance" if self.latest.maintenance else self.latest.state


@dataclass(slots=True)
class Snapshot:
    title: str
    generated_at: float
    endpoints: list[EndpointStatus]

    @property
    def state(self) -> str:
        states = [e.state for e in self.endpoints if e.state in STATE_ORDER]
        return max(states, key=STATE_ORDER.__getitem__, default="unknown")

    def endpoint(self, name: str) -> EndpointStatus | None:
        return next((e for e in self.endpoints if e.name == name), None)


class PastDays:
    """One endpoint's bars before today, their totals for the uptime windows, and what
    renderers keep of them (by renderer name); shared by the snapshots of one day."""

    __slots__ = ("bars", "memo", "totals")

    def __init__(self, bars: tuple[DayBar, ...]) -> None:
        self.bars = bars
        self.memo: dict[str, Any] = {}
        self.totals = {
            count: (sum(b.probes for b in bars[len(bars) - count + 1 :]),
                    sum(b.down for b in bars[len(bars) - count + 1 :]))
            for count in DAYS_UPTIME.values()
        }  # fmt: skip

    def share(self, count: int, today: DayBar) -> float | None:
        """The share of probes not down over the last ``count`` days, today included."""
        probes, down = self.totals[count]
        probes, down = probes + today.probes, down + today.down
        return None if probes == 0 else 1.0 - down / probes


class DayCache:
    """The days before today for every endpoint: read when the day changes, and again
    once ``late`` seconds into the day, for the results of probes that began before."""

    def __init__(self, late: float = LATE_SECONDS) -> None:
        self.late = late
        self.today: int | None = None
        self.read_at = float("-inf")  # wall time of the last read
        self.labels: list[str] = []
        self.past: dict[str, PastDays] = {}
        self.empty = PastDays(())

    async def read(self, store: HistoryStore, now: float) -> None:
        today = int(now // DAY)
        settled = today * DAY + self.late
        if today == self.today and (self.read_at >= settled or now < settled):
            return
        buckets = await store.days(today - DAYS_SHOWN + 1, today)
        self.labels = day_labels(now)
        self.past = {
            name: PastDays(tuple(daily_bars(days, now, self.labels)[:-1]))
            for name, days in buckets.items()
        }
        self.empty = PastDays(tuple(daily_bars([], now, self.labels)[:-1]))
        self.today, self.read_at = today, now

    def get(self, name: str) -> PastDays:
        return self.past.get(name, self.empty)


async def snapshot(
    config: MonitorConfig,
    store: HistoryStore,
    now: float,
    detail: str | None = None,
    days: DayCache | None = None,
) -> Snapshot:
    """Everything the page shows, in a handful of queries whatever the number of endpoints;
    the latency chart only for the ``detail`` endpoint (its own page). ``days`` keeps the
    days before today between snapshots (without it, they are read now)."""
    hour = int(now // 3600)
    today = int(now // DAY)
    cache = days or DayCache()
    await cache.read(store, now)
    current = await store.days(today, today + 1)
    last_day = await store.uptimes({"24h": hour - 23})
    latency = {}
    if detail is not None:
        latency = await store.phase_buckets(hour - LATENCY_HOURS, LATENCY_BUCKET_HOURS, detail)
    latest = await store.latest_results()
    incidents = await store.incidents(None, now - PAST_INCIDENTS_DAYS * DAY)
    out = []
    for endpoint in config.endpoints:
        name = endpoint.name
        mine = [i for i in incidents if i.endpoint == name]
        past = cache.get(name)
        bar = day_bar(cache.labels[-1], next(iter(current.get(name, [])), None))
        uptime = {"24h": last_day.get(name, {}).get("24h")}
        uptime.update({label: past.share(count, bar) for label, count in DAYS_UPTIME.items()})
        out.append(
            EndpointStatus(
                name=name,
                url=endpoint.url,
                latest=latest.get(name),
                uptime=uptime,
                days=[*past.bars, bar],
                latency=[(b.hour, b.phase_ms) for b in latency.get(name, [])],
                open_incidents=[i for i in mine if i.is_open],
                past_incidents=[i for i in mine if not i.is_open],
                past=past,
            )
        )
    return Snapshot(config.title, now, out)


def share(bars: list[DayBar]) -> float | None:
    """The share of probes not down over these days (None: no probes)."""
    probes = sum(bar.probes for bar in bars)
    return None if probes == 0 else 1.0 - sum(bar.down for bar in bars) / probes


def day_bar(label: str, bucket: Bucket | None) -> DayBar:
    """The bar of one day from its bucket (None: no probes that day)."""
    if bucket is None or bucket.probes == 0:
        return DayBar(label, None)
    state = "down" if bucket.down else "degraded" if bucket.degraded else "up"
    uptime = (bucket.probes - bucket.down) / bucket.probes
    return DayBar(label, state, bucket.probes, uptime, bucket.down)


def daily_bars(days: list[Bucket], now: float, labels: list[str] | None = None) -> list[DayBar]:
    """``DAYS_SHOWN`` bars from day buckets, oldest first, the last one today; ``labels``
    are the days' dates (``day_labels``), given when many endpoints share them."""
    by_day = {bucket.hour // 24: bucket for bucket in days}
    today = int(now // DAY)
    labels = labels or day_labels(now)
    days_shown = range(today - DAYS_SHOWN + 1, today + 1)
    return [day_bar(label, by_day.get(day)) for label, day in zip(labels, days_shown, strict=True)]


def day_labels(now: float) -> list[str]:
    today = int(now // DAY)
    return [
        datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")
        for day in range(today - DAYS_SHOWN + 1, today + 1)
    ]


def incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "dedupKey": incident.dedup_key,
        "lane": incident.lane,
        "kind": incident.kind,
        "cause": incident.cause,
        "openedAt": incident.opened_at,
        "resolvedAt": incident.resolved_at,
    }


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """The JSON status API's document."""
    return {
        "title": snap.title,
        "generatedAt": snap.generated_at,
        "state": snap.state,
        "endpoints": [
            {
                "name": e.name,
                "url": e.url,
                "state": e.state,
                "uptime": e.uptime,
                "latest": None if e.latest is None else e.latest.to_json(),
                "days": _days_json(e),
                "openIncidents": [incident_json(i) for i in e.open_incidents],
                "pastIncidents": [incident_json(i) for i in e.past_incidents],
            }
            for e in snap.endpoints
        ],
    }


def _day_json(d: DayBar) -> dict[str, Any]:
    return {"day": d.day, "state": d.state, "probes": d.probes, "uptime": d.uptime}


def _days_json(e: EndpointStatus) -> list[dict[str, Any]]:
    past = e.past
    if past is None or len(e.days) != len(past.bars) + 1:
        return [_day_json(d) for d in e.days]
    if "json" not in past.memo:
        past.memo["json"] = [_day_json(d) for d in past.bars]
    return [*past.memo["json"], _day_json(e.days[-1])]
