"""Who is calling: the actor id that keys the caller's memory and tasks.

Order of trust:
1. With JWT inbound auth, the runtime has already validated the bearer token before the
   request reaches this container, so its claims (ACTOR_ID_CLAIM, default `sub`) are the
   caller's authenticated identity. The token is decoded here, not re-verified.
2. With IAM inbound auth, the caller may name a user in InvokeAgentRuntime
   (`runtimeUserId`, which needs `bedrock-agentcore:InvokeAgentRuntimeForUser`); the runtime
   passes it as the X-Amzn-Bedrock-AgentCore-Runtime-User-Id header.
3. Only where ACTOR_ID_FROM_REQUEST=true (local mode), the request body's `actor_id`.
Anything else is refused: an actor taken from an unauthenticated body could read another
user's results.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from agent.settings import Settings
from kit_contracts.context import ACTOR_ID_MAX, ACTOR_ID_PATTERN

USER_ID_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-User-Id"
AUTHORIZATION_HEADER = "Authorization"

ACTOR_ID_RE = re.compile(ACTOR_ID_PATTERN)
ACTOR_ID_RULE = f"1..{ACTOR_ID_MAX} characters of [a-zA-Z0-9-_/:] starting with a letter or digit"


class IdentityError(ValueError):
    """No usable caller identity; the message says where the actor id was looked for."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = _header(headers, AUTHORIZATION_HEADER)
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT the runtime's authorizer already verified (no signature check here)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise IdentityError("Authorization bearer token is not a JWT (expected three dot-separated parts)")
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError) as exc:
        raise IdentityError(f"Authorization bearer token has an unreadable claims part: {exc}") from None
    if not isinstance(claims, dict):
        raise IdentityError("Authorization bearer token claims are not a JSON object")
    return claims


def checked_actor(value: object, source: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= ACTOR_ID_MAX or not ACTOR_ID_RE.fullmatch(value):
        raise IdentityError(f"{source}={str(value)[:80]!r}: expected an actor id of {ACTOR_ID_RULE}")
    return value


def resolve_actor(headers: Mapping[str, str], payload: Mapping[str, Any], settings: Settings) -> str:
    if settings.mcp_auth == "jwt":
        token = bearer_token(headers)
        if token is None:
            raise IdentityError("JWT auth is configured but the request carries no Authorization bearer token")
        claims = jwt_claims(token)
        return checked_actor(claims.get(settings.actor_id_claim), f"JWT claim {settings.actor_id_claim}")
    user_id = _header(headers, USER_ID_HEADER)
    if user_id:
        return checked_actor(user_id, f"header {USER_ID_HEADER}")
    if settings.actor_id_from_request:
        return checked_actor(payload.get("actor_id"), "field 'actor_id'")
    raise IdentityError(
        f"no caller identity: invoke with a runtime user id (header {USER_ID_HEADER}) or a JWT; "
        "a request-supplied actor_id is accepted only where ACTOR_ID_FROM_REQUEST=true"
    )
