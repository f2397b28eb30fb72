"""`python -m handoff.approve`: who approves (their credentials), what they see, and what they may not do.

Against the synthesized staging workflow run by moto (STS GetCallerIdentity included).
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import boto3
import pytest
from handoff.approve import Approver, decide, is_requester, main
from test_workflow import ACTOR, MOTO_CALLER, _session_as, detail


def _args(workflow, key: str, *extra: str) -> list[str]:
    return ["--table", workflow.table_name, "--key", key, *extra]


@pytest.fixture
def waiting(approval_workflow) -> tuple[Any, dict[str, Any], str]:
    request = detail()
    execution = approval_workflow.start(request, name="waiting")
    approval_workflow.wait_for_approval_token(request["idempotency_key"])
    return approval_workflow, request, execution


def test_it_shows_the_request_and_sends_only_after_yes(
    waiting, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow, request, execution = waiting
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(_args(workflow, request["idempotency_key"], "--approve")) == 1
    shown = capsys.readouterr().out
    for part in (
        "kind:            sandbox_account",
        "summary:         sandbox account for 'payments-api' in eu-west-1 (cost center CC-1234)",
        f"requested by:    {ACTOR}",
        # as Validate normalised it
        f"requested at:    {datetime.fromisoformat(request['requested_at']).isoformat().replace('+00:00', 'Z')}",
        f"idempotency key: {request['idempotency_key']}",
        f"you are:         {MOTO_CALLER}",
        "Approve? [y/N]",
        "nothing sent",
    ):
        assert part in shown, shown
    assert workflow.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"

    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main(_args(workflow, request["idempotency_key"], "--approve", "--reason", "looks right")) == 0
    assert capsys.readouterr().out.rstrip().endswith("approved")
    assert workflow.wait(execution)["status"] == "SUCCEEDED"
    assert workflow.ledger(request["idempotency_key"]) is not None


def test_yes_skips_the_prompt_for_scripts(waiting, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    workflow, request, execution = waiting
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # nothing to read: a prompt would answer no
    assert main(_args(workflow, request["idempotency_key"], "--reject", "--reason", "no budget", "--yes")) == 0
    out = capsys.readouterr().out
    assert "Reject? [y/N]" not in out and out.rstrip().endswith("rejected")
    assert workflow.wait(execution)["status"] == "SUCCEEDED"
    assert workflow.states_entered(execution)[-1] == "Rejected"


def test_the_requester_is_refused_before_being_asked(waiting, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    workflow, request, execution = waiting
    credentials = _session_as(ACTOR).get_credentials()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials.token)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main(_args(workflow, request["idempotency_key"], "--approve")) == 1
    captured = capsys.readouterr()
    assert "Approve?" not in captured.out
    assert f"requested by {ACTOR}" in captured.err and "does not allow" in captured.err
    assert workflow.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"


def test_by_is_no_longer_an_identity(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--table", "t", "--key", "0" * 64, "--approve", "--by", "alice"])
    assert exited.value.code == 2 and "--by" in capsys.readouterr().err


def test_without_a_region_it_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    assert main(["--table", "t", "--key", "0" * 64, "--approve", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "pass --region or set AWS_REGION" in err and "Traceback" not in err


def test_a_rejection_names_the_approvers_arn_in_the_cause(waiting) -> None:
    """moto drops SendTaskFailure's cause, so the request itself is read here."""
    workflow, request, _ = waiting
    session = boto3.Session(region_name="us-east-1")
    sent: list[dict[str, Any]] = []
    session.events.register("provide-client-params.sfn.SendTaskFailure", lambda params, **_: sent.append(params))
    decide(
        table=workflow.table_name, key=request["idempotency_key"], approve=False, reason="no budget", session=session
    )
    (params,) = sent
    assert params["error"] == "Rejected" and params["cause"] == f"rejected by {MOTO_CALLER}: no budget"


def test_an_approval_names_the_approvers_arn_in_the_output(waiting) -> None:
    workflow, request, _ = waiting
    session = boto3.Session(region_name="us-east-1")
    sent: list[dict[str, Any]] = []
    session.events.register("provide-client-params.sfn.SendTaskSuccess", lambda params, **_: sent.append(params))
    decide(table=workflow.table_name, key=request["idempotency_key"], approve=True, session=session)
    (params,) = sent
    assert json.loads(params["output"]) == {"approved": True, "by": MOTO_CALLER, "reason": ""}


@pytest.mark.parametrize(
    ("arn", "name"),
    [
        ("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Approver_0a1b/User-42", "User-42"),
        ("arn:aws:iam::123456789012:user/people/user-42", "user-42"),
        ("arn:aws:sts::123456789012:federated-user/user-42", "user-42"),
        ("arn:aws:iam::123456789012:root", "root"),
    ],
)
def test_the_name_compared_is_the_last_segment_of_the_arn(arn: str, name: str) -> None:
    approver = Approver.from_arn(arn)
    assert approver.name == name
    assert is_requester(approver, name.upper()) and is_requester(approver, name.lower())
    assert not is_requester(approver, name + "x")
