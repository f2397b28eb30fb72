"""Undo what a failed step may have done; safe after a partial execute and safe to repeat."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.observability import logger, metrics, tracer
from handoff.steps import step_for


def compensate(detail: dict[str, Any]) -> dict[str, Any]:
    step = step_for(detail["kind"])
    result = step.compensate(detail["idempotency_key"], step.request_model.model_validate(detail["request"]))
    logger.info("step compensated", extra={"kind": detail["kind"], "result": result})
    return result


@logger.inject_lambda_context(log_event=False)  # never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return compensate(event["detail"])
