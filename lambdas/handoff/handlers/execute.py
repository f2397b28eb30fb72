"""Run the irreversible step once per idempotency key.

A step that raises is reported as `StepFailed` (the workflow compensates it). Everything else
that can leave this function keeps its own name, because after it the step may still complete:
`IdempotencyAlreadyInProgressError` (an earlier call with this key is running), a Lambda
timeout, an idempotency store error. The workflow retries those and never compensates them.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.contract import StepFailed
from handoff.observability import IDEMPOTENCY_CONFIG, logger, metrics, persistence_layer, tracer
from handoff.steps import step_for


def run_step(detail: dict[str, Any]) -> dict[str, Any]:
    step = step_for(detail["kind"])
    try:
        result = step.execute(detail["idempotency_key"], step.request_model.model_validate(detail["request"]))
    except Exception as exc:
        # Raised inside the idempotent function, so Powertools deletes its INPROGRESS record
        # first: the step has ended, and a later call may run it again.
        raise StepFailed(f"{type(exc).__name__}: {exc}") from exc
    metrics.add_metric(name="HandoffStepExecuted", unit=MetricUnit.Count, value=1)
    logger.info("step executed", extra={"kind": detail["kind"], "idempotency_key": detail["idempotency_key"]})
    return result


@logger.inject_lambda_context(log_event=False)  # never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    IDEMPOTENCY_CONFIG.register_lambda_context(context)
    return _run_once(detail=event)


def _run_once(detail: dict[str, Any]) -> dict[str, Any]:
    # Decorated lazily: the persistence layer reads its table name from the environment.
    once = idempotent_function(
        data_keyword_argument="detail", persistence_store=persistence_layer(), config=IDEMPOTENCY_CONFIG
    )(run_step)
    return once(detail=detail)
