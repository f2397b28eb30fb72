"""Tier 3: request_sandbox_account gathers, validates and confirms a request, then emits one handoff event."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from handoff_support import lambda_module, outbox_rows
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitResult
from tests_support import CONTEXT, InProcessServer, client, test_settings

pytestmark = pytest.mark.anyio

TOOL = "request_sandbox_account"
REQUEST = {"application_name": "billing-api", "region": "eu-west-1", "cost_center": "CC-1234"}


def expected_key(actor: str, request: dict[str, str]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{actor}\nsandbox_account\n{canonical}".encode()).hexdigest()


class User:
    """An elicitation callback standing in for the person at the client: fills fields, answers the confirmation."""

    def __init__(self, details: dict[str, str] | None = None, confirm: str = "yes") -> None:
        self.details = details or {}
        self.confirm = confirm  # "yes", "no" (accept with false) or "decline"
        self.asked: list[dict[str, Any]] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        schema = params.requested_schema
        self.asked.append({"message": params.message, "fields": sorted(schema["properties"])})
        if "confirm" in schema["properties"]:
            if self.confirm == "decline":
                return ElicitResult(action="decline")
            return ElicitResult(action="accept", content={"confirm": self.confirm == "yes"})
        return ElicitResult(action="accept", content={k: self.details[k] for k in schema["properties"]})


@pytest.fixture
def server(tmp_path: Path) -> Iterator[InProcessServer]:
    with InProcessServer(test_settings(tmp_path), None) as srv:
        yield srv


def text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_missing_field_is_elicited_then_the_confirmed_request_is_emitted(
    server: InProcessServer, tmp_path: Path, mode: str
) -> None:
    user = User({"cost_center": "CC-1234"})
    async with client(server.mcp_url, CONTEXT, mode=mode, elicitation_callback=user) as session:
        # legacy: elicitation/create mid-call; auto (2026-07-28): InputRequiredResult rounds.
        assert session.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        result = await session.call_tool(TOOL, {"application_name": "billing-api", "region": "eu-west-1"})
    assert not result.is_error, text(result)
    assert [q["fields"] for q in user.asked] == [["cost_center"], ["confirm"]]
    assert "billing-api" in user.asked[1]["message"] and "CC-1234" in user.asked[1]["message"]
    outcome = result.structured_content
    assert outcome["status"] == "requested"
    assert outcome["idempotency_key"] == expected_key("alice", REQUEST)
    assert "memory" in outcome["message"]
    [(key, detail_json)] = outbox_rows(tmp_path / "handoff_outbox.sqlite3")
    detail = lambda_module("handoff.contract").HandoffDetail.model_validate_json(detail_json)
    assert (key, detail.idempotency_key, detail.kind) == (outcome["idempotency_key"], key, "sandbox_account")
    assert (detail.actor_id, detail.session_id) == ("alice", "session-1")
    assert lambda_module("handoff.steps.sandbox_account").SandboxAccountRequest.model_validate(detail.request)


async def test_missing_fields_are_listed_when_the_client_cannot_be_asked(
    server: InProcessServer, tmp_path: Path
) -> None:
    async with client(server.mcp_url, CONTEXT) as session:
        result = await session.call_tool(TOOL, {"region": "eu-west-1", "confirm": True})
    assert result.is_error
    message = text(result)
    assert "missing required fields: application_name (" in message and "cost_center (like 'CC-1234')" in message
    assert "region (" not in message
    assert outbox_rows(tmp_path / "handoff_outbox.sqlite3") == []


@pytest.mark.parametrize(
    ("arguments", "elicited", "named"),
    [
        ({**REQUEST, "cost_center": "cc 12"}, {}, "cost_center='cc 12': expected like 'CC-1234'"),
        ({**REQUEST, "region": "Europe"}, {}, "region='Europe': expected AWS region like 'eu-west-1'"),
        ({"application_name": "billing-api", "cost_center": "CC-1"}, {"region": "moon-1"}, "region='moon-1'"),
    ],
)
async def test_invalid_input_is_rejected_naming_the_field(
    server: InProcessServer, tmp_path: Path, arguments: dict[str, str], elicited: dict[str, str], named: str
) -> None:
    user = User(elicited)
    async with client(server.mcp_url, CONTEXT, elicitation_callback=user) as session:
        result = await session.call_tool(TOOL, arguments)
    assert result.is_error
    assert named in text(result)
    assert all(q["fields"] != ["confirm"] for q in user.asked), "an invalid request must not reach confirmation"
    assert outbox_rows(tmp_path / "handoff_outbox.sqlite3") == []


@pytest.mark.parametrize("answer", ["decline", "no"])
async def test_a_declined_confirmation_emits_nothing(server: InProcessServer, tmp_path: Path, answer: str) -> None:
    user = User(confirm=answer)
    async with client(server.mcp_url, CONTEXT, elicitation_callback=user) as session:
        # confirm=true from the model does not stand in for the user's answer.
        result = await session.call_tool(TOOL, {**REQUEST, "confirm": True})
    assert not result.is_error, text(result)
    assert result.structured_content["status"] == "declined"
    assert result.structured_content["idempotency_key"] is None
    assert outbox_rows(tmp_path / "handoff_outbox.sqlite3") == []


async def test_without_elicitation_an_explicit_confirm_is_required(server: InProcessServer, tmp_path: Path) -> None:
    async with client(server.mcp_url, CONTEXT) as session:
        result = await session.call_tool(TOOL, REQUEST)
    assert result.is_error
    assert "confirmation needed" in text(result) and "confirm=true" in text(result)
    assert outbox_rows(tmp_path / "handoff_outbox.sqlite3") == []


async def test_a_confirmed_request_is_emitted_exactly_once(server: InProcessServer, tmp_path: Path) -> None:
    later_session = {**CONTEXT, "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Session-Id": "session-2"}
    outcomes = []
    for headers in (CONTEXT, CONTEXT, later_session):
        async with client(server.mcp_url, headers) as session:
            # Whitespace is stripped before the key is derived: the same request, the same key.
            result = await session.call_tool(TOOL, {**REQUEST, "application_name": " billing-api ", "confirm": True})
        assert not result.is_error, text(result)
        outcomes.append(result.structured_content)
    assert [o["status"] for o in outcomes] == ["requested", "already_requested", "already_requested"]
    assert {o["idempotency_key"] for o in outcomes} == {expected_key("alice", REQUEST)}
    assert len(outbox_rows(tmp_path / "handoff_outbox.sqlite3")) == 1


async def test_another_actor_gets_another_key(server: InProcessServer, tmp_path: Path) -> None:
    bob = {**CONTEXT, "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": "bob"}
    keys = []
    for headers in (CONTEXT, bob):
        async with client(server.mcp_url, headers) as session:
            result = await session.call_tool(TOOL, {**REQUEST, "confirm": True})
        keys.append(result.structured_content["idempotency_key"])
    assert keys == [expected_key("alice", REQUEST), expected_key("bob", REQUEST)]
    assert len(outbox_rows(tmp_path / "handoff_outbox.sqlite3")) == 2


async def test_a_caller_without_context_is_told_before_being_asked(server: InProcessServer) -> None:
    user = User({"cost_center": "CC-1234"})
    async with client(server.mcp_url, {}, elicitation_callback=user) as session:
        with pytest.raises(MCPError) as refused:
            await session.call_tool(TOOL, {"application_name": "billing-api", "region": "eu-west-1"})
    assert refused.value.error.code == -32600 and refused.value.error.data["header"].endswith("Actor-Id")
    assert user.asked == []
