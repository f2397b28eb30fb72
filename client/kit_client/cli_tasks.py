"""`kit tasks`: the MCP server's durable tasks, directly: no agent and no model needed.

Against `make local` by default; `kit --env NAME tasks ...` talks to a deployed environment's
MCP runtime (SigV4 with your AWS credentials, or --token for JWT inbound auth).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import anyio
import click

from kit_client import render
from kit_client.options import CONTEXT, Options, pass_options
from kit_client.state import RESULTS_SESSION, TERMINAL, ClientError

if TYPE_CHECKING:
    from kit_client.mcp_tasks import Target, Tasks

T = TypeVar("T")
# watch's exit codes beyond 0 (all completed) and 1 (one failed or was cancelled).
WAITING_FOR_INPUT = 3
STILL_RUNNING = 4


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Who you are to the server, and where it is: the same options on every `kit tasks` command."""
    options = (
        click.option("--json", "as_json", is_flag=True, help="print JSON on stdout (for scripts)"),
        click.option(
            "--url", help="an MCP endpoint instead of the environment's (local default: KIT_MCP_URL, MCP_PORT)"
        ),
        click.option("--actor", envvar="KIT_ACTOR", help="local mode: your actor id (default: your user name)"),
        click.option("--user-id", help="IAM: send this runtime user id (needs InvokeAgentRuntimeForUser)"),
        click.option("--token", envvar="KIT_TOKEN", show_envvar=True, help="JWT: your bearer token"),
        click.option(
            "--results-session",
            default=RESULTS_SESSION,
            show_default=True,
            help="the memory session finished tasks' outcomes are written to",
        ),
    )

    @wraps(command)
    def with_target(options: Options, **kwargs: Any) -> Any:
        # The MCP SDK loads only for the commands that use it: `kit ask` and `--help` start faster.
        from kit_client.mcp_tasks import target

        to = target(
            options.environment(),
            actor=kwargs.pop("actor") or options.state.actor_id,
            user_id=kwargs.pop("user_id"),
            token=kwargs.pop("token"),
            url=kwargs.pop("url"),
            results_session=kwargs.pop("results_session"),
        )
        return command(to, **kwargs)

    wrapped: Callable[..., Any] = pass_options(with_target)
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped


def over(to: Target, operation: Callable[[Tasks], Awaitable[T]], *, legacy: bool = False) -> T:
    """Run one operation over a fresh connection."""
    from kit_client.mcp_tasks import connect

    async def go() -> T:
        async with connect(to, legacy=legacy) as tasks:
            return await operation(tasks)

    return anyio.run(go)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def show_state(found: dict[str, Any], as_json: bool) -> None:
    """A task's state after a command: JSON, or its one-line progress."""
    if as_json:
        emit_json(found)
    else:
        click.echo(render.progress_line(found, colour=render.colour_on(sys.stdout)))


def interactive(as_json: bool) -> bool:
    return not as_json and sys.stdin.isatty() and sys.stdout.isatty()


def question_lines(status: dict[str, Any]) -> list[str]:
    lines = []
    for question_id, question in (status.get("questions") or {}).items():
        lines.append(f"  question {question_id}: {question['message']}")
        schema = question.get("requested_schema") or {}
        required = set(schema.get("required") or [])
        for name, prop in (schema.get("properties") or {}).items():
            kind = "|".join(str(v) for v in prop["enum"]) if "enum" in prop else prop.get("type", "any")
            mark = ", required" if name in required else ""
            about = f"  {prop['description']}" if prop.get("description") else ""
            lines.append(f"    {name} ({kind}{mark}){about}")
    if lines:
        lines.append(f"  answer: kit tasks answer {status['task_id']} --set NAME=VALUE ... (or --action decline)")
    return lines


def ask_question(question: dict[str, Any]) -> dict[str, Any]:
    """Put a task's question to the person at the terminal; the answer's content."""
    click.echo(click.style(question["message"], bold=True))
    schema = question.get("requested_schema") or {}
    required = set(schema.get("required") or [])
    content: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        label = prop.get("title") or name
        if prop.get("description"):
            label = f"{label} ({prop['description']})"
        default = prop.get("default")
        value: Any
        if prop.get("type") == "boolean":
            value = click.confirm(label, default=bool(default))
        elif "enum" in prop:
            choices = [str(v) for v in prop["enum"]]
            value = click.prompt(label, type=click.Choice(choices), default=default)
        elif prop.get("type") in ("integer", "number"):
            kind = int if prop["type"] == "integer" else float
            value = click.prompt(label, type=kind, default=default)
        else:
            value = click.prompt(label, default=default if default is not None else "", show_default=False)
            if value == "" and name not in required:
                continue
        content[name] = value
    return content


