"""The SQLite store's connections, transactions and schema upgrades: what its transitions and queries share.

WAL lets readers (tasks/get) proceed while a writer commits. synchronous=NORMAL keeps every
committed transaction across a process crash (kill -9), which is the failure this store exists
for; only an OS crash can lose the last commits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcp_server.store.base import TaskRecord
from mcp_server.store.sqlite_quotas import SCHEMA as QUOTA_SCHEMA
from mcp_server.store.sqlite_schema import ADDED_COLUMNS, ADDED_INDEXES, SCHEMA, row_to_record


class SqliteAccess:
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
            for column, kind in ADDED_COLUMNS.items():
                if column not in present:
                    try:
                        self._conn.execute(f"ALTER TABLE tasks ADD COLUMN {column} {kind}")
                    except sqlite3.OperationalError as exc:  # another process opening the file added it first
                        if "duplicate column" not in str(exc):
                            raise
            for statement in ADDED_INDEXES:
                self._conn.execute(statement)
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

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._conn.close()
            self._reader.close()
