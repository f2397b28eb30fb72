"""Local logs for a terminal: the images' JSON lines rendered, metric lines summarised, the rest untouched."""

from __future__ import annotations

import io
import json

from click.testing import CliRunner
from kit_client.cli import kit
from kit_client.logfmt import render, run
from kit_client.render import Live, progress_line


def test_a_json_log_line_reads_as_time_level_logger_message_and_fields() -> None:
    line = json.dumps(
        {
            "timestamp": "2026-11-30T10:40:32.069+00:00",
            "level": "INFO",
            "logger": "mcp_server.engine.api",
            "message": "task created",
            "environment": "local",
            "task_id": "t-1",
            "actor": "alice",
            "color_message": "\u001b[36mignored\u001b[0m",
        }
    )
    assert (
        render(line, "mcp") == "10:40:32.069 INFO   mcp  mcp_server.engine.api  task created  task_id=t-1 actor=alice"
    )


def test_an_embedded_metric_line_is_one_short_line_or_none() -> None:
    emf = json.dumps(
        {
            "_aws": {
                "Timestamp": 1796035232069,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "AgentKit/TaskEngine",
                        "Dimensions": [["Environment"]],
                        "Metrics": [
                            {"Name": "TasksCompleted", "Unit": "Count"},
                            {"Name": "TaskDuration", "Unit": "Seconds"},
                        ],
                    }
                ],
            },
            "Environment": "local",
            "TasksCompleted": 1,
            "TaskDuration": 2.5,
            "task_id": "t-1",
            "tool": "summarize_csv",
        }
    )
    rendered = render(emf, "mcp")
    assert rendered is not None and rendered.endswith(
        "TasksCompleted=1 TaskDuration=2.5s task_id=t-1 tool=summarize_csv"
    )
    assert "METRIC" in rendered and "CloudWatchMetrics" not in rendered
    assert render(emf, "mcp", metrics=False) is None


def test_a_traceback_is_shown_as_one_and_other_lines_pass_through() -> None:
    line = json.dumps(
        {
            "timestamp": "2026-11-30T10:40:32.069+00:00",
            "level": "ERROR",
            "logger": "agent.runner",
            "message": "failed",
            "exception": "Traceback (most recent call last):\n  boom",
        }
    )
    assert render(line, "agent") == (
        "10:40:32.069 ERROR  agent  agent.runner  failed\n    Traceback (most recent call last):\n      boom"
    )
    assert render("plain text from a library\n", "agent") == "plain text from a library"
    assert render("[1, 2]", "agent") == "[1, 2]"
    out = io.StringIO()
    run(["not json\n", line + "\n"], out, "agent", colour=True, metrics=True)
    assert out.getvalue().startswith("not json\n") and "\x1b[31mERROR" in out.getvalue()


def test_progress_lines_fit_a_narrow_terminal_and_keep_the_message() -> None:
    task = {
        "task_id": "0123456789abcdef" * 2 + "0123",
        "tool": "summarize_csv",
        "status": "working",
        "progress": 50,
        "total": 200,
        "status_message": "12000 rows read",
    }
    wide = progress_line(task)
    assert wide.startswith(task["task_id"]) and " 25.0% 12000 rows read" in wide
    narrow = progress_line(task, width=80)
    assert narrow.startswith("01234567 summarize_csv") and len(narrow) <= 80 and "12000" in narrow


def test_without_a_terminal_a_line_is_printed_only_when_it_changes() -> None:
    out = io.StringIO()
    live = Live(out)
    task = {"task_id": "t-1", "tool": "x", "status": "working", "progress": 1, "total": 4}
    live.update([task])
    live.update([task])
    live.update([{**task, "progress": 4, "status": "completed"}])
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "working" in lines[0] and "completed" in lines[1] and "\x1b" not in out.getvalue()


def test_kit_logs_renders_what_is_piped_in() -> None:
    lines = [
        json.dumps({"timestamp": "2026-11-30T10:40:32.069+00:00", "level": "INFO", "logger": "x", "message": "up"}),
        json.dumps({"_aws": {"Timestamp": 1796035232069, "CloudWatchMetrics": []}, "TasksStarted": 1}),
    ]
    shown = CliRunner().invoke(kit, ["logs", "mcp", "--no-metrics"], input="\n".join(lines) + "\n")
    assert shown.exit_code == 0 and shown.output == "10:40:32.069 INFO   mcp    x  up\n"
