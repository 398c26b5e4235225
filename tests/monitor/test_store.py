"""The history stores, SQLite and PostgreSQL alike: migrations, aggregates, retention,
incidents, deliveries."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mcpfleet.monitor.alerts import Incident
from mcpfleet.monitor.results import Failure, Result
from mcpfleet.monitor.store import SCHEMA_VERSION, Delivery, open_store
from tests.monitor.support import START

HOUR = 3600.0


def sample(at: float, state: str = "up", http_ms: float = 10.0) -> Result:
    failures = [] if state == "up" else [Failure(state, "status", "tcp: refused")]
    return Result(
        "api", at, state, phases={"dns": ("ok", 1.0), "http": ("ok", http_ms)},
        failures=failures, lanes={"health": state == "up", "cert": None}, tools_hash="sha256:x",
    )  # fmt: skip


def test_migrations_run_once_even_when_two_monitors_start_together(history_url: str) -> None:
    """Two stores migrating one new database at once: one migrates from version 0, the
    other waits and finds it current; a third start finds it current too."""

    async def scenario() -> tuple[list[int], int]:
        first, second = open_store(history_url), open_store(history_url)
        try:
            both = await asyncio.gather(first.migrate(), second.migrate())
            return sorted(both), await first.migrate()
        finally:
            await first.aclose()
            await second.aclose()

    assert asyncio.run(scenario()) == ([0, SCHEMA_VERSION], SCHEMA_VERSION)


def test_results_round_trip_and_hourly_aggregates_outlive_raw_retention(history_url: str) -> None:
    """Results read back as written; pruning raw results past retention keeps the hourly
    counts and mean phase times, and pruning aggregates past theirs drops them."""

    async def scenario() -> None:
        store = open_store(history_url)
        try:
            await store.migrate()
            written = [
                sample(START + 60),
                sample(START + 120, "down"),
                sample(START + 180, http_ms=30),
            ]
            written.append(sample(START + 2 * HOUR))
            for result in written:
                await store.add_result(result)
            back = await store.recent("api", 10)
            assert [r.to_json() for r in back] == [r.to_json() for r in written]
            assert await store.last_hash("api") == "sha256:x"
            later = START + 2 * 86400
            assert await store.prune(later, raw_days=1, hourly_days=30) == (4, 0)
            assert await store.recent("api", 10) == []
            since = int(START // HOUR) - 1
            first = (await store.buckets(since, 1))["api"][0]
            assert (first.probes, first.up, first.down) == (3, 2, 1)
            phases = (await store.phase_buckets(since, 1))["api"][0]
            assert phases.phase_ms["http"] == (10 + 10 + 30) / 3
            uptime = (await store.uptimes({"all": since, "none": since + 100}))["api"]
            assert uptime == {"all": 0.75, "none": None}
            assert await store.prune(later + 40 * 86400, raw_days=1, hourly_days=30) == (0, 2)
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_incidents_are_updated_by_dedup_key(history_url: str) -> None:
    """Saving an incident again updates its row (same id); the latest per lane and the
    open ones are found; deliveries are kept in order."""

    async def scenario() -> None:
        store = open_store(history_url)
        try:
            await store.migrate()
            old = Incident("api", "health", "down", "k1", START, "refused", START + 60)
            await store.save_incident(old)
            new = Incident("api", "health", "degraded", "k2", START + 600, "slow")
            await store.save_incident(new)
            new.kind = "down"
            await store.save_incident(new)
            cert = Incident("api", "cert", "cert_expiring", "k3", START, "3 days")
            await store.save_incident(cert)
            latest = {i.lane: (i.dedup_key, i.kind) for i in await store.latest_incidents("api")}
            assert latest == {"health": ("k2", "down"), "cert": ("k3", "cert_expiring")}
            recent = await store.incidents(None, START + 300)
            assert [i.dedup_key for i in recent] == ["k2", "k3"]
            assert len({new.id, old.id, cert.id}) == 3
            await store.add_delivery(Delivery("k2", "hook", "down", 1, START, False, "HTTP 500"))
            await store.add_delivery(Delivery("k2", "hook", "down", 2, START, True, "HTTP 200"))
            assert [d.ok for d in await store.deliveries("k2")] == [False, True]
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_one_open_incident_per_lane_and_each_change_claimed_once(history_url: str) -> None:
    """A second location opening the same lane gets the first one's incident back; a
    resolve, a reminder or an escalation is claimed by the first caller only."""

    async def scenario() -> None:
        store = open_store(history_url)
        try:
            await store.migrate()
            first = Incident("api", "health", "down", "eu-key", START, "refused")
            first.last_notified_at = START
            assert await store.open_incident(first) is None
            second = Incident("api", "health", "down", "us-key", START + 1, "refused")
            holder = await store.open_incident(second)
            assert holder is not None
            assert holder.dedup_key == "eu-key"
            first.kind, first.last_notified_at = "auth_broken", START + 60
            assert await store.escalate_incident(first)
            assert not await store.escalate_incident(first)
            first.last_notified_at = START + 700
            assert await store.remind_incident(first, due_before=START + 100)
            assert not await store.remind_incident(first, due_before=START + 100)
            first.resolved_at = START + 800
            assert await store.resolve_incident(first)
            assert not await store.resolve_incident(first)
            third = Incident("api", "health", "down", "us-key-2", START + 900, "refused")
            assert await store.open_incident(third) is None
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_two_monitors_starting_on_a_new_sqlite_file_never_find_it_locked(tmp_path: Path) -> None:
    """Two stores opening and migrating the same new SQLite file at once, 30 times over:
    the second always waits for the first (switching a file to WAL does not wait by
    itself), and neither fails with "database is locked"."""

    async def scenario(url: str) -> list[int]:
        first, second = open_store(url), open_store(url)
        try:
            return sorted(await asyncio.gather(first.migrate(), second.migrate()))
        finally:
            await first.aclose()
            await second.aclose()

    for attempt in range(30):
        url = f"sqlite:///{tmp_path / f'history-{attempt}.db'}"
        assert asyncio.run(scenario(url)) == [0, SCHEMA_VERSION]
