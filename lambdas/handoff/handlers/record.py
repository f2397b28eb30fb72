"""Write the workflow's outcome into AgentCore Memory for the requesting actor and session."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from handoff import memory
from handoff.observability import logger, metrics, tracer


class _Ref(BaseModel):
    kind: str
    idempotency_key: str
    actor_id: str
    session_id: str
    summary: str = "the request"


class RecordInput(BaseModel):
    outcome: Literal["completed", "failed", "rejected", "invalid"]
    detail: dict[str, Any]


# The approver's identity as `handoff.approve` sends it (their STS caller identity).
APPROVER_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z0-9+=,.@_/-]{1,512}$")


def describe(outcome: str, detail: dict[str, Any], summary: str) -> str:
    if outcome == "completed":
        result = json.dumps(detail.get("execution", {}).get("result", {}))
        return f"completed: {summary}. Result: {result}{_approved_by(detail.get('approval'))}"
    error = detail.get("error") or {}
    cause = _cause(error)
    if outcome == "invalid":
        return f"was refused, nothing was done: {cause}"
    if outcome == "rejected":
        return f"was not approved, nothing was done: {summary}. {cause}".strip()
    compensation = detail.get("compensation")
    undone = f" Compensation: {json.dumps(compensation.get('result', compensation))}." if compensation else ""
    return f"failed: {summary}. Error: {cause}.{undone}"


def _approved_by(approval: Any) -> str:
    # Whoever held the task token wrote this output: only an ARN reaches the actor's memory.
    by = approval.get("by") if isinstance(approval, dict) else None
    return f" Approved by {by}." if isinstance(by, str) and APPROVER_ARN.match(by) else ""


def _cause(error: dict[str, Any]) -> str:
    cause = error.get("Cause") or error.get("Error") or ""
    try:  # Lambda errors arrive as a JSON string with errorMessage
        return str(json.loads(cause).get("errorMessage", cause))
    except (ValueError, AttributeError):
        return str(cause)


def record(event: dict[str, Any]) -> str:
    parsed = RecordInput.model_validate(event)
    ref = _Ref.model_validate(parsed.detail)
    return memory.record(
        kind=ref.kind,
        idempotency_key=ref.idempotency_key,
        actor_id=ref.actor_id,
        session_id=ref.session_id,
        outcome=parsed.outcome,
        text=describe(parsed.outcome, parsed.detail, ref.summary),
    )


@logger.inject_lambda_context(log_event=False)  # never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"recorded": record(event)}
