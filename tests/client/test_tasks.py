"""`kit tasks` against the real MCP server: start, list, status, watch, cancel, answer, result; and its errors."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import subprocess
from pathlib import Path

from conftest import KIT, WIDE_ROWS, Kit, Server, free_port, one_line_error

TRAINING = ("model_training", "--arg", "model_name=m", "--arg", "epochs=3", "--arg", "seconds_per_epoch=0.2")


def start(kit: Kit, *args: str) -> dict:
    done = kit("tasks", "start", *args, "--json")
    assert done.returncode == 0, done
    return json.loads(done.stdout.splitlines()[0])  # with --watch, the states follow


def test_a_task_is_started_watched_listed_and_its_result_read(kit: Kit) -> None:
    arguments = "--arg path=sales.csv --arg value_column=amount --arg group_by=region --ttl 3600".split()
    started = start(kit, "summarize_csv", *arguments)
    assert started["tool"] == "summarize_csv" and started["status"] in ("working", "completed")
    task_id = started["task_id"]

    watched = kit("tasks", "watch", task_id, "--json")
    assert watched.returncode == 0, watched
    states = [json.loads(line) for line in watched.stdout.splitlines()]
    assert states[-1]["status"] == "completed" and states[-1]["progress"] == states[-1]["total"]

    status = kit.json("tasks", "status", task_id)
    assert status["status"] == "completed" and status["tool"] == "summarize_csv"

    listed = {task["task_id"]: task for task in kit.json("tasks", "list")}
    assert listed[task_id]["tool"] == "summarize_csv" and listed[task_id]["status"] == "completed"
    assert listed[task_id]["ttl_seconds"] == 3600  # asked with --ttl (_meta.ttlMs), granted by the server

    result = kit("tasks", "result", task_id)
    assert result.returncode == 0, result
    summary = json.loads(result.stdout)
    assert summary["rows"] == 2000 + 40 and set(summary["groups"]) == {"north", "south", "east"}


def test_watch_without_a_terminal_prints_plain_lines(kit: Kit) -> None:
    task_id = start(kit, *TRAINING)["task_id"]
    watched = kit("tasks", "watch", task_id, "--interval", "0.05")
    assert watched.returncode == 0, watched
    assert "\x1b[" not in watched.stdout  # no colours, no cursor movement
    lines = watched.stdout.splitlines()
    assert all(line.startswith(task_id) for line in lines)
    assert "model_training" in lines[-1] and "completed" in lines[-1] and "100.0%" in lines[-1]
    assert len(lines) == len(set(lines))  # a line per change, not per poll


def test_watch_on_a_terminal_updates_in_place(kit: Kit) -> None:
    task_id = start(kit, "model_training", "--arg", "model_name=long", "--arg", "epochs=1000")["task_id"]
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(KIT), "tasks", "watch", task_id, "--interval", "0.05", "--no-input"],
        env=kit.env(COLUMNS="140"),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    screen, cancelled = b"", False
    while True:  # read until the process closes the terminal
        ready, _, _ = select.select([controller], [], [], 60)
        assert ready, "watch wrote nothing for 60 s"
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
        if not cancelled and b"working" in screen:  # the bar is drawn: end the task from elsewhere
            assert kit("tasks", "cancel", task_id).returncode == 0
            cancelled = True
    assert process.wait(timeout=30) == 1  # cancelled
    os.close(controller)
    text = screen.decode()
    assert "\x1b[1F\x1b[2K" in text  # back up one line and redraw it
    assert "\x1b[35m" in text and "cancelled" in text  # the final state, coloured
    assert text.count("\x1b[1F") == text.count("\n") - 1  # every draw after the first overwrites the last


def test_a_question_is_shown_answered_and_the_task_goes_on(kit: Kit, server: Server) -> None:
    task_id = start(kit, "deduplicate_csv", "--arg", "path=sales.csv", "--arg", "chunk_rows=100")["task_id"]

    waiting = kit("tasks", "watch", task_id)  # no terminal: the question is printed and watch stops
    assert waiting.returncode == 3, waiting
    assert "duplicate rows" in waiting.stdout and f"kit tasks answer {task_id}" in waiting.stdout
    status = kit.json("tasks", "status", task_id)
    assert status["status"] == "input_required"
    (question,) = status["questions"].values()
    assert set(question["requested_schema"]["properties"]) == {"write_copy", "keep"}

    unanswered = kit("tasks", "answer", task_id)  # no terminal to ask on, and no --set
    assert unanswered.returncode == 2 and "--set NAME=VALUE" in unanswered.stderr

    answered = kit.json("tasks", "answer", task_id, "--set", "write_copy=true", "--set", "keep=last")
    assert answered["status"] == "working"
    assert kit("tasks", "watch", task_id).returncode == 0
    report = json.loads(kit("tasks", "result", task_id).stdout)
    assert report["outcome"] == "written" and (server.data / report["written"]).is_file()


def test_a_task_is_cancelled_once(kit: Kit) -> None:
    task_id = start(kit, "model_training", "--arg", "model_name=long", "--arg", "epochs=1000")["task_id"]
    cancelled = kit.json("tasks", "cancel", task_id)
    assert cancelled["status"] == "cancelled"
    again = one_line_error(kit("tasks", "cancel", task_id))
    assert "already cancelled" in again
    result = kit("tasks", "result", task_id)
    assert result.returncode == 1 and "task cancelled" in result.stderr
    watched = kit("tasks", "watch", task_id)
    assert watched.returncode == 1 and "cancelled" in watched.stdout


def test_a_large_result_is_read_in_parts_and_checked(kit: Kit, tmp_path: Path) -> None:
    arguments = {"path": "wide.csv", "value_column": "amount", "group_by": "customer"}
    task_id = start(kit, "summarize_csv", "--args", json.dumps(arguments), "--watch")["task_id"]
    stored = kit.json("tasks", "result", task_id)
    link = next(block for block in stored["content"] if block["type"] == "resource_link")
    assert link["uri"] == f"task-result://{task_id}" and link["size"] > 200_000

    target = tmp_path / "result.json"
    done = kit("tasks", "result", task_id, "--output", str(target))
    assert done.returncode == 0, done
    assert f"wrote the result of {task_id} ({link['size']} bytes, sha256 checked)" in done.stderr
    data = target.read_bytes()
    assert link["description"] == f"sha256 {hashlib.sha256(data).hexdigest()}"
    assert len(json.loads(data)["structuredContent"]["groups"]) == WIDE_ROWS

    to_stdout = kit("tasks", "result", task_id)
    assert to_stdout.returncode == 0 and to_stdout.stdout.encode() == data


def test_the_durable_tools_and_their_arguments_are_listed(kit: Kit) -> None:
    tools = kit.json("tasks", "tools")
    assert {"summarize_csv", "deduplicate_csv", "model_training"} <= set(tools)
    assert "investigate_incident" not in tools  # a request-mode tool cannot be started as a task
    text = kit("tasks", "tools").stdout
    assert "--arg value_column=... (string, required)" in text


def test_no_server_listening_is_one_line_with_what_to_do(kit: Kit) -> None:
    kit.mcp_url = f"http://127.0.0.1:{free_port()}/mcp"
    line = one_line_error(kit("tasks", "list"))
    assert f"no MCP server is listening at {kit.mcp_url}" in line and "make local" in line
    assert kit("tasks", "list").returncode == 2


def test_an_unknown_or_someone_elses_task_is_not_found(kit: Kit) -> None:
    line = one_line_error(kit("tasks", "status", "no-such-task"))
    assert "task 'no-such-task' not found" in line and "kit tasks list" in line and "'alice'" in line
    task_id = start(kit, *TRAINING)["task_id"]
    line = one_line_error(kit("tasks", "status", task_id, "--actor", "mallory"))
    assert f"task '{task_id}' not found" in line and "'mallory'" in line


def test_bad_starts_say_what_is_expected(kit: Kit) -> None:
    line = one_line_error(kit("tasks", "start", "no_such_tool"))
    assert "'no_such_tool' is not a durable tool" in line and "summarize_csv" in line
    line = one_line_error(kit("tasks", "start", "model_training", "--arg", "colour=blue"))
    assert "--arg colour: the tool has no such argument" in line and "model_name" in line
    refused = kit("tasks", "start", "model_training", "--arg", "model_name=m", "--arg", "epochs=5000")
    assert refused.returncode == 1 and "epochs" in one_line_error(refused)
    line = one_line_error(kit("tasks", "start", "model_training", "--args", "[1]"))
    assert "--args: expected a JSON object" in line
