"""One probe's outcome as the monitor keeps it, and the conditions that judge it.

``evaluate`` is pure: a probe report, the endpoint's conditions and the previous tool-list
hash in, a ``Result`` out. Each failed condition has a kind, and the kinds decide
which alert lane it counts against:

    kind            lane      the endpoint is    raised when
    auth_broken     health    down               the auth phase failed, or a challenge is incomplete
    down            health    down               a phase failed, or an expected tool is missing
    degraded        health    degraded           a phase is over its latency limit (or warned)
    cert_expiring   cert      degraded           the certificate has fewer days left than allowed
    drift           (notice)  up                 the tool-list hash changed since the last probe
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcpfleet.monitor.config import Conditions
from mcpfleet.probe.model import Report, Status

AUTH_PHASES = ("auth", "credentials")
KIND_LANE = {"auth_broken": "health", "down": "health", "degraded": "health",
             "cert_expiring": "cert"}  # fmt: skip
KIND_RANK = {"degraded": 1, "cert_expiring": 1, "down": 2, "auth_broken": 3}
LANES = ("health", "cert")
STATES = ("up", "degraded", "down")


@dataclass(frozen=True, slots=True)
class Failure:
    kind: str
    condition: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "condition": self.condition, "detail": self.detail}


@dataclass(slots=True)
class Result:
    endpoint: str
    at: float
    state: str  # up, degraded or down
    location: str = "local"
    phases: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    # Per lane: None when the lane was not judged (e.g. no certificate on a failed connect).
    lanes: dict[str, bool | None] = field(default_factory=dict)
    era: str | None = None
    tools_hash: str | None = None
    tool_count: int | None = None
    cert_days: float | None = None
    drift_from: str | None = None
    maintenance: bool = False

    def kind(self, lane: str) -> str | None:
        """The worst failed kind in ``lane`` (None: the lane passed or was not judged)."""
        kinds = [f.kind for f in self.failures if KIND_LANE.get(f.kind) == lane]
        return max(kinds, key=KIND_RANK.__getitem__, default=None)

    def cause(self, lane: str) -> str:
        causes = [f.detail for f in self.failures if KIND_LANE.get(f.kind) == lane]
        return "; ".join(causes)[:500]

    @property
    def total_ms(self) -> float:
        """The time of every exchange, each once: the probe records its first exchange
        twice, as the ``http`` phase and as the phase of its method (``server/discover``
        or ``initialize``), with the same time."""
        times = {name: ms for name, (_status, ms) in self.phases.items() if ms is not None}
        total = sum(times.values())
        http = times.get("http")
        if http is not None and any(ms == http for name, ms in times.items() if name != "http"):
            total -= http
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "location": self.location,
            "at": self.at,
            "state": self.state,
            "era": self.era,
            "toolsHash": self.tools_hash,
            "toolCount": self.tool_count,
            "certDaysLeft": self.cert_days,
            "maintenance": self.maintenance,
            "phases": {
                name: {"status": status, "ms": ms} for name, (status, ms) in self.phases.items()
            },
            "failures": [failure.to_json() for failure in self.failures],
            "lanes": self.lanes,
            "driftFrom": self.drift_from,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        """The inverse of ``to_json`` (what the history store keeps)."""
        return cls(
            endpoint=data["endpoint"],
            at=float(data["at"]),
            state=data["state"],
            location=data.get("location", "local"),
            phases={k: (v["status"], v["ms"]) for k, v in data.get("phases", {}).items()},
            failures=[Failure(**failure) for failure in data.get("failures", [])],
            lanes=dict(data.get("lanes", {})),
            era=data.get("era"),
            tools_hash=data.get("toolsHash"),
            tool_count=data.get("toolCount"),
            cert_days=data.get("certDaysLeft"),
            drift_from=data.get("driftFrom"),
            maintenance=bool(data.get("maintenance")),
        )


def evaluate(
    endpoint: str,
    report: Report,
    conditions: Conditions,
    at: float,
    baseline_hash: str | None,
    location: str = "local",
) -> Result:
    """Judge ``report`` against ``conditions``; ``baseline_hash`` is the last known tool list."""
    result = Result(endpoint, at, "up", location, era=report.era, tools_hash=report.tools_hash)
    for phase in report.phases:
        result.phases[phase.name] = (phase.status.value, phase.elapsed_ms)
        if phase.name == "tls" and isinstance(phase.data.get("daysLeft"), int | float):
            result.cert_days = float(phase.data["daysLeft"])
        if phase.name == "tools/list" and isinstance(phase.data.get("count"), int):
            result.tool_count = phase.data["count"]
    failures = result.failures
    failures.extend(_status(report, conditions))
    failures.extend(_latency(result, conditions))
    failures.extend(_tools(report, conditions))
    failures.extend(_auth(report, conditions))
    failures.extend(_certificate(result, conditions))
    _drift(result, conditions, baseline_hash or conditions.tools_hash)
    judged_cert = conditions.cert_days_left is not None and result.cert_days is not None
    result.lanes = {
        "health": result.kind("health") is None,
        "cert": (result.kind("cert") is None) if judged_cert else None,
    }
    kinds = {failure.kind for failure in failures}
    if kinds & {"down", "auth_broken"}:
        result.state = "down"
    elif kinds:
        result.state = "degraded"
    return result


def _status(report: Report, conditions: Conditions) -> list[Failure]:
    if conditions.status == "any":
        return []
    out = []
    for phase in report.phases:
        if phase.status is Status.FAIL:
            kind = "auth_broken" if phase.name in AUTH_PHASES else "down"
            out.append(Failure(kind, "status", f"{phase.name}: {phase.detail}"[:300]))
        elif phase.status is Status.WARN and conditions.status == "healthy":
            # A challenge that is incomplete is auth_challenge's to judge, when it is on.
            if phase.name in AUTH_PHASES and conditions.auth_challenge:
                continue
            out.append(Failure("degraded", "status", f"{phase.name}: {phase.detail}"[:300]))
    return out[:3]


def _latency(result: Result, conditions: Conditions) -> list[Failure]:
    out = []
    for phase, limit in conditions.latency_ms.items():
        if phase == "total":
            elapsed: float | None = result.total_ms if result.phases else None
        else:
            elapsed = result.phases.get(phase, ("", None))[1]
        if elapsed is not None and elapsed > limit:
            detail = f"{phase} took {elapsed:.0f} ms (limit {limit:g} ms)"
            out.append(Failure("degraded", f"latency_ms.{phase}", detail))
    return out


def _tools(report: Report, conditions: Conditions) -> list[Failure]:
    if not conditions.tools_present or report.tools_hash is None:
        return []
    missing = [name for name in conditions.tools_present if name not in report.tools]
    if not missing:
        return []
    return [Failure("down", "tools_present", f"tools missing: {', '.join(missing)}")]


def _auth(report: Report, conditions: Conditions) -> list[Failure]:
    if not conditions.auth_challenge:
        return []
    for phase in report.phases:
        if phase.name in AUTH_PHASES and phase.status is Status.WARN:
            return [Failure("auth_broken", "auth_challenge", f"{phase.name}: {phase.detail}")]
    return []


def _certificate(result: Result, conditions: Conditions) -> list[Failure]:
    limit = conditions.cert_days_left
    if limit is None or result.cert_days is None or result.cert_days >= limit:
        return []
    detail = f"certificate expires in {result.cert_days:.1f} days (limit {limit:g})"
    return [Failure("cert_expiring", "cert_days_left", detail)]


def _drift(result: Result, conditions: Conditions, baseline: str | None) -> None:
    if not conditions.tools_unchanged or result.tools_hash is None or baseline is None:
        return
    if result.tools_hash != baseline:
        result.drift_from = baseline
