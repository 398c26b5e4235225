"""The monitor against real local servers: healthy in both eras, down, flapping, slow,
drifting and losing their auth; exactly the expected incidents, paged once each."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpfleet.monitor import Monitor
from mcpfleet.monitor.payloads import iso
from tests.conftest import free_port
from tests.monitor.support import (
    START,
    Faults,
    ManualClock,
    Receiver,
    Sleeps,
    faulty,
    mcp_target,
    receivers,
    served_on,
    start_monitor,
    write_config,
)
from tests.probe import hostile
from tests.probe.servers import ThreadedServer, sdk_server, threaded

RULE = "failures: 3\n  window: 5\n  successes: 2"


@pytest.fixture(scope="module")
def receiver_servers() -> Iterator[dict[str, tuple[Receiver, ThreadedServer]]]:
    with receivers() as made:
        yield made


@pytest.fixture
def channels(
    receiver_servers: dict[str, tuple[Receiver, ThreadedServer]],
) -> dict[str, tuple[Receiver, ThreadedServer]]:
    """The module's receivers, emptied for this test."""
    for receiver, _server in receiver_servers.values():
        receiver.reset()
    return receiver_servers


def config(
    tmp_path: Path,
    history_url: str,
    endpoints: str,
    channels: dict[str, tuple[Receiver, ThreadedServer]] | None = None,
    alerts: str = RULE,
) -> Path:
    hooks = ""
    if channels:
        hooks = f"""
channels:
  - type: webhook
    url: {channels["webhook"][1].base}/hook
    secret_env: HOOK_SECRET
    backoff: 10ms
  - type: slack
    url: {channels["slack"][1].base}/services/T/B/X
  - type: pagerduty
    url: {channels["pagerduty"][1].base}/v2/enqueue
    routing_key_env: PD_KEY
"""
    text = f"""
storage:
  url: "{history_url}"
defaults:
  timeout: 5s
alerts:
  {alerts}
endpoints:
{endpoints}
{hooks}
"""
    return write_config(tmp_path, text)


async def rounds(monitor: Monitor, clock: ManualClock, count: int) -> list[str]:
    """``count`` rounds a minute apart; the state of the first endpoint in each."""
    states = []
    for _ in range(count):
        results = await monitor.round()
        states.append(results[0].state)
        clock.advance(60)
    await monitor.drain()
    return states


def events(receiver: Receiver) -> list[str]:
    kind = receiver.kind
    if kind == "pagerduty":
        return [m["event_action"] for m in receiver.accepted]
    if kind == "slack":
        return [m["text"].split(" ", 1)[1] for m in receiver.accepted]
    return [m["event"] for m in receiver.accepted]


def test_healthy_endpoints_of_both_eras_stay_quiet(
    tmp_path: Path, history_url: str, channels: Any
) -> None:
    """An mcpfleet server probed as 2026-07-28 and as 2025, with a read-only call and its
    tools expected, is up in every round and nothing is sent."""
    with threaded(mcp_target()) as target:
        call = "call: {tool: lookup, arguments: {region: eu-west-1, key: k}}"
        conditions = "conditions: {tools_present: [lookup, remove], tools_unchanged: true}"
        endpoints = (
            f"  - {{name: modern, url: {target.url}, era: '2026-07-28', {call}, {conditions}}}\n"
            f"  - {{name: legacy, url: {target.url}, era: '2025', {call}, {conditions}}}"
        )
        path = config(tmp_path, history_url, endpoints, channels)

        async def scenario() -> list[Any]:
            monitor = await start_monitor(path, ManualClock())
            try:
                found = [await monitor.round() for _ in range(3)]
                await monitor.drain()
                return found
            finally:
                await monitor.aclose()

        found = asyncio.run(scenario())
    for modern, legacy in found:
        assert (modern.state, legacy.state) == ("up", "up"), (modern.failures, legacy.failures)
        assert (modern.era, legacy.era) == ("modern", "legacy")
        assert modern.phases["call"][0] == legacy.phases["call"][0] == "ok"
        assert modern.tools_hash == legacy.tools_hash
    assert all(receiver.seen == [] for receiver, _server in channels.values())


