"""The task engine's metrics: written by the MCP server as embedded metric format lines,
charted and alarmed on by the CDK's observability construct."""

NAMESPACE = "AgentKit/TaskEngine"
# The one dimension; its value is the environment's name.
DIMENSION = "Environment"

TASKS_STARTED = "TasksStarted"
TASKS_COMPLETED = "TasksCompleted"
TASKS_FAILED = "TasksFailed"
TASKS_CANCELLED = "TasksCancelled"
TASK_DURATION = "TaskDuration"
LOST_WORKER_RECOVERIES = "LostWorkerRecoveries"

TASK_METRICS = (TASKS_STARTED, TASKS_COMPLETED, TASKS_FAILED, TASKS_CANCELLED, TASK_DURATION, LOST_WORKER_RECOVERIES)

# A terminal status -> the counter it increments.
TERMINAL_COUNTERS = {"completed": TASKS_COMPLETED, "failed": TASKS_FAILED, "cancelled": TASKS_CANCELLED}
