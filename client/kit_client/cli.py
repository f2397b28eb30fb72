"""`kit`: the kit's one command-line tool (the root command, the agent's commands and `kit env`)."""

from __future__ import annotations

import os
import re
import sys
import time

import click

from kit_client import render
from kit_client.options import CONTEXT, Options, pass_options
from kit_client.state import LOCAL_ENV, TERMINAL, ClientError, Environment, Refused, State
from kit_client.transport import invoke

HELP = """The long-running agent kit's command-line tool.

\b
kit ask PROMPT...          talk to the agent (local, or a deployed one with --env)
kit watch                  live progress of this conversation's unfinished tasks
kit new                    start a new conversation
kit env add|list           remember deployed environments
kit tasks ...              the MCP server's durable tasks, without the agent or a model
kit approve / kit redrive  decide a handoff waiting for approval; redrive dead-lettered ones
kit preview                what a deploy would create, per environment, and what changed

Every command has --help. Exit codes: 0 done; 1 the work failed or was refused; 2 something
to fix first (the message says what); 130 interrupted.
"""


@click.group(context_settings=CONTEXT, help=HELP)
@click.option(
    "--env",
    "env",
    default=LOCAL_ENV,
    envvar="KIT_ENV",
    show_default=True,
    help="environment: 'local' (make local) or one added with `kit env add` [env KIT_ENV]",
)
@click.option("--conversation", "-c", default="default", show_default=True, help="conversation name (kit ask)")
@click.pass_context
def kit(ctx: click.Context, env: str, conversation: str) -> None:
    ctx.obj = Options(env, conversation)


# ---------------------------------------------------------------- the agent
def _payload(env: Environment, state: State, body: dict[str, object]) -> dict[str, object]:
    # Only the local agent takes the actor from the request; deployed ones use the caller's identity.
    return {**body, "actor_id": state.actor_id} if env.agent_arn is None else body


@kit.command(context_settings=CONTEXT)
@click.argument("prompt", nargs=-1, required=True)
@pass_options
def ask(options: Options, prompt: tuple[str, ...]) -> int:
    """Send PROMPT to the agent in the current conversation and stream the answer.

    Task progress and tool calls go to stderr, the answer to stdout. The conversation (its
    session id and tasks) is kept, so a later `kit ask` continues it, days later if need be.
    """
    state, env = options.state, options.environment()
    conversation = state.conversation(options.env, options.conversation)
    state.save()  # the session id is kept even if the stream is interrupted
    try:
        events = invoke(env, conversation.session_id, _payload(env, state, {"prompt": " ".join(prompt)}))
        return render.stream(events, conversation)
    finally:
        state.save()


@kit.command(context_settings=CONTEXT)
@click.option("--interval", type=float, default=2.0, show_default=True, help="seconds between polls")
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="stop watching after this long")
@pass_options
def watch(options: Options, interval: float, timeout: float) -> int:
    """Live progress of this conversation's unfinished tasks, through the agent.

    Updates in place on a terminal; prints a line whenever a task changes otherwise.
    To watch any task of yours without the agent: `kit tasks watch TASK_ID`.
    """
    state, env = options.state, options.environment()
    conversation = state.conversation(options.env, options.conversation)
    open_ids = [t for t, task in conversation.tasks.items() if task.get("status") not in TERMINAL]
    if not open_ids:
        click.echo("no unfinished tasks in this conversation", err=True)
        return 0
    live = render.Live()
    deadline = time.monotonic() + timeout
    while True:
        for event in invoke(
            env, conversation.session_id, _payload(env, state, {"action": "task_status", "task_ids": open_ids})
        ):
            if event.get("type") == "task":
                render.remember(conversation, event)
            elif event.get("type") == "error":
                click.echo(f"error: {event['error']}", err=True)
                return 1
        state.save()
        live.update([{"task_id": t, **conversation.tasks[t]} for t in open_ids])
        if all(conversation.tasks[t].get("status") in TERMINAL for t in open_ids):
            return 0
        if time.monotonic() > deadline:
            click.echo(f"tasks still running after {timeout:g}s; run `kit watch` again later", err=True)
            return 0
        time.sleep(interval)  # polling the agent; the work runs on the server meanwhile


