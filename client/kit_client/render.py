"""Printing the agent's events and task progress: the answer on stdout, tools and progress on stderr."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any, TextIO

import click

from kit_client.state import TERMINAL, Conversation

BAR_WIDTH = 24
STATUS_WIDTH = len("input_required")
STATUS_COLOURS = {
    "working": "cyan",
    "input_required": "yellow",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def colour_on(stream: TextIO) -> bool:
    """Colours and in-place updates only on a terminal (and never with NO_COLOR set)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def progress_line(task: dict[str, Any], colour: bool = False, width: int | None = None) -> str:
    """`<task id> <tool> <status> [#####.....]  42.0% <message>`; fitted to `width` columns when given.

    A narrow terminal gets the id's first 8 characters and a shorter bar, so the message still shows.
    """
    status = task.get("status") or "?"
    id_width, bar_width = (36, BAR_WIDTH) if width is None or width >= 120 else (8, 12)
    progress, total = task.get("progress"), task.get("total")
    if isinstance(progress, int | float) and isinstance(total, int | float) and total > 0:
        fraction = min(max(progress / total, 0), 1)
        filled = int(bar_width * fraction)
        bar, percent = "#" * filled + "." * (bar_width - filled), f" {100 * fraction:5.1f}%"
    else:
        bar, percent = ("#" * bar_width if status in TERMINAL else "." * bar_width), ""
    head = f"{(task.get('task_id') or '?')[:id_width]:{id_width}} {(task.get('tool') or '')[:16]:16} "
    note = f" {task['status_message']}" if task.get("status_message") else ""
    if width is not None:
        room = width - len(head) - STATUS_WIDTH - 1 - bar_width - 2 - len(percent)
        note = note[: max(room, 0)]
    if not colour:
        return f"{head}{status:{STATUS_WIDTH}} [{bar}]{percent}{note}"
    tint = STATUS_COLOURS.get(status)
    filled_part = bar.rstrip(".")
    return (
        f"{head}{click.style(f'{status:{STATUS_WIDTH}}', fg=tint, bold=status == 'input_required')} "
        f"[{click.style(filled_part, fg=tint)}{click.style(bar[len(filled_part) :], dim=True)}]{percent}"
        f"{click.style(note, dim=True)}"
    )


class Live:
    """Task lines that update in place on a terminal; elsewhere a plain line whenever one changes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = colour_on(self.stream)
        self._drawn = 0
        self._last: dict[str, str] = {}

    def update(self, tasks: list[dict[str, Any]]) -> None:
        if not self.tty:
            for task in tasks:
                line = progress_line(task)
                if self._last.get(task.get("task_id") or "") != line:
                    self._last[task.get("task_id") or ""] = line
                    self.stream.write(line + "\n")
            self.stream.flush()
            return
        width = shutil.get_terminal_size().columns - 1  # a full-width line would wrap and break the redraw
        out = [f"\x1b[{self._drawn}F"] if self._drawn else []  # back to the first line of the block
        out += [f"\x1b[2K{progress_line(task, colour=True, width=width)}\n" for task in tasks]
        out.append("\x1b[J")  # and nothing left below from a longer block
        self.stream.write("".join(out))
        self.stream.flush()
        self._drawn = len(tasks)

    def note(self, text: str) -> None:
        """A message printed below the block; the block is redrawn after it from then on."""
        self.stream.write(text.rstrip("\n") + "\n")
        self.stream.flush()
        self._drawn = 0
        self._last.clear()


def remember(conversation: Conversation, task: dict[str, Any]) -> None:
    if task.get("task_id") and task.get("status") != "unknown":
        conversation.tasks.setdefault(task["task_id"], {}).update(task)


def stream(events: Any, conversation: Conversation, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Print the events as they arrive; returns the exit code (1 if the agent reported an error)."""
    code = 0
    colour = colour_on(err)
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
            err.write(f"  {progress_line(event, colour=colour)}\n")
        elif kind == "warning":
            err.write(f"warning: {event['message']}\n")
        elif kind == "error":
            err.write(f"error: {event['error']}\n")
            code = 1
    out.write("\n")
    return code
