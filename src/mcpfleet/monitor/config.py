"""The monitor's configuration: endpoints with their conditions, alert rules, channels,
storage and the status server, read from one YAML file (see ``source`` for how errors
name their line and key). Secrets are never in the file: it names environment
variables, and ``load_config`` reads them, so a missing one is an error at start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpfleet.monitor.maintenance import Window, read_window
from mcpfleet.monitor.source import MonitorConfigError, Section, each_entry, load_yaml
from mcpfleet.probe.model import ClientCredentials, Options

ERAS = {"auto": "auto", "2026-07-28": "modern", "2025": "legacy", "modern": "modern",
        "legacy": "legacy"}  # fmt: skip
STATUS_RULES = ("up", "healthy", "any")
CHANNEL_KINDS = ("webhook", "slack", "pagerduty", "sns")
EVENTS = ("down", "degraded", "auth_broken", "cert_expiring", "recovered", "drift")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NO_SLOW_FLAG_MS = 1e12  # the probe's own slow flag is off: latency conditions decide


@dataclass(frozen=True, slots=True)
class Conditions:
    """What a probe must show to pass; each failed condition has a kind (see ``evaluate``)."""

    status: str = "up"  # up: no phase failed; healthy: none failed or warned; any: not checked
    latency_ms: Mapping[str, float] = field(default_factory=dict)  # phase (or "total") -> ms
    tools_present: tuple[str, ...] = ()
    tools_unchanged: bool = False
    tools_hash: str | None = None  # the baseline before any history
    cert_days_left: float | None = None
    auth_challenge: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    url: str
    options: Options = field(repr=False)
    interval: float = 60.0
    conditions: Conditions = field(default_factory=Conditions)


@dataclass(frozen=True, slots=True)
class AlertRule:
    failures: int = 3  # failed probes ...
    window: int = 5  # ... out of the last this many open an incident
    successes: int = 2  # consecutive passing probes resolve it
    remind_every: float | None = None  # seconds; None: no reminders
    maintenance: tuple[Window, ...] = ()
    quorum: int = 1  # locations that must agree before an incident opens
    quorum_within: float = 300.0  # seconds: older results of other locations do not count

    def in_maintenance(self, at: float) -> bool:
        return any(window.covers(at) for window in self.maintenance)


@dataclass(frozen=True, slots=True)
class Channel:
    kind: str
    name: str
    url: str | None = None
    secret: str | None = field(default=None, repr=False)  # webhook HMAC key, PagerDuty key
    events: frozenset[str] = frozenset(EVENTS)
    topic_arn: str | None = None
    region: str | None = None
    timeout: float = 10.0
    attempts: int = 4
    backoff: float = 1.0  # seconds before the second attempt, doubling after


@dataclass(frozen=True, slots=True)
class Storage:
    url: str
    raw_days: float = 14.0
    hourly_days: float = 400.0


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    endpoints: tuple[Endpoint, ...]
    alerts: AlertRule = field(default_factory=AlertRule)
    channels: tuple[Channel, ...] = ()
    storage: Storage = field(default_factory=lambda: Storage("sqlite:///monitor.db"))
    host: str = "127.0.0.1"
    port: int | None = None  # None: no status server
    title: str = "MCP status"
    location: str = "local"
    concurrency: int = 32
    jitter: float = 0.1  # a fraction of each interval

    def endpoint(self, name: str) -> Endpoint:
        return next(endpoint for endpoint in self.endpoints if endpoint.name == name)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> MonitorConfig:
    """Read and check ``path``; ``MonitorConfigError`` names the line and key of a mistake."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MonitorConfigError(str(path), 0, "", f"cannot read: {exc.strerror}") from None
    return parse_config(text, str(path), os.environ if environ is None else environ, path.parent)


def parse_config(
    text: str, source: str, environ: Mapping[str, str], base: Path = Path(".")
) -> MonitorConfig:
    root = Section(load_yaml(text, source), "", source)
    defaults = root.section("defaults")
    interval = defaults.duration("interval", 60.0, minimum=0.01)
    timeout = defaults.duration("timeout", 10.0, minimum=0.1)
    conditions = _conditions(defaults.section("conditions"), Conditions())
    defaults.done()
    endpoints = each_entry(
        root, "endpoints", lambda s: _endpoint(s, environ, interval, timeout, conditions)
    )
    if not endpoints:
        raise root.fail("endpoints", "at least one endpoint is required")
    seen: set[str] = set()
    for (key, line, _item), endpoint in zip(root.items("endpoints"), endpoints, strict=True):
        if endpoint.name in seen:
            raise MonitorConfigError(source, line, key + ".name", "names must be unique")
        seen.add(endpoint.name)
    config = MonitorConfig(
        endpoints=tuple(endpoints),
        alerts=_alerts(root.section("alerts")),
        channels=tuple(each_entry(root, "channels", lambda s: _channel(s, environ))),
        storage=_storage(root.section("storage"), environ, base),
        location=root.text("location", "local") or "local",
        concurrency=root.integer("concurrency", 32, minimum=1),
        jitter=_fraction(root, "jitter", 0.1),
        **_serve(root.section("serve")),
    )
    root.done()
    return config


