"""--targets: many endpoints probed concurrently, with bounded concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from mcpfleet.probe import Options, Verdict, probe_many
from tests.conftest import ServerProcess
from tests.probe.helpers import cli
from tests.probe.servers import threaded

TIMEOUT = 10.0
MARGIN = 3.0  # the CLI's own start-up included


def test_200_targets_finish_within_one_timeout(tmp_path: Path) -> None:
    """200 endpoints (4 local servers, 50 times each) are all healthy within one probe timeout
    plus a small margin."""
    servers = [ServerProcess("examples.hello:app") for _ in range(4)]
    with contextlib.ExitStack() as stack:
        for server in servers:
            server.start()
            stack.callback(server.stop)
        targets = tmp_path / "targets.txt"
        lines = [servers[i % 4].url for i in range(200)]
        targets.write_text("# 200 endpoints\n" + "\n".join(lines) + "\n")
        code, output, elapsed = cli(
            "--targets", str(targets), "--timeout", str(TIMEOUT), "--concurrency", "32"
        )
    print(f"200 targets probed in {elapsed:.2f} s")
    assert code == 0, output["counts"]
    assert output["counts"] == {"healthy": 200, "degraded": 0, "down": 0}
    assert len(output["targets"]) == 200
    assert elapsed < TIMEOUT + MARGIN


class InFlight:
    """An app that holds each request 0.1 s, counting how many are in flight at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.1)
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        finally:
            self.now -= 1


def test_concurrency_is_bounded() -> None:
    """40 targets at concurrency 5 never have more than 5 requests in flight."""
    app = InFlight()
    with threaded(app) as server:
        start = time.monotonic()
        reports = asyncio.run(probe_many([server.url] * 40, Options(timeout=5), concurrency=5))
        elapsed = time.monotonic() - start
    assert all(report.verdict is Verdict.DOWN for report in reports)
    assert 1 < app.most <= 5
    assert elapsed >= 40 / 5 * 0.1
