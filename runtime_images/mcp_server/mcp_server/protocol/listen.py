"""`subscriptions/listen` with `notifications.taskIds` (SEP-2663): a 2026-07-28 client follows its tasks live.

After the acknowledgement (listing the task ids followed) the stream carries, per task, a `notifications/tasks`
frame with the DetailedTask tasks/get would answer: its current state first, then every status change at once,
and progress at most once per TASK_NOTIFY_MIN_INTERVAL_SECONDS. Tasks running here are followed through the
engine's listeners (in-memory progress, fresher than the store); every followed task is also read from the store
each poll interval, so a task running in another process is followed too. Once every followed task has ended
and its terminal frame was sent, a stream that asked for nothing else ends gracefully (the listen result); a
client that goes away just ends it. Only the caller's own tasks are followed: another actor's id is treated like
an unknown one (left out of the ack, never sent). A listen without taskIds, or from a 2025-era client, is the
SDK's ListenHandler's, unchanged.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import SubscriptionBus
from mcp.server.subscriptions import _honored_subset as honored_standard_kinds  # the SDK's own rule
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY, ServerEvent, event_matches, event_to_notification
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, Notification
from mcp_types import SubscriptionFilter as Filter
from mcp_types import SubscriptionsListenRequestParams as ListenParams

from mcp_server import constants as c
from mcp_server.caller import Caller
from mcp_server.engine.api import TaskService
from mcp_server.protocol import tasks_2026
from mcp_server.protocol.wire import ATTEMPT_META, declares_tasks_extension, is_modern, requester
from mcp_server.store.base import Progress, TaskRecord

logger = logging.getLogger(__name__)
Ctx = ServerRequestContext[Any, Any]

METHOD = "subscriptions/listen"
TASKS_NOTIFICATION = "notifications/tasks"
MAX_TASK_IDS = 100  # per stream
MAX_STREAMS = 1024  # concurrent task streams per process (the SDK's bound for its own)
MAX_PENDING_EVENTS = 1024  # standard events waiting to be written; beyond it the stream ends


@dataclass
class _Followed:
    record: TaskRecord  # the newest state known (store read or engine listener)
    live: Progress | None = None  # the newest in-memory report (this process runs the task)
    live_at: float = 0.0
    sent: tuple[Any, ...] | None = None  # what the last frame said
    sent_status: str | None = None
    sent_at: float = -math.inf  # monotonic
    done: bool = False  # the terminal frame was sent, or the task is gone (expired)


class _Stream:
    """One listen stream's followed tasks; told of changes by TaskFeed and by its own store reads."""

    def __init__(self, records: dict[str, TaskRecord]) -> None:
        self.followed = {task_id: _Followed(record) for task_id, record in records.items()}
        self.dirty: set[str] = set(records)
        self.events: dict[ServerEvent, None] = {}  # level triggers: deduplicated
        self.overflowed = False
        self.wake = anyio.Event()

    def progressed(self, task_id: str, progress: Progress) -> None:
        followed = self.followed.get(task_id)
        if followed is not None and not followed.done:
            followed.live, followed.live_at = progress, time.time()
            self._touch(task_id)

    def changed(self, record: TaskRecord) -> None:
        followed = self.followed.get(record.task_id)
        if followed is None or followed.done or followed.record.status in c.TERMINAL_STATUSES:
            return  # a terminal state is final: an older read never replaces it
        if record.status in c.TERMINAL_STATUSES or record.updated_at >= followed.record.updated_at:
            followed.record = record
            self._touch(record.task_id)

    def event(self, event: ServerEvent) -> None:
        if len(self.events) >= MAX_PENDING_EVENTS and event not in self.events:
            self.overflowed = True  # a client that stopped reading: end the stream (it re-listens)
        else:
            self.events[event] = None
        self.wake.set()

    def _touch(self, task_id: str) -> None:
        self.dirty.add(task_id)
        self.wake.set()

    @property
    def open_tasks(self) -> list[str]:
        return [task_id for task_id, followed in self.followed.items() if not followed.done]


