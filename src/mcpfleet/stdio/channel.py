"""The bytes of the stdio transport: lines in from stdin, lines out to stdout.

stdout belongs to the protocol alone. ``claim_stdout`` moves the process's file
descriptor 1 onto stderr and keeps a private copy of the real stdout, so that a
``print()`` in a tool, a C extension writing to fd 1, or a child process that
inherits it all land on stderr; only ``ProtocolOutput`` writes the copy.

stdin is read on a thread with ``os.read``: that works for pipes, terminals and
regular files alike, never sets the descriptor non-blocking (the terminal it may
share with the parent stays as it was), and keeps reading while the event loop
is busy writing, so a client blocked on a full stdin pipe cannot deadlock with
a server blocked on a full stdout pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable

log = logging.getLogger("mcpfleet.stdio")

READ_SIZE = 64 * 1024


_claimed: list[int] = []  # the protocol's descriptor, once stdout is claimed


def claim_stdout() -> int:
    """Keep the real stdout for the protocol, and send everything else written to it
    (by Python or not) to stderr. Returns the protocol's file descriptor; a second
    call returns the same one."""
    if _claimed:
        return _claimed[0]
    with contextlib.suppress(ValueError, OSError):
        sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _claimed.append(protocol_fd)
    return protocol_fd


class ProtocolOutput:
    """Writes one message per line to the protocol's descriptor.

    A write is one synchronous call, so messages never interleave; it blocks the
    loop only while the client's pipe is full (backpressure). Once the client has
    closed its end, ``on_closed`` runs once and later messages are dropped.
    """

    def __init__(self, fd: int, on_closed: Callable[[], None]) -> None:
        self.fd = fd
        self.closed = False
        self._on_closed = on_closed

    def write(self, message: bytes) -> None:
        if self.closed:
            return
        data = memoryview(message + b"\n")
        try:
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
        except OSError as exc:  # EPIPE when the client is gone; anything else ends us too
            self.closed = True
            log.info("stdout closed (%s): stopping", type(exc).__name__)
            self._on_closed()

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            os.close(self.fd)


class LineReader:
    """Reads newline-delimited messages from ``fd`` on a daemon thread.

    ``on_lines`` gets each chunk's complete lines on the event loop (empty lines
    and a trailing carriage return dropped); ``on_oversize`` runs for a line longer
    than ``limit`` bytes, which is skipped to its end; ``on_end`` runs once, at
    end of file or a read error.
    """

    def __init__(
        self,
        fd: int,
        limit: int,
        on_lines: Callable[[list[bytes]], None],
        on_oversize: Callable[[], None],
        on_end: Callable[[], None],
    ) -> None:
        self.fd = fd
        self.limit = limit
        self._on_lines = on_lines
        self._on_oversize = on_oversize
        self._on_end = on_end
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, name="mcpfleet-stdin", daemon=True).start()

    def _deliver(self, callback: Callable[..., None], *args: object) -> bool:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the server has stopped
            return False
        return True

    def _read(self) -> None:
        pending = b""
        skipping = False  # inside a line that was too long, until its newline
        while True:
            try:
                chunk = os.read(self.fd, READ_SIZE)
            except OSError:
                chunk = b""
            if not chunk:
                self._deliver(self._on_end)
                return
            *lines, pending = (pending + chunk).split(b"\n")
            if skipping:
                if not lines:
                    pending = b""
                    continue
                lines, skipping = lines[1:], False
            if len(pending) > self.limit:
                pending, skipping = b"", True
                if not self._deliver(self._on_oversize):
                    return
            complete = [line.rstrip(b"\r") for line in lines if line.strip()]
            if complete and not self._deliver(self._on_lines, complete):
                return
