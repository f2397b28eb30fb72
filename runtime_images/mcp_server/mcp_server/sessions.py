"""Stateful-session housekeeping around the SDK's Streamable HTTP app: host checks and session logs.

The SDK opens, expires and answers unknown sessions (HTTP 404) itself; this module
decides which Host headers are trusted and writes one log line when a session is
opened, closed by its client, or asked for after it is gone (the SDK logs idle expiry).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_server import constants as c
from mcp_server.protocol.wire import Callers
from mcp_server.settings import Settings

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def agentcore_host(region: str) -> str:
    """The Host header AgentCore Runtime forwards: that of the invoke endpoint."""
    return f"bedrock-agentcore.{region}.amazonaws.com"


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: loopback (local mode), the region's AgentCore endpoint, and MCP_ALLOWED_HOSTS."""
    hosts = [*LOOPBACK_HOSTS]
    if settings.region:
        hosts.append(agentcore_host(settings.region))
    hosts.extend(settings.allowed_hosts)
    allowed: list[str] = []
    for host in hosts:
        # A bare name also matches with any port (":443" from a proxy, a local port).
        allowed.extend([host] if host.rsplit("]", 1)[-1].count(":") else [host, f"{host}:*"])
    # Browsers send Origin; only local pages may drive a local server, nothing else sends one.
    origins = [f"http://{h}:*" for h in LOOPBACK_HOSTS] + [f"http://{h}" for h in LOOPBACK_HOSTS]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=allowed, allowed_origins=origins
    )


class SessionLog:
    """ASGI middleware: logs session opening, client close, and requests for unknown or expired sessions.

    It also tells `callers` who opened each session (the opening request's identity): the only
    place that sees both the caller's headers and the session id the SDK just minted.
    """

    def __init__(self, app: ASGIApp, callers: Callers) -> None:
        self.app = app
        self.callers = callers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != c.MCP_PATH:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        asked = headers.get("mcp-session-id")
        method = scope.get("method")

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                answered = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", [])
                }.get("mcp-session-id")
                if asked is None and answered is not None and status < 400:
                    self.callers.opened(answered, headers)
                    logger.info("mcp session %s opened", answered, extra={"mcp_session": answered})
                elif asked is not None and status == 404:
                    self.callers.closed(asked)
                    logger.info("mcp session %s unknown or expired (404): the client must re-initialize", asked[:64])
                elif asked is not None and method == "DELETE" and status < 300:
                    self.callers.closed(asked)
                    logger.info("mcp session %s closed by the client", asked[:64])
            await send(message)

        await self.app(scope, receive, watch)


class EngineGate:
    """ASGI middleware: while the task engine cannot serve, /mcp answers a clear JSON-RPC error (HTTP 503).

    Without it a request would reach a half-stopped engine and fail in ways that name nothing.
    """

    def __init__(self, app: ASGIApp, problem: Callable[[], str | None]) -> None:
        self.app = app
        self.problem = problem

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = self.problem() if scope["type"] == "http" and scope.get("path") == c.MCP_PATH else None
        if problem is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": f"the server cannot serve: {problem}"}}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"retry-after", b"30")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
