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

from pydantic import Field

from kit_contracts.settings import EnvSettings


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
    lease_seconds: float = Field(30.0, ge=0.2, le=3600, validation_alias="TASK_LEASE_SECONDS", description="a lease")
    publish_max_attempts: int = Field(
        8, ge=1, le=100, validation_alias="PUBLISH_MAX_ATTEMPTS", description="result-event writes before giving up"
    )
