"""A seeded fuzz of the endpoint: thousands of bad requests of both eras, in both fleet
states, and the server never answers 5xx (but deliberate 503s, and the 500 of a handler
that fails on purpose), never takes over 5 s, stays healthy and stays small.

The seed is new each run and printed (``pytest -s``) and named in every failure;
``FUZZ_SEED=<seed>`` replays a run (the cases, not the interleaving of the
concurrent clients). ``FUZZ_REQUESTS`` sets the number of requests per fleet state.
The generators are in ``fuzz_cases``.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ServerProcess
from tests.transport.fuzz_cases import Case, CaseFactory, Targets
from tests.wire import call, initialize, legacy_call, legacy_headers, request

SEED = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))
REQUESTS = int(os.environ.get("FUZZ_REQUESTS") or 4000)  # per fleet state: 8,000 in all
WARM_UP = 300  # requests before the first RSS reading: caches and pools fill first
CLIENTS = 8  # concurrent connections
LIMIT_SECONDS = 5.0
RSS_GROWTH_BOUND = 50 * 1024 * 1024  # bytes, from after the warm-up to the end
N_SESSIONS = 4
MAX_BODY = 4 * 1024 * 1024  # the server's default MAX_BODY_BYTES


@dataclass(slots=True)
class Outcome:
    case: Case
    status: int = 0
    headers: httpx.Headers | None = None
    body: bytes = b""
    seconds: float = 0.0
    error: str | None = None  # a timeout, or a connection the server broke
    unsent: bool = False  # httpx refused to write the request (not the server's doing)

    def describe(self) -> str:
        answer = (
            f"  -> {self.error}"
            if self.error
            else f"  -> {self.status} {dict(self.headers or {})!r}\n     {self.body[:400]!r}"
        )
        return f"{self.case.describe()}\n{answer}\n  in {self.seconds:.2f} s"


def rss_bytes(server: ServerProcess) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


# -- what the server offers the fuzz ----------------------------------------------------


def tool_schemas(url: str) -> dict[str, dict[str, Any]]:
    tools: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        response = call(url, "tools/list", {"cursor": cursor} if cursor else {})
        result = response.json()["result"]
        tools.update({tool["name"]: tool["inputSchema"] for tool in result["tools"]})
        cursor = result.get("nextCursor")
        if not cursor:
            return tools


def event_ids(url: str, session_id: str) -> list[str]:
    """Ids of real events: of a POST's stream (a chatty call) and of a GET stream."""
    found: list[str] = []
    message = {
        "jsonrpc": "2.0",
        "id": "ids",
        "method": "tools/call",
        "params": {"name": "chatty", "arguments": {}},
    }
    response = httpx.post(
        url, content=orjson.dumps(message), headers=legacy_headers(session_id), timeout=10
    )
    found += [line[3:].strip() for line in response.text.splitlines() if line.startswith("id:")]
    headers = {**legacy_headers(session_id), "accept": "text/event-stream"}
    with httpx.stream("GET", url, headers=headers, timeout=10) as stream:
        for line in stream.iter_lines():
            if line.startswith("id:"):
                found.append(line[3:].strip())
                break
    return found


def targets_of(server: ServerProcess) -> Targets:
    url = server.url
    sessions = [initialize(url)[0] for _ in range(N_SESSIONS)]
    asked = call(
        url,
        "tools/call",
        {
            "name": "ask_name",
            "arguments": {},
            "_meta": {
                **request("x")["params"]["_meta"],
                "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
            },
        },
    )
    state = asked.json()["result"]["requestState"]
    return Targets(
        tools=tool_schemas(url),
        sessions=sessions,
        event_ids=event_ids(url, sessions[0]),
        request_state=state,
    )


# -- sending ----------------------------------------------------------------------------


