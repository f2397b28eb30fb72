"""Assembles the server: tools → task engine → the three protocol doors → MCPServer + /ping on one app."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.subscriptions import InMemorySubscriptionBus
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from kit_contracts.version import KIT_VERSION
from mcp_server import constants as c
from mcp_server.caller import Identity
from mcp_server.datasets import use_dataset_root
from mcp_server.engine.catalog import ToolCatalog
from mcp_server.engine.lifecycle import TaskEngine
from mcp_server.event_store import SessionEventStore, per_session
from mcp_server.handoff.emitter import make_emitter
from mcp_server.in_request import run_in_request
from mcp_server.live import LiveTasks
from mcp_server.protocol.dispatch import TasksExtension, TasksMiddleware
from mcp_server.protocol.headers import McpHeaders
from mcp_server.protocol.listen import serve_task_listen
from mcp_server.protocol.plain_tools import start_tool, task_tools
from mcp_server.protocol.wire import Callers
from mcp_server.request_logging import RequestLogMiddleware
from mcp_server.request_state import request_state_security
from mcp_server.result_blobs import FolderBlobs, ResultBlobs, S3Blobs
from mcp_server.results_sink import AgentCoreMemorySink, NullSink, ResultSink, SqliteSink
from mcp_server.sessions import EngineGate, SessionLog, transport_security
from mcp_server.settings import Settings
from mcp_server.store.base import TaskStore
from mcp_server.tooling import ToolSpec
from mcp_server.tools import example_tools
from mcp_server.tools.handoff_request import handoff_tools as sandbox_tools

SERVER_NAME = "long_running_tasks"


def make_store(settings: Settings) -> TaskStore:
    if settings.store == "dynamodb":
        from mcp_server.store.dynamodb import DynamoDbTaskStore

        assert settings.table_name is not None  # the settings model enforces it
        return DynamoDbTaskStore(settings.table_name, settings.region)
    from mcp_server.store.sqlite import SqliteTaskStore

    return SqliteTaskStore(settings.sqlite_path)


def make_blobs(settings: Settings) -> ResultBlobs:
    if settings.results_bucket:
        return S3Blobs(settings.results_bucket, settings.region)
    return FolderBlobs(settings.results_dir)


def make_sink(settings: Settings) -> ResultSink:
    if settings.result_sink == "agentcore":
        return AgentCoreMemorySink(settings.region)
    if settings.result_sink == "sqlite":
        return SqliteSink(settings.result_sink_path)
    return NullSink()


def request_tool(spec: ToolSpec, engine: TaskEngine) -> Tool:
    """The MCP tool for `spec` called in the request (tier 1); its schema is the author's signature."""
    registered = engine.catalog.mcp_tool(spec.name)
    heartbeat = engine.settings.heartbeat_seconds

    async def in_request(**kwargs: Any) -> Any:
        mcp_ctx: Context[Any, Any] = kwargs.pop(spec.context_param)
        with engine.activity.working():  # /ping says HealthyBusy for in-request work too
            return await run_in_request(spec, kwargs, mcp_ctx, heartbeat)

    return registered.model_copy(update={"fn": in_request})


@dataclass
class Assembled:
    server: MCPServer[Any]
    engine: TaskEngine
    app: Starlette


