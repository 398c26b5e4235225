"""The processes of a test fleet: a redis-server, ``mcpfleet serve`` tasks, HAProxy in front.

Everything binds 127.0.0.1 on free ports and keeps its files in a folder the test owns;
every wait is bounded, and ``stop``/``kill`` always reap what they started.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ROOT, free_port

DEFAULT_APP = "tests.fleet.app:app"
# The same request-state key on every task, so a requestState sealed by one verifies on any.
STATE_KEYS = "fleet:" + base64.b64encode(b"fleet-request-state-key-32-bytes").decode()
# Tests stop tasks themselves: no waiting for a load balancer to deregister them.
FAST_DRAIN = {"DRAIN_DELAY_SECONDS": "0", "DRAIN_DEADLINE_SECONDS": "5"}
# HAProxy names the task that answered in this response header (t0, t1, ...).
TASK_HEADER = "x-fleet-task"


def binary(name: str, fallback: str) -> str:
    found = shutil.which(name) or (fallback if Path(fallback).exists() else None)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run scripts/install-tools.sh")
    return found


def reap(process: subprocess.Popen[bytes] | None, grace: float, *, signalled: bool = False) -> None:
    """SIGTERM (unless ``signalled`` already: a second one would stop it at once), wait up
    to ``grace`` seconds, then SIGKILL; always waits for the exit."""
    if process is None:
        return
    if process.poll() is None:
        if not signalled:
            process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- redis-server ----------------------------------------------------------------


@dataclass(frozen=True)
class RedisTls:
    """The files a redis-server serves TLS with: its certificate and key, and the CA that
    issued them (which clients verify against)."""

    cert: str
    key: str
    ca: str


class RedisServer:
    """``redis-server`` on 127.0.0.1 with its files in ``directory``; stop and start again
    on the same port and folder. With ``persistent`` it writes an append-only file, synced
    on every write, so what it held survives a restart. With ``tls`` it speaks TLS only
    (``rediss://``); with ``password`` it requires AUTH, of ``username`` (an ACL user
    allowed everything) or else of the default user; ``extra`` adds arguments."""

    def __init__(
        self,
        directory: Path,
        *,
        persistent: bool = False,
        tls: RedisTls | None = None,
        password: str | None = None,
        username: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary("redis-server", "/usr/bin/redis-server")
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.persistent = persistent
        self.tls = tls
        self.password = password
        self.username = username
        self.extra = extra
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "redis.log"

    @property
    def url(self) -> str:
        """The URL without credentials (``rediss://`` with TLS)."""
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        ports = ["--port", str(self.port)]
        if self.tls is not None:
            ports = [
                "--port",
                "0",
                "--tls-port",
                str(self.port),
                "--tls-cert-file",
                self.tls.cert,
                "--tls-key-file",
                self.tls.key,
                "--tls-ca-cert-file",
                self.tls.ca,
                "--tls-auth-clients",
                "no",
            ]
        auth: list[str] = []
        if self.password is not None and self.username is not None:
            auth = [
                "--user",
                self.username,
                "on",
                f">{self.password}",
                "~*",
                "&*",
                "+@all",
                "--user",
                "default",
                "off",
            ]
        elif self.password is not None:
            auth = ["--requirepass", self.password]
        return [
            self.binary,
            *ports,
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--dir",
            str(self.dir),
            "--save",
            "",
            *persistence,
            "--logfile",
            str(self.log),
            *auth,
            *self.extra,
        ]

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start (again, on the same port, if it ran before); returns once it answers PING."""
        first = self.port == 0
        for _attempt in range(3 if first else 1):
            if first:
                self.port = self.choose_port()
            self.process = subprocess.Popen(
                self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if self.ping():
                    return self
                time.sleep(0.02)
            reap(self.process, 2)  # exited (port taken?) or too slow: try a fresh port
            self.process = None
        raise RuntimeError(f"redis-server did not start:\n{tail(self.log)}")

    def choose_port(self) -> int:
        """A free port to listen on (a cluster node needs another one beside it)."""
        return free_port()

    def connect(self, timeout: float = 0.5) -> socket.socket:
        """A raw connection (TLS, its chain verified against the CA, when the server speaks
        it)."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if self.tls is None:
            return sock
        context = ssl.create_default_context(cafile=self.tls.ca)
        context.check_hostname = False  # the harness only asks whether it is up
        return context.wrap_socket(sock, server_hostname="127.0.0.1")

    def ping(self) -> bool:
        """A raw PING (after AUTH, if there is a password): ready when it answers +PONG
        (not -LOADING)."""
        commands = [("PING",)]
        if self.password is not None:
            commands.insert(0, ("AUTH", *filter(None, (self.username, self.password))))
        wire_bytes = b"".join(
            f"*{len(c)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in c)
            for c in commands
        )
        try:
            with self.connect() as sock:
                sock.sendall(wire_bytes)
                received = b""
                for _ in range(20):
                    received += sock.recv(4096)
                    if received.count(b"\r\n") >= len(commands):
                        break
                return received.split(b"\r\n")[len(commands) - 1].startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis syncs its append-only file) and wait for the exit."""
        reap(self.process, timeout)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        reap(self.process, 5)
        self.process = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@contextlib.contextmanager
def redis_running(
    directory: Path, *, persistent: bool = False, **options: Any
) -> Iterator[RedisServer]:
    server = RedisServer(directory, persistent=persistent, **options).start()
    try:
        yield server
    finally:
        server.kill()


# -- tasks -------------------------------------------------------------------------


def serve_command(target: str, port: int) -> list[str]:
    """How a task is started (a module-level function, so a harness may swap it)."""
    return [
        sys.executable,
        "-m",
        "mcpfleet",
        "serve",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


Command = Callable[[str, int], list[str]]


class Task:
    """One ``mcpfleet serve`` process of the fleet, its output in a log file."""

    def __init__(
        self,
        name: str,
        target: str,
        env: dict[str, str],
        directory: Path,
        command: Command | None = None,
    ) -> None:
        self.name = name
        self.target = target
        self.env = env
        self.command = command
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/mcp"
        self.log = directory / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("PORT", None)
        env.pop("HOST", None)
        with self.log.open("ab") as log:
            command = self.command or serve_command
            self.process = subprocess.Popen(
                command(self.target, self.port),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_healthy(self, deadline: float) -> None:
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"task {self.name} exited early:\n{tail(self.log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"task {self.name} did not become healthy:\n{tail(self.log)}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no graceful anything, as when a machine or container dies."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        reap(self.process, 5)

    def stop(self, grace: float = 5.0) -> None:
        reap(self.process, grace)


# -- HAProxy ---------------------------------------------------------------------------

HAPROXY_CONFIG = """\
global
    maxconn 2000
    stats socket {socket} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    # SSE responses (POST streams, GET streams, listen streams) stay open for long.
    timeout server 60s
    timeout tunnel 60s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 5s
    # Retry only when the connection to a task could not be made (the request never
    # reached it), each time on another task; a POST a task received is never replayed.
    retries 3
    retry-on conn-failure
    option redispatch 1

