"""What the status page, the JSON API, the badges and the metrics show, read from the
history once: per endpoint the latest result, uptime over 24 h, 7 d and 30 d, 90 daily
bars (each the worst state of its day), mean latency per phase in four-hour buckets
over 7 days, incidents."""

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


async def snapshot(
    config: MonitorConfig, store: HistoryStore, now: float, detail: str | None = None
) -> Snapshot:
    """Everything the page shows, in a handful of queries whatever the number of endpoints;
    the latency chart only for the ``detail`` endpoint (its own page)."""
    hour = int(now // 3600)
    today = int(now // DAY)
    days = await store.days(today - DAYS_SHOWN + 1)
    last_day = await store.uptimes({"24h": hour - 23})
    latency = {}
    if detail is not None:
        latency = await store.phase_buckets(hour - LATENCY_HOURS, LATENCY_BUCKET_HOURS, detail)
    latest = await store.latest_results()
    incidents = await store.incidents(None, now - PAST_INCIDENTS_DAYS * DAY)
    out = []
    labels = day_labels(now)
    for endpoint in config.endpoints:
        name = endpoint.name
        mine = [i for i in incidents if i.endpoint == name]
        bars = daily_bars(days.get(name, []), now, labels)
        uptime = {"24h": last_day.get(name, {}).get("24h")}
        uptime.update({label: share(bars[-count:]) for label, count in DAYS_UPTIME.items()})
        out.append(
            EndpointStatus(
                name=name,
                url=endpoint.url,
                latest=latest.get(name),
                uptime=uptime,
                days=bars,
                latency=[(b.hour, b.phase_ms) for b in latency.get(name, [])],
                open_incidents=[i for i in mine if i.is_open],
                past_incidents=[i for i in mine if not i.is_open],
            )
        )
    return Snapshot(config.title, now, out)


def share(bars: list[DayBar]) -> float | None:
    """The share of probes not down over these days (None: no probes)."""
    probes = sum(bar.probes for bar in bars)
    return None if probes == 0 else 1.0 - sum(bar.down for bar in bars) / probes


def daily_bars(days: list[Bucket], now: float, labels: list[str] | None = None) -> list[DayBar]:
    """``DAYS_SHOWN`` bars from day buckets, oldest first, the last one today; ``labels``
    are the days' dates (``day_labels``), given when many endpoints share them."""
    by_day = {bucket.hour // 24: bucket for bucket in days}
    today = int(now // DAY)
    labels = labels or day_labels(now)
    bars = []
    for label, day in zip(labels, range(today - DAYS_SHOWN + 1, today + 1), strict=True):
        bucket = by_day.get(day)
        if bucket is None or bucket.probes == 0:
            bars.append(DayBar(label, None))
            continue
        state = "down" if bucket.down else "degraded" if bucket.degraded else "up"
        uptime = (bucket.probes - bucket.down) / bucket.probes
        bars.append(DayBar(label, state, bucket.probes, uptime, bucket.down))
    return bars


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
                "days": [
                    {"day": d.day, "state": d.state, "probes": d.probes, "uptime": d.uptime}
                    for d in e.days
                ],
                "openIncidents": [incident_json(i) for i in e.open_incidents],
                "pastIncidents": [incident_json(i) for i in e.past_incidents],
            }
            for e in snap.endpoints
        ],
    }
