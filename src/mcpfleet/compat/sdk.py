"""Where the official SDK enters: found lazily, its version checked, its models dumped.

The ``mcp`` package is not a dependency of mcpfleet. Nothing here imports it at
module level: a loaded object is recognised by its class's module and name, and
the SDK is imported only once an object is known to be one of its servers.
Everything reached inside it is typed ``Any``: the SDK is not typed for us.
"""

from __future__ import annotations

import hashlib
import importlib
from importlib import metadata
from typing import Any

import orjson

from mcpfleet.errors import ConfigError

# Servers this package can serve: (module, class) of each SDK server class.
SDK_SERVERS = {
    ("mcp.server.mcpserver.server", "MCPServer"): "MCPServer",
    ("mcp.server.fastmcp.server", "FastMCP"): "FastMCP",
}
# The SDK releases whose object model was tested, by server class. The adapter reads
# a few of the SDK server's private attributes (its low-level server, its managers);
# another release may have moved them, so it is refused with a message rather than
# half served.
TESTED = {"MCPServer": ((2, 3),), "FastMCP": ((1, 30),)}
# The releases whose tool internals were tested (``compat.tools``: the tool manager, a
# tool's ``run`` and its result conversion); under any other, tools/call takes the
# SDK's public ``call_tool``.
TOOL_INTERNALS_TESTED = frozenset({"2.3.0"})
_MODULES: dict[str, Any] = {}  # SDK modules by dotted name, once imported


def sdk_kind(obj: Any) -> str | None:
    """``"MCPServer"`` or ``"FastMCP"`` when ``obj`` is an SDK server, else ``None``."""
    for cls in type(obj).__mro__:
        kind = SDK_SERVERS.get((cls.__module__, cls.__name__))
        if kind is not None:
            return kind
    return None


def sdk_version() -> str:
    try:
        return metadata.version("mcp")
    except metadata.PackageNotFoundError:
        return "unknown"


def check_version(kind: str) -> str:
    """The installed SDK's version, or ``ConfigError`` when it is not one tested."""
    version = sdk_version()
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts not in TESTED[kind]:
        tested = ", ".join(f"{major}.{minor}.x" for major, minor in TESTED[kind])
        raise ConfigError(f"mcp {version} is installed; a {kind} app is served with mcp {tested}")
    return version


def sdk(name: str) -> Any:
    """An SDK module, by its dotted name (``"types"`` is ``mcp.types``)."""
    module = _MODULES.get(name)
    if module is None:
        module = _MODULES[name] = importlib.import_module(f"mcp.{name}")
    return module


def dump(model: Any) -> dict[str, Any]:
    """An SDK model as the wire carries it."""
    result: dict[str, Any] = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return result


def listing_hash(items: list[dict[str, Any]]) -> str:
    """A digest of a listing (``tools/list``'s ``tools``): canonical JSON, SHA-256."""
    canonical = orjson.dumps(items, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()
