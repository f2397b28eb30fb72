"""Irreversible steps the workflow can run, one per handoff `kind`.

A step is the extension point: add its request model to kit_contracts.handoff.REQUEST_MODELS
(the rule matches exactly those kinds), add a module with `execute` and `compensate`, and
register it below. `execute` runs once per idempotency key (Powertools idempotency in the
execute handler), except that a run stopped part-way (a function timeout) is run again by the
workflow's retry: it must finish or recognise what that run did. It raises when it fails, and
is then compensated: `compensate` must be safe to run after a partial `execute` and safe to
repeat.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from handoff.steps.sandbox_account import SandboxAccountStep


class Step(Protocol):
    kind: str
    request_model: type[BaseModel]

    def describe(self, request: Any) -> str: ...

    def execute(self, idempotency_key: str, request: Any) -> dict[str, Any]: ...

    def compensate(self, idempotency_key: str, request: Any) -> dict[str, Any]: ...


STEPS: dict[str, Step] = {step.kind: step for step in (SandboxAccountStep(),)}


def step_for(kind: str) -> Step:
    try:
        return STEPS[kind]
    except KeyError:
        raise LookupError(f"kind {kind!r} is not a registered step; known: {', '.join(sorted(STEPS))}") from None
