"""Validate the handoff detail and its kind-specific request; return the normalised detail."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from handoff.contract import HandoffDetail, ValidationFailed
from handoff.observability import logger, metrics, tracer
from handoff.steps import step_for
from kit_contracts.errors import problems


def validate(event: dict[str, Any]) -> dict[str, Any]:
    try:
        detail = HandoffDetail.model_validate(event)
        step = step_for(detail.kind)
        request = step.request_model.model_validate(detail.request)
    except (ValidationError, LookupError) as exc:
        raise ValidationFailed(_describe(exc)) from None
    return {
        **detail.model_dump(mode="json"),
        "request": request.model_dump(mode="json"),
        "summary": step.describe(request),
    }


def _describe(exc: Exception) -> str:
    # With the values: the refusal is recorded for the requester, whose request they are.
    if isinstance(exc, ValidationError):
        return problems(exc, whole="(detail)", show_input=True)
    return str(exc)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return validate(event)
