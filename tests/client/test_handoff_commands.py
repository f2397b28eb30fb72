"""`kit approve` and `kit redrive` over lambdas/handoff's logic, against moto (in-process)."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from conftest import REPO_ROOT
from kit_client.cli import main
from moto import mock_aws

REGION = "eu-west-1"
KEY = "ab" * 32
MOTO_CALLER = "arn:aws:sts::123456789012:user/moto"  # who moto's GetCallerIdentity says you are


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def claims() -> Any:
    sys.path.insert(0, str(REPO_ROOT / "lambdas"))
    try:
        from handoff import claims
    finally:
        sys.path.remove(str(REPO_ROOT / "lambdas"))
    return claims


def waiting_claim(claims: Any, actor: str, state: str | None = None) -> str:
    table = boto3.resource("dynamodb", region_name=REGION).create_table(
        TableName="idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.put_item(
        Item={
            "id": claims.claim_key(KEY),
            claims.STATE: state or claims.AWAITING_APPROVAL,
            claims.APPROVAL_TOKEN: "token-1",
            claims.KIND: "sandbox_account",
            claims.SUMMARY: "sandbox account for 'payments-api'",
            claims.ACTOR_ID: actor,
            claims.REQUESTED_AT: "2026-11-30T10:00:00Z",
            claims.APPROVAL_ALLOW_SELF: False,
        }
    )
    return "idempotency"


def run(argv: list[str], answer: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_approve_shows_the_request_and_sends_only_after_yes(
    aws: None, claims: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    table = waiting_claim(claims, actor="alice")
    args = ["approve", "--table", table, "--key", KEY, "--approve", "--reason", "looks right"]
    code, out, _ = run(args, "n\n", monkeypatch, capsys)
    assert code == 1 and "nothing sent" in out
    assert "requested by:    alice" in out and f"you are:         {MOTO_CALLER}" in out and "Approve? [y/N]" in out
    code, out, _ = run(args, "y\n", monkeypatch, capsys)
    assert code == 0 and out.rstrip().endswith("approved")


def test_approving_ones_own_request_is_refused_in_one_line(
    aws: None, claims: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    table = waiting_claim(claims, actor="moto")
    code, out, err = run(["approve", "--table", table, "--key", KEY, "--approve", "--yes"], "", monkeypatch, capsys)
    assert code == 1 and out == ""
    assert err.startswith(f"error: {MOTO_CALLER} is the requester") and len(err.splitlines()) == 1
    code, out, _ = run(
        ["approve", "--table", table, "--key", KEY, "--reject", "--reason", "withdrawn", "--yes"],
        "",
        monkeypatch,
        capsys,
    )
    assert code == 0 and out.rstrip().endswith("rejected")  # rejecting one's own request runs nothing


def test_a_claim_no_longer_waiting_is_said_so(
    aws: None, claims: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    table = waiting_claim(claims, actor="alice", state=claims.DONE)
    code, _, err = run(["approve", "--table", table, "--key", KEY, "--approve", "--yes"], "", monkeypatch, capsys)
    assert code == 1 and f"handoff {KEY!r} is not waiting for approval (its claim is done)" in err


def test_redrive_starts_one_execution_per_handoff_event(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="DeadLetters")["QueueUrl"]
    detail = {"schema_version": "1", "kind": "sandbox_account", "idempotency_key": KEY}
    event = {"source": "agent-kit.mcp-server", "detail-type": "Handoff Requested", "detail": detail}
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
    sqs.send_message(QueueUrl=queue, MessageBody="not an event")
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="Workflow",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/workflow",
    )["stateMachineArn"]
    monkeypatch.delenv("AWS_REGION")  # the workflow's ARN names the region
    args = ["redrive", "--queue-url", queue, "--state-machine-arn", machine]

    code, out, err = run([*args, "--dry-run"], "", monkeypatch, capsys)
    assert code == 0 and out.startswith(f"would start redrive-{KEY[:32]}-") and "left in the queue" in err
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []

    code, out, _ = run([*args, "--json"], "", monkeypatch, capsys)
    assert code == 0
    started = json.loads(out)["started"]
    assert len(started) == 1
    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert execution["name"] == started[0]
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == detail
