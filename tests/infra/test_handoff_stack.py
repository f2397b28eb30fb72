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
    assert claim["Parameters"]["ConditionExpression"] == "attribute_not_exists(id)"
    (catch,) = claim["Catch"]
    assert catch["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    assert states[catch["Next"]]["Type"] == "Succeed"


def test_every_task_has_a_timeout_and_lambda_tasks_retry_only_service_errors(synthesized) -> None:
    for env in ("dev", "staging"):
        for name, state in definition(synthesized, env)["States"].items():
            if state["Type"] != "Task":
                continue
            assert "TimeoutSeconds" in state, name
            if ":lambda:invoke" in state["Resource"]:
                errors = [e for retry in state.get("Retry", []) for e in retry["ErrorEquals"]]
                assert errors and all(e.startswith("Lambda.") for e in errors), name


@pytest.mark.parametrize(("env", "approval"), [("dev", False), ("staging", True), ("prod", True)])
def test_approval_follows_the_environment(synthesized, env: str, approval: bool) -> None:
    states = definition(synthesized, env)["States"]
    assert ("AwaitApproval" in states) is approval
    if approval:
        wait = states["AwaitApproval"]
        assert wait["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
        assert wait["HeartbeatSeconds"] == 24 * 3600 and wait["TimeoutSeconds"] > wait["HeartbeatSeconds"]
        assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"


def test_failure_after_the_side_effect_compensates_then_records_then_fails(synthesized) -> None:
    states = definition(synthesized, "dev")["States"]
    (catch,) = states["Execute"]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "Compensate"
    assert states["Compensate"]["Next"] == "RecordFailure"
    assert states["RecordFailure"]["Next"] == "StepFailed" and states["StepFailed"]["Type"] == "Fail"


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
