"""What keeps the status page cheap: the latest-result table (schema version 2, filled
from the results a version-1 history already holds), the days before today kept between
snapshots, and the summary kept until the monitor writes again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson

from mcpfleet.monitor import load_config, open_store
from mcpfleet.monitor.results import Result
from mcpfleet.monitor.sqlstore import SqlHistory
from mcpfleet.monitor.status import DayCache, snapshot
from mcpfleet.monitor.store import MIGRATIONS, SCHEMA_VERSION
from mcpfleet.monitor.web import StatusApp
from tests.monitor.support import START, write_config
from tests.probe.servers import threaded

DAY = 86400.0
MIDNIGHT = (START // DAY + 1) * DAY  # the first midnight after START
CONFIG = """
storage: {{url: "sqlite:///{db}"}}
endpoints:
  - {{name: api, url: "http://127.0.0.1:9/mcp"}}
  - {{name: web, url: "http://127.0.0.1:9/mcp"}}
"""


def result(name: str, at: float, state: str = "up", location: str = "local") -> Result:
    return Result(name, at, state, location, {"http": ("ok", 5.0)}, lanes={"health": True})


def test_version_1_history_migrates_to_the_latest_result_table(history_url: str) -> None:
    """A history written at schema version 1 migrates to the current version, and its
    latest results (per endpoint, any location) are those version 1 held."""

    async def scenario() -> None:
        written = [
            result("api", START, "down"),
            result("api", START + 30, "up", "eu"),
            result("api", START + 20, "degraded"),
            result("web", START + 5, "down"),
        ]
        store = open_store(history_url)
        assert isinstance(store, SqlHistory)
        dialect = store.dialect
        db = dialect.connect()
        try:  # a history as version 1 wrote it
            db.execute(
                "CREATE TABLE schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
            for statement in MIGRATIONS[1]:
                db.execute(statement.replace("{id}", dialect.id_column))
            db.execute(dialect.sql("INSERT INTO schema_migrations VALUES (?, ?)"), (1, START))
            insert = dialect.sql(
                "INSERT INTO results (endpoint, location, at, state, maintenance, tools_hash, "
                "body) VALUES (?, ?, ?, ?, 0, NULL, ?)"
            )
            for r in written:
                body = orjson.dumps(r.to_json()).decode()
                db.execute(insert, (r.endpoint, r.location, r.at, r.state, body))
            db.commit()
        finally:
            db.close()
        try:
            assert await store.migrate() == 1
            latest = await store.latest_results()
            assert {name: (r.at, r.state) for name, r in latest.items()} == {
                "api": (START + 30, "up"),
                "web": (START + 5, "down"),
            }
            others = await store.latest_by_location("api", START, "eu")
            assert {loc: r.at for loc, r in others.items()} == {"local": START + 20}
            assert await store.migrate() == SCHEMA_VERSION
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_days_before_today_are_kept_and_read_again_after_midnight(tmp_path: Path) -> None:
    """Snapshots sharing a ``DayCache`` show a result written now at once (today's bar),
    keep the earlier days they read, and read them again when the day changes and once
    more ``late`` seconds into it, which brings in a late result of the day before."""

    async def scenario() -> None:
        config = load_config(write_config(tmp_path, CONFIG.format(db=tmp_path / "h.db")), {})
        store = open_store(config.storage.url)
        days = DayCache(late=120)
        try:
            await store.migrate()
            await store.add_result(result("api", MIDNIGHT - 3600, "down"))
            before = await snapshot(config, store, MIDNIGHT - 60, days=days)
            api = before.endpoint("api")
            assert api is not None
            assert (api.days[-1].state, api.days[-2].state) == ("down", None)
            await store.add_result(result("web", MIDNIGHT + 10, "up"))
            after = await snapshot(config, store, MIDNIGHT + 30, days=days)
            api, web = after.endpoint("api"), after.endpoint("web")
            assert api is not None
            assert web is not None
            assert (api.days[-1].state, api.days[-2].state) == (None, "down")
            assert web.days[-1].state == "up"
            assert len(api.days) == len(web.days) == 90
            await store.add_result(result("web", MIDNIGHT - 5, "degraded"))  # written late
            kept = (await snapshot(config, store, MIDNIGHT + 60, days=days)).endpoint("web")
            assert kept is not None
            assert kept.days[-2].state is None
            again = (await snapshot(config, store, MIDNIGHT + 150, days=days)).endpoint("web")
            assert again is not None
            assert again.days[-2].state == "degraded"
            assert again.uptime["7d"] == 1.0
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_summary_is_kept_until_the_monitor_writes_again(tmp_path: Path) -> None:
    """With no minimum age, the summary is rendered again after a result written through
    the monitor's store, and served as it was while only another process wrote."""
    config = load_config(write_config(tmp_path, CONFIG.format(db=tmp_path / "h.db")), {})
    store, other = open_store(config.storage.url), open_store(config.storage.url)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(store.migrate())
        loop.run_until_complete(store.add_result(result("api", START, "up")))
        with threaded(StatusApp(config, store, lambda: START + 60, max_age=0.0)) as server:
            first = httpx.get(server.base + "/", timeout=5).text
            assert 'id="endpoint-api" data-state="up"' in first
            loop.run_until_complete(other.add_result(result("api", START + 30, "down")))
            assert httpx.get(server.base + "/", timeout=5).text == first
            loop.run_until_complete(store.add_result(result("web", START + 40, "up")))
            page = httpx.get(server.base + "/", timeout=5).text
            assert 'id="endpoint-api" data-state="down"' in page
            assert 'id="endpoint-web" data-state="up"' in page
    finally:
        loop.run_until_complete(store.aclose())
        loop.run_until_complete(other.aclose())
        loop.close()
