"""Handoff stack: bus, rule, DLQ and the exactly-once workflow, as each environment says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from kit_contracts import handoff as contract
from stacks.config import load_environment
from stacks.stage import KitStage
from tests.infra.conftest import make_app


def resources(synthesized, env: str, kind: str) -> list[dict[str, Any]]:
    template = synthesized.template_json(env, "handoff")
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def definition(synthesized, env: str) -> dict[str, Any]:
    (machine,) = resources(synthesized, env, "AWS::StepFunctions::StateMachine")
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


def test_standard_workflow_with_full_logging_and_tracing(synthesized) -> None:
    for env in ("dev", "staging", "prod"):
        synthesized.template(env, "handoff").has_resource_properties(
            "AWS::StepFunctions::StateMachine",
            {
                "StateMachineType": "STANDARD",
                "TracingConfiguration": {"Enabled": True},
                "LoggingConfiguration": {
                    # ALL for cdk-nag's AwsSolutions-SF1; IncludeExecutionData used to be true,
                    # which logged the approval state's input and so its task token.
                    "Level": "ALL",
                    "IncludeExecutionData": False,
                    "Destinations": Match.any_value(),
                },
            },
        )
    for group in resources(synthesized, "dev", "AWS::Logs::LogGroup"):
        assert group["Properties"]["RetentionInDays"] == 7
        assert "EncryptionKey" in json.dumps(group["Properties"]["KmsKeyId"])


def test_validate_then_claim_the_key_and_a_duplicate_succeeds_without_side_effects(synthesized) -> None:
    # The claim used to come first, so a forged event claimed a key before anything checked
    # that the key is the hash of its content.
    machine = definition(synthesized, "dev")
    states = machine["States"]
    assert machine["StartAt"] == "Validate"
    claim = states[states["Validate"]["Next"]]
    assert claim["Resource"].endswith(":states:::dynamodb:putItem")
    # It used to be `attribute_not_exists(id)` alone: a claim was held for good, even by an
    # execution that failed before its step began, and the request then ended as Duplicate.
    assert claim["Parameters"]["ConditionExpression"] == "attribute_not_exists(id) OR #state = :rerunnable"
    assert claim["Parameters"]["ExpressionAttributeValues"] == {":rerunnable": {"S": "failed_before_execute"}}
    assert claim["Parameters"]["Item"]["state"] == {"S": "claimed"}
    duplicate, failed = claim["Catch"]
    assert duplicate["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    assert states[duplicate["Next"]]["Type"] == "Succeed"
    assert failed == {"ErrorEquals": ["States.ALL"], "Next": "ReleaseClaim", "ResultPath": "$.error"}


LAMBDA_SERVICE_ERRORS = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
]


def test_every_task_has_a_timeout_and_lambda_tasks_retry_service_errors_then_only_their_own(synthesized) -> None:
    # Lambda tasks used to retry the service errors and nothing else; now Execute also retries
    # what says it may still complete, the record states a failed CreateEvent, and Compensate
    # (safe to repeat) anything.
    for env in ("dev", "staging"):
        for name, state in definition(synthesized, env)["States"].items():
            if state["Type"] != "Task":
                continue
            assert "TimeoutSeconds" in state, name
            if ":lambda:invoke" not in state["Resource"]:
                continue
            first, *more = state["Retry"]
            assert first["ErrorEquals"] == LAMBDA_SERVICE_ERRORS, name
            own = [e for retry in more for e in retry["ErrorEquals"]]
            if name == "Execute":
                assert "IdempotencyAlreadyInProgressError" in own
            elif name.startswith("Record"):
                assert own == ["OutcomeNotRecorded"], name
            elif name == "Compensate":
                assert own == ["States.ALL"]
            else:
                assert own == [], name


@pytest.mark.parametrize(("env", "approval"), [("dev", False), ("staging", True), ("prod", True)])
def test_approval_follows_the_environment(synthesized, env: str, approval: bool) -> None:
    states = definition(synthesized, env)["States"]
    assert ("AwaitApproval" in states) is approval
    if approval:
        wait = states["AwaitApproval"]
        assert wait["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
        assert wait["HeartbeatSeconds"] == 24 * 3600 and wait["TimeoutSeconds"] > wait["HeartbeatSeconds"]
        assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"


def test_a_step_that_failed_is_compensated_then_recorded_then_fails(synthesized) -> None:
    # Execute used to catch States.ALL into Compensate: an in-progress or timed-out call, which
    # may still complete, was compensated and the user told it failed.
    states = definition(synthesized, "dev")["States"]
    failed, other = states["Execute"]["Catch"]
    assert failed == {"ErrorEquals": ["StepFailed"], "Next": "Compensate", "ResultPath": "$.error"}
    assert other["ErrorEquals"] == ["States.ALL"] and other["Next"] == "MarkOutcomeUnknown"
    assert states["Compensate"]["Next"] == "MarkCompensated"
    assert states["MarkCompensated"]["Next"] == "RecordFailure"
    assert states["RecordFailure"]["Next"] == "StepFailed" and states["StepFailed"]["Type"] == "Fail"
    (compensation_failed,) = states["Compensate"]["Catch"]
    assert compensation_failed["Next"] == "MarkCompensationFailed"
    assert states["MarkCompensationFailed"]["Next"] == "RecordCompensationFailed"
    assert states["RecordCompensationFailed"]["Next"] == "CompensationFailed"


def test_execute_retries_what_may_still_complete_before_anything_is_caught(synthesized) -> None:
    for env in ("dev", "staging"):
        execute = definition(synthesized, env)["States"]["Execute"]
        service, may_still_complete = execute["Retry"]
        assert "Lambda.ClientExecutionTimeoutException" in service["ErrorEquals"]
        assert {
            "IdempotencyAlreadyInProgressError",
            "Lambda.Unknown",
            "Sandbox.Timedout",
            "States.Timeout",
        } <= set(may_still_complete["ErrorEquals"])
        # Its own failure is compensated at once; retrying it would run the step again.
        assert not {"StepFailed", "States.ALL", "States.TaskFailed"} & set(may_still_complete["ErrorEquals"])
        # Outlasts the in-progress record of a call (which expires with the 30 s function).
        waits = [
            min(
                may_still_complete["IntervalSeconds"] * may_still_complete["BackoffRate"] ** n,
                may_still_complete["MaxDelaySeconds"],
            )
            for n in range(may_still_complete["MaxAttempts"])
        ]
        assert waits == [5, 10, 20, 40, 60, 60]


def _edges(states: dict[str, Any]) -> dict[str, set[str]]:
    return {
        name: {*([state["Next"]] if "Next" in state else []), *(c["Next"] for c in state.get("Catch", []))}
        for name, state in states.items()
    }


def _reachable(states: dict[str, Any], start: str, *, avoiding: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    edges, seen, todo = _edges(states), set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name in avoiding:
            continue
        seen.add(name)
        todo.extend(edges[name])
    return seen


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_nothing_after_an_execute_that_may_still_be_running_compensates(synthesized, env: str) -> None:
    states = definition(synthesized, env)["States"]
    (unknown,) = [c["Next"] for c in states["Execute"]["Catch"] if c["ErrorEquals"] == ["States.ALL"]]
    after = _reachable(states, unknown)
    assert "Compensate" not in after and "RecordUnknown" in after
    assert states["MarkOutcomeUnknown"]["Parameters"]["ExpressionAttributeValues"][":to"] == {"S": "outcome_unknown"}
    # Compensate is reached by one edge only: Execute's StepFailed catch.
    into = [(n, e) for n, e in _edges(states).items() if "Compensate" in e]
    assert into == [("Execute", {"Compensate", "MarkOutcomeUnknown", "MarkDone"})]


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_every_failure_before_the_step_releases_the_claim_and_says_so(synthesized, env: str) -> None:
    states = definition(synthesized, env)["States"]
    before = ["ClaimIdempotencyKey", "MarkExecuting", *(["AwaitApproval"] if env == "staging" else [])]
    for name in before:
        assert {"ErrorEquals": ["States.ALL"], "Next": "ReleaseClaim", "ResultPath": "$.error"} in states[name][
            "Catch"
        ], name
    release = states["ReleaseClaim"]
    assert release["Parameters"]["ExpressionAttributeValues"][":to"] == {"S": "failed_before_execute"}
    assert release["Parameters"]["ConditionExpression"].startswith("#execution = :execution AND #state IN (")
    # Recorded whether or not the release itself went through.
    assert release["Next"] == "RecordNotRun" and release["Catch"][0]["Next"] == "RecordNotRun"
    # Validate crashing claimed nothing: straight to a record that repeats nothing it was sent.
    assert {"ErrorEquals": ["States.ALL"], "Next": "RecordNotChecked", "ResultPath": "$.error"} in states["Validate"][
        "Catch"
    ]
    assert states["RecordNotChecked"]["Parameters"]["Payload"]["outcome"] == "not_checked"
    assert states["RecordNotChecked"]["Next"] == states["RecordNotRun"]["Next"] == "NotRun"
    assert states["NotRun"]["Type"] == "Fail"


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_every_way_out_but_duplicate_tells_the_user(synthesized, env: str) -> None:
    machine = definition(synthesized, env)
    states = machine["States"]
    records = {name for name in states if name.startswith("Record")}
    ends = {name for name, state in states.items() if state["Type"] in ("Succeed", "Fail")}
    assert _reachable(states, machine["StartAt"], avoiding=records) & ends == {"Duplicate"}
    for name in records:
        # No Catch: with memory down the execution fails at the record, where RedriveExecution
        # resumes it; the claim has been settled before.
        assert "Catch" not in states[name], name
        assert states[name]["Parameters"]["Payload"]["execution.$"] == "$$.Execution.Id"


def test_the_workflow_may_update_the_claim_through_dynamodb_only(synthesized) -> None:
    template = synthesized.template_json("staging", "handoff")["Resources"]
    (policy,) = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for k, r in template.items()
        if r["Type"] == "AWS::IAM::Policy" and k.startswith("HandoffWorkflowRoleDefaultPolicy")
    ]
    actions = {a for s in policy for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem"} <= actions
    assert not {"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"} & actions
    (kms,) = [s for s in policy if "kms:Decrypt" in json.dumps(s["Action"])]
    assert kms["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Join": ["", ["dynamodb.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}}
    }


def test_rule_matches_the_contract_and_delivers_with_dlq_and_retry(synthesized) -> None:
    (rule,) = resources(synthesized, "dev", "AWS::Events::Rule")
    assert rule["Properties"]["EventPattern"] == {
        "source": [contract.EVENT_SOURCE],
        "detail-type": [contract.EVENT_DETAIL_TYPE],
        "detail": {
            "schema_version": ["1"],
            "kind": list(contract.KINDS),
            "idempotency_key": [{"exists": True}],
        },
    }
    (target,) = rule["Properties"]["Targets"]
    assert target["InputPath"] == "$.detail"
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 6 * 3600}
    assert "DeadLetters" in json.dumps(target["DeadLetterConfig"])


def test_dead_letter_queue_is_encrypted_and_ssl_only(synthesized) -> None:
    template = synthesized.template("dev", "handoff")
    template.has_resource_properties(
        "AWS::SQS::Queue", {"KmsMasterKeyId": {"Fn::ImportValue": Match.string_like_regexp("EncryptionKey")}}
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def lambda_grants(synthesized, env: str) -> dict[str, set[str]]:
    """function name (Validate, Execute, ...) -> actions its role holds beyond logs and X-Ray."""
    template = synthesized.template_json(env, "handoff")["Resources"]
    grants: dict[str, set[str]] = {}
    for logical_id, resource in template.items():
        if resource["Type"] != "AWS::IAM::Policy" or "Workflow" in logical_id:
            continue
        name = logical_id.removeprefix("Handoff").split("Role")[0]
        actions = {
            a
            for s in resource["Properties"]["PolicyDocument"]["Statement"]
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
            if not a.startswith(("xray:", "logs:"))
        }
        grants[name] = actions
    return grants


def test_each_lambda_holds_only_what_its_step_needs(synthesized) -> None:
    kms = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
    assert lambda_grants(synthesized, "staging") == {
        "Validate": set(),
        "Approval": {"dynamodb:UpdateItem", "bedrock-agentcore:CreateEvent", *kms},
        "Execute": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "ssm:PutParameter",
            "ssm:GetParameter",
            "ssm:AddTagsToResource",
            *kms,
        },
        "Compensate": {"ssm:DeleteParameter"},
        "Record": {"bedrock-agentcore:CreateEvent"},
    }
    assert "Approval" not in lambda_grants(synthesized, "dev")


def test_lambdas_are_arm64_traced_json_logging_with_the_powertools_layer(synthesized) -> None:
    for function in resources(synthesized, "dev", "AWS::Lambda::Function"):
        props = function["Properties"]
        assert props["Architectures"] == ["arm64"] and props["Runtime"] == "python3.14"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        # botocore logs request bodies (a task token among them) at DEBUG.
        assert props["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
        assert props["Handler"].startswith("handoff.handlers.")
        assert "AWSLambdaPowertoolsPythonV3-python314-arm64" in json.dumps(props["Layers"])


def _approval_environment(template: dict[str, Any]) -> dict[str, Any]:
    (approval,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == "handoff.handlers.approval.handler"
    ]
    return approval["Environment"]["Variables"]


def test_only_the_approval_lambda_is_told_whether_self_approval_is_allowed(synthesized, tmp_path) -> None:
    for env in ("staging", "prod"):
        assert _approval_environment(synthesized.template_json(env, "handoff"))["APPROVAL_ALLOW_SELF"] == "false"
    for function in resources(synthesized, "staging", "AWS::Lambda::Function"):
        if function["Properties"]["Handler"] != "handoff.handlers.approval.handler":
            assert "APPROVAL_ALLOW_SELF" not in function["Properties"]["Environment"]["Variables"]

    allowing = load_environment("staging").model_copy(update={"approval_allow_self": True})
    stage = KitStage(make_app(tmp_path, **{"aws:cdk:bundling-stacks": []}), allowing)
    assert _approval_environment(Template.from_stack(stage.handoff).to_json())["APPROVAL_ALLOW_SELF"] == "true"


def bus_policies(synthesized, env: str) -> dict[str, dict[str, Any]]:
    """Statement id -> statement of the handoff bus's resource policy (kept in the Runtimes stack)."""
    template = synthesized.template_json(env, "runtimes")
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Events::EventBusPolicy":
            props = resource["Properties"]
            assert "HandoffBus" in json.dumps(props["EventBusName"]), props
            found[props["StatementId"]] = props["Statement"]
    return found


