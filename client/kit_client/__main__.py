"""`python -m kit_client`: talk to the kit's agent, deployed or local.

ask PROMPT...       send a prompt in the current conversation and stream the answer
new                 start a new conversation (a new session id) next time
watch               live progress of this conversation's unfinished tasks
env add NAME ...    remember a deployed environment;  env list
"""

from __future__ import annotations

import argparse
import sys
import time

from kit_client import render
from kit_client.state import LOCAL_ENV, TERMINAL, ClientError, Environment, State, default_path
from kit_client.transport import invoke


def _payload(env: Environment, state: State, body: dict[str, object]) -> dict[str, object]:
    # Only the local agent takes the actor from the request; deployed ones use the caller's identity.
    return {**body, "actor_id": state.actor_id} if env.agent_arn is None else body


def ask(args: argparse.Namespace, state: State) -> int:
    env = state.environment(args.env)
    conversation = state.conversation(args.env, args.conversation)
    state.save()  # the session id is kept even if the stream is interrupted
    try:
        events = invoke(env, conversation.session_id, _payload(env, state, {"prompt": " ".join(args.prompt)}))
        return render.stream(events, conversation)
    finally:
        state.save()


def watch(args: argparse.Namespace, state: State) -> int:
    env = state.environment(args.env)
    conversation = state.conversation(args.env, args.conversation)
    deadline = time.monotonic() + args.timeout
    while True:
        open_ids = [t for t, task in conversation.tasks.items() if task.get("status") not in TERMINAL]
        if not open_ids:
            print("no unfinished tasks in this conversation", file=sys.stderr)
            return 0
        for event in invoke(
            env, conversation.session_id, _payload(env, state, {"action": "task_status", "task_ids": open_ids})
        ):
            if event.get("type") == "task":
                render.remember(conversation, event)
                print(render.progress_line(event), flush=True)
            elif event.get("type") == "error":
                print(f"error: {event['error']}", file=sys.stderr)
                return 1
        state.save()
        if all(conversation.tasks[t].get("status") in TERMINAL for t in open_ids):
            return 0
        if time.monotonic() > deadline:
            print(f"tasks still running after {args.timeout}s; run watch again later", file=sys.stderr)
            return 0
        time.sleep(args.interval)  # polling the agent; the work runs on the server meanwhile


def new(args: argparse.Namespace, state: State) -> int:
    state.environment(args.env)
    state.forget(args.env, args.conversation)
    state.conversation(args.env, args.conversation)
    state.save()
    print(f"new conversation {args.conversation!r} in {args.env}", file=sys.stderr)
    return 0


def env_add(args: argparse.Namespace, state: State) -> int:
    if args.name == LOCAL_ENV:
        raise ClientError(f"{LOCAL_ENV!r} is the built-in local agent; choose another name")
    if not args.agent_arn.startswith("arn:") or ":runtime/" not in args.agent_arn:
        raise ClientError(f"--agent-arn={args.agent_arn!r}: expected an agent runtime ARN (arn:...:runtime/NAME-ID)")
    region = args.region or args.agent_arn.split(":")[3]
    state.environments[args.name] = Environment(args.name, args.agent_arn, region, args.user_id, args.jwt_token_env)
    state.save()
    return 0


def env_list(args: argparse.Namespace, state: State) -> int:
    print(f"{LOCAL_ENV:12} {state.environment(LOCAL_ENV).local_url}")
    for env in state.environments.values():
        print(f"{env.name:12} {env.agent_arn} ({env.region})")
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="kit_client", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    main.add_argument("--env", default=LOCAL_ENV, help="environment name (default: local)")
    main.add_argument("--conversation", "-c", default="default", help="conversation name (default: default)")
    commands = main.add_subparsers(dest="command", required=True)
    p = commands.add_parser("ask", help="send a prompt and stream the answer")
    p.add_argument("prompt", nargs="+")
    p.set_defaults(run=ask)
    p = commands.add_parser("watch", help="live progress of unfinished tasks")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    p.add_argument("--timeout", type=float, default=3600.0, help="stop watching after this many seconds")
    p.set_defaults(run=watch)
    commands.add_parser("new", help="start a new conversation").set_defaults(run=new)
    env = commands.add_parser("env", help="deployed environments").add_subparsers(dest="env_command", required=True)
    p = env.add_parser("add")
    p.add_argument("name")
    p.add_argument("--agent-arn", required=True, help="the stack output AgentRuntimeArn")
    p.add_argument("--region")
    p.add_argument("--user-id", help="IAM: runtimeUserId sent with every call (your actor id)")
    p.add_argument("--jwt-token-env", help="JWT: environment variable holding the bearer token")
    p.set_defaults(run=env_add)
    env.add_parser("list").set_defaults(run=env_list)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args, State(default_path())))
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; the conversation and its tasks are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
