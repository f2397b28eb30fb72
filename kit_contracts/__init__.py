"""Contracts that cross a deployable boundary, defined once.

This package is built into every deployable that speaks them: both runtime images and the
handoff Lambdas (each has a symlink to it, and the CDK stages their assets with the link
followed), and the CDK app imports it directly. It depends on the standard library and
pydantic only, which all of them carry.

- `context`: the caller-context header names the agent sends and the MCP server reads.
- `errors`: how a pydantic validation error is told to a person.
- `handoff`: the `Handoff Requested` event and the requests each step accepts.
- `memory_events`: the conversation event written to AgentCore Memory (task results,
  handoff outcomes) in the shape the Strands session manager restores.
- `metrics`: the task engine's embedded-metric names the dashboard and alarms chart.
- `jsonlog`: the JSON log line format of both images.
"""
