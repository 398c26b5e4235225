"""An S3 API server for the document scenario: moto's server mode on loopback.

For each run of ``get-document`` the harness starts ``python -m moto.server`` on a free
port of 127.0.0.1 (pinned to the load generator's CPU, as Redis is: S3 runs elsewhere in
production, so its CPU must not come out of the server's core), creates the bucket and
stores the document of ``bench.workloads`` with boto3, and gives the server the settings
that point boto3 at it (``AWS_ENDPOINT_URL``, fake credentials, ``DOCUMENTS_BUCKET``).
The server is stopped with the run. Nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from bench import workloads
from bench.run import HOST, START_TIMEOUT, BenchError, free_port, pinned, stop

REGION = "us-east-1"
# Fake credentials (moto accepts any); no instance metadata lookups.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True, slots=True)
class S3:
    process: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def server_env(self) -> dict[str, str]:
        """What the MCP server needs to read the document from this S3."""
        return {
            **AWS_ENV,
            "AWS_ENDPOINT_URL": self.url,
            "DOCUMENTS_BUCKET": workloads.DOCUMENT_BUCKET,
        }


def _ready(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/moto-api/", timeout=1.0).close()
    except OSError:
        return False
    return True


def _store_document(url: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=workloads.DOCUMENT_BUCKET)
    client.put_object(
        Bucket=workloads.DOCUMENT_BUCKET,
        Key=workloads.DOCUMENT_KEY,
        Body=workloads.DOCUMENT.encode(),
        ContentType="text/plain; charset=utf-8",
    )


@contextlib.contextmanager
def s3_server(cpu: int | None) -> Iterator[S3]:
    """A fresh moto S3 server holding the document, ready; stopped on the way out."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    command = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]
    process = subprocess.Popen(
        pinned(command, cpu),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _ready(url):
            if process.poll() is not None:
                raise BenchError(f"moto server exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise BenchError(f"moto server did not start in {START_TIMEOUT:g} s")
            time.sleep(0.1)
        _store_document(url)
        yield S3(process, url)
    finally:
        stop(process)
