"""Tools over the S3 bucket named by ``DOCUMENTS_BUCKET``.

Credentials and region come from boto3's default chain: the ECS task role in
production, ``AWS_*`` variables on a laptop (and ``AWS_ENDPOINT_URL`` for a local
S3). The tools are plain functions, so mcpfleet runs them in worker threads and
boto3's blocking calls never hold up the event loop.

``MAX_DOCUMENT_BYTES`` (default 1 MiB) bounds what one call reads or writes: a
larger object is streamed and cut there, and the result says so.
"""

from __future__ import annotations

import codecs
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from mcpfleet import Server, ToolError, aws

log = logging.getLogger("docs_server")

# ``${DocumentsBucket}`` becomes a parameter of the rendered CloudFormation template.
BUCKET_ARN = "arn:aws:s3:::${DocumentsBucket}"
OBJECTS_ARN = "arn:aws:s3:::${DocumentsBucket}/*"
DEFAULT_MAX_BYTES = 1024 * 1024
MAX_LISTED = 1000  # keys returned by one list_documents call
CHUNK = 64 * 1024

app = Server(
    "docs",
    "1.0.0",
    instructions="Reads, writes and lists text documents kept in an S3 bucket.",
)


@dataclass
class Document:
    """A document as read: content holds at most MAX_DOCUMENT_BYTES bytes of it."""

    key: str
    content: str
    size: int  # the object's full size in bytes
    truncated: bool  # True when content is only the start of the object


@dataclass
class Stored:
    key: str
    size: int


@dataclass
class Listing:
    keys: list[str]
    truncated: bool  # True when more keys match than one call returns


def _bucket() -> str:
    bucket = os.environ.get("DOCUMENTS_BUCKET", "")
    if not bucket:
        raise ToolError("The server is not configured: DOCUMENTS_BUCKET is not set.")
    return bucket


def _max_bytes() -> int:
    raw = os.environ.get("MAX_DOCUMENT_BYTES", "")
    try:
        value = int(raw) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        value = 0
    if value < 1:
        raise ToolError(f"The server is misconfigured: MAX_DOCUMENT_BYTES={raw!r}.")
    return value


_client: Any = None
_client_lock = threading.Lock()


def _s3() -> Any:
    """One S3 client for the process (clients are thread-safe; making one is not).

    Its connection pool is as large as mcpfleet's pool of tool threads (``TOOL_THREADS``),
    so every thread running a tool has a connection of its own: boto3's default of 10
    would make the eleventh concurrent call open and throw away a connection each time.
    """
    global _client
    if _client is not None:
        return _client
    with _client_lock:
        if _client is None:
            import boto3
            from botocore.config import Config

            threads = int(os.environ.get("TOOL_THREADS", "") or 64)
            _client = boto3.client("s3", config=Config(max_pool_connections=max(10, threads)))
        return _client


def _failure(exc: Exception, key: str | None = None) -> ToolError:
    """What S3 said, as a message for the model (never a stack trace)."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        log.warning("S3 request failed: %s", exc)
        return ToolError("The document store could not be reached; try again later.")
    code = exc.response.get("Error", {}).get("Code", "")
    if code in ("NoSuchKey", "404", "NotFound"):
        return ToolError(f"No document with key {key!r}.")
    if code == "NoSuchBucket":
        return ToolError("The document bucket does not exist.")
    if code in ("AccessDenied", "403"):
        return ToolError("The server is not allowed to do that in the document bucket.")
    log.warning("S3 request failed: %s", exc)
    return ToolError(f"The document store refused the request ({code or 'error'}).")


def _check_key(key: str) -> None:
    if not key or len(key.encode()) > 1024:
        raise ToolError("A key is 1 to 1024 bytes of UTF-8, for example 'notes/today.md'.")


@app.tool(
    annotations={"readOnlyHint": True, "openWorldHint": False},
    permissions=[aws("s3:GetObject", OBJECTS_ARN)],
)
def get_document(key: str) -> Document:
    """Read the document stored under a key (at most MAX_DOCUMENT_BYTES of it)."""
    from botocore.exceptions import BotoCoreError, ClientError

    _check_key(key)
    bucket, limit = _bucket(), _max_bytes()
    try:
        response = _s3().get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        try:
            data = bytearray()
            while len(data) < limit:  # bounded: never more than limit bytes in memory
                chunk = body.read(min(CHUNK, limit - len(data)))
                if not chunk:
                    break
                data += chunk
        finally:
            body.close()  # drops the rest of a large object unread
    except (BotoCoreError, ClientError) as exc:
        raise _failure(exc, key) from None
    size = int(response.get("ContentLength", len(data)))
    truncated = size > len(data)
    # A cut may fall inside a multi-byte character: leave that partial character out.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return Document(key, decoder.decode(bytes(data), final=not truncated), size, truncated)


@app.tool(
    annotations={"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True,
                 "openWorldHint": False},
    permissions=[aws("s3:PutObject", OBJECTS_ARN)],
)
def put_document(key: str, content: str) -> Stored:
    """Store a text document under a key, replacing any document already there."""
    from botocore.exceptions import BotoCoreError, ClientError

    _check_key(key)
    bucket, limit = _bucket(), _max_bytes()
    data = content.encode()
    if len(data) > limit:
        raise ToolError(f"The document is {len(data)} bytes; the limit is {limit} bytes.")
    try:
        _s3().put_object(Bucket=bucket, Key=key, Body=data,
                         ContentType="text/plain; charset=utf-8")
    except (BotoCoreError, ClientError) as exc:
        raise _failure(exc, key) from None
    return Stored(key, len(data))


@app.tool(
    annotations={"readOnlyHint": True, "openWorldHint": False},
    permissions=[aws("s3:ListBucket", BUCKET_ARN)],
)
def list_documents(prefix: str = "") -> Listing:
    """List the keys of documents whose key starts with a prefix (all when empty)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = _s3().list_objects_v2(Bucket=_bucket(), Prefix=prefix, MaxKeys=MAX_LISTED)
    except (BotoCoreError, ClientError) as exc:
        raise _failure(exc) from None
    keys = [item["Key"] for item in response.get("Contents", [])]
    return Listing(keys, bool(response.get("IsTruncated")))
