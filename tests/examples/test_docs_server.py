"""examples/docs_server: the guide's document server, over a moto S3 on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from mcp import Client, types

from mcpfleet.cli import main
from tests.conftest import ServerProcess, serving
from tests.moto_support import FAKE_AWS, moto_server

pytestmark = pytest.mark.anyio

BUCKET = "docs-test-bucket"
LIMIT = 1000  # MAX_DOCUMENT_BYTES given to the server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    """A moto S3 server with the documents bucket, and a boto3 client for it."""
    with moto_server() as url:
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(scope="module")
def docs(s3: Any) -> Iterator[ServerProcess]:
    """``mcpfleet serve examples.docs_server:app`` pointed at the moto S3."""
    env = {**FAKE_AWS, "AWS_ENDPOINT_URL": s3.meta.endpoint_url, "DOCUMENTS_BUCKET": BUCKET,
           "MAX_DOCUMENT_BYTES": str(LIMIT)}
    with serving("examples.docs_server:app", env) as server:
        yield server


async def test_put_then_get(docs: ServerProcess, s3: Any) -> None:
    """A document put through the server lands in S3 and reads back whole."""
    async with Client(docs.url, cache=None) as client:
        put = await client.call_tool("put_document", {"key": "notes/a.md", "content": "héllo"})
        assert not put.is_error
        assert put.structured_content == {"key": "notes/a.md", "size": 6}
        got = await client.call_tool("get_document", {"key": "notes/a.md"})
    assert not got.is_error
    assert got.structured_content == {"key": "notes/a.md", "content": "héllo", "size": 6,
                                      "truncated": False}
    stored = s3.get_object(Bucket=BUCKET, Key="notes/a.md")["Body"].read()
    assert stored == "héllo".encode()


async def test_list_with_a_prefix(docs: ServerProcess, s3: Any) -> None:
    """list_documents returns exactly the keys under the prefix."""
    for key in ("list/one.md", "list/two.md", "other/three.md"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    async with Client(docs.url, cache=None) as client:
        listed = await client.call_tool("list_documents", {"prefix": "list/"})
    assert not listed.is_error
    assert listed.structured_content == {"keys": ["list/one.md", "list/two.md"],
                                         "truncated": False}


async def test_missing_key_is_a_tool_error(docs: ServerProcess) -> None:
    """A missing key is an isError result naming the key, and the server keeps serving."""
    async with Client(docs.url, cache=None) as client:
        missing = await client.call_tool("get_document", {"key": "no/such.md"})
        assert missing.is_error
        assert isinstance(missing.content[0], types.TextContent)
        assert missing.content[0].text == "No document with key 'no/such.md'."
        after = await client.call_tool("list_documents", {})
        assert not after.is_error
    assert docs.alive


async def test_large_object_is_bounded(docs: ServerProcess, s3: Any) -> None:
    """An object above MAX_DOCUMENT_BYTES comes back cut at the limit and marked truncated."""
    body = b"a" * (LIMIT - 1) + "é".encode() + b"b" * 5000
    s3.put_object(Bucket=BUCKET, Key="big.txt", Body=body)
    async with Client(docs.url, cache=None) as client:
        got = await client.call_tool("get_document", {"key": "big.txt"})
        too_big = await client.call_tool("put_document", {"key": "k", "content": "z" * (LIMIT + 1)})
    assert not got.is_error
    result = got.structured_content
    assert result is not None
    assert result["truncated"] is True
    assert result["size"] == len(body)
    assert result["content"] == "a" * (LIMIT - 1)  # the half of "é" inside the limit is left out
    assert too_big.is_error


def test_tools_declare_annotations() -> None:
    """get and list are marked read-only, put is not."""
    from examples.docs_server import app

    hints = {name: tool.wire["annotations"]["readOnlyHint"] for name, tool in app.tools.items()}
    assert hints == {"get_document": True, "put_document": False, "list_documents": True}


def test_render_grants_exactly_the_declared_actions(tmp_path: Path) -> None:
    """The rendered ECS task-role policy allows exactly each tool's actions on its resources."""
    result = CliRunner().invoke(main, ["deploy", "render", "--app", "examples.docs_server:app",
                                       "--target", "ecs-fargate", "--public",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    policy = json.loads((tmp_path / "task-role-policy.json").read_text())
    granted = sorted((tuple(s["Action"]), tuple(s["Resource"])) for s in policy["Statement"])
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    assert granted == [
        (("s3:GetObject",), ("arn:aws:s3:::${DocumentsBucket}/*",)),
        (("s3:ListBucket",), ("arn:aws:s3:::${DocumentsBucket}",)),
        (("s3:PutObject",), ("arn:aws:s3:::${DocumentsBucket}/*",)),
    ]
