"""Run the app's ASGI ``McpApp`` inside AWS Lambda, behind a Function URL (payload 2.0).

One adapter per Lambda instance: it loads the app named by ``MCPFLEET_APP``, resolves
``*_SECRET_ARN`` variables from Secrets Manager, opens the fleet state, and then turns
each Function URL event into one ASGI request on a loop that lives as long as the
instance. Responses are buffered (the URL's BUFFERED invoke mode).

Any invocation may land on another instance, so 2025-era sessions need the fleet state
in Redis; without ``REDIS_URL`` they are refused with that reason, and only 2026-07-28
requests (stateless) are served.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import os
from collections.abc import Callable, MutableMapping
from typing import Any

from mcpfleet.config import Config
from mcpfleet.server.app import Server
from mcpfleet.state import open_state
from mcpfleet.transport.asgi import McpApp

LEGACY_VERSIONS = ("2024-", "2025-")
SECRET_SUFFIX = "_SECRET_ARN"
REFUSAL = (
    "this Lambda deployment keeps no state between invocations (no REDIS_URL), so it serves "
    "only stateless 2026-07-28 requests; a 2025-era session needs the fleet state in Redis "
    "(render with --state redis)"
)
Event = dict[str, Any]


def load_server(target: str) -> Server:
    module_name, _, attribute = target.partition(":")
    app = getattr(importlib.import_module(module_name), attribute or "app", None)
    if not isinstance(app, Server):
        raise RuntimeError(f"MCPFLEET_APP={target!r} does not name an mcpfleet Server")
    return app


def resolve_secrets(env: MutableMapping[str, str], fetch: Callable[[str], str]) -> None:
    """Set NAME from Secrets Manager for each NAME_SECRET_ARN (unless NAME is already set)."""
    for key in sorted(env):
        name = key.removesuffix(SECRET_SUFFIX)
        if key.endswith(SECRET_SUFFIX) and name and not env.get(name):
            env[name] = fetch(env[key])


def fetch_secret(arn: str) -> str:
    import boto3  # type: ignore[import-untyped]

    value: str = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return value


def is_legacy(event: Event, path: str) -> bool:
    """A 2025-era request: a session's GET/DELETE, a session id, or no 2026 version header."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if event.get("rawPath") not in (path, path + "/"):
        return False
    if "mcp-session-id" in headers or _method(event) in ("GET", "DELETE"):
        return True
    version = headers.get("mcp-protocol-version", "")
    return not version or version.startswith(LEGACY_VERSIONS)


def _method(event: Event) -> str:
    method: str = event["requestContext"]["http"]["method"]
    return method.upper()


def scope(event: Event) -> dict[str, Any]:
    """The ASGI HTTP scope of a Function URL event."""
    http = event["requestContext"]["http"]
    headers = [
        (k.lower().encode("latin-1"), str(v).encode("latin-1"))
        for k, v in (event.get("headers") or {}).items()
    ]
    if event.get("cookies"):
        headers.append((b"cookie", "; ".join(event["cookies"]).encode("latin-1")))
    path = event.get("rawPath") or "/"
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": _method(event),
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": (event.get("rawQueryString") or "").encode("latin-1"),
        "headers": headers,
        "client": (http.get("sourceIp", "0.0.0.0"), 0),
        "server": (event["requestContext"].get("domainName", "lambda"), 443),
    }


def body(event: Event) -> bytes:
    raw = event.get("body") or ""
    return base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()


def response(status: int, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> Event:
    """The Function URL result: cookies apart, repeated headers joined, binary as base64."""
    out: dict[str, str] = {}
    cookies: list[str] = []
    for key, value in headers:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        if name == "set-cookie":
            cookies.append(text)
        else:
            out[name] = f"{out[name]}, {text}" if name in out else text
    data = b"".join(chunks)
    try:
        text, encoded = data.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(data).decode(), True
    result: Event = {"statusCode": status, "headers": out, "body": text, "isBase64Encoded": encoded}
    if cookies:
        result["cookies"] = cookies
    return result


class Adapter:
    """One Lambda instance's app, event loop and fleet state."""

    def __init__(self, server: Server, config: Config) -> None:
        state = open_state(config.state_url, session_ttl_seconds=config.session_ttl_seconds)
        self.app = McpApp(server, config, state=state)
        self.stateless = config.state_url is None or config.state_url.startswith("memory:")
        self.path = config.path
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.app.startup())

    def close(self) -> None:
        """Let go of the state and the loop (Lambda itself just freezes the instance)."""
        self.loop.run_until_complete(self.app.close_streams())
        self.loop.run_until_complete(self.app.state.aclose())
        self.loop.close()

    def __call__(self, event: Event, context: object = None) -> Event:
        if self.stateless and is_legacy(event, self.path):
            return refusal()
        return self.loop.run_until_complete(self.invoke(event))

    async def invoke(self, event: Event) -> Event:
        done = asyncio.Event()
        pending = [{"type": "http.request", "body": body(event), "more_body": False}]
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def receive() -> MutableMapping[str, Any]:
            if pending:
                return pending.pop()
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    done.set()

        await self.app(scope(event), receive, send)
        done.set()
        return response(status, headers, chunks)


def refusal() -> Event:
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": REFUSAL}}
    return {
        "statusCode": 400,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(error),
        "isBase64Encoded": False,
    }


_adapter: Adapter | None = None


def handler(event: Event, context: object = None) -> Event:
    """The Lambda entry point (``mcpfleet.deploy.lambda_adapter.handler``)."""
    global _adapter
    if _adapter is None:
        resolve_secrets(os.environ, fetch_secret)
        config = Config.from_env(host="0.0.0.0")
        _adapter = Adapter(load_server(os.environ["MCPFLEET_APP"]), config)
    return _adapter(event, context)