def test_server_that_goes_down_pages_once_and_resolves(
    tmp_path: Path, history_url: str, channels: Any
) -> None:
    """A target that stops answering opens one incident on the third failure (3 of 5),
    every channel hears down once, and two good probes after it returns resolve it under
    the same PagerDuty dedup key."""
    port = free_port()
    endpoints = f"  - {{name: api, url: 'http://127.0.0.1:{port}/mcp'}}"
    path = config(tmp_path, history_url, endpoints, channels)

    async def scenario() -> list[str]:
        clock = ManualClock()
        monitor = await start_monitor(path, clock)
        try:
            with served_on(mcp_target(), port):
                states = await rounds(monitor, clock, 2)
            states += await rounds(monitor, clock, 5)
            with served_on(mcp_target(), port):
                states += await rounds(monitor, clock, 3)
            incidents = await monitor.store.incidents(None, 0)
            assert [(i.kind, i.is_open) for i in incidents] == [("down", False)]
            assert "tcp" in incidents[0].cause
            return states
        finally:
            await monitor.aclose()

    states = asyncio.run(scenario())
    assert states == ["up", "up"] + ["down"] * 5 + ["up"] * 3
    webhook, slack, pager = (channels[name][0] for name in ("webhook", "slack", "pagerduty"))
    assert webhook.problems == slack.problems == pager.problems == []
    assert events(webhook) == ["down", "recovered"]
    assert events(pager) == ["trigger", "resolve"]
    assert pager.accepted[0]["dedup_key"] == pager.accepted[1]["dedup_key"]
    assert pager.accepted[0]["payload"]["severity"] == "critical"
    down, recovered = events(slack)
    assert down.startswith("api is DOWN: tcp: ")
    assert recovered == "api has RECOVERED"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (RULE, []),
        ("failures: 2\n  window: 5\n  successes: 3", ["trigger", "resolve"]),
    ],
    ids=["3-of-5-rides-it-out", "2-of-5-pages-once"],
)
def test_flapping_server(
    tmp_path: Path, history_url: str, channels: Any, rule: str, expected: list[str]
) -> None:
    """A server failing 1 probe in 3: a 3-of-5 rule never pages; a 2-of-5 rule pages once,
    stays open (never 3 good in a row) without paging again, and resolves after it steadies."""
    faults = Faults(fail_every=3)
    with threaded(faulty(faults)) as target:
        path = config(
            tmp_path, history_url, f"  - {{name: flappy, url: {target.url}}}", channels, rule
        )

        async def scenario() -> list[str]:
            clock = ManualClock()
            monitor = await start_monitor(path, clock)
            try:
                states = await rounds(monitor, clock, 12)
                faults.fail_every = 0
                return states + await rounds(monitor, clock, 3)
            finally:
                await monitor.aclose()

        states = asyncio.run(scenario())
    assert states[:12] == ["up", "up", "down"] * 4
    assert events(channels["pagerduty"][0]) == expected
    assert len(events(channels["webhook"][0])) == len(expected)


def test_slow_server_is_degraded(tmp_path: Path, history_url: str, channels: Any) -> None:
    """A server whose first answer slows past the http latency limit opens a degraded
    incident (a warning in PagerDuty) and resolves when it is fast again."""
    faults = Faults()
    with threaded(faulty(faults)) as target:
        endpoint = (
            f"  - {{name: slow, url: {target.url}, conditions: {{latency_ms: {{http: 250}}}}}}"
        )
        path = config(tmp_path, history_url, endpoint, channels)

        async def scenario() -> list[str]:
            clock = ManualClock()
            monitor = await start_monitor(path, clock)
            try:
                states = await rounds(monitor, clock, 1)
                faults.delay = 0.4
                states += await rounds(monitor, clock, 3)
                faults.delay = 0.0
                return states + await rounds(monitor, clock, 2)
            finally:
                await monitor.aclose()

        states = asyncio.run(scenario())
    assert states == ["up", "degraded", "degraded", "degraded", "up", "up"]
    pager = channels["pagerduty"][0]
    assert events(pager) == ["trigger", "resolve"]
    assert pager.accepted[0]["payload"]["severity"] == "warning"
    assert "http took" in pager.accepted[0]["payload"]["summary"]


