"""BedrockAgentCoreApp entry point: `/invocations` and `/ping` on one port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp, RequestContext

from agent.settings import Settings

app = BedrockAgentCoreApp()


class InvocationError(ValueError):
    """The request body is not what /invocations expects."""


def parse_prompt(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise InvocationError('body must be a JSON object like {"prompt": "..."}')
    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvocationError("field 'prompt' must be a non-empty string")
    return prompt


@app.entrypoint
async def invoke(payload: Any, context: RequestContext) -> AsyncIterator[dict[str, Any]]:
    try:
        prompt = parse_prompt(payload)
    except InvocationError as exc:
        yield {"error": str(exc)}
        return
    settings = Settings.from_env()
    if not settings.model_id:
        yield {"error": "MODEL_ID is not configured for this runtime"}
        return
    # Imported here so /ping answers before the model stack is loaded.
    from strands import Agent
    from strands.models import BedrockModel

    model = BedrockModel(model_id=settings.model_id, region_name=settings.region)
    agent = Agent(model=model, callback_handler=None)
    async for event in agent.stream_async(prompt):
        if "data" in event:
            yield {"text": event["data"]}
