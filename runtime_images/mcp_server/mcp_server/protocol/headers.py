"""HTTP header rules the SDK's transport leaves to the server: field values without their OWS, and
`Mcp-Name` on the tasks methods.

- RFC 9110 §5.5: "a field parsing implementation MUST exclude such whitespace prior to evaluating
  the field value". uvicorn's httptools parser keeps trailing whitespace, and mcp 2.3.0 compares
  `Mcp-Name` verbatim: every request header value is trimmed of spaces and tabs here, first.
- SEP-2663 "Streamable HTTP: Routing Headers": `tasks/get`, `tasks/update` and `tasks/cancel` carry
  `Mcp-Name: <taskId>` so intermediaries can route a task's requests. The SDK validates `Mcp-Name`
  only for tools/call, prompts/get and resources/read; here a 2026-07-28 tasks request whose header
  is missing or names another task than `params.taskId` is refused like theirs: HTTP 400 with
  JSON-RPC -32020 (HeaderMismatch). 2025-11-25 requests (which predate the header) are not held to it.

Only a tasks request's body is read here (its `Mcp-Method` header says so); every other request
streams through untouched.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.shared.inbound import decode_header_value
from mcp_types import HEADER_MISMATCH
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TASK_METHODS = frozenset({"tasks/get", "tasks/update", "tasks/cancel"})
_OWS = b" \t"
# A tasks request is a few hundred bytes; anything far larger is not one (the SDK answers it).
MAX_TASKS_BODY = 1 << 20


class McpHeaders:
    """ASGI middleware: trims header values, then checks `Mcp-Name` on 2026-07-28 tasks requests."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(name, value.strip(_OWS)) for name, value in scope["headers"]]
        scope = {**scope, "headers": headers}
        found = {name.lower(): value for name, value in headers}
        method = found.get(b"mcp-method", b"").decode("latin-1")
        version = found.get(b"mcp-protocol-version", b"").decode("latin-1")
        if (
            scope["method"] != "POST"
            or scope["path"].rstrip("/") != self.path
            or method not in TASK_METHODS
            or version not in MODERN_PROTOCOL_VERSIONS
        ):
            await self.app(scope, receive, send)
            return
        body, more = await _read(receive)
        if not more:
            problem = _name_problem(body, found.get(b"mcp-name"))
            if problem is not None:
                await _refuse(send, *problem)
                return
        await self.app(scope, _replay(body, more, receive), send)


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The request body, up to MAX_TASKS_BODY; (bytes, True) if more follows."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > MAX_TASKS_BODY:
            return b"".join(chunks), True


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay


def _name_problem(body: bytes, header: bytes | None) -> tuple[Any, str] | None:
    """(request id, message) when Mcp-Name is missing or names another task; None when it matches.

    A body that is not a single JSON-RPC request is left to the SDK, which says what is wrong with it.
    """
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if not isinstance(request, dict) or not isinstance(request.get("params"), dict):
        return None
    task_id = request["params"].get("taskId")
    if not isinstance(task_id, str):
        return None  # the params model names the missing taskId
    if header is None:
        return request.get("id"), f"missing header Mcp-Name: expected the task id {task_id!r} (params.taskId)"
    if decode_header_value(header.decode("latin-1")) != task_id:
        return request.get("id"), "Mcp-Name header does not match the request body's 'taskId' parameter"
    return None


async def _refuse(send: Send, request_id: Any, message: str) -> None:
    payload = {"jsonrpc": "2.0", "id": request_id, "error": {"code": HEADER_MISMATCH, "message": message}}
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
