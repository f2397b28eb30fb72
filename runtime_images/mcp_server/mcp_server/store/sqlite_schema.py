"""The SQLite task store's schema and row mapping (kept apart from its transitions)."""

from __future__ import annotations

import json
import sqlite3

from mcp_server.store.base import TaskRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    session_id TEXT NOT NULL,
    memory_id TEXT,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT,
    progress REAL,
    total REAL,
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ttl_seconds INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires_at REAL,
    attempts INTEGER NOT NULL DEFAULT 1,
    completions INTEGER NOT NULL DEFAULT 0,
    publish_due_at REAL,
    resumable INTEGER NOT NULL DEFAULT 0,
    request_key TEXT,
    input_requests TEXT,
    input_responses TEXT,
    publish_attempts INTEGER NOT NULL DEFAULT 0,
    publish_abandoned INTEGER NOT NULL DEFAULT 0,
    handover INTEGER NOT NULL DEFAULT 0,
    checkpoint TEXT,
    followed_until REAL,
    follower TEXT,
    follow_since REAL
);
CREATE INDEX IF NOT EXISTS tasks_by_owner ON tasks (owner, created_at);
CREATE INDEX IF NOT EXISTS tasks_by_lease ON tasks (lease_expires_at) WHERE status = 'working';
CREATE INDEX IF NOT EXISTS tasks_by_expiry ON tasks (expires_at);
CREATE INDEX IF NOT EXISTS tasks_by_publish ON tasks (publish_due_at) WHERE publish_due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS request_keys (
    owner TEXT NOT NULL,
    request_key TEXT NOT NULL,
    task_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (owner, request_key)
);
"""

# Columns added after the first release of the schema, created on open where missing.
ADDED_COLUMNS = {
    "input_requests": "TEXT",
    "input_responses": "TEXT",
    "publish_attempts": "INTEGER NOT NULL DEFAULT 0",
    "publish_abandoned": "INTEGER NOT NULL DEFAULT 0",
    "handover": "INTEGER NOT NULL DEFAULT 0",
    "checkpoint": "TEXT",
    "followed_until": "REAL",
    "follower": "TEXT",
    "follow_since": "REAL",
}
# Indexes on added columns: created once the columns exist.
ADDED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS tasks_by_follower ON tasks (follower, follow_since) WHERE follower IS NOT NULL",
)

# A lease is held while the task works, this worker owns it, and it was not given up (released for a
# hand-over or a durable sleep): a renewal racing the release must not take it back.
HELD = "status = 'working' AND lease_owner = ? AND handover = 0"
RENEW = (
    "UPDATE tasks SET lease_expires_at = ?, updated_at = ?, expires_at = ? + ttl_seconds"
    " WHERE task_id = ? AND status = 'working' AND lease_owner = ? AND handover = 0"
)
SAVE_CHECKPOINT = (
    "UPDATE tasks SET checkpoint = ? WHERE task_id = ? AND status = 'working' AND lease_owner = ? AND handover = 0"
)
RENEW_WITH_PROGRESS = (
    "UPDATE tasks SET lease_expires_at = ?, updated_at = ?, expires_at = ? + ttl_seconds,"
    " progress = ?, total = ?, status_message = ?"
    " WHERE task_id = ? AND status = 'working' AND lease_owner = ? AND handover = 0"
)


def row_to_record(row: sqlite3.Row) -> TaskRecord:
    return TaskRecord(
        task_id=row["task_id"],
        owner=row["owner"],
        session_id=row["session_id"],
        memory_id=row["memory_id"],
        tool=row["tool"],
        arguments=json.loads(row["arguments"]),
        status=row["status"],
        status_message=row["status_message"],
        progress=row["progress"],
        total=row["total"],
        result=json.loads(row["result"]) if row["result"] else None,
        error=json.loads(row["error"]) if row["error"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        ttl_seconds=row["ttl_seconds"],
        expires_at=row["expires_at"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        attempts=row["attempts"],
        completions=row["completions"],
        publish_due_at=row["publish_due_at"],
        resumable=bool(row["resumable"]),
        request_key=row["request_key"],
        input_requests=json.loads(row["input_requests"]) if row["input_requests"] else None,
        input_responses=json.loads(row["input_responses"]) if row["input_responses"] else None,
        publish_attempts=row["publish_attempts"],
        publish_abandoned=bool(row["publish_abandoned"]),
        handover=bool(row["handover"]),
        checkpoint=json.loads(row["checkpoint"]) if row["checkpoint"] else None,
        followed_until=row["followed_until"],
        follower=row["follower"],
    )
