"""Who is calling: the actor comes from what the platform authenticated, never from a header a caller writes.

Trust boundary. The server is reachable only through AgentCore Runtime (or on loopback in
local mode), which authenticates every request before it reaches the container:
- CALLER_IDENTITY=jwt: the runtime's JWT authorizer validated the bearer token; the actor is
  its ACTOR_ID_CLAIM claim (default `sub`). The token is decoded here, not re-verified.
- CALLER_IDENTITY=runtime-user-id: IAM auth; the actor is the runtime user id the platform
  passes in X-Amzn-Bedrock-AgentCore-Runtime-User-Id, which only principals allowed
  bedrock-agentcore:InvokeAgentRuntimeForUser can set (the kit grants it to the agent alone).
- CALLER_IDENTITY=local: the Actor-Id header, for a server on loopback in local mode only
  (the settings refuse it with the DynamoDB store).
The Actor-Id header may still be sent (the agent does): a value that differs from the
authenticated actor is refused, as is a Memory-Id header naming another memory than the
environment's. The session header only picks a session within the caller's own memory.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kit_contracts.context import (
    ACTOR_ID_MAX,
    ACTOR_ID_PATTERN,
    AUTHORIZATION_HEADER,
    DEFAULT_RESULTS_SESSION_ID,
    IDENTITY_JWT,
    IDENTITY_LOCAL,
    IDENTITY_RUNTIME_USER,
    RUNTIME_USER_ID_HEADER,
    SESSION_ID_MAX,
    SESSION_ID_PATTERN,
)
from mcp_server import constants as c

_ACTOR_RE = re.compile(ACTOR_ID_PATTERN)
_SESSION_RE = re.compile(SESSION_ID_PATTERN)
ACTOR_RULE = f"1..{ACTOR_ID_MAX} characters of [a-zA-Z0-9-_/:] starting with a letter or digit"
SESSION_RULE = f"1..{SESSION_ID_MAX} characters of [a-zA-Z0-9-_] starting with a letter or digit"


class CallerContextError(ValueError):
    """No usable caller: the message names the header (or claim) that is missing, malformed or refused."""

    def __init__(self, message: str, authenticated: str | None = None, header: str | None = None) -> None:
        super().__init__(message)
        # Who the platform did authenticate, when the refusal is of a claim beyond that: the log says both.
        self.authenticated = authenticated
        # The HTTP header at fault (the JSON-RPC error's data names it).
        self.header = header


@dataclass(frozen=True)
class Caller:
    actor_id: str
    session_id: str
    memory_id: str | None


def _check(where: str, value: object, pattern: re.Pattern[str], max_len: int, expected: str, header: str) -> str:
    if value is None or value == "":
        raise CallerContextError(f"missing {where}: expected {expected}", header=header)
    if not isinstance(value, str) or len(value) > max_len or not pattern.fullmatch(value):
        raise CallerContextError(f"malformed {where}={str(value)[:80]!r}: expected {expected}", header=header)
    return value


def jwt_claims(authorization: str | None) -> dict[str, Any]:
    """The claims of the bearer token in an Authorization header (already verified by the platform)."""
    if not authorization or authorization[:7].lower() != "bearer ":
        raise CallerContextError(
            f"missing header {AUTHORIZATION_HEADER}: expected 'Bearer <JWT>'", header=AUTHORIZATION_HEADER
        )
    parts = authorization[7:].strip().split(".")
    if len(parts) != 3:
        raise CallerContextError(
            f"malformed header {AUTHORIZATION_HEADER}: expected a JWT (three dot-separated parts)",
            header=AUTHORIZATION_HEADER,
        )
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        raise CallerContextError(
            f"malformed header {AUTHORIZATION_HEADER}: the JWT's claims are unreadable", header=AUTHORIZATION_HEADER
        ) from None
    if not isinstance(claims, dict):
        raise CallerContextError(
            f"malformed header {AUTHORIZATION_HEADER}: the JWT's claims are not an object", header=AUTHORIZATION_HEADER
        )
    return claims


class Identity:
    """Resolves the Caller of a request from its headers, by the configured identity source."""

    def __init__(self, source: str, memory_id: str | None, claim: str = "sub", local_actor: str | None = None) -> None:
        """`local_actor`: in local mode, the actor of a request without the Actor-Id header (LOCAL_ACTOR_ID)."""
        if source not in (IDENTITY_JWT, IDENTITY_RUNTIME_USER, IDENTITY_LOCAL):
            raise ValueError(f"identity source {source!r}: expected jwt, runtime-user-id or local")
        if local_actor is not None and source != IDENTITY_LOCAL:
            raise ValueError("a default actor is for local mode only: every deployed request is authenticated")
        self.source = source
        self.memory_id = memory_id
        self.claim = claim
        self.local_actor = local_actor

    def describe(self) -> str:
        if self.source == IDENTITY_JWT:
            return f"claim {self.claim!r} of the bearer token"
        if self.source == IDENTITY_RUNTIME_USER:
            return f"header {RUNTIME_USER_ID_HEADER}"
        return f"header {c.ACTOR_ID_HEADER} (local mode)"

    def actor(self, headers: Mapping[str, str]) -> str:
        """The authenticated actor; CallerContextError naming where it was looked for."""
        if self.source == IDENTITY_JWT:
            claims = jwt_claims(headers.get(AUTHORIZATION_HEADER.lower()))
            return _check(
                f"JWT claim {self.claim}",
                claims.get(self.claim),
                _ACTOR_RE,
                ACTOR_ID_MAX,
                ACTOR_RULE,
                AUTHORIZATION_HEADER,
            )
        name = RUNTIME_USER_ID_HEADER if self.source == IDENTITY_RUNTIME_USER else c.ACTOR_ID_HEADER
        value = headers.get(name.lower()) or (self.local_actor if self.source == IDENTITY_LOCAL else None)
        return _check(f"header {name}", value, _ACTOR_RE, ACTOR_ID_MAX, ACTOR_RULE, name)

    def caller(self, raw_headers: Mapping[str, str] | None) -> Caller:
        """The caller of a request (headers matched case-insensitively); raises CallerContextError."""
        headers = {k.lower(): v for k, v in (raw_headers or {}).items()}
        actor = self.actor(headers)
        claimed = headers.get(c.ACTOR_ID_HEADER.lower())
        if claimed and claimed != actor:
            raise CallerContextError(
                f"refused header {c.ACTOR_ID_HEADER}={claimed[:80]!r}: it differs from the authenticated caller "
                f"({self.describe()}); send your own id or none",
                authenticated=actor,
                header=c.ACTOR_ID_HEADER,
            )
        memory = headers.get(c.MEMORY_ID_HEADER.lower())
        if memory and memory != self.memory_id:
            raise CallerContextError(
                f"refused header {c.MEMORY_ID_HEADER}={memory[:80]!r}: results go to this environment's memory only",
                authenticated=actor,
                header=c.MEMORY_ID_HEADER,
            )
        # The results session is the caller's own choice within its own memory: none named, the default.
        session = _check(
            f"header {c.SESSION_ID_HEADER}",
            headers.get(c.SESSION_ID_HEADER.lower(), DEFAULT_RESULTS_SESSION_ID),
            _SESSION_RE,
            SESSION_ID_MAX,
            SESSION_RULE,
            c.SESSION_ID_HEADER,
        )
        return Caller(actor_id=actor, session_id=session, memory_id=self.memory_id)


def caller_from_headers(headers: Mapping[str, str] | None, memory_id: str | None) -> Caller:
    """The caller by the local rule (the Actor-Id header): what a local-mode server does."""
    return Identity(IDENTITY_LOCAL, memory_id).caller(headers)
