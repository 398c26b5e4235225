"""Install the peers' runtimes, each into a folder of its own under ``.bench-peers/``.

    python -m bench.setup_peers                      # every runtime a peer uses
    python -m bench.setup_peers --peers fastmcp ts-sdk
    python -m bench.setup_peers --reinstall          # throw the folders away first

A peer names its runtime (``Peer.runtime``): ``main`` is this interpreter (mcpfleet, the
floor); the others are installed here, so that a peer's dependencies (FastMCP 4 pulls its
own mcp, starlette, pydantic...) never touch the project's venv or each other:

- ``fastmcp``: a venv ``.bench-peers/fastmcp/`` with ``fastmcp>=4,<5``;
- ``mcp``: a venv ``.bench-peers/mcp/`` with ``mcp==2.3.0`` (the SDK peers) and this
  interpreter's boto3 (the SDK's twin of the document server's ``get_document``);
- ``node``: ``.bench-peers/ts-sdk/`` with ``@modelcontextprotocol/sdk@1`` and ``zod@3``,
  installed with the npm of the machine run by the Node.js 22 of ``.tools/node22``
  (``scripts/install-tools.sh`` is run first when it is missing). The app,
  ``bench/apps/ts_echo.mjs``, is linked into that folder and started with
  ``--preserve-symlinks-main``, so its imports resolve from the folder's ``node_modules``
  while the file stays the one in the repository.

The Python venvs get the uvicorn, uvloop and httptools versions of this interpreter: every
Python peer runs on the same server stack. An install is skipped when the folder's stamp
(``.installed``) holds the same specification; otherwise the folder is made afresh. Every
child process has a timeout; a failed install raises ``SetupError`` with its output.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.peers import Peer

ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = ROOT / ".bench-peers"
NODE = ROOT / ".tools" / "node22" / "node_modules" / ".bin" / "node"
INSTALL_TOOLS = ROOT / "scripts" / "install-tools.sh"
APPS = Path(__file__).resolve().parent / "apps"
MAIN = "main"
INSTALL_TIMEOUT = 900.0  # s, one pip or npm install (or install-tools.sh)
QUERY_TIMEOUT = 60.0  # s, a version query
SERVER_STACK = ("uvicorn", "uvloop", "httptools")  # pinned to this interpreter's versions


class SetupError(RuntimeError):
    """A runtime that could not be installed (or queried)."""


@dataclass(frozen=True, slots=True)
class Runtime:
    name: str
    folder: str  # under .bench-peers/
    kind: str  # "python" (a venv) or "node" (an npm folder)
    packages: tuple[str, ...]
    shown: tuple[str, ...]  # packages whose versions the report line names, the first first
    # Installed at this interpreter's versions too (boto3, for the document scenario's tool).
    same: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return PEERS_DIR / self.folder

    def spec(self) -> list[str]:
        """What to install: the packages and, in a venv, this interpreter's server stack."""
        if self.kind == "node":
            return list(self.packages)
        stack = (*SERVER_STACK, *self.same)
        return [*self.packages, *(_same_as_here(name) for name in stack)]

    def stamp(self) -> str:
        base = f"python {platform.python_version()}" if self.kind == "python" else "node 22"
        return " ".join([*self.spec(), f"({base})"]) + "\n"


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("fastmcp", "fastmcp", "python", ("fastmcp>=4,<5",), ("fastmcp", "mcp", "uvicorn")),
        Runtime("mcp", "mcp", "python", ("mcp==2.3.0",), ("mcp", "uvicorn"), ("boto3",)),
        Runtime(
            "node",
            "ts-sdk",
            "node",
            ("@modelcontextprotocol/sdk@1", "zod@3"),
            ("@modelcontextprotocol/sdk", "zod"),
        ),
    )
}


def _same_as_here(name: str) -> str:
    try:
        return f"{name}=={metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


