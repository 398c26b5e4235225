"""A task of a fleet drained with SIGTERM under load costs its clients nothing."""

from __future__ import annotations

import signal
import threading
import time

from tests.fleet.clients import LegacySession
from tests.fleet.conftest import MakeFleet, MakeRedis


def test_sigterm_to_one_task_under_load_fails_no_request(
    make_redis: MakeRedis, make_fleet: MakeFleet
) -> None:
    """With Redis state and 2 tasks behind HAProxy, SIGTERM to one under load: every request
    of every session succeeds, and the drained task exits 0.

    HAProxy's health check is ``/readyz``, as the deployed target group's is: readiness
    turns 503 at SIGTERM, so the balancer takes the task out during the drain delay (the
    task answers what still comes, each response closing its connection) and no request
    meets the stop."""
    redis = make_redis()
    fleet = make_fleet(tasks=2, redis=redis, check_path="/readyz",
                       env={"DRAIN_DELAY_SECONDS": "1", "DRAIN_DEADLINE_SECONDS": "6"})
    sessions = [LegacySession(fleet.url).open() for _ in range(6)]
    failures: list[str] = []
    finished: list[int] = []

    def work(session: LegacySession) -> None:
        for number in range(80):  # about 2.5 s: past the drain delay and the stop
            response = session.call_tool("echo", text=str(number))
            ok = response.status_code == 200 and "result" in response.json()
            if not ok:
                failures.append(f"{response.status_code} {response.text[:120]}")
            time.sleep(0.03)
        finished.append(1)

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    drained = fleet.tasks[1].process
    assert drained is not None
    drained.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(30)
    exit_code = drained.wait(10)
    for session in sessions:
        session.close()
    assert failures == []
    assert len(finished) == len(sessions)
    assert exit_code == 0
