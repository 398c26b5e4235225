"""What the benchmark servers share: command-line arguments and the uvicorn settings."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument("--port", type=int, default=3000, help="port to bind")
    return parser


def mode_flags(
    parser: argparse.ArgumentParser,
    call: str,
    *,
    json_default: bool,
    stateless_default: bool = False,
) -> None:
    """``--json-response`` and ``--stateless``: the two modes of an SDK's HTTP app ``call``."""
    parser.add_argument(
        "--json-response",
        action=argparse.BooleanOptionalAction,
        default=json_default,
        help=f"{call}(json_response=...) (default: {'on' if json_default else 'off, SSE'})",
    )
    parser.add_argument(
        "--stateless",
        action=argparse.BooleanOptionalAction,
        default=stateless_default,
        help=f"{call}(stateless_http=...) (default: {'on' if stateless_default else 'off'})",
    )


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    return parser.parse_args(argv)


def run_uvicorn(app: Any, host: str, port: int, **options: Any) -> None:
    """Serve ``app`` as ``mcpfleet serve`` does: uvloop, httptools, lifespan on, no access log
    (``options`` go to ``uvicorn.run`` too)."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
        **options,
    )
