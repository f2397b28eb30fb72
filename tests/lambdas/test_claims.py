"""The claim's states: written by the workflow (stacks/constructs/handoff.py) and the approval
step, read by `handoff.approve`, named once for the Lambdas in handoff.claims."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import SynthesizedHandoff
from handoff import claims
from handoff.approve import decide
from test_workflow import detail


def _states(synthesized: SynthesizedHandoff) -> dict[str, Any]:
    parts = synthesized.definition_parts
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))["States"]  # type: ignore[no-any-return]


def _dynamodb_states(synthesized: SynthesizedHandoff) -> dict[str, dict[str, Any]]:
    return {
        name: state["Parameters"]
        for name, state in _states(synthesized).items()
        if state["Type"] == "Task" and ":states:::dynamodb:" in state["Resource"]
    }


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_the_workflow_writes_and_expects_only_the_states_claims_names(
    env: str, synthesized_dev: SynthesizedHandoff, synthesized_staging: SynthesizedHandoff
) -> None:
    synthesized = {"dev": synthesized_dev, "staging": synthesized_staging}[env]
    written, expected = set(), set()
    for params in _dynamodb_states(synthesized).values():
        if "Item" in params:  # the claim
            written.add(params["Item"][claims.STATE]["S"])
        names = params.get("ExpressionAttributeNames", {})
        assert "#state" not in names or names["#state"] == claims.STATE
        assert "#execution" not in names or names["#execution"] == claims.EXECUTION
        assert "#token" not in names or names["#token"] == claims.APPROVAL_TOKEN
        for placeholder, value in params.get("ExpressionAttributeValues", {}).items():
            if placeholder == ":to":
                written.add(value["S"])
            elif placeholder.startswith(":from_") or placeholder == ":rerunnable":
                expected.add(value["S"])
    assert written | expected <= set(claims.STATES)
    # Every state but the approval step's own is the workflow's to write.
    assert written == set(claims.STATES) - {claims.AWAITING_APPROVAL} - (
        set() if env == "staging" else {claims.REJECTED}
    )


def test_only_a_claim_whose_step_never_began_is_claimed_again(synthesized_dev: SynthesizedHandoff) -> None:
    claim = _dynamodb_states(synthesized_dev)["ClaimIdempotencyKey"]
    assert claim["ConditionExpression"] == "attribute_not_exists(id) OR #state = :rerunnable"
    assert (claim["ExpressionAttributeValues"][":rerunnable"]["S"],) == claims.RERUNNABLE


def test_a_decided_handoff_cannot_be_decided_again(approval_workflow) -> None:
    """The token leaves the claim once the step may begin: it could only fail, or mislead."""
    request = detail()
    key = request["idempotency_key"]
    execution = approval_workflow.start(request, name="decided")
    approval_workflow.wait_for_approval_token(key)
    decide(table=approval_workflow.table_name, key=key, approve=True)
    assert approval_workflow.wait(execution)["status"] == "SUCCEEDED"
    with pytest.raises(LookupError, match="is not waiting for approval"):
        decide(table=approval_workflow.table_name, key=key, approve=False, reason="too late")
