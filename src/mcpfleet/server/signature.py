"""From a handler's signature to JSON Schemas and an argument validator.

A handler's parameters become the properties of its ``inputSchema`` (JSON Schema
2020-12, as pydantic writes it); a parameter annotated with ``Context`` is
injected instead. The return annotation decides whether a tool has an
``outputSchema``: plain text and content blocks do not, everything else does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

import pydantic
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from mcpfleet.errors import InvalidParams

_UNSTRUCTURED = (str, type(None), inspect.Signature.empty)
_PLAIN = (str, int, float, bool)
_MISSING = object()  # an argument absent from a call


@dataclass(slots=True)
class Signature:
    """What a handler takes and returns, checked once at registration."""

    params_model: type[BaseModel]
    context_param: str | None
    param_names: tuple[str, ...]
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    wrap_output: bool
    output_adapter: TypeAdapter[Any] | None
    is_async: bool
    # (name, exact type) of every parameter when all are required str/int/float/bool:
    # arguments of exactly those types need no validation beyond a type check.
    plain: tuple[tuple[str, type], ...] | None = None

    def bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validated keyword arguments, or ``InvalidParams`` naming the bad field."""
        plain = self.plain
        if plain is not None:
            bound = {}
            for name, kind in plain:
                value = arguments.get(name, _MISSING)
                if type(value) is not kind:
                    break  # missing, or to be validated (and coerced or refused)
                bound[name] = value
            else:
                return bound
        try:
            model = self.params_model.model_validate(arguments)
        except ValidationError as exc:
            raise InvalidParams(describe_validation_error(exc)) from None
        return {name: getattr(model, name) for name in self.param_names}


def describe_validation_error(exc: ValidationError) -> str:
    """A short message a client can act on, without pydantic's internals."""
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        kind = error["type"]
        if kind == "missing":
            problems.append(f"'{where}' is required")
        elif kind == "extra_forbidden":
            problems.append(f"'{where}' is not a known argument")
        else:
            problems.append(f"'{where}': {error['msg'].lower()}")
    return "Invalid arguments: " + "; ".join(problems)


def _is_context(annotation: Any) -> bool:
    from mcpfleet.server.context import Context

    return inspect.isclass(annotation) and issubclass(annotation, Context)


def analyse(func: Callable[..., Any], *, structured: bool | None = None) -> Signature:
    """Inspect ``func`` once; registration fails early on what cannot be served."""
    hints = get_type_hints(func, include_extras=True)
    fields: dict[str, Any] = {}
    context_param = None
    names = []
    for name, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{func.__name__}: *args and **kwargs cannot be described")
        annotation = hints.get(name, Any)
        if _is_context(annotation):
            context_param = name
            continue
        default = ... if param.default is param.empty else param.default
        fields[name] = (annotation, default)
        names.append(name)
    model = create_model(
        f"{func.__name__}_arguments",
        __config__=ConfigDict(extra="ignore", arbitrary_types_allowed=False),
        **fields,
    )
    input_schema = model.model_json_schema()
    input_schema.pop("title", None)
    input_schema.setdefault("properties", {})
    returns = hints.get("return", inspect.Signature.empty)
    output_schema, wrap, adapter = _output(returns, structured)
    pairs = tuple((name, fields[name][0]) for name in names)
    simple = all(kind in _PLAIN and fields[name][1] is ... for name, kind in pairs)
    plain = pairs if simple else None
    return Signature(
        params_model=model,
        context_param=context_param,
        param_names=tuple(names),
        input_schema=input_schema,
        output_schema=output_schema,
        wrap_output=wrap,
        output_adapter=adapter,
        is_async=inspect.iscoroutinefunction(func),
        plain=plain,
    )


def _output(
    returns: Any, structured: bool | None
) -> tuple[dict[str, Any] | None, bool, TypeAdapter[Any] | None]:
    if structured is False or returns in _UNSTRUCTURED or _is_content_type(returns):
        return None, False, None
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(returns)
        schema = adapter.json_schema(mode="serialization")
    except pydantic.PydanticUserError:
        if structured:
            raise
        return None, False, None
    schema.pop("title", None)
    if schema.get("type") == "object":
        return schema, False, adapter
    wrapped = {"type": "object", "properties": {"result": schema}, "required": ["result"]}
    if "$defs" in schema:
        wrapped["$defs"] = schema.pop("$defs")
    return wrapped, True, adapter


def _is_content_type(returns: Any) -> bool:
    """Return annotations that mean content blocks, not structured output."""
    from mcpfleet.server.content import ContentBlock, ToolResult

    if returns in (ToolResult, ContentBlock):
        return True
    args = getattr(returns, "__args__", None)
    return getattr(returns, "__origin__", None) is list and args == (ContentBlock,)


def header_param(header: str, *, description: str | None = None, default: Any = ...) -> Any:
    """Mark a tool parameter to be mirrored in the ``Mcp-Param-{header}`` HTTP header.

    async def query(region: Annotated[str, header_param("Region")]) -> str: ...
    """
    return pydantic.Field(
        default, description=description, json_schema_extra={"x-mcp-header": header}
    )
