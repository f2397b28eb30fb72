"""What the caller receives: small JSON events, and errors as sentences instead of stack traces.

Event shapes (one JSON object per server-sent event):
  {"type": "text", "text": ...}                         a chunk of the answer
  {"type": "tool_start", "tool": ..., "tool_use_id": ...}
  {"type": "tool_end", "tool": ..., "tool_use_id": ..., "status": "success"|"error", "error"?: ...}
  {"type": "task", "task_id": ..., "tool": ..., "status": ..., "status_message"?, "progress"?, "total"?}
                                                         a task's state: live while the model waits for a
                                                         durable tool (before its tool_end), or from a
                                                         start_*/check_task_status result
  {"type": "warning", "message": ...}
  {"type": "error", "error": ...}                        the request could not be answered
  {"type": "done", "session_id": ..., "actor_id": ...}
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

TASK_FIELDS = ("task_id", "tool", "status", "status_message", "progress", "total")
# The key of a task state relayed in a Strands tool stream event's data (agent.task_progress).
TASK_UPDATE = "kit_task_update"


def error(message: str) -> dict[str, Any]:
    return {"type": "error", "error": message}


def task_event(status: dict[str, Any]) -> dict[str, Any]:
    event = {"type": "task", **{k: status[k] for k in TASK_FIELDS if status.get(k) is not None}}
    return event


def _tool_result_status(block: dict[str, Any]) -> dict[str, Any] | None:
    """The task status a start_*/check_task_status result carries, if any."""
    for content in block.get("content", []):
        candidate: Any = content.get("json")
        if candidate is None and "text" in content:
            try:
                candidate = json.loads(content["text"])
            except ValueError:
                continue
        if isinstance(candidate, dict) and isinstance(candidate.get("task_id"), str) and "status" in candidate:
            return candidate
    return None


def from_strands(event: dict[str, Any], tool_names: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Caller events for one Strands stream event; `tool_names` maps tool-use ids to names."""
    if "data" in event and isinstance(event["data"], str) and event["data"]:
        yield {"type": "text", "text": event["data"]}
        return
    relayed = event.get("tool_stream_event")
    if isinstance(relayed, dict):  # a durable tool's task, while the model waits for it (agent.task_progress)
        data = relayed.get("data")
        if isinstance(data, dict) and isinstance(data.get(TASK_UPDATE), dict):
            yield task_event(data[TASK_UPDATE])
        return
    message = event.get("message")
    if not isinstance(message, dict):
        return
    for block in message.get("content", []):
        if "toolUse" in block:
            use = block["toolUse"]
            tool_names[use["toolUseId"]] = use["name"]
            yield {"type": "tool_start", "tool": use["name"], "tool_use_id": use["toolUseId"]}
        elif "toolResult" in block:
            result = block["toolResult"]
            name = tool_names.get(result["toolUseId"], "?")
            end: dict[str, Any] = {
                "type": "tool_end",
                "tool": name,
                "tool_use_id": result["toolUseId"],
                "status": result.get("status", "success"),
            }
            if end["status"] == "error":
                end["error"] = " ".join(c["text"] for c in result.get("content", []) if "text" in c)[:2000]
            yield end
            status = _tool_result_status(result)
            if status is not None:
                yield task_event(status)


def describe_failure(exc: BaseException, model_id: str | None) -> str:
    """One clear sentence for an exception from the model, memory or MCP server."""
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError, PartialCredentialsError

    # Strands wraps a model failure in EventLoopException; the cause is what the user can act on.
    while type(exc).__name__ == "EventLoopException" and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no AWS credentials: the agent needs credentials allowed to call bedrock:InvokeModel"
            f" on {model_id or 'the configured model'} (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and"
            " AWS_SECRET_ACCESS_KEY, and AWS_REGION)"
        )
    if isinstance(exc, NoRegionError):
        return "no AWS region: set AWS_REGION to the region of the model and the memory"
    if isinstance(exc, ClientError):
        info = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "an AWS call")
        return f"{operation} failed with {info.get('Code', 'an error')}: {info.get('Message', str(exc))}"
    name = type(exc).__name__
    text = str(exc) or "no details"
    if name == "ModelThrottledException":
        return f"the model {model_id} is throttled; try again shortly ({text})"
    if name == "ContextWindowOverflowException":
        return "the conversation no longer fits the model's context window; start a new conversation"
    if name == "MCPClientInitializationError":
        return f"the MCP server could not be reached: {text}"
    return f"the agent failed ({name}): {text}"
