"""Quota checks for the SQLite store, run inside its write transaction (BEGIN IMMEDIATE holds the file lock)."""

from __future__ import annotations

import sqlite3

from mcp_server.store.quotas import (
    BYTES_PER_DAY,
    PER_MINUTE,
    RUNNING,
    RUNNING_RETRY_SECONDS,
    Quota,
    QuotaExceeded,
    day_window,
    minute_window,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS quota_usage (
    owner TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    result_bytes INTEGER NOT NULL,
    PRIMARY KEY (owner, window_start)
);
"""


def check_create(conn: sqlite3.Connection, owner: str, now: float, quota: Quota) -> None:
    """Raise QuotaExceeded if `owner` may not create a task now."""
    running = conn.execute("SELECT COUNT(*) FROM tasks WHERE owner = ? AND status = 'working'", (owner,)).fetchone()[0]
    if running >= quota.running_tasks:
        raise QuotaExceeded(RUNNING, quota.running_tasks, running, RUNNING_RETRY_SECONDS)
    start, retry = minute_window(now)
    created = conn.execute("SELECT COUNT(*) FROM tasks WHERE owner = ? AND created_at >= ?", (owner, start)).fetchone()[
        0
    ]
    if created >= quota.tasks_per_minute:
        raise QuotaExceeded(PER_MINUTE, quota.tasks_per_minute, created, retry)


def charge_result(conn: sqlite3.Connection, owner: str, now: float, size: int, quota: Quota) -> None:
    """Count `size` result bytes against the owner's day; QuotaExceeded (nothing counted) if over."""
    start, retry = day_window(now)
    row = conn.execute(
        "SELECT result_bytes FROM quota_usage WHERE owner = ? AND window_start = ?", (owner, start)
    ).fetchone()
    used = row[0] if row else 0
    if used + size > quota.result_bytes_per_day:
        raise QuotaExceeded(BYTES_PER_DAY, quota.result_bytes_per_day, used, retry)
    conn.execute(
        "INSERT INTO quota_usage VALUES (?, ?, ?)"
        " ON CONFLICT (owner, window_start) DO UPDATE SET result_bytes = result_bytes + excluded.result_bytes",
        (owner, start, size),
    )
    # Older windows are no longer read.
    conn.execute("DELETE FROM quota_usage WHERE owner = ? AND window_start < ?", (owner, start))
