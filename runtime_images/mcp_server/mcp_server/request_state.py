"""How `requestState` (the 2026-07-28 multi-round-trip state a client echoes back) is sealed.

The mcp SDK seals it with AES-256-GCM under a key, and by default that key is made by each process
at start: a round answered by another process is refused ("Invalid or expired requestState"). On
AgentCore every request of a stateless client may reach another microVM, so deployed servers share
one key: a Secrets Manager secret the stack creates (REQUEST_STATE_SECRET_ARN), read once, on the
first round that needs it (nothing at start-up: cold start pays nothing). Locally a process key is
enough.

The state is also bound to the caller: a round's state is accepted only from the actor it was
issued to (the SDK binds it to an OAuth principal, which AgentCore's own authorizers do not give it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.request_state import AESGCMRequestStateCodec, InvalidRequestState, RequestStateSecurity

from mcp_server.caller import CallerContextError, Identity

logger = logging.getLogger(__name__)


class SecretKeyCodec:
    """AES-256-GCM under a key read from Secrets Manager on first use (then cached for the process)."""

    def __init__(self, secret_arn: str, region: str | None, client: Any = None) -> None:
        self.secret_arn = secret_arn
        self.region = region
        self._client = client
        self._codec: AESGCMRequestStateCodec | None = None
        self._lock = threading.Lock()

    def _ready(self) -> AESGCMRequestStateCodec:
        if self._codec is None:
            with self._lock:
                if self._codec is None:
                    client = self._client
                    if client is None:
                        import boto3

                        client = boto3.client("secretsmanager", region_name=self.region)
                    secret = client.get_secret_value(SecretId=self.secret_arn)["SecretString"]
                    self._codec = AESGCMRequestStateCodec([secret])
                    logger.info("request-state key loaded")
        return self._codec

    def seal(self, payload: bytes) -> str:
        return self._ready().seal(payload)

    def unseal(self, token: str) -> bytes:
        try:
            codec = self._ready()
        except Exception as exc:  # the secret cannot be read: the round is refused, and the log says why
            logger.exception("reading the request-state key failed")
            raise InvalidRequestState("key unavailable") from exc
        return codec.unseal(token)


def actor_principal(identity: Identity) -> Callable[[ServerRequestContext[Any, Any]], str | None]:
    """The state's principal: the request's authenticated actor (None when there is none)."""

    def principal(ctx: ServerRequestContext[Any, Any]) -> str | None:
        try:
            return identity.caller(getattr(ctx.request, "headers", None)).actor_id
        except CallerContextError:
            return None  # the request is refused on its caller anyway, before a tool runs

    return principal


def request_state_security(secret_arn: str | None, region: str | None, identity: Identity) -> RequestStateSecurity:
    """Shared key when deployed (secret_arn), a process key otherwise; bound to the actor either way."""
    principal = actor_principal(identity)
    if secret_arn is None:
        ephemeral = RequestStateSecurity.ephemeral()
        ephemeral.bind_principal = principal
        return ephemeral
    return RequestStateSecurity(codec=SecretKeyCodec(secret_arn, region), bind_principal=principal)
