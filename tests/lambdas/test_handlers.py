"""Handlers and the step registry on their own (moto DynamoDB/SSM/AgentCore Memory)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from handoff import contract
from handoff.contract import ValidationFailed
from handoff.handlers import record, validate
from handoff.steps import STEPS
from moto import mock_aws
from test_workflow import ACTOR, SESSION, detail

from kit_contracts.handoff import REQUEST_MODELS
from kit_contracts.memory_events import message_text


def test_every_kind_the_rule_matches_has_a_step() -> None:
    assert set(contract.KINDS) == set(STEPS)


def test_each_step_validates_with_the_shared_request_model() -> None:
    assert {kind: step.request_model for kind, step in STEPS.items()} == REQUEST_MODELS


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"idempotency_key": "not-hex"}, "idempotency_key"),
        ({"actor_id": "has spaces"}, "actor_id"),
        ({"schema_version": "2"}, "schema_version"),
        ({"unexpected": 1}, "unexpected"),
        ({"request": {"application_name": "ok-name", "region": "moon-1", "cost_center": "CC-1"}}, "region"),
        ({"request": {"application_name": "ok-name", "region": "eu-west-1"}}, "cost_center"),
    ],
)
def test_validation_names_the_field_and_the_value(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed, match=field):
        validate.validate({**detail(), **change})


def test_validation_shows_the_value_it_refused() -> None:
    request = {"application_name": "ok-name", "region": "moon-1", "cost_center": "CC-1"}
    with pytest.raises(ValidationFailed) as raised:
        validate.validate({**detail(), "request": request})
    assert all(part in str(raised.value) for part in ("region", "'moon-1'", "should match pattern")), raised.value


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(ValidationFailed, match="kind 'wire_money' is not a registered step; known: sandbox_account"):
        validate.validate({**detail(), "kind": "wire_money"})


def test_validation_normalises_and_summarises() -> None:
    out = validate.validate(
        {
            **detail(),
            "request": {"application_name": " payments-api ", "region": "eu-west-1", "cost_center": "CC-9"},
        }
    )
    assert out["request"]["application_name"] == "payments-api"
    assert out["summary"] == "sandbox account for 'payments-api' in eu-west-1 (cost center CC-9)"


def test_rejection_text_carries_the_approvers_reason() -> None:
    text = record.describe(
        "rejected", {"error": {"Error": "Rejected", "Cause": "rejected by bob: no budget"}}, "the thing"
    )
    assert text == "was not approved, nothing was done: the thing. rejected by bob: no budget"


def test_lambda_error_causes_are_unwrapped() -> None:
    cause = json.dumps({"errorType": "RuntimeError", "errorMessage": "ledger entry exists with a different request"})
    text = record.describe("failed", {"error": {"Error": "RuntimeError", "Cause": cause}}, "x")
    assert "Error: ledger entry exists with a different request." in text


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    from handoff.observability import persistence_layer
    from handoff.settings import settings

    with mock_aws():
        monkeypatch.setenv("IDEMPOTENCY_TABLE", "idempotency")
        monkeypatch.setenv("MEMORY_ID", "kit_test_memory-abcdefghij")
        monkeypatch.setenv("LEDGER_PREFIX", "/agent-kit/test")
        settings.cache_clear()
        persistence_layer.cache_clear()
        boto3.client("dynamodb").create_table(
            TableName="idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield
        settings.cache_clear()
        persistence_layer.cache_clear()


def test_execute_is_idempotent_per_key_with_powertools(aws) -> None:
    """A retried execute with the same key returns the stored result without running again."""
    from conftest import _Context
    from handoff.handlers import execute

    request = validate.validate(detail())
    first = execute.handler(request, _Context("execute"))
    ssm = boto3.client("ssm")
    ssm.delete_parameter(Name=first["ledger_parameter"])  # would reappear if the step ran again
    second = execute.handler(request, _Context("execute"))
    assert second == first
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=first["ledger_parameter"])
    other = execute.handler(validate.validate(detail()), _Context("execute"))
    assert other["ledger_parameter"] != first["ledger_parameter"]


def test_outcome_tokens_are_deterministic_per_key_and_outcome(aws) -> None:
    """AgentCore Memory deduplicates CreateEvent on clientToken (moto does not), so a
    retried record must reuse its token and different outcomes must not collide."""
    from handoff.memory import outcome_event

    fields = {
        "kind": "sandbox_account",
        "idempotency_key": "a" * 64,
        "actor_id": ACTOR,
        "session_id": SESSION,
    }
    first = outcome_event(**fields, outcome="completed", text="x")
    again = outcome_event(**fields, outcome="completed", text="x")
    failed = outcome_event(**fields, outcome="failed", text="x")
    assert first["clientToken"] == again["clientToken"] != failed["clientToken"]


def test_recorded_event_reads_back_as_a_session_message(aws) -> None:
    validated = validate.validate(detail())
    record.record({"outcome": "completed", "detail": {**validated, "execution": {"result": {"ok": 1}}}})
    (event,) = boto3.client("bedrock-agentcore").list_events(
        memoryId="kit_test_memory-abcdefghij", actorId=ACTOR, sessionId=SESSION, includePayloads=True
    )["events"]
    conversational = event["payload"][0]["conversational"]
    assert conversational["role"] == "USER"
    message = json.loads(conversational["content"]["text"])
    assert set(message) == {"message", "message_id", "redact_message", "created_at", "updated_at"}
    assert message["message"]["role"] == "user"
    assert message["message"]["content"][0]["text"].startswith("[handoff sandbox_account ")
    assert message_text(conversational["content"]["text"]) == message["message"]["content"][0]["text"]
    assert event["metadata"]["handoff_outcome"] == {"stringValue": "completed"}
