"""Redriving dead letters starts one execution per handoff event and deletes only those."""

from __future__ import annotations

import json

import boto3
import pytest
from handoff.redrive import redrive
from moto import mock_aws
from test_workflow import detail


def test_redrive_starts_executions_and_leaves_foreign_messages() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
        machine = sfn.create_state_machine(
            name="handoff",
            definition=json.dumps({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/x",
        )["stateMachineArn"]
        events = [
            {"source": "agent-kit.mcp-server", "detail-type": "Handoff Requested", "detail": detail()} for _ in range(3)
        ]
        for event in events:
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
        sqs.send_message(QueueUrl=queue, MessageBody="not json")

        dry = redrive(queue_url=queue, state_machine_arn=machine, dry_run=True)
        assert len(dry.started) == 3 and sfn.list_executions(stateMachineArn=machine)["executions"] == []

        done = redrive(queue_url=queue, state_machine_arn=machine)
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        assert len(executions) == 3 and len(done.started) == 3
        inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions]
        assert sorted(i["idempotency_key"] for i in inputs) == sorted(e["detail"]["idempotency_key"] for e in events)
        assert len(done.skipped) == 1
        # the foreign message is still there for a human, and visible
        (left,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        assert left["Body"] == "not json"


def test_redrive_starts_the_workflow_without_putting_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bus denies PutEvents to everyone but the MCP server, operators included."""
    import botocore.client

    called: list[str] = []
    real_call = botocore.client.BaseClient._make_api_call

    def record(self, operation_name, api_params):
        called.append(f"{self.meta.service_model.service_name}:{operation_name}")
        return real_call(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
        machine = sfn.create_state_machine(
            name="handoff",
            definition=json.dumps({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/x",
        )["stateMachineArn"]
        event = {"source": "agent-kit.mcp-server", "detail-type": "Handoff Requested", "detail": detail()}
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
        called.clear()
        assert len(redrive(queue_url=queue, state_machine_arn=machine).started) == 1
    assert "stepfunctions:StartExecution" in called
    assert not [c for c in called if c.startswith("events:")]


def test_redrive_leaves_messages_that_are_not_the_kits_handoff_events() -> None:
    """A message someone else sent to the queue is not started just because it has a `detail`."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
        machine = sfn.create_state_machine(
            name="handoff",
            definition=json.dumps({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/x",
        )["stateMachineArn"]
        for event in (
            {"source": "someone.else", "detail-type": "Handoff Requested", "detail": detail()},
            {"source": "agent-kit.mcp-server", "detail-type": "Something Else", "detail": detail()},
            {"detail": detail()},
        ):
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
        done = redrive(queue_url=queue, state_machine_arn=machine)
        assert done.started == [] and len(done.skipped) == 3
        assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
