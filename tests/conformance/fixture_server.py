"""The server the official MCP conformance suite runs against: the kit's `app.build` with the suite's fixtures.

Each fixture is the one a scenario of @modelcontextprotocol/conformance prescribes (its name,
arguments and answer are in the scenario's description and `run()`). Tools whose behaviour the
engine owns (text, errors, progress, elicitation, sampling, the SEP-2322 multi-round tools and the
missing-capability probe) are engine tools (`@tool`, with SDK resolvers for questions asked inside
the call); content types, resources, prompts, completion, logging and the diagnostic hooks of
`server-stateless` are plain SDK registrations on the same server.

Run: `python fixture_server.py PORT DATA_DIR`.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import anyio
import uvicorn

IMAGE_DIR = Path(__file__).resolve().parents[2] / "runtime_images" / "mcp_server"
sys.path.insert(0, str(IMAGE_DIR))

from fixture_tasks import TASK_SPECS  # noqa: E402
from mcp.server.mcpserver import Context, MCPServer  # noqa: E402
from mcp.server.mcpserver.exceptions import ToolError  # noqa: E402
from mcp.server.mcpserver.prompts.base import Message, Prompt, UserMessage  # noqa: E402
from mcp.server.mcpserver.resolve import (  # noqa: E402
    AcceptedElicitation,
    Elicit,
    ElicitationResult,
    ListRoots,
    Resolve,
    Sample,
)
from mcp.server.mcpserver.tools import Tool  # noqa: E402
from mcp.shared.message import ServerMessageMetadata  # noqa: E402
from mcp_server.app import build  # noqa: E402
from mcp_server.settings import load_settings  # noqa: E402
from mcp_server.tooling import TaskContext, ToolSpec, tool  # noqa: E402
from mcp_types import (  # noqa: E402
    AudioContent,
    Completion,
    CompletionArgument,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    ImageContent,
    InputRequiredResult,
    ListRootsResult,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field  # noqa: E402

# A 1x1 red PNG and a 1-sample silent WAV: the smallest valid payloads of each kind.
PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c63f8cfc000"
    "0003010100c9fe92ef0000000049454e44ae426082"
)
PNG = base64.b64encode(PNG_BYTES).decode()
WAV = base64.b64encode(
    bytes.fromhex("52494646260000005741564566d7420100000001000100401f0000803e0000020010006461746102000000000000")
).decode()


def text_of(result: CreateMessageResult) -> str:
    return result.content.text if isinstance(result.content, TextContent) else str(result.content)


def said(prompt: str, max_tokens: int) -> Sample:
    """A one-message sampling request."""
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=prompt))], max_tokens=max_tokens)


# ---------------------------------------------------------------- engine tools (2025-11-25 scenarios)
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
    return said(prompt, 100)


@tool(mode="request", max_duration_seconds=60)
async def test_sampling(
    prompt: str, ctx: TaskContext, sampled: Annotated[CreateMessageResult, Resolve(ask_model)]
) -> str:
    """Asks the client's model to answer the prompt."""
    return f"LLM response: {text_of(sampled)}"


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


# ---------------------------------------------------------------- engine tools (2026-07-28 scenarios)
# SEP-2575 (server-stateless): a tool whose work needs sampling; the client that did not declare it
# gets -32021 with requiredCapabilities {"sampling": {}} (the resolver checks before asking).
def ask_probe() -> Sample:
    return said("Say anything.", 10)


@tool(mode="request", max_duration_seconds=30)
async def test_missing_capability(ctx: TaskContext, sampled: Annotated[CreateMessageResult, Resolve(ask_probe)]) -> str:
    """Needs the client's sampling capability; a client that did not declare it is refused (-32021)."""
    return f"Sampled: {text_of(sampled)}"


# SEP-2575: a call that asks the client a question answers on its own response stream with an
# InputRequiredResult, never with an independent elicitation/create request.
class Answer(BaseModel):
    answer: str


