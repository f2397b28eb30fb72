"""The handoff event: what the MCP server puts on the bus and the workflow receives.

Source and detail-type are matched by the EventBridge rule (stacks/constructs/handoff.py);
the MCP server builds the detail with `handoff_detail`, the validate step parses it with
`HandoffDetail` and the request with the model `REQUEST_MODELS` names for its kind.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kit_contracts.context import ACTOR_ID_PATTERN, SESSION_ID_PATTERN

EVENT_SOURCE = "agent-kit.mcp-server"
EVENT_DETAIL_TYPE = "Handoff Requested"
SCHEMA_VERSION = "1"
KIND_SANDBOX_ACCOUNT = "sandbox_account"

REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"


class SandboxAccountRequest(BaseModel):
    """A sandbox AWS account for one application; both the tool and the workflow validate with it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    application_name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{2,39}$",
        description="lower-case letters, digits and '-', 3..40 characters, starting with a letter",
    )
    region: str = Field(pattern=REGION_PATTERN, description="AWS region like 'eu-west-1'")
    cost_center: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,19}$", description="like 'CC-1234'")


# Kinds the workflow has a step for (lambdas/handoff/steps); the rule matches only these.
REQUEST_MODELS: dict[str, type[BaseModel]] = {KIND_SANDBOX_ACCOUNT: SandboxAccountRequest}
KINDS = tuple(REQUEST_MODELS)


class HandoffDetail(BaseModel):
    """The event detail; `request` is validated by the model registered for `kind`."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal["1"]
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    idempotency_key: str = Field(pattern=r"^[a-f0-9]{64}$", description="sha256 of the request")
    actor_id: str = Field(min_length=1, max_length=255, pattern=f"^{ACTOR_ID_PATTERN}$")
    session_id: str = Field(min_length=1, max_length=100, pattern=f"^{SESSION_ID_PATTERN}$")
    requested_at: datetime
    request: dict[str, Any]


def canonical_json(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def idempotency_key(actor_id: str, kind: str, request: dict[str, Any]) -> str:
    """sha256 over who asks, what kind, and the validated request.

    Deterministic, so a retried (or repeated) confirmed request carries the same key and
    the workflow's claim on it turns the repeat into a no-op. The session is left out on
    purpose: the same request from a later conversation is still the same request.
    """
    material = "\n".join((actor_id, kind, canonical_json(request)))
    return hashlib.sha256(material.encode()).hexdigest()


def handoff_detail(
    *, kind: str, request: dict[str, Any], actor_id: str, session_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """The event detail for a validated request, as HandoffDetail parses it."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "idempotency_key": idempotency_key(actor_id, kind, request),
        "actor_id": actor_id,
        "session_id": session_id,
        "requested_at": (now or datetime.now(tz=UTC)).isoformat(),
        "request": request,
    }
