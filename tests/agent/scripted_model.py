"""A Strands model whose turns the test fixes: it yields the same stream events Bedrock does.

Each turn is a function of what the model is shown (messages and system prompt), so a test can
answer with a tool call built from an earlier tool result and assert on what reached the model.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Any

from strands.models import Model
from strands.types.content import Messages
from strands.types.streaming import StreamEvent


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]


@dataclass
class Seen:
    messages: Messages
    system_prompt: str | None
    tool_names: list[str]


Turn = Callable[[Seen], Text | ToolUse]


@dataclass
class ScriptedModel(Model):
    turns: list[Turn]
    seen: list[Seen] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def update_config(self, **model_config: Any) -> None:
        return None

    def get_config(self) -> dict[str, Any]:
        return {"model_id": "scripted"}

    def structured_output(
        self, output_model: Any, prompt: Messages, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[Any, None]:
        raise TypeError("the scripted model produces no structured output")

    async def stream(
        self, messages: Messages, tool_specs: Any = None, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncIterable[StreamEvent]:
        seen = Seen(json.loads(json.dumps(messages, default=str)), system_prompt, [t["name"] for t in tool_specs or []])
        self.seen.append(seen)
        if len(self.seen) > len(self.turns):
            raise AssertionError(f"the model was called {len(self.seen)} times; the script has {len(self.turns)} turns")
        turn = self.turns[len(self.seen) - 1](seen)
        yield {"messageStart": {"role": "assistant"}}
        if isinstance(turn, ToolUse):
            use_id = f"tooluse-{next(self._ids)}-{turn.name}"
            yield {"contentBlockStart": {"start": {"toolUse": {"toolUseId": use_id, "name": turn.name}}}}
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(turn.input)}}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
        else:
            yield {"contentBlockDelta": {"delta": {"text": turn.text}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "end_turn"}}


def last_tool_result(seen: Seen) -> dict[str, Any]:
    """The JSON (or text) of the newest tool result the model was shown."""
    for message in reversed(seen.messages):
        for block in message["content"]:
            if "toolResult" in block:
                content = block["toolResult"]["content"]
                for item in content:
                    if "json" in item:
                        return dict(item["json"])
                text = "".join(item.get("text", "") for item in content)
                try:
                    return dict(json.loads(text))
                except ValueError:
                    return {"text": text, "status": block["toolResult"]["status"]}
    raise AssertionError("no tool result in the conversation")