def build(
    settings: Settings,
    specs: Sequence[ToolSpec] | None = None,
    store: TaskStore | None = None,
    sink: ResultSink | None = None,
    *,
    plain_tools: bool = True,
    handoff_tools: bool = True,
) -> Assembled:
    """The server for `specs` (default: the kit's example tools).

    plain_tools: also serve start_<tool> per task-capable tool and the task tools (check_task_status,
        get_task_result, answer_task, cancel_task, read_task_result), for clients without MCP tasks.
    handoff_tools: also serve request_sandbox_account (the EventBridge handoff).
    Both False: exactly `specs` are listed; durable work is reached through the tasks protocol only.
    """
    use_dataset_root(settings.dataset_root)
    catalog = ToolCatalog(example_tools(settings) if specs is None else specs)
    engine = TaskEngine(
        store or make_store(settings), sink or make_sink(settings), settings, catalog, blobs=make_blobs(settings)
    )
    identity = Identity(settings.identity, settings.results_memory_id, settings.actor_id_claim, settings.local_actor_id)
    callers = Callers(identity)
    live = LiveTasks()  # progress and status of durable tasks, pushed to the 2025-era session that made them
    engine.outcomes.listeners.append(live)
    tasks = engine.tasks
    emitter = make_emitter(settings)
    tools = [request_tool(spec, engine) for spec in catalog]
    if plain_tools:
        tools += [start_tool(spec, tasks) for spec in catalog if spec.mode != "request"]
        tools += task_tools(tasks)
    if handoff_tools:
        tools += sandbox_tools(emitter)
    tasks_middleware = TasksMiddleware(tasks, live)
    server: MCPServer[Any] = MCPServer(
        SERVER_NAME,
        version=KIT_VERSION,
        instructions=(
            "Long-running tools run as durable tasks when the client supports MCP tasks"
            + ("; otherwise use start_<tool>, check_task_status and get_task_result" if plain_tools else "")
            + ". Finished results are also written to the caller's AgentCore Memory session."
        ),
        tools=tools,
        extensions=[TasksExtension(tasks)],
        # Rounds of a tool's questions may reach another microVM: one key for every server, bound to the actor.
        request_state_security=request_state_security(settings.request_state_secret_arn, settings.region, identity),
        # Outermost first: the caller's fields are on every log line the task layer writes.
        middleware=[RequestLogMiddleware(callers), tasks_middleware],
        log_level=settings.log_level,
        subscriptions=(bus := InMemorySubscriptionBus()),
    )
    tasks_middleware.server = server
    # 2026-07-28: subscriptions/listen with notifications.taskIds streams those tasks' progress and status.
    serve_task_listen(server, tasks, bus)

    @server.custom_route(c.PING_PATH, methods=["GET"])
    async def ping(_: Request) -> JSONResponse:
        # HealthyBusy keeps the platform from reaping the session while work runs here.
        problem = engine.problem
        if problem is not None:
            body = {"status": "Unhealthy", "reason": problem, "time_of_last_update": int(engine.activity.last_change)}
            return JSONResponse(body, status_code=503)
        status = "HealthyBusy" if engine.busy else "Healthy"
        return JSONResponse({"status": status, "time_of_last_update": int(engine.activity.last_change)})

    app = server.streamable_http_app(
        streamable_http_path=c.MCP_PATH,
        stateless_http=False,
        session_idle_timeout=settings.session_idle_timeout_seconds,
        host=settings.host,
        transport_security=transport_security(settings),
        # SSE resumability (SEP-1699): a client whose stream drops resumes it with Last-Event-ID;
        # each session replays only its own events (event_store.per_session).
        event_store=SessionEventStore(),
        retry_interval=1000,
    )
    per_session(server.session_manager)
    app.add_middleware(SessionLog, callers=callers)
    app.add_middleware(EngineGate, problem=lambda: engine.problem)
    app.add_middleware(McpHeaders, path=c.MCP_PATH)  # outermost: every layer sees trimmed header values
    mcp_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Starlette) -> AsyncIterator[None]:
        try:
            async with engine.running(), live.running(), mcp_lifespan(a):
                yield
        finally:
            emitter.close()

    app.router.lifespan_context = lifespan
    logging.getLogger(__name__).info("task engine %s using %s store", engine.worker_id, settings.store)
    return Assembled(server, engine, app)


def settle_heap() -> None:
    """Take what start-up built out of the cyclic garbage collector's full passes.

    Imported modules, schemas and the assembled app live as long as the process. Left in
    the collector's oldest generation, every full collection walks all of them (about
    50 ms with the mcp SDK loaded) while requests wait; frozen, a full pass walks only
    what requests and tasks allocated since. Call once, just before serving.

    No collection first: start-up leaves about 3,000 unreachable objects (~450 KiB) that a
    collection would free, and that collection costs ~50 ms of every session's cold start
    (bench/mcp_cold_start.py). The memory is the cheaper of the two.
    """
    gc.freeze()
