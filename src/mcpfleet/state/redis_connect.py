"""The one place where the fleet state's Redis clients are made from the settings.

    RedisSettings    (``redis_settings``) what the config says of the connection: TLS CA,
                     user, AUTH token, ElastiCache IAM authentication, Redis Cluster
    RedisConnector   makes every client of one state (commands, blocking reads, the
                     probe, pub/sub) for a URL and its settings

``rediss://`` always verifies the server: its certificate must chain to
``REDIS_CA_FILE`` (else to the system's CAs) and name the URL's host; a URL that tries
to turn that off (``?ssl_cert_reqs=none``) is refused, as is a second password. With
``redis_iam_cache`` the password is an ElastiCache IAM token, made and renewed by
``redis_iam.ElastiCacheIamAuth`` on each new connection. With ``redis_cluster`` the
clients are ``RedisCluster`` clients; pub/sub then listens on one node at a time
(Redis Cluster delivers a PUBLISH to every node), see ``node_client``.

Without settings (``None``) the clients are made exactly as before they existed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, TypeAlias
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from mcpfleet.errors import ConfigError
from mcpfleet.state.redis_faults import CAUGHT
from mcpfleet.state.redis_iam import ElastiCacheIamAuth
from mcpfleet.state.redis_settings import RedisSettings

Client: TypeAlias = "aioredis.Redis | RedisCluster"

# A cluster command that meets a moving or failing slot is retried this often (redis-py
# refreshes its map of the cluster in between) before the failure reaches the request
# as a 503: a failover takes seconds, a request should not wait them out.
# Connections one client may open at once. redis-py's own default (100) would turn the
# 101st concurrent command into an error, and so a busy task's requests into 503s although
# Redis is fine; commands in flight are bounded by the requests in flight (MAX_CONNECTIONS).
POOL_CONNECTIONS = 10_000
CLUSTER_RETRIES = 2

# Query options of a URL that would weaken or replace what the settings decide.
_GUARDED = ("ssl_cert_reqs", "ssl_check_hostname", "ssl_ca_certs", "ssl_ca_data", "ssl_ca_path")


def url_problem(url: str) -> str | None:
    """What is wrong with a Redis URL given these settings' rules, or None."""
    parts = urlsplit(url)
    guarded = sorted(set(parse_qs(parts.query)) & set(_GUARDED))
    if guarded:
        return (
            f"{', '.join(guarded)} in the URL: certificate verification is always on "
            "(set REDIS_CA_FILE for a private CA)"
        )
    return None


