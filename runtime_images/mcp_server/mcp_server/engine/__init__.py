"""The durable task engine, one module per job.

- `catalog`: the registered tools (validate arguments, call one, its task support).
- `api`: the task service every protocol door calls (create, load, list, cancel, answer).
- `views`: what a task record means to a caller (its outcome, result, questions).
- `worker`: runs tasks in this process under a lease; asks questions; renews leases.
- `outcomes`: ends a task and publishes its result event (shared by all three above).
- `sweeper`: recovers lost workers, republishes overdue results, purges expired tasks.
  It needs only a store, a sink and settings (no web server, no MCP), so a scheduled
  job can run it too.
- `lifecycle`: `TaskEngine`, which composes them and runs their background loops.

Kept free of imports: importing `mcp_server.engine.sweeper` must not load the server.
"""
