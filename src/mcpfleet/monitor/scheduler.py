"""The monitor's loop: probe each endpoint on its interval (with jitter, at most
``concurrency`` at once, never two probes of one endpoint at a time), judge the
report, keep the result, step the alert book, persist incidents and send notices.

``Monitor.probe_endpoint`` is one turn of that for one endpoint; ``run`` is the
schedule around it; ``run_once`` is one round for a schedule kept outside this process
(``mcpfleet monitor run --once``, the Lambda function). Time stamps come from an
injected ``now`` (wall seconds), so tests can replay days in milliseconds; waiting uses
the event loop's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable

from mcpfleet.monitor.alerts import AlertBook, Notice
from mcpfleet.monitor.config import Endpoint, MonitorConfig
from mcpfleet.monitor.delivery import Dispatcher, Sleep
from mcpfleet.monitor.results import Result, evaluate
from mcpfleet.monitor.store import HistoryStore, open_store
from mcpfleet.probe.model import Options, Report
from mcpfleet.probe.net import tls_context
from mcpfleet.probe.runner import probe

log = logging.getLogger("mcpfleet.monitor")
Prober = Callable[[str, Options, ssl.SSLContext | None], Awaitable[Report]]
PRUNE_EVERY = 3600.0
RESTORE_MARGIN = 10
DRAIN_SECONDS = 60.0  # results read back beyond the alert window


class Monitor:
    def __init__(
        self,
        config: MonitorConfig,
        store: HistoryStore,
        *,
        now: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        prober: Prober = probe,
        rng: random.Random | None = None,
        page_url: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.now = now
        self.prober = prober
        self.rng = rng or random.Random()
        self.books = {e.name: AlertBook(e.name, config.alerts) for e in config.endpoints}
        self.baselines: dict[str, str | None] = {}
        self.dispatcher = Dispatcher(config.channels, store, config.location, now, sleep, page_url)
        self.gate = asyncio.Semaphore(config.concurrency)
        self._sending: set[asyncio.Task[None]] = set()
        self._running: dict[str, asyncio.Task[Result | None]] = {}
        # One TLS context per CA file, shared by every probe: building one reads the
        # system's roots, which costs more CPU than the rest of a probe.
        self._contexts: dict[str | None, ssl.SSLContext] = {}

    async def start(self) -> None:
        """Migrate the store and rebuild each alert book from what it holds."""
        await self.store.migrate()
        depth = self.config.alerts.window + self.config.alerts.successes + RESTORE_MARGIN
        for name, book in self.books.items():
            book.restore(
                await self.store.recent(name, depth), await self.store.latest_incidents(name)
            )
            self.baselines[name] = await self.store.last_hash(name)

    async def probe_endpoint(self, endpoint: Endpoint) -> Result:
        """Probe once, keep the result, and start sending whatever notices it causes."""
        at = self.now()
        cafile = endpoint.options.cafile
        if cafile not in self._contexts:
            self._contexts[cafile] = tls_context(cafile)
        async with self.gate:
            report = await self.prober(endpoint.url, endpoint.options, self._contexts[cafile])
        baseline = self.baselines.get(endpoint.name)
        result = evaluate(
            endpoint.name, report, endpoint.conditions, at, baseline, self.config.location
        )
        result.maintenance = self.config.alerts.in_maintenance(at)
        await self.store.add_result(result)
        if result.tools_hash is not None:
            self.baselines[endpoint.name] = result.tools_hash
        book = self.books[endpoint.name]
        for notice in book.observe(result, await self._others(endpoint.name, result)):
            if await self._claim(notice, book):
                self._send(notice, endpoint.url)
        return result

    async def _others(self, name: str, result: Result) -> dict[str, int]:
        """Per lane, how many other locations' latest probes (recent enough) failed it."""
        rule = self.config.alerts
        if rule.quorum <= 1 or result.maintenance:
            return {}
        since = result.at - rule.quorum_within
        latest = await self.store.latest_by_location(name, since, self.config.location)
        failing: dict[str, int] = {}
        for other in latest.values():
            for lane, ok in other.lanes.items():
                if ok is False:
                    failing[lane] = failing.get(lane, 0) + 1
        return failing

    async def _claim(self, notice: Notice, book: AlertBook) -> bool:
        """Record ``notice`` in the shared history; False when another location already
        did (this book then adopts that location's incident) and nothing is to be sent."""
        incident = notice.incident
        if notice.event == "recovered":
            return await self.store.resolve_incident(incident)
        if notice.reminder:
            every = self.config.alerts.remind_every or 0.0
            return await self.store.remind_incident(incident, notice.at - every)
        if notice.escalated:
            return await self.store.escalate_incident(incident)
        holder = await self.store.open_incident(incident)
        if holder is not None and holder.is_open and holder.lane in book.lanes:
            book.adopt(holder)
        return holder is None

    async def round(self) -> list[Result]:
        """Every endpoint once, concurrently (bounded); results in config order."""
        return list(await asyncio.gather(*map(self.probe_endpoint, self.config.endpoints)))

    def _send(self, notice: Notice, url: str) -> None:
        task = asyncio.create_task(self.dispatcher.send(notice, url))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def drain(self) -> None:
        """Wait, at most ``DRAIN_SECONDS``, for the notices being sent."""
        if self._sending:
            await asyncio.wait(set(self._sending), timeout=DRAIN_SECONDS)

    async def run(self, stop: asyncio.Event) -> None:
        """Probe on schedule until ``stop`` is set; the first probes are spread by jitter."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        due = {e.name: start + self._jitter(e.interval, first=True) for e in self.config.endpoints}
        last_prune = float("-inf")
        while not stop.is_set():
            now = loop.time()
            for endpoint in self.config.endpoints:
                if due[endpoint.name] <= now:
                    self._launch(endpoint)
                    due[endpoint.name] = max(due[endpoint.name] + endpoint.interval, now)
                    due[endpoint.name] += self._jitter(endpoint.interval)
            if now - last_prune >= PRUNE_EVERY:
                last_prune = now
                await self.prune()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, min(due.values()) - loop.time())):
                    await stop.wait()
        await self._finish()

    def _jitter(self, interval: float, *, first: bool = False) -> float:
        spread = self.config.jitter * interval
        if first:
            return self.rng.uniform(0.0, spread)
        return self.rng.uniform(-spread / 2, spread / 2)

    def _launch(self, endpoint: Endpoint) -> None:
        running = self._running.get(endpoint.name)
        if running is not None and not running.done():
            log.warning("%s: the previous probe is still running; skipped", endpoint.name)
            return
        self._running[endpoint.name] = asyncio.create_task(self._guarded(endpoint))

    async def _guarded(self, endpoint: Endpoint) -> Result | None:
        try:
            return await self.probe_endpoint(endpoint)
        except Exception:  # one endpoint's trouble (a full disk, a bug) must not stop the rest
            log.exception("%s: probing failed", endpoint.name)
            return None

    async def prune(self) -> tuple[int, int]:
        """Delete the results and hourly aggregates past the storage's retention; how many
        of each went."""
        storage = self.config.storage
        raw, hourly = await self.store.prune(self.now(), storage.raw_days, storage.hourly_days)
        if raw or hourly:
            log.info("pruned %d results and %d hourly aggregates", raw, hourly)
        return raw, hourly

    async def _finish(self) -> None:
        running = [task for task in self._running.values() if not task.done()]
        if running:
            await asyncio.wait(
                running, timeout=max(e.options.timeout for e in self.config.endpoints) + 1
            )
        await self.drain()

    async def aclose(self) -> None:
        await self.drain()
        await self.dispatcher.aclose()
        await self.store.aclose()


async def run_once(
    config: MonitorConfig,
    *,
    now: Callable[[], float] = time.time,
    page_url: str | None = None,
    period: float | None = None,
) -> list[Result]:
    """One round: migrate the history, rebuild the alert books from it, probe every endpoint
    once, keep the results, claim and send the notices (waiting for them); the results in
    config order.

    ``period`` is the outside schedule's, in seconds: given it, the round that ends within
    an hour's first period also prunes past retention, so a schedule prunes once an hour
    though no round remembers the last one. Without it, nothing is pruned."""
    monitor = Monitor(config, open_store(config.storage.url), now=now, page_url=page_url)
    try:
        await monitor.start()
        results = await monitor.round()
        if period is not None and monitor.now() % PRUNE_EVERY < period:
            await monitor.prune()
    finally:
        await monitor.aclose()  # waits for the notices being sent
    return results