class RedisConnector:
    """Makes the clients of one fleet state, all alike but for their timeouts."""

    def __init__(self, url: str, settings: RedisSettings | None = None) -> None:
        self.url = url
        self.settings = settings
        self.cluster = settings is not None and settings.cluster
        self.auth: ElastiCacheIamAuth | None = None
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 6379
        self._options = {} if settings is None else self._settings_options(url, settings)

    @property
    def where(self) -> str:
        """Host and port, for the log (never the password)."""
        return f"{self.host}:{self.port}"

    def _settings_options(self, url: str, settings: RedisSettings) -> dict[str, Any]:
        problem = url_problem(url)
        if problem is not None:
            raise ConfigError(f"REDIS_URL: {problem}")
        options: dict[str, Any] = {}
        if url.startswith("rediss://"):
            options.update(ssl_cert_reqs="required", ssl_check_hostname=True)
            if settings.ca_file is not None:
                options["ssl_ca_certs"] = settings.ca_file
        elif settings.ca_file is not None:
            raise ConfigError("REDIS_CA_FILE: only with a rediss:// REDIS_URL (TLS)")
        has_password = urlsplit(url).password is not None
        if settings.credential_provider is not None:
            if isinstance(settings.credential_provider, ElastiCacheIamAuth):
                self.auth = settings.credential_provider
            options["credential_provider"] = settings.credential_provider
        elif settings.iam_cache is not None:
            if settings.username is None or has_password or settings.auth_token is not None:
                raise ConfigError(
                    "REDIS_IAM_CACHE: needs REDIS_USERNAME (the user id) and no password"
                )
            self.auth = ElastiCacheIamAuth(
                settings.iam_cache, settings.username, region=settings.region
            )
            options["credential_provider"] = self.auth
        else:
            if settings.auth_token is not None:
                if has_password:
                    raise ConfigError("REDIS_AUTH_TOKEN and a password in REDIS_URL: choose one")
                options["password"] = settings.auth_token
            if settings.username is not None:
                options["username"] = settings.username
        return options

    def client(
        self,
        *,
        socket_timeout: float | None,
        socket_connect_timeout: float | None = None,
        health_check_interval: float = 0,
    ) -> Client:
        """A client with these timeouts (``socket_timeout=None``: blocking reads)."""
        options: dict[str, Any] = {**self._options, "socket_timeout": socket_timeout}
        if socket_connect_timeout is not None:
            options["socket_connect_timeout"] = socket_connect_timeout
        if health_check_interval:
            options["health_check_interval"] = health_check_interval
        if self.cluster:
            retry = Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), CLUSTER_RETRIES)
            return RedisCluster.from_url(self.url, retry=retry, **options)
        return aioredis.from_url(self.url, max_connections=POOL_CONNECTIONS, **options)

    def node_client(
        self, host: str, port: int, *, socket_timeout: float | None, socket_connect_timeout: float
    ) -> aioredis.Redis:
        """A plain client of one node of a cluster, with the same TLS and credentials."""
        options: dict[str, Any] = {
            **self._options,
            "host": host,
            "port": port,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_connect_timeout,
        }
        if self.url.startswith("rediss://"):
            options["ssl"] = True
        credentials = urlsplit(self.url)
        if credentials.password is not None and "password" not in options:
            options["password"] = unquote(credentials.password)
            if credentials.username:
                options["username"] = unquote(credentials.username)
        return aioredis.Redis(**options)


async def ping_serving(client: Client) -> None:
    """PING the server, or on a cluster every primary (those serve the slots)."""
    if isinstance(client, RedisCluster):
        await client.ping(target_nodes=RedisCluster.PRIMARIES)
    else:
        await client.ping()


class ClusterListening:
    """Where a cluster's pub/sub listener connects: each time the next node in turn, as
    ``topology`` (a cluster client with short timeouts) knows the nodes, through a plain
    client of that node's own (kept, and closed by ``aclose``)."""

    def __init__(self, connector: RedisConnector, topology: RedisCluster, timeout: float) -> None:
        self.connector = connector
        self.topology = topology
        self.timeout = timeout
        self.turn = 0
        self.clients: dict[tuple[str, int], aioredis.Redis] = {}

    async def nodes(self) -> list[tuple[str, int]]:
        """The cluster's nodes, primaries first, learnt first if they are not known yet."""
        if not self.topology.get_nodes():
            await asyncio.wait_for(self.topology.initialize(), self.timeout)
        primaries = [(node.host, int(node.port)) for node in self.topology.get_primaries()]
        replicas = [(node.host, int(node.port)) for node in self.topology.get_replicas()]
        return primaries + [node for node in replicas if node not in primaries]

    async def connect(self) -> tuple[aioredis.Redis, str]:
        nodes = await self.nodes()
        host, port = nodes[self.turn % len(nodes)]
        self.turn += 1
        client = self.clients.get((host, port))
        if client is None:
            client = self.connector.node_client(
                host, port, socket_timeout=None, socket_connect_timeout=self.timeout
            )
            self.clients[host, port] = client
        return client, f"{host}:{port}"

    async def aclose(self) -> None:
        clients, self.clients = list(self.clients.values()), {}
        for client in clients:
            with contextlib.suppress(*CAUGHT):
                await client.aclose()
