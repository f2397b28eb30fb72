"""The server the official MCP conformance suite runs against: the kit's `app.build` with the suite's tools.

Tools whose behaviour the engine owns (text, errors, progress, elicitation, sampling) are
engine tools (`@tool`, resolvers); the content-type and logging fixtures are plain SDK tools
registered on the same server. Run: `python fixture_server.py PORT DATA_DIR`.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated, Any

import anyio
import uvicorn

IMAGE_DIR = Path(__file__).resolve().parents[2] / "runtime_images" / "mcp_server"
sys.path.insert(0, str(IMAGE_DIR))

from mcp.server.mcpserver import Context  # noqa: E402
from mcp.server.mcpserver.exceptions import ToolError  # noqa: E402
from mcp.server.mcpserver.resolve import (  # noqa: E402
    AcceptedElicitation,
    Elicit,
    ElicitationResult,
    Resolve,
    Sample,
)
from mcp.server.mcpserver.tools import Tool  # noqa: E402
from mcp_server.app import build  # noqa: E402
from mcp_server.settings import load_settings  # noqa: E402
from mcp_server.tooling import TaskContext, ToolSpec, tool  # noqa: E402
from mcp_types import (  # noqa: E402
    AudioContent,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    ImageContent,
    SamplingMessage,
    SetLevelRequestParams,
    TextContent,
    TextResourceContents,
)
from pydantic import BaseModel, Field  # noqa: E402

# A 1x1 red PNG and a 1-sample silent WAV: the smallest valid payloads of each kind.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c63f8cfc000"
        "0003010100c9fe92ef0000000049454e44ae426082"
    )
).decode()
WAV = base64.b64encode(
    bytes.fromhex("52494646260000005741564566d7420100000001000100401f0000803e0000020010006461746102000000000000")
).decode()


# ---------------------------------------------------------------- engine tools
@tool(mode="either", max_duration_seconds=30)
async def test_simple_text(ctx: TaskContext) -> str:
    """Returns a fixed text."""
    return "This is a simple text response for testing."


@tool(mode="request", max_duration_seconds=30)
async def test_error_handling(ctx: TaskContext) -> str:
    """Always fails."""
    raise ToolError("This tool intentionally returns an error for testing")


@tool(mode="request", max_duration_seconds=30)
async def test_tool_with_progress(ctx: TaskContext) -> str:
    """Reports 0, 50 and 100 of 100, ~50 ms apart (the suite's prescribed pacing)."""
    for step in (0, 50, 100):
        await ctx.report_progress(step, 100)
        if step < 100:
            await anyio.sleep(0.05)
    return "Progress test completed"


class Contact(BaseModel):
    username: str = Field(description="User's response")
    email: str = Field(description="User's email address")


def ask_contact(message: str) -> Elicit[Contact]:
    return Elicit(message, Contact)


@tool(mode="request", max_duration_seconds=60)
async def test_elicitation(
    message: str, ctx: TaskContext, answer: Annotated[ElicitationResult[Contact], Resolve(ask_contact)]
) -> str:
    """Asks the user for a username and an email."""
    content = answer.data.model_dump() if isinstance(answer, AcceptedElicitation) else None
    return f"User response: action={answer.action}, content={content}"


def ask_model(prompt: str) -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=prompt))], max_tokens=100)


@tool(mode="request", max_duration_seconds=60)
async def test_sampling(
    prompt: str, ctx: TaskContext, sampled: Annotated[CreateMessageResult, Resolve(ask_model)]
) -> str:
    """Asks the client's model to answer the prompt."""
    text = sampled.content.text if isinstance(sampled.content, TextContent) else str(sampled.content)
    return f"LLM response: {text}"


class Defaults(BaseModel):
    name: str = Field("John Doe", description="User name")
    age: int = Field(30, description="User age")
    score: float = Field(95.5, description="User score")
    status: str = Field(
        "active", description="User status", json_schema_extra={"enum": ["active", "inactive", "pending"]}
    )
    verified: bool = Field(True, description="Verification status")


def ask_defaults() -> Elicit[Defaults]:
    return Elicit("Please review and update the form fields with defaults", Defaults)


@tool(mode="request", max_duration_seconds=60)
async def test_elicitation_sep1034_defaults(
    ctx: TaskContext, answer: Annotated[ElicitationResult[Defaults], Resolve(ask_defaults)]
) -> str:
    """Elicits a form whose every field has a default."""
    content = answer.data.model_dump() if isinstance(answer, AcceptedElicitation) else None
    return f"Elicitation completed: action={answer.action}, content={content}"