def test_tool_list_drift_is_noticed_once_per_change(
    tmp_path: Path, history_url: str, channels: Any
) -> None:
    """A server that changes its tool list causes one drift notice per change, naming both
    hashes; the endpoint stays up."""
    faults = Faults()
    with threaded(faulty(faults)) as target:
        endpoint = f"  - {{name: tools, url: {target.url}, conditions: {{tools_unchanged: true}}}}"
        path = config(tmp_path, history_url, endpoint, channels)

        async def scenario() -> list[str]:
            clock = ManualClock()
            monitor = await start_monitor(path, clock)
            try:
                states = await rounds(monitor, clock, 2)
                faults.use_other = True
                states += await rounds(monitor, clock, 2)
                faults.use_other = False
                return states + await rounds(monitor, clock, 1)
            finally:
                await monitor.aclose()

        states = asyncio.run(scenario())
    assert states == ["up"] * 5
    webhook = channels["webhook"][0]
    assert events(webhook) == ["drift", "drift"]
    first, second = (m["incident"] for m in webhook.accepted)
    assert first["dedupKey"] != second["dedupKey"]
    assert "was sha256:" in first["cause"]


def test_lost_auth_is_its_own_incident(tmp_path: Path, history_url: str, channels: Any) -> None:
    """When a protected server stops accepting the monitor's token, the incident is
    auth_broken (not plain down) and resolves once the token works again."""
    faults = Faults()
    with threaded(faulty(faults, protected=True), lifespan="on") as target:
        endpoint = f"  - {{name: private, url: {target.url}, token_env: TARGET_TOKEN}}"
        path = config(tmp_path, history_url, endpoint, channels)

        async def scenario() -> list[str]:
            clock = ManualClock()
            monitor = await start_monitor(path, clock)
            try:
                states = await rounds(monitor, clock, 1)
                faults.refuse_auth = True
                states += await rounds(monitor, clock, 3)
                faults.refuse_auth = False
                return states + await rounds(monitor, clock, 2)
            finally:
                await monitor.aclose()

        states = asyncio.run(scenario())
    assert states == ["up", "down", "down", "down", "up", "up"]
    assert events(channels["webhook"][0]) == ["auth_broken", "recovered"]
    assert "credentials refused" in channels["webhook"][0].accepted[0]["incident"]["cause"]


def test_restart_keeps_history_and_open_incident(
    tmp_path: Path, history_url: str, channels: Any
) -> None:
    """A monitor restarted while an incident is open keeps it open under the same key,
    does not page again, and resolves it when the target comes back."""
    port = free_port()
    path = config(
        tmp_path, history_url, f"  - {{name: api, url: 'http://127.0.0.1:{port}/mcp'}}", channels
    )
    clock = ManualClock()

    async def first_life() -> None:
        monitor = await start_monitor(path, clock)
        try:
            await rounds(monitor, clock, 4)
        finally:
            await monitor.aclose()

    async def second_life() -> tuple[int, list[str]]:
        monitor = await start_monitor(path, clock)
        try:
            assert [i.kind for i in monitor.books["api"].open_incidents()] == ["down"]
            states = await rounds(monitor, clock, 2)
            with served_on(mcp_target(), port):
                states += await rounds(monitor, clock, 2)
            return len(await monitor.store.results("api", 0)), states
        finally:
            await monitor.aclose()

    asyncio.run(first_life())
    count, states = asyncio.run(second_life())
    assert count == 8
    assert states == ["down", "down", "up", "up"]
    pager = channels["pagerduty"][0]
    assert events(pager) == ["trigger", "resolve"]
    assert pager.accepted[0]["dedup_key"] == pager.accepted[1]["dedup_key"]