def _run(
    command: Sequence[str | Path],
    what: str,
    timeout: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run ``command``; its stdout, or ``SetupError`` with the tail of its output."""
    try:
        done = subprocess.run(
            [str(part) for part in command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what}: no answer in {timeout:g} s") from None
    except OSError as exc:
        raise SetupError(f"{what}: {exc}") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-3000:]
        raise SetupError(f"{what} failed (exit {done.returncode}):\n{output}")
    return done.stdout


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One installer at a time (two benchmark runs starting together)."""
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    with open(PEERS_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _installed(runtime: Runtime) -> bool:
    stamp = runtime.path / ".installed"
    if not stamp.is_file() or stamp.read_text() != runtime.stamp():
        return False
    if runtime.kind == "node":
        return NODE.exists() and (runtime.path / "node_modules").is_dir()
    return executable(runtime).exists()


def _node_env() -> dict[str, str]:
    """PATH with Node.js 22 first: npm's ``#!/usr/bin/env node`` then runs it."""
    return {**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def _install(runtime: Runtime) -> None:
    shutil.rmtree(runtime.path, ignore_errors=True)
    runtime.path.mkdir(parents=True)
    spec = runtime.spec()
    if runtime.kind == "python":
        _run([sys.executable, "-m", "venv", runtime.path], f"venv {runtime.path}", QUERY_TIMEOUT)
        pip = [executable(runtime), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        _run([*pip, *spec], f"pip install {' '.join(spec)}", INSTALL_TIMEOUT)
    else:
        if not NODE.exists():  # Node.js 22 comes with the test tools
            _run(["bash", INSTALL_TOOLS], str(INSTALL_TOOLS), INSTALL_TIMEOUT, cwd=ROOT)
        npm = shutil.which("npm", path=_node_env()["PATH"])
        if not NODE.exists() or npm is None:
            raise SetupError(f"node runtime: no {NODE} or no npm; run {INSTALL_TOOLS}")
        package = {"name": f"bench-peer-{runtime.folder}", "private": True}
        (runtime.path / "package.json").write_text(json.dumps(package) + "\n")
        npm_install = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *spec]
        _run(
            npm_install,
            f"npm install {' '.join(spec)}",
            INSTALL_TIMEOUT,
            cwd=runtime.path,
            env=_node_env(),
        )
    (runtime.path / ".installed").write_text(runtime.stamp())


def executable(runtime: Runtime) -> Path:
    return runtime.path / "bin" / "python" if runtime.kind == "python" else NODE


def _link_apps(runtime: Runtime) -> None:
    """Each ``bench/apps/*.mjs`` linked into the node folder (kept current: a link)."""
    for app in APPS.glob("*.mjs"):
        link = runtime.path / app.name
        target = os.path.relpath(app, runtime.path)
        if not link.is_symlink() or os.readlink(link) != target:
            link.unlink(missing_ok=True)
            link.symlink_to(target)


@cache
def prepare(name: str) -> Runtime:
    """Runtime ``name``, installed (once per process; a no-op when its stamp matches)."""
    runtime = RUNTIMES.get(name)
    if runtime is None:
        raise SetupError(f"unknown runtime {name!r}; known: {MAIN}, {', '.join(RUNTIMES)}")
    with _locked():
        if not _installed(runtime):
            print(f"bench: installing {runtime.name} into {runtime.path}", file=sys.stderr)
            _install(runtime)
        if runtime.kind == "node":
            _link_apps(runtime)
    return runtime


def command(name: str, module: str, arguments: Sequence[str]) -> list[str]:
    """The argv serving ``module`` (a Python module, or a ``bench/apps`` .mjs file)."""
    runtime = prepare(name)
    if runtime.kind == "node":
        script = runtime.path / module
        return [str(NODE), "--preserve-symlinks-main", str(script), *arguments]
    return [str(executable(runtime)), "-m", module, *arguments]


def version_line(name: str) -> str:
    """E.g. ``fastmcp 4.2.3 (mcp 2.3.0, uvicorn 0.54.0), Python 3.11.7``."""
    runtime = prepare(name)
    if runtime.kind == "python":
        query = (
            "import importlib.metadata as m, platform, sys\n"
            "print(*[m.version(n) for n in sys.argv[1:]], platform.python_version())"
        )
        out = _run(
            [executable(runtime), "-c", query, *runtime.shown], f"{name} versions", QUERY_TIMEOUT
        )
        *versions, base = out.split()
        base = f"Python {base}"
    else:
        modules = runtime.path / "node_modules"
        versions = [
            json.loads((modules / package / "package.json").read_text())["version"]
            for package in runtime.shown
        ]
        base = "node " + _run([NODE, "--version"], "node --version", QUERY_TIMEOUT).strip()
    named = [
        f"{package} {version}" for package, version in zip(runtime.shown, versions, strict=True)
    ]
    extra = f" ({', '.join(named[1:])})" if len(named) > 1 else ""
    return f"{named[0]}{extra}, {base}"


def runtimes_of(peers: Iterable[Peer]) -> list[str]:
    return list(dict.fromkeys(peer.runtime for peer in peers if peer.runtime != MAIN))


def ensure(peers: Iterable[Peer]) -> dict[str, str]:
    """Install what ``peers`` need; each runtime's version line, e.g. ``{"fastmcp": ...}``."""
    return {name: version_line(name) for name in runtimes_of(peers)}


def main(argv: Sequence[str] | None = None) -> int:
    from bench.peers import PEERS, select

    parser = argparse.ArgumentParser(prog="python -m bench.setup_peers", description=__doc__)
    parser.add_argument("--peers", nargs="+", metavar="PEER", help="default: every peer")
    parser.add_argument("--reinstall", action="store_true", help="install afresh")
    args = parser.parse_args(argv)
    peers = select(args.peers) if args.peers else list(PEERS.values())
    if args.reinstall:
        for name in runtimes_of(peers):
            shutil.rmtree(RUNTIMES[name].path, ignore_errors=True)
    try:
        versions = ensure(peers)
    except SetupError as exc:
        print(f"bench.setup_peers: {exc}", file=sys.stderr)
        return 1
    for name, line in versions.items():
        print(f"{name}: {line}  [{RUNTIMES[name].path.relative_to(ROOT)}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