def _mcp_server_role(synthesized, env: str) -> str:
    template = synthesized.template_json(env, "runtimes")
    (runtime_id,) = [
        k
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::BedrockAgentCore::Runtime" and "McpServer" in k
    ]
    role = template["Resources"][runtime_id]["Properties"]["RoleArn"]
    return role["Fn::GetAtt"][0]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_bus_admits_only_the_mcp_servers_role_and_only_the_kits_source(synthesized, env: str) -> None:
    statements = bus_policies(synthesized, env)
    assert set(statements) == {"DenyPutEventsToAllButTheMcpServer", "DenyPutEventsOfOtherSources"}
    for statement in statements.values():
        assert statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}
        assert statement["Action"] == "events:PutEvents"
        assert "HandoffBus" in json.dumps(statement["Resource"])
    role = _mcp_server_role(synthesized, env)
    assert statements["DenyPutEventsToAllButTheMcpServer"]["Condition"] == {
        "StringNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [role, "Arn"]}}
    }
    assert statements["DenyPutEventsOfOtherSources"]["Condition"] == {
        "StringNotEquals": {"events:source": contract.EVENT_SOURCE}
    }
    assert role.startswith("McpServer")  # the role the MCP server runtime runs as, not the agent's


def test_the_handoff_stack_does_not_depend_on_the_runtimes(synthesized) -> None:
    """The policy names the runtimes' role, so it lives with them; the bus stays where it was."""
    stage = synthesized.stages["dev"]
    assert stage.runtimes not in stage.handoff.dependencies
    assert not [
        r
        for r in synthesized.template_json("dev", "handoff")["Resources"].values()
        if r["Type"] == "AWS::Events::EventBusPolicy"
    ]
