"""Sync (blocking) tools, as people write them around boto3 or a database driver."""

from __future__ import annotations

import threading
import time

from mcpfleet import Server

app = Server("blocking", "1.0.0")

PARTIES = 64
_meeting = threading.Barrier(PARTIES, timeout=20)
_running = 0
_peak = 0
_lock = threading.Lock()


@app.tool()
def rendezvous() -> str:
    """Wait until 64 calls are running at once (each on its own thread), then answer."""
    _meeting.wait()
    return "met"


@app.tool()
def nap(seconds: float) -> str:
    """Block the thread for a while."""
    time.sleep(seconds)
    return "rested"


@app.tool(max_concurrency=2)
def narrow(seconds: float) -> int:
    """Block for a while; at most two calls of it run at once. Returns the most calls
    that were running at once so far."""
    global _running, _peak
    with _lock:
        _running += 1
        _peak = max(_peak, _running)
    try:
        time.sleep(seconds)
    finally:
        with _lock:
            _running -= 1
    return _peak
