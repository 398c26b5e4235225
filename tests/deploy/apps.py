"""Small apps for the deployment tests: one that declares what it needs from AWS, one that
declares nothing, one with OAuth scopes, one with its own authenticate hook."""

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


notes = Server("notes", "1.0.0", required_scopes=["notes:read"])


@notes.tool(scopes=["notes:read"])
async def read_note(name: str) -> str:
    """Read one note."""
    return name


@notes.tool(scopes=["notes:write"])
async def write_note(name: str, text: str) -> str:
    """Write one note."""
    return name + text


@notes.resource("notes://index", scopes=["notes:admin"])
async def index() -> str:
    """Every note's name."""
    return ""


@notes.prompt(scopes=["notes:write"])
async def summarize(name: str) -> str:
    """Summarize one note."""
    return name


keyed = Server("keyed", "1.0.0")


@keyed.authenticate
async def api_key(headers: dict[str, str]) -> str | None:
    """Name the caller from its API key (any key will do here)."""
    return headers.get("x-api-key")


@keyed.tool()
async def whoami() -> str:
    """Say who is calling."""
    return "someone"
