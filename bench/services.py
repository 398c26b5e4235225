"""What a benchmark configuration runs besides mcpfleet: a redis-server and HAProxy.

``for_run`` sets up what one run of a peer needs besides its server: its redis-server,
its token issuer (``bench.issuer``), the OTLP sink of a peer that exports telemetry
(``bench.otlp_sink``), the S3 API server of the document scenario
(``bench.s3``), the switch that makes the apps serve the workloads, and a file
descriptor limit that holds every connection.

Both bind 127.0.0.1 on a free port, run in the foreground as children of this
process, pinned with ``taskset`` like the servers, and are stopped (SIGTERM,
then SIGKILL) on the way out whatever happens. Redis keeps nothing on disk
(``--save "" --appendonly no``); HAProxy balances every request on its own
(round robin, no stickiness) and shares its idle connections to the tasks
between client connections (``http-reuse always``), so consecutive requests of
one client connection really go to the tasks in turn without a new TCP
connection each time.
"""

from __future__ import annotations

import contextlib
import http.client
import resource
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import workloads
from bench.client import raise_open_files_limit
from bench.peers import Peer
from bench.run import HOST, START_TIMEOUT, BenchError, free_port, pinned, stop
from bench.scenarios import SCENARIOS, WORKLOAD_NAMES


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise BenchError(f"{name} is not installed (scripts/install-tools.sh)")
    return found


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


