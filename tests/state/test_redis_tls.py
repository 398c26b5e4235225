"""``rediss://`` always verifies the server: its certificate must chain to REDIS_CA_FILE
(else to the system's CAs) and name the host; any other certificate is a 503 with
Retry-After at request time and an error naming REDIS_CA_FILE in the log, at start too.
A URL or settings that would weaken this are refused at start."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mcpfleet.config import Config
from mcpfleet.errors import ConfigError, StateCertificateRejected
from mcpfleet.state import RedisSettings, open_state
from mcpfleet.state.base import SessionRecord
from mcpfleet.state.redis import RedisFleetState
from mcpfleet.state.redis_connect import RedisConnector
from tests.fleet.processes import RedisTls
from tests.probe.certs import CertAuthority
from tests.redis_support import RedisServer, make_tls

pytestmark = pytest.mark.anyio

TOKEN = "fleet-auth-token"


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mcpfleet-tls-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def tls(folder: Path) -> tuple[RedisTls, str]:
    return make_tls(folder / "good")


@pytest.fixture(scope="module")
def server(tls: tuple[RedisTls, str]) -> Iterator[RedisServer]:
    """A redis-server speaking TLS only, with an AUTH token (requirepass)."""
    running = RedisServer(tls=tls[0], password=TOKEN).start()
    try:
        yield running
    finally:
        running.cleanup()


@pytest.fixture
async def closing() -> AsyncIterator[list[RedisFleetState]]:
    states: list[RedisFleetState] = []
    yield states
    for state in states:
        await state.aclose()


def record(session_id: str) -> SessionRecord:
    return SessionRecord(id=session_id, protocol_version="2025-11-25")


async def test_the_right_ca_and_token_serve(
    server: RedisServer, tls: tuple[RedisTls, str], closing: list[RedisFleetState]
) -> None:
    """With the test CA as REDIS_CA_FILE and the AUTH token, open_state's Redis state
    stores and reads a session over rediss://."""
    settings = RedisSettings(ca_file=tls[0].ca, auth_token=TOKEN)
    state = open_state(server.url, session_ttl_seconds=60, connection=settings)
    assert isinstance(state, RedisFleetState)
    closing.append(state)
    await state.create_session(record("tls-1"), max_sessions=10)
    found = await state.get_session("tls-1")
    assert found is not None
    assert found.id == "tls-1"


async def rejected(state: RedisFleetState, caplog: pytest.LogCaptureFixture) -> None:
    """A call is refused with StateCertificateRejected (a StateUnavailable: 503 with
    Retry-After), the log names REDIS_CA_FILE, and the circuit stays closed."""
    with (
        caplog.at_level(logging.ERROR, "mcpfleet.state"),
        pytest.raises(StateCertificateRejected) as refused,
    ):
        await state.get_session("tls-x")
    assert refused.value.retry_after >= 1
    assert "TLS certificate does not verify" in caplog.text
    assert "REDIS_CA_FILE" in caplog.text
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert not state.circuit.is_open


