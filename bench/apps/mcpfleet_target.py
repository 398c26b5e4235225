"""``mcpfleet serve TARGET`` with the harness's ``--host``/``--port`` arguments, for a peer
whose app is not ``bench.apps.mcpfleet_echo``, or that runs without a package.

    python -m bench.apps.mcpfleet_target --port 3000 --target bench.apps.sdk_server:mcp
    python -m bench.apps.mcpfleet_target --port 3000 --without opentelemetry

``--without PACKAGE`` makes PACKAGE (and its submodules) unimportable in this process, as
if it were not installed: the ``otel`` extra's absence, measured in the same environment
as its presence. ``WORKERS`` in the environment asks for more processes (default 1).
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Sequence
from typing import Any

from bench.apps import _serve

DEFAULT_TARGET = "bench.apps.mcpfleet_echo:app"


class Uninstalled(importlib.abc.MetaPathFinder):
    """Refuses to import the named top-level packages, as when they are not installed."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _arguments(argv: Sequence[str] | None) -> Any:
    parser = _serve.parser("mcpfleet serve TARGET, optionally without a package")
    parser.add_argument("--target", default=DEFAULT_TARGET, help="MODULE:APP to serve")
    parser.add_argument(
        "--without", action="append", default=[], metavar="PACKAGE", help="not importable"
    )
    args = _serve.parse(parser, argv)
    if args.without:
        found = [name for name in args.without if name in sys.modules]
        if found:
            raise SystemExit(f"already imported, cannot be removed: {', '.join(found)}")
        sys.meta_path.insert(0, Uninstalled(args.without))
    return args


def asgi_app(argv: Sequence[str] | None = None) -> Any:
    """The ASGI app ``mcpfleet serve`` would serve (for in-process profiling), its settings
    read from the environment as ``mcpfleet serve`` reads them."""
    from mcpfleet import Config, McpApp
    from mcpfleet.cli import load_app

    args = _arguments(argv)
    return McpApp(load_app(args.target), Config.from_env(host=args.host, port=args.port))


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    from mcpfleet.cli import main as cli

    # `mcpfleet serve` imports the target from the working directory: run from the repo root.
    workers = os.environ.get("WORKERS", "1")
    cli(
        ["serve", args.target, "--host", args.host, "--port", str(args.port), "--workers", workers],
        prog_name="mcpfleet",
        standalone_mode=True,
    )


if __name__ == "__main__":
    main()
