"""Talking to the MCP server directly: who you are to it, and its durable tasks.

Identity follows the server's rules (runtime_images/mcp_server/mcp_server/caller.py):
- local mode trusts the Actor-Id header, so the client sends your actor id;
- a deployed server with JWT inbound auth reads the actor from the bearer token (`--token`,
  KIT_TOKEN, or the environment's token variable);
- a deployed server with IAM auth reads the runtime user id header, which only principals
  allowed bedrock-agentcore:InvokeAgentRuntimeForUser may send (the kit grants it to the agent
  alone): an operator's credentials usually cannot, and the errors say so.
The session header names the results session (`task-results`), where outcomes are written.

Protocol: task creation uses the 2026-07-28 tasks extension (the server answers
`resultType: task` once the task is stored, and honours `_meta.ttlMs`), or `start_<tool>` on a
server that speaks only the 2025 handshake; status, answers, cancel and results use the plain
task tools, which both eras serve; listing uses 2025-11-25 `tasks/list`, so it opens a
handshake session.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import anyio
import httpx2
from mcp.client import ClaimContext, Client, ClientExtension, ResultClaim
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Request, RequestParams, Result
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ConfigDict, TypeAdapter

from kit_client.headers import (
    ACTOR_ID_HEADER,
    AUTHORIZATION_HEADER,
    RUNTIME_SESSION_ID_HEADER,
    RUNTIME_USER_ID_HEADER,
    SESSION_ID_HEADER,
)
from kit_client.state import RESULTS_SESSION, TERMINAL, ClientError, Environment, Refused, local_mcp_url
from kit_client.transport import invoke_url

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
TTL_META = "ttlMs"
REQUEST_KEY_META = "requestKey"
START_PREFIX = "start_"
# The SDK's wording around a tool's error, which says nothing the message does not.
_SDK_PREFIX = re.compile(r"^Error executing tool \S+: ")


@dataclass(frozen=True)
class Target:
    """Where the MCP server is, and the headers and signer that say who is calling."""

    url: str
    headers: dict[str, str]
    auth: httpx2.Auth | None
    identity: Literal["local", "iam", "jwt"]
    name: str  # the environment, for messages
    arn: str | None = None

    @property
    def where(self) -> str:
        return f"the local MCP server at {self.url}" if self.arn is None else f"the MCP runtime of {self.name!r}"


def target(
    env: Environment,
    *,
    actor: str,
    user_id: str | None = None,
    token: str | None = None,
    url: str | None = None,
    results_session: str = RESULTS_SESSION,
) -> Target:
    headers = {SESSION_ID_HEADER: results_session}
    token = token or (os.environ.get(env.jwt_token_env) if env.jwt_token_env else None)
    if url is not None or env.agent_arn is None:
        # A local server trusts the Actor-Id header. With a token the server reads the actor from
        # it, and an Actor-Id that differs from the token's would be refused: send only the token.
        if token:
            headers[AUTHORIZATION_HEADER] = f"Bearer {token}"
        else:
            headers[ACTOR_ID_HEADER] = actor
        return Target(url or env.mcp_url or local_mcp_url(), headers, None, "jwt" if token else "local", env.name)
    if not env.mcp_arn:
        raise ClientError(
            f"environment {env.name!r} has no MCP server: add it with `kit env add {env.name} "
            "--agent-arn ARN --mcp-arn ARN` (the Runtimes stack's McpServerRuntimeArn output)"
        )
    region = env.region or env.mcp_arn.split(":")[3]
    # One runtime session per command: its requests (and a 2025 MCP session) land on one microVM.
    headers[RUNTIME_SESSION_ID_HEADER] = f"kit-cli-{uuid.uuid4()}"
    endpoint = invoke_url(env.mcp_arn, region, env.endpoint)
    if env.jwt_token_env and not token:
        raise ClientError(f"environment {env.name!r} uses JWT: set {env.jwt_token_env} (or pass --token)")
    if token:
        headers[AUTHORIZATION_HEADER] = f"Bearer {token}"
        return Target(endpoint, headers, None, "jwt", env.name, env.mcp_arn)
    from kit_client.sigv4 import signer

    user = user_id or env.user_id
    if user:
        headers[RUNTIME_USER_ID_HEADER] = user
    return Target(endpoint, headers, signer(region, f"the MCP runtime of {env.name!r}"), "iam", env.name, env.mcp_arn)


def explain(message: str, to: Target) -> str:
    """The server's refusal on one line, with what to do about it."""
    message = _SDK_PREFIX.sub("", message.strip())
    if RUNTIME_USER_ID_HEADER in message:
        hint = (
            "this runtime takes the caller from the runtime user id, which only principals allowed "
            "bedrock-agentcore:InvokeAgentRuntimeForUser may send (the kit grants it to the agent alone): "
            "pass --user-id with such credentials, ask through the agent (`kit ask`), or use a JWT environment"
        )
    elif f"missing header {ACTOR_ID_HEADER}" in message:
        hint = "this is a local-mode server, which takes the actor from that header: leave out --token"
    elif "JWT" in message or AUTHORIZATION_HEADER in message:
        hint = "this runtime takes the caller from a bearer token: pass --token or set KIT_TOKEN"
    elif "not found" in message and "task" in message:
        hint = f"tasks are visible only to the actor who started them ({_who(to)}): see `kit tasks list`"
    else:
        return message
    return f"{message.rstrip('.')}; {hint}"


