"""What the slow-tool, payload and document scenarios share with every app that serves them.

Standard library only: the apps import it from their own runtimes (mcp 2.3.0's venv
too). With ``BENCH_WORKLOADS=1`` in its environment (``ENV``), every app serving them
registers the same tools on its own server:

- ``block(text)``: a plain ``def`` that blocks its thread for ``TOOL_SECONDS`` with
  ``time.sleep`` (as boto3 blocks on S3), then returns ``text``;
- ``wait(text)``: an ``async def`` that awaits ``asyncio.sleep(TOOL_SECONDS)``, then
  returns ``text``;
- ``length(data)``: the number of characters of ``data`` (the 256 KiB argument), as text;
- the resource ``PAYLOAD_URI``: ``PAYLOAD`` (1 MiB of ASCII text, ``text/plain``);
- ``get_document(key)`` (mcpfleet: the document server's own function; mcp 2.3.0: the
  same boto3 calls): the object ``DOCUMENT_KEY`` of ``DOCUMENT_BUCKET``, read from an S3
  API server the harness starts (``bench.s3``) for the run.
"""

from __future__ import annotations

import os

# Set (to 1) by the harness for the workload scenarios only: the apps register the tools
# and the resource below then, and the other scenarios' tools/list stays as it was.
ENV = "BENCH_WORKLOADS"
TOOL_SECONDS = 0.05  # what the slow tools wait, blocking or not
MIB = 1024 * 1024
PAYLOAD_BYTES = MIB
ARGUMENT_BYTES = 256 * 1024
PAYLOAD_URI = "bench://payload"
_SENTENCE = "The quick brown fox jumps over the lazy dog. "


def enabled() -> bool:
    return os.environ.get(ENV, "") == "1"


def text_of(size: int) -> str:
    """``size`` characters (= bytes: ASCII, nothing JSON escapes) of repeated text."""
    return (_SENTENCE * (size // len(_SENTENCE) + 1))[:size]


PAYLOAD = text_of(PAYLOAD_BYTES)
ARGUMENT = text_of(ARGUMENT_BYTES)

DOCUMENT_BUCKET = "bench-documents"
DOCUMENT_KEY = "bench/document.md"
DOCUMENT_BYTES = 4096
DOCUMENT = text_of(DOCUMENT_BYTES)


def document_result(key: str = DOCUMENT_KEY) -> dict[str, object]:
    """The structured result of ``get_document(DOCUMENT_KEY)`` (the server's ``Document``)."""
    return {"key": key, "content": DOCUMENT, "size": DOCUMENT_BYTES, "truncated": False}
