"""Fixtures the state tests share: the asyncio backend, and a redis-server of the module's
own (never the machine's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_support import RedisServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """The URL of a redis-server started for the module and removed after it."""
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.cleanup()
