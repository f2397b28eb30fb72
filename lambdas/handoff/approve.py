"""Approve or reject a handoff waiting for a human.

    python -m handoff.approve --table <IdempotencyTableName> --key <idempotency key> --approve
    python -m handoff.approve --table <IdempotencyTableName> --key <idempotency key> --reject --reason "no budget"

Run from `lambdas/` with your own AWS credentials: they name you (sts:GetCallerIdentity), and
they must allow dynamodb:GetItem on the idempotency table and states:SendTaskSuccess /
states:SendTaskFailure. The command shows the request and asks before sending (--yes does not
ask). Approving your own request is refused unless the environment sets approval_allow_self:
see docs/handoff.md for what is compared and what that check cannot stop.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from handoff import claims

REJECTED = "Rejected"  # the error name the workflow's approval state catches
MAX_CAUSE = 32_768  # SendTaskFailure's limit on `cause`


class SelfApprovalRefused(PermissionError):
    """The approver is the actor who requested the handoff, and the environment does not allow it."""


@dataclass(frozen=True)
class Approver:
    arn: str
    # The last segment of the ARN: an IAM user's name, an assumed role's session name, a
    # federated user's name ("root" for the account's root user).
    name: str

    @classmethod
    def from_arn(cls, arn: str) -> Approver:
        return cls(arn=arn, name=arn.rsplit("/", 1)[-1] if "/" in arn else arn.rsplit(":", 1)[-1])


@dataclass(frozen=True)
class Pending:
    """A handoff waiting for a decision, as the approval step stored it on the claim."""

    key: str
    kind: str
    summary: str
    actor_id: str
    requested_at: str
    allow_self: bool
    token: str = field(repr=False)


def approver(session: boto3.Session) -> Approver:
    return Approver.from_arn(session.client("sts").get_caller_identity()["Arn"])


def pending(session: boto3.Session, *, table: str, key: str) -> Pending:
    item = (
        session.resource("dynamodb")
        .Table(table)
        .get_item(Key={"id": claims.claim_key(key)}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        raise LookupError(f"no handoff with idempotency key {key!r} in table {table}")
    state = item.get(claims.STATE)  # claims written before states existed have none
    if not item.get(claims.APPROVAL_TOKEN) or state not in (None, claims.AWAITING_APPROVAL):
        raise LookupError(f"handoff {key!r} is not waiting for approval (its claim is {state or 'not waiting'})")
    return Pending(
        key=key,
        kind=str(item.get(claims.KIND, "?")),
        summary=str(item.get(claims.SUMMARY, "?")),
        actor_id=str(item.get(claims.ACTOR_ID, "")),
        requested_at=str(item.get(claims.REQUESTED_AT, "?")),
        allow_self=item.get(claims.APPROVAL_ALLOW_SELF) is True,
        token=str(item[claims.APPROVAL_TOKEN]),
    )


def is_requester(who: Approver, actor_id: str) -> bool:
    return bool(actor_id) and who.name.casefold() == actor_id.casefold()


def check_not_self(who: Approver, request: Pending, *, approve: bool) -> None:
    # Rejecting (withdrawing) one's own request runs nothing, so only approving is refused.
    if approve and not request.allow_self and is_requester(who, request.actor_id):
        raise SelfApprovalRefused(
            f"{who.arn} is the requester (requested by {request.actor_id}): this environment does not "
            "allow approving one's own handoff; ask another approver"
        )


def send(session: boto3.Session, who: Approver, request: Pending, *, approve: bool, reason: str) -> str:
    sfn = session.client("stepfunctions")
    if approve:
        output = {"approved": True, "by": who.arn, "reason": reason}
        sfn.send_task_success(taskToken=request.token, output=json.dumps(output))
        return "approved"
    cause = f"rejected by {who.arn}: {reason}"[:MAX_CAUSE]
    sfn.send_task_failure(taskToken=request.token, error=REJECTED, cause=cause)
    return "rejected"


def decide(
    *,
    table: str,
    key: str,
    approve: bool,
    reason: str = "",
    region: str | None = None,
    session: boto3.Session | None = None,
) -> str:
    """Decide without asking (scripts, tests): who you are, the self-approval check, then send."""
    session = session or boto3.Session(region_name=region)
    who = approver(session)
    request = pending(session, table=table, key=key)
    check_not_self(who, request, approve=approve)
    return send(session, who, request, approve=approve, reason=reason)


def show(request: Pending, who: Approver) -> str:
    rows = (
        ("kind", request.kind),
        ("summary", request.summary),
        ("requested by", request.actor_id),
        ("requested at", request.requested_at),
        ("idempotency key", request.key),
        ("you are", who.arn),
    )
    # Stored values came from an event: no control characters reach the terminal.
    return "\n".join(
        f"{f'{label}:':<16} {''.join(c if c.isprintable() else '?' for c in value)}" for label, value in rows
    )


def confirmed(question: str) -> bool:
    print(f"{question} [y/N] ", end="", flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, help="the stack output IdempotencyTableName")
    parser.add_argument("--key", required=True, help="the handoff's idempotency key (64 hex characters)")
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--approve", action="store_true")
    choice.add_argument("--reject", action="store_true")
    parser.add_argument("--reason", default="", help="why (required to reject; recorded with the decision)")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation (scripts)")
    parser.add_argument("--region", help="the workflow's region (default: AWS_REGION, then your AWS config)")
    args = parser.parse_args(argv)
    if args.reject and not args.reason:
        parser.error("--reason is required with --reject")
    try:
        region = args.region or os.environ.get("AWS_REGION") or boto3.Session().region_name
        if not region:
            print("error: no AWS region: pass --region or set AWS_REGION", file=sys.stderr)
            return 2
        session = boto3.Session(region_name=region)
        who = approver(session)
        request = pending(session, table=args.table, key=args.key)
        check_not_self(who, request, approve=args.approve)
        print(show(request, who))
        if not args.yes and not confirmed("Approve?" if args.approve else "Reject?"):
            print("nothing sent")
            return 1
        print(send(session, who, request, approve=args.approve, reason=args.reason))
    except (LookupError, SelfApprovalRefused, BotoCoreError, ClientError) as exc:
        # No credentials, access denied, a token that expired meanwhile: said in one line.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
