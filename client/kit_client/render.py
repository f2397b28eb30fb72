"""Printing the agent's events: the answer on stdout, tools and task progress on stderr."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from kit_client.state import TERMINAL, Conversation

BAR_WIDTH = 24


def progress_line(task: dict[str, Any]) -> str:
    status = task.get("status", "?")
    progress, total = task.get("progress"), task.get("total")
    if isinstance(progress, int | float) and isinstance(total, int | float) and total > 0:
        filled = int(BAR_WIDTH * min(progress / total, 1))
        meter = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {100 * progress / total:5.1f}%"
    else:
        meter = "[" + ("#" * BAR_WIDTH if status in TERMINAL else "." * BAR_WIDTH) + "]"
    note = f" {task['status_message']}" if task.get("status_message") else ""
    return f"{task.get('task_id', '?')[:36]:36} {task.get('tool', ''):16} {status:10} {meter}{note}"


def remember(conversation: Conversation, task: dict[str, Any]) -> None:
    if task.get("task_id") and task.get("status") != "unknown":
        conversation.tasks.setdefault(task["task_id"], {}).update(task)


def stream(events: Any, conversation: Conversation, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Print the events as they arrive; returns the exit code (1 if the agent reported an error)."""
    code = 0
    for event in events:
        kind = event.get("type")
        if kind == "text":
            out.write(event["text"])
            out.flush()
        elif kind == "tool_start":
            err.write(f"\n  -> {event['tool']} ...\n")
        elif kind == "tool_end" and event.get("status") == "error":
            err.write(f"  !! {event['tool']} failed: {event.get('error', '')}\n")
        elif kind == "task":
            remember(conversation, event)
            err.write(f"  {progress_line(event)}\n")
        elif kind == "warning":
            err.write(f"warning: {event['message']}\n")
        elif kind == "error":
            err.write(f"error: {event['error']}\n")
            code = 1
    out.write("\n")
    return code
