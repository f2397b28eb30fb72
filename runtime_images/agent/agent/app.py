"""BedrockAgentCoreApp entry point: `/invocations` (streamed server-sent events) and `/ping`.

Request body: {"prompt": "..."} to talk to the agent, or
{"action": "task_status", "task_ids": [...]} for the status and progress of tasks (no model call).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp, RequestContext

from agent import events, warmup
from agent.limits import BodyLimit
from agent.runner import InvocationError, parse_invocation, run
from agent.settings import SettingsError, load_settings


@asynccontextmanager
async def lifespan(app: BedrockAgentCoreApp) -> AsyncIterator[None]:
    # Started as the server starts listening: /ping is served meanwhile, the first prompt waits for it.
    warmup.start()
    yield


app = BedrockAgentCoreApp(lifespan=lifespan)
# Read per request, like the rest of the settings: the limit follows the runtime's environment.
app.add_middleware(BodyLimit, max_bytes=lambda: load_settings().max_request_bytes)


def request_headers(context: RequestContext) -> dict[str, str]:
    # The raw request holds the runtime's own headers (user id) that the SDK's
    # forwardable-header filter drops from context.request_headers.
    if context.request is not None:
        return dict(context.request.headers)
    return dict(context.request_headers or {})


@app.entrypoint
async def invoke(payload: Any, context: RequestContext) -> AsyncIterator[dict[str, Any]]:
    try:
        invocation = parse_invocation(payload)
        settings = load_settings()
    except (InvocationError, SettingsError) as exc:
        yield events.error(str(exc))
        return
    await warmup.finished()
    async for event in run(
        invocation, settings=settings, session_id=context.session_id, headers=request_headers(context)
    ):
        yield event