def _who(to: Target) -> str:
    if ACTOR_ID_HEADER in to.headers and to.identity == "local":
        return f"you are {to.headers[ACTOR_ID_HEADER]!r}"
    return "you are who your credentials say"


class ServerRefused(Refused):
    """The server answered with an error: its message, explained."""


# ---------------------------------------------------------------- raw task requests
class _Params(RequestParams):
    model_config = ConfigDict(extra="allow")


class _ListTasks(Request[_Params, Literal["tasks/list"]]):
    pass


class _GetTask(Request[_Params, Literal["tasks/get"]]):
    name_param = "taskId"  # the Mcp-Name header names the task, for routing


# Task requests' results are read raw: the SDK has no 2025 task types, and the 2026 ones are extension-defined.
_RAW: Any = TypeAdapter(dict[str, Any])


class TaskHandle(Result):
    """What a tools/call answers when the server made it a task (SEP-2663)."""

    result_type: Literal["task"]
    task_id: str
    status: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None
    created_at: str | None = None
    last_updated_at: str | None = None


async def _finish(handle: TaskHandle, ctx: ClaimContext) -> CallToolResult:
    # Client.call_tool resolves a claimed result to the tool's own: poll the task to its end.
    while True:
        request = _GetTask(method="tasks/get", params=_Params.model_validate({"taskId": handle.task_id}))
        state: dict[str, Any] = await ctx.session.send_request(request, _RAW)
        if state["status"] == "completed":
            return CallToolResult.model_validate(state["result"])
        if state["status"] in TERMINAL:
            reason = (state.get("error") or {}).get("message") or state.get("statusMessage") or state["status"]
            return CallToolResult.model_validate({"content": [{"type": "text", "text": reason}], "isError": True})
        await anyio.sleep((handle.poll_interval_ms or 1000) / 1000)


class TasksExtension(ClientExtension):
    """Declares io.modelcontextprotocol/tasks, so durable tools answer with a task handle."""

    identifier = TASKS_EXTENSION

    def claims(self) -> list[Any]:
        return [ResultClaim(result_type="task", model=TaskHandle, resolve=_finish)]


# ---------------------------------------------------------------- the connection
@dataclass
class _LastHttpError:
    status: int | None = None
    body: str = ""


