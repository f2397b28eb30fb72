"""Move a runtime's callers' endpoint to another version: promote after a smoke call, or roll back.

    python -m stacks.release status   --env prod
    python -m stacks.release promote  --env prod [--runtime mcp_server|agent] [--version N] [--yes]
    python -m stacks.release rollback --env prod [--runtime mcp_server|agent] [--version N] [--yes]

`promote` (environments with `release.promotion: manual`): for the MCP server, then the agent,
it points the candidate endpoint (`<endpoint>_candidate`) at the version to promote (by default
the newest), calls the runtime through it (the MCP server must list its tools; the agent must
answer a task-status request, which also reaches the MCP server's promoted endpoint), and only
then moves the callers' endpoint (`release.endpoint`, `live`) to that version. A failed smoke call
leaves every endpoint callers use as it was, and the agent is not promoted after a failed MCP server.

`rollback`: moves the callers' endpoint back to the version before the one it serves (or
`--version N`), agent first, with no smoke call: that version served callers before. Where
promotion is on_deploy, the next deploy moves the endpoint forward again.

Credentials are the caller's own (boto3's chain). The smoke calls authenticate as the runtimes
do: with IAM auth by SigV4, naming the user `--user-id` (default `release-smoke`, which owns
nothing) for the agent, so the caller needs bedrock-agentcore:InvokeAgentRuntimeForUser on it;
with JWT auth by a bearer token read from the environment variable `--token-env`
(default KIT_RELEASE_TOKEN), acting as that token's subject.

Exit status: 0 done (or nothing to do), 1 a smoke call or an endpoint update failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from stacks.config import ConfigError, EnvironmentConfig, JwtAuth, load_environment

RUNTIMES = ("mcp_server", "agent")  # promotion order: the agent calls the MCP server
# The Runtimes stack's outputs (stacks/runtime_stack.py) that name each runtime.
OUTPUTS = {"mcp_server": "McpServerRuntimeArn", "agent": "AgentRuntimeArn"}
SMOKE_USER = "release-smoke"
TOKEN_ENV = "KIT_RELEASE_TOKEN"  # noqa: S105 - the name of a variable, not a token
MCP_PROTOCOL_VERSION = "2026-07-28"
WAIT_SECONDS = 600
POLL_SECONDS = 5.0


class ReleaseError(RuntimeError):
    """A smoke call or an endpoint update failed; the message says which runtime, endpoint and version."""


@dataclass(frozen=True)
class RuntimeRef:
    name: str  # mcp_server or agent
    arn: str

    @property
    def runtime_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


def stack_name(config: EnvironmentConfig) -> str:
    """The Runtimes stack of the environment's Stage, as CDK names it (`<stage>-Runtimes`)."""
    return f"{config.stage_id}-Runtimes"


