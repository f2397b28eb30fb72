"""Redriving dead letters starts one execution per handoff event and deletes only those."""

from __future__ import annotations

import json

import boto3
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