@dataclass
class Tasks:
    """One connection to the MCP server and the task operations over it."""

    client: Client
    to: Target
    _tools: dict[str, dict[str, Any]] | None = field(default=None, init=False)

    @property
    def modern(self) -> bool:
        return self.client.protocol_version in MODERN_PROTOCOL_VERSIONS

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        result = await self.client.call_tool(tool, arguments)
        if result.is_error:
            text = " ".join(getattr(block, "text", "") for block in result.content).strip()
            raise ServerRefused(explain(text or f"{tool} failed", self.to))
        return result

    async def call_structured(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.call(tool, arguments)
        return dict(result.structured_content or {})

    async def durable_tools(self) -> dict[str, dict[str, Any]]:
        """Durable tools by name (each has a start_<name> twin), with their input schema and description."""
        if self._tools is None:
            listed: dict[str, Any] = {}
            cursor: str | None = None
            while True:
                page = await self.client.list_tools(cursor=cursor)
                listed.update({tool.name: tool for tool in page.tools})
                cursor = page.next_cursor
                if not cursor:
                    break
            self._tools = {
                name.removeprefix(START_PREFIX): {
                    # The tool's own description; its start_ twin's only adds how to poll.
                    "description": (listed.get(name.removeprefix(START_PREFIX)) or tool).description or "",
                    "input_schema": tool.input_schema,
                }
                for name, tool in listed.items()
                if name.startswith(START_PREFIX)
            }
        return self._tools

    async def start(
        self, tool: str, arguments: dict[str, Any], *, ttl_seconds: int | None = None, request_key: str | None = None
    ) -> dict[str, Any]:
        tools = await self.durable_tools()
        if tool not in tools:
            known = ", ".join(sorted(tools)) or "none"
            raise ClientError(f"{tool!r} is not a durable tool of {self.to.where}: durable tools are {known}")
        if not self.modern:
            # A 2025-only server: the plain door (no ttl of the client's there).
            args = {**arguments, **({"request_key": request_key} if request_key else {})}
            return await self.call_structured(START_PREFIX + tool, args)
        meta: Any = {}  # RequestParamsMeta admits the server's own keys (ttlMs, requestKey)
        if ttl_seconds is not None:
            meta[TTL_META] = ttl_seconds * 1000
        if request_key is not None:
            meta[REQUEST_KEY_META] = request_key
        answer = await self.client.session.call_tool(tool, arguments, meta=meta or None, allow_claimed=True)
        if isinstance(answer, CallToolResult):
            # Refused before a task existed (invalid arguments, a quota): the error result says why.
            text = " ".join(getattr(block, "text", "") for block in answer.content).strip()
            raise ServerRefused(explain(text or f"{tool} did not start", self.to))
        if not isinstance(answer, TaskHandle):
            raise ServerRefused(f"{tool}: the server answered {type(answer).__name__}, not a task")
        return await self.status(answer.task_id)

    async def status(self, task_id: str) -> dict[str, Any]:
        return await self.call_structured("check_task_status", {"task_id": task_id})

    async def cancel(self, task_id: str) -> dict[str, Any]:
        return await self.call_structured("cancel_task", {"task_id": task_id})

    async def answer(
        self, task_id: str, content: dict[str, Any] | None, action: str, question_id: str | None
    ) -> dict[str, Any]:
        arguments: dict[str, Any] = {"task_id": task_id, "action": action}
        if content is not None:
            arguments["content"] = content
        if question_id is not None:
            arguments["question_id"] = question_id
        return await self.call_structured("answer_task", arguments)

    async def result(self, task_id: str) -> dict[str, Any]:
        """The finished task's CallToolResult as JSON (an error result if it failed or was cancelled)."""
        result = await self.client.call_tool("get_task_result", {"task_id": task_id})
        if result.is_error and (await self.status(task_id))["status"] not in TERMINAL:
            raise ServerRefused(explain(" ".join(getattr(b, "text", "") for b in result.content), self.to))
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)

    async def read_large_result(self, task_id: str, out: IO[bytes]) -> tuple[int, str]:
        """Copy a large result (the link get_task_result gives) to `out` in parts; its size and checked sha256."""
        offset: int | None = 0
        digest = hashlib.sha256()
        expected, total = "", 0
        while offset is not None:
            part = await self.call_structured("read_task_result", {"task_id": task_id, "offset": offset})
            data = part["text"].encode()
            out.write(data)
            digest.update(data)
            expected, total, offset = part["sha256"], part["total_bytes"], part["next_offset"]
        if digest.hexdigest() != expected:
            raise ClientError(
                f"the result of {task_id} read back with sha256 {digest.hexdigest()}, expected {expected}"
            )
        return total, expected

    async def list(self, limit: int = 50) -> list[dict[str, Any]]:
        """Your tasks, newest first: tasks/list (2025-11-25), each with its tool and progress."""
        if self.modern:
            raise AssertionError("tasks/list needs a handshake session: open the connection with legacy=True")
        listed: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(listed) < limit:
            params = _Params.model_validate({"cursor": cursor} if cursor else {})
            page: dict[str, Any] = await self.client.session.send_request(
                _ListTasks(method="tasks/list", params=params), _RAW
            )
            listed.extend(page.get("tasks", []))
            cursor = page.get("nextCursor")
            if not cursor:
                break
        listed = listed[:limit]
        details: dict[str, dict[str, Any]] = {}
        limiter = anyio.CapacityLimiter(8)

        async def detail(task_id: str) -> None:
            async with limiter:
                try:
                    details[task_id] = await self.status(task_id)
                except ServerRefused:
                    pass  # expired between the list and the look-up: the listed fields remain

        async with anyio.create_task_group() as group:
            for task in listed:
                group.start_soon(detail, task["taskId"])
        return [_listed(task, details.get(task["taskId"])) for task in listed]


def _listed(task: dict[str, Any], status: dict[str, Any] | None) -> dict[str, Any]:
    """tasks/list's entry in check_task_status's field names, with the tool and progress where known."""
    merged: dict[str, Any] = {
        "task_id": task["taskId"],
        "tool": None,
        "status": task["status"],
        "status_message": task.get("statusMessage"),
        "progress": None,
        "total": None,
        "created_at": task.get("createdAt"),
        "last_updated_at": task.get("lastUpdatedAt"),
        "ttl_seconds": task["ttl"] // 1000 if isinstance(task.get("ttl"), int) else None,
    }
    if status is not None:
        merged.update({k: status.get(k) for k in ("tool", "status", "status_message", "progress", "total")})
        merged["last_updated_at"] = status.get("last_updated_at", merged["last_updated_at"])
    return merged