@dataclass(frozen=True, slots=True)
class Running:
    """A started helper: its process, its port, and (Redis) the URL the tasks use."""

    process: subprocess.Popen[bytes]
    port: int
    url: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(cpu: int | None) -> Iterator[Running]:
    """A fresh redis-server (database 0 empty, nothing persisted), ready for PING."""
    binary = _binary("redis-server")
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as folder:
        log = Path(folder) / "redis.log"
        for _attempt in range(3):  # a free port can be taken before Redis binds it
            port = free_port()
            command = [
                binary, "--port", str(port), "--bind", HOST, "--protected-mode", "yes",
                "--daemonize", "no", "--dir", folder, "--save", "", "--appendonly", "no",
                "--logfile", str(log),
            ]  # fmt: skip
            process = subprocess.Popen(
                pinned(command, cpu),
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + START_TIMEOUT
                while process.poll() is None and time.monotonic() < deadline:
                    if _redis_ping(port):
                        break
                    time.sleep(0.02)
                else:
                    stop(process)
                    continue
                yield Running(process, port, f"redis://{HOST}:{port}/0")
                return
            finally:
                stop(process)
        raise BenchError(f"redis-server did not start:\n{_tail(log)}")


# How HAProxy picks a task: each request on its own, or each session's requests on the
# task that answered its initialize (learnt from the Mcp-Session-Id of that response).
ROUND_ROBIN = "balance roundrobin"
BY_SESSION = """balance roundrobin
    stick-table type string len 128 size 100k
    stick store-response res.hdr(mcp-session-id)
    stick on req.hdr(mcp-session-id)"""

HAPROXY_CONFIG = """\
global
    nbthread 1
    maxconn 4000
    stats socket {socket} mode 600 level admin

defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend mcp
    bind {host}:{port}
    default_backend tasks

backend tasks
    # By default every request is balanced on its own (round robin: no stickiness, no
    # prefer-last-server), over idle connections to the tasks that any client connection
    # may reuse.
    {balance}
    http-reuse always
{servers}
"""


class HAProxy:
    """HAProxy in the foreground (``-db``), round robin over ``ports`` (or ``BY_SESSION``:
    each session on the task that opened it); no health checks
    (they would add requests to the tasks' CPU): the tasks are ready before it starts."""

    def __init__(
        self, folder: Path, ports: Sequence[int], cpu: int | None, balance: str = ROUND_ROBIN
    ) -> None:
        self.folder = folder
        self.balance = balance
        self.ports = list(ports)
        self.cpu = cpu
        self.port = free_port()
        self.socket = folder / "haproxy.sock"
        self.log = folder / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        servers = "\n".join(
            f"    server t{index} {HOST}:{port}" for index, port in enumerate(self.ports)
        )
        config = self.folder / "haproxy.cfg"
        config.write_text(
            HAPROXY_CONFIG.format(
                socket=self.socket,
                host=HOST,
                port=self.port,
                servers=servers,
                balance=self.balance,
            )
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                pinned([_binary("haproxy"), "-db", "-f", str(config)], self.cpu),
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"haproxy exited:\n{_tail(self.log)}")
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection(HOST, self.port, timeout=1.0)
                try:
                    connection.request("GET", "/healthz")
                    if connection.getresponse().status == 200:
                        return
                finally:
                    connection.close()
            time.sleep(0.05)
        raise BenchError(f"haproxy did not become ready:\n{_tail(self.log)}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def _admin(self, command: str) -> str:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2.0)
            sock.connect(str(self.socket))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            for _ in range(1000):  # bounded: the answer is a few KB
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode()
        return ""

    def server_stats(self) -> dict[str, dict[str, int]]:
        """Per task: requests (``req_tot``, else ``stot``), connections opened
        (``connect``) and reused (``reuse``), cumulative since start."""
        lines = self._admin("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        columns = lines[0][2:].split(",")
        found: dict[str, dict[str, int]] = {}
        for line in lines[1:]:
            row = dict(zip(columns, line.split(","), strict=False))
            if row.get("pxname") != "tasks" or row.get("svname") in ("BACKEND", "FRONTEND"):
                continue

            def number(name: str, row: dict[str, str] = row) -> int:
                value = row.get(name) or ""
                return int(value) if value.isdigit() else 0

            found[row["svname"]] = {
                "requests": number("req_tot") or number("stot"),
                "connects": number("connect"),
                "reuses": number("reuse"),
            }
        return found


@contextlib.contextmanager
def haproxy(ports: Sequence[int], cpu: int | None, balance: str = ROUND_ROBIN) -> Iterator[HAProxy]:
    """HAProxy in front of ``ports``: round robin, or ``BY_SESSION`` (each session stays
    on the task that opened it)."""
    with tempfile.TemporaryDirectory(prefix="bench-haproxy-") as folder:
        proxy = HAProxy(Path(folder), ports, cpu, balance)
        try:
            proxy.start()
            yield proxy
        finally:
            proxy.stop()


# -- what one run of a peer needs ---------------------------------------------

FD_MARGIN = 64  # descriptors besides the connections: listening socket, logs, Redis...


@dataclass
class ForRun:
    """The server's extra environment, helpers whose CPU is sampled apart (label -> PID),
    and the token issuer (when the peer verifies tokens)."""

    env: dict[str, str] = field(default_factory=dict)
    others: dict[str, int] = field(default_factory=dict)
    issuer: Any = None
    otlp: Any = None  # the OTLP sink (bench.otlp_sink), when the peer exports telemetry

    def headers(self) -> list[tuple[str, str]]:
        return self.issuer.headers() if self.issuer is not None else []


def for_run(
    stack: contextlib.ExitStack,
    peer: Peer,
    scenario: str,
    connections: int,
    load_cpu: int | None,
) -> ForRun:
    """Start what a run of ``peer`` on ``scenario`` (its wire scenario) needs; ``stack``
    stops it all with the run."""
    found = ForRun()
    soft, _hard = raise_open_files_limit()  # the server and the load generator inherit it
    if soft != resource.RLIM_INFINITY and connections + FD_MARGIN > soft:
        raise BenchError(f"{connections} connections need more than {soft} descriptors")
    if scenario in WORKLOAD_NAMES:
        found.env[workloads.ENV] = "1"
    if peer.redis:  # its redis-server on the load generator's CPU, fresh for each run
        redis = stack.enter_context(redis_server(load_cpu))
        found.env["REDIS_URL"] = redis.url
        found.others["redis"] = redis.pid
    if peer.issuer:  # a fresh key and token; its JWKS served by a thread of this process
        from bench.issuer import token_issuer

        found.issuer = stack.enter_context(token_issuer())
        found.env.update(found.issuer.server_env())
    if peer.otlp:  # a sink that accepts and discards OTLP/HTTP, on the load generator's CPU
        from bench.otlp_sink import sink

        found.otlp = stack.enter_context(sink(load_cpu))
        found.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = found.otlp.endpoint
        found.others["otlp"] = found.otlp.pid
    if "s3" in SCENARIOS[scenario].tags:  # a moto S3 with the document, on the load CPU
        from bench.s3 import s3_server

        s3 = stack.enter_context(s3_server(load_cpu))
        found.env.update(s3.server_env())
        found.others["s3"] = s3.pid
    return found
