"""tools/call on an ``MCPServer`` without the parts of the SDK's path a plain tool never uses.

The SDK's public ``MCPServer.call_tool`` builds an SDK ``Context`` for every call, runs
``Tool.run`` (argument validation, the call, the tool's errors) and converts the value
into a ``CallToolResult`` model, which the bridge then dumps into the dict it sends.
``DirectTools`` gives the same dict, or raises the same SDK exception, with less work:

- the SDK ``Context`` is built only for a tool that takes one;
- the arguments are validated as ``FuncMetadata.validate_arguments`` does, by the
  tool's own arguments model, skipping its JSON pre-parsing when every parameter is a
  ``str`` (where it changes nothing); the tool is called by ``FuncMetadata.call_fn``;
  every failure is raised as ``Tool.run`` raises it;
- the value becomes the dict ``dump(convert_result(value))`` would be: text content
  (a string, ``None``, anything the SDK renders as JSON text, lists and tuples of these)
  is written here, and structured output is validated and dumped by the SDK's own
  adapter for the tool, or, for a ``str``, ``int`` or ``bool`` returned where the SDK's
  wrapper model of exactly that type is declared, wrapped as ``{"result": value}``; any
  other value (content blocks, ``Image``, ``Audio``, a ``CallToolResult``, an
  ``InputRequiredResult``, a ``str`` subclass) is converted by the SDK itself.

A tool with ``Resolve`` parameters is run by the SDK's ``Tool.run`` whole. All this
reads SDK internals, so it serves only under the releases whose internals were tested
(``sdk.TOOL_INTERNALS_TESTED``), and only a server, tool manager, tool and metadata of
the SDK's own classes (no subclass); everything else takes the public ``call_tool``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import SchemaSerializer, core_schema, to_json

from mcpfleet.compat.sdk import TOOL_INTERNALS_TESTED, sdk, sdk_version

COMPLETE = {"isError": False, "resultType": "complete"}  # a CallToolResult's defaults
# How a CallToolResult's ``structuredContent`` (typed ``Any``) is serialized by its dump.
_ANY_JSON = SchemaSerializer(core_schema.any_schema())
_FUNC_METADATA = "mcp.server.mcpserver.utilities.func_metadata"
# Types whose values are validated and dumped to themselves (a type equals only itself).
_PLAIN_RESULTS: dict[Any, type] = {str: str, int: int, bool: bool}


def direct_tools_tested(app: Any, version: str | None = None) -> bool:
    """Whether ``app``'s tools can be called directly: the SDK release (``version``, by
    default the installed one) is one whose internals were tested, and the app's server
    class keeps the SDK's ``call_tool``."""
    if (version or sdk_version()) not in TOOL_INTERNALS_TESTED:
        return False
    server = sdk("server.mcpserver.server").MCPServer
    return getattr(type(app), "call_tool", None) is server.call_tool


@dataclass(slots=True, frozen=True)
class ArgumentsPlan:
    """How one arguments model (``FuncMetadata.arg_model``) validates a call's arguments."""

    model: Any
    pre_parse: bool  # some parameter is not a str: JSON text may be parsed first
    # (field, keyword) as ``model_dump_one_level`` makes them; None for a model not
    # made by the SDK from a signature (it is validated by ``validate_arguments``)
    keywords: tuple[tuple[str, str], ...] | None

    @classmethod
    def of(cls, model: Any, base: Any) -> ArgumentsPlan:
        """The plan for ``model``; ``base`` is the SDK's ``ArgModelBase``."""
        fields = model.model_fields
        pre_parse = any(field.annotation is not str for field in fields.values())
        keywords = tuple((name, field.alias or name) for name, field in fields.items())
        made = (
            model.__bases__ == (base,)
            and model.model_dump_one_level is base.model_dump_one_level
            and not model.__pydantic_decorators__.model_validators
        )
        return cls(model, pre_parse, keywords if made else None)


@dataclass(slots=True, frozen=True)
class OutputPlan:
    """A tool's output model, the SDK's adapter for it, and the one type (if any) whose
    values its wrapper model validates and dumps to themselves."""

    metadata: Any
    model: Any
    adapter: Any
    plain: type | None

    @classmethod
    def of(cls, metadata: Any, model: Any) -> OutputPlan:
        return cls(metadata, model, metadata._output_adapter(model), plain_result(model))


def plain_result(model: Any) -> type | None:
    """``str``, ``int`` or ``bool`` when ``model`` is the SDK's wrapper for a return of
    exactly that type (``result: str``, no constraint, validator or config), else None."""
    if getattr(model, "__module__", None) != _FUNC_METADATA:
        return None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    if model.__bases__ != (BaseModel,) or model.model_config:
        return None
    decorators = model.__pydantic_decorators__
    if any(getattr(decorators, kind) for kind in decorators.__dataclass_fields__):
        return None
    fields = model.model_fields
    field = fields.get("result")
    if len(fields) != 1 or field is None:
        return None
    if field.metadata or field.alias or field.exclude or not field.is_required():
        return None
    return _PLAIN_RESULTS.get(field.annotation)


