"""request_sandbox_account: gather, validate and confirm a handoff request, then put it on the bus.

Tier 3 (irreversible work): the tool never does the work itself. It asks for what is
missing (elicitation, where the client supports it), validates, asks the user to confirm,
and emits one `Handoff Requested` event; the Step Functions workflow runs it exactly once
and writes the outcome to the caller's AgentCore Memory session.

The questions are resolvers (`Resolve`/`Elicit`), so both protocol eras work: 2025-11-25
clients get `elicitation/create` requests mid-call, 2026-07-28 clients an
`InputRequiredResult` they answer on retry. Clients without elicitation get a tool
error listing the missing fields, and must pass `confirm=true` once the user agreed.
"""

from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.tools import Tool
from pydantic import BaseModel, Field, ValidationError, create_model

from kit_contracts.errors import problems
from kit_contracts.handoff import KIND_SANDBOX_ACCOUNT, SandboxAccountRequest, handoff_detail
from mcp_server.caller import Caller
from mcp_server.handoff.emitter import HandoffEmitError, HandoffEmitter
from mcp_server.logs import log_context
from mcp_server.protocol.wire import can_elicit, requester

logger = logging.getLogger(__name__)
TOOL_NAME = "request_sandbox_account"
FIELDS = tuple(SandboxAccountRequest.model_fields)


def _help(name: str) -> str:
    return SandboxAccountRequest.model_fields[name].description or name


class Confirmation(BaseModel):
    confirm: bool = Field(title="Confirm", description="true to send the request; it cannot be undone from here")


@dataclass(frozen=True)
class Draft:
    request: SandboxAccountRequest | None
    declined: str | None = None


@dataclass(frozen=True)
class Decision:
    approved: bool
    reason: str


class HandoffOutcome(BaseModel):
    status: Literal["requested", "already_requested", "declined"]
    kind: str
    idempotency_key: str | None = Field(None, description="sha256 of the request; the workflow runs it once")
    summary: str | None = None
    message: str


def describe(request: SandboxAccountRequest) -> str:
    return f"sandbox account for '{request.application_name}' in {request.region} (cost center {request.cost_center})"


def _caller(ctx: Context[Any, Any]) -> Caller:
    return requester()  # a JSON-RPC error naming the header when the caller context is not usable


@functools.cache
def _missing_model(missing: tuple[str, ...]) -> type[BaseModel]:
    # Plain strings: the patterns are checked after the answer arrives, so an invalid
    # answer gets an error naming its field instead of a generic schema mismatch.
    fields: dict[str, Any] = {
        name: (str, Field(title=name.replace("_", " "), description=_help(name), min_length=1, max_length=64))
        for name in missing
    }
    return create_model("SandboxAccountDetails", **fields)


def invalid_message(exc: ValidationError) -> str:
    rules = {name: _help(name) for name in FIELDS}
    return "invalid request: " + problems(exc, whole="(request)", show_input=True, expected=rules)


async def ask_missing(
    ctx: Context[Any, Any], application_name: str | None, region: str | None, cost_center: str | None
) -> dict[str, str] | Elicit[Any]:
    _caller(ctx)  # fail on a missing caller context before asking the user anything
    given = {"application_name": application_name, "region": region, "cost_center": cost_center}
    missing = tuple(name for name, value in given.items() if value is None or not value.strip())
    if not missing:
        return {k: v for k, v in given.items() if v is not None}
    if not can_elicit(ctx.client_capabilities):
        listed = "; ".join(f"{name} ({_help(name)})" for name in missing)
        raise ToolError(
            f"missing required fields: {listed}. This client cannot be asked for them: pass them as arguments"
        )
    return Elicit(f"To request a sandbox account, please provide: {', '.join(missing)}.", _missing_model(missing))


