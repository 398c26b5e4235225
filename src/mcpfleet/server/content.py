"""Content blocks that tools return and prompts carry, as plain wire dictionaries.

Each helper returns exactly the JSON object the protocol sends, so a handler can
build content with these functions or write the dictionaries itself.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, NewType

# A content block as the wire carries it. Annotate a tool's return with
# ``ContentBlock`` or ``list[ContentBlock]`` to return content, not structured data.
ContentBlock = NewType("ContentBlock", dict[str, Any])

CONTENT_TYPES = frozenset({"text", "image", "audio", "resource", "resource_link"})


def _b64(data: bytes | str) -> str:
    return data if isinstance(data, str) else base64.b64encode(data).decode()


def _with_extras(block: dict[str, Any], annotations: dict[str, Any] | None) -> ContentBlock:
    if annotations:
        block["annotations"] = annotations
    return ContentBlock(block)


def text(value: str, *, annotations: dict[str, Any] | None = None) -> ContentBlock:
    return _with_extras({"type": "text", "text": value}, annotations)


def image(
    data: bytes | str, mime_type: str, *, annotations: dict[str, Any] | None = None
) -> ContentBlock:
    """An image; ``data`` is raw bytes or base64 text."""
    return _with_extras({"type": "image", "data": _b64(data), "mimeType": mime_type}, annotations)


def audio(
    data: bytes | str, mime_type: str, *, annotations: dict[str, Any] | None = None
) -> ContentBlock:
    """Audio; ``data`` is raw bytes or base64 text."""
    return _with_extras({"type": "audio", "data": _b64(data), "mimeType": mime_type}, annotations)


def text_resource(uri: str, value: str, mime_type: str | None = "text/plain") -> dict[str, Any]:
    """The contents of a text resource, as resources/read and embedded resources carry it."""
    contents: dict[str, Any] = {"uri": uri, "text": value}
    if mime_type:
        contents["mimeType"] = mime_type
    return contents


def blob_resource(
    uri: str, data: bytes | str, mime_type: str | None = "application/octet-stream"
) -> dict[str, Any]:
    """The contents of a binary resource; ``data`` is raw bytes or base64 text."""
    contents: dict[str, Any] = {"uri": uri, "blob": _b64(data)}
    if mime_type:
        contents["mimeType"] = mime_type
    return contents


def embedded_resource(
    contents: dict[str, Any], *, annotations: dict[str, Any] | None = None
) -> ContentBlock:
    return _with_extras({"type": "resource", "resource": contents}, annotations)


def resource_link(
    uri: str,
    name: str,
    *,
    description: str | None = None,
    mime_type: str | None = None,
    annotations: dict[str, Any] | None = None,
) -> ContentBlock:
    block: dict[str, Any] = {"type": "resource_link", "uri": uri, "name": name}
    if description:
        block["description"] = description
    if mime_type:
        block["mimeType"] = mime_type
    return _with_extras(block, annotations)


@dataclass(slots=True)
class ToolResult:
    """A tool's whole result, for a handler that wants to set every part itself."""

    content: list[dict[str, Any]] = field(default_factory=list)
    structured: Any = None
    is_error: bool = False
    meta: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        result: dict[str, Any] = {"content": self.content}
        if self.structured is not None:
            result["structuredContent"] = self.structured
        if self.is_error:
            result["isError"] = True
        if self.meta:
            result["_meta"] = self.meta
        return result


def is_content_block(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in CONTENT_TYPES


def as_content_list(value: Any) -> list[dict[str, Any]] | None:
    """``value`` as a content list when it is content (a block, or blocks, or text)."""
    if isinstance(value, str):
        return [text(value)]
    if is_content_block(value):
        return [value]
    if isinstance(value, list) and value and all(is_content_block(item) for item in value):
        return value
    return None
