"""Server-Sent Events: encode events for a response stream, and parse them back.

The encoder is what the server writes; the parser is for the prober and tests.
Neither does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

KEEPALIVE = b": keep-alive\n\n"


def encode_event(
    data: bytes | None,
    *,
    event_id: str | None = None,
    event: str | None = None,
    retry_ms: int | None = None,
) -> bytes:
    """One SSE event. ``data`` must be single-line JSON (orjson never writes newlines)."""
    parts: list[bytes] = []
    if event_id is not None:
        parts.append(b"id: " + _field(event_id) + b"\n")
    if event is not None:
        parts.append(b"event: " + _field(event) + b"\n")
    if retry_ms is not None:
        parts.append(b"retry: %d\n" % retry_ms)
    if data is not None:
        for line in data.split(b"\n"):
            parts.append(b"data: " + line + b"\n")
    elif event_id is not None:
        parts.append(b"data: \n")
    parts.append(b"\n")
    return b"".join(parts)


def _field(value: str) -> bytes:
    if "\n" in value or "\r" in value:
        raise ValueError("an SSE field may not contain a line break")
    return value.encode()


@dataclass(slots=True)
class Event:
    data: str = ""
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class EventParser:
    """Incremental SSE parser: feed bytes, get the events completed so far."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self.last_event_id: str | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk
        events: list[Event] = []
        while True:
            index = self._line_end()
            if index is None:
                return events
            end, width = index
            line = self._buffer[:end].decode()
            self._buffer = self._buffer[end + width :]
            event = self._line(line)
            if event is not None:
                events.append(event)

    def _line_end(self) -> tuple[int, int] | None:
        for i, byte in enumerate(self._buffer):
            if byte == 0x0A:
                return i, 1
            if byte == 0x0D:
                if i + 1 >= len(self._buffer):
                    return None
                return i, 2 if self._buffer[i + 1] == 0x0A else 1
        return None

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> Event | None:
        if self._id is not None:
            self.last_event_id = self._id
        if not self._data and self._retry is None and self._id is None:
            self._event = None
            return None
        event = Event("\n".join(self._data), self._event or "message", self._id, self._retry)
        self._data, self._event, self._id, self._retry = [], None, None, None
        return event
