"""The tools a server serves, registered once before anything runs them.

Each `@tool` declaration gets its MCP metadata here (argument model, output schema),
which both the durable worker and the request path use, so a tool's arguments are
validated the same way however it runs.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import Any, Literal

import pydantic_core
from mcp.server.mcpserver.tools import Tool
from pydantic import TypeAdapter

from mcp_server.tooling import TaskContext, ToolSpec

TaskSupport = Literal["forbidden", "optional", "required"]
# Where a task's stored arguments keep the values its Resolve(...) parameters were given in the call.
RESOLVED_KEY = "__resolved__"


class _Resolved:
    """A tool's Resolve(...) parameters: their values stored as JSON and read back as their types."""

    def __init__(self, spec: ToolSpec, tool: Tool) -> None:
        self.names = tuple(tool.resolved_params)
        self._spec = spec

    @cached_property
    def _adapters(self) -> dict[str, TypeAdapter[Any]]:
        hints = typing.get_type_hints(self._spec.fn)  # Annotated[...] stripped: the value's own type
        return {name: TypeAdapter(hints[name]) for name in self.names}

    def dump(self, values: dict[str, Any]) -> dict[str, Any]:
        return {name: pydantic_core.to_jsonable_python(values[name]) for name in self.names if name in values}

    def load(self, stored: dict[str, Any]) -> dict[str, Any]:
        return {name: self._adapters[name].validate_python(stored[name]) for name in self.names if name in stored}


class ToolCatalog:
    def __init__(self, specs: Iterable[ToolSpec]) -> None:
        self._specs: dict[str, ToolSpec] = {}
        self._tools: dict[str, Tool] = {}
        self._resolved: dict[str, _Resolved] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"tool {spec.name!r} is registered twice")
            self._specs[spec.name] = spec
            self._tools[spec.name] = Tool.from_function(
                spec.fn, name=spec.name, description=spec.description, context_kwarg=spec.context_param
            )
            self._resolved[spec.name] = _Resolved(spec, self._tools[spec.name])

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def get(self, name: str) -> ToolSpec | None:
        return self._specs.get(name)

    def spec(self, name: str) -> ToolSpec:
        return self._specs[name]

    def mcp_tool(self, name: str) -> Tool:
        """The tool as the SDK describes it (the author's signature is its input schema)."""
        return self._tools[name]

    def task_support(self, name: str) -> TaskSupport:
        """SEP-1686 `execution.taskSupport` from the tool's declared mode (an unknown tool is forbidden)."""
        spec = self._specs.get(name)
        if spec is None or spec.mode == "request":
            return "forbidden"
        return "required" if spec.mode == "task" else "optional"

    def validate(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validated arguments; raises pydantic.ValidationError naming the bad ones."""
        return self._tools[name].fn_metadata.validate_arguments(arguments)

    def resolved_names(self, name: str) -> tuple[str, ...]:
        """The tool's Resolve(...) parameters (gathered in the call, before the work runs)."""
        return self._resolved[name].names

    def stored_arguments(self, name: str, arguments: dict[str, Any], resolved: dict[str, Any] | None) -> dict[str, Any]:
        """What a task keeps: validated arguments as JSON, and its resolved values under RESOLVED_KEY."""
        stored = pydantic_core.to_jsonable_python(self.validate(name, arguments))
        if resolved:
            stored[RESOLVED_KEY] = self._resolved[name].dump(resolved)
        return stored

    async def call(self, name: str, arguments: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        """Run the tool with stored arguments; its return value as a CallToolResult (JSON)."""
        spec, tool = self._specs[name], self._tools[name]
        arguments = dict(arguments)
        resolved = self._resolved[name].load(arguments.pop(RESOLVED_KEY, None) or {})
        validated = tool.fn_metadata.validate_arguments(arguments)
        value = await tool.fn_metadata.call_fn(spec.fn, True, validated, {spec.context_param: ctx, **resolved})
        return tool.fn_metadata.convert_result(value).model_dump(by_alias=True, mode="json", exclude_none=True)
