"""``header_map``: request headers by name, the decoded pairs clients repeat kept."""

from __future__ import annotations

import asyncio

from mcpfleet.transport import http
from mcpfleet.transport.http import current_task, header_map


def test_headers_are_decoded_and_the_last_of_a_name_wins() -> None:
    scope = {"headers": [(b"host", b"a"), (b"accept", b"x/\xe9"), (b"host", b"b")]}
    assert header_map(scope) == {"host": "b", "accept": "x/\xe9"}
    assert header_map(scope) == {"host": "b", "accept": "x/\xe9"}  # from what was kept


def test_pairs_that_cannot_be_kept_are_decoded_each_time() -> None:
    """Lists and bytearrays (unhashable) and long values are decoded, never kept."""
    long_value = b"t" * (http._LONGEST_KEPT + 1)
    scope = {"headers": [[b"x-list", b"1"], (b"x-array", bytearray(b"2")), (b"x-long", long_value)]}
    assert header_map(scope) == {"x-list": "1", "x-array": "2", "x-long": long_value.decode()}
    assert (b"x-long", long_value) not in http._DECODED
    assert (b"x-list", b"1") not in http._DECODED


def test_what_is_kept_is_bounded() -> None:
    for number in range(http._DECODED_AT_MOST + 10):
        value = str(number).encode()
        assert header_map({"headers": [(b"content-length", value)]}) == {
            "content-length": value.decode()
        }
    assert len(http._DECODED) <= http._DECODED_AT_MOST


def test_current_task_is_the_running_task_on_each_new_loop() -> None:
    """The loop a thread last ran is remembered; a new loop on it is found again."""

    async def which() -> tuple[asyncio.Task[object] | None, asyncio.Task[object] | None]:
        return current_task(), asyncio.current_task()

    for _ in range(3):  # each asyncio.run is a new loop on this thread
        found, expected = asyncio.run(which())
        assert found is expected
        assert found is not None
