"""The YAML loader behind ``mcpfleet.monitor.source.load_yaml``: PyYAML's safe loader,
keeping each mapping's and list's line marks. Imported only when a config is read, so that
PyYAML (the ``monitor`` extra) is needed only by the monitor."""

from __future__ import annotations

from typing import Any

import yaml

from mcpfleet.monitor.source import MarkedDict, MarkedList, MonitorConfigError


class _Loader(yaml.SafeLoader):
    source = "<config>"

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        """A value PyYAML's constructors cannot build (a 13th month) is refused at its line."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            line = node.start_mark.line + 1
            raise MonitorConfigError(
                self.source, line, "", f"cannot read this value: {exc}"
            ) from None


def _mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    out = MarkedDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise MonitorConfigError(loader.source, line, str(key), "keys must be strings")
        if key in out:
            raise MonitorConfigError(loader.source, line, key, "given twice")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    out = MarkedList(loader.construct_object(item, deep=True) for item in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [item.start_mark.line + 1 for item in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def parse(text: str, source: str) -> MarkedDict:
    """Parse ``text``; a syntax error or a document that is not a mapping is named."""
    loader = _Loader(text)
    loader.source = source
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise MonitorConfigError(source, line, "", f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise MonitorConfigError(source, 1, "", f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if not isinstance(data, MarkedDict):
        raise MonitorConfigError(source, 1, "", "the file must be a mapping of settings")
    return data