@kit.command(context_settings=CONTEXT)
@pass_options
def new(options: Options) -> int:
    """Start a new conversation (a new session id) with the next `kit ask`."""
    state = options.state
    state.environment(options.env)
    state.forget(options.env, options.conversation)
    state.conversation(options.env, options.conversation)
    state.save()
    click.echo(f"new conversation {options.conversation!r} in {options.env}", err=True)
    return 0


@kit.group(context_settings=CONTEXT)
def env() -> None:
    """Deployed environments the client remembers (the built-in one is 'local')."""


@env.command("add", context_settings=CONTEXT)
@click.argument("name")
@click.option("--agent-arn", required=True, help="the Runtimes stack output AgentRuntimeArn")
@click.option("--mcp-arn", help="the Runtimes stack output McpServerRuntimeArn (for `kit tasks`)")
@click.option("--region", help="default: the region in the ARN")
@click.option("--user-id", help="IAM: the runtimeUserId sent with every call (needs InvokeAgentRuntimeForUser)")
@click.option("--jwt-token-env", help="JWT: the environment variable that holds your bearer token")
@click.option(
    "--endpoint",
    default="live",
    show_default=True,
    help="the runtime endpoint to call (config release.endpoint; live_candidate to try an unpromoted version)",
)
@pass_options
def env_add(
    options: Options,
    name: str,
    agent_arn: str,
    mcp_arn: str | None,
    region: str | None,
    user_id: str | None,
    jwt_token_env: str | None,
    endpoint: str,
) -> int:
    """Remember the deployed environment NAME (use it with `kit --env NAME ...`)."""
    if name == LOCAL_ENV:
        raise ClientError(f"{LOCAL_ENV!r} is the built-in local agent; choose another name")
    for option, arn in (("--agent-arn", agent_arn), ("--mcp-arn", mcp_arn)):
        if arn is not None and (not arn.startswith("arn:") or ":runtime/" not in arn):
            raise ClientError(f"{option}={arn!r}: expected an agent runtime ARN (arn:...:runtime/NAME-ID)")
    if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_]{0,47}", endpoint):
        raise ClientError(
            f"--endpoint={endpoint!r}: expected a runtime endpoint name (a letter, then letters, digits, _)"
        )
    state = options.state
    state.environments[name] = Environment(
        name, agent_arn, region or agent_arn.split(":")[3], user_id, jwt_token_env, mcp_arn=mcp_arn, endpoint=endpoint
    )
    state.save()
    return 0


@env.command("list", context_settings=CONTEXT)
@pass_options
def env_list(options: Options) -> int:
    """The environments: name, agent, MCP server, region."""
    local = options.state.environment(LOCAL_ENV)
    click.echo(f"{LOCAL_ENV:12} agent {local.local_url}  MCP server {local.mcp_url}")
    for item in options.state.environments.values():
        mcp = f"  MCP server {item.mcp_arn}" if item.mcp_arn else ""
        click.echo(f"{item.name:12} agent {item.agent_arn}{mcp} ({item.region})")
    return 0


@kit.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--no-metrics", is_flag=True, help="drop the embedded-metric lines instead of summarising them")
def logs(name: str, no_metrics: bool) -> int:
    """Show the images' JSON log lines on stdin readably: `... | kit logs NAME`.

    Each line becomes `time level NAME logger message key=value ...`, a traceback a traceback,
    an embedded-metric line one short METRIC line; other lines pass through. `make local` pipes
    each process through it (LOCAL_LOG_FORMAT=json to see the lines as written).
    """
    from kit_client import logfmt

    try:
        logfmt.run(sys.stdin, sys.stdout, f"{name:<5}", colour=render.colour_on(sys.stdout), metrics=not no_metrics)
    except KeyboardInterrupt:
        pass  # Ctrl-C in `make local` stops the servers; their formatters end quietly with them
    return 0


def _register() -> None:
    from kit_client import cli_ops, cli_tasks

    kit.add_command(cli_tasks.tasks)
    for command in (cli_ops.approve, cli_ops.redrive, cli_ops.preview):
        kit.add_command(command)


_register()


def main(argv: list[str] | None = None) -> int:
    try:
        code = kit.main(args=argv, prog_name="kit", standalone_mode=False)
    except ClientError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1 if isinstance(exc, Refused) else 2
    except click.exceptions.Abort:
        click.echo("\ninterrupted; nothing on the server was stopped", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("\ninterrupted; nothing on the server was stopped", err=True)
        return 130
    except BrokenPipeError:
        # The reader went away (`kit ... | head`): quietly, and without a second error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code if isinstance(code, int) else 0
