"""The streaming and disconnect tests again, served by uvicorn's own httptools protocol
(``LEAN_HTTP=0``, the path any uvicorn but the tested one takes): each test below is
collected here too, against this module's ``test_server`` and ``server``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import STATE_KEYS, ServerProcess, serving
from tests.transport.test_get_streams import (  # noqa: F401 (collected here, against `server`)
    test_get_stream_is_held_resumed_and_released,
)
from tests.transport.test_sessions import (  # noqa: F401 (collected here, against `test_server`)
    test_cancelled_notification_stops_the_handler,
    test_dropped_stream_resumes_exactly_once_in_order,
    test_get_stream_delivers_subscribed_updates_and_list_changes,
    test_server_pings_the_client,
)
from tests.transport.test_streaming import (  # noqa: F401 (collected here, against `test_server`)
    test_closing_the_stream_cancels_the_call,
    test_handles_are_bound_to_their_principal,
    test_list_pages_carry_cache_hints,
    test_listen_acknowledges_then_delivers_filtered_notifications,
    test_logs_only_at_the_requested_level,
    test_mrtr_round_trip,
    test_plain_call_is_json,
    test_progress_switches_to_sse,
    test_structured_output_matches_the_schema,
    test_sync_tool_runs,
)

PLAIN = {"LEAN_HTTP": "0"}


@pytest.fixture(scope="module")
def test_server() -> Iterator[ServerProcess]:
    """The behaviours app with state in memory, on uvicorn's own protocol."""
    with serving("tests.apps.behaviours:app", {"REQUEST_STATE_KEYS": STATE_KEYS, **PLAIN}) as up:
        yield up


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    """What ``test_get_streams`` serves (keep-alive comments every 0.1 s, Prometheus
    metrics), on uvicorn's own protocol."""
    env = {"KEEPALIVE_SECONDS": "0.1", "METRICS_PROMETHEUS": "1", **PLAIN}
    with serving("tests.apps.behaviours:app", env) as up:
        yield up
