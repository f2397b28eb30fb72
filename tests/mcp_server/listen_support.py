"""A raw `subscriptions/listen` stream with `notifications.taskIds`, driven by the real mcp 2.3.0 client.

The SDK client has no helper for task ids: the request is the SDK's own `SubscriptionsListenRequest`
(its filter keeps unknown keys), sent through the session; the acknowledgement reaches the client's
message handler, and `notifications/tasks` (not in the core tables) a ClientExtension binding.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.client import ClientExtension
from mcp.client.extension import NotificationBinding
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ConfigDict, TypeAdapter
from tests_support import client, tasks_extension

SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
PROGRESS_META = "io.agentkit/progress"
TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class Stream:
    """What one client received on its listen streams: acks, task frames (with receipt times), results."""

    acks: list[dict[str, Any]] = field(default_factory=list)
    frames: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)  # wall clock, per frame
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[MCPError] = field(default_factory=list)
    _changed: anyio.Event = field(default_factory=anyio.Event)

    def note(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        """Wait until `condition()` is truthy (re-checked on every frame); fail naming `what`."""
        try:
            with anyio.fail_after(timeout):
                while not (value := condition()):
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; received {self.summary()}") from None
        return value

    def of(self, task_id: str) -> list[dict[str, Any]]:
        return [frame for _, frame in self.frames if frame["taskId"] == task_id]

    def summary(self) -> list[tuple[str, str, Any]]:
        return [(f["taskId"][:8], f["status"], f.get("statusMessage")) for _, f in self.frames]

    @property
    def ended(self) -> bool:
        return bool(self.results or self.errors)


def extensions(stream: Stream, declare_tasks: bool = True) -> list[Any]:
    class AnyParams(BaseModel):
        model_config = ConfigDict(extra="allow")

    async def record(params: AnyParams) -> None:
        stream.frames.append((time.monotonic(), params.model_dump(by_alias=True)))
        stream.received_at.append(time.time())
        stream.note()

    class TaskFrames(ClientExtension):
        identifier = "com.example/task-frames"

        def notifications(self) -> list[Any]:
            return [NotificationBinding(method="notifications/tasks", params_type=AnyParams, handler=record)]

    return [tasks_extension(), TaskFrames()] if declare_tasks else [TaskFrames()]


@asynccontextmanager
async def listening_client(
    url: str, headers: dict[str, str], stream: Stream, declare_tasks: bool = True
) -> AsyncIterator[Any]:
    async def on_message(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/subscriptions/acknowledged":
            stream.acks.append(message.params.model_dump(by_alias=True, exclude_none=True))
            stream.note()

    async with client(
        url, headers, mode="auto", extensions=extensions(stream, declare_tasks), message_handler=on_message
    ) as session:
        yield session


async def listen(session: Any, stream: Stream, notifications: dict[str, Any]) -> None:
    """Send one subscriptions/listen and wait for its result (the stream's graceful end) or error."""
    from mcp_types import SubscriptionFilter, SubscriptionsListenRequest, SubscriptionsListenRequestParams

    request = SubscriptionsListenRequest(
        params=SubscriptionsListenRequestParams(notifications=SubscriptionFilter.model_validate(notifications))
    )
    try:
        result = await session.session.send_request(request, TypeAdapter(dict[str, Any]))
    except MCPError as exc:
        stream.errors.append(exc)
    else:
        stream.results.append(result)
    stream.note()


def progress_of(frame: dict[str, Any]) -> float | None:
    meta = frame.get("_meta", {}).get(PROGRESS_META)
    return None if meta is None else meta["progress"]
