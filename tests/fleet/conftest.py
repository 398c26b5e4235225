"""Fixtures for fleet tests: a redis-server of the test's own (never the machine's), tasks of
``mcpfleet serve`` sharing it, and HAProxy balancing them round robin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.fleet.processes import (
    DEFAULT_APP,
    Fleet,
    RedisServer,
    fleet_running,
    redis_running,
)

MakeRedis = Callable[..., RedisServer]
MakeFleet = Callable[..., Fleet]


@pytest.fixture
def make_redis(tmp_path: Path) -> Iterator[MakeRedis]:
    """``make_redis(persistent=False)`` starts a redis-server; all are killed after the test."""
    with ExitStack() as stack:
        count = 0

        def make(*, persistent: bool = False) -> RedisServer:
            nonlocal count
            count += 1
            directory = tmp_path / f"redis{count}"
            return stack.enter_context(redis_running(directory, persistent=persistent))

        yield make


@pytest.fixture
def redis_server(make_redis: MakeRedis) -> RedisServer:
    """A redis-server on a free port without persistence; ``stop()``, ``start()``, ``url``."""
    return make_redis()


@pytest.fixture
def make_fleet(tmp_path: Path) -> Iterator[MakeFleet]:
    """``make_fleet(tasks=3, app=..., redis=RedisServer | None, env=None, check_path=...)``
    starts a fleet behind HAProxy (whose health check GETs ``check_path``, ``/healthz`` by
    default); everything it started is stopped after the test."""
    with ExitStack() as stack:
        count = 0

        def make(*, tasks: int = 3, app: str = DEFAULT_APP, redis: RedisServer | None = None,
                 env: dict[str, str] | None = None, check_path: str = "/healthz") -> Fleet:
            nonlocal count
            count += 1
            return stack.enter_context(fleet_running(
                tmp_path / f"fleet{count}", tasks=tasks, app=app,
                redis_url=None if redis is None else redis.url, env=env,
                check_path=check_path))

        yield make


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Three tasks of ``tests.fleet.app:app`` on one Redis, behind HAProxy, shared by the tests
    of a module that neither kill tasks nor stop Redis."""
    directory = tmp_path_factory.mktemp("fleet")
    with redis_running(directory / "redis") as redis, fleet_running(
            directory / "fleet", tasks=3, redis_url=redis.url) as running:
        yield running
