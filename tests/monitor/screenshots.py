"""The README's pictures of the monitor's status page: ``python -m tests.monitor.screenshots``
(from the repository's root) writes ``docs/images/monitor-status.png`` (the overview) and
``docs/images/monitor-endpoint.png`` (one endpoint's page).

Three MCP endpoints on 127.0.0.1: ``docs`` answers, ``search`` answers over its latency limit
(degraded), ``billing``'s port refuses connections (down). 90 days of hourly results are
written to a fresh SQLite history first (a down hour and its incident, a slow afternoon,
latency that rises by day); then the monitor probes each endpoint once for real, opening
incidents for search and billing, and headless Chromium (Debian's ``chromium``) takes
the pictures of the status server at a desktop width.
"""

from __future__ import annotations

import asyncio
import math
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mcpfleet.monitor import HistoryStore, MonitorConfig, load_config, open_store
from mcpfleet.monitor.alerts import Incident
from mcpfleet.monitor.results import Failure, Result
from mcpfleet.monitor.scheduler import run_once
from mcpfleet.monitor.web import StatusApp
from tests.conftest import ROOT, free_port
from tests.monitor.support import Faults, faulty, mcp_target, write_config
from tests.probe.servers import threaded

OUT = ROOT / "docs" / "images"
HOUR = 3600.0
DAYS = 90
WIDTH = 1200  # a desktop browser's width; the page's column is narrower
PAGES = {  # picture: (page, height in pixels: the page's length, no blank below)
    "monitor-status.png": ("/", 910),
    "monitor-endpoint.png": ("/endpoint/docs.html", 710),
}
CONFIG = """
storage: {{url: "sqlite:///{db}"}}
serve: {{title: "Example MCP status"}}
alerts: {{failures: 1, window: 1, successes: 1}}
defaults:
  timeout: 3s
endpoints:
  - {{name: docs, url: "{docs}"}}
  - {{name: search, url: "{search}", conditions: {{latency_ms: {{http: 150}}}}}}
  - {{name: billing, url: "http://127.0.0.1:{closed}/mcp"}}
"""


def past_result(name: str, at: float, state: str, rng: random.Random) -> Result:
    """One hourly result as a probe would have left it: latency rising in the UTC
    afternoon, a refused connection when down, the http phase slow when degraded."""
    wave = 1.0 + 0.35 * math.sin((at % 86400.0) / 86400.0 * 2 * math.pi - 1.0)
    http = (38.0 if name == "docs" else 95.0) * wave * rng.uniform(0.85, 1.2)
    if state == "degraded":
        http = rng.uniform(180.0, 260.0)
    phases: dict[str, tuple[str, float | None]] = {
        "dns": ("ok", rng.uniform(0.5, 2.0)),
        "tcp": ("ok", rng.uniform(0.4, 1.5)),
        "http": ("ok", http),
        "server/discover": ("ok", http),  # the first request: timed as the http phase too
        "tools/list": ("ok", http * rng.uniform(0.15, 0.3)),
    }
    failures: list[Failure] = []
    if state == "down":
        phases = {"dns": ("ok", 1.0), "tcp": ("fail", 0.5)}
        failures = [Failure("down", "status", "tcp: connection refused")]
    elif state == "degraded":
        failures = [Failure("degraded", "latency_ms.http", f"http took {http:.0f} ms > 150 ms")]
    return Result(name, at, state, "local", phases, failures, {"health": state == "up"},
                  tool_count=2, cert_days=None)  # fmt: skip


def past_state(name: str, hours_ago: int) -> str:
    if name == "docs":
        return "down" if hours_ago in (12 * 24 + 5, 12 * 24 + 6) else "up"
    if name == "search":
        return "degraded" if 31 * 24 + 2 <= hours_ago <= 31 * 24 + 7 else "up"
    return "up"  # billing: down only since the monitor's own probe


async def fill(store: HistoryStore, config: MonitorConfig, now: float) -> None:
    """90 days of hourly results before ``now``, and the incidents they resolved."""
    await store.migrate()
    rng = random.Random(17)
    for endpoint in config.endpoints:
        for hours_ago in range(DAYS * 24, 0, -1):
            at = now - hours_ago * HOUR + rng.uniform(0, 60)
            state = past_state(endpoint.name, hours_ago)
            await store.add_result(past_result(endpoint.name, at, state, rng))
    opened = now - (12 * 24 + 6) * HOUR
    await store.save_incident(
        Incident("docs", "health", "down", "docs-1", opened, "tcp: connection refused",
                 opened + 2 * HOUR)
    )  # fmt: skip
    opened = now - (31 * 24 + 7) * HOUR
    await store.save_incident(
        Incident("search", "health", "degraded", "search-1", opened, "http took 231 ms > 150 ms",
                 opened + 6 * HOUR)
    )  # fmt: skip


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        sys.exit("chromium is missing: apt-get install chromium (Debian)")
    return found


def screenshot(url: str, path: Path, height: int, profile: Path) -> None:
    """``url`` in headless Chromium at ``WIDTH`` x ``height``, one device pixel per CSS
    pixel (the pictures stay small), written to ``path`` as PNG."""
    done = subprocess.run(
        [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--window-size={WIDTH},{height}", "--force-device-scale-factor=1",
         f"--user-data-dir={profile}", f"--screenshot={path}", url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not path.exists():
        sys.exit(f"chromium could not take {path.name}:\n{done.stderr}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        threaded(mcp_target()) as docs,
        threaded(faulty(Faults(delay=0.2))) as search,
    ):
        folder = Path(tmp)
        text = CONFIG.format(db=folder / "h.db", docs=docs.url, search=search.url,
                             closed=free_port())  # fmt: skip
        config = load_config(write_config(folder, text), {})
        store = open_store(config.storage.url)
        now = time.time()
        try:
            asyncio.run(fill(store, config, now))
            for result in asyncio.run(run_once(config)):
                print(f"{result.endpoint}: {result.state}")
            with threaded(StatusApp(config, store, time.time)) as status:
                for name, (page, height) in PAGES.items():
                    screenshot(status.base + page, OUT / name, height, folder / "profile")
                    size = (OUT / name).stat().st_size
                    print(f"{(OUT / name).relative_to(ROOT)}: {size // 1024} KB")
        finally:
            asyncio.run(store.aclose())


if __name__ == "__main__":
    main()
