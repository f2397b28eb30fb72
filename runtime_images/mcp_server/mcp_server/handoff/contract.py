"""The handoff event this server puts on the bus, restated from lambdas/handoff/contract.py.

The image cannot import the Lambdas' package, so the shape is restated here; a test in
tests/mcp_server loads the Lambdas' models by path and checks both accept and reject
the same requests, and that an emitted event validates against their HandoffDetail.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EVENT_SOURCE = "agent-kit.mcp-server"
EVENT_DETAIL_TYPE = "Handoff Requested"
SCHEMA_VERSION = "1"
KIND_SANDBOX_ACCOUNT = "sandbox_account"

REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"


class SandboxAccountRequest(BaseModel):
    """Same rules as lambdas/handoff/steps/sandbox_account.py (the workflow validates again)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    application_name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{2,39}$",
        description="lower-case letters, digits and '-', 3..40 characters, starting with a letter",
    )
    region: str = Field(pattern=REGION_PATTERN, description="AWS region like 'eu-west-1'")
    cost_center: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,19}$", description="like 'CC-1234'")


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
    """The event detail, field for field lambdas/handoff/contract.py's HandoffDetail."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "idempotency_key": idempotency_key(actor_id, kind, request),
        "actor_id": actor_id,
        "session_id": session_id,
        "requested_at": (now or datetime.now(tz=UTC)).isoformat(),
        "request": request,
    }
