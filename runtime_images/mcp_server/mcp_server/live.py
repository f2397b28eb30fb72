"""Pushes a durable task's progress and status to the 2025-era connection that created it.

SEP-1686: the progress token of a task-augmented `tools/call` stays valid for the
task's whole life, and the server may send `notifications/tasks/status` when the
status changes. Both go on the session's standalone stream (the GET SSE stream):
the POST that created the task has already been answered. Best effort: a closed
stream drops them, and the store stays the source of truth (`tasks/get`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.session import ServerSession
from mcp_types import Notification, ProgressToken

from mcp_server import constants as c
from mcp_server.store.base import TaskRecord

logger = logging.getLogger(__name__)
# Notifications waiting to be written; beyond this they are dropped rather than block the engine.
QUEUE_SIZE = 1000


@dataclass
class _Watch:
    session: ServerSession
    progress_token: ProgressToken | None
    wire: Callable[[TaskRecord], dict[str, Any]]


class LiveTasks:
    """Implements the engine's TaskListener for tasks created on a live stateful session."""

    def __init__(self) -> None:
        self._watches: dict[str, _Watch] = {}
        self._send: MemoryObjectSendStream[tuple[ServerSession, str, dict[str, Any]]] | None = None

    def watch(
        self,
        task_id: str,
        session: ServerSession,
        progress_token: ProgressToken | None,
        wire: Callable[[TaskRecord], dict[str, Any]],
    ) -> None:
        self._watches[task_id] = _Watch(session, progress_token, wire)

    @property
    def watching(self) -> int:
        return len(self._watches)

    # ------------------------------------------------------------------ TaskListener
    def progressed(self, task_id: str, progress: float, total: float | None, message: str | None) -> None:
        watch = self._watches.get(task_id)
        if watch is None or watch.progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": watch.progress_token, "progress": progress}
        if total is not None and math.isfinite(total):
            params["total"] = total
        if message:
            params["message"] = message
        self._enqueue(watch.session, "notifications/progress", params)

    def status_changed(self, record: TaskRecord) -> None:
        watch = self._watches.get(record.task_id)
        if watch is not None:
            self._enqueue(watch.session, "notifications/tasks/status", watch.wire(record))

    def ended(self, record: TaskRecord) -> None:
        watch = self._watches.pop(record.task_id, None)
        if watch is None or record.status not in c.TERMINAL_STATUSES:
            return
        self._enqueue(watch.session, "notifications/tasks/status", watch.wire(record))

    # ------------------------------------------------------------------ delivery
    def _enqueue(self, session: ServerSession, method: str, params: dict[str, Any]) -> None:
        if self._send is None:
            return
        try:
            self._send.send_nowait((session, method, params))
        except anyio.WouldBlock:
            logger.warning("live task notifications are backing up; dropped a %s", method)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LiveTasks]:
        send, receive = anyio.create_memory_object_stream[tuple[ServerSession, str, dict[str, Any]]](QUEUE_SIZE)
        self._send = send

        async def pump() -> None:
            async with receive:
                async for session, method, params in receive:
                    await _notify(session, method, params)

        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            try:
                yield self
            finally:
                self._send = None
                send.close()
                tg.cancel_scope.cancel()


async def _notify(session: ServerSession, method: str, params: dict[str, Any]) -> None:
    # No related request: the standalone stream, since the creating request is long answered.
    try:
        with anyio.fail_after(5):
            await session.send_notification(Notification[dict[str, Any], str](method=method, params=params))  # type: ignore[arg-type]
    except Exception as exc:  # a closed or stalled stream: the client reads the store instead
        logger.debug("dropped %s for a closed session: %r", method, exc)
