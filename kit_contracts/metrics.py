"""The task engine's metrics: written by the MCP server as embedded metric format lines,
charted and alarmed on by the CDK's observability construct."""

NAMESPACE = "AgentKit/TaskEngine"
# The one dimension; its value is the environment's name.
DIMENSION = "Environment"

TASKS_STARTED = "TasksStarted"
TASKS_COMPLETED = "TasksCompleted"
TASKS_FAILED = "TasksFailed"
TASKS_CANCELLED = "TasksCancelled"
# Completed tasks whose tool reported an error (`isError`): counted in TasksCompleted too, since the
# protocol calls them completed; the failure-rate alarm counts them as failures.
TASK_TOOL_ERRORS = "TaskToolErrors"
TASK_DURATION = "TaskDuration"
LOST_WORKER_RECOVERIES = "LostWorkerRecoveries"

# Written by the scheduled sweeper (and every server's own sweep): how stale the oldest lost task
# is, results given up on after their retries, and lost resumable tasks handed to a new session.
OLDEST_EXPIRED_LEASE_AGE = "OldestExpiredLeaseAge"
ABANDONED_PUBLICATIONS = "AbandonedPublications"
TASKS_HANDED_OVER = "TasksHandedOver"
# Tasks a failure while finishing, publishing or renewing ended (the process kept serving).
TASK_FAULTS = "TaskFaults"

TASK_METRICS = (
    TASKS_STARTED,
    TASKS_COMPLETED,
    TASKS_FAILED,
    TASKS_CANCELLED,
    TASK_TOOL_ERRORS,
    TASK_DURATION,
    LOST_WORKER_RECOVERIES,
    OLDEST_EXPIRED_LEASE_AGE,
    ABANDONED_PUBLICATIONS,
    TASKS_HANDED_OVER,
    TASK_FAULTS,
)

# A terminal status -> the counter it increments.
TERMINAL_COUNTERS = {"completed": TASKS_COMPLETED, "failed": TASKS_FAILED, "cancelled": TASKS_CANCELLED}