def _endpoint(
    s: Section, environ: Mapping[str, str], interval: float, timeout: float, base: Conditions
) -> Endpoint:
    name = s.text("name", required=True) or ""
    if not ENDPOINT_NAME.match(name):
        raise s.fail("name", "use letters, digits, '.', '_' and '-' (at most 64; it names files)")
    url = s.text("url", required=True) or ""
    if not url.startswith(("http://", "https://")):
        raise s.fail("url", "must be an http:// or https:// URL")
    era = s.choice("era", tuple(ERAS), "auto")
    headers = {k.lower(): str(v) for k, v in s.take("headers", dict, {}).items()}
    token_env = s.text("token_env")
    if token_env is not None:
        headers["authorization"] = f"Bearer {_env(s, 'token_env', token_env, environ)}"
    credentials = _credentials(s, environ, headers)
    call = s.section("call")
    options = Options(
        headers=headers,
        client_credentials=credentials,
        call=call.text("tool", required=call.has("arguments")),
        args=dict(call.take("arguments", dict, {})),
        era=ERAS[era],
        timeout=s.duration("timeout", timeout, minimum=0.1),
        slow_ms=NO_SLOW_FLAG_MS,
        cert_warn_days=0.0,
        cafile=s.text("cafile"),
    )
    call.done()
    return Endpoint(
        name=name,
        url=url,
        options=options,
        interval=s.duration("interval", interval, minimum=0.01),
        conditions=_conditions(s.section("conditions"), base),
    )


def _credentials(
    s: Section, environ: Mapping[str, str], headers: dict[str, str]
) -> ClientCredentials | None:
    if not s.has("client_credentials"):
        return None
    c = s.section("client_credentials")
    if "authorization" in headers:
        raise s.fail("client_credentials", "gets its own token: drop token_env and Authorization")
    client_id = _env(c, "client_id_env", c.text("client_id_env", required=True) or "", environ)
    secret_env = c.text("client_secret_env", required=True) or ""
    credentials = ClientCredentials(
        client_id, _env(c, "client_secret_env", secret_env, environ), c.text("scope"),
        c.text("auth_server"),
    )  # fmt: skip
    c.done()
    return credentials


def _conditions(s: Section, base: Conditions) -> Conditions:
    latency = dict(base.latency_ms)
    limits = s.section("latency_ms")
    for phase in list(limits.data):
        latency[phase] = limits.number(phase, 0.0, minimum=1.0)
    limits.done()
    tools = s.strings("tools_present") if s.has("tools_present") else base.tools_present
    conditions = Conditions(
        status=s.choice("status", STATUS_RULES, base.status),
        latency_ms=latency,
        tools_present=tools,
        tools_unchanged=s.take("tools_unchanged", bool, base.tools_unchanged),
        tools_hash=s.text("tools_hash", base.tools_hash),
        cert_days_left=s.optional("cert_days_left", float) or base.cert_days_left,
        auth_challenge=s.take("auth_challenge", bool, base.auth_challenge),
    )
    s.done()
    return conditions


def _alerts(s: Section) -> AlertRule:
    failures = s.integer("failures", 3, minimum=1)
    window = s.integer("window", max(failures, 5), minimum=1)
    if window < failures:
        raise s.fail("window", f"must be at least failures ({failures})")
    remind = s.duration("remind_every", 0.0)
    rule = AlertRule(
        failures=failures,
        window=window,
        successes=s.integer("successes", 2, minimum=1),
        remind_every=remind or None,
        maintenance=tuple(each_entry(s, "maintenance", read_window)),
        quorum=s.integer("quorum", 1, minimum=1),
        quorum_within=s.duration("quorum_within", 300.0, minimum=1.0),
    )
    s.done()
    return rule


def _channel(s: Section, environ: Mapping[str, str]) -> Channel:
    kind = s.choice("type", CHANNEL_KINDS, "webhook")
    url_env = s.text("url_env")
    url = s.text("url") or (_env(s, "url_env", url_env, environ) if url_env else None)
    if kind == "pagerduty":
        url = url or PAGERDUTY_URL
    secret_key = {"webhook": "secret_env", "pagerduty": "routing_key_env"}.get(kind)
    secret_env = s.text(secret_key, required=True) if secret_key else None
    events = s.strings("events") if s.has("events") else EVENTS
    for event in events:
        if event not in EVENTS:
            raise s.fail("events", f"unknown event {event!r} (known: {', '.join(EVENTS)})")
    channel = Channel(
        kind=kind,
        name=s.text("name", kind) or kind,
        url=url,
        secret=_env(s, secret_key, secret_env, environ) if secret_key and secret_env else None,
        events=frozenset(events),
        topic_arn=s.text("topic_arn", required=kind == "sns"),
        region=s.text("region"),
        timeout=s.duration("timeout", 10.0, minimum=0.1),
        attempts=s.integer("attempts", 4, minimum=1),
        backoff=s.duration("backoff", 1.0),
    )
    if kind != "sns" and not channel.url:
        raise s.fail("url", f"a {kind} channel needs url or url_env")
    s.done()
    return channel


def _storage(s: Section, environ: Mapping[str, str], base: Path) -> Storage:
    url = s.text("url") or environ.get("DATABASE_URL") or "sqlite:///monitor.db"
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_absolute():
        url = "sqlite:///" + str(base / url[len("sqlite:///") :])
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise s.fail("url", "expected sqlite:///PATH (relative to this file), sqlite:////PATH "
                     "or postgresql://...")  # fmt: skip
    storage = Storage(url, s.number("raw_days", 14.0, minimum=0.01), s.number("hourly_days", 400.0))
    s.done()
    return storage


def _serve(s: Section) -> dict[str, Any]:
    out = {
        "host": s.text("host", "127.0.0.1") or "127.0.0.1",
        "port": s.optional("port", int),
        "title": s.text("title", "MCP status") or "MCP status",
    }
    s.done()
    return out


def _fraction(s: Section, name: str, default: float) -> float:
    value = s.number(name, default)
    if value > 1.0:
        raise s.fail(name, "must be between 0 and 1")
    return value


def _env(s: Section, key: str, name: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name, "")
    if not value:
        raise s.fail(key, f"the environment variable {name} is not set")
    return value
