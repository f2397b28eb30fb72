"""Re-deliver handoff requests that EventBridge parked in the dead-letter queue.

    python -m handoff.redrive --queue-url <DeadLetters URL> --state-machine-arn <Workflow ARN> [--dry-run]

Each message body is the original event; its `detail` becomes a new execution's input.
Redriving is safe to repeat: the workflow claims the (verified) idempotency key before any
step, so a request whose step ran, or may have run, ends as `Duplicate`; one that failed
before its step began runs it (once). A message is deleted only after its execution started.

It starts executions (states:StartExecution) rather than putting the events back on the bus:
the bus denies PutEvents to every principal but the MCP server's role. Only messages with the
handoff event's source and detail-type are started; the workflow's Validate step still checks
each detail as it would an event's.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from kit_contracts.handoff import EVENT_DETAIL_TYPE, EVENT_SOURCE


@dataclass
class Redriven:
    started: list[str]
    skipped: list[str]


def handoff_detail(body: str) -> dict[str, Any] | None:
    """The detail of a dead-lettered handoff event; None for any other message."""
    try:
        event = json.loads(body)
        if event["source"] != EVENT_SOURCE or event["detail-type"] != EVENT_DETAIL_TYPE:
            return None
        detail = event["detail"]
    except (ValueError, KeyError, TypeError):
        return None
    return detail if isinstance(detail, dict) else None


def execution_name(detail: dict[str, Any], message_id: str) -> str:
    # Names are unique per state machine for 90 days; the message id keeps retries distinct.
    return f"redrive-{str(detail.get('idempotency_key', 'unknown'))[:32]}-{message_id[:32]}"[:80]


def redrive(*, queue_url: str, state_machine_arn: str, dry_run: bool = False, region: str | None = None) -> Redriven:
    sqs = boto3.client("sqs", region_name=region)
    sfn = boto3.client("stepfunctions", region_name=region)
    result = Redriven(started=[], skipped=[])
    seen: list[str] = []  # receipt handles to make visible again (dry run, skipped)
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if not messages:
            for handle in seen:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
            return result
        for message in messages:
            detail = handoff_detail(message["Body"])
            if detail is None:
                result.skipped.append(message["MessageId"])  # not a handoff event: leave it for a human
                seen.append(message["ReceiptHandle"])
                continue
            name = execution_name(detail, message["MessageId"])
            if dry_run:
                result.started.append(name)
                seen.append(message["ReceiptHandle"])
                continue
            sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(detail))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            result.started.append(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--state-machine-arn", required=True)
    parser.add_argument("--dry-run", action="store_true", help="list what would be started; change nothing")
    parser.add_argument("--region", help="default: the region in --state-machine-arn")
    args = parser.parse_args(argv)
    arn = args.state_machine_arn.split(":")
    region = args.region or (arn[3] if len(arn) >= 7 and arn[0] == "arn" else None)
    if not region:
        print(
            "error: no AWS region: pass --region or a full --state-machine-arn (arn:aws:states:REGION:...)",
            file=sys.stderr,
        )
        return 2
    try:
        done = redrive(
            queue_url=args.queue_url, state_machine_arn=args.state_machine_arn, dry_run=args.dry_run, region=region
        )
    except (BotoCoreError, ClientError) as exc:
        # No credentials, access denied, no such queue: said in one line (`kit redrive` says more).
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in done.started:
        print(("would start " if args.dry_run else "started ") + name)
    for message_id in done.skipped:
        print(f"left in the queue (not a handoff event): {message_id}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
