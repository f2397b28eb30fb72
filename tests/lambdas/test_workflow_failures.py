"""Every way the handoff workflow can fail, executed by moto with the real handlers.

The decisive fact on each path is whether the step may have started: before it, the claim is
released (`failed_before_execute`) and the same event runs the step once when submitted again;
after it, the claim holds and a re-run is a `Duplicate`. Every path tells the user in memory,
except when memory itself is down: then the execution fails at the record state (where
`RedriveExecution` resumes it) with the claim already in its final state.

Faults are injected per function (`workflow.faults`): a handler's own exception, a runtime
failure (`FunctionError`, e.g. `Sandbox.Timedout`) or a failed Invoke call (`InvokeError`,
seen as `Lambda.<code>`). moto's Retry intervals are recorded instead of slept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import botocore.client
import botocore.exceptions
import pytest
from conftest import FunctionError, InvokeError
from handoff.steps.sandbox_account import SandboxAccountStep
from test_workflow import detail, memory_text, outcomes

# A few seconds at most: every wait below is for something the test itself sets off.
JOIN_S = 10


def _create_event_fails(monkeypatch: pytest.MonkeyPatch, *, times: int | None = None) -> list[str]:
    """CreateEvent is throttled (`times` calls, or every call); returns the client token of each call."""
    real_call = botocore.client.BaseClient._make_api_call
    tokens: list[str] = []

    def call(self, operation_name, api_params):  # type: ignore[no-untyped-def]
        if operation_name == "CreateEvent":
            tokens.append(api_params["clientToken"])
            if times is None or len(tokens) <= times:
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation_name
                )
        return real_call(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    return tokens


@pytest.fixture
def slow_step(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The step blocks once it has started, until the test releases it."""
    started, release = threading.Event(), threading.Event()
    real_execute = SandboxAccountStep.execute

    def execute(self: SandboxAccountStep, idempotency_key: str, request: Any) -> dict[str, Any]:
        started.set()
        assert release.wait(JOIN_S), "the test never released the step"
        return real_execute(self, idempotency_key, request)

    monkeypatch.setattr(SandboxAccountStep, "execute", execute)
    yield started, release
    release.set()  # never leave a handler thread blocked


