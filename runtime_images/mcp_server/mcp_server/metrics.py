"""Task engine metrics as CloudWatch embedded metric format (EMF) lines on stdout.

The runtime ships stdout to its log group and CloudWatch extracts the metrics from
lines shaped like this, so the server needs no PutMetricData call, credentials or
network round trip per transition. Names and the one dimension are defined in
kit_contracts.metrics, which the CDK dashboard and alarms chart.

The engine calls these once per store transition that actually happened (a
conditional write that succeeded), so a transition is never counted twice.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TextIO

from kit_contracts import metrics as m


class TaskMetrics:
    def __init__(self, environment: str, stream: TextIO | None = None) -> None:
        self.environment = environment
        self._stream = stream
        self._lock = threading.Lock()

    def started(self, task_id: str, tool: str) -> None:
        self._emit({m.TASKS_STARTED: (1, "Count")}, task_id=task_id, tool=tool)

    def finished(self, task_id: str, tool: str, status: str, duration_seconds: float, tool_error: bool = False) -> None:
        """A terminal transition; `tool_error`: it completed with the tool's error as its result."""
        values = {m.TERMINAL_COUNTERS[status]: (1, "Count"), m.TASK_DURATION: (max(duration_seconds, 0.0), "Seconds")}
        if tool_error:
            values[m.TASK_TOOL_ERRORS] = (1, "Count")
        self._emit(
            values,
            task_id=task_id,
            tool=tool,
            status=status,
        )

    def lost_worker_recovered(self, task_id: str, tool: str) -> None:
        self._emit({m.LOST_WORKER_RECOVERIES: (1, "Count")}, task_id=task_id, tool=tool)

    def fault(self, task_id: str, tool: str, stage: str) -> None:
        """A failure while finishing, publishing or renewing a task ended it (the process kept serving)."""
        self._emit({m.TASK_FAULTS: (1, "Count")}, task_id=task_id, tool=tool, stage=stage)

    def handed_over(self, task_id: str, tool: str) -> None:
        self._emit({m.TASKS_HANDED_OVER: (1, "Count")}, task_id=task_id, tool=tool)

    def publication_abandoned(self, task_id: str, tool: str) -> None:
        self._emit({m.ABANDONED_PUBLICATIONS: (1, "Count")}, task_id=task_id, tool=tool)

    def backlog(self, oldest_expired_lease_age_seconds: float) -> None:
        """How long the oldest lost task has waited for a worker (0: none): the alarm's input."""
        self._emit({m.OLDEST_EXPIRED_LEASE_AGE: (max(oldest_expired_lease_age_seconds, 0.0), "Seconds")})

    def _emit(self, values: dict[str, tuple[float, str]], **properties: str) -> None:
        # task_id/tool/status ride along as plain properties (searchable in Logs
        # Insights) rather than dimensions, which would make a metric per task.
        line = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": m.NAMESPACE,
                        "Dimensions": [[m.DIMENSION]],
                        "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
                    }
                ],
            },
            m.DIMENSION: self.environment,
            **{name: value for name, (value, _) in values.items()},
            **properties,
        }
        text = json.dumps(line) + "\n"
        stream = self._stream or sys.stdout  # looked up late: tests and uvicorn may swap stdout
        with self._lock:
            # One write per line: CloudWatch reads an EMF object only if it is a whole line.
            stream.write(text)
            stream.flush()
