"""Readable local logs: `... | kit logs NAME` renders the images' JSON lines for a terminal.

    10:40:32.069 INFO  mcp     mcp_server.app  task engine vm-1 using sqlite store  task_id=...
    10:40:35.112 METRIC mcp    TasksCompleted=1 TaskDuration=2.31s  task_id=... tool=...

The images keep writing JSON (CloudWatch Logs queries it by field); this is only how `make local`
shows it. An embedded-metric line (`_aws`) becomes one short METRIC line, or nothing with
--no-metrics; anything that is not a JSON object passes through unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

# Fields every line has (shown in the line's head) or that repeat what the line already says.
_HEAD = ("timestamp", "level", "logger", "message")
_NOISE = frozenset({"color_message", "environment", "Environment"})
_LEVEL_COLOURS = {"DEBUG": "2", "INFO": "32", "WARNING": "33", "ERROR": "31", "CRITICAL": "1;31", "METRIC": "36"}


def _time(stamp: Any) -> str:
    """UTC time of day: from an ISO timestamp (log lines) or epoch milliseconds (metric lines)."""
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return datetime.fromtimestamp(stamp / 1000, tz=UTC).strftime("%H:%M:%S.%f")[:12]
    text = str(stamp or "")
    return text[11:23] if len(text) >= 23 and text[10] == "T" else text


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if (" " in text or not text) and isinstance(value, str) else text


def metric_summary(line: dict[str, Any]) -> str:
    """`Name=value ... k=v`: the metric values and the properties, without the EMF envelope."""
    names: list[str] = []
    units: dict[str, str] = {}
    for block in (line.get("_aws") or {}).get("CloudWatchMetrics") or []:
        for metric in block.get("Metrics") or []:
            names.append(metric["Name"])
            units[metric["Name"]] = metric.get("Unit", "")
    values = []
    for name in names:
        value, unit = line.get(name), units.get(name)
        suffix = "s" if unit == "Seconds" else "ms" if unit == "Milliseconds" else ""
        values.append(f"{name}={value:g}{suffix}" if isinstance(value, int | float) else f"{name}={value}")
    rest = [f"{k}={_value(v)}" for k, v in line.items() if k not in {*names, "_aws"} and k not in _NOISE]
    return " ".join(values + rest)


def render(raw: str, name: str, *, colour: bool = False, metrics: bool = True) -> str | None:
    """One output line for one input line (None: dropped)."""
    text = raw.rstrip("\n")
    try:
        line = json.loads(text)
    except ValueError:
        return text
    if not isinstance(line, dict):
        return text
    if "_aws" in line:
        if not metrics:
            return None
        level, body = "METRIC", metric_summary(line)
    else:
        level = str(line.get("level", "?"))
        shown_apart = {*_HEAD, *_NOISE, "exception"}
        extra = " ".join(f"{k}={_value(v)}" for k, v in line.items() if k not in shown_apart)
        body = f"{line.get('logger', '')}  {line.get('message', '')}" + (f"  {extra}" if extra else "")
        if line.get("exception"):
            # A traceback reads as one, below its line, rather than as an escaped string.
            body += "\n" + "\n".join(f"    {row}" for row in str(line["exception"]).splitlines())
    stamp = _time(line.get("timestamp") or (line.get("_aws") or {}).get("Timestamp"))
    shown = f"{level:<6}"
    if colour:
        shown = f"\x1b[{_LEVEL_COLOURS.get(level, '0')}m{shown}\x1b[0m"
        name = f"\x1b[2m{name}\x1b[0m"
    return f"{stamp} {shown} {name}  {body}"


def run(lines: Iterable[str], out: TextIO, name: str, *, colour: bool, metrics: bool) -> None:
    for raw in lines:
        rendered = render(raw, name, colour=colour, metrics=metrics)
        if rendered is not None:
            out.write(rendered + "\n")
            out.flush()