@asynccontextmanager
async def connect(to: Target, *, legacy: bool = False) -> AsyncIterator[Tasks]:
    last = _LastHttpError()

    async def remember_errors(response: httpx2.Response) -> None:
        # The SDK reports a non-JSON-RPC HTTP error as "Server returned an error response":
        # keep the status and body (an AccessDeniedException, say) to tell the user.
        if response.status_code >= 400:
            await response.aread()
            last.status, last.body = response.status_code, response.text[:300]

    http = httpx2.AsyncClient(
        headers=to.headers,
        auth=to.auth,
        timeout=httpx2.Timeout(30, read=120),
        event_hooks={"response": [remember_errors]},
    )
    client = Client(
        streamable_http_client(to.url, http_client=http),
        mode="legacy" if legacy else "auto",
        extensions=None if legacy else [TasksExtension()],
        cache=None,
    )
    try:
        async with http, client:
            yield Tasks(client, to)
    except ClientError:
        raise
    except BaseException as exc:
        # Every transport failure becomes one line with a next step; anything else (a bug, Ctrl-C) goes on.
        problem = _first_cause(exc)
        if problem is None:
            raise
        if isinstance(problem, ClientError):
            raise problem from None  # raised inside the SDK's task group: the same error, unwrapped
        raise ClientError(_describe(problem, to, last)) from None


def _first_cause(exc: BaseException) -> BaseException | None:
    """The error worth telling: the SDK's task groups wrap transport errors in exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_cause(inner)
            if found is not None:
                return found
        return None
    if isinstance(exc, BrokenPipeError):
        return None  # our own stdout was closed (`| head`): not the server's doing
    if isinstance(exc, ClientError | MCPError | httpx2.HTTPError | TimeoutError | OSError):
        return exc
    return None


def _describe(problem: BaseException, to: Target, last: _LastHttpError) -> str:
    if isinstance(problem, httpx2.ConnectError | ConnectionRefusedError):
        if to.arn is None:
            return f"no MCP server is listening at {to.url}: start it with `make local` (or set KIT_MCP_URL / MCP_PORT)"
        return f"cannot reach {to.where} at {to.url} ({problem}): check your network and the environment's region"
    if isinstance(problem, httpx2.TimeoutException | TimeoutError):
        return f"{to.where} did not answer in time: try again, or check that it is running"
    if last.status in (401, 403):
        if to.identity == "iam":
            extra = (
                " and bedrock-agentcore:InvokeAgentRuntimeForUser (you sent a runtime user id)"
                if (RUNTIME_USER_ID_HEADER in to.headers)
                else ""
            )
            return (
                f"{to.where} refused your AWS credentials (HTTP {last.status}: {last.body.strip()}): they need "
                f"bedrock-agentcore:InvokeAgentRuntime on {to.arn}{extra}"
            )
        return f"{to.where} refused the bearer token (HTTP {last.status}): renew it (--token or KIT_TOKEN)"
    if last.status == 404 and to.arn is not None:
        return f"{to.where} was not found (HTTP 404): check the environment's --mcp-arn and region"
    if isinstance(problem, MCPError):
        return explain(problem.error.message, to)
    return f"{to.where}: {problem}"


def parse_arguments(pairs: tuple[str, ...], raw_json: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    """`--args JSON` and `--arg k=v` pairs (v taken by the tool's schema: strings as typed, others as JSON)."""
    arguments: dict[str, Any] = {}
    if raw_json:
        try:
            loaded = json.loads(raw_json)
        except ValueError as exc:
            raise ClientError(f"--args: expected a JSON object ({exc})") from None
        if not isinstance(loaded, dict):
            raise ClientError(f"--args: expected a JSON object, got {type(loaded).__name__}")
        arguments.update(loaded)
    properties = schema.get("properties") or {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ClientError(f"--arg {pair!r}: expected NAME=VALUE")
        if key not in properties:
            known = ", ".join(sorted(k for k in properties if k != "request_key")) or "none"
            raise ClientError(f"--arg {key}: the tool has no such argument; its arguments are {known}")
        arguments[key] = _typed(value, properties[key])
    return arguments


def _typed(value: str, prop: dict[str, Any]) -> Any:
    types = {prop.get("type")} | {option.get("type") for option in prop.get("anyOf", [])}
    if "string" in types and not types & {"integer", "number", "boolean", "object", "array"}:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # the server validates and names the field if it is wrong


def run(operation: Callable[[], Any]) -> Any:
    """Run an async operation from a command."""
    return anyio.run(operation)
