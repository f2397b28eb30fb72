"""The out-of-band sweeper: a scheduled Lambda that notices lost work when no MCP session is alive.

Every MCP server sweeps its store while it runs; when no session is alive (a microVM reaped at
its max lifetime, a crash), nothing would. This handler runs the same sweep (engine.sweeper)
against the DynamoDB task table on a schedule:
- a lost non-resumable task is failed with a reason, and its outcome written to the caller's memory;
- a lost resumable task is handed to a fresh MCP runtime session: the handler releases nothing,
  it wakes a server with InvokeAgentRuntime (a new session id) and that server's own sweep takes
  the task over (IAM environments; with JWT inbound auth the runtime accepts no SigV4 call, so
  the task waits for the next session and the oldest-expired-lease alarm says so);
- overdue result events are retried with backoff and given up after PUBLISH_MAX_ATTEMPTS.
It imports nothing of the web server or the MCP SDK: the Lambda ships this package with pydantic
(from the Powertools layer) and boto3 (from the runtime).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from pydantic import Field

from kit_contracts.settings import EnvSettings
from mcp_server.engine.blocking import blocking
from mcp_server.engine.sweeper import Sweeper
from mcp_server.logs import configure_logging
from mcp_server.store.base import TaskRecord, TaskStore

logger = logging.getLogger(__name__)


class SweepSettings(EnvSettings):
    table_name: str = Field(validation_alias="TASK_TABLE_NAME", description="the DynamoDB task table")
    memory_id: str = Field(validation_alias="MEMORY_ID", description="AgentCore Memory that receives outcomes")
    environment: str = Field(
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$",
        validation_alias="KIT_ENVIRONMENT",
        description="the environment's name: the metrics' dimension",
    )
    mcp_runtime_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:bedrock-agentcore:[a-z0-9-]+:[0-9]{12}:runtime/[a-zA-Z][a-zA-Z0-9_]{0,47}-[a-zA-Z0-9]{10}$",
        validation_alias="MCP_RUNTIME_ARN",
        description="the MCP runtime to wake for a lost resumable task (IAM environments; unset: none is woken)",
        json_schema_extra={"expected": "an AgentCore runtime ARN"},
    )
    mcp_runtime_endpoint: str = Field(
        "live",
        pattern=r"^[a-zA-Z][a-zA-Z0-9_]{0,47}$",
        validation_alias="MCP_RUNTIME_ENDPOINT",
        description="the MCP runtime's endpoint to wake (config release.endpoint): the promoted version",
        json_schema_extra={"expected": "a runtime endpoint name"},
    )
    lease_seconds: float = Field(60.0, ge=0.2, le=3600, validation_alias="TASK_LEASE_SECONDS", description="a lease")
    publish_max_attempts: int = Field(
        8, ge=1, le=100, validation_alias="PUBLISH_MAX_ATTEMPTS", description="result-event writes before giving up"
    )


class RuntimeWaker:
    """Hands a lost resumable task to a fresh MCP runtime session.

    The sweeper has just taken the task over; this releases it again as a hand-over (so the next
    take-over costs no attempt) and wakes a server with InvokeAgentRuntime on a new session: the
    server's own sweep, first thing after start-up, takes the task and runs it there. If the wake
    fails, the task stays released and the next scheduled sweep tries again.
    """

    def __init__(
        self, runtime_arn: str, store: TaskStore, worker_id: str, client: Any = None, endpoint: str = "live"
    ) -> None:
        self.runtime_arn = runtime_arn
        self.endpoint = endpoint
        self.store = store
        self.worker_id = worker_id
        self._client = client

    def _runtime(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("bedrock-agentcore")
        return self._client

    async def __call__(self, record: TaskRecord) -> bool:
        if not await blocking(self.store.release, record.task_id, self.worker_id, time.time()):
            return False  # gone meanwhile (cancelled): nothing to hand over
        try:
            await blocking(self.wake)
        except Exception:
            logger.exception("waking an MCP runtime session failed; the next sweep tries again")
        return True

    def wake(self) -> None:
        # Any request starts a session's microVM, and with it the server and its sweep.
        self._runtime().invoke_agent_runtime(
            agentRuntimeArn=self.runtime_arn,
            qualifier=self.endpoint,
            runtimeSessionId=str(uuid.uuid4()),
            contentType="application/json",
            accept="application/json, text/event-stream",
            payload=json.dumps({"jsonrpc": "2.0", "id": "sweeper-wake", "method": "ping"}).encode(),
        )


def run(settings: SweepSettings, *, ddb: Any = None, memory: Any = None, runtime: Any = None) -> dict[str, Any]:
    """One sweep of the task table; returns what it did (the Lambda's result, for its logs)."""
    from mcp_server.results_sink import AgentCoreMemorySink
    from mcp_server.settings import load_settings
    from mcp_server.store.dynamodb import DynamoDbTaskStore

    engine_settings = load_settings(
        {
            "TASK_STORE": "dynamodb",
            "TASK_TABLE_NAME": settings.table_name,
            "MEMORY_ID": settings.memory_id,
            "KIT_ENVIRONMENT": settings.environment,
            "TASK_LEASE_SECONDS": str(settings.lease_seconds),
            "PUBLISH_MAX_ATTEMPTS": str(settings.publish_max_attempts),
            # Not used by a sweep; the engine's settings require a deployed identity source.
            "CALLER_IDENTITY": "runtime-user-id",
        }
    )
    store = DynamoDbTaskStore(settings.table_name, client=ddb)
    worker_id = f"scheduled-sweeper-{uuid.uuid4().hex[:8]}"
    waker = (
        RuntimeWaker(settings.mcp_runtime_arn, store, worker_id, runtime, settings.mcp_runtime_endpoint)
        if settings.mcp_runtime_arn
        else None
    )
    sweeper = Sweeper.standalone(
        store,
        AgentCoreMemorySink(client=memory),
        engine_settings,
        worker_id,
        resume=waker,
        # With no runtime to wake (JWT inbound auth), a lost resumable task is left for the next
        # session, and the oldest-expired-lease metric shows it waiting.
        leave_resumable=waker is None,
        publish_max_attempts=settings.publish_max_attempts,
        report_backlog=True,
    )

    async def sweep() -> dict[str, int]:
        recovered = await sweeper.recover_lost()
        republished = await sweeper.republish_overdue()
        return {"recovered": recovered, "republished": republished}

    return asyncio.run(sweep())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    configure_logging("INFO", static={"component": "sweeper"})
    return run(SweepSettings.load())
