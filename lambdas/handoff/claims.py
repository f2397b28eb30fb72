"""The workflow's claim on an idempotency key, kept in the idempotency table.

The state machine writes it with a conditional put once the key is verified (after Validate)
and moves its `state` along as the execution goes; the approval step adds its task token and
what the approver is shown and checked against; `python -m handoff.approve` reads them back.
Whoever can read a claim item can read its token and so approve: table reads are for approvers
only (docs/handoff.md).

The decisive fact about a claim is whether the step may have started. Before `executing`
nothing ran, and a failure releases the claim (`failed_before_execute`), which the claim put
admits again: the same event runs the step once when it comes back. From `executing` on the
claim holds, and a re-run ends as `Duplicate`. stacks/constructs/handoff.py writes the same
names (tests/lambdas/test_claims.py keeps the two in step).
"""

from __future__ import annotations

CLAIM_PREFIX = "claim#"

# Attributes the state machine sets (id, kind, execution, claimed_at, state, state_changed_at)
# and the approval step adds (approval_*, actor_id, summary, requested_at).
STATE = "state"
STATE_CHANGED_AT = "state_changed_at"
EXECUTION = "execution"  # the id of the execution that holds the claim
APPROVAL_TOKEN = "approval_token"  # noqa: S105 - an attribute name
APPROVAL_REQUESTED_AT = "approval_requested_at"
APPROVAL_ALLOW_SELF = "approval_allow_self"
ACTOR_ID = "actor_id"
SUMMARY = "summary"
REQUESTED_AT = "requested_at"
KIND = "kind"

# The claim's states, in the order an execution goes through them.
CLAIMED = "claimed"
AWAITING_APPROVAL = "awaiting_approval"
EXECUTING = "executing"  # from here on, the step may have run
DONE = "done"
COMPENSATED = "compensated"
COMPENSATION_FAILED = "compensation_failed"
OUTCOME_UNKNOWN = "outcome_unknown"
REJECTED = "rejected"
FAILED_BEFORE_EXECUTE = "failed_before_execute"
STATES = (
    CLAIMED,
    AWAITING_APPROVAL,
    EXECUTING,
    DONE,
    COMPENSATED,
    COMPENSATION_FAILED,
    OUTCOME_UNKNOWN,
    REJECTED,
    FAILED_BEFORE_EXECUTE,
)
# States a new execution may claim again: the step never began.
RERUNNABLE = (FAILED_BEFORE_EXECUTE,)


def claim_key(idempotency_key: str) -> str:
    return f"{CLAIM_PREFIX}{idempotency_key}"