def ask_anything() -> Elicit[Answer]:
    return Elicit("Anything to add?", Answer)


@tool(mode="request", max_duration_seconds=30)
async def test_streaming_elicitation(
    ctx: TaskContext, answer: Annotated[ElicitationResult[Answer], Resolve(ask_anything)]
) -> str:
    """Asks the client one question inside the call."""
    return f"Elicitation completed: action={answer.action}"


# SEP-2243 (http-custom-header-server-validation): an argument mirrored into the Mcp-Param-Region header.
@tool(mode="request", max_duration_seconds=30)
async def test_custom_header(
    region: Annotated[str, Field(description="Region to use", json_schema_extra={"x-mcp-header": "Region"})],
    ctx: TaskContext,
) -> str:
    """Echoes its `region` argument, which clients also send as the Mcp-Param-Region header."""
    return f"region={region}"


# SEP-2322 (input-required-result-*): questions asked inside the call come back as an
# InputRequiredResult; the SDK seals requestState (tampering is refused) and resumes on the retry.
def ask_capital() -> Sample:
    return said("What is the capital of France?", 100)


@tool(mode="request", max_duration_seconds=30)
async def test_input_required_result_sampling(
    ctx: TaskContext, sampled: Annotated[CreateMessageResult, Resolve(ask_capital)]
) -> str:
    """Asks the client's model one question (one round trip)."""
    return f"Sampling result: {text_of(sampled)}"


def ask_roots() -> ListRoots:
    return ListRoots()


@tool(mode="request", max_duration_seconds=30)
async def test_input_required_result_list_roots(
    ctx: TaskContext, roots: Annotated[ListRootsResult, Resolve(ask_roots)]
) -> str:
    """Asks for the client's roots (one round trip)."""
    return f"Found {len(roots.roots)} root(s): {', '.join(str(root.uri) for root in roots.roots)}"


class Confirmation(BaseModel):
    ok: bool


def ask_confirmation() -> Elicit[Confirmation]:
    return Elicit("Please confirm", Confirmation)


@tool(mode="request", max_duration_seconds=30)
async def test_input_required_result_request_state(
    ctx: TaskContext, confirmed: Annotated[Confirmation, Resolve(ask_confirmation)]
) -> str:
    """Asks for a confirmation; the answer is accepted only with the requestState it was asked under."""
    return f"state-ok: confirmed={confirmed.ok}"


@tool(mode="request", max_duration_seconds=30)
async def test_input_required_result_tampered_state(
    ctx: TaskContext, confirmed: Annotated[Confirmation, Resolve(ask_confirmation)]
) -> str:
    """Asks for a confirmation; a retry whose requestState was altered is refused."""
    return f"integrity-ok: confirmed={confirmed.ok}"


class Name(BaseModel):
    name: str


def ask_name() -> Elicit[Name]:
    return Elicit("What is your name?", Name)


def ask_greeting() -> Sample:
    return said("Generate a greeting", 50)


@tool(mode="request", max_duration_seconds=30)
async def test_input_required_result_multiple_inputs(
    ctx: TaskContext,
    who: Annotated[Name, Resolve(ask_name)],
    greeting: Annotated[CreateMessageResult, Resolve(ask_greeting)],
    roots: Annotated[ListRootsResult, Resolve(ask_roots)],
) -> str:
    """Asks three independent questions (elicitation, sampling, roots) in one round."""
    return f"{text_of(greeting)} {who.name} ({len(roots.roots)} root(s))"


def ask_step1() -> Elicit[Name]:
    return Elicit("Step 1: What is your name?", Name)


class Colour(BaseModel):
    color: str


def ask_step2(who: Annotated[Name, Resolve(ask_step1)]) -> Elicit[Colour]:
    return Elicit("Step 2: What is your favorite color?", Colour)


@tool(mode="request", max_duration_seconds=30)
async def test_input_required_result_multi_round(
    ctx: TaskContext,
    who: Annotated[Name, Resolve(ask_step1)],
    colour: Annotated[Colour, Resolve(ask_step2)],
) -> str:
    """Asks its second question only after the first is answered (two rounds, the state grows)."""
    return f"{who.name} likes {colour.color}"