def test_failed_deliveries_are_retried_with_backoff_and_recorded(
    tmp_path: Path, history_url: str, channels: Any
) -> None:
    """A webhook receiver failing twice gets a third attempt after backing off 10 ms then
    20 ms, and every attempt is in the history."""
    webhook = channels["webhook"][0]
    webhook.fail_first = 2
    port = free_port()
    path = config(
        tmp_path, history_url, f"  - {{name: api, url: 'http://127.0.0.1:{port}/mcp'}}", channels
    )
    sleeps = Sleeps()

    async def scenario() -> list[tuple[str, int, bool]]:
        clock = ManualClock()
        monitor = await start_monitor(path, clock, sleeps)
        try:
            await rounds(monitor, clock, 3)
            found = await monitor.store.deliveries()
            return [(d.channel, d.attempt, d.ok) for d in found if d.channel == "webhook"]
        finally:
            await monitor.aclose()

    attempts = asyncio.run(scenario())
    assert attempts == [("webhook", 1, False), ("webhook", 2, False), ("webhook", 3, True)]
    assert sleeps.asked == pytest.approx([0.01, 0.02])
    assert events(webhook) == ["down"]


def test_official_sdk_server_is_up_in_both_eras(tmp_path: Path) -> None:
    """The official Python SDK's server is up with its echo tool present, probed by
    auto-detection (2026-07-28) and as a 2025-era server."""
    with sdk_server(json_response=False, stateless=False) as url:
        conditions = "conditions: {tools_present: [echo]}"
        endpoints = (
            f"  - {{name: sdk, url: '{url}', {conditions}}}\n"
            f"  - {{name: sdk-2025, url: '{url}', era: '2025', {conditions}}}"
        )
        path = config(tmp_path, f"sqlite:///{tmp_path}/h.db", endpoints)

        async def scenario() -> list[Any]:
            clock = ManualClock()
            monitor = await start_monitor(path, clock)
            try:
                return [r for _ in range(2) for r in await monitor.round()]
            finally:
                await monitor.aclose()

        results = asyncio.run(scenario())
    found = [(r.state, r.era) for r in results]
    assert found == [("up", "modern"), ("up", "legacy")] * 2, [r.failures for r in results]


def test_maintenance_holds_pages_and_reminders_skip_pagerduty(
    tmp_path: Path, channels: Any
) -> None:
    """Inside a maintenance window a dead endpoint pages nobody; after it, the incident
    opens, the webhook and Slack get reminders every two minutes, PagerDuty only the
    one trigger."""
    port = free_port()
    rule = (
        "failures: 2\n  window: 2\n  successes: 1\n  remind_every: 2m\n  maintenance:\n"
        f"    - {{from: '{iso(START)}', until: '{iso(START + 150)}'}}"
    )
    endpoint = f"  - {{name: api, url: 'http://127.0.0.1:{port}/mcp'}}"
    path = config(tmp_path, f"sqlite:///{tmp_path}/h.db", endpoint, channels, rule)

    async def scenario() -> list[bool]:
        clock = ManualClock()
        monitor = await start_monitor(path, clock)
        try:
            await rounds(monitor, clock, 9)
            return [r.maintenance for r in await monitor.store.results("api", 0)]
        finally:
            await monitor.aclose()

    held = asyncio.run(scenario())
    assert held == [True, True, True] + [False] * 6
    assert events(channels["webhook"][0]) == ["down", "down", "down"]
    reminders = [m["reminder"] for m in channels["webhook"][0].accepted]
    assert reminders == [False, True, True]
    assert len(events(channels["slack"][0])) == 3
    assert events(channels["pagerduty"][0]) == ["trigger"]


def test_incomplete_auth_challenge_is_auth_broken(tmp_path: Path) -> None:
    """A protected server whose OAuth metadata lacks the token endpoint and PKCE fails the
    auth_challenge condition as auth_broken, naming what is missing."""
    protected = hostile.protected(mcp_target(), complete=False)
    with threaded(protected, lifespan="on") as target:
        endpoint = f"  - {{name: oauth, url: {target.url}, conditions: {{auth_challenge: true}}}}"
        path = config(tmp_path, f"sqlite:///{tmp_path}/h.db", endpoint)

        async def scenario() -> Any:
            monitor = await start_monitor(path, ManualClock())
            try:
                return (await monitor.round())[0]
            finally:
                await monitor.aclose()

        result = asyncio.run(scenario())
    assert result.state == "down"
    (failure,) = result.failures
    assert (failure.kind, failure.condition) == ("auth_broken", "auth_challenge")
    assert "token_endpoint" in failure.detail
