"""SQLite task store: the embedded default for local runs and tests.

WAL lets readers (tasks/get) proceed while a writer commits. synchronous=NORMAL keeps
every committed transaction across a process crash (kill -9), which is the failure
this store exists for; only an OS crash can lose the last commits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mcp_server import constants as c
from mcp_server.store.base import (
    Beat,
    LeaseLost,
    NewTask,
    Progress,
    Renewal,
    TaskRecord,
    TaskStore,
    beat_parts,
    final_progress,
    require_terminal,
)
from mcp_server.store.quotas import Quota, result_size
from mcp_server.store.sqlite_quotas import charge_result, check_create
from mcp_server.store.sqlite_recovery import SqliteRecovery
from mcp_server.store.sqlite_schema import HELD, RENEW, RENEW_WITH_PROGRESS, SAVE_CHECKPOINT, row_to_record


class SqliteTaskStore(SqliteRecovery, TaskStore):
    """The task store on SQLite: transitions here, recovery queries in sqlite_recovery.py."""

    def create(
        self, new: NewTask, now: float, lease_seconds: float, quota: Quota | None = None
    ) -> tuple[TaskRecord, bool]:
        expires = int(now + new.ttl_seconds)
        with self._transaction():
            if new.request_key is not None:
                row = self._conn.execute(
                    "SELECT task_id FROM request_keys WHERE owner = ? AND request_key = ? AND expires_at >= ?",
                    (new.owner, new.request_key, int(now)),
                ).fetchone()
                if row is not None:
                    existing = self._fetch(row["task_id"])
                    if existing is not None:
                        return existing, False
                self._conn.execute(
                    "INSERT OR REPLACE INTO request_keys VALUES (?, ?, ?, ?)",
                    (new.owner, new.request_key, new.task_id, expires),
                )
            if quota is not None:
                check_create(self._conn, new.owner, now, quota)
            self._conn.execute(
                "INSERT INTO tasks (task_id, owner, session_id, memory_id, tool, arguments, status,"
                " created_at, updated_at, ttl_seconds, expires_at, lease_owner, lease_expires_at,"
                " resumable, request_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    new.task_id,
                    new.owner,
                    new.session_id,
                    new.memory_id,
                    new.tool,
                    json.dumps(new.arguments),
                    c.STATUS_WORKING,
                    now,
                    now,
                    new.ttl_seconds,
                    expires,
                    new.worker_id,
                    now + lease_seconds,
                    int(new.resumable),
                    new.request_key,
                ),
            )
            record = self._fetch(new.task_id)
        assert record is not None
        return record, True

    def get(self, task_id: str, owner: str, now: float) -> TaskRecord | None:
        with self._read_lock:
            row = self._reader.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        record = row_to_record(row) if row else None
        if record is None or record.owner != owner or record.expires_at < now:
            return None
        return record

    def list_by_owner(self, owner: str, now: float, limit: int = 50) -> list[TaskRecord]:
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT * FROM tasks WHERE owner = ? AND expires_at >= ? ORDER BY created_at DESC LIMIT ?",
                (owner, int(now), limit),
            ).fetchall()
        return [row_to_record(r) for r in rows]

    def renew(self, worker_id: str, now: float, lease_seconds: float, items: Sequence[Beat]) -> Renewal:
        beats = [beat_parts(beat) for beat in items]
        renew = [(now + lease_seconds, now, int(now), task_id, worker_id) for task_id, p, _ in beats if p is None]
        with_progress = [
            (now + lease_seconds, now, int(now), p[0], p[1], p[2], task_id, worker_id)
            for task_id, p, _ in beats
            if p is not None
        ]
        checkpoints = [(cp, task_id, worker_id) for task_id, _, cp in beats if cp is not None]
        ids = [task_id for task_id, _, _ in beats]
        with self._lock:
            # One transaction (one WAL commit) for the whole flush, and one executemany per
            # statement: the loop runs in C, so the event loop is not starved of the GIL
            # while hundreds of tasks are renewed.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                updated = 0
                if renew:
                    updated += self._conn.executemany(RENEW, renew).rowcount
                if with_progress:
                    updated += self._conn.executemany(RENEW_WITH_PROGRESS, with_progress).rowcount
                if checkpoints:  # the same transaction: one commit
                    self._conn.executemany(SAVE_CHECKPOINT, checkpoints)
                lost: list[str] = []
                followed: dict[str, float] = {}
                for i in range(0, len(ids), 500):
                    chunk = ids[i : i + 500]
                    placeholders = ",".join("?" * len(chunk))  # values are bound, never interpolated
                    if updated != len(items):  # rare: some leases were lost; find which
                        query = f"SELECT task_id FROM tasks WHERE {HELD} AND task_id IN ({placeholders})"  # noqa: S608
                        owned = {row[0] for row in self._conn.execute(query, (worker_id, *chunk))}
                        lost += [task_id for task_id in chunk if task_id not in owned]
                    query = f"SELECT task_id, followed_until FROM tasks WHERE followed_until > ? AND task_id IN ({placeholders})"  # noqa: S608, E501
                    followed.update((row[0], row[1]) for row in self._conn.execute(query, (now, *chunk)))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return Renewal(lost, {task_id: until for task_id, until in followed.items() if task_id not in lost})

    def follow(self, task_id: str, follower: str, now: float, until: float, *, extend: bool = False) -> bool:
        # One statement for both: a follow running for this worker keeps its start; any other begins now.
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE tasks SET"
                " follow_since = CASE WHEN follower IS ? AND followed_until >= ? THEN follow_since ELSE ? END,"
                " follower = ?, followed_until = ?"
                " WHERE task_id = ? AND status = 'working' AND lease_owner = ?"
                " AND NOT (follower IS ? AND followed_until >= ?)",
                (follower, now, now, follower, until, task_id, follower, follower, (now + until) / 2),
            )
        return cursor.rowcount == 1

    def follows_since(self, worker_id: str, since: float) -> dict[str, float]:
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT task_id, follow_since FROM tasks WHERE follower = ? AND follow_since >= ?"
                " AND status = 'working' AND lease_owner = ?",
                (worker_id, since, worker_id),
            ).fetchall()
        return {row[0]: row[1] for row in rows}

    def finish(
        self,
        task_id: str,
        worker_id: str,
        status: str,
        now: float,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        message: str | None = None,
        publish_after: float,
        quota: Quota | None = None,
        progress: Progress | None = None,
    ) -> TaskRecord:
        require_terminal(status)
        final = final_progress(message, progress)
        with self._transaction():
            if quota is not None and result is not None:
                row = self._conn.execute(
                    "SELECT owner FROM tasks WHERE task_id = ? AND status = 'working' AND lease_owner = ?",
                    (task_id, worker_id),
                ).fetchone()
                if row is None:
                    raise LeaseLost
                charge_result(self._conn, row["owner"], now, result_size(result), quota)
            cursor = self._conn.execute(
                "UPDATE tasks SET status = ?, result = ?, error = ?,"
                " status_message = CASE WHEN ? THEN ? ELSE status_message END,"
                " progress = COALESCE(?, progress), total = COALESCE(?, total),"
                " updated_at = ?, expires_at = ? + ttl_seconds, lease_owner = NULL, lease_expires_at = NULL,"
                " completions = completions + 1, publish_due_at = ?"
                " WHERE task_id = ? AND status = 'working' AND lease_owner = ?",
                (
                    status,
                    json.dumps(result) if result is not None else None,
                    json.dumps(error) if error is not None else None,
                    final.replace_message,
                    final.message,
                    final.progress,
                    final.total,
                    now,
                    int(now),
                    publish_after,
                    task_id,
                    worker_id,
                ),
            )
            if cursor.rowcount != 1:
                raise LeaseLost
            record = self._fetch(task_id)
        assert record is not None
        return record

    def request_input(self, task_id: str, worker_id: str, now: float, requests: dict[str, Any]) -> TaskRecord:
        return self._set_input(task_id, worker_id, now, json.dumps(requests), "{}")

    def clear_input(self, task_id: str, worker_id: str, now: float) -> TaskRecord:
        return self._set_input(task_id, worker_id, now, None, None)

    def _set_input(
        self, task_id: str, worker_id: str, now: float, requests: str | None, responses: str | None
    ) -> TaskRecord:
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE tasks SET input_requests = ?, input_responses = ?, updated_at = ?"
                " WHERE task_id = ? AND status = 'working' AND lease_owner = ?",
                (requests, responses, now, task_id, worker_id),
            )
            if cursor.rowcount != 1:
                raise LeaseLost
            record = self._fetch(task_id)
        assert record is not None
        return record

    def provide_input(self, task_id: str, owner: str, now: float, responses: dict[str, Any]) -> TaskRecord | None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                record = self._fetch(task_id)
                if record is None or record.owner != owner or record.expires_at < now:
                    self._conn.execute("COMMIT")
                    return None
                pending = record.pending_input
                if not responses or any(key not in pending for key in responses):
                    self._conn.execute("COMMIT")
                    return None
                merged = {**(record.input_responses or {}), **responses}
                self._conn.execute(
                    "UPDATE tasks SET input_responses = ?, updated_at = ? WHERE task_id = ?",
                    (json.dumps(merged), now, task_id),
                )
                updated = self._fetch(task_id)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return updated

    def cancel(self, task_id: str, owner: str, now: float, message: str, *, publish_after: float) -> TaskRecord | None:
        with self._lock:
            self._conn.execute(
                "UPDATE tasks SET status = 'cancelled', status_message = ?, updated_at = ?,"
                " expires_at = ? + ttl_seconds, lease_owner = NULL, lease_expires_at = NULL,"
                " completions = completions + 1, publish_due_at = ?"
                " WHERE task_id = ? AND owner = ? AND status = 'working' AND expires_at >= ?",
                (message, now, int(now), publish_after, task_id, owner, int(now)),
            )
            record = self._fetch(task_id)
        if record is None or record.owner != owner or record.expires_at < now:
            return None
        return record
