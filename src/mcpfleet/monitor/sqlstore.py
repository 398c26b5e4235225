"""The history store over SQL, for any DB-API driver: one connection, used by one
worker thread only, so every read and write is off the event loop and writes never
contend with each other in this process. A ``Dialect`` says how to connect, how
parameters are written and what differs in the DDL; the queries are written once,
with ``?`` parameters, in the SQL that SQLite and PostgreSQL both accept.

The driver's exceptions are translated here, where they enter: ``HistoryError``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import orjson

from mcpfleet.errors import CommandError
from mcpfleet.monitor.alerts import Incident
from mcpfleet.monitor.results import Result
from mcpfleet.monitor.store import (
    MIGRATIONS,
    Bucket,
    Delivery,
    incident_from_row,
    incident_row,
)

T = TypeVar("T")
NO_HOUR = 2**62  # past any hour
INCIDENTS = "id, endpoint, lane, kind, dedup_key, opened_at, resolved_at, last_notified_at, cause"


class HistoryError(CommandError):
    """The history store failed (a locked file, a lost connection); the detail is logged."""


class Dialect(Protocol):
    name: str
    id_column: str  # DDL of an auto-numbered primary key
    errors: tuple[type[Exception], ...]  # the driver's exceptions, to translate

    def connect(self) -> Any:
        """A DB-API connection, not in autocommit mode."""

    def sql(self, text: str) -> str:
        """``text`` with its ``?`` parameters written as the driver wants them."""

    def lock_migrations(self, db: Any) -> None:
        """Keep two monitors from migrating one database at once (inside the transaction)."""


class SqlHistory:
    """``HistoryStore`` for a ``Dialect``."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-history")
        self._db: Any = None
        self.writes = 0

    async def _run(self, work: Callable[[Any], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, self._call, work)

    def _call(self, work: Callable[[Any], T]) -> T:
        try:
            if self._db is None:
                self._db = self.dialect.connect()
            try:
                out = work(self._db)
            except BaseException:
                self._db.rollback()
                raise
            self._db.commit()
            return out
        except self.dialect.errors as exc:
            raise HistoryError(f"{self.dialect.name} history: {type(exc).__name__}: {exc}") from exc

    def _rows(self, db: Any, text: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return list(db.execute(self.dialect.sql(text), params).fetchall())

    async def migrate(self) -> int:
        return await self._run(self._migrate)

    def _migrate(self, db: Any) -> int:
        self.dialect.lock_migrations(db)
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        before = int(self._rows(db, "SELECT MAX(version) FROM schema_migrations")[0][0] or 0)
        for version in sorted(MIGRATIONS):
            if version > before:
                for statement in MIGRATIONS[version]:
                    db.execute(statement.replace("{id}", self.dialect.id_column))
                db.execute(
                    self.dialect.sql("INSERT INTO schema_migrations VALUES (?, ?)"),
                    (version, time.time()),
                )
        return before

    async def add_result(self, result: Result) -> None:
        self.writes += 1
        await self._run(lambda db: self._add_result(db, result))

    def _add_result(self, db: Any, result: Result) -> None:
        sql = self.dialect.sql
        body = orjson.dumps(result.to_json()).decode()
        db.execute(
            sql("INSERT INTO results (endpoint, location, at, state, maintenance, tools_hash, "
                "body) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            (result.endpoint, result.location, result.at, result.state, int(result.maintenance),
             result.tools_hash, body),
        )  # fmt: skip
        db.execute(
            sql("INSERT INTO latest (endpoint, location, at, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (endpoint, location) DO UPDATE SET at = excluded.at, "
                "body = excluded.body WHERE excluded.at >= latest.at"),
            (result.endpoint, result.location, result.at, body),
        )  # fmt: skip
        key = (result.endpoint, result.location, int(result.at // 3600))
        counts = tuple(int(result.state == state) for state in ("up", "degraded", "down"))
        db.execute(
            sql("INSERT INTO hourly (endpoint, location, hour, probes, up, degraded, down) "
                "VALUES (?, ?, ?, 1, ?, ?, ?) ON CONFLICT (endpoint, location, hour) DO UPDATE "
                "SET probes = hourly.probes + 1, up = hourly.up + excluded.up, "
                "degraded = hourly.degraded + excluded.degraded, "
                "down = hourly.down + excluded.down"),
            (*key, *counts),
        )  # fmt: skip
        db.execute(
            sql("INSERT INTO daily (endpoint, location, day, probes, up, degraded, down) "
                "VALUES (?, ?, ?, 1, ?, ?, ?) ON CONFLICT (endpoint, location, day) DO UPDATE "
                "SET probes = daily.probes + 1, up = daily.up + excluded.up, "
                "degraded = daily.degraded + excluded.degraded, "
                "down = daily.down + excluded.down"),
            (result.endpoint, result.location, int(result.at // 86400), *counts),
        )  # fmt: skip
        timed = [(name, ms) for name, (_status, ms) in result.phases.items() if ms is not None]
        timed.append(("total", result.total_ms))
        db.cursor().executemany(
            sql("INSERT INTO hourly_phase (endpoint, location, hour, phase, total_ms, samples) "
                "VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (endpoint, location, hour, phase) DO UPDATE "
                "SET total_ms = hourly_phase.total_ms + excluded.total_ms, "
                "samples = hourly_phase.samples + 1"),
            [(*key, name, ms) for name, ms in timed],
        )  # fmt: skip

    async def recent(self, endpoint: str, limit: int) -> list[Result]:
        query = "SELECT body FROM results WHERE endpoint = ? ORDER BY at DESC, id DESC LIMIT ?"
        rows = await self._run(lambda db: self._rows(db, query, (endpoint, limit)))
        return [Result.from_json(orjson.loads(body)) for (body,) in reversed(rows)]

    async def results(self, endpoint: str, since: float) -> list[Result]:
        query = "SELECT body FROM results WHERE endpoint = ? AND at >= ? ORDER BY at, id"
        rows = await self._run(lambda db: self._rows(db, query, (endpoint, since)))
        return [Result.from_json(orjson.loads(body)) for (body,) in rows]

    async def last_hash(self, endpoint: str) -> str | None:
        query = (
            "SELECT tools_hash FROM results WHERE endpoint = ? AND tools_hash IS NOT NULL "
            "ORDER BY at DESC, id DESC LIMIT 1"
        )
        rows = await self._run(lambda db: self._rows(db, query, (endpoint,)))
        return str(rows[0][0]) if rows else None

    async def save_incident(self, incident: Incident) -> None:
        self.writes += 1
        incident.id = await self._run(lambda db: self._save_incident(db, incident))

    def _save_incident(self, db: Any, incident: Incident) -> int:
        db.execute(
            self.dialect.sql(
                "INSERT INTO incidents (endpoint, lane, kind, dedup_key, opened_at, resolved_at, "
                "last_notified_at, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) "
                "DO UPDATE SET kind = excluded.kind, resolved_at = excluded.resolved_at, "
                "last_notified_at = excluded.last_notified_at, cause = excluded.cause"
            ),
            incident_row(incident),
        )
        query = "SELECT id FROM incidents WHERE dedup_key = ?"
        return int(self._rows(db, query, (incident.dedup_key,))[0][0])

    async def open_incident(self, incident: Incident) -> Incident | None:
        self.writes += 1
        return await self._run(lambda db: self._open_incident(db, incident))

    def _open_incident(self, db: Any, incident: Incident) -> Incident | None:
        inserted = db.execute(
            self.dialect.sql(
                "INSERT INTO incidents (endpoint, lane, kind, dedup_key, opened_at, resolved_at, "
                "last_notified_at, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
            ),
            incident_row(incident),
        )
        if inserted.rowcount == 1:
            query = "SELECT id FROM incidents WHERE dedup_key = ?"
            incident.id = int(self._rows(db, query, (incident.dedup_key,))[0][0])
            return None
        query = (
            f"SELECT {INCIDENTS} FROM incidents WHERE dedup_key = ? "
            "OR (endpoint = ? AND lane = ? AND resolved_at IS NULL) ORDER BY id LIMIT 1"
        )
        params = (incident.dedup_key, incident.endpoint, incident.lane)
        return incident_from_row(tuple(self._rows(db, query, params)[0]))

    async def resolve_incident(self, incident: Incident) -> bool:
        query = (
            "UPDATE incidents SET resolved_at = ?, last_notified_at = ? "
            "WHERE dedup_key = ? AND resolved_at IS NULL"
        )
        params = (incident.resolved_at, incident.last_notified_at, incident.dedup_key)
        return await self._changed(query, params)

    async def remind_incident(self, incident: Incident, due_before: float) -> bool:
        query = (
            "UPDATE incidents SET last_notified_at = ? WHERE dedup_key = ? AND resolved_at IS "
            "NULL AND (last_notified_at IS NULL OR last_notified_at <= ?)"
        )
        return await self._changed(
            query, (incident.last_notified_at, incident.dedup_key, due_before)
        )

    async def escalate_incident(self, incident: Incident) -> bool:
        query = (
            "UPDATE incidents SET kind = ?, cause = ?, last_notified_at = ? "
            "WHERE dedup_key = ? AND resolved_at IS NULL AND kind <> ?"
        )
        params = (incident.kind, incident.cause, incident.last_notified_at, incident.dedup_key,
                  incident.kind)  # fmt: skip
        return await self._changed(query, params)

    async def _changed(self, query: str, params: tuple[Any, ...]) -> bool:
        self.writes += 1

        def work(db: Any) -> bool:
            return int(db.execute(self.dialect.sql(query), params).rowcount) == 1

        return await self._run(work)

    async def latest_by_location(
        self, endpoint: str, since: float, besides: str
    ) -> dict[str, Result]:
        query = "SELECT location, body FROM latest WHERE endpoint = ? AND location <> ? AND at >= ?"
        rows = await self._run(lambda db: self._rows(db, query, (endpoint, besides, since)))
        return {location: Result.from_json(orjson.loads(body)) for location, body in rows}

    async def latest_incidents(self, endpoint: str) -> list[Incident]:
        query = (
            f"SELECT {INCIDENTS} FROM incidents i WHERE endpoint = ? AND id = "
            "(SELECT id FROM incidents j WHERE j.endpoint = i.endpoint AND j.lane = i.lane "
            "ORDER BY opened_at DESC, id DESC LIMIT 1)"
        )
        rows = await self._run(lambda db: self._rows(db, query, (endpoint,)))
        return [incident_from_row(tuple(row)) for row in rows]

    async def incidents(self, endpoint: str | None, since: float) -> list[Incident]:
        mine = "" if endpoint is None else " AND endpoint = ?"
        query = (
            f"SELECT {INCIDENTS} FROM incidents WHERE (resolved_at IS NULL OR opened_at >= ?)"
            f"{mine} ORDER BY opened_at DESC, id DESC"
        )
        params = (since,) if endpoint is None else (since, endpoint)
        rows = await self._run(lambda db: self._rows(db, query, params))
        return [incident_from_row(tuple(row)) for row in rows]

    async def add_delivery(self, d: Delivery) -> None:
        query = (
            "INSERT INTO deliveries (dedup_key, channel, event, attempt, at, ok, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        params = (d.dedup_key, d.channel, d.event, d.attempt, d.at, int(d.ok), d.detail)
        await self._run(lambda db: db.execute(self.dialect.sql(query), params))

    async def deliveries(self, dedup_key: str | None = None) -> list[Delivery]:
        mine = "" if dedup_key is None else " WHERE dedup_key = ?"
        query = f"SELECT dedup_key, channel, event, attempt, at, ok, detail FROM deliveries{mine}"
        params = () if dedup_key is None else (dedup_key,)
        rows = await self._run(lambda db: self._rows(db, query + " ORDER BY id", params))
        return [Delivery(k, c, e, a, at, bool(ok), d) for k, c, e, a, at, ok, d in rows]

    async def buckets(self, since_hour: int, size: int) -> dict[str, list[Bucket]]:
        query = (
            "SELECT endpoint, (hour / ?) * ? AS b, SUM(probes), SUM(up), SUM(degraded), "
            "SUM(down) FROM hourly WHERE hour >= ? GROUP BY endpoint, b ORDER BY endpoint, b"
        )
        rows = await self._run(lambda db: self._rows(db, query, (size, size, since_hour)))
        found: dict[str, list[Bucket]] = {}
        for endpoint, hour, probes, up, degraded, down in rows:
            bucket = Bucket(int(hour), int(probes), int(up), int(degraded), int(down))
            found.setdefault(endpoint, []).append(bucket)
        return found

    async def days(self, since_day: int, until_day: int | None = None) -> dict[str, list[Bucket]]:
        until = "" if until_day is None else " AND day < ?"
        query = (
            "SELECT endpoint, day, SUM(probes), SUM(up), SUM(degraded), SUM(down) FROM daily "
            f"WHERE day >= ?{until} GROUP BY endpoint, day ORDER BY endpoint, day"
        )
        params = (since_day,) if until_day is None else (since_day, until_day)
        rows = await self._run(lambda db: self._rows(db, query, params))
        found: dict[str, list[Bucket]] = {}
        for endpoint, day, probes, up, degraded, down in rows:
            bucket = Bucket(int(day) * 24, int(probes), int(up), int(degraded), int(down))
            found.setdefault(endpoint, []).append(bucket)
        return found

    async def phase_buckets(
        self, since_hour: int, size: int, endpoint: str | None = None
    ) -> dict[str, list[Bucket]]:
        mine = "" if endpoint is None else " AND endpoint = ?"
        query = (
            "SELECT endpoint, (hour / ?) * ? AS b, phase, SUM(total_ms), SUM(samples) "
            f"FROM hourly_phase WHERE hour >= ?{mine} GROUP BY endpoint, b, phase "
            "ORDER BY endpoint, b"
        )
        params = (size, size, since_hour) + (() if endpoint is None else (endpoint,))
        rows = await self._run(lambda db: self._rows(db, query, params))
        found: dict[str, dict[int, Bucket]] = {}
        for endpoint, hour, phase, total, samples in rows:
            bucket = found.setdefault(endpoint, {}).setdefault(int(hour), Bucket(int(hour)))
            bucket.phase_ms[phase] = float(total) / max(float(samples), 1.0)
        return {endpoint: list(buckets.values()) for endpoint, buckets in found.items()}

    async def uptimes(self, since_hours: dict[str, int]) -> dict[str, dict[str, float | None]]:
        labels = list(since_hours)
        sums = ", ".join(
            "SUM(CASE WHEN hour >= ? THEN probes ELSE 0 END), "
            "SUM(CASE WHEN hour >= ? THEN down ELSE 0 END)"
            for _ in labels
        )
        # Bounded on both sides, the range reads the (covering) hour index rather than the
        # whole table in key order.
        query = (
            f"SELECT endpoint, {sums} FROM hourly WHERE hour >= ? AND hour < ? GROUP BY endpoint"
        )
        params = [since_hours[label] for label in labels for _ in (0, 1)]
        params += [min(since_hours.values()), NO_HOUR]
        rows = await self._run(lambda db: self._rows(db, query, tuple(params)))
        found = {}
        for endpoint, *counts in rows:
            found[endpoint] = {
                label: (1.0 - int(down) / int(probes)) if probes else None
                for label, probes, down in zip(labels, counts[::2], counts[1::2], strict=True)
            }
        return found

    async def latest_results(self) -> dict[str, Result]:
        query = "SELECT endpoint, body FROM latest ORDER BY at"  # the latest location last
        rows = await self._run(lambda db: self._rows(db, query))
        return {endpoint: Result.from_json(orjson.loads(body)) for endpoint, body in rows}

    async def prune(self, now: float, raw_days: float, hourly_days: float) -> tuple[int, int]:
        sql = self.dialect.sql
        self.writes += 1

        def work(db: Any) -> tuple[int, int]:
            raw = db.execute(sql("DELETE FROM results WHERE at < ?"), (now - raw_days * 86400,))
            db.execute(sql("DELETE FROM latest WHERE at < ?"), (now - raw_days * 86400,))
            cutoff = int((now - hourly_days * 86400) // 3600)
            hourly = db.execute(sql("DELETE FROM hourly WHERE hour < ?"), (cutoff,))
            db.execute(sql("DELETE FROM hourly_phase WHERE hour < ?"), (cutoff,))
            db.execute(sql("DELETE FROM daily WHERE day < ?"), (cutoff // 24,))
            return int(raw.rowcount), int(hourly.rowcount)

        return await self._run(work)

    async def aclose(self) -> None:
        def close() -> None:
            if self._db is not None:
                db, self._db = self._db, None
                db.close()

        await asyncio.get_running_loop().run_in_executor(self._worker, close)
        self._worker.shutdown(wait=True)
