"""A seeded fuzz of the stdio transport: bad lines of both eras on one connection.

The seed is new each run and printed (``pytest -s``) and named in every failure;
``FUZZ_SEED=<seed>`` replays the cases. Each case starts from a valid message of
one era and breaks it: fields dropped or retyped, ids of every JSON type, deep
nesting, numbers no encoder can write back, invalid UTF-8, truncation, batches,
stray responses and cancellations. Tools that wait (``slow`` with valid
arguments; in the 2025 era the tools that ask the client) are never called validly.
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.stdio.raw_peer import RawPeer, modern_meta

pytestmark = pytest.mark.timeout(120)

SEED = int(os.environ.get("FUZZ_SEED", random.SystemRandom().randrange(2**32)))
CASES = 1500
WAITERS = ("ask_name", "summarise", "roots")  # in a 2025 session, these wait for the client
ODD_VALUES: list[Any] = [None, True, 0, -1, 2**70, 1.5, "", "x" * 300, [], {}, [1, [2]], {"a": {}}]


def valid_messages(rng: random.Random, legacy: bool) -> dict[str, Any]:
    """One valid request of an era (its id filled in later)."""
    meta: dict[str, Any] = {} if legacy else {"_meta": modern_meta(elicitation={})}
    tool = rng.choice(
        ["echo", "add", "slow", "grow", "no_such_tool"] + ([] if legacy else list(WAITERS))
    )
    arguments = {"echo": {"text": "t"}, "add": {"a": 1, "b": 2}}.get(tool, {"seconds": "soon"})
    if tool == "grow":
        arguments = {"name": 7}  # never valid: it would add a tool
    params = rng.choice(
        [
            {"name": tool, "arguments": arguments},
            {"uri": rng.choice(["test://greeting", "test://items/a", "test://nothing"])},
            {"name": "review", "arguments": {"code": "c"}},
            {"notifications": {"toolsListChanged": True}},
            {"cursor": "MQ=="},
            {},
        ]
    )
    method = rng.choice(
        [
            "tools/call",
            "resources/read",
            "prompts/get",
            "tools/list",
            "resources/list",
            "prompts/list",
            "resources/templates/list",
            "completion/complete",
            "server/discover",
            "logging/setLevel",
            "resources/subscribe",
            "ping",
            "no/such",
        ]
    )
    if method == "tools/call" and "name" not in params:
        params = {"name": tool, "arguments": arguments}
    return {"jsonrpc": "2.0", "method": method, "params": {**params, **meta}}


def _retype(message: dict[str, Any], rng: random.Random) -> bytes:
    target = rng.choice([message, message["params"], message["params"].get("_meta") or {}])
    if target:
        target[rng.choice(list(target))] = rng.choice(ODD_VALUES)
    return json.dumps(message).encode()


def _drop(message: dict[str, Any], rng: random.Random) -> bytes:
    target = rng.choice([message, message["params"]])
    if target:
        del target[rng.choice(list(target))]
    return json.dumps(message).encode()


def _deep(message: dict[str, Any], rng: random.Random) -> bytes:
    depth = rng.choice([40, 70, 500])
    message["params"]["arguments"] = json.loads("[" * depth + "]" * depth)
    return json.dumps(message).encode()


def _huge_number(message: dict[str, Any], rng: random.Random) -> bytes:
    return (
        json.dumps(message).encode().replace(b'"jsonrpc"', b'"n": 1' + b"0" * 400 + b', "jsonrpc"')
    )


def _bad_bytes(message: dict[str, Any], rng: random.Random) -> bytes:
    raw = json.dumps(message).encode()
    cut = rng.randrange(1, len(raw))
    return rng.choice([raw[:cut], raw[:cut] + b"\xff\xfe" + raw[cut:], b"\x00" + raw])


def _batch(message: dict[str, Any], rng: random.Random) -> bytes:
    return json.dumps([message, message]).encode()


def _stray(message: dict[str, Any], rng: random.Random) -> bytes:
    kind = rng.choice(["response", "error", "cancel", "initialized"])
    if kind == "response":
        return json.dumps(
            {"jsonrpc": "2.0", "id": rng.choice(["s-x", 5, "s-" * 50]), "result": {}}
        ).encode()
    if kind == "error":
        return json.dumps(
            {"jsonrpc": "2.0", "id": "s-y", "error": rng.choice([{}, {"code": 1, "message": "m"}])}
        ).encode()
    if kind == "cancel":
        params = {"requestId": rng.choice([*ODD_VALUES, 1, "1"])}
        return json.dumps(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}
        ).encode()
    return json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()


MUTATIONS: list[Callable[[dict[str, Any], random.Random], bytes]] = [
    _retype,
    _drop,
    _deep,
    _huge_number,
    _bad_bytes,
    _batch,
    _stray,
]


def case(rng: random.Random, number: int, legacy: bool) -> bytes:
    """One line: a broken message, or now and then a valid one."""
    message = valid_messages(rng, legacy)
    message["id"] = rng.choice([number, f"r{number}"])
    if message["method"] == "tools/call" and message["params"].get("name") == "slow":
        message["params"]["arguments"] = {"seconds": "not a number"}
    if rng.random() < 0.15:
        return json.dumps(message).encode()
    return rng.choice(MUTATIONS)(copy.deepcopy(message), rng)


def test_fuzzed_lines_get_protocol_answers_only() -> None:
    """Thousands of seeded bad lines of both eras get JSON-RPC answers only (never an
    internal error), and the server still serves and exits cleanly afterwards."""
    print(f"\nstdio fuzz: seed {SEED} (replay with FUZZ_SEED={SEED})")
    rng = random.Random(SEED)
    peer = RawPeer()
    try:
        assert peer.process.stdin is not None
        for number in range(CASES):
            if number == CASES // 2:  # the second half runs inside a 2025-era session
                init = {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "fuzz", "version": "1"},
                }
                peer.request("init", "initialize", init)
            line = case(rng, number, legacy=number > CASES // 2)
            peer.process.stdin.write(line.replace(b"\n", b" ") + b"\n")
        peer.process.stdin.flush()
        peer.request(
            "last",
            "tools/call",
            {"name": "echo", "arguments": {"text": "after"}, "_meta": modern_meta()},
        )
        reply, seen = peer.until_reply("last", timeout=60)
        assert reply["result"]["content"][0]["text"] == "after", f"seed {SEED}"
        peer.close_stdin()
        assert peer.wait(timeout=30) == 0, f"seed {SEED}"
        while (message := peer.next()) is not None:
            seen.append(message)
    finally:
        peer.stop()
    seen.extend(peer.replies.values())
    assert peer.not_protocol == [], f"seed {SEED}: {peer.not_protocol[:3]}"
    internal = [m for m in seen if m.get("error", {}).get("code") == -32603]
    assert internal == [], f"seed {SEED}: {internal[:3]}\n{peer.stderr.decode()[-3000:]}"
    assert b"Traceback" not in peer.stderr, f"seed {SEED}: {peer.stderr.decode()[-3000:]}"