def typed_answer(pairs: tuple[str, ...], raw: str | None, schema: dict[str, Any]) -> dict[str, Any] | None:
    from kit_client.mcp_tasks import parse_arguments

    if not pairs and raw is None:
        return None
    try:
        return parse_arguments(pairs, raw, schema)
    except ClientError as exc:
        raise ClientError(str(exc).replace("--args", "--content").replace("--arg", "--set")) from None


# ---------------------------------------------------------------- the commands
@click.group(context_settings=CONTEXT)
def tasks() -> None:
    """The MCP server's durable tasks, directly (no agent, no model).

    \b
    kit tasks tools                         the durable tools and their arguments
    kit tasks start TOOL --arg k=v ...      start one (--watch to follow it)
    kit tasks list                          your tasks, newest first
    kit tasks status|watch|cancel TASK_ID
    kit tasks answer TASK_ID --set k=v      answer the question a task asks (input_required)
    kit tasks result TASK_ID [-o FILE]      its result (a large one is read in parts)

    Local (`make local`) by default, as the actor your state file names; with
    `kit --env NAME tasks ...`, a deployed MCP runtime (see `kit env add --mcp-arn`).
    """


@tasks.command(context_settings=CONTEXT)
@connection_options
def tools(to: Target, as_json: bool) -> int:
    """The tools that run as durable tasks, with their arguments."""
    found = over(to, lambda t: t.durable_tools())
    if as_json:
        emit_json(found)
        return 0
    for name, tool in sorted(found.items()):
        click.echo(
            click.style(name, bold=True) + f"  {tool['description'].splitlines()[0] if tool['description'] else ''}"
        )
        schema = tool["input_schema"]
        required = set(schema.get("required") or [])
        for arg, prop in (schema.get("properties") or {}).items():
            if arg == "request_key":
                continue
            kinds = prop.get("type") or "|".join(str(o.get("type")) for o in prop.get("anyOf", []))
            mark = ", required" if arg in required else ""
            click.echo(f"    --arg {arg}=... ({kinds}{mark})  {prop.get('description', '')}".rstrip())
    return 0


@tasks.command(context_settings=CONTEXT)
@click.argument("tool")
@click.option("--arg", "pairs", multiple=True, metavar="NAME=VALUE", help="one argument (repeat); JSON for non-strings")
@click.option("--args", "raw_args", metavar="JSON", help="all arguments as one JSON object")
@click.option("--ttl", type=click.IntRange(min=1), help="keep the task and its result this many seconds")
@click.option("--request-key", help="idempotency key: starting again with the same key returns the same task")
@click.option("--watch", "follow", is_flag=True, help="then watch it until it ends")
@connection_options
def start(
    to: Target,
    tool: str,
    pairs: tuple[str, ...],
    raw_args: str | None,
    ttl: int | None,
    request_key: str | None,
    follow: bool,
    as_json: bool,
) -> int:
    """Start TOOL as a durable task; prints its id at once (the work goes on on the server)."""
    from kit_client.mcp_tasks import parse_arguments

    async def operation(t: Tasks) -> tuple[dict[str, Any], int]:
        schema = (await t.durable_tools()).get(tool, {}).get("input_schema") or {}
        arguments = parse_arguments(pairs, raw_args, schema) if schema else {}
        started = await t.start(tool, arguments, ttl_seconds=ttl, request_key=request_key)
        line = json.dumps(started, sort_keys=True)
        if as_json:
            click.echo(line)  # one line, so a script can read the id before the watch ends
        else:
            click.echo(f"started {started['task_id']} ({started['tool']})", err=True)
        if not follow:
            return started, 0
        shown = {started["task_id"]: line}
        return started, await follow_tasks(t, [started["task_id"]], None, 24 * 3600, as_json, shown=shown)

    started, code = over(to, operation)
    if not follow and not as_json:
        click.echo(started["task_id"])
        click.echo(f"  watch it:  kit tasks watch {started['task_id']}", err=True)
    return code


