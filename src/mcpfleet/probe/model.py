"""What a probe finds: timed phases with a status each, and the verdict they add up to."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from mcpfleet.errors import CommandError
from mcpfleet.probe.bearer import redact


class Status(Enum):
    OK = "ok"
    WARN = "warn"  # the endpoint works, but something is wrong: degraded
    FAIL = "fail"  # the endpoint cannot be used: down
    SKIP = "skip"


class Verdict(Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def exit_code(self) -> int:
        return {"healthy": 0, "degraded": 1, "down": 2}[self.value]


@dataclass(slots=True)
class Phase:
    name: str
    status: Status
    detail: str = ""
    elapsed_ms: float | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status.value}
        out["detail"] = self.detail
        out["elapsedMs"] = None if self.elapsed_ms is None else round(self.elapsed_ms, 2)
        if self.data:
            out["data"] = self.data
        return out


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """An OAuth client the probe gets its own token as, by the client-credentials grant."""

    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None  # None: the challenge's scope, else the metadata's scopes_supported
    authorization_server: str | None = None  # None: the metadata's first authorization server


@dataclass(slots=True)
class Options:
    """Everything that shapes one probe (the CLI's options)."""

    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may carry a token
    call: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    force: bool = False
    era: str = "auto"  # auto, modern or legacy
    timeout: float = 10.0
    slow_ms: float = 2000.0
    cert_warn_days: float = 14.0
    expect_hash: str | None = None
    cafile: str | None = None
    max_bytes: int = 4 * 1024 * 1024
    max_pages: int = 20
    client_credentials: ClientCredentials | None = None

    @property
    def secrets(self) -> list[str]:
        """What no report may show: the credentials in ``Authorization`` and the secret."""
        found = []
        for name, value in self.headers.items():
            if name.lower() in ("authorization", "proxy-authorization"):
                found.append(value)
                found.extend(value.split()[1:])  # the credentials after the scheme
        if self.client_credentials is not None:
            found.append(self.client_credentials.client_secret)
        return found


@dataclass(slots=True)
class Report:
    url: str
    phases: list[Phase] = field(default_factory=list)
    era: str | None = None
    tools_hash: str | None = None
    tools: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        statuses = {phase.status for phase in self.phases}
        if Status.FAIL in statuses:
            return Verdict.DOWN
        if Status.WARN in statuses:
            return Verdict.DEGRADED
        return Verdict.HEALTHY

    @property
    def failing_phase(self) -> str | None:
        """The first phase that failed, else the first that warned."""
        for wanted in (Status.FAIL, Status.WARN):
            for phase in self.phases:
                if phase.status is wanted:
                    return phase.name
        return None

    def add(self, phase: Phase) -> Phase:
        self.phases.append(phase)
        return phase

    def redact(self, secrets: list[str]) -> None:
        """Replace every secret in what the phases say, whatever a server echoed."""
        if not any(secrets):
            return
        for phase in self.phases:
            phase.detail = redact(phase.detail, secrets)
            phase.data = _redacted(phase.data, secrets)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "verdict": self.verdict.value,
            "exitCode": self.verdict.exit_code,
            "failingPhase": self.failing_phase,
            "era": self.era,
            "toolsHash": self.tools_hash,
            "tools": self.tools,
            "phases": [phase.to_json() for phase in self.phases],
        }


def _redacted(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {key: _redacted(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item, secrets) for item in value]
    return value


class Clock:
    """Milliseconds since construction, for timing a phase."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000.0


class PhaseFailed(CommandError):
    """A phase that ends the probe; the phase is already recorded."""