class DirectTools:
    """Runs an ``MCPServer``'s tools for the bridge (see the module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        types = sdk("types")
        self._errors = sdk("server.mcpserver.exceptions")
        self._mcp_error = sdk("shared.exceptions").MCPError
        self._manager_class = sdk("server.mcpserver.tools.tool_manager").ToolManager
        self._tool_class = sdk("server.mcpserver.tools.base").Tool
        metadata = sdk("server.mcpserver.utilities.func_metadata")
        self._metadata_class = metadata.FuncMetadata
        self._arguments_base = metadata.ArgModelBase
        helpers = sdk("server.mcpserver.utilities.types")
        # What the SDK renders as content blocks rather than text (``_convert_to_content``).
        self._blocks = (*get_args(types.ContentBlock), helpers.Image, helpers.Audio, str)
        # What ``convert_result`` passes through whole.
        self._whole = (types.CallToolResult, types.InputRequiredResult)
        # By tool name; each is rebuilt when the tool's models are replaced.
        self._arguments: dict[str, ArgumentsPlan] = {}
        self._outputs: dict[str, OutputPlan] = {}

    def find(self, name: str) -> Any | None:
        """The SDK's registration of tool ``name``, if it can be called directly."""
        manager = self.app._tool_manager
        if type(manager) is not self._manager_class:
            return None
        tool = manager.get_tool(name)
        if type(tool) is not self._tool_class:
            return None
        if type(tool.fn_metadata) is not self._metadata_class:
            return None
        return tool

    async def call(self, tool: Any, arguments: dict[str, Any], context: Callable[[], Any]) -> Any:
        """What ``MCPServer.call_tool`` returns for ``tool``, as a ``CallToolResult`` dict
        (or the SDK's result model, to dump); its exceptions as it raises them.
        ``context`` makes the SDK ``Context``, called only for a tool that reads one."""
        if tool.resolved_params:
            return await tool.run(arguments, context(), convert_result=True)
        direct = {} if tool.context_kwarg is None else {tool.context_kwarg: context()}
        name, metadata, errors = tool.name, tool.fn_metadata, self._errors
        try:
            validated = self.validated(name, metadata, arguments)
        except ValidationError as exc:
            raise errors.ToolError(f"Error executing tool {name}: {exc}") from exc
        except self._mcp_error:
            raise
        except Exception as exc:
            raise errors.UnexpectedToolError(f"Error executing tool {name}") from exc
        try:
            value = await metadata.call_fn(tool.fn, tool.is_async, validated, direct)
            return self.converted(name, metadata, value)
        except self._mcp_error:
            raise
        except Exception as exc:
            raise self._run_error(name, exc) from exc

    def validated(self, name: str, metadata: Any, arguments: dict[str, Any]) -> dict[str, Any]:
        """``metadata.validate_arguments(arguments)``."""
        plan = self._arguments.get(name)
        if plan is None or plan.model is not metadata.arg_model:
            plan = ArgumentsPlan.of(metadata.arg_model, self._arguments_base)
            self._arguments[name] = plan
        keywords = plan.keywords
        if keywords is None:
            validated: dict[str, Any] = metadata.validate_arguments(arguments)
            return validated
        data = metadata.pre_parse_json(arguments) if plan.pre_parse else dict(arguments)
        model = plan.model.model_validate(data)
        return {keyword: getattr(model, field) for field, keyword in keywords}

    def converted(self, name: str, metadata: Any, value: Any) -> Any:
        """What ``dump(metadata.convert_result(value))`` gives, or the SDK's own
        ``convert_result(value)`` for a value not converted here."""
        content = None if isinstance(value, self._whole) else self._content(value)
        if content is None:
            return metadata.convert_result(value)
        output_model = metadata.output_model if metadata.output_schema is not None else None
        if output_model is None:
            return {"content": content, **COMPLETE}
        plan = self._outputs.get(name)
        if plan is None or plan.metadata is not metadata or plan.model is not output_model:
            plan = self._outputs[name] = OutputPlan.of(metadata, output_model)
        if metadata.wrap_output:
            if type(value) is plan.plain:
                return {"content": content, "structuredContent": {"result": value}, **COMPLETE}
            value = {"result": value}
        validated = plan.adapter.validate_python(value, by_alias=True, by_name=True)
        if isinstance(validated, BaseModel):
            structured = validated.model_dump(mode="json", by_alias=True)
        else:
            structured = plan.adapter.dump_python(validated, mode="json", by_alias=True)
        structured = _ANY_JSON.to_python(structured, mode="json")
        if structured is None:
            return {"content": content, **COMPLETE}
        return {"content": content, "structuredContent": structured, **COMPLETE}

    def _content(self, value: Any) -> list[dict[str, Any]] | None:
        """The content blocks the SDK makes of ``value`` when all are text, else ``None``."""
        if value is None:
            return []
        if type(value) is str:
            return [{"type": "text", "text": value}]
        if isinstance(value, list | tuple):
            blocks: list[dict[str, Any]] = []
            for item in value:
                part = self._content(item)
                if part is None:
                    return None
                blocks.extend(part)
            return blocks
        if isinstance(value, self._blocks):
            return None
        return [{"type": "text", "text": to_json(value, fallback=str, indent=2).decode()}]

    def _run_error(self, name: str, exc: Exception) -> Exception:
        """What ``Tool.run`` raises for ``exc``, raised by the tool or while converting."""
        errors = self._errors
        raised: Exception
        if isinstance(exc, errors.UnexpectedToolError | errors.UnexpectedResourceError):
            raised = errors.UnexpectedToolError(f"Error executing tool {name}: {exc}")
        elif isinstance(exc, errors.ToolError | errors.ResourceError):
            raised = errors.ToolError(f"Error executing tool {name}: {exc}")
        else:
            raised = errors.UnexpectedToolError(f"Error executing tool {name}")
        return raised
