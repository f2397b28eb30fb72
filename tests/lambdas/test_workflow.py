"""The synthesized handoff workflow, end to end in moto's executing Step Functions.

moto proves the definition's control flow (Catch/Retry routing, waitForTaskToken, the
conditional claim) and our handlers against emulated DynamoDB/SSM/AgentCore Memory. It
does not prove IAM (moto does not enforce it), EventBridge → Step Functions delivery, the
Lambda runtime and layer, or SendTaskFailure's `cause` (moto drops it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.client
import pytest
from handoff.approve import SelfApprovalRefused, decide

from kit_contracts.handoff import idempotency_key

ACTOR = "user-42"
SESSION = "5b4a1c0e-9f57-4c43-9a55-2b8f3a1f6d10"
# moto's identity for the test credentials: an approver who is not ACTOR.
MOTO_CALLER = "arn:aws:sts::123456789012:user/moto"


def detail(*, actor_id: str = ACTOR, **request: Any) -> dict[str, Any]:
    """The event detail the MCP server would put: its key is the one the workflow recomputes."""
    body = {"application_name": "payments-api", "region": "eu-west-1", "cost_center": "CC-1234", **request}
    return {
        "schema_version": "1",
        "kind": "sandbox_account",
        "idempotency_key": idempotency_key(actor_id, "sandbox_account", body),
        "actor_id": actor_id,
        "session_id": SESSION,
        "requested_at": datetime.now(UTC).isoformat(),
        "request": body,
    }


def outcomes(workflow, key: str) -> list[str]:
    found = []
    for event in workflow.memory_events(ACTOR, SESSION):
        metadata = event.get("metadata", {})
        if metadata.get("handoff_key", {}).get("stringValue") == key:
            found.append(metadata["handoff_outcome"]["stringValue"])
    return sorted(found)


def memory_text(workflow, key: str, outcome: str) -> str:
    for event in workflow.memory_events(ACTOR, SESSION):
        metadata = event.get("metadata", {})
        if (
            metadata.get("handoff_key", {}).get("stringValue") == key
            and metadata["handoff_outcome"]["stringValue"] == outcome
        ):
            message = json.loads(event["payload"][0]["conversational"]["content"]["text"])
            return str(message["message"]["content"][0]["text"])
    raise AssertionError(f"no {outcome} event for {key}")


def test_happy_path_runs_the_step_and_records_the_outcome(workflow) -> None:
    request = detail()
    execution = workflow.start(request, name="happy")
    assert workflow.wait(execution)["status"] == "SUCCEEDED"
    # Validate comes before the claim, so only a verified key is ever claimed (a forged event
    # used to claim first). The claim now records when the step may have begun (MarkExecuting)
    # and that it is done (MarkDone): a claim used to say nothing, so a failure before the step
    # held it for good.
    assert workflow.states_entered(execution) == [
        "Validate",
        "ClaimIdempotencyKey",
        "MarkExecuting",
        "Execute",
        "MarkDone",
        "RecordOutcome",
        "Done",
    ]
    ledger = workflow.ledger(request["idempotency_key"])
    assert ledger is not None and json.loads(ledger["Value"])["application_name"] == "payments-api"
    tags = workflow.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=ledger["Name"])["TagList"]
    assert {"Key": "cost-center", "Value": "CC-1234"} in tags
    assert outcomes(workflow, request["idempotency_key"]) == ["completed"]
    assert "completed: sandbox account for 'payments-api' in eu-west-1" in memory_text(
        workflow, request["idempotency_key"], "completed"
    )
    assert workflow.claim(request["idempotency_key"])["kind"]["S"] == "sandbox_account"
    assert workflow.claim_state(request["idempotency_key"]) == "done"


def test_the_same_event_twice_has_one_side_effect(workflow) -> None:
    request = detail()
    first = workflow.start(request, name="first")
    assert workflow.wait(first)["status"] == "SUCCEEDED"
    second = workflow.start(request, name="second")  # EventBridge redelivery: a new execution
    assert workflow.wait(second)["status"] == "SUCCEEDED"
    assert workflow.states_entered(second) == ["Validate", "ClaimIdempotencyKey", "Duplicate"]  # validate first
    assert workflow.ledger(request["idempotency_key"])["Version"] == 1
    assert outcomes(workflow, request["idempotency_key"]) == ["completed"]


def test_invalid_request_is_refused_before_any_side_effect(workflow) -> None:
    request = detail(application_name="Payments API!", cost_center="cc")
    execution = workflow.start(request, name="invalid")
    described = workflow.wait(execution)
    assert described["status"] == "FAILED"
    assert workflow.states_entered(execution)[-2:] == ["RecordInvalid", "Invalid"]
    assert workflow.ledger(request["idempotency_key"]) is None
    assert workflow.claim(request["idempotency_key"]) is None  # refused before the claim
    text = memory_text(workflow, request["idempotency_key"], "invalid")
    assert "application_name" in text and "cost_center" in text and "nothing was done" in text
    assert "Payments API!" not in text  # the refused values are not echoed into memory


def test_a_forged_event_claims_nothing_and_the_victims_request_still_runs(workflow) -> None:
    """Someone able to put events pre-claims the victim's key with other content."""
    real = detail()
    forged = {**detail(application_name="attacker-app"), "idempotency_key": real["idempotency_key"]}
    execution = workflow.start(forged, name="forged")
    assert workflow.wait(execution)["status"] == "FAILED"
    assert workflow.states_entered(execution) == ["Validate", "RecordInvalid", "Invalid"]
    assert workflow.claim(real["idempotency_key"]) is None
    assert workflow.ledger(real["idempotency_key"]) is None
    text = memory_text(workflow, real["idempotency_key"], "invalid")
    assert "idempotency_key" in text and "attacker-app" not in text

    victim = workflow.start(real, name="victim")
    assert workflow.wait(victim)["status"] == "SUCCEEDED"
    assert "Duplicate" not in workflow.states_entered(victim)
    assert json.loads(workflow.ledger(real["idempotency_key"])["Value"])["application_name"] == "payments-api"
    assert "completed" in outcomes(workflow, real["idempotency_key"])