@tasks.command("list", context_settings=CONTEXT)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="how many, newest first")
@connection_options
def list_tasks(to: Target, limit: int, as_json: bool) -> int:
    """Your tasks, newest first, with their status and progress (2025-11-25 tasks/list)."""
    listed = over(to, lambda t: t.list(limit), legacy=True)
    if as_json:
        emit_json(listed)
        return 0
    if not listed:
        click.echo("no tasks", err=True)
    colour = render.colour_on(sys.stdout)
    for task in listed:
        click.echo(f"{render.progress_line(task, colour=colour)}  ({task.get('last_updated_at') or ''})")
    return 0


@tasks.command(context_settings=CONTEXT)
@click.argument("task_id")
@connection_options
def status(to: Target, task_id: str, as_json: bool) -> int:
    """One task's status, progress and open questions."""
    found = over(to, lambda t: t.status(task_id))
    if as_json:
        emit_json(found)
        return 0
    click.echo(render.progress_line(found, colour=render.colour_on(sys.stdout)))
    click.echo(f"  started {found.get('created_at')}, last update {found.get('last_updated_at')}")
    for line in question_lines(found):
        click.echo(line)
    return 0


async def follow_tasks(
    t: Tasks,
    task_ids: list[str],
    interval: float | None,
    timeout: float,
    as_json: bool,
    prompt: bool = True,
    shown: dict[str, str] | None = None,
) -> int:
    """Poll until every task has ended; asks a task's question at a terminal, else stops with 3.

    With --json, a JSON line per task whenever it changes (`shown`: lines already printed).
    """
    live = render.Live()
    asked: set[tuple[str, str]] = set()
    printed: dict[str, str] = dict(shown or {})
    deadline = time.monotonic() + timeout
    while True:
        statuses = [await t.status(task_id) for task_id in task_ids]
        if as_json:
            for found in statuses:
                line = json.dumps(found, sort_keys=True)
                if printed.get(found["task_id"]) != line:
                    printed[found["task_id"]] = line
                    click.echo(line)
        else:
            live.update(statuses)
        for found in statuses:
            questions = found.get("questions") or {}
            if found["status"] != "input_required" or not questions:
                continue
            if not (prompt and interactive(as_json)):
                if not as_json:
                    live.note("\n".join(question_lines(found)))
                return WAITING_FOR_INPUT
            for question_id, question in questions.items():
                if (found["task_id"], question_id) in asked:
                    continue
                asked.add((found["task_id"], question_id))
                live.note(f"task {found['task_id']} asks:")
                content = await anyio.to_thread.run_sync(ask_question, question)
                await t.answer(found["task_id"], content, "accept", question_id)
        if all(found["status"] in TERMINAL for found in statuses):
            return 0 if all(found["status"] == "completed" for found in statuses) else 1
        if time.monotonic() > deadline:
            ids = " ".join(task_ids)
            click.echo(f"still running after {timeout:g}s; watch again with `kit tasks watch {ids}`", err=True)
            return STILL_RUNNING
        wait = interval if interval is not None else min(f.get("poll_interval_ms") or 1000 for f in statuses) / 1000
        await anyio.sleep(max(wait, 0.05))


@tasks.command("watch", context_settings=CONTEXT)
@click.argument("task_ids", nargs=-1, required=True)
@click.option("--interval", type=float, help="seconds between polls (default: what the server asks)")
@click.option("--timeout", type=float, default=24 * 3600.0, show_default=True, help="stop watching after this long")
@click.option("--no-input", is_flag=True, help="do not ask a task's question here: stop (exit 3) instead")
@connection_options
def watch_tasks(
    to: Target, task_ids: tuple[str, ...], interval: float | None, timeout: float, no_input: bool, as_json: bool
) -> int:
    """Follow tasks until they end: a progress bar updating in place on a terminal, a line per change elsewhere.

    \b
    A task that asks a question is answered here at a terminal; otherwise (or with --no-input)
    the question is printed and watch stops. Exit codes: 0 all completed, 1 one failed or was
    cancelled, 3 a task waits for your answer, 4 still running at --timeout.
    """
    return over(to, lambda t: follow_tasks(t, list(task_ids), interval, timeout, as_json, prompt=not no_input))


