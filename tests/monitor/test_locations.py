"""Two monitors as two locations on one history: an incident needs a quorum of them, and
whichever location opens, reminds or resolves it, each is sent once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mcpfleet.monitor import Monitor
from tests.conftest import free_port
from tests.monitor.support import (
    ManualClock,
    mcp_target,
    receivers,
    served_on,
    start_monitor,
    write_config,
)


def location_config(
    tmp_path: Path, history_url: str, name: str, port: int, channels: tuple[str, str]
) -> Path:
    """The monitor of one location: the same endpoint name, reached at its own port (as
    a regional front end would be), a 2-of-3 rule that needs 2 locations."""
    pager, hook = channels
    folder = tmp_path / name
    folder.mkdir()
    return write_config(
        folder,
        f"""
        location: {name}
        storage: {{url: "{history_url}"}}
        alerts: {{failures: 2, window: 3, successes: 2, quorum: 2, quorum_within: 5m,
                  remind_every: 3m}}
        endpoints:
          - {{name: api, url: "http://127.0.0.1:{port}/mcp", timeout: 3s}}
        channels:
          - {{type: pagerduty, url: "{pager}/v2/enqueue", routing_key_env: PD_KEY}}
          - {{type: webhook, url: "{hook}/hook", secret_env: HOOK_SECRET}}
        """,
    )


async def steps(eu: Monitor, us: Monitor, clock: ManualClock, count: int) -> list[str]:
    """``count`` minutes, each location probing once a minute (eu first)."""
    states = []
    for _ in range(count):
        (east,), (west,) = await eu.round(), await us.round()
        states.append(f"{east.state}/{west.state}")
        clock.advance(60)
    await eu.drain()
    await us.drain()
    return states


def test_quorum_of_two_locations_pages_once(tmp_path: Path, history_url: str) -> None:
    """A failure seen from one location opens nothing under a quorum of 2; seen from both,
    it opens one incident, paged once (reminders once, from one location), and resolves
    once when both see it back."""
    eu_port, us_port = free_port(), free_port()
    with receivers() as made:
        pager, hook = made["pagerduty"][0], made["webhook"][0]
        bases = (made["pagerduty"][1].base, made["webhook"][1].base)
        eu_path = location_config(tmp_path, history_url, "eu", eu_port, bases)
        us_path = location_config(tmp_path, history_url, "us", us_port, bases)

        async def scenario() -> tuple[list[str], list[Any]]:
            clock = ManualClock()
            eu = await start_monitor(eu_path, clock)
            us = await start_monitor(us_path, clock)
            try:
                with served_on(mcp_target(), us_port):
                    states = await steps(eu, us, clock, 4)  # only eu fails
                states += await steps(eu, us, clock, 8)  # both fail
                with served_on(mcp_target(), eu_port), served_on(mcp_target(), us_port):
                    states += await steps(eu, us, clock, 3)
                return states, await eu.store.incidents(None, 0)
            finally:
                await eu.aclose()
                await us.aclose()

        states, incidents = asyncio.run(scenario())
    assert states == ["down/up"] * 4 + ["down/down"] * 8 + ["up/up"] * 3
    assert [(i.kind, i.is_open) for i in incidents] == [("down", False)]
    assert [m["event_action"] for m in pager.accepted] == ["trigger", "resolve"]
    sent = [(m["event"], m["reminder"], m["location"]) for m in hook.accepted]
    assert sent == [
        ("down", False, "eu"),
        ("down", True, "eu"),
        ("down", True, "eu"),
        ("recovered", False, "eu"),
    ]
    assert pager.problems == hook.problems == []