def discover(cloudformation: Any, config: EnvironmentConfig) -> dict[str, RuntimeRef]:
    """The deployed runtimes, from the Runtimes stack's outputs."""
    (stack,) = cloudformation.describe_stacks(StackName=stack_name(config))["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [key for key in OUTPUTS.values() if key not in outputs]
    if missing:
        raise ReleaseError(f"stack {stack_name(config)} has no output {', '.join(missing)}: deploy it first")
    return {name: RuntimeRef(name, outputs[key]) for name, key in OUTPUTS.items()}


# ---------------------------------------------------------------- smoke calls
def mcp_request() -> tuple[dict[str, str], bytes]:
    """A stateless (2026-07-28) tools/list: no session, no caller needed, every tool module imported."""
    body = {
        "jsonrpc": "2.0",
        "id": SMOKE_USER,
        "method": "tools/list",
        "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MCP_PROTOCOL_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        },
    }
    headers = {"MCP-Protocol-Version": MCP_PROTOCOL_VERSION, "Mcp-Method": "tools/list"}
    return headers, json.dumps(body).encode()


def agent_request() -> bytes:
    """Task status for an id nobody has: no model call, but the agent's identity check and its call to
    the MCP server's endpoint."""
    return json.dumps({"action": "task_status", "task_ids": [f"{SMOKE_USER}-{uuid.uuid4()}"]}).encode()


def _messages(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """JSON bodies, or the `data:` lines of a server-sent event stream."""
    text = body.decode("utf-8", errors="replace")
    if "text/event-stream" not in content_type:
        return [json.loads(text)] if text.strip() else []
    found = []
    for line in text.splitlines():
        if line.startswith("data:") and line[5:].strip():
            found.append(json.loads(line[5:]))
    return found


def check_mcp(body: bytes, content_type: str) -> str:
    messages = [m for m in _messages(body, content_type) if m.get("id") == SMOKE_USER]
    if not messages or "result" not in messages[-1]:
        error = messages[-1].get("error") if messages else body[:200]
        raise ReleaseError(f"tools/list did not return a result: {error}")
    tools = messages[-1]["result"].get("tools") or []
    if not tools:
        raise ReleaseError("tools/list returned no tools")
    return f"tools/list: {len(tools)} tools"


def check_agent(body: bytes, content_type: str) -> str:
    events = _messages(body, content_type)
    errors = [e for e in events if e.get("type") == "error"]
    if errors or not events or events[-1].get("type") != "done":
        reason = errors[0].get("message") if errors else f"the stream ended without 'done' ({len(events)} events)"
        raise ReleaseError(f"task_status failed: {reason}")
    return f"task_status: {len(events)} events, done"


CHECKS: dict[str, Callable[[bytes, str], str]] = {"mcp_server": check_mcp, "agent": check_agent}


class Smoke(Protocol):
    def __call__(self, runtime: RuntimeRef, qualifier: str) -> str: ...


def _session_id() -> str:
    return f"{SMOKE_USER}-{uuid.uuid4()}"  # 50 characters: the runtime asks 33 or more


@dataclass
class SigV4Smoke:
    """IAM environments: InvokeAgentRuntime with the caller's credentials."""

    data_plane: Any
    user_id: str = SMOKE_USER

    def __call__(self, runtime: RuntimeRef, qualifier: str) -> str:
        request: dict[str, Any] = {
            "agentRuntimeArn": runtime.arn,
            "qualifier": qualifier,
            "runtimeSessionId": _session_id(),
            "contentType": "application/json",
            "accept": "application/json, text/event-stream",
        }
        if runtime.name == "mcp_server":
            headers, request["payload"] = mcp_request()
            request.update(mcpProtocolVersion=headers["MCP-Protocol-Version"], mcpMethod=headers["Mcp-Method"])
        else:
            request.update(payload=agent_request(), runtimeUserId=self.user_id)
        answer = self.data_plane.invoke_agent_runtime(**request)
        return CHECKS[runtime.name](answer["response"].read(), answer.get("contentType", ""))


@dataclass
class BearerSmoke:
    """JWT environments: the same requests over HTTPS with the caller's bearer token."""

    region: str
    token: str
    opener: Callable[..., Any] = urllib.request.urlopen

    def __call__(self, runtime: RuntimeRef, qualifier: str) -> str:
        arn = urllib.parse.quote(runtime.arn, safe="")
        url = f"https://bedrock-agentcore.{self.region}.amazonaws.com/runtimes/{arn}/invocations?qualifier={qualifier}"
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": _session_id(),
        }
        if runtime.name == "mcp_server":
            extra, body = mcp_request()
            headers.update(extra)
        else:
            body = agent_request()
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self.opener(request, timeout=120) as response:
                return CHECKS[runtime.name](response.read(), response.headers.get("Content-Type", ""))
        except urllib.error.HTTPError as exc:
            raise ReleaseError(f"HTTP {exc.code}: {exc.read()[:300]!r}") from None


# ---------------------------------------------------------------- moving endpoints
@dataclass
class Releaser:
    control: Any  # a bedrock-agentcore-control client
    endpoint: str
    candidate: str | None  # None: promotion on_deploy, no candidate endpoint
    smoke: Smoke
    out: TextIO = field(default_factory=lambda: sys.stdout)
    sleep: Callable[[float], None] = time.sleep
    wait_seconds: float = WAIT_SECONDS

    def versions(self, runtime: RuntimeRef) -> list[int]:
        found: list[int] = []
        request: dict[str, Any] = {"agentRuntimeId": runtime.runtime_id}
        while True:
            page = self.control.list_agent_runtime_versions(**request)
            found += [int(v["agentRuntimeVersion"]) for v in page["agentRuntimes"] if v.get("status") == "READY"]
            if not page.get("nextToken"):
                return sorted(set(found))
            request["nextToken"] = page["nextToken"]

    def serving(self, runtime: RuntimeRef, endpoint: str) -> str:
        answer = self.control.get_agent_runtime_endpoint(agentRuntimeId=runtime.runtime_id, endpointName=endpoint)
        return str(answer.get("liveVersion") or answer.get("targetVersion"))

    def status(self, runtime: RuntimeRef) -> dict[str, str]:
        latest = self.versions(runtime)
        state = {"runtime": runtime.name, self.endpoint: self.serving(runtime, self.endpoint)}
        if self.candidate is not None:
            state[self.candidate] = self.serving(runtime, self.candidate)
        state["newest"] = str(latest[-1]) if latest else "none"
        return state

    def move(self, runtime: RuntimeRef, endpoint: str, version: str) -> None:
        """Point `endpoint` at `version` and wait until it serves it."""
        self.control.update_agent_runtime_endpoint(
            agentRuntimeId=runtime.runtime_id, endpointName=endpoint, agentRuntimeVersion=version
        )
        waited = 0.0
        while True:
            answer = self.control.get_agent_runtime_endpoint(agentRuntimeId=runtime.runtime_id, endpointName=endpoint)
            status = answer.get("status")
            if status == "READY" and str(answer.get("liveVersion")) == version:
                return
            if status and status.endswith("FAILED"):
                raise ReleaseError(
                    f"{runtime.name}: endpoint {endpoint} did not move to version {version}: "
                    f"{status} {answer.get('failureReason') or ''}".rstrip()
                )
            if waited >= self.wait_seconds:
                raise ReleaseError(f"{runtime.name}: endpoint {endpoint} still {status} after {int(waited)} s")
            self.sleep(POLL_SECONDS)
            waited += POLL_SECONDS

    def promote(self, runtime: RuntimeRef, version: str | None = None) -> bool:
        """True if the callers' endpoint moved; False if it already served that version."""
        if self.candidate is None:
            raise ReleaseError("promotion is on_deploy: there is no candidate endpoint to smoke-test through")
        available = self.versions(runtime)
        target = version or (str(available[-1]) if available else None)
        if target is None or int(target) not in available:
            raise ReleaseError(f"{runtime.name}: no ready version {target} (ready: {available})")
        current = self.serving(runtime, self.endpoint)
        if current == target:
            print(f"{runtime.name}: {self.endpoint} already serves version {target}", file=self.out)
            return False
        if self.serving(runtime, self.candidate) != target:
            self.move(runtime, self.candidate, target)
        try:
            checked = self.smoke(runtime, self.candidate)
        except ReleaseError as exc:
            raise ReleaseError(
                f"{runtime.name}: version {target} failed its smoke call through {self.candidate}: {exc}; "
                f"{self.endpoint} still serves version {current}"
            ) from None
        print(f"{runtime.name}: version {target} through {self.candidate}: {checked}", file=self.out)
        self.move(runtime, self.endpoint, target)
        print(f"{runtime.name}: {self.endpoint} moved from version {current} to {target}", file=self.out)
        return True

    def rollback(self, runtime: RuntimeRef, version: str | None = None) -> bool:
        current = self.serving(runtime, self.endpoint)
        earlier = [v for v in self.versions(runtime) if v < int(current)]
        target = version or (str(earlier[-1]) if earlier else None)
        if target is None:
            raise ReleaseError(f"{runtime.name}: {self.endpoint} serves version {current}; there is none before it")
        if target == current:
            print(f"{runtime.name}: {self.endpoint} already serves version {target}", file=self.out)
            return False
        self.move(runtime, self.endpoint, target)
        print(f"{runtime.name}: {self.endpoint} moved back from version {current} to {target}", file=self.out)
        return True


# ---------------------------------------------------------------- command line
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stacks.release", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("status", "promote", "rollback"))
    parser.add_argument("--env", required=True, help="environment name (a file in config/)")
    parser.add_argument("--runtime", choices=RUNTIMES, help="one runtime only (default: both)")
    parser.add_argument("--version", help="the version to move to (default: newest, or the one before)")
    parser.add_argument("--user-id", default=SMOKE_USER, help="IAM environments: the user the agent smoke call names")
    parser.add_argument("--token-env", default=TOKEN_ENV, help="JWT environments: variable holding a bearer token")
    parser.add_argument("--config-dir", help="where the environment files are (default: config/)")
    parser.add_argument("--yes", action="store_true", help="do not ask before moving an endpoint")
    args = parser.parse_args(argv)
    if args.version is not None and (not args.version.isdigit() or args.runtime is None):
        parser.error("--version takes a version number and needs --runtime (versions differ per runtime)")
    return args


def main(argv: Sequence[str] | None = None, *, session: Any = None, smoke: Smoke | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = load_environment(args.env, Path(args.config_dir)) if args.config_dir else load_environment(args.env)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "promote" and config.release.promotion != "manual":
        print(
            f"{args.env}: release.promotion is {config.release.promotion}: each deploy moves "
            f"{config.release.endpoint}; there is nothing to promote",
            file=sys.stderr,
        )
        return 2
    if session is None:
        import boto3

        session = boto3.Session(region_name=config.region)
    region = session.region_name
    if region is None:
        print(
            f"{args.env} pins no region: set AWS_REGION (or AWS_DEFAULT_REGION) to the one it is deployed in",
            file=sys.stderr,
        )
        return 2
    if smoke is None:
        if isinstance(config.auth, JwtAuth):
            token = os.environ.get(args.token_env)
            if not token and args.command == "promote":
                print(f"{args.env} uses JWT auth: put a bearer token in ${args.token_env}", file=sys.stderr)
                return 2
            smoke = BearerSmoke(region, token or "")
        else:
            smoke = SigV4Smoke(session.client("bedrock-agentcore"), args.user_id)
    from botocore.exceptions import BotoCoreError, ClientError

    releaser = Releaser(
        session.client("bedrock-agentcore-control"),
        config.release.endpoint,
        config.release.candidate_endpoint if config.release.promotion == "manual" else None,
        smoke,
    )
    try:
        runtimes = discover(session.client("cloudformation"), config)
        chosen = [args.runtime] if args.runtime else list(RUNTIMES)
        if args.command == "rollback":
            chosen.reverse()  # the agent first: it calls the MCP server
        if args.command == "status":
            for name in chosen:
                print(json.dumps(releaser.status(runtimes[name])))
            return 0
        if not args.yes and not _confirm(f"{args.command} {', '.join(chosen)} in {args.env} ({region})?"):
            return 2
        for name in chosen:
            if args.command == "promote":
                releaser.promote(runtimes[name], args.version)
            else:
                releaser.rollback(runtimes[name], args.version)
        if args.command == "rollback" and config.release.promotion == "on_deploy":
            print(f"note: promotion is on_deploy: the next deploy moves {config.release.endpoint} forward again")
        return 0
    except (ReleaseError, ClientError, BotoCoreError) as exc:
        print(f"release failed: {exc}", file=sys.stderr)
        return 1


def _confirm(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
