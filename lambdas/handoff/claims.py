"""The workflow's claim on an idempotency key, kept in the idempotency table.

The state machine writes it with a conditional put (first state); the approval step
stores its task token on it; `python -m handoff.approve` reads the token back.
"""

from __future__ import annotations

CLAIM_PREFIX = "claim#"


def claim_key(idempotency_key: str) -> str:
    return f"{CLAIM_PREFIX}{idempotency_key}"
