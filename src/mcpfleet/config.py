"""One ``Config`` behind both the CLI and the Python API.

Values come from keyword arguments, else from the environment, else defaults;
a value that cannot be used raises ``ConfigError`` naming the setting.
``NAME_SECRET_ARN`` variables are first resolved into ``NAME`` from Secrets Manager.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from mcpfleet.errors import ConfigError
from mcpfleet.protocol.request_state import KeyRing
from mcpfleet.secrets import resolve_secrets
from mcpfleet.state.base import SESSION_CACHE_SECONDS

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
# uvicorn's levels, and "notice" (logged as info).
LOG_LEVELS = ("critical", "error", "warning", "notice", "info", "debug", "trace")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# What REQUEST_STATE_KEYS' error tells to run: one key in KeyRing.from_text's form.
MAKE_STATE_KEY = (
    "python -c 'import base64, secrets; "
    'print("k1:" + base64.b64encode(secrets.token_bytes(32)).decode())\''
)


def _int(env: Mapping[str, str], name: str, default: int, low: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if value < low:
        raise ConfigError(f"{name}: must be at least {low}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, zero: bool = False) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
    if value < 0 or (value == 0 and not zero):
        raise ConfigError(f"{name}: must be positive, got {raw!r}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    raw = env.get(name)
    if raw is None:
        return None
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _host_problem(host: str) -> str | None:
    """Why ``host`` is neither an IP address nor a host name (None: it is one of them)."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if host.startswith("["):
        return "write an IPv6 address without brackets"
    labels = host.removesuffix(".").split(".")
    if labels[-1].isdigit():  # no top-level domain is all digits: a mistyped IPv4 address
        return "not a valid IPv4 address"
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "expected an IP address or a host name"
    return None


def _require_shared_keys(state_url: str | None) -> None:
    """Fleet state in Redis means several tasks: each needs the same key ring, or an MRTR
    retry that reaches another task than the one that sealed its state fails."""
    if state_url is None or state_url.startswith("memory:"):
        return
    raise ConfigError(
        "REQUEST_STATE_KEYS: required with REDIS_URL (or --state), so that every task of the "
        "fleet seals MRTR requestState with the same key; make a key with "
        f"{MAKE_STATE_KEY} and give every task the same REQUEST_STATE_KEYS"
    )


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


@dataclass(slots=True)
class Config:
    """Everything a server process needs to know, checked once at start."""

    host: str = "127.0.0.1"
    port: int = 3000
    path: str = "/mcp"
    max_body_bytes: int = 4 * 1024 * 1024
    allowed_origins: tuple[str, ...] | None = None
    allowed_hosts: tuple[str, ...] | None = None
    request_state_keys: KeyRing = field(default_factory=KeyRing.generate)
    request_state_ttl_seconds: int = 600
    keepalive_seconds: float = 15.0
    log_level: str = "info"
    session_ttl_seconds: int = 3600
    # Redis state: how long a task reuses a session record it read (changes anywhere in
    # the fleet evict it at once; at most a tenth of session_ttl_seconds)
    session_cache_seconds: float = SESSION_CACHE_SECONDS
    max_sessions: int = 10_000
    state_url: str | None = None  # redis:// or rediss://: fleet state shared by every task
    drain_delay_seconds: float = 15.0  # after SIGTERM, keep serving while the LB deregisters
    drain_deadline_seconds: float = 45.0  # exit before this, counted from SIGTERM
    metrics_namespace: str = "MCPFleet"
    metrics_service: str | None = None  # the EMF Service dimension; default: the app's name
    metrics_interval_seconds: float = 60.0  # EMF lines on stdout this often; 0 turns them off
    metrics_prometheus: bool = False  # serve Prometheus text at /metrics
    log_calls: bool = False  # one JSON log line per tool call
    # uvicorn's httptools protocol with lighter per-connection queues (LeanHttpToolsProtocol);
    # off: uvicorn's own, unchanged
    lean_http: bool = True
    # -- who may call (mcpfleet.auth) --
    public_url: str | None = None  # the endpoint's public base URL: the OAuth resource
    trusted_proxies: tuple[str, ...] = ()  # X-Forwarded-Host/-Proto are read only from these
    auth_issuer: str | None = None  # bearer tokens: the issuer they must name
    auth_audience: tuple[str, ...] = ()  # accepted audiences (Cognito: app client ids)
    auth_jwks_url: str | None = None  # default: discovered from the issuer's metadata
    auth_preset: str = "oidc"  # oidc, or cognito (client_id and token_use instead of aud)
    auth_algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256")
    auth_leeway_seconds: float = 30.0
    auth_scope_prefix: str | None = None  # stripped from granted scopes (Cognito: "id/")
    auth_servers: tuple[str, ...] = ()  # advertised in resource metadata; default: the issuer
    auth_required_scopes: tuple[str, ...] = ()  # every request needs these (app minimum)
    auth_filter_lists: bool = True  # tools/list shows a caller only what it may call
    rate_limit: str | None = None  # per caller, every request: "600/minute"
    max_sessions_per_principal: int = 100
    call_lease_seconds: float = 10.0  # a running 2025-era call's lease, renewed by its task
    # -- tasks (the 2026-07-28 tasks extension; mcpfleet.server.tasks) --
    task_ttl_seconds: float = 3600.0  # a task's record and result are kept this long
    task_poll_interval_ms: int = 1000  # the poll interval clients are told
    task_lease_seconds: float = 30.0  # a task whose process died is failed after this
    task_max_running_per_principal: int = 20  # running tasks per caller, fleet-wide
    task_max_running_anonymous: int = 1000  # running tasks of all anonymous callers together
    task_max_result_bytes: int = 4 * 1024 * 1024  # a larger result fails its task
    tool_threads: int = 64  # sync handlers running at once per process (they mostly wait)
    # processes serving one port; None: one per available CPU with Redis state, else one
    # (mcpfleet.runner.worker_count)
    workers: int | None = None
    # -- connections (mcpfleet.transport.uvicorn_protocol) --
    header_timeout_seconds: float = 10.0  # a connection's request head must be complete by then
    max_connections: int = 10_000  # open connections per process (lowered to fit ulimit -n)
    # an idle keep-alive connection is closed after this; above any load balancer's idle
    # timeout (ALB: 60 s by default), or the balancer reuses a connection just closed (502)
    http_keepalive_seconds: float = 75.0
    # long-lived streams (GET, subscriptions/listen, and the POST streams of running calls
    # that 2025-11-25 clients can resume) end after this with a retry hint, so clients
    # reconnect through the load balancer; below its deregistration delay; 0: no limit
    stream_max_seconds: float = 0.0
    # -- the fleet state's Redis connection (mcpfleet.state) --
    redis_ca_file: str | None = None  # rediss://: the CA bundle to verify with; default: system's
    redis_username: str | None = None  # an ACL/RBAC user (ElastiCache: the user id with IAM)
    redis_auth_token: str | None = None  # AUTH password/token (REDIS_AUTH_TOKEN_SECRET_ARN)
    redis_iam_cache: str | None = None  # ElastiCache IAM authentication: the cache's name
    redis_cluster: bool = False  # Redis Cluster (ElastiCache cluster mode enabled)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Config:
        """Read the environment (``os.environ`` by default); keyword overrides win.

        Every ``NAME_SECRET_ARN`` variable is resolved first (``mcpfleet.secrets``):
        ``NAME`` is set from Secrets Manager, in ``os.environ`` when reading it, so
        the app sees it too, else in a copy of ``env``.
        """
        resolved = resolve_secrets(os.environ if env is None else env)
        if env is None:
            os.environ.update(resolved)
            env = os.environ
        elif resolved:
            env = {**env, **resolved}
        config = cls(
            host=env.get("HOST", "127.0.0.1"),
            port=_int(env, "PORT", 3000, low=0),
            path=env.get("MCP_PATH", "/mcp"),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 4 * 1024 * 1024, low=1024),
            allowed_origins=_list(env, "ALLOWED_ORIGINS"),
            allowed_hosts=_list(env, "ALLOWED_HOSTS"),
            request_state_ttl_seconds=_int(env, "REQUEST_STATE_TTL_SECONDS", 600, low=1),
            log_level=env.get("LOG_LEVEL", "info").lower(),
            keepalive_seconds=_float(env, "KEEPALIVE_SECONDS", 15.0),
            session_ttl_seconds=_int(env, "SESSION_TTL_SECONDS", 3600, low=1),
            session_cache_seconds=_float(
                env, "SESSION_CACHE_SECONDS", SESSION_CACHE_SECONDS, zero=True
            ),
            max_sessions=_int(env, "MAX_SESSIONS", 10_000, low=1),
            state_url=env.get("REDIS_URL") or None,
            drain_delay_seconds=_float(env, "DRAIN_DELAY_SECONDS", 15.0, zero=True),
            drain_deadline_seconds=_float(env, "DRAIN_DEADLINE_SECONDS", 45.0),
            metrics_namespace=env.get("METRICS_NAMESPACE", "MCPFleet"),
            metrics_service=env.get("METRICS_SERVICE") or None,
            metrics_interval_seconds=_float(env, "METRICS_INTERVAL_SECONDS", 60.0, zero=True),
            metrics_prometheus=env.get("METRICS_PROMETHEUS", "").lower() in ("1", "true", "yes"),
            log_calls=env.get("LOG_CALLS", "").lower() in ("1", "true", "yes"),
            lean_http=env.get("LEAN_HTTP", "1").lower() not in ("0", "false", "no"),
            public_url=(env.get("PUBLIC_URL") or "").rstrip("/") or None,
            trusted_proxies=_list(env, "TRUSTED_PROXIES") or (),
            auth_issuer=env.get("AUTH_ISSUER") or None,
            auth_audience=_list(env, "AUTH_AUDIENCE") or (),
            auth_jwks_url=env.get("AUTH_JWKS_URL") or None,
            auth_preset=env.get("AUTH_PRESET", "oidc").lower(),
            auth_algorithms=_list(env, "AUTH_ALGORITHMS") or ("RS256", "ES256", "PS256"),
            auth_leeway_seconds=_float(env, "AUTH_LEEWAY_SECONDS", 30.0, zero=True),
            auth_scope_prefix=env.get("AUTH_SCOPE_PREFIX") or None,
            auth_servers=_list(env, "AUTH_AUTHORIZATION_SERVERS") or (),
            auth_required_scopes=_list(env, "AUTH_REQUIRED_SCOPES") or (),
            auth_filter_lists=env.get("AUTH_FILTER_LISTS", "1").lower() not in ("0", "false", "no"),
            rate_limit=env.get("RATE_LIMIT") or None,
            max_sessions_per_principal=_int(env, "MAX_SESSIONS_PER_PRINCIPAL", 100, low=1),
            call_lease_seconds=_float(env, "CALL_LEASE_SECONDS", 10.0),
            task_ttl_seconds=_float(env, "TASK_TTL_SECONDS", 3600.0),
            task_poll_interval_ms=_int(env, "TASK_POLL_INTERVAL_MS", 1000, low=1),
            task_lease_seconds=_float(env, "TASK_LEASE_SECONDS", 30.0),
            task_max_running_per_principal=_int(env, "TASK_MAX_RUNNING_PER_PRINCIPAL", 20, low=1),
            task_max_running_anonymous=_int(env, "TASK_MAX_RUNNING_ANONYMOUS", 1000, low=1),
            task_max_result_bytes=_int(env, "TASK_MAX_RESULT_BYTES", 4 * 1024 * 1024, low=1024),
            tool_threads=_int(env, "TOOL_THREADS", 64, low=1),
            workers=_int(env, "WORKERS", 0, low=1) or None,
            header_timeout_seconds=_float(env, "HEADER_TIMEOUT_SECONDS", 10.0),
            max_connections=_int(env, "MAX_CONNECTIONS", 10_000, low=1),
            http_keepalive_seconds=_float(env, "HTTP_KEEPALIVE_SECONDS", 75.0),
            stream_max_seconds=_float(env, "STREAM_MAX_SECONDS", 0.0, zero=True),
            redis_ca_file=env.get("REDIS_CA_FILE") or None,
            redis_username=env.get("REDIS_USERNAME") or None,
            redis_auth_token=env.get("REDIS_AUTH_TOKEN") or None,
            redis_iam_cache=env.get("REDIS_IAM_CACHE") or None,
            redis_cluster=env.get("REDIS_CLUSTER", "").lower() in ("1", "true", "yes"),
        )
        keys = env.get("REQUEST_STATE_KEYS")
        if keys:
            config.request_state_keys = KeyRing.from_text(keys)
        for name, value in overrides.items():
            if value is not None:
                setattr(config, name, value)
        config.validate()
        if not keys and overrides.get("request_state_keys") is None:
            _require_shared_keys(config.state_url)
        return config

    def validate(self) -> None:
        problem = _host_problem(self.host)
        if problem is not None:
            raise ConfigError(f"HOST: {problem}, got {self.host!r}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(
                f"LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        if not self.path.startswith("/"):
            raise ConfigError(f"MCP_PATH: must start with '/', got {self.path!r}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"WORKERS: must be at least 1, got {self.workers}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"PORT: out of range: {self.port}")
        if not 0 <= self.drain_delay_seconds < self.drain_deadline_seconds <= 120:
            raise ConfigError(
                "DRAIN_DELAY_SECONDS and DRAIN_DEADLINE_SECONDS: need 0 <= delay < deadline "
                f"<= 120, got {self.drain_delay_seconds} and {self.drain_deadline_seconds}"
            )
        if self.state_url is not None and not self.state_url.startswith(
            ("redis://", "rediss://", "memory:")
        ):
            raise ConfigError(
                "REDIS_URL: expected redis://host:port/db or rediss:// (TLS), "
                f"got {self.state_url.split('@')[-1]!r}"
            )
        self._validate_redis()
        self._validate_auth()

    def _validate_redis(self) -> None:
        from urllib.parse import parse_qs, urlsplit

        url = self.state_url or ""
        tls = url.startswith("rediss://")
        if self.redis_ca_file is not None and not tls:
            raise ConfigError("REDIS_CA_FILE: only with a rediss:// REDIS_URL (TLS)")
        parts = urlsplit(url)
        weakened = sorted(name for name in parse_qs(parts.query) if name.startswith("ssl_"))
        if weakened:
            raise ConfigError(
                f"REDIS_URL: {', '.join(weakened)} in the URL; TLS certificates are always "
                "verified (set REDIS_CA_FILE for a private CA)"
            )
        if self.redis_auth_token is not None and parts.password is not None:
            raise ConfigError("REDIS_AUTH_TOKEN and a password in REDIS_URL: choose one")
        if self.redis_cluster:
            if not url.startswith(("redis://", "rediss://")):
                raise ConfigError("REDIS_CLUSTER: needs a redis:// or rediss:// REDIS_URL")
            if parts.path.strip("/") not in ("", "0"):
                raise ConfigError(
                    f"REDIS_URL: Redis Cluster has database 0 only, got {parts.path!r}"
                )
        if self.redis_iam_cache is not None:
            if self.redis_auth_token is not None:
                raise ConfigError(
                    "REDIS_IAM_CACHE and REDIS_AUTH_TOKEN: choose one (IAM authentication "
                    "makes its own short-lived tokens)"
                )
            if not (tls and self.redis_username):
                raise ConfigError(
                    "REDIS_IAM_CACHE: ElastiCache IAM authentication needs a rediss:// "
                    "REDIS_URL and REDIS_USERNAME (the cache user's id)"
                )

    def _validate_auth(self) -> None:
        if self.auth_preset not in ("oidc", "cognito"):
            raise ConfigError(f"AUTH_PRESET: expected oidc or cognito, got {self.auth_preset!r}")
        if self.auth_issuer is not None:
            if not self.auth_issuer.startswith(("https://", "http://")):
                raise ConfigError(
                    f"AUTH_ISSUER: expected an https:// URL, got {self.auth_issuer!r}"
                )
            if not self.auth_audience and self.public_url is None:
                raise ConfigError(
                    "AUTH_AUDIENCE: required with AUTH_ISSUER (or set PUBLIC_URL, whose "
                    "endpoint URL is then the audience)"
                )
        if self.public_url is not None and not self.public_url.startswith(("https://", "http://")):
            raise ConfigError(f"PUBLIC_URL: expected an https:// URL, got {self.public_url!r}")
        unsafe = [alg for alg in self.auth_algorithms if alg.lower() == "none" or alg[:2] == "HS"]
        if unsafe:
            raise ConfigError(
                f"AUTH_ALGORITHMS: {', '.join(unsafe)} cannot verify a token from an issuer's "
                "public keys; use RS256, ES256, PS256 or EdDSA"
            )
        if self.rate_limit is not None:
            from mcpfleet.auth.limits import parse_rate

            try:
                parse_rate(self.rate_limit)
            except ValueError as exc:
                raise ConfigError(f"RATE_LIMIT: {exc}") from None

    @property
    def resource_url(self) -> str | None:
        """The endpoint's canonical URL (RFC 8707 resource), when ``PUBLIC_URL`` is set."""
        return None if self.public_url is None else self.public_url + self.path

    def origin_allowed(self, origin: str) -> bool:
        """Whether a present ``Origin`` header may call the endpoint."""
        if self.allowed_origins is not None:
            return origin in self.allowed_origins or "*" in self.allowed_origins
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme not in ("http", "https"):
            return False
        return _hostname(rest) in LOOPBACK_HOSTS and is_loopback(self.host)

    def host_allowed(self, host_header: str | None) -> bool:
        """Whether the ``Host`` header names this server (DNS rebinding guard)."""
        if self.allowed_hosts is not None:
            if "*" in self.allowed_hosts:
                return True
            return host_header is not None and (
                host_header in self.allowed_hosts or _hostname(host_header) in self.allowed_hosts
            )
        if not is_loopback(self.host):
            return True
        return host_header is not None and _hostname(host_header) in LOOPBACK_HOSTS


def _hostname(authority: str) -> str:
    authority = authority.lower()
    if authority.startswith("["):
        return authority[: authority.find("]") + 1] if "]" in authority else authority
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority
