"""The history store: what the monitor keeps, behind one interface.

``HistoryStore`` is what the scheduler, the alert restore and the status page use.
``sqlstore.SqlHistory`` implements it once for SQL; ``SQLiteStore`` (the default, a
file and nothing to install) and ``PostgresStore`` (a shared history, ``DATABASE_URL``)
are its two dialects, on the same schema (``MIGRATIONS``, in SQL both accept);
``open_store`` picks by URL scheme.

Kept: raw results (for ``raw_days``), hourly and daily aggregates per endpoint and
location (for ``hourly_days``; updated as each result is written, so pruning raw results
loses nothing the page shows), the latest result per endpoint and location (within
``raw_days``), incidents, and every delivery attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from mcpfleet.monitor.alerts import Incident
from mcpfleet.monitor.results import Result
from mcpfleet.monitor.source import MonitorConfigError

# Version -> statements; applied in order, each version once, recorded in schema_migrations.
# ``{id}`` is the dialect's auto-numbered primary key.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE results (
            id {id}, endpoint TEXT NOT NULL, location TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL, state TEXT NOT NULL, maintenance INTEGER NOT NULL,
            tools_hash TEXT, body TEXT NOT NULL)""",
        "CREATE INDEX results_endpoint_at ON results (endpoint, at)",
        "CREATE INDEX results_at ON results (at)",
        """CREATE TABLE hourly (
            endpoint TEXT NOT NULL, location TEXT NOT NULL, hour BIGINT NOT NULL,
            probes INTEGER NOT NULL, up INTEGER NOT NULL, degraded INTEGER NOT NULL,
            down INTEGER NOT NULL, PRIMARY KEY (endpoint, location, hour))""",
        """CREATE TABLE hourly_phase (
            endpoint TEXT NOT NULL, location TEXT NOT NULL, hour BIGINT NOT NULL,
            phase TEXT NOT NULL, total_ms DOUBLE PRECISION NOT NULL, samples INTEGER NOT NULL,
            PRIMARY KEY (endpoint, location, hour, phase))""",
        "CREATE INDEX hourly_hour ON hourly (hour)",
        "CREATE INDEX hourly_phase_hour ON hourly_phase (hour)",
        """CREATE TABLE daily (
            endpoint TEXT NOT NULL, location TEXT NOT NULL, day BIGINT NOT NULL,
            probes INTEGER NOT NULL, up INTEGER NOT NULL, degraded INTEGER NOT NULL,
            down INTEGER NOT NULL, PRIMARY KEY (endpoint, location, day))""",
        "CREATE INDEX daily_day ON daily (day)",
        """CREATE TABLE incidents (
            id {id}, endpoint TEXT NOT NULL, lane TEXT NOT NULL,
            kind TEXT NOT NULL, dedup_key TEXT NOT NULL UNIQUE,
            opened_at DOUBLE PRECISION NOT NULL, resolved_at DOUBLE PRECISION,
            last_notified_at DOUBLE PRECISION, cause TEXT NOT NULL)""",
        "CREATE INDEX incidents_endpoint ON incidents (endpoint, lane, opened_at)",
        # One open incident per endpoint and lane, whichever location opens it.
        "CREATE UNIQUE INDEX incidents_one_open ON incidents (endpoint, lane) "
        "WHERE resolved_at IS NULL",
        """CREATE TABLE deliveries (
            id {id}, dedup_key TEXT NOT NULL, channel TEXT NOT NULL,
            event TEXT NOT NULL, attempt INTEGER NOT NULL, at DOUBLE PRECISION NOT NULL,
            ok INTEGER NOT NULL, detail TEXT NOT NULL)""",
        "CREATE INDEX deliveries_key ON deliveries (dedup_key)",
    ),
    # The latest result per endpoint and location, kept as each result is written: the page
    # and the quorum read it instead of grouping every raw result. Indexes on the hour and the
    # day that hold what the page sums, so reading them never visits the tables.
    2: (
        """CREATE TABLE latest (
            endpoint TEXT NOT NULL, location TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
            body TEXT NOT NULL, PRIMARY KEY (endpoint, location))""",
        "INSERT INTO latest (endpoint, location, at, body) SELECT r.endpoint, r.location, "
        "r.at, r.body FROM results r WHERE NOT EXISTS (SELECT 1 FROM results n "
        "WHERE n.endpoint = r.endpoint AND n.location = r.location "
        "AND (n.at > r.at OR (n.at = r.at AND n.id > r.id)))",
        "CREATE INDEX latest_at ON latest (at)",
        "DROP INDEX hourly_hour",
        "CREATE INDEX hourly_hour ON hourly (hour, endpoint, probes, down)",
        "DROP INDEX daily_day",
        "CREATE INDEX daily_day ON daily (day, endpoint, probes, up, degraded, down)",
    ),
}
SCHEMA_VERSION = max(MIGRATIONS)


