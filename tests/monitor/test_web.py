"""What people look at: the status page, the JSON API, badges and metrics, served by a
real uvicorn and exported as files; and the ``monitor run`` and ``export`` commands."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from mcpfleet.cli import main
from mcpfleet.monitor import Monitor, load_config, open_store
from mcpfleet.monitor.alerts import Incident
from mcpfleet.monitor.results import Failure, Result
from mcpfleet.monitor.store import HistoryStore
from mcpfleet.monitor.web import StatusApp
from mcpfleet.probe import Options, Report, probe
from tests.monitor.support import START, mcp_target, write_config
from tests.probe.servers import ThreadedServer, threaded

DAY = 86400.0
NOW = START + 0.5 * DAY
CONFIG = """
storage: {{url: "sqlite:///{db}"}}
serve: {{title: "Fleet <status>"}}
endpoints:
  - {{name: docs, url: "{url}"}}
  - {{name: billing, url: "http://127.0.0.1:9/mcp"}}
"""


def probe_result(name: str, at: float, state: str) -> Result:
    failures = [] if state == "up" else [Failure(state, "status", f"{state}: <b>bad</b>")]
    phases = {
        "dns": ("ok", 1.0),
        "tcp": ("ok", 2.0),
        "http": ("ok", 20.0),
        "tools/list": ("ok", 8.0),
    }
    return Result(name, at, state, "eu-west-1", phases, failures, {"health": state == "up"},
                  tool_count=2, cert_days=30.0)  # fmt: skip


async def fill(store: HistoryStore) -> None:
    """90 days for docs: hourly probes, one down hour 3 days ago, one degraded 10 days ago;
    billing down now with an open incident; a past incident for docs."""
    await store.migrate()
    for hour in range(90 * 24):
        at = NOW - hour * 3600
        state = "down" if hour == 72 else "degraded" if hour == 240 else "up"
        await store.add_result(probe_result("docs", at, state))
    await store.add_result(probe_result("billing", NOW - 60, "down"))
    await store.save_incident(
        Incident(
            "docs", "health", "down", "k1", NOW - 3 * DAY, "tcp: refused", NOW - 3 * DAY + 3600
        )
    )
    await store.save_incident(
        Incident("billing", "health", "down", "k2", NOW - 300, "tcp: <refused>")
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadedServer, Path]]:
    tmp = tmp_path_factory.mktemp("web")
    path = write_config(tmp, CONFIG.format(db=tmp / "h.db", url="http://127.0.0.1:9/mcp"))
    config = load_config(path, {})
    store = open_store(config.storage.url)
    asyncio.run(fill(store))
    try:
        with threaded(StatusApp(config, store, lambda: NOW)) as server:
            yield server, path
    finally:
        asyncio.run(store.aclose())


def test_status_page_shows_state_uptime_bars_and_incidents(
    site: tuple[ThreadedServer, Path],
) -> None:
    """The summary has the overall state, each endpoint's uptime, 90 bars coloured by the
    worst state of each day and its open incidents, escaped; each endpoint's own page adds
    the latency chart and past incidents."""
    base = site[0].base
    reply = httpx.get(base + "/", timeout=5)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    page = reply.text
    assert '<meta name="viewport"' in page
    assert "Fleet &lt;status&gt;" in page
    assert "<status>" not in page
    assert 'id="overall" data-state="down"' in page
    assert "Some endpoints are down" in page
    docs = page[page.index('id="endpoint-docs"') : page.index('id="endpoint-billing"')]
    bars = docs[docs.index('<svg class="bars"') : docs.index("</svg>")]
    assert bars.count("<rect") == 90
    assert bars.count('fill="#d64541"') == 1  # the one down day
    assert bars.count('fill="#d99a00"') == 1  # the one degraded day
    assert re.search(r"24h: <b>100\.00%</b>", docs)
    assert re.search(r"7d: <b>99\.\d\d%</b>", docs)
    assert '<a href="endpoint/docs.html">docs</a>' in docs
    billing = page[page.index('id="endpoint-billing"') :]
    assert "Open incidents" in billing
    assert "tcp: &lt;refused&gt;" in billing
    assert "&lt;b&gt;bad&lt;/b&gt;" in billing
    assert "<b>bad</b>" not in page
    assert "<script" not in page
    detail = httpx.get(base + "/endpoint/docs.html", timeout=5).text
    assert "<polyline" in detail
    assert "tools/list" in detail
    assert "Past incidents (1)" in detail
    assert 'href="../api/status.json"' in detail
    assert httpx.get(base + "/endpoint/nobody.html", timeout=5).status_code == 404


def test_json_api_badge_and_metrics(site: tuple[ThreadedServer, Path]) -> None:
    """The JSON API carries the same facts; a badge is valid SVG naming the state; the
    metrics are Prometheus text with blackbox-style names."""
    base = site[0].base
    status = httpx.get(base + "/api/status.json", timeout=5).json()
    assert status["state"] == "down"
    docs = status["endpoints"][0]
    assert docs["name"] == "docs"
    assert len(docs["days"]) == 90
    assert [d["state"] for d in docs["days"]].count("down") == 1
    assert status["endpoints"][1]["openIncidents"][0]["dedupKey"] == "k2"
    badge = httpx.get(base + "/badge/billing.svg", timeout=5)
    assert badge.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(badge.text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")] == ["billing", "down"]
    assert httpx.get(base + "/badge/nobody.svg", timeout=5).status_code == 404
    metrics = httpx.get(base + "/metrics", timeout=5).text
    labels = 'endpoint="docs",instance="http://127.0.0.1:9/mcp",location="local"'
    assert f"probe_success{{{labels}}} 1" in metrics
    assert f'probe_phase_duration_seconds{{{labels},phase="http"}} 0.020000' in metrics
    assert f"mcp_tools_count{{{labels}}} 2" in metrics
    assert "probe_ssl_earliest_cert_expiry{" in metrics
    assert 'mcpfleet_monitor_open_incidents{endpoint="billing"' in metrics
    for line in metrics.splitlines():
        assert line.startswith("#") or re.fullmatch(r"[a-z_]+\{[^}]*\} [0-9.e+-]+", line), line
    head = httpx.head(base + "/badge/docs.svg", timeout=5)
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(httpx.get(base + "/badge/docs.svg").content)
    assert httpx.post(base + "/", timeout=5).status_code == 405
    assert httpx.get(base + "/nothing", timeout=5).status_code == 404


def test_export_writes_the_page_as_static_files(
    site: tuple[ThreadedServer, Path], tmp_path: Path
) -> None:
    """``mcpfleet monitor export --out DIR`` writes index.html, the JSON, one badge and one
    page per endpoint, the pages linking to the JSON by relative paths."""
    out = tmp_path / "site"
    result = CliRunner().invoke(
        main, ["monitor", "export", "--config", str(site[1]), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "api/status.json", "badge/billing.svg", "badge/docs.svg", "endpoint/billing.html",
        "endpoint/docs.html", "index.html",
    ]  # fmt: skip
    assert "<polyline" in (out / "endpoint" / "docs.html").read_text()
    assert 'href="api/status.json"' in (out / "index.html").read_text()
    ET.fromstring((out / "badge" / "docs.svg").read_text())


def test_run_once_probes_every_endpoint(tmp_path: Path) -> None:
    """``mcpfleet monitor run --once`` probes each endpoint, prints its state, keeps it."""
    with threaded(mcp_target()) as target:
        path = write_config(tmp_path, CONFIG.format(db=tmp_path / "h.db", url=target.url))
        result = CliRunner().invoke(main, ["monitor", "run", "--once", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["docs: up", "billing: down"]


def test_scheduler_probes_on_interval_with_bounded_concurrency(tmp_path: Path) -> None:
    """The loop probes every endpoint again and again at its short interval, never more
    than the concurrency limit at once, and stops when told."""
    with threaded(mcp_target()) as target:
        endpoints = "".join(
            f'  - {{name: e{n}, url: "{target.url}", interval: 50ms}}\n' for n in range(4)
        )
        path = write_config(
            tmp_path, f'storage: {{url: "sqlite:///{tmp_path}/h.db"}}\nconcurrency: 2\n'
            f"endpoints:\n{endpoints}",
        )  # fmt: skip
        counts = asyncio.run(_run_until_each_has(path, 3))
    assert all(count >= 3 for count in counts.values()), counts


async def _run_until_each_has(path: Path, wanted: int) -> dict[str, int]:
    config = load_config(path, {})
    peak, active = 0, 0

    async def counting(url: str, options: Options, context: ssl.SSLContext | None) -> Report:
        """The real prober, counting how many run at once."""
        nonlocal peak, active
        active += 1
        peak = max(peak, active)
        try:
            return await probe(url, options, context)
        finally:
            active -= 1

    monitor = Monitor(config, open_store(config.storage.url), prober=counting)
    await monitor.start()
    stop = asyncio.Event()
    runner = asyncio.create_task(monitor.run(stop))
    counts: dict[str, int] = {}
    try:
        async with asyncio.timeout(20):
            while len(counts) < 4 or min(counts.values()) < wanted:
                await asyncio.sleep(0.05)
                counts = {
                    e.name: len(await monitor.store.results(e.name, 0)) for e in config.endpoints
                }
    finally:
        stop.set()
        await runner
        await monitor.aclose()
    assert peak <= 2
    return counts


def test_page_in_headless_chromium(site: tuple[ThreadedServer, Path], tmp_path: Path) -> None:
    """Headless Chromium renders the served page at phone width without a console message,
    its DOM holds both endpoints and the banner, and the screenshot is a PNG (kept in
    the test's folder)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is missing: apt-get install chromium (Debian)")
    flags = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=390,1100", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    url = site[0].base + "/"
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=60)
    shot = tmp_path / "status-phone.png"
    png = subprocess.run([*flags, f"--screenshot={shot}", url], capture_output=True, timeout=60)
    assert "Some endpoints are down" in dom.stdout
    assert 'id="endpoint-docs"' in dom.stdout
    assert 'id="endpoint-billing"' in dom.stdout
    assert ":CONSOLE" not in dom.stderr + png.stderr.decode()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {shot}")