async def draft_request(
    application_name: str | None,
    region: str | None,
    cost_center: str | None,
    answers: Annotated[ElicitationResult[BaseModel], Resolve(ask_missing)],
) -> Draft:
    if answers.action != "accept":
        return Draft(None, declined=f"the missing details were not given (the user chose {answers.action})")
    data = answers.data  # type: ignore[union-attr]
    elicited = data if isinstance(data, dict) else data.model_dump()
    given = {"application_name": application_name, "region": region, "cost_center": cost_center}
    values = {k: v for k, v in given.items() if v is not None and v.strip()} | elicited
    try:
        return Draft(SandboxAccountRequest.model_validate(values))
    except ValidationError as exc:
        raise ToolError(invalid_message(exc)) from None


async def decide(
    ctx: Context[Any, Any], confirm: bool, draft: Annotated[Draft, Resolve(draft_request)]
) -> Decision | Elicit[Confirmation]:
    if draft.request is None:
        return Decision(False, draft.declined or "declined")
    # With elicitation the user answers; the `confirm` argument is the model's word, so
    # it counts only for clients that cannot ask the user.
    if can_elicit(ctx.client_capabilities):
        return Elicit(f"Send this request: a {describe(draft.request)}? It cannot be undone from here.", Confirmation)
    if confirm:
        return Decision(True, "confirm=true")
    raise ToolError(
        f"not sent: confirmation needed. Ask the user to confirm a {describe(draft.request)}, "
        "then call again with confirm=true"
    )


def handoff_tools(emitter: HandoffEmitter) -> list[Tool]:
    async def request_sandbox_account(
        ctx: Context[Any, Any],
        draft: Annotated[Draft, Resolve(draft_request)],
        decision: Annotated[ElicitationResult[Confirmation], Resolve(decide)],
        application_name: Annotated[str | None, Field(max_length=64, description=_help("application_name"))] = None,
        region: Annotated[str | None, Field(max_length=32, description=_help("region"))] = None,
        cost_center: Annotated[str | None, Field(max_length=32, description=_help("cost_center"))] = None,
        confirm: Annotated[
            bool, Field(description="only for clients without elicitation: true once the user agreed")
        ] = False,
    ) -> HandoffOutcome:
        """Request a sandbox AWS account for an application (irreversible: runs once, maybe after approval).

        Missing fields are asked for, then the user confirms. The request runs in a workflow;
        its outcome arrives later in this conversation's memory, not in this tool's result.
        """
        caller = _caller(ctx)
        with log_context(actor=caller.actor_id, session=caller.session_id, tool=TOOL_NAME):
            data = decision.data if decision.action == "accept" else None  # type: ignore[union-attr]
            approved = data.approved if isinstance(data, Decision) else bool(data and data.confirm)
            if draft.request is None or not approved:
                reason = draft.declined or "the user did not confirm"
                logger.info("handoff not confirmed", extra={"kind": KIND_SANDBOX_ACCOUNT})
                return HandoffOutcome(
                    status="declined", kind=KIND_SANDBOX_ACCOUNT, message=f"Nothing was requested: {reason}."
                )
            detail = handoff_detail(
                kind=KIND_SANDBOX_ACCOUNT,
                request=draft.request.model_dump(),
                actor_id=caller.actor_id,
                session_id=caller.session_id,
            )
            key = detail["idempotency_key"]
            try:
                emitted = await anyio.to_thread.run_sync(emitter.emit, detail)
            except HandoffEmitError as exc:
                logger.warning("handoff not emitted", extra={"idempotency_key": key, "error": str(exc)})
                raise ToolError(f"the request was not sent ({exc}); calling again is safe") from None
            logger.info(
                "handoff requested", extra={"idempotency_key": key, "kind": KIND_SANDBOX_ACCOUNT, "new": emitted}
            )
        summary = describe(draft.request)
        where = "It was already requested before; n" if not emitted else "N"
        return HandoffOutcome(
            status="requested" if emitted else "already_requested",
            kind=KIND_SANDBOX_ACCOUNT,
            idempotency_key=key,
            summary=summary,
            message=(
                f"{where}othing more to do here: the {summary} runs in the handoff workflow exactly once "
                "(after approval where required). Its outcome will be written to your memory in this "
                "conversation's session; it is not returned by this call."
            ),
        )

    return [
        Tool.from_function(
            request_sandbox_account,
            name=TOOL_NAME,
            description=inspect.getdoc(request_sandbox_account),
            structured_output=True,
        )
    ]
