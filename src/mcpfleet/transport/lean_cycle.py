"""uvicorn's request cycle, writing a whole response in one write.

uvicorn's ``RequestResponseCycle.send`` writes a response's head when the app sends
``http.response.start`` and its body when the app sends the body: two writes, so two
system calls, for every JSON answer, and every header of the head checked against two
regular expressions each time. ``LeanCycle`` holds the head of a response that declares
its ``Content-Length`` until the body comes, then writes both at once; the head's lines
are checked as uvicorn checks them, once per distinct header (``_LINES``), and built
into bytes once per second for uvicorn's own ``date`` and ``server`` headers.

Everything else goes to uvicorn's ``send`` unchanged: a response without a
``Content-Length`` (an SSE stream, chunked), one whose headers uvicorn acts on
(``connection``, ``transfer-encoding``, a repeated ``content-length``), a HEAD request,
an access log, a connection whose writes are paused, and any header uvicorn would
refuse (it then refuses it). The bytes sent are uvicorn's own.

It reads and sets uvicorn's cycle attributes (``response_started``,
``response_complete``, ``chunked_encoding``, ``expected_content_length``,
``waiting_for_100_continue``, ``keep_alive``, ``disconnected``, ``default_headers``,
``flow``, ``message_event``, ``on_response``, ``access_log``, ``transport``, ``scope``)
and its module's ``HEADER_RE``, ``HEADER_VALUE_RE`` and ``STATUS_LINE``: it is used only
by ``LeanHttpToolsProtocol``, with the uvicorn releases that was tested with.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)

# A header as the app sends it -> its line in a head, once checked (clients and the app
# repeat a few: a bound keeps a stream of distinct values from growing it).
_LINES: dict[tuple[bytes, bytes], bytes] = {}
_LINES_AT_MOST = 1024
# Headers uvicorn acts on besides writing them: left to its ``send``.
_ACTED_ON = frozenset({b"content-length", b"transfer-encoding", b"connection"})
# Bodies up to this size are joined to their head; larger ones are written after it
# in the same call (``writelines``), not copied.
JOIN_AT_MOST = 64 * 1024
_CLOSE = b"connection: close\r\n"


def _line(name: bytes, value: bytes) -> bytes | None:
    """The head line of one header, or ``None`` for one this cycle leaves to uvicorn."""
    return _LINES.get((name, value)) or _new_line(name, value)


def _new_line(name: bytes, value: bytes) -> bytes | None:
    """``_line`` for a header not seen yet: checked, built, and kept."""
    if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
        return None  # uvicorn refuses it, with its own error
    lower = name.lower()
    if lower in _ACTED_ON:
        return None
    line = b"".join((lower, b": ", value, b"\r\n"))
    if len(_LINES) < _LINES_AT_MOST:
        _LINES[(name, value)] = line
    return line


class _Defaults:
    """uvicorn's default headers (``date`` and ``server``) as head lines. uvicorn makes a
    new list of them every second; the lines are made again when the list changes."""

    __slots__ = ("lines", "source")

    def __init__(self) -> None:
        self.source: list[tuple[bytes, bytes]] | None = None
        self.lines = b""

    def of(self, headers: list[tuple[bytes, bytes]]) -> bytes | None:
        if headers is self.source:
            return self.lines
        lines = [_line(name, value) for name, value in headers]
        if any(line is None for line in lines):
            return None
        self.source = headers  # held here, so its identity cannot be reused meanwhile
        self.lines = b"".join(lines)  # type: ignore[arg-type]
        return self.lines


_DEFAULTS = _Defaults()


class LeanCycle(RequestResponseCycle):
    """A request cycle that writes a response with a ``Content-Length`` in one write."""

    _head: bytes | None = None  # the head held until the body comes

    async def send(self, message: Any) -> None:
        head = self._head
        if head is None:
            if self.response_started or not self._hold(message):
                await super().send(message)
            return
        # The body of a held head.
        if message["type"] != "http.response.body":
            self._head = None
            self.transport.write(head)
            await super().send(message)  # uvicorn's error for a message out of place
            return
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        self._head = None
        if self.disconnected:
            return
        body = message.get("body", b"")
        size = len(body)
        if size > self.expected_content_length:
            self.transport.write(head)
            raise RuntimeError("Response content longer than Content-Length")
        self.expected_content_length -= size
        if size <= JOIN_AT_MOST:
            self.transport.write(head + body)
        else:
            self.transport.writelines((head, body))
        if message.get("more_body", False):
            return
        if self.expected_content_length != 0:
            raise RuntimeError("Response content shorter than Content-Length")
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()

    async def receive(self) -> Any:
        # A body already in full (the common case: it came with its head) is returned
        # without waiting on the request's Event; anything else is uvicorn's own.
        event = self.message_event
        if (
            event.is_set()
            and not self.more_body
            and not self.waiting_for_100_continue
            and not self.disconnected
            and not self.response_complete
        ):
            self.flow.resume_reading()
            event.clear()
            body = self.body
            self.body = bytearray()
            return {"type": "http.request", "body": bytes(body), "more_body": False}
        return await super().receive()

    def _hold(self, message: Any) -> bool:
        """Keep the head of this response start for its body, if it is the common case."""
        if (
            message["type"] != "http.response.start"
            or self.flow.write_paused
            or self.disconnected
            or self.access_log
            or self.scope["method"] == "HEAD"
        ):
            return False
        status = message["status"]
        status_line = STATUS_LINE.get(status) if status.__class__ is int else None
        defaults = _DEFAULTS.of(self.default_headers)
        if status_line is None or defaults is None:
            return False
        content = [status_line, defaults]
        length = None
        for name, value in message.get("headers", ()):
            if name == b"content-length" and length is None and value.isdigit():
                length = int(value)
                content.append(b"content-length: " + value + b"\r\n")
                continue
            line = _LINES.get((name, value)) or _new_line(name, value)  # _line, inline
            if line is None:
                return False
            content.append(line)
        if length is None:
            return False
        if not self.keep_alive:
            content.append(_CLOSE)
        content.append(b"\r\n")
        self.response_started = True
        self.waiting_for_100_continue = False
        self.chunked_encoding = False
        self.expected_content_length = length
        self._head = b"".join(content)
        return True
