"""The handoff event on a real (moto) EventBridge bus, routed by the rule the CDK synthesizes.

Also: the image's restated request model agrees with the Lambdas' own (loaded by path).
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from handoff_support import handoff_rule_pattern, lambda_module
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp_server.handoff.emitter import DynamoDbEmittedKeys, EventBridgeEmitter, HandoffEmitError, SqliteEmittedKeys
from moto import mock_aws
from pydantic import ValidationError
from tests_support import CONTEXT, InProcessServer, client, test_settings

from kit_contracts import handoff as contract

BUS = "handoff-bus"
REQUEST = {"application_name": "billing-api", "region": "eu-west-1", "cost_center": "CC-1234"}


@pytest.fixture
def bus_to_queue() -> Iterator[tuple[Any, str]]:
    """A moto bus whose only rule is the synthesized handoff rule, delivering to an SQS queue."""
    pattern = handoff_rule_pattern()  # synthesized outside the mock: CDK makes no AWS calls
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        events.create_event_bus(Name=BUS)
        queue_url = sqs.create_queue(QueueName="workflow-stand-in")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="handoff", EventBusName=BUS, EventPattern=json.dumps(pattern))
        events.put_targets(Rule="handoff", EventBusName=BUS, Targets=[{"Id": "workflow", "Arn": queue_arn}])
        yield sqs, queue_url


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_the_rule_pattern_is_read_from_the_synthesized_handoff_construct() -> None:
    pattern = handoff_rule_pattern()
    assert pattern["source"] == [contract.EVENT_SOURCE]
    assert pattern["detail-type"] == [contract.EVENT_DETAIL_TYPE]
    assert contract.KIND_SANDBOX_ACCOUNT in pattern["detail"]["kind"]
    assert pattern["detail"]["schema_version"] == [contract.SCHEMA_VERSION]


@pytest.mark.anyio
async def test_a_confirmed_request_reaches_the_workflow_rule_once(
    bus_to_queue: tuple[Any, str], tmp_path: Path, anyio_backend: str
) -> None:
    sqs, queue_url = bus_to_queue
    settings_ = test_settings(tmp_path, HANDOFF_BUS_NAME=BUS, AWS_REGION="us-east-1")
    with InProcessServer(settings_, None) as server:
        statuses = []
        for _ in range(2):
            async with client(server.mcp_url, CONTEXT) as session:
                result = await session.call_tool("request_sandbox_account", {**REQUEST, "confirm": True})
            assert not result.is_error, result.content
            statuses.append(result.structured_content["status"])
    assert statuses == ["requested", "already_requested"]
    [event] = drain(sqs, queue_url)
    assert drain(sqs, queue_url) == []
    assert (event["source"], event["detail-type"]) == ("agent-kit.mcp-server", "Handoff Requested")
    detail = lambda_module("handoff.contract").HandoffDetail.model_validate(event["detail"])
    assert detail.idempotency_key == result.structured_content["idempotency_key"]
    assert lambda_module("handoff.steps.sandbox_account").SandboxAccountRequest.model_validate(detail.request)


def test_the_rule_routes_only_registered_kinds(bus_to_queue: tuple[Any, str]) -> None:
    sqs, queue_url = bus_to_queue
    detail = contract.handoff_detail(
        kind=contract.KIND_SANDBOX_ACCOUNT, request=REQUEST, actor_id="alice", session_id="s-1"
    )
    events = boto3.client("events", region_name="us-east-1")
    for kind in ("not_registered", contract.KIND_SANDBOX_ACCOUNT):
        entry = {"Source": contract.EVENT_SOURCE, "DetailType": contract.EVENT_DETAIL_TYPE, "EventBusName": BUS}
        events.put_events(Entries=[{**entry, "Detail": json.dumps({**detail, "kind": kind})}])
    assert [e["detail"]["kind"] for e in drain(sqs, queue_url)] == [contract.KIND_SANDBOX_ACCOUNT]


def test_a_rejected_put_is_an_error_and_is_not_remembered(tmp_path: Path) -> None:
    detail = contract.handoff_detail(
        kind=contract.KIND_SANDBOX_ACCOUNT, request=REQUEST, actor_id="alice", session_id="s-1"
    )
    keys = SqliteEmittedKeys(tmp_path / "keys.sqlite3")
    with mock_aws():
        emitter = EventBridgeEmitter("no-such-bus", keys, region="us-east-1")
        with pytest.raises(HandoffEmitError, match="ResourceNotFoundException"):
            emitter.emit(detail)
    assert not keys.seen(detail["idempotency_key"], 0)


def test_emitted_keys_in_the_task_table_stay_out_of_its_indexes(
    moto_table: tuple[Any, str], table_definition: dict[str, Any]
) -> None:
    ddb, table = moto_table
    boto3.client("events", region_name="us-east-1").create_event_bus(Name=BUS)
    detail = contract.handoff_detail(
        kind=contract.KIND_SANDBOX_ACCOUNT, request=REQUEST, actor_id="alice", session_id="s-1"
    )
    emitter = EventBridgeEmitter(BUS, DynamoDbEmittedKeys(table, client=ddb), region="us-east-1")
    assert [emitter.emit(detail), emitter.emit(detail)] == [True, False]
    [item] = ddb.scan(TableName=table)["Items"]
    index_keys = {k["AttributeName"] for g in table_definition["GlobalSecondaryIndexes"] for k in g["KeySchema"]}
    assert set(item) & index_keys == set()
    assert table_definition["_ttl_attribute"] in item


# ---------------------------------------------------------------- the restated model agrees with the Lambdas'
SAMPLES = [
    REQUEST,
    {**REQUEST, "application_name": "  billing-api  "},
    {**REQUEST, "region": "us-gov-west-1"},
    {**REQUEST, "application_name": "Billing"},
    {**REQUEST, "application_name": "ab"},
    {**REQUEST, "application_name": "a" * 41},
    {**REQUEST, "region": "EU-west-1"},
    {**REQUEST, "region": "eu-west"},
    {**REQUEST, "cost_center": "cc-1234"},
    {**REQUEST, "cost_center": "C"},
    {**REQUEST, "cost_center": "C" * 21},
    {**REQUEST, "extra": "x"},
    {k: v for k, v in REQUEST.items() if k != "region"},
]


def _accepts(model: Any, sample: dict[str, Any]) -> Any:
    try:
        return model.model_validate(sample).model_dump()
    except ValidationError:
        return None


@pytest.mark.parametrize("sample", SAMPLES)
def test_the_image_and_the_workflow_accept_and_reject_the_same_requests(sample: dict[str, Any]) -> None:
    theirs = lambda_module("handoff.steps.sandbox_account").SandboxAccountRequest
    assert _accepts(contract.SandboxAccountRequest, sample) == _accepts(theirs, sample)


_chars = st.text(alphabet=string.ascii_letters + string.digits + "- _", max_size=45)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"application_name": _chars, "region": _chars, "cost_center": _chars}))
def test_the_models_agree_on_generated_requests(sample: dict[str, str]) -> None:
    theirs = lambda_module("handoff.steps.sandbox_account").SandboxAccountRequest
    assert _accepts(contract.SandboxAccountRequest, sample) == _accepts(theirs, sample)


def test_the_event_constants_match_the_lambdas_contract() -> None:
    theirs = lambda_module("handoff.contract")
    assert (contract.EVENT_SOURCE, contract.EVENT_DETAIL_TYPE, contract.SCHEMA_VERSION) == (
        theirs.EVENT_SOURCE,
        theirs.EVENT_DETAIL_TYPE,
        theirs.SCHEMA_VERSION,
    )
    assert contract.KIND_SANDBOX_ACCOUNT in theirs.KINDS
    detail = contract.handoff_detail(
        kind=contract.KIND_SANDBOX_ACCOUNT, request=REQUEST, actor_id="team/alice:dev", session_id="s-1"
    )
    assert theirs.HandoffDetail.model_validate(detail).idempotency_key == detail["idempotency_key"]
