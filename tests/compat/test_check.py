"""``mcpfleet compat check`` and the refusal at start of what cannot be served."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import InputRequiredResult, PaginatedRequestParams
from starlette.responses import PlainTextResponse

from mcpfleet.cli import main
from mcpfleet.compat import describe, sdk_calls
from mcpfleet.compat.bridge import sdk_listings
from mcpfleet.compat.sdk import listing_hash
from tests.compat.sdk_app import mcp
from tests.conftest import ROOT

UNMAPPABLE = "tests.compat.unmappable_app:mcp"


def check(target: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["compat", "check", target])
    return result.exit_code, result.output


def test_check_lists_what_maps_and_both_hashes() -> None:
    """The check names every tool, resource, template and prompt and prints two equal hashes."""
    code, output = check("tests.compat.sdk_app:mcp")
    assert code == 0, output
    for line in (
        "tool add",
        "tool inspect",
        "resource notes://logo",
        "resource template notes://{topic}/summary",
        "prompt review",
        "completion handler",
        "lifespan",
    ):
        assert f"  {line}\n" in output
    expected = listing_hash(sdk_listings(sdk_calls(mcp))["tools"])
    assert f"  SDK       {expected}\n" in output
    assert f"  mcpfleet  {expected}  same\n" in output
    assert "cannot be served:\n  (nothing)\n" in output


def test_check_names_what_cannot_be_served() -> None:
    """A custom low-level handler and a middleware are each named, and the check fails."""
    code, output = check(UNMAPPABLE)
    assert code == 1
    assert "  custom low-level request handler 'notes/export'\n" in output
    assert "  middleware Audit\n" in output
    assert "  tool ping_me\n" in output


def test_check_refuses_what_is_not_an_sdk_server() -> None:
    """An mcpfleet Server, or anything else, is not something to check."""
    code, output = check("examples.hello:app")
    assert code == 1
    assert "is not an SDK server" in output


def test_serve_refuses_at_start_naming_the_reason() -> None:
    """``mcpfleet serve`` of an app with unmappable parts exits at once and names them."""
    process = subprocess.run(
        [sys.executable, "-m", "mcpfleet", "serve", UNMAPPABLE, "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert process.returncode == 1
    assert "MCPServer 'exporter' cannot be served by mcpfleet" in process.stderr
    assert "custom low-level request handler 'notes/export'" in process.stderr
    assert "middleware Audit" in process.stderr


def test_every_unmappable_kind_is_named() -> None:
    """A replaced handler, a tool with its own input-required flow, a custom route and
    cache hints are each named."""
    app = MCPServer("odd", cache_hints={"tools/list": CacheHint(ttl_ms=5)})

    async def listing(ctx: object, params: object) -> dict[str, list[str]]:
        return {"tools": []}

    app._lowlevel_server.add_request_handler("tools/list", PaginatedRequestParams, listing)

    @app.custom_route("/health", methods=["GET"])
    async def health(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.tool()
    async def confirm(ctx: Context) -> InputRequiredResult | str:
        return "yes"

    found = describe(app)
    assert found.unmappable == [
        "low-level request handler 'tools/list' replaced by the app",
        "tool 'confirm' returns InputRequiredResult itself",
        "cache_hints (set Server list_ttl_ms/read_ttl_ms instead)",
        "custom route '/health'",
    ]