def _first_call_outlives_its_client(
    started: threading.Event, release: threading.Event, *, completes_on_call: int | None
) -> tuple[Any, list[threading.Thread]]:
    """Execute's first call goes on running after Step Functions' client gave up on it (a Lambda
    client timeout): Powertools holds its INPROGRESS record, so the next calls raise
    IdempotencyAlreadyInProgressError. On call `completes_on_call` the first call finishes."""
    calls: list[int] = []
    threads: list[threading.Thread] = []

    def execute(event: Any, real: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            thread = threading.Thread(target=real, args=(event,), daemon=True)
            threads.append(thread)
            thread.start()
            assert started.wait(JOIN_S)
            raise InvokeError("ClientExecutionTimeoutException", "the client stopped waiting for the function")
        if len(calls) == completes_on_call:
            release.set()
            threads[0].join(JOIN_S)
        return real(event)

    return execute, threads


# --- before the step: nothing ran, the claim is released, a re-run runs the step once ---


@pytest.mark.parametrize(
    "failure",
    [RuntimeError("a bug in validate"), FunctionError("Sandbox.Timedout", "Task timed out after 30.00 seconds")],
    ids=["unexpected-exception", "function-timeout"],
)
def test_a_validate_crash_tells_the_user_and_the_same_event_later_runs_once(workflow, failure: Exception) -> None:
    request = detail()
    key = request["idempotency_key"]

    def crash(event: Any, real: Any) -> Any:
        raise failure

    workflow.faults["validate"] = crash
    first = workflow.start(request, name="validate-crash")
    assert workflow.wait(first)["status"] == "FAILED"
    assert workflow.states_entered(first) == ["Validate", "RecordNotChecked", "NotRun"]
    assert workflow.claim(key) is None and workflow.ledger(key) is None
    assert outcomes(workflow, key) == ["not_checked"]
    text = memory_text(workflow, key, "not_checked")
    assert "nothing was done" in text and "safe to run again" in text
    assert "a bug in validate" not in text  # an internal message is the operator's, not the user's

    del workflow.faults["validate"]  # the fix
    again = workflow.start(request, name="validate-fixed")
    assert workflow.wait(again)["status"] == "SUCCEEDED"
    assert workflow.ledger(key)["Version"] == 1
    assert outcomes(workflow, key) == ["completed", "not_checked"]


def _approval_stores_the_token_then_times_out(event: Any, real: Any) -> Any:
    real(event)
    raise FunctionError("Sandbox.Timedout", "Task timed out after 30.00 seconds")


def _approval_raises(event: Any, real: Any) -> Any:
    from handoff.handlers.approval import ApprovalNotRequested

    raise ApprovalNotRequested("ClientError: An error occurred (ResourceNotFoundException) when calling UpdateItem")


def _approval_throttled(event: Any, real: Any) -> Any:
    raise InvokeError("TooManyRequestsException", "Rate Exceeded.")


@pytest.mark.parametrize(
    "fault",
    [_approval_stores_the_token_then_times_out, _approval_raises, _approval_throttled],
    ids=["function-timeout", "error", "throttled"],
)
def test_an_approval_failure_releases_the_claim_and_the_same_event_later_runs_once(approval_workflow, fault) -> None:
    workflow = approval_workflow
    request = detail()
    key = request["idempotency_key"]
    workflow.faults["approval"] = fault
    first = workflow.start(request, name="approval-fails")
    assert workflow.wait(first)["status"] == "FAILED"
    assert workflow.states_entered(first)[-4:] == ["AwaitApproval", "ReleaseClaim", "RecordNotRun", "NotRun"]
    claim = workflow.claim(key)
    assert claim["state"] == {"S": "failed_before_execute"}
    assert "approval_token" not in claim  # nobody can approve an execution that has ended
    assert workflow.ledger(key) is None
    assert "not_run" in outcomes(workflow, key)

    del workflow.faults["approval"]  # the fix; then the same event again (a redrive)
    again = workflow.start(request, name="approval-fixed")
    workflow.wait_for_approval_token(key)
    from handoff.approve import decide

    decide(table=workflow.table_name, key=key, approve=True, reason="ok")
    assert workflow.wait(again)["status"] == "SUCCEEDED"
    assert "Duplicate" not in workflow.states_entered(again)
    assert workflow.ledger(key)["Version"] == 1
    assert workflow.claim_state(key) == "done"
    assert "completed" in outcomes(workflow, key)


# --- the outcome cannot be written: retried with one client token; else fail at the record state ---


def test_a_throttled_create_event_is_retried_with_the_same_client_token(workflow, monkeypatch) -> None:
    tokens = _create_event_fails(monkeypatch, times=1)
    request = detail()
    key = request["idempotency_key"]
    execution = workflow.start(request, name="record-throttled")
    assert workflow.wait(execution)["status"] == "SUCCEEDED"
    assert workflow.task_errors(execution) == ["OutcomeNotRecorded"]
    assert len(tokens) == 2 and tokens[0] == tokens[1]  # AgentCore Memory keeps one event per token
    assert outcomes(workflow, key) == ["completed"]
    assert workflow.ledger(key)["Version"] == 1


def test_memory_down_after_the_step_fails_at_the_record_state_with_the_claim_done(workflow, monkeypatch) -> None:
    _create_event_fails(monkeypatch)
    request = detail()
    key = request["idempotency_key"]
    execution = workflow.start(request, name="memory-down-after")
    described = workflow.wait(execution)
    assert described["status"] == "FAILED"
    # No Catch: the execution fails at the record state, which RedriveExecution resumes.
    assert workflow.states_entered(execution)[-1] == "RecordOutcome"
    assert set(workflow.task_errors(execution)) == {"OutcomeNotRecorded"}
    assert workflow.claim_state(key) == "done" and workflow.ledger(key)["Version"] == 1

    rerun = workflow.start(request, name="memory-down-after-rerun")
    assert workflow.wait(rerun)["status"] == "SUCCEEDED"
    assert workflow.states_entered(rerun)[-1] == "Duplicate"
    assert workflow.ledger(key)["Version"] == 1


def test_memory_down_before_the_step_leaves_the_claim_re_runnable(approval_workflow, monkeypatch) -> None:
    """The approval step cannot tell the user it waits, nor can the failure be recorded."""
    workflow = approval_workflow
    real_call = botocore.client.BaseClient._make_api_call
    _create_event_fails(monkeypatch)
    request = detail()
    key = request["idempotency_key"]
    execution = workflow.start(request, name="memory-down-before")
    assert workflow.wait(execution)["status"] == "FAILED"
    assert workflow.states_entered(execution)[-1] == "RecordNotRun"
    assert workflow.claim_state(key) == "failed_before_execute"
    assert workflow.ledger(key) is None

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", real_call)  # memory is back
    again = workflow.start(request, name="memory-back")
    workflow.wait_for_approval_token(key)
    from handoff.approve import decide

    decide(table=workflow.table_name, key=key, approve=True)
    assert workflow.wait(again)["status"] == "SUCCEEDED"
    assert workflow.ledger(key)["Version"] == 1
    assert outcomes(workflow, key) == ["awaiting_approval", "completed"]


# --- the step may still be running: retried, never compensated ---


def test_an_execute_that_outlives_its_client_is_retried_until_it_completes(workflow, slow_step) -> None:
    started, release = slow_step
    workflow.faults["execute"], threads = _first_call_outlives_its_client(started, release, completes_on_call=3)
    request = detail()
    key = request["idempotency_key"]
    execution = workflow.start(request, name="execute-outlives")
    assert workflow.wait(execution)["status"] == "SUCCEEDED"
    assert workflow.task_errors(execution) == [
        "Lambda.ClientExecutionTimeoutException",
        "IdempotencyAlreadyInProgressError",
    ]
    assert workflow.retry_waits == [2, 5]  # the service-error retry, then the in-progress one
    assert "Compensate" not in workflow.states_entered(execution)
    assert workflow.ledger(key)["Version"] == 1  # ran once, and was not undone
    assert outcomes(workflow, key) == ["completed"]
    assert workflow.claim_state(key) == "done"
    assert not threads[0].is_alive()


def test_an_execute_still_running_when_retries_run_out_is_unknown_and_not_compensated(workflow, slow_step) -> None:
    started, release = slow_step
    workflow.faults["execute"], threads = _first_call_outlives_its_client(started, release, completes_on_call=None)
    request = detail()
    key = request["idempotency_key"]
    execution = workflow.start(request, name="execute-unknown")
    assert workflow.wait(execution)["status"] == "FAILED"
    entered = workflow.states_entered(execution)
    assert "Compensate" not in entered
    assert entered[-4:] == ["Execute", "MarkOutcomeUnknown", "RecordUnknown", "OutcomeUnknown"]
    assert (
        workflow.task_errors(execution)
        == ["Lambda.ClientExecutionTimeoutException"] + ["IdempotencyAlreadyInProgressError"] * 7
    )
    assert workflow.retry_waits == [2, 5, 10, 20, 40, 60, 60]
    assert workflow.claim_state(key) == "outcome_unknown"
    text = memory_text(workflow, key, "unknown")
    assert key in text and "operator" in text and "not undone" in text

    release.set()  # the first call was still running after all: its side effect stands
    threads[0].join(JOIN_S)
    assert workflow.ledger(key)["Version"] == 1
    rerun = workflow.start(request, name="execute-unknown-rerun")
    assert workflow.wait(rerun)["status"] == "SUCCEEDED"
    assert workflow.states_entered(rerun)[-1] == "Duplicate"


# --- the step failed: compensated; if undoing fails, an operator is asked to look ---


def test_a_step_that_failed_and_was_compensated_stays_a_duplicate(workflow, monkeypatch) -> None:
    real_call = botocore.client.BaseClient._make_api_call

    def fail_tagging(self, operation_name, api_params):  # type: ignore[no-untyped-def]
        if operation_name == "AddTagsToResource":
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed to tag"}}, operation_name
            )
        return real_call(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", fail_tagging)
    request = detail()
    key = request["idempotency_key"]
    execution = workflow.start(request, name="compensated")
    assert workflow.wait(execution)["status"] == "FAILED"
    assert workflow.task_errors(execution) == ["StepFailed"]  # the step's own failure, not retried
    assert workflow.claim_state(key) == "compensated"

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", real_call)
    rerun = workflow.start(request, name="compensated-rerun")
    assert workflow.wait(rerun)["status"] == "SUCCEEDED"
    assert workflow.states_entered(rerun)[-1] == "Duplicate"
    assert workflow.ledger(key) is None


def test_a_compensation_that_fails_is_retried_then_handed_to_an_operator(workflow, monkeypatch) -> None:
    real_call = botocore.client.BaseClient._make_api_call

    def fail_tagging_and_deleting(self, operation_name, api_params):  # type: ignore[no-untyped-def]
        if operation_name in ("AddTagsToResource", "DeleteParameter"):
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": f"not allowed: {operation_name}"}},
                operation_name,
            )
        return real_call(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", fail_tagging_and_deleting)
    request = detail()
    key = request["idempotency_key"]
    execution = workflow.start(request, name="compensation-fails")
    assert workflow.wait(execution)["status"] == "FAILED"
    assert workflow.states_entered(execution)[-3:] == [
        "MarkCompensationFailed",
        "RecordCompensationFailed",
        "CompensationFailed",
    ]
    assert workflow.task_errors(execution) == ["StepFailed", "ClientError", "ClientError", "ClientError"]
    assert workflow.claim_state(key) == "compensation_failed"
    assert workflow.ledger(key) is not None  # the side effect that could not be undone
    text = memory_text(workflow, key, "compensation_failed")
    assert "not allowed: AddTagsToResource" in text and "could not be undone" in text and key in text
    assert "ClientError" in text  # what undoing it failed with: its name, not its message
