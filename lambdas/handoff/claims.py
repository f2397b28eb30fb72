"""The workflow's claim on an idempotency key, kept in the idempotency table.

The state machine writes it with a conditional put once the key is verified (after Validate);
the approval step adds its task token and what the approver is shown and checked against;
`python -m handoff.approve` reads them back. Whoever can read a claim item can read its token
and so approve: table reads are for approvers only (docs/handoff.md).
"""

from __future__ import annotations

CLAIM_PREFIX = "claim#"

# Attributes the approval step sets on the claim (the state machine sets id, kind, execution,
# claimed_at).
APPROVAL_TOKEN = "approval_token"  # noqa: S105 - an attribute name
APPROVAL_REQUESTED_AT = "approval_requested_at"
APPROVAL_ALLOW_SELF = "approval_allow_self"
ACTOR_ID = "actor_id"
SUMMARY = "summary"
REQUESTED_AT = "requested_at"
KIND = "kind"


def claim_key(idempotency_key: str) -> str:
    return f"{CLAIM_PREFIX}{idempotency_key}"
