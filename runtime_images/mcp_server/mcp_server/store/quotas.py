"""Per-actor quotas, enforced by the store's own conditional writes so they hold across microVMs.

- running_tasks: working tasks an actor may have at once (checked when a task is created).
- tasks_per_minute: tasks an actor may create per calendar minute (UTC).
- result_bytes_per_day: bytes of results an actor may store per calendar day (UTC), counted when a
  task finishes with a result; a result over the quota fails its task instead, naming the limit.
A refused creation writes nothing (the quota check and the task are one transaction).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

# result_blobs.LARGE_RESULT_META (restated: the store imports nothing of the engine).
LARGE_RESULT_META = "io.agentkit/large-result"

RUNNING = "running_tasks"
PER_MINUTE = "tasks_per_minute"
BYTES_PER_DAY = "result_bytes_per_day"


@dataclass(frozen=True)
class Quota:
    running_tasks: int
    tasks_per_minute: int
    result_bytes_per_day: int


class QuotaExceeded(Exception):
    """Over a quota; nothing was written. Names the limit, the current count and when to retry."""

    def __init__(self, limit: str, maximum: int, current: int, retry_after_seconds: int) -> None:
        self.limit = limit
        self.maximum = maximum
        self.current = current
        self.retry_after_seconds = max(1, retry_after_seconds)
        when = (
            "when one of your running tasks ends"
            if limit == RUNNING
            else f"in {self.retry_after_seconds} s (the window resets)"
        )
        super().__init__(f"quota {limit} exceeded: {current} of {maximum} used; retry {when}")

    def data(self) -> dict[str, Any]:
        """The details a JSON-RPC error carries."""
        return {
            "limit": self.limit,
            "maximum": self.maximum,
            "current": self.current,
            "retryAfterSeconds": self.retry_after_seconds,
        }


# A running-task slot frees when a task ends: suggest a poll interval, not a time.
RUNNING_RETRY_SECONDS = 30


def minute_window(now: float) -> tuple[int, int]:
    """(the minute's start, seconds until the next one)."""
    start = int(now // 60) * 60
    return start, math.ceil(start + 60 - now)


def day_window(now: float) -> tuple[int, int]:
    start = int(now // 86_400) * 86_400
    return start, math.ceil(start + 86_400 - now)


def result_size(result: dict[str, Any] | None) -> int:
    """Bytes a result stores: a large result (a link to the results bucket) counts its real size."""
    large = ((result or {}).get("_meta") or {}).get(LARGE_RESULT_META)
    if isinstance(large, dict) and isinstance(large.get("bytes"), int):
        return int(large["bytes"])
    return 0 if result is None else len(json.dumps(result).encode())
