"""Names shared with the CDK stacks and the agent.

Kept free of imports: the infrastructure tests load this file by path to check that
the runtime's header allowlist forwards exactly these headers.
"""

# Caller context: AgentCore Runtime forwards only allowlisted headers, and custom
# ones must start with this prefix.
CUSTOM_HEADER_PREFIX = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-"
ACTOR_ID_HEADER = CUSTOM_HEADER_PREFIX + "Actor-Id"
SESSION_ID_HEADER = CUSTOM_HEADER_PREFIX + "Session-Id"
MEMORY_ID_HEADER = CUSTOM_HEADER_PREFIX + "Memory-Id"
CONTEXT_HEADERS = (ACTOR_ID_HEADER, SESSION_ID_HEADER, MEMORY_ID_HEADER)

# The platform's own session header (not part of the caller context).
RUNTIME_SESSION_ID_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"

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

# Environment variables read by settings.py (the CDK sets the first five).
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

# Task engine metrics (CloudWatch embedded metric format); the CDK dashboard and alarms
# (stacks/constructs/observability.py) read these exact names.
METRICS_NAMESPACE = "AgentKit/TaskEngine"
METRICS_DIMENSION = "Environment"