async def test_a_wrong_ca_is_refused_with_a_clear_error(
    server: RedisServer,
    tls: tuple[RedisTls, str],
    closing: list[RedisFleetState],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A REDIS_CA_FILE that did not issue the server's certificate: refused, with an
    error that says so."""
    closing.append(
        state := RedisFleetState(
            server.url, connection=RedisSettings(ca_file=tls[1], auth_token=TOKEN)
        )
    )
    await rejected(state, caplog)


async def test_verification_is_on_without_a_ca_file(
    server: RedisServer, closing: list[RedisFleetState], caplog: pytest.LogCaptureFixture
) -> None:
    """Without REDIS_CA_FILE the system's CAs decide, and they do not know the test CA."""
    closing.append(state := RedisFleetState(server.url, connection=RedisSettings(auth_token=TOKEN)))
    await rejected(state, caplog)


async def test_a_certificate_for_another_host_is_refused(
    folder: Path, closing: list[RedisFleetState], caplog: pytest.LogCaptureFixture
) -> None:
    """A certificate from the right CA but for another host name is refused: the host is
    checked, not only the chain."""
    (folder / "other").mkdir(exist_ok=True)
    authority = CertAuthority(folder / "other")
    cert, key = authority.issue("redis", host="cache.example")
    other = RedisServer(tls=RedisTls(cert, key, str(authority.path))).start()
    try:
        closing.append(
            state := RedisFleetState(
                other.url, connection=RedisSettings(ca_file=str(authority.path))
            )
        )
        await rejected(state, caplog)
    finally:
        other.cleanup()


async def test_the_listener_says_so_at_start(
    server: RedisServer,
    tls: tuple[RedisTls, str],
    closing: list[RedisFleetState],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The pub/sub listener (started when the app starts) logs the certificate error on
    its first attempt, before any request."""
    closing.append(
        state := RedisFleetState(
            server.url, connection=RedisSettings(ca_file=tls[1], auth_token=TOKEN)
        )
    )
    with caplog.at_level(logging.ERROR, "mcpfleet.state"):
        state.subscribe("news", lambda message: None)
        for _ in range(250):
            if "TLS certificate does not verify" in caplog.text:
                break
            await asyncio.sleep(0.02)
    assert "TLS certificate does not verify" in caplog.text
    assert "REDIS_CA_FILE" in caplog.text


@pytest.mark.parametrize(
    ("url", "settings", "named"),
    [
        ("rediss://h:6379/0?ssl_cert_reqs=none", RedisSettings(), "ssl_cert_reqs"),
        ("rediss://h:6379/0?ssl_check_hostname=false", RedisSettings(), "ssl_check_hostname"),
        ("redis://h:6379/0", RedisSettings(ca_file="/ca.pem"), "REDIS_CA_FILE"),
        ("rediss://:pw@h:6379/0", RedisSettings(auth_token="t"), "REDIS_AUTH_TOKEN"),
        ("rediss://h:6379/0", RedisSettings(iam_cache="c"), "REDIS_USERNAME"),
    ],
)
def test_settings_that_would_weaken_tls_or_clash_are_refused(
    url: str, settings: RedisSettings, named: str
) -> None:
    """A URL that turns verification off, a CA without TLS, two passwords, or IAM without
    a user id: a ConfigError naming the setting, before any connection."""
    with pytest.raises(ConfigError, match=named):
        RedisConnector(url, settings)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"REDIS_URL": "rediss://h:6379/0?ssl_cert_reqs=none"}, "ssl_cert_reqs"),
        ({"REDIS_URL": "rediss://:pw@h:6379/0", "REDIS_AUTH_TOKEN": "t"}, "REDIS_AUTH_TOKEN"),
        ({"REDIS_CLUSTER": "1"}, "REDIS_CLUSTER"),
        ({"REDIS_URL": "redis://h:6379/3", "REDIS_CLUSTER": "1"}, "database 0"),
    ],
)
def test_config_refuses_them_at_start(env: dict[str, str], named: str) -> None:
    """The same mistakes in the environment stop ``Config.from_env`` with the setting's
    name (so ``mcpfleet serve`` never starts with them)."""
    with pytest.raises(ConfigError, match=named):
        Config.from_env({"REQUEST_STATE_KEYS": "", **env})


def test_settings_come_from_the_config() -> None:
    """RedisSettings.from_config carries every REDIS_* connection setting."""
    config = Config.from_env(
        {
            "REDIS_URL": "rediss://cache:6379/0",
            "REDIS_CA_FILE": "/ca.pem",
            "REDIS_USERNAME": "u",
            "REDIS_AUTH_TOKEN": "t",
            "REDIS_CLUSTER": "1",
            "REQUEST_STATE_KEYS": "k:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY=",
        }
    )
    assert RedisSettings.from_config(config) == RedisSettings(
        ca_file="/ca.pem", username="u", auth_token="t", cluster=True
    )


async def test_closing_right_after_the_listener_started_never_hangs(
    server: RedisServer, tls: tuple[RedisTls, str]
) -> None:
    """Thirty states, each closed just after its listener subscribed over TLS, all close
    within a few seconds (a read timing out as it is cancelled can swallow a cancellation:
    closing cancels again until the listener ends)."""
    settings = RedisSettings(ca_file=tls[0].ca, auth_token=TOKEN)
    for index in range(30):
        state = RedisFleetState(server.url, connection=settings)
        await state.create_session(record(f"close-{index}"), max_sessions=100)
        await state.get_session(f"close-{index}")  # starts the listener
        await asyncio.wait_for(state.aclose(), 5)
