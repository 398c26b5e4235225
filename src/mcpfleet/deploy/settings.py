"""How the app runs, as the deployment must know it, and the relations between the numbers.

Each relation is a way a hand-written deployment goes subtly wrong. ECS stops a task in
this order: it takes the task out of the target group, waits out the deregistration
delay while the load balancer lets requests already sent finish, and only then sends
SIGTERM; ``stopTimeout`` seconds later it sends SIGKILL. So:

- ``stream max < deregistration delay``: a long-lived stream (a GET stream, a
  ``subscriptions/listen`` stream, a POST stream held open) ends itself with a ``retry``
  hint before the load balancer cuts it, and the client reconnects to a registered task;
- ``DRAIN_DELAY_SECONDS = 0`` on ECS: by SIGTERM the task has long been out of the load
  balancer, so a further wait serves no one;
- ``drain deadline < stopTimeout <= 120``: what is left after SIGTERM ends before SIGKILL;
- ``ALB idle timeout > SSE keep-alive interval``: idle streams stay open;
- ``HTTP keep-alive > ALB idle timeout``: the load balancer, not the server, closes an idle
  connection, so it never reuses one the server has just closed (a 502);
- App Runner cuts a request at 120 s: ``stream max < 120``.

The target group asks readiness, which stays 200 through a fleet-state outage (503 only
while draining), so an outage of Redis does not make ECS replace every task at once.

Who may call is part of it too (``check_access``): an OAuth issuer needs an audience,
``--public`` contradicts ``--auth``, a public URL is an https:// origin, and a Lambda
Function URL takes no AWS WAF web ACL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mcpfleet.errors import CommandError

Target = Literal["ecs-fargate", "ecs-express", "apprunner", "lambda"]
TARGETS: tuple[Target, ...] = ("ecs-fargate", "ecs-express", "apprunner", "lambda")
State = Literal["memory", "redis"]
ScaleOn = Literal["requests", "sessions"]
Auth = Literal["cognito", "jwt"]
Arch = Literal["arm64", "x86_64"]
ARCHS: tuple[Arch, ...] = ("arm64", "x86_64")
RedisAuth = Literal["token", "iam"]
InvokeMode = Literal["RESPONSE_STREAM", "BUFFERED"]
AUTHS: tuple[Auth, ...] = ("cognito", "jwt")
# The transport's health paths, written here so that rendering never imports the transport
# (tests/deploy/test_relations.py checks that the two agree).
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
PUBLIC_URL_PATTERN = r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"  # an origin: no path, no slash
MAX_STOP_TIMEOUT = 120  # ECS's ceiling for a Fargate container's stopTimeout
MAX_IDLE_TIMEOUT = 4000  # the ALB's ceiling for its idle timeout
MAX_DEREGISTRATION_DELAY = 3600  # the ALB's ceiling for a target group's deregistration delay
APPRUNNER_REQUEST_LIMIT = 120  # App Runner ends any request after this many seconds
APPRUNNER_STREAM_MAX = 100  # a stream's lifetime there: under the request limit, with margin
APPRUNNER_DRAIN_DELAY = 15  # App Runner may still route to an instance after SIGTERM
DEFAULT_SHARDS = 3
MAX_CACHE_NODES = 10  # every node is watched by one alarm, which reads at most 10 metrics
ECS_TARGETS = ("ecs-fargate", "ecs-express")
OTEL_COLLECTOR_CPU = 64  # CPU units reserved for the --otel collector sidecar
OTEL_COLLECTOR_MEMORY = 128  # MiB reserved for it (a soft reservation)
OTEL_TARGETS = ("ecs-fargate",)  # where a sidecar can run: a task definition of our own
FARGATE_SIZES = {
    256: (512, 1024, 2048),
    512: (1024, 2048, 3072, 4096),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}


class SettingsError(CommandError, ValueError):
    """Settings that contradict each other; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything about the running app that the rendered deployment depends on."""

    target: Target = "ecs-fargate"
    state: State = "redis"
    name: str = "mcp"  # the metrics' Service dimension
    app: str = ""  # MODULE:APP, for the Lambda handler
    port: int = 3000
    path: str = "/mcp"
    cpu: int = 512
    memory: int = 1024
    keepalive_seconds: int = 15  # SSE comments on idle streams
    deregistration_delay: int = 75  # the target group's; ECS waits it out before SIGTERM
    stream_max: int | None = None  # a long-lived stream's lifetime; None: derived
    drain_delay: int | None = None  # wait after SIGTERM; None: 0 on ECS
    drain_deadline_seconds: int = 40
    stop_timeout_seconds: int = 60
    idle_timeout_seconds: int = 120
    http_keepalive: int | None = None  # the server's idle keep-alive; None: derived
    stickiness_seconds: int = 3600
    scale_on: ScaleOn = "requests"
    log_retention_days: int = 30
    metrics_namespace: str = "MCPFleet"
    liveness_path: str = LIVENESS_PATH
    readiness_path: str = READINESS_PATH
    # -- who may call (see access.py): an identity provider, or exposed on purpose
    auth: Auth | None = None
    issuer: str | None = None  # --auth jwt: the token issuer
    audience: tuple[str, ...] = ()  # --auth jwt: accepted audiences
    jwks_url: str | None = None  # --auth jwt: where the issuer's keys are, if not discovered
    public_url: str | None = None  # the endpoint's base URL; None: a template parameter
    public: bool = False  # render an internet-facing endpoint without authentication
    waf: bool = False  # put an AWS WAF web ACL in front
    # -- how it runs
    arch: Arch | None = None  # None: arm64 (Graviton) where it can be chosen, else x86_64
    ecs_exec: bool = False  # ECS Exec into the tasks (needs a writable root filesystem)
    redis_auth: RedisAuth = "token"  # an AUTH token from Secrets Manager, or IAM
    redis_cluster: bool = False  # ElastiCache cluster mode: writes spread over shards
    redis_shards: int | None = None  # with --redis-cluster; None: 3
    domain: str | None = None  # a DNS name for the ALB (Route 53 alias), or a parameter
    hosted_zone_id: str | None = None
    invoke_mode: InvokeMode = "RESPONSE_STREAM"  # Lambda Function URL
    otel: bool = False  # traces to X-Ray through a collector sidecar (ecs-fargate)

    @property
    def ecs(self) -> bool:
        return self.target in ECS_TARGETS

    @property
    def deregistration_delay_seconds(self) -> int:
        return self.deregistration_delay

    @property
    def stream_max_seconds(self) -> int:
        """A long-lived stream's lifetime: below the deregistration delay with a margin
        (a fifth of it, at least 10 s), so the load balancer never cuts a stream."""
        if self.stream_max is not None:
            return self.stream_max
        if self.target == "apprunner":
            return APPRUNNER_STREAM_MAX
        return self.deregistration_delay - max(10, self.deregistration_delay // 5)

    @property
    def drain_delay_seconds(self) -> int:
        if self.drain_delay is not None:
            return self.drain_delay
        return APPRUNNER_DRAIN_DELAY if self.target == "apprunner" else 0

    @property
    def http_keepalive_seconds(self) -> int:
        """The server's keep-alive timeout: above the ALB idle timeout, so the ALB closes
        idle connections first."""
        if self.http_keepalive is not None:
            return self.http_keepalive
        return self.idle_timeout_seconds + 5

    @property
    def architecture(self) -> Arch:
        if self.arch is not None:
            return self.arch
        return "arm64" if self.target in ("ecs-fargate", "lambda") else "x86_64"

    @property
    def shards(self) -> int:
        return DEFAULT_SHARDS if self.redis_shards is None else self.redis_shards

    @property
    def cache_nodes(self) -> int:
        """Every node of the cache: a primary and a replica per shard."""
        return self.shards * 2 if self.redis_cluster else 2

    def check(self) -> None:
        """Refuse settings whose relations do not hold."""
        self.check_drain()
        self.check_keepalive()
        fargate = self.target in ECS_TARGETS
        if fargate and self.memory not in FARGATE_SIZES.get(self.cpu, ()):
            raise SettingsError(f"Fargate has no task size cpu={self.cpu} memory={self.memory}")
        if not 1 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is out of range")
        self.check_platform()
        self.check_otel()
        self.check_cache()
        self.check_access()

    def check_drain(self) -> None:
        """The ECS drain contract: streams end before the deregistration delay runs out,
        nothing waits after SIGTERM, and the drain ends before SIGKILL."""
        dereg, stream = self.deregistration_delay, self.stream_max_seconds
        if not 0 <= dereg <= MAX_DEREGISTRATION_DELAY:
            raise SettingsError(
                f"deregistration delay {dereg} s: the ALB takes 0 to {MAX_DEREGISTRATION_DELAY} s"
            )
        if stream < 1:
            raise SettingsError(
                f"deregistration delay {dereg} s leaves no time for a stream to live and end "
                "itself before the load balancer cuts it: give at least 15 s"
            )
        if self.ecs and self.drain_delay_seconds != 0:
            raise SettingsError(
                f"drain delay {self.drain_delay_seconds} s: ECS takes the task out of the load "
                "balancer and waits the deregistration delay before it sends SIGTERM, so a "
                "wait after SIGTERM serves no one and only eats stopTimeout: leave it at 0 and "
                "lengthen --deregistration-delay instead"
            )
        if self.target == "ecs-fargate" and not stream < dereg:
            raise SettingsError(
                f"stream max {stream} s must be below the deregistration delay {dereg} s: "
                "otherwise the load balancer cuts open streams before they end themselves "
                "with a retry hint"
            )
        if self.target == "apprunner" and not stream < APPRUNNER_REQUEST_LIMIT:
            raise SettingsError(
                f"stream max {stream} s must be below App Runner's {APPRUNNER_REQUEST_LIMIT} s "
                "request limit: otherwise App Runner cuts the stream instead"
            )
        deadline, stop = self.drain_deadline_seconds, self.stop_timeout_seconds
        if not deadline < stop <= MAX_STOP_TIMEOUT:
            raise SettingsError(
                f"stopTimeout {stop} s must exceed the drain deadline {deadline} s and be at "
                f"most {MAX_STOP_TIMEOUT} s: otherwise ECS kills the task (SIGKILL) mid-drain"
            )

    def check_keepalive(self) -> None:
        """Idle streams outlive the ALB idle timeout; idle connections are closed by the ALB."""
        idle = self.idle_timeout_seconds
        if not 1 <= idle <= MAX_IDLE_TIMEOUT:
            raise SettingsError(f"ALB idle timeout {idle} s: the ALB takes 1 to 4000 s")
        if not idle > self.keepalive_seconds:
            raise SettingsError(
                f"ALB idle timeout {idle} s must exceed the SSE keep-alive "
                f"interval {self.keepalive_seconds} s: otherwise idle streams are cut"
            )
        if not self.http_keepalive_seconds > idle:
            raise SettingsError(
                f"HTTP keep-alive {self.http_keepalive_seconds} s must exceed the ALB idle "
                f"timeout {idle} s: otherwise the server closes idle connections the ALB is "
                "about to reuse, and clients get 502"
            )

    def check_platform(self) -> None:
        if self.target in ("apprunner", "ecs-express") and self.architecture != "x86_64":
            raise SettingsError(
                f"--arch arm64: {self.target} takes no CPU architecture setting and runs "
                "x86_64 images; build the image for x86_64"
            )
        if self.ecs_exec and self.target != "ecs-fargate":
            raise SettingsError("--exec: ECS Exec is rendered for ecs-fargate only")
        if (self.domain is None) != (self.hosted_zone_id is None):
            raise SettingsError("--domain and --hosted-zone-id go together (a Route 53 alias)")
        if self.domain is not None and self.target != "ecs-fargate":
            raise SettingsError("--domain: the Route 53 alias is rendered for ecs-fargate only")
        named = f"https://{self.domain}"
        if self.domain is not None and self.public_url not in (None, named):
            raise SettingsError(
                f"--public-url {self.public_url} is not --domain's {named}: clients reach the "
                "endpoint by the name on the certificate, so the two must agree"
            )
        if self.invoke_mode != "RESPONSE_STREAM" and self.target != "lambda":
            raise SettingsError("--invoke-mode: only for --target lambda")

    def check_otel(self) -> None:
        """The collector runs beside the app in a task definition of our own. Its
        reservation (``OTEL_COLLECTOR_*``) is at most a quarter of the smallest Fargate
        task, so every size leaves the app the rest (tests/deploy/test_otel.py)."""
        if self.otel and self.target not in OTEL_TARGETS:
            raise SettingsError(
                f"--otel: {self.target} runs one container per instance, with no room for "
                "the OpenTelemetry collector beside the app; render --target ecs-fargate "
                "for traces to X-Ray, or point OTEL_EXPORTER_OTLP_ENDPOINT at a collector "
                "of your own"
            )

    def check_cache(self) -> None:
        redis_only = self.redis_cluster or self.redis_auth != "token"
        if self.state != "redis" and redis_only:
            raise SettingsError("--redis-cluster and --redis-auth: only with --state redis")
        if self.redis_shards is not None and not self.redis_cluster:
            raise SettingsError("--redis-shards: only with --redis-cluster (cluster mode)")
        if self.redis_cluster and not 2 <= self.cache_nodes <= MAX_CACHE_NODES:
            raise SettingsError(
                f"--redis-shards {self.redis_shards}: 1 to {MAX_CACHE_NODES // 2} (each shard "
                f"has a primary and a replica; the cache alarms watch every node, and a "
                f"CloudWatch alarm reads at most {MAX_CACHE_NODES} metrics)"
            )

    def check_access(self) -> None:
        """Refuse authentication options that contradict each other or are incomplete."""
        if self.auth is not None and self.public:
            raise SettingsError(
                f"--public renders the endpoint without authentication; with --auth "
                f"{self.auth} it is not public: drop --public"
            )
        jwt_only = {
            "--issuer": self.issuer,
            "--audience": self.audience,
            "--jwks-url": self.jwks_url,
        }
        if self.auth != "jwt" and any(jwt_only.values()):
            given = ", ".join(name for name, value in jwt_only.items() if value)
            raise SettingsError(f"{given}: only with --auth jwt (an existing identity provider)")
        if self.auth == "jwt" and not (self.issuer and self.audience):
            raise SettingsError(
                "--auth jwt needs --issuer URL and --audience AUD (the audience the "
                "identity provider puts in tokens meant for this server)"
            )
        for name, url in (("--issuer", self.issuer), ("--jwks-url", self.jwks_url)):
            if url is not None and not url.startswith("https://"):
                raise SettingsError(f"{name}: expected an https:// URL, got {url!r}")
        if self.waf and self.target == "lambda":
            raise SettingsError(
                "--waf: AWS WAF cannot attach to a Lambda Function URL (a web ACL goes on a "
                "load balancer, API Gateway, App Runner or CloudFront); render for "
                "ecs-fargate, ecs-express or apprunner to have one"
            )
        if self.public_url is not None and not re.match(PUBLIC_URL_PATTERN, self.public_url):
            raise SettingsError(
                f"--public-url: expected an https:// origin such as https://mcp.example.com "
                f"(no path: the MCP path {self.path} is added), got {self.public_url!r}"
            )

    def environment(self) -> dict[str, str]:
        """The app's own settings, as the container's environment."""
        return {
            "HOST": "0.0.0.0",
            "PORT": str(self.port),
            "MCP_PATH": self.path,
            "KEEPALIVE_SECONDS": str(self.keepalive_seconds),
            "HTTP_KEEPALIVE_SECONDS": str(self.http_keepalive_seconds),
            "STREAM_MAX_SECONDS": str(self.stream_max_seconds),
            "DRAIN_DELAY_SECONDS": str(self.drain_delay_seconds),
            "DRAIN_DEADLINE_SECONDS": str(self.drain_deadline_seconds),
            "METRICS_NAMESPACE": self.metrics_namespace,
            "METRICS_SERVICE": self.name,
            "LOG_LEVEL": "info",
            "WORKERS": str(self.workers),
        }

    @property
    def workers(self) -> int:
        """Processes per task: one per whole vCPU of the task with Redis state (workers
        share it as tasks do), one with state in memory (each worker would keep its own
        sessions). Set here because a Fargate task's cgroup may not show its CPU limit."""
        return max(1, self.cpu // 1024) if self.state == "redis" else 1
