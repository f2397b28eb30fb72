"""The tools a server serves, registered once before anything runs them.

Each `@tool` declaration gets its MCP metadata here (argument model, output schema),
which both the durable worker and the request path use, so a tool's arguments are
validated the same way however it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

from mcp.server.mcpserver.tools import Tool

from mcp_server.tooling import TaskContext, ToolSpec

TaskSupport = Literal["forbidden", "optional", "required"]


class ToolCatalog:
    def __init__(self, specs: Iterable[ToolSpec]) -> None:
        self._specs: dict[str, ToolSpec] = {}
        self._tools: dict[str, Tool] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"tool {spec.name!r} is registered twice")
            self._specs[spec.name] = spec
            self._tools[spec.name] = Tool.from_function(
                spec.fn, name=spec.name, description=spec.description, context_kwarg=spec.context_param
            )

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

    async def call(self, name: str, arguments: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        """Run the tool with stored arguments; its return value as a CallToolResult (JSON)."""
        spec, tool = self._specs[name], self._tools[name]
        validated = tool.fn_metadata.validate_arguments(arguments)
        value = await tool.fn_metadata.call_fn(spec.fn, True, validated, {spec.context_param: ctx})
        return tool.fn_metadata.convert_result(value).model_dump(by_alias=True, mode="json", exclude_none=True)
