"""Where a finished task's outcome is written so the agent sees it in a later session.

The event is one conversational message (kit_contracts.memory_events, the shape Strands'
AgentCoreMemorySessionManager restores) for the caller's actor and session. Its
clientToken is derived from the task id, so a retried write is deduplicated by AgentCore
Memory (and by the SQLite sink locally).
"""

from __future__ import annotations

import abc
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from kit_contracts.memory_events import (
    EVENT_ROLE,
    META_TASK_ID,
    META_TASK_STATUS,
    META_TOOL,
    MemoryEvent,
    memory_event,
)
from mcp_server.aws_clients import LazyClient
from mcp_server.store.base import TaskRecord


def _summary(record: TaskRecord) -> str:
    if record.tool_error:
        texts = [part.get("text", "") for part in (record.result or {}).get("content", []) if isinstance(part, dict)]
        outcome = f"ended with an error: {' '.join(t for t in texts if t) or record.status_message or 'no details'}"
    elif record.status == "completed":
        body = json.dumps(record.result.get("structuredContent") or record.result) if record.result else "{}"
        outcome = f"completed. Result: {body}"
    elif record.status == "failed":
        outcome = f"failed: {(record.error or {}).get('message', record.status_message or 'unknown error')}"
    else:
        outcome = f"was cancelled: {record.status_message or 'no reason given'}"
    return f"[background task {record.task_id}] The {record.tool} task started earlier {outcome}"


def result_event(record: TaskRecord, memory_id: str) -> MemoryEvent:
    """The conversation event recording `record`'s terminal state."""
    return _event(record, memory_id, record.updated_at, _summary(record), "terminal", record.status)


def question_event(record: TaskRecord, memory_id: str, key: str, message: str, at: float) -> MemoryEvent:
    """The conversation event telling a returning user that the task waits for their answer."""
    text = (
        f"[background task {record.task_id}] The {record.tool} task is waiting for your answer: {message} "
        "(check_task_status shows the question; answer_task answers it)"
    )
    return _event(record, memory_id, at, text, f"input-{key}", "input_required")


def _event(record: TaskRecord, memory_id: str, at: float, summary: str, token: str, status: str) -> MemoryEvent:
    return memory_event(
        memory_id=memory_id,
        actor_id=record.owner,
        session_id=record.session_id,
        client_token=f"{record.task_id}-{token}",
        text=summary,
        metadata={META_TASK_ID: record.task_id, META_TASK_STATUS: status, META_TOOL: record.tool},
        at=at,
    )


class ResultSink(abc.ABC):
    @abc.abstractmethod
    def write(self, event: MemoryEvent) -> None:
        """Write the event; writing the same client token twice leaves one event."""


class NullSink(ResultSink):
    def write(self, event: MemoryEvent) -> None:
        return None


class AgentCoreMemorySink(ResultSink):
    def __init__(self, region: str | None = None, client: Any = None) -> None:
        self._client = LazyClient("bedrock-agentcore", region, client)

    def write(self, event: MemoryEvent) -> None:
        self._client().create_event(**event.create_event_request())


class SqliteSink(ResultSink):
    """Local mode: the same events in a SQLite file, deduplicated on the client token."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # Same trade-off as the task store: survives a process crash, not an OS crash.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS events (client_token TEXT PRIMARY KEY, memory_id TEXT,"
                " actor_id TEXT,"
                " session_id TEXT, event_timestamp TEXT, role TEXT, text TEXT, metadata TEXT)"
            )

    def write(self, event: MemoryEvent) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.client_token,
                    event.memory_id,
                    event.actor_id,
                    event.session_id,
                    event.timestamp.isoformat(),
                    EVENT_ROLE,
                    event.text,
                    json.dumps(event.metadata),
                ),
            )

    def events(self, actor_id: str, session_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT client_token, text, metadata FROM events WHERE actor_id = ? AND session_id = ?"
                " ORDER BY event_timestamp",
                (actor_id, session_id),
            ).fetchall()
        return [{"clientToken": t, "text": x, "metadata": json.loads(m)} for t, x, m in rows]
