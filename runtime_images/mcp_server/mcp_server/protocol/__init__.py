"""The three doors to a durable task, each translating wire shapes to the task service (engine.api).

- `tasks_2026`: clients that declare `io.modelcontextprotocol/tasks` at 2026-07-28 (SEP-2663).
- `tasks_2025`: 2025-11-25 clients (the Tasks utility, SEP-1686).
- `plain_tools`: clients with no task support (start_<tool>, check_task_status, ...).
- `dispatch`: binds the first two into the SDK (a server middleware for task creation on
  tools/call, an extension for the tasks/* methods), choosing the door by protocol era.
- `wire`: what the doors share (the task's wire shape, the caller, errors).
"""