async def chunks(body: bytes) -> AsyncIterator[bytes]:
    size = max(1, len(body) // 3)
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def send_one(client: httpx.AsyncClient, base: str, case: Case) -> Outcome:
    outcome = Outcome(case)
    content: Any = chunks(case.body) if case.chunked else case.body
    headers = case.headers
    started = time.perf_counter()
    try:
        async with asyncio.timeout(LIMIT_SECONDS + 1):
            request = client.build_request(
                case.method, base + case.path, headers=headers, content=content
            )
            response = await client.send(request, stream=True)
            try:
                outcome.status, outcome.headers = response.status_code, response.headers
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    outcome.body = await response.aread()
                # an SSE stream answered in time: its head is the answer, never held open
            finally:
                await response.aclose()
    except httpx.LocalProtocolError:
        outcome.unsent = True
    except (TimeoutError, httpx.TimeoutException):
        outcome.error = "timeout"
    except httpx.HTTPError as error:
        outcome.error = f"{type(error).__name__}: {error}"
    outcome.seconds = time.perf_counter() - started
    return outcome


async def send_all(base: str, cases: list[Case]) -> list[Outcome]:
    queue = iter(cases)
    outcomes: list[Outcome] = []
    timeout = httpx.Timeout(LIMIT_SECONDS)

    async def worker() -> None:
        async with httpx.AsyncClient(timeout=timeout) as client:
            for case in queue:
                outcomes.append(await send_one(client, base, case))

    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return outcomes


# -- judging ----------------------------------------------------------------------------


def fault(outcome: Outcome) -> str | None:
    """Why an outcome breaks the rules, or None."""
    if outcome.unsent:
        return None
    if outcome.error is not None:
        return outcome.error.split(":", 1)[0]
    if outcome.seconds > LIMIT_SECONDS:
        return "slow"
    if b"secret" in outcome.body:
        return "leak"
    status = outcome.status
    headers = outcome.headers or httpx.Headers()
    if status == 503:
        return None if headers.get("retry-after", "").isdigit() else "503 without Retry-After"
    if status == 500 and outcome.case.deliberate_500:  # the app's own failure, told as such
        try:
            error = orjson.loads(outcome.body)["error"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            return "500"
        return None if error == {"code": -32603, "message": "Internal error"} else "500"
    if status >= 500:
        return str(status)
    return None


def report(outcomes: list[Outcome], state: str) -> tuple[list[str], str]:
    """The distinct failures (one example each) and a summary line."""
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in outcomes:
        why = fault(outcome)
        if why is not None:
            groups.setdefault((outcome.case.family, why), []).append(outcome)
    details = [
        f"{why} x{len(found)} ({family}):\n{found[0].describe()}"
        for (family, why), found in sorted(groups.items())
    ]
    unsent = sum(o.unsent for o in outcomes)
    statuses: dict[int, int] = {}
    for outcome in outcomes:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    slowest = max(outcomes, key=lambda o: o.seconds)
    summary = (
        f"fuzz[{state}] seed={SEED}: {len(outcomes)} requests ({unsent} unsendable), "
        f"statuses {dict(sorted(statuses.items()))}, slowest {slowest.seconds:.2f} s"
    )
    return details, summary


def still_serving(server: ServerProcess) -> None:
    assert server.alive, f"seed {SEED}: the server died:\n{server.stop()}"
    assert httpx.get(f"{server.base}/healthz", timeout=5).status_code == 200, f"seed {SEED}"
    echoed = call(server.url, "tools/call", {"name": "echo", "arguments": {"text": "after"}})
    assert echoed.status_code == 200, f"seed {SEED}: {echoed.text}"
    assert echoed.json()["result"]["content"][0]["text"] == "after", f"seed {SEED}"
    session_id, _ = initialize(server.url)
    pinged = legacy_call(server.url, session_id, "ping")
    assert pinged.status_code == 200, f"seed {SEED}: {pinged.text}"


def test_fuzzed_requests_never_get_a_5xx_or_hang(
    test_server: ServerProcess, request: pytest.FixtureRequest
) -> None:
    """Thousands of seeded bad requests of both eras get no 5xx (but deliberate ones), each
    answer comes within 5 s, and afterwards the server is healthy and its RSS grew less
    than the bound."""
    state = request.node.callspec.params["test_server"]
    print(f"\nfuzz[{state}]: seed {SEED} (replay with FUZZ_SEED={SEED})")
    factory = CaseFactory(random.Random(f"{SEED}:{state}"), targets_of(test_server))
    cases = factory.cases(REQUESTS)
    started = time.perf_counter()
    outcomes = asyncio.run(send_all(test_server.base, cases[:WARM_UP]))
    rss_before = rss_bytes(test_server)
    outcomes += asyncio.run(send_all(test_server.base, cases[WARM_UP:]))
    elapsed = time.perf_counter() - started
    rss_after = rss_bytes(test_server)
    details, summary = report(outcomes, state)
    growth = rss_after - rss_before
    print(f"{summary}, {elapsed:.1f} s, RSS {rss_before >> 20} -> {rss_after >> 20} MiB")
    assert not details, (
        f"seed {SEED} (replay with FUZZ_SEED={SEED}): {len(details)} distinct "
        "failures\n\n" + "\n\n".join(details[:12])
    )
    assert sum(o.unsent for o in outcomes) < len(outcomes) // 10, f"seed {SEED}: {summary}"
    still_serving(test_server)
    assert growth < RSS_GROWTH_BOUND, (
        f"seed {SEED}: RSS grew by {growth >> 20} MiB over {len(outcomes) - WARM_UP} requests"
    )
