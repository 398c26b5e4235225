"""How the app runs, as the deployment must know it, and the relations between the numbers.

Each relation is a way a hand-written deployment goes subtly wrong:

- the load balancer keeps sending requests to a stopping task until deregistration
  completes, and the task needs its drain deadline after that: so
  ``deregistration delay + drain deadline < stopTimeout`` (ECS allows at most 120 s);
- an idle connection is cut by the ALB after its idle timeout, so the SSE keep-alive
  comments must come more often: ``idle timeout > keep-alive interval``;
- the container health check asks liveness (restart only a stuck process), the
  target group asks readiness (route around a draining or cut-off task).

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
AUTHS: tuple[Auth, ...] = ("cognito", "jwt")
# The transport's health paths, written here so that rendering never imports the transport
# (tests/deploy/test_relations.py checks that the two agree).
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
PUBLIC_URL_PATTERN = r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"  # an origin: no path, no slash
MAX_STOP_TIMEOUT = 120  # ECS's ceiling for a Fargate container's stopTimeout
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
    keepalive_seconds: int = 15
    drain_delay_seconds: int = 15
    drain_deadline_seconds: int = 40
    stop_timeout_seconds: int = 60
    idle_timeout_seconds: int = 120
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

    @property
    def deregistration_delay_seconds(self) -> int:
        """The ALB keeps the target draining as long as the app keeps serving after SIGTERM."""
        return self.drain_delay_seconds

    def check(self) -> None:
        """Refuse settings whose relations do not hold."""
        drain = self.deregistration_delay_seconds + self.drain_deadline_seconds
        if not drain < self.stop_timeout_seconds <= MAX_STOP_TIMEOUT:
            raise SettingsError(
                f"stopTimeout {self.stop_timeout_seconds} s must exceed deregistration delay "
                f"{self.deregistration_delay_seconds} s + drain deadline "
                f"{self.drain_deadline_seconds} s = {drain} s, and be at most "
                f"{MAX_STOP_TIMEOUT} s: otherwise ECS kills the task mid-drain"
            )
        if not self.idle_timeout_seconds > self.keepalive_seconds:
            raise SettingsError(
                f"ALB idle timeout {self.idle_timeout_seconds} s must exceed the SSE keep-alive "
                f"interval {self.keepalive_seconds} s: otherwise idle streams are cut"
            )
        fargate = self.target in ("ecs-fargate", "ecs-express")
        if fargate and self.memory not in FARGATE_SIZES.get(self.cpu, ()):
            raise SettingsError(f"Fargate has no task size cpu={self.cpu} memory={self.memory}")
        if not 1 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is out of range")
        self.check_access()

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
            "DRAIN_DELAY_SECONDS": str(self.drain_delay_seconds),
            "DRAIN_DEADLINE_SECONDS": str(self.drain_deadline_seconds),
            "LOG_LEVEL": "info",
        }
