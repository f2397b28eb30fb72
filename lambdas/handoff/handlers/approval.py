"""Park the workflow for a human: keep the task token with the claim and tell the user."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff import memory
from handoff.claims import claim_key
from handoff.observability import logger, metrics, tracer
from handoff.settings import settings


def request_approval(task_token: str, detail: dict[str, Any]) -> None:
    table = boto3.resource("dynamodb", region_name=settings().region).Table(settings().idempotency_table)
    table.update_item(
        Key={"id": claim_key(detail["idempotency_key"])},
        UpdateExpression="SET approval_token = :token, approval_requested_at = :now",
        ConditionExpression="attribute_exists(id)",
        ExpressionAttributeValues={":token": task_token, ":now": datetime.now(UTC).isoformat()},
    )
    memory.record(
        kind=detail["kind"],
        idempotency_key=detail["idempotency_key"],
        actor_id=detail["actor_id"],
        session_id=detail["session_id"],
        outcome="awaiting_approval",
        text=f"is waiting for approval: {detail['summary']}.",
    )
    logger.info("approval requested", extra={"idempotency_key": detail["idempotency_key"]})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_approval(event["task_token"], event["detail"])
    return {}
