"""The handoff event: what the MCP server puts on the bus and the workflow receives.

Source and detail-type are matched by the EventBridge rule (stacks/constructs/handoff.py);
the MCP server emits the same shape (runtime_images/mcp_server).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EVENT_SOURCE = "agent-kit.mcp-server"
EVENT_DETAIL_TYPE = "Handoff Requested"
SCHEMA_VERSION = "1"
# Kinds the workflow has a step for (lambdas/handoff/steps); the rule matches only these.
KINDS = ("sandbox_account",)

ACTOR_ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9\-_/]*(?::[a-zA-Z0-9\-_/]+)*[a-zA-Z0-9\-_/]*$"
SESSION_ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$"


class HandoffDetail(BaseModel):
    """The event detail; `request` is validated by the step registered for `kind`."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal["1"]
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    idempotency_key: str = Field(pattern=r"^[a-f0-9]{64}$", description="sha256 of the request")
    actor_id: str = Field(min_length=1, max_length=255, pattern=ACTOR_ID_PATTERN)
    session_id: str = Field(min_length=1, max_length=100, pattern=SESSION_ID_PATTERN)
    requested_at: datetime
    request: dict[str, Any]


class ValidationFailed(Exception):
    """Raised by the validate step; its class name is the error the workflow catches."""
