"""Write the workflow's outcome into AgentCore Memory for the requesting actor and session.

Every way an execution ends, except `Duplicate`, passes here. What the user is told follows
from whether the step may have started: `not_checked` (Validate crashed: nothing ran, and the
text repeats nothing the event said), `not_run` (nothing ran; safe to run again), `failed`
(the step failed and was undone), `unknown` (the step may still complete; not undone, an
operator checks), `compensation_failed` (undoing failed; an operator checks). The table in
docs/handoff.md lists each failure with what it tells the user.
"""

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


Outcome = Literal[
    "completed", "failed", "rejected", "invalid", "not_checked", "not_run", "unknown", "compensation_failed"
]


class RecordInput(BaseModel):
    outcome: Outcome
    detail: dict[str, Any]
    execution: str  # $$.Execution.Id: one event per execution and outcome, however often retried


# The approver's identity as `handoff.approve` sends it (their STS caller identity).
APPROVER_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z0-9+=,.@_/-]{1,512}$")
# Only a key of this shape is repeated in full (before Validate it is whatever the event said).
KEY = re.compile(r"^[a-f0-9]{64}$")


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
    # Only the error's name: its message may hold what the event said (before Validate) or
    # internals; the operator reads both in the execution's history.
    name = _name(error)
    if outcome == "not_checked":  # like `invalid`: neither its summary nor its key were checked
        return f"could not be checked, nothing was done ({name}). Nothing ran, so it is safe to run again."
    key = _key(detail)
    if outcome == "not_run":
        return (
            f"was not carried out, nothing was done: {summary}. It stopped before the step began ({name}). "
            f"Nothing ran, so it is safe to run again: an operator can re-run it{key}."
        )
    if outcome == "unknown":
        return (
            f"may or may not have been carried out: {summary}. The step did not report back in time ({name}) "
            "and was not undone, because it may still complete. An operator must check it before anything "
            f"else is done{key}."
        )
    compensation = detail.get("compensation")
    if outcome == "compensation_failed":
        return (
            f"failed and could not be undone: {summary}. Error: {cause}. Undoing it failed too "
            f"({_name(compensation or {})}). An operator must check what is left in place{key}."
        )
    undone = f" Compensation: {json.dumps(compensation.get('result', compensation))}." if compensation else ""
    return f"failed: {summary}. Error: {cause}.{undone}"


def _approved_by(approval: Any) -> str:
    # Whoever held the task token wrote this output: only an ARN reaches the actor's memory.
    by = approval.get("by") if isinstance(approval, dict) else None
    return f" Approved by {by}." if isinstance(by, str) and APPROVER_ARN.match(by) else ""


def _name(error: Any) -> str:
    name = error.get("Error") if isinstance(error, dict) else None
    return name if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_.]{1,128}", name) else "an error"


def _key(detail: dict[str, Any]) -> str:
    key = detail.get("idempotency_key")
    return f" (idempotency key {key})" if isinstance(key, str) and KEY.match(key) else ""


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
        execution=parsed.execution,
    )


@logger.inject_lambda_context(log_event=False)  # never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"recorded": record(event)}
