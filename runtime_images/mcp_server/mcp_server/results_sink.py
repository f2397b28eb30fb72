"""Where a finished task's outcome is written so the agent sees it in a later session.

The event is one conversational message in the shape Strands'
AgentCoreMemorySessionManager restores (a JSON-encoded SessionMessage), for the
caller's actor and session. Its clientToken is derived from the task id, so a
retried write is deduplicated by AgentCore Memory (and by the SQLite sink locally).
"""

from __future__ import annotations

import abc
import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp_server.store.base import TaskRecord

# Outer role of the event; the inner SessionMessage role is its lower-case twin.
EVENT_ROLE = "USER"


@dataclass(frozen=True)
class ResultEvent:
    memory_id: str
    actor_id: str
    session_id: str
    client_token: str
    timestamp: datetime
    text: str
    metadata: dict[str, str]


def _summary(record: TaskRecord) -> str:
    if record.status == "completed":
        body = json.dumps(record.result.get("structuredContent") or record.result) if record.result else "{}"
        outcome = f"completed. Result: {body}"
    elif record.status == "failed":
        outcome = f"failed: {(record.error or {}).get('message', record.status_message or 'unknown error')}"
    else:
        outcome = f"was cancelled: {record.status_message or 'no reason given'}"
    return f"[background task {record.task_id}] The {record.tool} task started earlier {outcome}"


def result_event(record: TaskRecord, memory_id: str) -> ResultEvent:
    """The conversation event recording `record`'s terminal state."""
    return _event(record, memory_id, record.updated_at, _summary(record), "terminal", record.status)


def question_event(record: TaskRecord, memory_id: str, key: str, message: str, at: float) -> ResultEvent:
    """The conversation event telling a returning user that the task waits for their answer."""
    text = (
        f"[background task {record.task_id}] The {record.tool} task is waiting for your answer: {message} "
        "(check_task_status shows the question; answer_task answers it)"
    )
    return _event(record, memory_id, at, text, f"input-{key}", "input_required")


def _event(record: TaskRecord, memory_id: str, at: float, summary: str, token: str, status: str) -> ResultEvent:
    when = datetime.fromtimestamp(at, tz=UTC)
    text = summary[:90_000]  # conversational payloads are capped at 100k characters
    session_message = {
        "message": {"role": EVENT_ROLE.lower(), "content": [{"text": text}]},
        # Derived from the event's time so restored histories keep a stable order.
        "message_id": int(at * 1000),
        "redact_message": None,
        "created_at": when.isoformat(),
        "updated_at": when.isoformat(),
    }
    return ResultEvent(
        memory_id=memory_id,
        actor_id=record.owner,
        session_id=record.session_id,
        client_token=f"{record.task_id}-{token}",
        timestamp=when,
        text=json.dumps(session_message),
        metadata={"task_id": record.task_id, "task_status": status, "tool": record.tool},
    )


class ResultSink(abc.ABC):
    @abc.abstractmethod
    def write(self, event: ResultEvent) -> None:
        """Write the event; writing the same client token twice leaves one event."""


class NullSink(ResultSink):
    def write(self, event: ResultEvent) -> None:
        return None


class AgentCoreMemorySink(ResultSink):
    def __init__(self, region: str | None = None, client: Any = None) -> None:
        import boto3

        self._client = client or boto3.client("bedrock-agentcore", region_name=region)

    def write(self, event: ResultEvent) -> None:
        self._client.create_event(
            memoryId=event.memory_id,
            actorId=event.actor_id,
            sessionId=event.session_id,
            eventTimestamp=event.timestamp,
            payload=[{"conversational": {"content": {"text": event.text}, "role": EVENT_ROLE}}],
            clientToken=event.client_token,
            metadata={k: {"stringValue": v} for k, v in event.metadata.items()},
        )


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

    def write(self, event: ResultEvent) -> None:
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
