"""Small apps for the deployment tests: one that declares what it needs, one that does not."""

from __future__ import annotations

from mcpfleet import Server, aws

DOCS_BUCKET_OBJECTS = "arn:aws:s3:::${DocumentsBucket}/docs/*"
DOCS_BUCKET = "arn:aws:s3:::${DocumentsBucket}"

docs = Server("docs", "1.0.0", instructions="Reads and writes documents in S3.")
docs.secret("DATABASE_URL")


@docs.tool(permissions=[aws("s3:GetObject", DOCS_BUCKET_OBJECTS)])
async def get_document(key: str) -> str:
    """Read one document."""
    return key


@docs.tool(permissions=[aws(["s3:PutObject", "s3:DeleteObject"], DOCS_BUCKET_OBJECTS)])
async def put_document(key: str, text: str) -> str:
    """Write one document."""
    return key + text


@docs.tool(permissions=[aws("s3:ListBucket", DOCS_BUCKET)])
async def list_documents(prefix: str = "docs/") -> list[str]:
    """List documents under a prefix."""
    return [prefix]


bare = Server("bare", "1.0.0")


@bare.tool()
async def echo(text: str) -> str:
    """Say it back."""
    return text