def test_a_failing_step_is_compensated_and_the_failure_recorded(workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger entry is written, then tagging it fails: the entry must be removed again."""
    real_call = botocore.client.BaseClient._make_api_call

    def fail_tagging(self, operation_name, api_params):
        if operation_name == "AddTagsToResource":
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed to tag"}}, operation_name
            )
        return real_call(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", fail_tagging)
    request = detail()
    execution = workflow.start(request, name="failing")
    described = workflow.wait(execution)
    assert described["status"] == "FAILED"
    # The claim is marked compensated before the failure is recorded (MarkCompensated is new).
    assert workflow.states_entered(execution)[-5:] == [
        "Execute",
        "Compensate",
        "MarkCompensated",
        "RecordFailure",
        "StepFailed",
    ]
    assert workflow.ledger(request["idempotency_key"]) is None  # compensated
    text = memory_text(workflow, request["idempotency_key"], "failed")
    assert "not allowed to tag" in text and '"removed": true' in text


def test_approval_accepted_runs_the_step(approval_workflow) -> None:
    request = detail()
    execution = approval_workflow.start(request, name="approved")
    approval_workflow.wait_for_approval_token(request["idempotency_key"])
    assert approval_workflow.ledger(request["idempotency_key"]) is None  # nothing before the decision
    assert decide(table=approval_workflow.table_name, key=request["idempotency_key"], approve=True, reason="ok") == (
        "approved"
    )
    assert approval_workflow.wait(execution)["status"] == "SUCCEEDED"
    assert "AwaitApproval" in approval_workflow.states_entered(execution)
    assert approval_workflow.ledger(request["idempotency_key"]) is not None
    assert outcomes(approval_workflow, request["idempotency_key"]) == ["awaiting_approval", "completed"]


def test_the_approval_records_the_approvers_arn_from_their_credentials(approval_workflow) -> None:
    request = detail()
    execution = approval_workflow.start(request, name="approved-by")
    approval_workflow.wait_for_approval_token(request["idempotency_key"])
    decide(table=approval_workflow.table_name, key=request["idempotency_key"], approve=True)
    assert approval_workflow.wait(execution)["status"] == "SUCCEEDED"
    output = json.loads(approval_workflow.sfn.describe_execution(executionArn=execution)["output"])
    assert output["approval"]["by"] == MOTO_CALLER
    assert f"Approved by {MOTO_CALLER}." in memory_text(approval_workflow, request["idempotency_key"], "completed")


def test_the_claim_keeps_what_the_approver_is_shown(approval_workflow) -> None:
    request = detail()
    approval_workflow.start(request, name="shown")
    approval_workflow.wait_for_approval_token(request["idempotency_key"])
    claim = approval_workflow.claim(request["idempotency_key"])
    assert claim["actor_id"] == {"S": ACTOR}
    assert datetime.fromisoformat(claim["requested_at"]["S"]) == datetime.fromisoformat(request["requested_at"])
    assert claim["summary"]["S"] == "sandbox account for 'payments-api' in eu-west-1 (cost center CC-1234)"
    assert claim["approval_allow_self"] == {"BOOL": False}  # staging's setting


def _session_as(role_session_name: str) -> boto3.Session:
    """Credentials of an assumed-role session whose name is `role_session_name` (moto STS)."""
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName=f"approver-{role_session_name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=role, RoleSessionName=role_session_name
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )


def test_the_requester_cannot_approve_their_own_request(approval_workflow) -> None:
    request = detail()
    execution = approval_workflow.start(request, name="self")
    approval_workflow.wait_for_approval_token(request["idempotency_key"])
    requester = _session_as(ACTOR.upper())  # compared case-insensitively
    with pytest.raises(SelfApprovalRefused, match=f"{ACTOR.upper()}.*requested by {ACTOR}"):
        decide(table=approval_workflow.table_name, key=request["idempotency_key"], approve=True, session=requester)
    assert approval_workflow.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    assert approval_workflow.ledger(request["idempotency_key"]) is None
    # Withdrawing one's own request is not refused: rejecting does nothing irreversible.
    decide(table=approval_workflow.table_name, key=request["idempotency_key"], approve=False, session=requester)
    assert approval_workflow.wait(execution)["status"] == "SUCCEEDED"
    assert approval_workflow.states_entered(execution)[-2:] == ["RecordRejected", "Rejected"]


def test_self_approval_where_the_environment_allows_it(approval_workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    from handoff.settings import settings

    monkeypatch.setenv("APPROVAL_ALLOW_SELF", "true")
    settings.cache_clear()
    request = detail()
    execution = approval_workflow.start(request, name="self-allowed")
    approval_workflow.wait_for_approval_token(request["idempotency_key"])
    requester = _session_as(ACTOR)
    assert decide(table=approval_workflow.table_name, key=request["idempotency_key"], approve=True, session=requester)
    assert approval_workflow.wait(execution)["status"] == "SUCCEEDED"
    assert approval_workflow.ledger(request["idempotency_key"]) is not None


def test_approval_rejected_does_nothing_and_says_so(approval_workflow) -> None:
    request = detail()
    execution = approval_workflow.start(request, name="rejected")
    approval_workflow.wait_for_approval_token(request["idempotency_key"])
    decide(table=approval_workflow.table_name, key=request["idempotency_key"], approve=False, reason="no budget")
    assert approval_workflow.wait(execution)["status"] == "SUCCEEDED"
    assert approval_workflow.states_entered(execution)[-2:] == ["RecordRejected", "Rejected"]
    assert approval_workflow.ledger(request["idempotency_key"]) is None
    # A decision, not a failure: the claim keeps it, and the same event again is a Duplicate.
    claim = approval_workflow.claim(request["idempotency_key"])
    assert claim["state"] == {"S": "rejected"} and "approval_token" not in claim
    # moto's SendTaskFailure handler keeps the error name but drops the cause
    # (test_handlers covers how a cause is worded).
    assert "was not approved, nothing was done" in memory_text(
        approval_workflow, request["idempotency_key"], "rejected"
    )


def test_deciding_on_an_unknown_handoff_is_a_clear_error(approval_workflow) -> None:
    with pytest.raises(LookupError, match="no handoff with idempotency key"):
        decide(table=approval_workflow.table_name, key="0" * 64, approve=True)