class Note(BaseModel):
    value: str


def ask_note_if_possible(ctx: Context) -> Elicit[Note] | None:
    capabilities = ctx.client_capabilities
    return Elicit("Elicitation input", Note) if capabilities and capabilities.elicitation is not None else None


def sample_if_possible(ctx: Context) -> Sample | None:
    capabilities = ctx.client_capabilities
    return said("Sample request", 50) if capabilities and capabilities.sampling is not None else None


@tool(mode="request", max_duration_seconds=30)
async def test_input_required_result_capabilities(
    ctx: TaskContext,
    note: Annotated[Note | None, Resolve(ask_note_if_possible)],
    sampled: Annotated[CreateMessageResult | None, Resolve(sample_if_possible)],
) -> str:
    """Asks only what the client declared it can answer (elicitation and/or sampling)."""
    answered = [kind for kind, value in (("elicitation", note), ("sampling", sampled)) if value is not None]
    return f"capabilities-ok: {', '.join(answered) or 'nothing asked'}"


SPECS: list[ToolSpec] = [
    test_simple_text,
    test_error_handling,
    test_tool_with_progress,
    test_elicitation,
    test_sampling,
    test_elicitation_sep1034_defaults,
    test_missing_capability,
    test_streaming_elicitation,
    test_custom_header,
    test_input_required_result_sampling,
    test_input_required_result_list_roots,
    test_input_required_result_request_state,
    test_input_required_result_tampered_state,
    test_input_required_result_multiple_inputs,
    test_input_required_result_multi_round,
    test_input_required_result_capabilities,
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


async def test_logging_tool(ctx: Context) -> str:
    """Logs at info; a 2026-07-28 request that set no `_meta` logLevel gets no notifications/message (SEP-2575)."""
    await ctx.info("test_logging_tool ran")
    return "Logged"


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
    answer = await ctx.session.send_request(
        request, ElicitResult, metadata=ServerMessageMetadata(related_request_id=ctx.request_id)
    )
    return f"Elicitation completed: action={answer.action}, content={answer.content}"


async def test_reconnection(ctx: Context) -> str:
    """Closes its own SSE stream mid-call; the answer reaches the client when it resumes (SEP-1699).

    Mid-call, not at once: mcp 2.3.0's `close_sse_stream` closes the stream's writer even if the
    priming event (the client's resumption cursor) has not been written yet, and a client that got
    no cursor cannot resume. The kit's own tools never close their streams.
    """
    await anyio.sleep(0.1)
    await ctx.close_sse_stream()
    await anyio.sleep(0.1)  # the answer is written after the stream is gone, so it must be replayed
    return "Reconnection test completed successfully"


def elicit_form(message: str, field: str, field_type: str = "string") -> ElicitRequest:
    schema = {"type": "object", "properties": {field: {"type": field_type}}, "required": [field]}
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def accepted_field(ctx: Context, key: str, field: str) -> Any:
    """The `field` of an accepted answer to the question `key`, or None (not answered, declined, malformed)."""
    answer = (ctx.input_responses or {}).get(key)
    if isinstance(answer, ElicitResult) and answer.action == "accept" and answer.content:
        return answer.content.get(field)
    return None


def test_input_required_result_elicitation(ctx: Context) -> list[TextContent] | InputRequiredResult:
    """Asks for the caller's name under the input key the suite names, `user_name` (SEP-2322 basic flow).

    Hand-rolled, not a resolver: the SDK keys a resolver's question by the resolver's
    `module:qualname`, and the scenario asserts `inputRequests.user_name`. A retry whose answer is
    missing or under another key is asked again; unknown extra keys are ignored.
    """
    name = accepted_field(ctx, "user_name", "name")
    if isinstance(name, str) and name:
        return [TextContent(type="text", text=f"Hello, {name}!")]
    return InputRequiredResult(input_requests={"user_name": elicit_form("What is your name?", "name")})


# ---------------------------------------------------------------- server-stateless diagnostic hooks
def test_added_tool() -> str:
    """Appears and disappears with test_trigger_tool_change."""
    return "added"


def test_added_prompt() -> str:
    """Appears and disappears with test_trigger_prompt_change."""
    return "This prompt was added at run time."


def list_changers(server: MCPServer[Any]) -> list[Any]:
    """The hooks `server-stateless` calls to mutate the tool and prompt lists (SEP-2575 list-changed)."""
    added: set[str] = set()

    async def test_trigger_tool_change(ctx: Context) -> str:
        """Adds or removes `test_added_tool`, then tells subscription streams the tool list changed."""
        if "tool" in added:
            server.remove_tool("test_added_tool")
            added.discard("tool")
        else:
            server.add_tool(test_added_tool, structured_output=False)
            added.add("tool")
        await ctx.notify_tools_changed()
        return "tool list changed"

    async def test_trigger_prompt_change(ctx: Context) -> str:
        """Adds or removes `test_added_prompt`, then tells subscription streams the prompt list changed."""
        if "prompt" in added:
            server.remove_prompt("test_added_prompt")
            added.discard("prompt")
        else:
            server.add_prompt(Prompt.from_function(test_added_prompt, name="test_added_prompt"))
            added.add("prompt")
        await ctx.notify_prompts_changed()
        return "prompt list changed"

    return [test_trigger_tool_change, test_trigger_prompt_change]


JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def json_schema_tool() -> Tool:
    """The SEP-1613/SEP-2106 tool: its input schema is served verbatim, 2020-12 keywords and all."""

    async def fn(**arguments: Any) -> str:
        return f"received {sorted(arguments)}"

    plain = Tool.from_function(lambda: None, name="json_schema_2020_12_tool")
    return plain.model_copy(
        update={"fn": fn, "description": "Tool with JSON Schema 2020-12 features", "parameters": JSON_SCHEMA_2020_12}
    )


# ---------------------------------------------------------------- resources, prompts, completion
def register_resources(server: MCPServer[Any]) -> None:
    @server.resource("test://static-text", name="static-text", mime_type="text/plain")
    def static_text() -> str:
        """A static text resource."""
        return "This is the content of the static text resource."

    @server.resource("test://static-binary", name="static-binary", mime_type="image/png")
    def static_binary() -> bytes:
        """A static binary resource (a PNG)."""
        return PNG_BYTES

    @server.resource("test://template/{id}/data", name="template-data", mime_type="application/json")
    def template_data(id: str) -> str:
        """A resource template: the id is substituted into the content."""
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"}, separators=(",", ":"))

    @server.resource("test://watched-resource", name="watched-resource", mime_type="text/plain")
    def watched_resource() -> str:
        """A resource clients may subscribe to."""
        return "Watched resource content"


def register_prompts(server: MCPServer[Any]) -> None:
    @server.prompt(name="test_simple_prompt", description="A simple prompt without arguments")
    def simple() -> list[Message]:
        return [UserMessage(TextContent(type="text", text="This is a simple prompt for testing."))]

    @server.prompt(name="test_prompt_with_arguments", description="A prompt with two required arguments")
    def with_arguments(
        arg1: Annotated[str, Field(description="First test argument")],
        arg2: Annotated[str, Field(description="Second test argument")],
    ) -> list[Message]:
        return [UserMessage(TextContent(type="text", text=f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"))]

    @server.prompt(name="test_prompt_with_embedded_resource", description="A prompt embedding a resource")
    def with_embedded_resource(
        resourceUri: Annotated[str, Field(description="URI of the resource to embed")],  # the suite's argument name
    ) -> list[Message]:
        resource = TextResourceContents(
            uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
        )
        return [
            UserMessage(EmbeddedResource(type="resource", resource=resource)),
            UserMessage(TextContent(type="text", text="Please process the embedded resource above.")),
        ]

    @server.prompt(name="test_prompt_with_image", description="A prompt with an image")
    def with_image() -> list[Message]:
        return [
            UserMessage(ImageContent(type="image", data=PNG, mime_type="image/png")),
            UserMessage(TextContent(type="text", text="Please analyze the image above.")),
        ]

    @server.prompt(name="test_input_required_result_prompt", description="A prompt that first asks for context")
    def input_required_prompt(ctx: Context) -> list[Message] | InputRequiredResult:
        # SEP-2322 on prompts/get: the first round asks, the retry renders with the answer.
        context = accepted_field(ctx, "user_context", "context")
        if isinstance(context, str):
            return [UserMessage(TextContent(type="text", text=f"Prompt with context: {context}"))]
        question = elicit_form("What context should the prompt use?", "context")
        return InputRequiredResult(input_requests={"user_context": question})


COMPLETIONS = {"arg1": ["paris", "park", "party"], "arg2": ["one", "two", "three"]}


def register_completion(server: MCPServer[Any]) -> None:
    @server.completion()
    async def complete(
        ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, context: Any
    ) -> Completion:
        candidates = COMPLETIONS.get(argument.name, []) if isinstance(ref, PromptReference) else []
        values = [value for value in candidates if value.startswith(argument.value)]
        return Completion(values=values, total=len(values), has_more=False)


# ---------------------------------------------------------------- 2025-era methods the SDK leaves to the application
def register_legacy_methods(server: MCPServer[Any]) -> None:
    """logging/setLevel and resources/(un)subscribe: handshake-era methods (removed in 2026-07-28)."""
    subscriptions: dict[str, set[int]] = {}

    async def set_level(ctx: Any, params: SetLevelRequestParams) -> dict[str, Any]:
        # MCPServer does not declare the (deprecated) logging capability by itself.
        return {}

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> dict[str, Any]:
        subscriptions.setdefault(str(params.uri), set()).add(id(ctx.session))
        return {}

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> dict[str, Any]:
        subscriptions.get(str(params.uri), set()).discard(id(ctx.session))
        return {}

    lowlevel = server._lowlevel_server  # fixture-only reach into the SDK
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)


def register_plain(server: MCPServer[Any]) -> None:
    """Everything the suite needs beyond the engine tools, as plain SDK registrations."""
    for fn in (
        test_image_content,
        test_audio_content,
        test_embedded_resource,
        test_multiple_content_types,
        test_tool_with_logging,
        test_logging_tool,
        test_elicitation_sep1330_enums,
        test_reconnection,
        test_input_required_result_elicitation,
        *list_changers(server),
    ):
        server.add_tool(fn, structured_output=False)
    # Fixture-only reach into the SDK: a tool whose schema is hand-written.
    server._tool_manager._tools["json_schema_2020_12_tool"] = json_schema_tool()
    register_resources(server)
    register_prompts(server)
    register_completion(server)
    register_legacy_methods(server)


def main() -> None:
    port, data = int(sys.argv[1]), Path(sys.argv[2])
    settings = load_settings(
        {
            "TASK_SQLITE_PATH": str(data / "tasks.sqlite3"),
            "RESULT_SINK": "none",
            "DATASET_ROOT": str(data),
            "MCP_HOST": "127.0.0.1",
            "MCP_PORT": str(port),
            # The suite sends no caller context: its requests are this local actor's.
            "LOCAL_ACTOR_ID": "conformance",
            "TASK_POLL_INTERVAL_MS": "200",
            # The whole suite is one actor starting hundreds of tasks within minutes.
            "QUOTA_TASKS_PER_MINUTE": "10000",
            "QUOTA_RUNNING_TASKS": "1000",
        }
    )
    # Exactly the suite's fixtures: no plain task tools, no handoff tool.
    assembled = build(settings, [*SPECS, *TASK_SPECS], plain_tools=False, handoff_tools=False)
    register_plain(assembled.server)
    uvicorn.run(assembled.app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
