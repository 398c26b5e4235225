"""Apps whose tools, resources and prompts need scopes, for the authentication tests.

``keys_app`` names callers by an ``X-Api-Key`` header (the custom-hook path) and
refuses requests without one; ``jwt_app`` takes OAuth bearer tokens, configured
from ``AUTH_ISSUER`` and friends in the environment.
"""

from __future__ import annotations

from typing import Any

from mcpfleet import Context, Server
from mcpfleet.auth import Principal
from mcpfleet.errors import HttpRejection, Unauthorized

# API key -> (name, scopes)
KEYS = {
    "key-reader": ("reader", ("docs:read",)),
    "key-writer": ("writer", ("docs:read", "docs:write")),
    "key-admin": ("admin", ("docs",)),  # the colon hierarchy: docs covers docs:*
    "key-none": ("nobody", ()),
}


def build(name: str) -> Server:
    app = Server(name, "1.0.0")
    app.enable_subscriptions()

    @app.tool(scopes=["docs:read"])
    async def read_doc(doc: str) -> str:
        """Read a document."""
        return f"contents of {doc}"

    @app.tool(scopes=["docs:write"], rate_limit="3/minute")
    async def write_doc(doc: str, text: str) -> str:
        """Write a document."""
        return f"wrote {len(text)} characters to {doc}"

    @app.tool(rate_limit="1000/minute")
    async def whoami(ctx: Context) -> dict[str, Any]:
        """Who the server thinks is calling."""
        principal = ctx.principal
        if principal is None:
            return {"id": None, "scopes": []}
        return {"id": principal.id, "scopes": sorted(principal.scopes)}

    @app.tool(rate_limit="30/minute")
    async def tick() -> str:
        """A cheap call with a per-caller budget, for the fleet-wide limit."""
        return "tick"

    @app.tool()
    async def confirm(ctx: Context) -> str:
        """Ask the user to confirm (a question to the client)."""
        answer = await ctx.elicit("Sure?", {"type": "object", "properties": {}})
        return answer.action

    @app.tool()
    async def keep(value: str, ctx: Context) -> str:
        """Keep a value under a handle of the caller."""
        return await ctx.handles.mint(value, ttl_seconds=60)

    @app.tool()
    async def fetch(handle: str, ctx: Context) -> str:
        """Read a value kept under a handle."""
        return str(await ctx.handles.read(handle))

    add_documents(app)
    return app


def add_documents(app: Server) -> None:
    """Resources and a prompt, some of them scoped."""

    @app.resource("docs://public", mime_type="text/plain")
    def public() -> str:
        return "public"

    @app.resource("docs://secret", mime_type="text/plain", scopes=["docs:admin"])
    def secret() -> str:
        return "secret"

    @app.resource("docs://items/{item}", mime_type="text/plain", scopes=["docs:read"])
    def item(item: str) -> str:
        return f"item {item}"

    @app.prompt(scopes=["docs:read"])
    def summarise(doc: str) -> str:
        """Summarise a document."""
        return f"Summarise {doc}"

    @app.completion()
    def complete(ref: dict[str, Any], argument: dict[str, Any], context: Any) -> list[str]:
        return ["a", "b"]


keys_app = build("guarded-keys")
jwt_app = build("guarded-jwt")


@keys_app.authenticate
async def by_api_key(headers: dict[str, str]) -> Principal:
    key = headers.get("x-api-key")
    if key is None:
        raise Unauthorized()
    if key == "key-crash":
        raise RuntimeError("the key store is broken")
    if key == "key-old-style":
        raise HttpRejection(401, "Unauthorized: refused the old way")
    known = KEYS.get(key)
    if known is None:
        raise Unauthorized("Unauthorized: unknown API key", oauth_error="invalid_token")
    return Principal.named(known[0], known[1])
