"""The agent's connection to the MCP server: auth, caller-context headers, session recovery.

- Protocol: Strands' MCPClient on mcp 2.1 probes `server/discover` and speaks 2026-07-28 with the
  kit's server (no MCP session; durable tools run through the tasks extension, SEP-2663); a server
  that answers only the 2025 handshake gets an `initialize` session instead.
- IAM: each HTTP request is SigV4-signed (service `bedrock-agentcore`) with the runtime's own
  credentials by botocore's signer, inside an httpx2 auth hook (the body is part of the signature).
- JWT: the caller's bearer token is forwarded; the MCP runtime's authorizer checks it again.
- Identity: the MCP server takes the actor from what the platform authenticated (the runtime
  user id this agent sets with IAM auth, the forwarded JWT's claim), never from a header a
  caller writes; the results session travels in an allowlisted custom header (kit_contracts.context).
- A question a tool asks while the model waits for it (elicitation) is declined: the user cannot
  answer in the middle of a model turn. Work that needs the user's decision is started with
  start_<tool>; its question then shows in check_task_status and is answered with answer_task,
  in whatever later turn the user replies.
- While the model waits for a durable tool, the task's polled states (statusMessage, progress) are
  relayed to the caller's event stream (agent.task_progress).
- On a 2025-era session, an expired or unknown MCP session answers HTTP 404. The client notices it
  at the HTTP layer, re-initializes a fresh session and repeats the call once. Task-creating calls
  carry a request key derived from the tool-use id, so the repeat finds the task already created
  instead of starting the work twice: task ids outlive MCP sessions. (2026-07-28 has no sessions
  to expire: a restarted server simply answers the next request.)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx2
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import ElicitRequestParams, ElicitResult
from strands.tools.mcp import MCPAgentTool, MCPClient
from strands.tools.mcp.mcp_tasks import MCPGetTaskResult, TasksConfig
from strands.types.collections import PaginatedList
from strands.types.tools import ToolResult

from agent.task_progress import TaskProgressTool, report
from kit_contracts.context import ACTOR_ID_HEADER, RUNTIME_USER_ID_HEADER, SESSION_ID_HEADER

logger = logging.getLogger(__name__)

SIGNING_SERVICE = "bedrock-agentcore"
MCP_SESSION_HEADER = "mcp-session-id"
# The MCP server's `_meta` keys for idempotent task creation and the task's ttl.
REQUEST_KEY_META = "requestKey"
TTL_META = "ttlMs"
# Headers a proxy on the way may rewrite; signing them would break the signature.
_UNSIGNED = frozenset({"connection", "user-agent", "accept-encoding", "content-length"})


class SigV4HttpxAuth(httpx2.Auth):
    """Signs every request with botocore's SigV4 signer."""

    requires_request_body = True

    def __init__(self, credentials: Callable[[], ReadOnlyCredentials], region: str) -> None:
        self._credentials = credentials
        self._region = region

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _UNSIGNED}
        aws_request = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=headers)
        SigV4Auth(self._credentials(), SIGNING_SERVICE, self._region).add_auth(aws_request)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws_request.headers:
                request.headers[name] = aws_request.headers[name]
        yield request


def runtime_credentials() -> Callable[[], ReadOnlyCredentials]:
    """The runtime role's credentials, refreshed by botocore as they near expiry."""
    import boto3

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials found to sign requests to the MCP runtime")
    return credentials.get_frozen_credentials


def context_headers(actor_id: str, results_session_id: str, auth_mode: str) -> dict[str, str]:
    """The caller context for the MCP server, and with IAM auth the identity it trusts.

    With IAM auth the runtime user id is the actor: only principals allowed
    bedrock-agentcore:InvokeAgentRuntimeForUser may set it, and the kit grants that to this
    agent's role alone. With JWT auth the forwarded bearer token carries the identity. The
    Actor-Id header only states who the agent believes it acts for; the server refuses a
    mismatch. The memory is the environment's, never named here.
    """
    headers = {ACTOR_ID_HEADER: actor_id, SESSION_ID_HEADER: results_session_id}
    if auth_mode == "iam":
        headers[RUNTIME_USER_ID_HEADER] = actor_id
    return headers


def request_key(tool_use_id: str) -> str:
    # Tool-use ids are unique per model turn; hashing bounds the length the server accepts (1..128).
    return "tooluse-" + hashlib.sha256(tool_use_id.encode()).hexdigest()[:48]


async def decline_questions_during_a_call(context: Any, params: ElicitRequestParams) -> ElicitResult:
    logger.info("declined a question a tool asked during its call (the user answers through answer_task)")
    return ElicitResult(action="decline")