frontend mcp
    bind 127.0.0.1:{port}
    default_backend tasks

backend tasks
    # Every request is balanced on its own: no stickiness, no sharing of idle
    # connections to tasks between clients.
    balance roundrobin
    http-reuse never
    option httpchk GET {check_path}
    http-check expect status 200
    http-response set-header {header} %s
    default-server check inter 200ms fastinter 100ms downinter 300ms rise 1 fall 2
{servers}
"""


class HAProxy:
    """HAProxy in the foreground (``-db``) in front of the tasks."""

    def __init__(self, directory: Path, tasks: list[Task], check_path: str = "/healthz") -> None:
        self.binary = binary("haproxy", "/usr/sbin/haproxy")
        self.check_path = check_path
        self.dir = directory
        self.tasks = tasks
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.socket = self.dir / "haproxy.sock"
        self.config = self.dir / "haproxy.cfg"
        self.log = self.dir / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        servers = "\n".join(f"    server {task.name} 127.0.0.1:{task.port}" for task in self.tasks)
        self.config.write_text(
            HAPROXY_CONFIG.format(
                socket=self.socket,
                port=self.port,
                header=TASK_HEADER,
                servers=servers,
                check_path=self.check_path,
            )
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-db", "-f", str(self.config)],
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited:\n{tail(self.log)}")
            states = self.server_states()
            if states and all(state == "UP" for state in states.values()):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.base}/healthz", timeout=1.0).status_code == 200:
                        return
            time.sleep(0.05)
        raise RuntimeError(f"haproxy did not become ready:\n{tail(self.log)}")

    def admin(self, command: str) -> str:
        """One command on HAProxy's admin socket."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2.0)
                sock.connect(str(self.socket))
                sock.sendall(command.encode() + b"\n")
                chunks = []
                for _ in range(1000):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                return b"".join(chunks).decode()
        except OSError:
            return ""

    def server_states(self) -> dict[str, str]:
        """Each task's state as HAProxy's health checks see it: UP, DOWN, ..."""
        lines = self.admin("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        columns = lines[0][2:].split(",")
        proxy, name, status = (columns.index(c) for c in ("pxname", "svname", "status"))
        states = {}
        for line in lines[1:]:
            fields = line.split(",")
            if (
                len(fields) > status
                and fields[proxy] == "tasks"
                and fields[name] not in ("BACKEND", "FRONTEND")
            ):
                states[fields[name]] = fields[status].split()[0]
        return states

    def stop(self) -> None:
        reap(self.process, 5)


# -- the fleet -------------------------------------------------------------------------


class Fleet:
    """``n`` tasks of one app sharing a fleet state (Redis, when given a URL), behind HAProxy.

    ``url`` is the endpoint through HAProxy; ``tasks[i].url`` reaches one task directly.
    """

    def __init__(
        self,
        directory: Path,
        *,
        tasks: int = 3,
        app: str = DEFAULT_APP,
        redis_url: str | None = None,
        env: dict[str, str] | None = None,
        check_path: str = "/healthz",
        command: Command | None = None,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        task_env = {"REQUEST_STATE_KEYS": STATE_KEYS, **FAST_DRAIN, **(env or {})}
        if redis_url is not None:
            task_env["REDIS_URL"] = redis_url
        self.tasks = [Task(f"t{i}", app, task_env, directory, command) for i in range(tasks)]
        self.haproxy = HAProxy(directory, self.tasks, check_path)

    @property
    def url(self) -> str:
        return f"{self.haproxy.base}/mcp"

    @property
    def pids(self) -> set[int]:
        return {task.pid for task in self.tasks}

    def task(self, name: str | None) -> Task:
        return next(task for task in self.tasks if task.name == name)

    def start(self, timeout: float = 20.0) -> Fleet:
        for task in self.tasks:  # all at once: they start in parallel
            task.start()
        deadline = time.monotonic() + timeout
        for task in self.tasks:
            task.wait_healthy(deadline)
        self.haproxy.start()
        return self

    def kill(self, index: int) -> Task:
        """SIGKILL one task; returns it once it is gone."""
        task = self.tasks[index]
        task.kill()
        return task

    def wait_state(self, name: str, state: str, timeout: float = 5.0) -> None:
        """Wait until HAProxy's health checks see task ``name`` in ``state`` (UP, DOWN)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.haproxy.server_states().get(name) == state:
                return
            time.sleep(0.05)
        raise AssertionError(f"{name} is not {state}: {self.haproxy.server_states()}")

    def stop(self) -> None:
        """HAProxy first (so no client holds a task open), then every task."""
        try:
            self.haproxy.stop()
        finally:
            for task in self.tasks:  # all drain at once, then each is waited for
                if task.alive:
                    assert task.process is not None
                    task.process.terminate()
            for task in self.tasks:
                reap(task.process, 5, signalled=True)

    def logs(self, lines: int = 30) -> str:
        parts = [
            f"--- {task.name} (port {task.port}) ---\n{tail(task.log, lines)}"
            for task in self.tasks
        ]
        parts.append(f"--- haproxy ---\n{tail(self.haproxy.log, lines)}")
        return "\n".join(parts)


@contextlib.contextmanager
def fleet_running(
    directory: Path,
    *,
    tasks: int = 3,
    app: str = DEFAULT_APP,
    redis_url: str | None = None,
    env: dict[str, str] | None = None,
    check_path: str = "/healthz",
    command: Command | None = None,
) -> Iterator[Fleet]:
    fleet = Fleet(
        directory,
        tasks=tasks,
        app=app,
        redis_url=redis_url,
        env=env,
        check_path=check_path,
        command=command,
    )
    try:
        yield fleet.start()
    finally:
        fleet.stop()
        print(fleet.logs())  # shown by pytest when the test failed