@dataclass(slots=True)
class Bucket:
    """Some hours of one endpoint (all locations): counts by state, mean ms per phase."""

    hour: int  # the first hour of the bucket: epoch seconds // 3600
    probes: int = 0
    up: int = 0
    degraded: int = 0
    down: int = 0
    phase_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivery:
    dedup_key: str
    channel: str
    event: str
    attempt: int
    at: float
    ok: bool
    detail: str


class HistoryStore(Protocol):
    # Results and incident changes this object has written: a page rendered at one count
    # is current, for this process's writes, until the count moves.
    writes: int

    async def migrate(self) -> int:
        """Bring the schema to ``SCHEMA_VERSION``; the version it was at before."""

    async def add_result(self, result: Result) -> None: ...

    async def recent(self, endpoint: str, limit: int) -> list[Result]:
        """The last ``limit`` results of ``endpoint``, oldest first."""

    async def results(self, endpoint: str, since: float) -> list[Result]:
        """Results of ``endpoint`` from ``since`` on, oldest first."""

    async def last_hash(self, endpoint: str) -> str | None: ...

    async def save_incident(self, incident: Incident) -> None:
        """Insert or update by dedup key; sets ``incident.id``."""

    async def open_incident(self, incident: Incident) -> Incident | None:
        """Insert a new incident; None when this call opened it (``id`` set), else the
        incident already holding its place (open in the same lane, or the same key)."""

    async def resolve_incident(self, incident: Incident) -> bool:
        """Mark it resolved, unless it already is: whether this call resolved it."""

    async def remind_incident(self, incident: Incident, due_before: float) -> bool:
        """Record a reminder unless one was sent after ``due_before``: whether it was due."""

    async def escalate_incident(self, incident: Incident) -> bool:
        """Record its new kind, unless it already has it: whether this call changed it."""

    async def latest_by_location(
        self, endpoint: str, since: float, besides: str
    ) -> dict[str, Result]:
        """The latest result from ``since`` on of each location but ``besides``."""

    async def latest_incidents(self, endpoint: str) -> list[Incident]:
        """Per lane, the most recent incident (open or resolved)."""

    async def incidents(self, endpoint: str | None, since: float) -> list[Incident]:
        """Incidents open now or opened since ``since``, newest first."""

    async def add_delivery(self, delivery: Delivery) -> None: ...

    async def deliveries(self, dedup_key: str | None = None) -> list[Delivery]: ...

    async def buckets(self, since_hour: int, size: int) -> dict[str, list[Bucket]]:
        """Per endpoint, state counts in buckets of ``size`` hours (aligned to multiples of
        ``size``) from ``since_hour`` on, oldest first; one query for every endpoint."""

    async def days(self, since_day: int, until_day: int | None = None) -> dict[str, list[Bucket]]:
        """Per endpoint, state counts per UTC day from ``since_day`` (epoch days) on, and
        before ``until_day`` when given; each bucket's ``hour`` is its day's first hour."""

    async def phase_buckets(
        self, since_hour: int, size: int, endpoint: str | None = None
    ) -> dict[str, list[Bucket]]:
        """Per endpoint (or only ``endpoint``), mean milliseconds per phase in buckets of
        ``size`` hours."""

    async def uptimes(self, since_hours: dict[str, int]) -> dict[str, dict[str, float | None]]:
        """Per endpoint, for each label, the share of probes not down from its hour on."""

    async def latest_results(self) -> dict[str, Result]:
        """Per endpoint, its latest result (any location) still within raw retention."""

    async def prune(self, now: float, raw_days: float, hourly_days: float) -> tuple[int, int]:
        """Delete raw results and hourly aggregates past retention: how many of each."""

    async def aclose(self) -> None: ...


def open_store(url: str) -> HistoryStore:
    """The store for ``url``: ``sqlite:///PATH`` (relative), ``sqlite:////PATH`` (absolute),
    or ``postgresql://...`` (needs the ``psycopg`` package)."""
    if url.startswith("sqlite:///"):
        from mcpfleet.monitor.sqlite import SQLiteStore

        return SQLiteStore(url[len("sqlite:///") :])
    if url.startswith(("postgresql://", "postgres://")):
        from mcpfleet.monitor.postgres import PostgresStore

        return PostgresStore(url)
    raise MonitorConfigError("storage", 0, "storage.url", "expected sqlite:/// or postgresql://")


def incident_row(incident: Incident) -> tuple[Any, ...]:
    return (
        incident.endpoint,
        incident.lane,
        incident.kind,
        incident.dedup_key,
        incident.opened_at,
        incident.resolved_at,
        incident.last_notified_at,
        incident.cause,
    )


def incident_from_row(row: tuple[Any, ...]) -> Incident:
    """From ``id`` followed by the columns of ``incident_row``."""
    ident, endpoint, lane, kind, key, opened, resolved, notified, cause = row
    return Incident(endpoint, lane, kind, key, opened, cause, resolved, notified, ident)