@tasks.command(context_settings=CONTEXT)
@click.argument("task_id")
@connection_options
def cancel(to: Target, task_id: str, as_json: bool) -> int:
    """Cancel one of your running tasks (it stops at its next checkpoint)."""
    found = over(to, lambda t: t.cancel(task_id))
    show_state(found, as_json)
    return 0


@tasks.command(context_settings=CONTEXT)
@click.argument("task_id")
@click.option("--set", "pairs", multiple=True, metavar="NAME=VALUE", help="one field of the answer (repeat)")
@click.option("--content", "raw", metavar="JSON", help="the whole answer as a JSON object")
@click.option(
    "--action",
    type=click.Choice(["accept", "decline", "cancel"]),
    default="accept",
    show_default=True,
    help="decline or cancel to answer nothing",
)
@click.option("--question", "question_id", help="which open question (needed only when several are open)")
@connection_options
def answer(
    to: Target,
    task_id: str,
    pairs: tuple[str, ...],
    raw: str | None,
    action: str,
    question_id: str | None,
    as_json: bool,
) -> int:
    """Answer the question a task asked (its status is input_required).

    Without --set or --content, the question is asked here at a terminal.
    """

    async def operation(t: Tasks) -> dict[str, Any]:
        current = await t.status(task_id)
        questions = current.get("questions") or {}
        if not questions:
            raise ClientError(f"task {task_id} is {current['status']}: it has no open question")
        chosen = question_id or (next(iter(questions)) if len(questions) == 1 else None)
        if chosen not in questions:
            raise ClientError(f"--question: expected one of {', '.join(sorted(questions))}")
        schema = questions[chosen].get("requested_schema") or {}
        content = typed_answer(pairs, raw, schema)
        if action == "accept" and content is None:
            if not interactive(as_json):
                fields = "\n".join(question_lines(current))
                raise ClientError(f"give the answer with --set NAME=VALUE or --content JSON:\n{fields}")
            content = await anyio.to_thread.run_sync(ask_question, questions[chosen])
        return await t.answer(task_id, content, action, chosen)

    found = over(to, operation)
    show_state(found, as_json)
    return 0


@tasks.command(context_settings=CONTEXT)
@click.argument("task_id")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=Path), help="write it here")
@connection_options
def result(to: Target, task_id: str, output: Path | None, as_json: bool) -> int:
    """A finished task's result (exit 1 if it failed or was cancelled).

    Structured results print as JSON, text as text; --json prints the whole CallToolResult. A
    result too large to return inline comes as a link: it is read in parts (read_task_result),
    checked against its sha256, and written as stored (the result's JSON) to --output or stdout
    (with --json and no --output, the link itself is printed).
    """
    sink: IO[bytes]
    try:
        sink = output.open("wb") if output else sys.stdout.buffer
    except OSError as exc:
        raise ClientError(f"cannot write {output}: {exc.strerror}") from None

    async def operation(t: Tasks) -> tuple[dict[str, Any], int | None]:
        found = await t.result(task_id)
        linked = any(
            block.get("type") == "resource_link" and str(block.get("uri", "")).startswith("task-result://")
            for block in found.get("content", [])
        )
        if not linked or (as_json and not output):
            return found, None
        size, _ = await t.read_large_result(task_id, sink)
        return found, size

    try:
        found, large = over(to, operation)
        if large is not None:
            where = output or "stdout"
            click.echo(f"wrote the result of {task_id} ({large} bytes, sha256 checked) to {where}", err=True)
            return 0
        if found.get("isError"):
            text = " ".join(block.get("text", "") for block in found.get("content", []))
            if as_json:
                sink.write((json.dumps(found, indent=2) + "\n").encode())
            click.echo(f"error: {text}", err=True)
            return 1
        if as_json:
            text = json.dumps(found, indent=2, sort_keys=True)
        elif "structuredContent" in found:
            text = json.dumps(found["structuredContent"], indent=2)
        else:
            text = "\n".join(block.get("text", "") for block in found.get("content", []) if block.get("type") == "text")
        sink.write((text + "\n").encode())
        sink.flush()
        if output:
            click.echo(f"wrote the result of {task_id} to {output}", err=True)
        return 0
    finally:
        if output:
            sink.close()
