"""Park the workflow for a human: keep the task token with the claim and tell the user.

The task token is the approval itself: whoever holds it can approve. It is stored on the claim
and nowhere else this function controls: the event is never logged (log_event=False overrides
POWERTOOLS_LOGGER_LOG_EVENT), the tracer records neither the response nor an error, and an
error leaves this function with the token redacted from its message and no chained cause.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff import claims, memory
from handoff.observability import logger, metrics, tracer
from handoff.settings import settings


class ApprovalNotRequested(Exception):
    """The claim could not be updated or the user not told; the message never holds the token."""


def request_approval(task_token: str, detail: dict[str, Any], execution: str) -> None:
    table = boto3.resource("dynamodb", region_name=settings().region).Table(settings().idempotency_table)
    now = datetime.now(UTC).isoformat()
    # The token, what the approver is shown, and the requester the approve command compares
    # them with; names through placeholders, as some are DynamoDB reserved words.
    stored = {
        claims.STATE: claims.AWAITING_APPROVAL,
        claims.STATE_CHANGED_AT: now,
        claims.APPROVAL_TOKEN: task_token,
        claims.APPROVAL_REQUESTED_AT: now,
        claims.APPROVAL_ALLOW_SELF: settings().approval_allow_self,
        claims.ACTOR_ID: detail["actor_id"],
        claims.SUMMARY: detail["summary"],
        claims.REQUESTED_AT: detail["requested_at"],
    }
    # Only while this execution holds the claim and nothing has moved it on (a retried call may
    # find it awaiting already): a call that outlives its task, after the workflow released the
    # claim, must not park it again with a token nobody can use.
    table.update_item(
        Key={"id": claims.claim_key(detail["idempotency_key"])},
        UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in stored),
        ConditionExpression="#execution = :execution AND #state IN (:claimed, :awaiting_approval)",
        ExpressionAttributeNames={f"#{name}": name for name in (*stored, claims.EXECUTION)},
        ExpressionAttributeValues={
            **{f":{name}": value for name, value in stored.items()},
            ":execution": execution,
            ":claimed": claims.CLAIMED,
            ":awaiting_approval": claims.AWAITING_APPROVAL,
        },
    )
    memory.record(
        kind=detail["kind"],
        idempotency_key=detail["idempotency_key"],
        actor_id=detail["actor_id"],
        session_id=detail["session_id"],
        outcome="awaiting_approval",
        text=f"is waiting for approval: {detail['summary']}.",
        execution=execution,
    )
    logger.info("approval requested", extra={"idempotency_key": detail["idempotency_key"]})


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    token = str(event["task_token"])
    try:
        request_approval(token, event["detail"], str(event["execution"]))
    except Exception as exc:
        # The Lambda runtime logs an uncaught error's message and traceback, and Step Functions
        # keeps it as the task's cause.
        message = f"{type(exc).__name__}: {exc}".replace(token, "<task token>")
        raise ApprovalNotRequested(message) from None
    return {}