class TaskFeed:
    """The engine's TaskListener for listen streams (only what open streams follow; never blocks)."""

    def __init__(self) -> None:
        self._streams: dict[str, set[_Stream]] = {}

    def follow(self, stream: _Stream) -> None:
        for task_id in stream.followed:
            self._streams.setdefault(task_id, set()).add(stream)

    def unfollow(self, stream: _Stream) -> None:
        for task_id in stream.followed:
            streams = self._streams.get(task_id)
            if streams is not None:
                streams.discard(stream)
                if not streams:
                    del self._streams[task_id]

    @property
    def following(self) -> int:
        return len(self._streams)

    def progressed(self, task_id: str, progress: float, total: float | None, message: str | None) -> None:
        for stream in self._streams.get(task_id, ()):
            stream.progressed(task_id, (progress, total, message))

    def status_changed(self, record: TaskRecord) -> None:
        for stream in self._streams.get(record.task_id, ()):
            stream.changed(record)

    ended = status_changed


def requested_task_ids(value: Any) -> list[str]:
    """`notifications.taskIds` checked: a list of 1..MAX_TASK_IDS task ids (duplicates count once)."""
    field = "notifications.taskIds"
    if not isinstance(value, list):
        raise MCPError(code=INVALID_PARAMS, message=f"{field}: expected a list of task id strings")
    for index, task_id in enumerate(value):
        if not isinstance(task_id, str) or not 1 <= len(task_id) <= 256:
            raise MCPError(code=INVALID_PARAMS, message=f"{field}[{index}]: expected a task id (1..256 characters)")
    unique = list(dict.fromkeys(value))
    if len(unique) > MAX_TASK_IDS:
        message = f"{field}: expected at most {MAX_TASK_IDS} task ids per stream, got {len(unique)}"
        raise MCPError(code=INVALID_PARAMS, message=message)
    return unique


