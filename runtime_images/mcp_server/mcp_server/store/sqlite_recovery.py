"""The SQLite store's recovery side: expired leases, take-over and hand-over, overdue publications, purge."""

from __future__ import annotations

from mcp_server.store.base import Progress, TaskRecord
from mcp_server.store.sqlite_access import SqliteAccess
from mcp_server.store.sqlite_schema import row_to_record


class SqliteRecovery(SqliteAccess):
    def expired_leases(self, now: float, limit: int = 25) -> list[TaskRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM tasks WHERE status = 'working' AND lease_expires_at < ?"
                " ORDER BY lease_expires_at LIMIT ?",
                (now, limit),
            ).fetchall()
        return [row_to_record(r) for r in rows]

    def take_over(
        self,
        task_id: str,
        stale_worker: str,
        new_worker: str,
        now: float,
        lease_seconds: float,
        *,
        count_attempt: bool = True,
    ) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                # The lost worker's open question goes with it: a re-run asks again if it must.
                "UPDATE tasks SET lease_owner = ?, lease_expires_at = ?, attempts = attempts + ?,"
                " updated_at = ?, input_requests = NULL, input_responses = NULL, handover = 0"
                " WHERE task_id = ? AND status = 'working' AND lease_owner = ? AND lease_expires_at < ?",
                (new_worker, now + lease_seconds, int(count_attempt), now, task_id, stale_worker, now),
            )
        return cursor.rowcount == 1

    def release(
        self,
        task_id: str,
        worker_id: str,
        now: float,
        *,
        until: float | None = None,
        progress: Progress | None = None,
        checkpoint: str | None = None,
    ) -> bool:
        value, total, message = progress if progress is not None else (None, None, None)
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE tasks SET lease_expires_at = ?, handover = 1, updated_at = ?,"
                " progress = COALESCE(?, progress), total = COALESCE(?, total),"
                " status_message = COALESCE(?, status_message), checkpoint = COALESCE(?, checkpoint)"
                " WHERE task_id = ? AND status = 'working' AND lease_owner = ?",
                (until if until is not None else now, now, value, total, message, checkpoint, task_id, worker_id),
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
                "UPDATE tasks SET publish_due_at = ?, publish_attempts = publish_attempts + 1"
                " WHERE task_id = ? AND publish_due_at < ?",
                (until, task_id, now),
            )
        return cursor.rowcount == 1

    def mark_published(self, task_id: str) -> None:
        with self._lock:
            self._conn.execute("UPDATE tasks SET publish_due_at = NULL WHERE task_id = ?", (task_id,))

    def abandon_publish(self, task_id: str) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE tasks SET publish_due_at = NULL, publish_abandoned = 1 WHERE task_id = ?", (task_id,)
            )

    def purge_expired(self, now: float) -> int:
        with self._lock:
            self._conn.execute("DELETE FROM request_keys WHERE expires_at < ?", (int(now),))
            cursor = self._conn.execute("DELETE FROM tasks WHERE expires_at < ?", (int(now),))
        return cursor.rowcount
