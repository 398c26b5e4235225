"""Write a template as readable YAML: block style, short intrinsic tags, reasons as comments.

Our own writer rather than a YAML library's dumper, because no dumper writes
comments or ``!Ref``-style tags from plain data, and the output must be stable
byte for byte (golden files).
"""

from __future__ import annotations

import json
import re
import textwrap

from mcpfleet.deploy.model import Json, Note

_PLAIN = re.compile(r"^[A-Za-z_/]([A-Za-z0-9_./:-]*[A-Za-z0-9_./-])?$")  # ":" never last
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}
_WIDTH = 96


def to_yaml(data: Json) -> str:
    """The YAML text of ``data`` (a template's plain data, with ``Note``s)."""
    lines: list[str] = []
    _mapping(data, 0, lines)
    return "\n".join(lines) + "\n"


def scalar(value: Json) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        if _PLAIN.match(value) and value.lower() not in _RESERVED:
            return value
        return json.dumps(value)
    raise TypeError(f"not a YAML scalar: {value!r}")


def _comment(why: str, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for line in textwrap.wrap(why, width=max(40, _WIDTH - indent - 2)):
        lines.append(f"{pad}# {line}")


def _tag(value: Json) -> str | None:
    """``!Ref X`` and friends, for the intrinsic functions that read better short."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((key, arg),) = value.items()
    if key == "Ref" and isinstance(arg, str):
        return f"!Ref {scalar(arg)}"
    if key == "Fn::Sub" and isinstance(arg, str):
        return f"!Sub {json.dumps(arg)}"
    if key == "Fn::GetAtt" and isinstance(arg, list) and all(isinstance(a, str) for a in arg):
        return f"!GetAtt {'.'.join(arg)}"
    return None


def _inline(value: Json) -> str | None:
    """The one-line form of a value, or None when it needs a block."""
    tag = _tag(value)
    if tag is not None:
        return tag
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) and not value else ("[]" if not value else None)
    return scalar(value)


def _unnoted(item: Json, indent: int, lines: list[str]) -> Json:
    """The value of ``item``; a ``Note``'s reason goes out first, as a comment."""
    if isinstance(item, Note):
        _comment(item.why, indent, lines)
        return item.value
    return item


def _mapping(data: Json, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, item in data.items():
        value = _unnoted(item, indent, lines)
        inline = _inline(value)
        if inline is not None:
            lines.append(f"{pad}{scalar(key)}: {inline}")
        elif isinstance(value, dict):
            lines.append(f"{pad}{scalar(key)}:")
            _mapping(value, indent + 2, lines)
        else:
            lines.append(f"{pad}{scalar(key)}:")
            _sequence(value, indent + 2, lines)


def _sequence(data: list[Json], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in data:
        value = _unnoted(item, indent, lines)
        inline = _inline(value)
        if inline is not None:
            lines.append(f"{pad}- {inline}")
        elif isinstance(value, dict):
            sub: list[str] = []
            _mapping(value, indent + 2, sub)
            first = next(i for i, line in enumerate(sub) if not line.lstrip().startswith("#"))
            lines.extend(sub[:first])
            lines.append(f"{pad}- {sub[first].lstrip()}")
            lines.extend(sub[first + 1 :])
        else:
            lines.append(f"{pad}-")
            _sequence(value, indent + 2, lines)