class TaskListen:
    """The `subscriptions/listen` handler: task ids here, everything else to the SDK's handler."""

    def __init__(self, tasks: TaskService, bus: SubscriptionBus, standard: Any) -> None:
        self.tasks = tasks
        self.bus = bus
        self.standard = standard
        self.feed = TaskFeed()
        self.streams = 0

    async def __call__(self, ctx: Ctx, params: ListenParams) -> Any:
        extra = params.notifications.model_extra or {}
        if "taskIds" not in extra or not is_modern(ctx):
            return await self.standard(ctx, params)
        if not declares_tasks_extension(ctx):
            raise tasks_2026.missing_extension(f"{METHOD} with notifications.taskIds")
        task_ids = requested_task_ids(extra["taskIds"])
        caller = requester()
        if ctx.request_id is None:
            raise MCPError(code=INVALID_REQUEST, message=f"{METHOD} requires a request id")
        if self.streams >= MAX_STREAMS:
            raise MCPError(code=INTERNAL_ERROR, message="Subscription limit reached")
        records: dict[str, TaskRecord] = {}
        for task_id in task_ids:  # someone else's task reads as None, like a missing one
            record = await self.tasks.find(caller, task_id)
            if record is not None:
                records[task_id] = record
        self.streams += 1
        try:
            return await self._serve(ctx, caller, params.notifications, _Stream(records))
        finally:
            self.streams -= 1

    async def _serve(self, ctx: Ctx, caller: Caller, requested: Filter, stream: _Stream) -> Any:
        subscription_id = ctx.request_id
        assert subscription_id is not None
        meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: subscription_id}
        standard = honored_standard_kinds(requested)
        uris = frozenset(standard.resource_subscriptions or ())
        wants_standard = any(standard.model_dump(exclude_none=True).values())
        honoured = Filter.model_validate(
            {**standard.model_dump(by_alias=True, exclude_none=True), "taskIds": list(stream.followed)}
        )

        def deliver(event: ServerEvent) -> None:
            if event_matches(standard, uris, event):
                stream.event(event)

        # Followed before the ack so nothing that happens meanwhile is missed; the ack is still first.
        unsubscribe = self.bus.subscribe(deliver) if wants_standard else (lambda: None)
        self.feed.follow(stream)
        logger.info("task listen stream opened", extra={"tasks": len(stream.followed), "standard": wants_standard})
        try:
            ack = types.SubscriptionsAcknowledgedNotificationParams(notifications=honoured, _meta=meta)
            await _write(ctx, meta, types.SubscriptionsAcknowledgedNotification(params=ack))
            await self._pump(ctx, caller, stream, meta, wants_standard)
        finally:
            self.feed.unfollow(stream)
            unsubscribe()
        return types.SubscriptionsListenResult(_meta=meta)

    async def _pump(self, ctx: Ctx, caller: Caller, stream: _Stream, meta: dict[str, Any], forever: bool) -> None:
        """Write frames until every followed task ended (unless standard kinds keep the stream open)."""
        settings = self.tasks.settings
        poll_every = settings.poll_interval_ms / 1000
        next_poll = time.monotonic() + poll_every
        while True:
            stream.wake = anyio.Event()
            for event in list(stream.events):
                del stream.events[event]
                await _write(ctx, meta, event_to_notification(event, meta))
            next_due = await self._send_due(ctx, stream, meta, settings.notify_min_interval_seconds)
            if stream.overflowed or (not forever and not stream.open_tasks):
                return
            now = time.monotonic()
            if now >= next_poll:
                await self._poll(caller, stream)
                next_poll = time.monotonic() + poll_every if stream.open_tasks else math.inf
                continue
            with anyio.move_on_after(min(next_poll, next_due) - now):
                await stream.wake.wait()

    async def _poll(self, caller: Caller, stream: _Stream) -> None:
        """Read every open followed task from the store: changes made by any process reach the stream."""
        for task_id in stream.open_tasks:
            try:
                record = await self.tasks.find(caller, task_id)
            except Exception:  # a transient store error: the next poll reads it again
                logger.exception("reading a followed task failed; will read it again")
                continue
            if record is None:  # expired (or removed) while followed: nothing more to send for it
                stream.followed[task_id].done = True
            else:
                stream.changed(record)

    async def _send_due(self, ctx: Ctx, stream: _Stream, meta: dict[str, Any], min_interval: float) -> float:
        """Send the changed tasks' frames that are due; return when the next held one is (monotonic)."""
        next_due = math.inf
        for task_id in list(stream.dirty):
            followed = stream.followed[task_id]
            if followed.done:
                stream.dirty.discard(task_id)
                continue
            frame = self.detailed(task_id, followed)
            said = _news(frame)
            now = time.monotonic()
            if said != followed.sent and frame["status"] == followed.sent_status:
                due = followed.sent_at + min_interval  # progress only: coalesced
                if now < due:
                    next_due = min(next_due, due)
                    continue
            stream.dirty.discard(task_id)
            if said == followed.sent:
                continue
            frame["_meta"] = {**frame.get("_meta", {}), ATTEMPT_META: followed.record.attempts, **meta}
            await _write(ctx, meta, Notification[dict[str, Any], str](method=TASKS_NOTIFICATION, params=frame))
            followed.sent, followed.sent_status, followed.sent_at = said, frame["status"], now
            followed.done = frame["status"] in c.TERMINAL_STATUSES
        return next_due

    def detailed(self, task_id: str, followed: _Followed) -> dict[str, Any]:
        """The DetailedTask now: the record, with this process's in-memory progress when that is newer."""
        record, live = followed.record, followed.live
        if live is not None and (self.tasks.worker.is_running(task_id) or followed.live_at >= record.updated_at):
            record = replace(record, updated_at=max(record.updated_at, followed.live_at))
        else:
            live = None
        return tasks_2026.get(record, self.tasks.settings.poll_interval_ms, live)


def _news(frame: dict[str, Any]) -> tuple[Any, ...]:
    """What a frame says, lastUpdatedAt aside: a lease renewal (or the store catching up) is no news."""
    return (frame["status"], frame.get("statusMessage"), str(frame.get("_meta")), *frame.get("inputRequests", ()))


async def _write(ctx: Ctx, meta: dict[str, Any], notification: Any) -> None:
    """One frame on the listen request's own stream (a client that is gone: the handler is cancelled)."""
    await ctx.session.send_notification(notification, related_request_id=meta[SUBSCRIPTION_ID_META_KEY])


def serve_task_listen(server: MCPServer[Any], tasks: TaskService, bus: SubscriptionBus) -> TaskListen:
    """Serve `subscriptions/listen` with TaskListen in front of the SDK's handler (the server's bus: `bus`)."""
    # mcp 2.3.0 has no public accessor for replacing a request handler of an MCPServer.
    lowlevel = server._lowlevel_server
    entry = lowlevel.get_request_handler(METHOD)
    if entry is None:
        raise RuntimeError(f"the server does not serve {METHOD} (built with subscriptions=False)")
    handler = TaskListen(tasks, bus, entry.handler)
    tasks.outcomes.listeners.append(handler.feed)
    lowlevel.add_request_handler(METHOD, ListenParams, handler)
    return handler