SPECS: list[ToolSpec] = [
    test_simple_text,
    test_error_handling,
    test_tool_with_progress,
    test_elicitation,
    test_sampling,
    test_elicitation_sep1034_defaults,
]


# ---------------------------------------------------------------- plain SDK tools on the same server
def test_image_content() -> list[ImageContent]:
    """Returns an image."""
    return [ImageContent(type="image", data=PNG, mime_type="image/png")]


def test_audio_content() -> list[AudioContent]:
    """Returns audio."""
    return [AudioContent(type="audio", data=WAV, mime_type="audio/wav")]


def test_embedded_resource() -> list[EmbeddedResource]:
    """Returns an embedded text resource."""
    resource = TextResourceContents(
        uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
    )
    return [EmbeddedResource(type="resource", resource=resource)]


def test_multiple_content_types() -> list[Any]:
    """Returns text, an image and a resource."""
    resource = TextResourceContents(
        uri="test://mixed-content-resource", mime_type="application/json", text='{"test":"data","value":123}'
    )
    return [
        TextContent(type="text", text="Multiple content types test:"),
        ImageContent(type="image", data=PNG, mime_type="image/png"),
        EmbeddedResource(type="resource", resource=resource),
    ]


async def test_tool_with_logging(ctx: Context) -> str:
    """Sends three info log messages ~50 ms apart (the suite's prescribed pacing)."""
    await ctx.info("Tool execution started")
    await anyio.sleep(0.05)
    await ctx.info("Tool processing data")
    await anyio.sleep(0.05)
    await ctx.info("Tool execution completed")
    return "Logging test completed"


async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    """Elicits the five enum shapes of SEP-1330 (a hand-written schema: the SDK renders only the common ones)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {
                "type": "string",
                "oneOf": [
                    {"const": "value1", "title": "First Option"},
                    {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"},
                ],
            },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
            "titledMulti": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"},
                    ]
                },
            },
        },
    }
    request = ElicitRequest(params=ElicitRequestFormParams(message="Pick options", requested_schema=schema))
    from mcp.shared.message import ServerMessageMetadata

    answer = await ctx.session.send_request(
        request, ElicitResult, metadata=ServerMessageMetadata(related_request_id=ctx.request_id)
    )
    return f"Elicitation completed: action={answer.action}, content={answer.content}"


async def test_reconnection(ctx: Context) -> str:
    """Closes its own SSE stream mid-call; the answer reaches the client when it resumes (SEP-1699)."""
    await ctx.close_sse_stream()
    await anyio.sleep(0.1)  # the answer is written after the stream is gone, so it must be replayed
    return "Reconnection test completed successfully"


async def set_level(ctx: Any, params: SetLevelRequestParams) -> dict[str, Any]:
    # The 2025-era logging capability, which MCPServer does not declare by itself (deprecated in 2026-07-28).
    return {}


def json_schema_tool() -> Tool:
    async def fn(**arguments: Any) -> str:
        return f"received {sorted(arguments)}"

    plain = Tool.from_function(lambda: None, name="json_schema_2020_12_tool")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}
        },
        "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
        "additionalProperties": False,
    }
    return plain.model_copy(
        update={"fn": fn, "description": "Tool with JSON Schema 2020-12 features", "parameters": schema}
    )


def main() -> None:
    port, data = int(sys.argv[1]), Path(sys.argv[2])
    settings = load_settings(
        {
            "TASK_SQLITE_PATH": str(data / "tasks.sqlite3"),
            "RESULT_SINK": "none",
            "DATASET_ROOT": str(data),
            "MCP_HOST": "127.0.0.1",
            "MCP_PORT": str(port),
        }
    )
    assembled = build(settings, SPECS)
    server = assembled.server
    for fn in (
        test_image_content,
        test_audio_content,
        test_embedded_resource,
        test_multiple_content_types,
        test_tool_with_logging,
        test_elicitation_sep1330_enums,
        test_reconnection,
    ):
        server.add_tool(fn, structured_output=False)
    # Fixture-only reach into the SDK: a tool with a hand-written schema, and logging/setLevel.
    server._tool_manager._tools["json_schema_2020_12_tool"] = json_schema_tool()
    server._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    uvicorn.run(assembled.app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
