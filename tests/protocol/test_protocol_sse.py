"""Server-Sent Events encoding and incremental parsing (mcpfleet.protocol.sse)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from protocol_strategies import FAST, json_values

from mcpfleet.protocol.sse import KEEPALIVE, Event, EventParser, encode_event

# --------------------------------------------------------------------------- encoder


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"data": b'{"a":1}'}, b'data: {"a":1}\n\n', id="data-only"),
        pytest.param({"data": b""}, b"data: \n\n", id="empty-data"),
        pytest.param(
            {"data": b"x", "event_id": "7", "event": "message", "retry_ms": 1000},
            b"id: 7\nevent: message\nretry: 1000\ndata: x\n\n",
            id="all-fields-in-order",
        ),
        pytest.param({"data": b"x", "event_id": "s-1"}, b"id: s-1\ndata: x\n\n", id="id-and-data"),
        pytest.param(
            {"data": b"x", "event": "endpoint"}, b"event: endpoint\ndata: x\n\n", id="event-name"
        ),
        pytest.param({"data": b"x", "retry_ms": 0}, b"retry: 0\ndata: x\n\n", id="retry-zero"),
        pytest.param(
            {"data": b"line1\nline2\nline3"},
            b"data: line1\ndata: line2\ndata: line3\n\n",
            id="one-data-line-per-line",
        ),
        pytest.param({"data": b"a\n"}, b"data: a\ndata: \n\n", id="trailing-newline-in-data"),
        pytest.param(
            {"data": "caf\u00e9 \u4e16".encode()},
            "data: caf\u00e9 \u4e16\n\n".encode(),
            id="utf8-data",
        ),
    ],
)
def test_encode_event(kwargs: dict[str, Any], expected: bytes) -> None:
    """encode_event writes id:, event:, retry:, then one data: line per data line, then a blank."""
    assert encode_event(**kwargs) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"event_id": "a\nb"}, id="id-lf"),
        pytest.param({"event_id": "a\rb"}, id="id-cr"),
        pytest.param({"event": "a\r\nb"}, id="event-crlf"),
        pytest.param({"event": "\n"}, id="event-only-lf"),
    ],
)
def test_encode_event_refuses_line_breaks_in_fields(kwargs: dict[str, Any]) -> None:
    """An id or event name containing CR or LF raises ValueError instead of breaking the stream."""
    with pytest.raises(ValueError, match="line break"):
        encode_event(b"x", **kwargs)


def test_encoded_id_only_event_sets_last_event_id() -> None:
    """An event with an id and no data still carries its id to the parser."""
    parser = EventParser()
    events = parser.feed(encode_event(None, event_id="prime-1"))
    assert [event.id for event in events] == ["prime-1"]
    assert all(event.data == "" for event in events)
    assert parser.last_event_id == "prime-1"


def test_keepalive_is_a_comment() -> None:
    """The keep-alive frame is an SSE comment the parser ignores."""
    assert KEEPALIVE.startswith(b":")
    parser = EventParser()
    assert parser.feed(KEEPALIVE) == []
    assert parser.last_event_id is None


# --------------------------------------------------------------------------- parser


@pytest.mark.parametrize(
    ("stream", "expected", "last_event_id"),
    [
        pytest.param(b"data: x\n\n", [Event("x")], None, id="lf"),
        pytest.param(b"data: x\r\n\r\n", [Event("x")], None, id="crlf"),
        pytest.param(b"data: x\r\rdata: y\n\n", [Event("x"), Event("y")], None, id="cr"),
        pytest.param(b"data: a\rdata: b\ndata: c\r\n\n", [Event("a\nb\nc")], None, id="mixed-ends"),
        pytest.param(b"data:x\n\n", [Event("x")], None, id="no-space-after-colon"),
        pytest.param(b"data:  x\n\n", [Event(" x")], None, id="only-one-space-stripped"),
        pytest.param(b"data\n\n", [Event("")], None, id="field-without-colon"),
        pytest.param(b"data: a\ndata: b\n\n", [Event("a\nb")], None, id="multi-line-data"),
        pytest.param(b"data: a:b\n\n", [Event("a:b")], None, id="colon-in-value"),
        pytest.param(
            b"event: ping\ndata: x\n\n", [Event("x", event="ping")], None, id="event-name"
        ),
        pytest.param(b"event:\ndata: x\n\n", [Event("x")], None, id="empty-event-name-default"),
        pytest.param(b"id: 5\ndata: x\n\n", [Event("x", id="5")], "5", id="id-sets-last-event-id"),
        pytest.param(
            b"id: 1\ndata: a\n\ndata: b\n\n",
            [Event("a", id="1"), Event("b")],
            "1",
            id="last-event-id-persists",
        ),
        pytest.param(
            b"id: 1\ndata: a\n\nid: 2\ndata: b\n\n",
            [Event("a", id="1"), Event("b", id="2")],
            "2",
            id="last-event-id-updates",
        ),
        pytest.param(
            b"id: 1\ndata: a\n\nid\ndata: b\n\n",
            [Event("a", id="1"), Event("b", id="")],
            "",
            id="empty-id-resets",
        ),
        pytest.param(b"id: a\x00b\ndata: x\n\n", [Event("x")], None, id="id-with-nul-ignored"),
        pytest.param(
            b"retry: 3000\ndata: x\n\n", [Event("x", retry=3000)], None, id="retry-digits"
        ),
        pytest.param(b"retry: 3s\ndata: x\n\n", [Event("x")], None, id="retry-not-digits"),
        pytest.param(b"retry: -1\ndata: x\n\n", [Event("x")], None, id="retry-negative"),
        pytest.param(b"retry:\ndata: x\n\n", [Event("x")], None, id="retry-empty"),
        pytest.param(
            "retry: \u00b2\ndata: x\n\n".encode(), [Event("x")], None, id="retry-superscript-digit"
        ),
        pytest.param(
            "retry: \u0661\u0662\ndata: x\n\n".encode(),
            [Event("x")],
            None,
            id="retry-non-ascii-digits",
        ),
        pytest.param(b": comment\ndata: x\n\n", [Event("x")], None, id="comment-ignored"),
        pytest.param(b":\r\ndata: x\r\n\r\n", [Event("x")], None, id="bare-colon-comment"),
        pytest.param(b"foo: bar\ndata: x\n\n", [Event("x")], None, id="unknown-field-ignored"),
        pytest.param(b"Data: x\n\n", [], None, id="field-names-case-sensitive"),
        pytest.param(b"\n\n\n", [], None, id="blank-lines-only"),
        pytest.param(b"event: e\n\ndata: x\n\n", [Event("x")], None, id="event-without-data"),
        pytest.param(b"data: x\n", [], None, id="unterminated-event-not-dispatched"),
        pytest.param(b"data: x", [], None, id="unterminated-line-not-read"),
        pytest.param(
            'data: {"t":"\u4e16\u754c"}\n\n'.encode(),
            [Event('{"t":"\u4e16\u754c"}')],
            None,
            id="utf8",
        ),
        pytest.param(
            b"data: 1\n\ndata: 2\n\ndata: 3\n\n",
            [Event("1"), Event("2"), Event("3")],
            None,
            id="several-events",
        ),
    ],
)
def test_parser(stream: bytes, expected: list[Event], last_event_id: str | None) -> None:
    """EventParser handles LF/CR/CRLF ends, field syntax, comments, retry and last_event_id."""
    parser = EventParser()
    assert parser.feed(stream) == expected
    assert parser.last_event_id == last_event_id


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([b"data: a\r", b"\n", b"\r\n"], id="crlf-split-between-cr-and-lf"),
        pytest.param([b"data: a\r", b"\ndata: b\r\n\r\n"], id="cr-at-chunk-end"),
        pytest.param([b"da", b"ta: a", b"\n\n"], id="split-in-field-name"),
        pytest.param([b"data: a\n", b"\n"], id="split-before-blank-line"),
        pytest.param([b"", b"data: a\n\n", b""], id="empty-chunks"),
        pytest.param(
            ["data: \u4e16".encode()[:-1], "data: \u4e16".encode()[-1:] + b"\n\n"],
            id="split-inside-utf8",
        ),
    ],
)
def test_parser_chunking(chunks: list[bytes]) -> None:
    """Splitting the byte stream anywhere, even between CR and LF, does not change the events."""
    whole = EventParser().feed(b"".join(chunks))
    parser = EventParser()
    pieces: list[Event] = []
    for chunk in chunks:
        pieces.extend(parser.feed(chunk))
    assert pieces == whole
    assert len(pieces) == 1


def test_cr_at_end_waits_for_next_chunk() -> None:
    """A CR at the end of a chunk is held until the next byte shows whether LF follows."""
    parser = EventParser()
    assert parser.feed(b"data: a\r\n\r") == []
    assert parser.feed(b"\n") == [Event("a")]
    assert parser.feed(b"data: b\n\n") == [Event("b")]


# --------------------------------------------------------------------------- properties

sse_ids = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\r\n\x00"), max_size=20
)
event_names = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), min_size=1, max_size=20
)
events = st.lists(
    st.tuples(
        json_values,
        st.none() | sse_ids,
        st.none() | event_names,
        st.none() | st.integers(min_value=0, max_value=10**9),
    ),
    min_size=1,
    max_size=6,
)


def _split(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(stream) + 1) for cut in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(stream[start:point])
        start = point
    pieces.append(stream[start:])
    return pieces


@FAST
@given(spec=events, cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_encode_then_parse_identity(
    spec: list[tuple[Any, str | None, str | None, int | None]], cuts: list[int]
) -> None:
    """Events encoded with JSON data, ids, names and retry parse back the same, in any chunking."""
    stream = b"".join(
        encode_event(orjson.dumps(value), event_id=event_id, event=name, retry_ms=retry)
        for value, event_id, name, retry in spec
    )
    parser = EventParser()
    parsed: list[Event] = []
    for piece in _split(stream, cuts):
        parsed.extend(parser.feed(piece))
    assert len(parsed) == len(spec)
    for event, (value, event_id, name, retry) in zip(parsed, spec, strict=True):
        assert orjson.loads(event.data) == value
        assert event.data == orjson.dumps(value).decode()
        assert event.id == event_id
        assert event.event == (name or "message")
        assert event.retry == retry
    ids = [event_id for _, event_id, _, _ in spec if event_id is not None]
    assert parser.last_event_id == (ids[-1] if ids else None)
