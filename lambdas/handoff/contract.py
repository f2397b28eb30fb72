"""The handoff event the workflow receives: the shared contract, and what only the Lambdas add.

The event (source, detail-type, detail model, kinds) is defined once in kit_contracts.handoff,
which the MCP server builds it from and the EventBridge rule (stacks/constructs/handoff.py)
matches on; it is re-exported here for the handlers.
"""

from __future__ import annotations

from kit_contracts.context import ACTOR_ID_PATTERN, SESSION_ID_PATTERN
from kit_contracts.handoff import EVENT_DETAIL_TYPE, EVENT_SOURCE, KINDS, SCHEMA_VERSION, HandoffDetail

__all__ = [
    "ACTOR_ID_PATTERN",
    "EVENT_DETAIL_TYPE",
    "EVENT_SOURCE",
    "KINDS",
    "SCHEMA_VERSION",
    "SESSION_ID_PATTERN",
    "HandoffDetail",
    "StepFailed",
    "ValidationFailed",
]


class ValidationFailed(Exception):
    """Raised by the validate step; its class name is the error the workflow catches."""


class StepFailed(Exception):
    """Raised by the execute step when the step itself raised: it has stopped, and whatever it
    did may be partial. The only error the workflow compensates for; any other error from
    Execute (a timeout, an idempotency record still in progress) may mean it is still running."""
