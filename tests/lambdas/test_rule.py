"""The synthesized rule's event pattern matches the handoff event, and not near-misses.

Matching is moto's emulation of EventBridge routing: a rule with the synthesized pattern on
a bus, an SQS target, and PutEvents (moto's TestEventPattern is a no-op, so it is not used)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from handoff.contract import EVENT_DETAIL_TYPE, EVENT_SOURCE
from moto import mock_aws
from test_workflow import detail


def envelope(detail_body: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    event = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": EVENT_DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": detail_body,
    }
    event.update(overrides)
    return event


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="matched")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.create_event_bus(Name="handoff")
        events.put_rule(Name="requested", EventBusName="handoff", EventPattern=json.dumps(pattern))
        events.put_targets(Rule="requested", EventBusName="handoff", Targets=[{"Id": "q", "Arn": queue_arn}])
        entry = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "EventBusName": "handoff",
        }
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return len(received) == 1


def test_the_handoff_event_matches(synthesized_dev) -> None:
    assert matches(synthesized_dev.event_pattern, envelope(detail()))


def _without(key: str) -> dict[str, Any]:
    body = detail()
    body.pop(key)
    return body


@pytest.mark.parametrize(
    "event",
    [
        envelope(detail(), source="agent-kit.other"),
        envelope(detail(), **{"detail-type": "Handoff Completed"}),
        envelope({**detail(), "kind": "wire_money"}),
        envelope({**detail(), "schema_version": "2"}),
        envelope(_without("idempotency_key")),
    ],
    ids=["other-source", "other-detail-type", "unknown-kind", "other-schema-version", "no-idempotency-key"],
)
def test_near_misses_do_not_match(synthesized_dev, event: dict[str, Any]) -> None:
    assert not matches(synthesized_dev.event_pattern, event)
