"""Verify the handoff detail before anything is claimed; return the normalised detail.

The first state: the claim that follows is of a verified key. Anyone who can start the
workflow (or, without the bus policy, put an event) writes this input, so besides the shape
(HandoffDetail: actor and session ids in AgentCore Memory's patterns, a sha256 hex key) the key
must be the one the MCP server derives from the actor, kind and request: an event with another
key cannot pre-claim someone else's request, and a refusal says so.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from handoff.contract import HandoffDetail, ValidationFailed
from handoff.observability import logger, metrics, tracer
from handoff.steps import step_for
from kit_contracts.errors import describe
from kit_contracts.handoff import idempotency_key

KEY_MISMATCH = "idempotency_key: does not match actor_id, kind and request"


def validate(event: dict[str, Any]) -> dict[str, Any]:
    try:
        detail = HandoffDetail.model_validate(event)
        step = step_for(detail.kind)
        request = step.request_model.model_validate(detail.request)
    except (ValidationError, LookupError) as exc:
        raise ValidationFailed(_describe(exc)) from None
    normalised = request.model_dump(mode="json")
    # The MCP server hashes the validated request (kit_contracts.handoff.handoff_detail).
    if idempotency_key(detail.actor_id, detail.kind, normalised) != detail.idempotency_key:
        raise ValidationFailed(KEY_MISMATCH)
    return {**detail.model_dump(mode="json"), "request": normalised, "summary": step.describe(request)}


def _describe(exc: Exception) -> str:
    """The refusal in the kit's words: it is recorded in the memory of the actor the event names,
    who need not be whoever sent it, so it repeats no value and no field name the sender chose."""
    if not isinstance(exc, ValidationError):
        return str(exc)  # an unknown kind: HandoffDetail has held it to [a-z][a-z0-9_]*
    parts, unexpected = [], 0
    for problem in describe(exc):
        if problem.kind == "extra_forbidden":
            unexpected += 1
        elif problem.kind == "missing":
            parts.append(f"{problem.field} is required")
        else:
            parts.append(f"{problem.field or '(detail)'}: {problem.message}")
    if unexpected:
        parts.append(f"{unexpected} unexpected field{'s' if unexpected > 1 else ''}")
    return "; ".join(parts)


@logger.inject_lambda_context(log_event=False)  # never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return validate(event)
