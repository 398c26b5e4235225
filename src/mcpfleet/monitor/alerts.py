"""When an incident opens, escalates, reminds and resolves: no I/O, results in, notices out.

Each endpoint has an ``AlertBook`` with one lane per concern (``health``: down,
degraded, auth broken; ``cert``: certificate expiring). A lane keeps the outcomes of its
last ``window`` probes:

    no incident --(a failure, and `failures` of the last `window` failed)--> open
    open        --(a failure of a worse kind)--> open, escalated (same dedup key)
    open        --(`remind_every` since the last notice)--> open, reminder (same key)
    open        --(`successes` passes in a row)--> resolved ("recovered", same key)

A tool-list change is a notice of its own (``drift``), opened and closed at once. Inside
a maintenance window nothing changes and nothing is sent. After a restart the book is
rebuilt from the stored results and incidents (``restore``), so an open incident stays
open under the same key and is not paged again.

With several locations (monitors writing to one history), an incident opens only when
``quorum`` locations agree: this one by its rule, and ``quorum - 1`` others whose latest
probe failed the same lane (``observe``'s ``others``). Every notice is then claimed in
the shared history before it is sent (``claim``): the first location to open, escalate,
remind or resolve an incident sends; the others adopt it and stay quiet.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mcpfleet.monitor.config import AlertRule
from mcpfleet.monitor.results import KIND_RANK, LANES, Result


@dataclass(slots=True)
class Incident:
    endpoint: str
    lane: str
    kind: str
    dedup_key: str
    opened_at: float
    cause: str
    resolved_at: float | None = None
    last_notified_at: float | None = None
    id: int | None = None  # given by the store

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to send: ``event`` is down, degraded, auth_broken, cert_expiring,
    recovered or drift; reminders and escalations carry the incident's key again."""

    event: str
    incident: Incident
    at: float
    reminder: bool = False
    escalated: bool = False


@dataclass(slots=True)
class Lane:
    window: deque[bool]
    streak: int = 0  # passes in a row at the tail
    incident: Incident | None = None


def dedup_key(endpoint: str, lane: str, at: float) -> str:
    return f"mcpfleet:{endpoint}:{lane}:{int(at * 1000)}"


@dataclass(slots=True)
class AlertBook:
    endpoint: str
    rule: AlertRule
    lanes: dict[str, Lane] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in LANES:
            self.lanes.setdefault(name, Lane(deque(maxlen=self.rule.window)))

    def restore(self, history: Iterable[Result], latest: Iterable[Incident]) -> None:
        """Rebuild the lanes from stored results (oldest first) and each lane's latest
        incident, open or resolved: the outcomes after that incident's last change."""
        latest_by_lane = {incident.lane: incident for incident in latest}
        results = [result for result in history if not result.maintenance]
        for name, lane in self.lanes.items():
            incident = latest_by_lane.get(name)
            since = -1.0
            if incident is not None:
                if incident.is_open:
                    lane.incident = incident
                since = incident.opened_at if incident.is_open else incident.resolved_at or 0.0
            for result in results:
                outcome = result.lanes.get(name)
                if result.at > since and outcome is not None:
                    lane.window.append(outcome)
                    lane.streak = lane.streak + 1 if outcome else 0

    def observe(self, result: Result, others: Mapping[str, int] | None = None) -> list[Notice]:
        """The notices ``result`` causes (none inside a maintenance window); ``others`` is,
        per lane, how many other locations' latest probes failed it."""
        if result.maintenance:
            return []
        notices: list[Notice] = []
        for name, lane in self.lanes.items():
            outcome = result.lanes.get(name)
            if outcome is not None:
                agreeing = 1 + (others or {}).get(name, 0)
                notices.extend(self._step(name, lane, outcome, result, agreeing))
        notices.extend(self._reminders(result.at, notices))
        if result.drift_from is not None and result.tools_hash is not None:
            notices.append(self._drift(result))
        return notices

    def open_incidents(self) -> list[Incident]:
        return [lane.incident for lane in self.lanes.values() if lane.incident is not None]

    def adopt(self, incident: Incident) -> None:
        """Take over ``incident``, opened by another location, instead of the one this book
        just opened in its lane."""
        self.lanes[incident.lane].incident = incident

    def _step(self, name: str, lane: Lane, ok: bool, result: Result, agreeing: int) -> list[Notice]:
        lane.window.append(ok)
        lane.streak = lane.streak + 1 if ok else 0
        incident, at = lane.incident, result.at
        kind = result.kind(name)
        if incident is None:
            if kind is None or lane.window.count(False) < self.rule.failures:
                return []
            if agreeing < self.rule.quorum:
                return []
            key = dedup_key(self.endpoint, name, at)
            incident = Incident(self.endpoint, name, kind, key, at, result.cause(name))
            incident.last_notified_at = at
            lane.incident = incident
            return [Notice(kind, incident, at)]
        if ok and lane.streak >= self.rule.successes:
            incident.resolved_at = at
            incident.last_notified_at = at
            lane.incident = None
            lane.window.clear()
            return [Notice("recovered", incident, at)]
        if kind is not None and KIND_RANK[kind] > KIND_RANK[incident.kind]:
            incident.kind, incident.cause = kind, result.cause(name)
            incident.last_notified_at = at
            return [Notice(kind, incident, at, escalated=True)]
        return []

    def _reminders(self, at: float, sent: list[Notice]) -> list[Notice]:
        every = self.rule.remind_every
        if every is None:
            return []
        out = []
        touched = {id(notice.incident) for notice in sent}
        for incident in self.open_incidents():
            last = incident.last_notified_at or incident.opened_at
            if id(incident) not in touched and at - last >= every:
                incident.last_notified_at = at
                out.append(Notice(incident.kind, incident, at, reminder=True))
        return out

    def _drift(self, result: Result) -> Notice:
        new, old = result.tools_hash or "", result.drift_from or ""
        # The same change seen by several locations within the hour shares one key.
        change = f"{old.removeprefix('sha256:')[:12]}-{new.removeprefix('sha256:')[:12]}"
        key = f"mcpfleet:{self.endpoint}:drift:{change}:{int(result.at // 3600)}"
        cause = f"tool list changed: was {result.drift_from}, now {new}"
        incident = Incident(self.endpoint, "drift", "drift", key, result.at, cause, result.at)
        incident.last_notified_at = result.at
        return Notice("drift", incident, result.at)