class ReconnectingMCPClient(MCPClient):
    """Strands' MCPClient over Streamable HTTP that re-initializes after a 404 on its session."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        auth: httpx2.Auth | None,
        tasks_config: TasksConfig,
        startup_timeout: int = 30,
    ) -> None:
        self.reconnects = 0
        self._generation = 0
        self._expired_generation = -1
        self._restart_lock = threading.Lock()
        self._url = url
        # TasksConfig is a TypedDict: its ttl is the legacy task ttl, the same wish in 2025 terms.
        self._ttl_ms = int(tasks_config["ttl"].total_seconds() * 1000)
        self._headers = dict(headers)
        self._auth = auth
        super().__init__(
            self._transport,
            tasks_config=tasks_config,
            startup_timeout=startup_timeout,
            elicitation_callback=decline_questions_during_a_call,
        )

    @asynccontextmanager
    async def _transport(self) -> AsyncIterator[Any]:
        """One HTTP client per connection (Strands opens a new one after a restart)."""
        generation = self._generation

        async def notice_expired_session(response: httpx2.Response) -> None:
            if response.status_code == 404 and MCP_SESSION_HEADER in response.request.headers:
                self._expired_generation = generation

        async with create_mcp_http_client(headers=self._headers, auth=self._auth) as http:
            http.event_hooks["response"].append(notice_expired_session)
            async with streamable_http_client(self._url, http_client=http) as streams:
                yield streams

    def _restart(self, failed_generation: int) -> None:
        with self._restart_lock:
            if self._generation != failed_generation:
                return  # another call already re-initialized
            try:
                self.stop(None, None, None)
            except RuntimeError:
                logger.info("the expired MCP session closed with an error; starting a new one")
            self._generation += 1
            self.reconnects += 1
            self.start()
            # Task support per tool is learned from the listing; the restart forgot it.
            self.list_tools_sync()
            logger.info("re-initialized the MCP session after HTTP 404 (reconnect %d)", self.reconnects)

    def list_tools_sync(self, *args: Any, **kwargs: Any) -> PaginatedList[MCPAgentTool]:
        """The server's tools, each relaying its task's progress while the model waits (agent.task_progress)."""
        listed = super().list_tools_sync(*args, **kwargs)
        return PaginatedList[MCPAgentTool]([TaskProgressTool.of(t) for t in listed], token=listed.pagination_token)

    async def _get_task_async(self, task_id: str, read_timeout_seconds: timedelta | None = None) -> MCPGetTaskResult:
        # Strands polls a durable call's task here (SEP-2663 tasks/get): each state goes to the call's sink.
        state = await super()._get_task_async(task_id, read_timeout_seconds)
        report(state)
        return state

    async def call_tool_async(  # type: ignore[override]
        self,
        tool_use_id: str,
        name: str,
        arguments: dict[str, Any] | None = None,
        read_timeout_seconds: timedelta | None = None,
        meta: dict[str, Any] | None = None,
        progress_callback: Any = None,
        *,
        cancel_signal: threading.Event | None = None,
    ) -> ToolResult:
        # The request key makes a repeated call find its task; ttlMs asks the server to keep the
        # task and its result as long as the agent promises (within the server's bounds).
        meta = {**(meta or {}), REQUEST_KEY_META: request_key(tool_use_id), TTL_META: self._ttl_ms}
        for attempt in (1, 2):
            generation = self._generation
            result = await super().call_tool_async(
                tool_use_id,
                name,
                arguments,
                read_timeout_seconds,
                meta,
                progress_callback,
                cancel_signal=cancel_signal,
            )
            if self._expired_generation != generation or attempt == 2:
                return result
            await asyncio.to_thread(self._restart, generation)
        raise AssertionError("unreachable")


def build_mcp_client(
    url: str,
    *,
    auth_mode: str,
    region: str | None,
    context: Mapping[str, str],
    caller_headers: Mapping[str, str],
    poll_timeout_seconds: int,
    task_ttl_seconds: int,
    credentials: Callable[[], ReadOnlyCredentials] | None = None,
) -> ReconnectingMCPClient:
    headers = dict(context)
    auth: httpx2.Auth | None = None
    if auth_mode == "iam":
        if not region:
            raise RuntimeError("AWS_REGION is required to sign requests to the MCP runtime")
        auth = SigV4HttpxAuth(credentials or runtime_credentials(), region)
    elif auth_mode == "jwt":
        token = next((v for k, v in caller_headers.items() if k.lower() == "authorization"), None)
        if not token:
            raise RuntimeError("JWT auth is configured but the request carries no Authorization header to forward")
        headers["Authorization"] = token
    tasks = TasksConfig(
        poll_timeout=timedelta(seconds=poll_timeout_seconds),
        ttl=timedelta(seconds=task_ttl_seconds),
    )
    return ReconnectingMCPClient(url, headers, auth, tasks)
