"""SQLite task store: the embedded default for local runs and tests.

WAL lets readers (tasks/get) proceed while a writer commits. synchronous=NORMAL keeps
every committed transaction across a process crash (kill -9), which is the failure
this store exists for; only an OS crash can lose the last commits.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mcp_server import constants as c
from mcp_server.store.base import LeaseLost, NewTask, Progress, TaskRecord, TaskStore, require_terminal
from mcp_server.store.quotas import Quota, result_size
from mcp_server.store.sqlite_quotas import SCHEMA as QUOTA_SCHEMA
from mcp_server.store.sqlite_quotas import charge_result, check_create
from mcp_server.store.sqlite_schema import ADDED_COLUMNS, RENEW, RENEW_WITH_PROGRESS, SCHEMA, row_to_record


class SqliteTaskStore(TaskStore):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the engine's worker threads, serialised by a lock:
        # SQLite allows one writer at a time anyway.
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)
            self._conn.executescript(QUOTA_SCHEMA)
            # Files written before a column existed get it added (local stores outlive upgrades).
            present = {row[1] for row in self._conn.execute("PRAGMA table_info(tasks)")}
            for column in ADDED_COLUMNS:
                if column not in present:
                    try:
                        self._conn.execute(f"ALTER TABLE tasks ADD COLUMN {column} TEXT")
                    except sqlite3.OperationalError as exc:  # another process opening the file added it first
                        if "duplicate column" not in str(exc):
                            raise
        # A second connection for point reads: under WAL it never waits for the writer, so
        # tasks/get stays fast while hundreds of tasks record progress.
        self._reader = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._reader.row_factory = sqlite3.Row
        self._read_lock = threading.Lock()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction that holds the file's write lock from its first statement."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @property
    def reads_inline(self) -> bool:
        return True

    def _fetch(self, task_id: str) -> TaskRecord | None:
        row = self._conn.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return row_to_record(row) if row else None

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

    def heartbeat(
        self,
        task_id: str,
        worker_id: str,
        now: float,
        lease_seconds: float,
        progress: Progress | None = None,
    ) -> None:
        if self.heartbeat_many(worker_id, now, lease_seconds, [(task_id, progress)]):
            raise LeaseLost

    def heartbeat_many(
        self, worker_id: str, now: float, lease_seconds: float, items: Sequence[tuple[str, Progress | None]]
    ) -> list[str]:
        renew = [(now + lease_seconds, now, int(now), task_id, worker_id) for task_id, p in items if p is None]
        with_progress = [
            (now + lease_seconds, now, int(now), p[0], p[1], p[2], task_id, worker_id)
            for task_id, p in items
            if p is not None
        ]
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
                lost: list[str] = []
                if updated != len(items):  # rare: some leases were lost; find which
                    ids = [task_id for task_id, _ in items]
                    owned: set[str] = set()
                    for i in range(0, len(ids), 500):
                        chunk = ids[i : i + 500]
                        placeholders = ",".join("?" * len(chunk))  # values are bound, never interpolated
                        query = f"SELECT task_id FROM tasks WHERE status = 'working' AND lease_owner = ? AND task_id IN ({placeholders})"  # noqa: S608, E501
                        owned.update(row[0] for row in self._conn.execute(query, (worker_id, *chunk)))
                    lost = [task_id for task_id in ids if task_id not in owned]
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return lost

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
    ) -> TaskRecord:
        require_terminal(status)
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
                " status_message = COALESCE(?, status_message),"
                " updated_at = ?, expires_at = ? + ttl_seconds, lease_owner = NULL, lease_expires_at = NULL,"
                " completions = completions + 1, publish_due_at = ?"
                " WHERE task_id = ? AND status = 'working' AND lease_owner = ?",
                (
                    status,
                    json.dumps(result) if result is not None else None,
                    json.dumps(error) if error is not None else None,
                    message,
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

    def expired_leases(self, now: float, limit: int = 25) -> list[TaskRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM tasks WHERE status = 'working' AND lease_expires_at < ?"
                " ORDER BY lease_expires_at LIMIT ?",
                (now, limit),
            ).fetchall()
        return [row_to_record(r) for r in rows]

    def take_over(self, task_id: str, stale_worker: str, new_worker: str, now: float, lease_seconds: float) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                # The lost worker's open question goes with it: a re-run asks again if it must.
                "UPDATE tasks SET lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1,"
                " updated_at = ?, input_requests = NULL, input_responses = NULL"
                " WHERE task_id = ? AND status = 'working' AND lease_owner = ? AND lease_expires_at < ?",
                (new_worker, now + lease_seconds, now, task_id, stale_worker, now),
            )
        return cursor.rowcount == 1

    def unpublished(self, now: float, limit: int = 25) -> list[TaskRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM tasks WHERE publish_due_at IS NOT NULL AND publish_due_at < ?"
                " ORDER BY publish_due_at LIMIT ?",
                (now, limit),
            ).fetchall()
        return [row_to_record(r) for r in rows]

    def claim_publish(self, task_id: str, now: float, until: float) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE tasks SET publish_due_at = ? WHERE task_id = ? AND publish_due_at < ?",
                (until, task_id, now),
            )
        return cursor.rowcount == 1

    def mark_published(self, task_id: str) -> None:
        with self._lock:
            self._conn.execute("UPDATE tasks SET publish_due_at = NULL WHERE task_id = ?", (task_id,))

    def purge_expired(self, now: float) -> int:
        with self._lock:
            self._conn.execute("DELETE FROM request_keys WHERE expires_at < ?", (int(now),))
            cursor = self._conn.execute("DELETE FROM tasks WHERE expires_at < ?", (int(now),))
        return cursor.rowcount

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._conn.close()
            self._reader.close()
