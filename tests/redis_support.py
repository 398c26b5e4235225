"""Redis servers of the tests' own: one server in a temporary folder, TLS files made on the
spot, and a local Redis Cluster of three primaries with a replica each."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from tests.conftest import free_port
from tests.fleet.processes import RedisServer as _RedisServer
from tests.fleet.processes import RedisTls, binary, tail
from tests.probe.certs import CertAuthority


class RedisServer(_RedisServer):
    """``tests.fleet.processes.RedisServer`` with a folder of its own, removed by ``cleanup``."""

    def __init__(self, *, persistent: bool = False, **options: Any) -> None:
        super().__init__(
            Path(tempfile.mkdtemp(prefix="mcpfleet-redis-")), persistent=persistent, **options
        )

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def make_tls(directory: Path) -> tuple[RedisTls, str]:
    """A test CA and a server certificate it issued for localhost and 127.0.0.1; returns
    the server's files and the path of a second CA that issued nothing (the wrong one)."""
    directory.mkdir(parents=True, exist_ok=True)
    authority = CertAuthority(directory)
    cert, key = authority.issue("redis")
    wrong = directory / "wrong"
    wrong.mkdir(exist_ok=True)
    return RedisTls(cert=cert, key=key, ca=str(authority.path)), str(CertAuthority(wrong).path)


# -- Redis Cluster ----------------------------------------------------------------------

CLUSTER_BUS_OFFSET = 10000  # a node's cluster bus listens this far above its port


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class ClusterNode(_RedisServer):
    """One redis-server of a cluster: cluster mode on, failure noticed within
    ``node_timeout_ms``, and a replica that takes over whatever its data's age."""

    def __init__(self, directory: Path, node_timeout_ms: int) -> None:
        super().__init__(
            directory,
            extra=(
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(directory / "nodes.conf"),
                "--cluster-node-timeout",
                str(node_timeout_ms),
                "--cluster-replica-validity-factor",
                "0",
            ),
        )

    def choose_port(self) -> int:
        """A free port whose cluster bus port (10000 higher) is free too."""
        for _ in range(200):
            port = free_port()
            if port + CLUSTER_BUS_OFFSET <= 65535 and port_is_free(port + CLUSTER_BUS_OFFSET):
                return port
        raise RuntimeError("no free port with a free cluster bus port beside it")

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def info(self, section: str) -> dict[str, Any]:
        """``CLUSTER INFO`` or ``INFO <section>`` as redis-py parses it; empty if the node
        does not answer."""
        try:
            with self.client() as client:
                if section == "cluster":
                    found = client.execute_command("CLUSTER", "INFO")
                else:
                    found = client.info(section)
        except redis.RedisError:
            return {}
        if isinstance(found, bytes):
            found = found.decode()
        if isinstance(found, str):
            return dict(line.split(":", 1) for line in found.splitlines() if ":" in line)
        return dict(found)


class LocalCluster:
    """Six redis-servers on 127.0.0.1: three primaries, each with one replica, so that a
    primary's failure is followed by its replica's promotion (in a few seconds)."""

    def __init__(self, directory: Path, *, node_timeout_ms: int = 1000) -> None:
        self.nodes = [ClusterNode(directory / f"n{i}", node_timeout_ms) for i in range(6)]
        self.cli = binary("redis-cli", "/usr/bin/redis-cli")
        self.log = directory / "create.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self, timeout: float = 30.0) -> LocalCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        with self.log.open("wb") as log:
            created = subprocess.run(
                [
                    self.cli,
                    "--cluster",
                    "create",
                    *addresses,
                    "--cluster-replicas",
                    "1",
                    "--cluster-yes",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{tail(self.log)}")
        self.wait_ok(timeout)
        return self

    def alive(self) -> list[ClusterNode]:
        return [node for node in self.nodes if node.alive]

    def primaries(self) -> list[ClusterNode]:
        return [n for n in self.alive() if n.info("replication").get("role") == "master"]

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node says the cluster is ok and each primary has a replica
        online (so that the next failure can be taken over)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(n.info("cluster").get("cluster_state") == "ok" for n in self.alive()):
                primaries = self.primaries()
                if len(primaries) == 3 and all(
                    int(p.info("replication").get("connected_slaves", "0")) >= 1 for p in primaries
                ):
                    return
            time.sleep(0.1)
        states = {n.port: n.info("cluster").get("cluster_state") for n in self.alive()}
        raise RuntimeError(f"the cluster is not ok after {timeout} s: {states}")

    def primary_of(self, key: str) -> ClusterNode:
        """The node serving ``key``'s slot now."""
        with self.alive()[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    port = int(primary[1])
                    return next(n for n in self.nodes if n.port == port)
        raise AssertionError(f"no node serves the slot of {key}")

    def wait_replicated(self, primary: ClusterNode, timeout: float = 5.0) -> None:
        """Until the primary's replica has everything the primary had written when asked
        (clients may go on writing meanwhile: a replica acknowledges once a second, so
        its offset seldom equals a moving one)."""
        target = int(primary.info("replication")["master_repl_offset"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = primary.info("replication")
            replica = info.get("slave0")
            if isinstance(replica, dict) and int(replica.get("offset", -1)) >= target:
                return
            time.sleep(0.02)
        raise AssertionError(f"the replica of {primary.port} is behind: {info}")

    def wait_promoted(self, timeout: float = 20.0) -> None:
        """Until three live primaries serve every slot again (a replica took over)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.primaries()) == 3 and all(
                n.info("cluster").get("cluster_state") == "ok" for n in self.alive()
            ):
                return
            time.sleep(0.1)
        raise AssertionError("no replica took over the failed primary")

    def stop(self) -> None:
        for node in self.nodes:  # SIGKILL: nothing of a test cluster is kept
            node.kill()


@contextmanager
def cluster_running(directory: Path | None = None, **options: Any) -> Iterator[LocalCluster]:
    """A local cluster, started and ready; every node stopped and its folder removed after."""
    owned = directory is None
    folder = Path(tempfile.mkdtemp(prefix="mcpfleet-cluster-")) if directory is None else directory
    cluster = LocalCluster(folder, **options)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        if owned:
            shutil.rmtree(folder, ignore_errors=True)
