"""ElastiCache IAM authentication: the token's form (checked against the SigV4 rules, not
against botocore), its renewal by an injected clock, and redis-py authenticating with it
on a real redis-server whose ACL user has the token as its password."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import redis
from botocore.credentials import Credentials

from mcpfleet.errors import ConfigError, StateUnavailable
from mcpfleet.state import RedisSettings
from mcpfleet.state.base import SessionRecord
from mcpfleet.state.redis import RedisFleetState
from mcpfleet.state.redis_iam import REFRESH_SECONDS, ElastiCacheIamAuth
from tests.fleet.processes import RedisTls
from tests.redis_support import RedisServer, make_tls

pytestmark = pytest.mark.anyio

KEY_ID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION, CACHE, USER = "eu-west-1", "Fleet-Cache", "fleet-user"


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def provider(clock: Clock | None = None, token: str | None = None) -> ElastiCacheIamAuth:
    return ElastiCacheIamAuth(
        CACHE,
        USER,
        region=REGION,
        credentials=Credentials(KEY_ID, SECRET, token),
        clock=clock or Clock(),
    )


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(host: str, query: list[tuple[str, str]], stamp: str) -> str:
    """The SigV4 signature of a presigned GET of ``http://host/?query`` (everything but the
    signature), worked out from the published algorithm."""
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query)
    )
    canonical = "\n".join(
        ["GET", "/", canonical_query, f"host:{host}", "", "host", hashlib.sha256(b"").hexdigest()]
    )
    scope = f"{stamp[:8]}/{REGION}/elasticache/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(f"AWS4{SECRET}".encode(), stamp[:8])
    for part in (REGION, "elasticache", "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_token_is_a_presigned_connect_url_without_its_scheme() -> None:
    """The token is ``<cache name>/?Action=connect&User=<user>`` presigned with SigV4 for
    the elasticache service in the region, valid 900 s, and its signature is the one the
    SigV4 rules give for those parts."""
    token = provider().token()
    assert not token.startswith(("http://", "https://"))
    parts = urlsplit("http://" + token)
    assert parts.hostname == CACHE.lower()
    assert parts.path == "/"
    query = parse_qsl(parts.query, keep_blank_values=True)
    fields = dict(query)
    assert fields["Action"] == "connect"
    assert fields["User"] == USER
    assert fields["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert fields["X-Amz-Expires"] == "900"
    assert fields["X-Amz-SignedHeaders"] == "host"
    stamp = fields["X-Amz-Date"]
    assert fields["X-Amz-Credential"] == f"{KEY_ID}/{stamp[:8]}/{REGION}/elasticache/aws4_request"
    unsigned = [(k, v) for k, v in query if k != "X-Amz-Signature"]
    assert fields["X-Amz-Signature"] == expected_signature(CACHE.lower(), unsigned, stamp)


def test_a_session_token_travels_in_the_query() -> None:
    """Temporary credentials (a task role's) put their session token in the signed query."""
    fields = dict(parse_qsl(urlsplit("http://" + provider(token="role-session").token()).query))
    assert fields["X-Amz-Security-Token"] == "role-session"


def test_the_token_is_kept_then_replaced_before_it_expires() -> None:
    """One token serves every connection for ten minutes; the first connection after that
    gets a new one, well inside the old one's fifteen-minute life."""
    clock = Clock()
    auth = provider(clock)
    assert auth.get_credentials()[0] == USER
    clock.now += REFRESH_SECONDS - 1
    auth.get_credentials()
    assert auth.tokens_made == 1
    clock.now += 1
    auth.get_credentials()
    assert auth.tokens_made == 2
    assert REFRESH_SECONDS < 900


async def test_the_async_path_keeps_and_renews_the_token_too() -> None:
    """redis-py's asyncio connections ask ``get_credentials_async``: the kept token at once,
    a new one (made on a thread) once it is old."""
    clock = Clock()
    auth = provider(clock)
    first = await auth.get_credentials_async()
    assert await auth.get_credentials_async() == first
    clock.now += REFRESH_SECONDS
    await auth.get_credentials_async()
    assert auth.tokens_made == 2


def test_no_region_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without AWS_REGION or AWS_DEFAULT_REGION the provider names what is missing."""
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(ConfigError, match="AWS_REGION"):
        ElastiCacheIamAuth(CACHE, USER, credentials=Credentials(KEY_ID, SECRET))


# -- redis-py authenticating with it ------------------------------------------------------

ADMIN = "admin-password"


@pytest.fixture(scope="module")
def tls_files() -> Iterator[RedisTls]:
    folder = Path(tempfile.mkdtemp(prefix="mcpfleet-tls-"))
    try:
        yield make_tls(folder)[0]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server(tls_files: RedisTls) -> Iterator[RedisServer]:
    """A TLS-only redis-server whose default user has a password only the test knows."""
    running = RedisServer(tls=tls_files, password=ADMIN).start()
    try:
        yield running
    finally:
        running.cleanup()


@pytest.fixture
def admin(server: RedisServer, tls_files: RedisTls) -> Iterator[redis.Redis]:
    client = redis.Redis(
        port=server.port,
        password=ADMIN,
        ssl=True,
        ssl_ca_certs=tls_files.ca,
        socket_timeout=5,
    )
    try:
        yield client
    finally:
        client.execute_command("ACL", "DELUSER", USER)
        client.close()


def set_password(admin: redis.Redis, token: str) -> None:
    """The IAM user's only password becomes ``token``, and its open connections end."""
    admin.execute_command("ACL", "SETUSER", USER, "reset", "on", f">{token}", "~*", "&*", "+@all")
    admin.execute_command("CLIENT", "KILL", "USER", USER)


@pytest.fixture
async def iam_state(
    server: RedisServer, tls_files: RedisTls
) -> AsyncIterator[tuple[RedisFleetState, ElastiCacheIamAuth, Clock]]:
    clock = Clock()
    auth = provider(clock)
    settings = RedisSettings(ca_file=tls_files.ca, username=USER, credential_provider=auth)
    state = RedisFleetState(server.url, connection=settings, cache_seconds=0)
    yield state, auth, clock
    await state.aclose()


async def test_redis_py_authenticates_with_the_token_and_its_successor(
    admin: redis.Redis, iam_state: tuple[RedisFleetState, ElastiCacheIamAuth, Clock]
) -> None:
    """With the ACL user's password set to the token the provider makes, the fleet state
    works over rediss://; ten minutes later (by the clock) the server accepts only the next
    token, and new connections, made with it, work again."""
    state, auth, clock = iam_state
    set_password(admin, auth.get_credentials()[1])
    record = SessionRecord(id="iam-1", protocol_version="2025-11-25")
    await state.create_session(record, max_sessions=10)
    assert await state.get_session("iam-1") is not None

    clock.now += REFRESH_SECONDS
    set_password(admin, auth.get_credentials()[1])  # the successor, made now
    assert auth.tokens_made == 2
    await state.aclose()  # every connection is made anew (as after the 12-hour limit)
    again = RedisFleetState(state.url, connection=state.connector.settings, cache_seconds=0)
    try:
        assert await again.get_session("iam-1") is not None
    finally:
        await again.aclose()
    assert auth.tokens_made == 2


async def test_settings_with_an_iam_cache_make_the_provider(
    monkeypatch: pytest.MonkeyPatch,
    server: RedisServer,
    tls_files: RedisTls,
    admin: redis.Redis,
) -> None:
    """``REDIS_IAM_CACHE`` with a user id makes an ElastiCacheIamAuth for that cache, user
    and the task's region, whose token (signed with the environment's credentials) opens
    the state."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", REGION)
    settings = RedisSettings(ca_file=tls_files.ca, username=USER, iam_cache=CACHE)
    state = RedisFleetState(server.url, connection=settings)
    try:
        auth = state.connector.auth
        assert auth is not None
        assert (auth.cache_name, auth.user_id, auth.region) == (CACHE.lower(), USER, REGION)
        set_password(admin, auth.get_credentials()[1])
        await state.ping()
    finally:
        await state.aclose()


async def test_a_token_the_server_does_not_know_is_refused(
    admin: redis.Redis, iam_state: tuple[RedisFleetState, ElastiCacheIamAuth, Clock]
) -> None:
    """A token the ACL user does not have is refused by the server (the state answers
    StateUnavailable, a 503): redis-py really sends the provider's token."""
    state, _, _ = iam_state
    set_password(admin, "not-the-token")
    with pytest.raises(StateUnavailable):
        await state.get_session("iam-2")
