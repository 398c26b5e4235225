"""Reading the monitor's YAML so that every error names its line and its key.

PyYAML composes nodes that know where they start; the loader here keeps those marks on
the mappings and lists it builds (``MarkedDict``, ``MarkedList``), and ``Section`` reads
a mapping key by key, raising ``MonitorConfigError`` with ``file:line: key.path: reason``.
A key the reader never asked for is an error too, so a typo does not pass silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from mcpfleet.errors import ConfigError

T = TypeVar("T")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class MonitorConfigError(ConfigError):
    """A bad monitor setting: where it is (line, dotted key) and what is wrong with it."""

    def __init__(self, source: str, line: int, key: str, reason: str) -> None:
        self.source = source
        self.line = line
        self.key = key
        self.reason = reason
        where = f"{source}:{line}"
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


class MarkedDict(dict[str, Any]):
    """A YAML mapping that remembers the line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]


class MarkedList(list[Any]):
    """A YAML sequence that remembers the line of itself and of each item."""

    line: int = 0
    item_lines: list[int]


def load_yaml(text: str, source: str) -> MarkedDict:
    """Parse ``text``; a syntax error or a document that is not a mapping is named."""
    try:
        from mcpfleet.monitor.yaml_loader import parse
    except ImportError:
        raise MonitorConfigError(
            source, 1, "", "reading it needs PyYAML: pip install 'mcpfleet[monitor]'"
        ) from None
    return parse(text, source)


def parse_duration(value: Any) -> float | None:
    """Seconds from ``30``, ``30s``, ``250ms``, ``5m``, ``1h``, ``2d``; None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return float(match.group(1)) * _UNITS[match.group(2)]
    return None


class Section:
    """One mapping of the file, read key by key; ``done`` refuses keys nobody read."""

    def __init__(self, data: MarkedDict, path: str, source: str) -> None:
        self.data = data
        self.path = path
        self.source = source
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def line(self, name: str | None = None) -> int:
        if name is not None and name in self.data.key_lines:
            return self.data.key_lines[name]
        return self.data.line

    def fail(self, name: str | None, reason: str) -> MonitorConfigError:
        return MonitorConfigError(self.source, self.line(name), self.key(name or ""), reason)

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = None) -> Any:
        self.seen.add(name)
        return self.data.get(name, default)

    def take(self, name: str, kind: type[T], default: T) -> T:
        """The value of ``name`` if it is a ``kind`` (ints count as floats), else the default."""
        return self._check(name, self.raw(name, default), kind)

    def optional(self, name: str, kind: type[T]) -> T | None:
        value = self.raw(name)
        return None if value is None else self._check(name, value, kind)

    def _check(self, name: str, value: Any, kind: type[T]) -> T:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.fail(name, f"expected {_kind_name(kind)}, got {_shown(value)}")
        return value

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        if required and self.raw(name) is None:
            raise self.fail(name, "is required")
        value = self.optional(name, str)
        return default if value is None else value

    def duration(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw(name)
        if value is None:
            return default
        seconds = parse_duration(value)
        if seconds is None:
            raise self.fail(name, f"expected a duration such as 30s, 5m or 1h, got {_shown(value)}")
        if seconds < minimum:
            raise self.fail(name, f"must be at least {minimum:g} s")
        return seconds

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.take(name, float, default)
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum:g}")
        return value

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        value = self.take(name, int, default)
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.take(name, str, default)
        if value not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def section(self, name: str) -> Section:
        """The mapping under ``name`` (an empty one when absent)."""
        value = self.raw(name)
        if value is None:
            empty = MarkedDict()
            empty.line, empty.key_lines = self.line(name), {}
            return Section(empty, self.key(name), self.source)
        if not isinstance(value, MarkedDict):
            raise self.fail(name, f"expected a mapping, got {_shown(value)}")
        return Section(value, self.key(name), self.source)

    def items(self, name: str) -> list[tuple[str, int, Any]]:
        """The list under ``name``: each item with its dotted key and its line."""
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, MarkedList):
            raise self.fail(name, f"expected a list, got {_shown(value)}")
        return [
            (f"{self.key(name)}[{index}]", line, item)
            for index, (line, item) in enumerate(zip(value.item_lines, value, strict=True))
        ]

    def item_section(self, key: str, line: int, item: Any) -> Section:
        if not isinstance(item, MarkedDict):
            raise MonitorConfigError(
                self.source, line, key, f"expected a mapping, got {_shown(item)}"
            )
        return Section(item, key, self.source)

    def strings(self, name: str) -> tuple[str, ...]:
        found = []
        for key, line, item in self.items(name):
            if not isinstance(item, str) or not item:
                raise MonitorConfigError(self.source, line, key, "expected a non-empty string")
            found.append(item)
        return tuple(found)

    def done(self) -> None:
        for name in self.data:
            if name not in self.seen:
                known = ", ".join(sorted(self.seen)) or "none"
                raise self.fail(name, f"unknown key (known here: {known})")


def each_entry(section: Section, name: str, read: Callable[[Section], T]) -> list[T]:
    """Read every mapping of the list ``name`` with ``read``, then refuse unread keys."""
    out = []
    for key, line, item in section.items(name):
        entry = section.item_section(key, line, item)
        out.append(read(entry))
        entry.done()
    return out


def _kind_name(kind: type) -> str:
    return {str: "a string", float: "a number", int: "an integer", bool: "true or false"}.get(
        kind, kind.__name__
    )


def _shown(value: Any) -> str:
    if isinstance(value, MarkedDict):
        return "a mapping"
    if isinstance(value, MarkedList):
        return "a list"
    return repr(value)[:60]
