"""Resumable SSE streams (SEP-1699), kept per MCP session, with event ids nobody can guess.

A client whose stream drops resumes it with Last-Event-ID. The SDK shares one event store
among all sessions, and its stream ids are request ids ("1", "2", ...), so a shared store
with counting event ids let any session replay another's events. Here every session gets
a store of its own (`per_session`), and event ids are random: a Last-Event-ID from another
session finds nothing. A stateful session lives in one process (AgentCore pins a session to
its microVM), so memory is the right scope; the bound keeps a slow or vanished client from
growing it, and a session's store goes with the session.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import Any

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage


class SessionEventStore(EventStore):
    def __init__(self, max_events: int = 1_000) -> None:
        self._max = max_events
        self._events: OrderedDict[EventId, tuple[StreamId, JSONRPCMessage | None]] = OrderedDict()

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = secrets.token_urlsafe(16)
        self._events[event_id] = (stream_id, message)
        while len(self._events) > self._max:
            self._events.popitem(last=False)
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        if last_event_id not in self._events:
            return None
        stream_id, _ = self._events[last_event_id]
        after = False
        for event_id, (stream, message) in list(self._events.items()):
            if after and stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
            after = after or event_id == last_event_id
        return stream_id


def per_session(session_manager: Any, max_events: int = 1_000) -> None:
    """Give every session the manager opens its own SessionEventStore.

    The SDK hands each new transport the manager's one store; this wraps the manager's session
    admission (a private hook of mcp 2.3.0, pinned; tests/mcp_server/test_hardening.py fails if
    it changes) so each transport gets its own instead.
    """
    admit = session_manager._admit_session

    def admit_with_own_store(*args: Any, **kwargs: Any) -> Any:
        transport = admit(*args, **kwargs)
        if transport is not None:
            transport._event_store = SessionEventStore(max_events)
        return transport

    session_manager._admit_session = admit_with_own_store
