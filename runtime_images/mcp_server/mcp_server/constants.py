"""The server's names: paths, statuses, environment variables.

Names other deployables share (the caller-context headers, the metric names) are defined in
kit_contracts and re-exported here.
"""

from kit_contracts.context import (  # noqa: F401 - re-exported: the server's names in one place
    ACTOR_ID_HEADER,
    CONTEXT_HEADERS,
    CUSTOM_HEADER_PREFIX,
    MEMORY_ID_HEADER,
    RUNTIME_SESSION_ID_HEADER,
    SESSION_ID_HEADER,
)

MCP_PATH = "/mcp"
PING_PATH = "/ping"
DEFAULT_PORT = 8000

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"

STATUS_WORKING = "working"
STATUS_INPUT_REQUIRED = "input_required"
STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUS_CANCELLED = "cancelled"
TERMINAL_STATUSES = frozenset({STATUS_COMPLETED, STATUS_FAILED, STATUS_CANCELLED})

# Value of the sparse lease index's partition key while a task's work runs.
LEASE_STATE_RUNNING = "running"

# Environment variables named outside settings.py too (the CDK sets the first five).
ENV_TASK_STORE = "TASK_STORE"
ENV_TASK_TABLE_NAME = "TASK_TABLE_NAME"
ENV_MEMORY_ID = "MEMORY_ID"
ENV_AWS_REGION = "AWS_REGION"
ENV_SESSION_IDLE_TIMEOUT = "MCP_SESSION_IDLE_TIMEOUT_SECONDS"
# Extra Host header values the MCP endpoint accepts, comma-separated (DNS-rebinding protection).
ENV_ALLOWED_HOSTS = "MCP_ALLOWED_HOSTS"
# Where handoff requests go (unset: the local outbox next to the task store).
ENV_HANDOFF_BUS_NAME = "HANDOFF_BUS_NAME"
# The value of the task metrics' Environment dimension (the dashboard's env name).
ENV_KIT_ENVIRONMENT = "KIT_ENVIRONMENT"
