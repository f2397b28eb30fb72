"""Approve or reject a handoff waiting for a human.

    python -m handoff.approve --table <IdempotencyTableName> --key <idempotency key> --approve --by alice
    python -m handoff.approve --table <IdempotencyTableName> --key <idempotency key> --reject --reason "no budget"

Run from `lambdas/` with AWS credentials allowed to read the idempotency table and call
states:SendTaskSuccess/SendTaskFailure.
"""

from __future__ import annotations

import argparse
import json
import sys

import boto3

from handoff.claims import claim_key

REJECTED = "Rejected"  # the error name the workflow's approval state catches


def decide(*, table: str, key: str, approve: bool, by: str, reason: str, region: str | None = None) -> str:
    item = boto3.resource("dynamodb", region_name=region).Table(table).get_item(Key={"id": claim_key(key)}).get("Item")
    if item is None:
        raise LookupError(f"no handoff with idempotency key {key!r} in table {table}")
    token = item.get("approval_token")
    if not token:
        raise LookupError(f"handoff {key!r} is not waiting for approval")
    sfn = boto3.client("stepfunctions", region_name=region)
    if approve:
        sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True, "by": by, "reason": reason}))
        return "approved"
    sfn.send_task_failure(taskToken=token, error=REJECTED, cause=f"rejected by {by}: {reason}"[:32_000])
    return "rejected"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, help="the stack output IdempotencyTableName")
    parser.add_argument("--key", required=True, help="the handoff's idempotency key (64 hex characters)")
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--approve", action="store_true")
    choice.add_argument("--reject", action="store_true")
    parser.add_argument("--by", required=True, help="who decides (recorded with the outcome)")
    parser.add_argument("--reason", default="", help="why (required to reject)")
    parser.add_argument("--region")
    args = parser.parse_args(argv)
    if args.reject and not args.reason:
        parser.error("--reason is required with --reject")
    try:
        print(
            decide(
                table=args.table,
                key=args.key,
                approve=args.approve,
                by=args.by,
                reason=args.reason,
                region=args.region,
            )
        )
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
