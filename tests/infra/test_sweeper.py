"""The scheduled sweeper: its code, schedule, dead letters, log group and least-privilege roles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Template

from app import build
from stacks.config import CONFIG_DIR, load_environment
from stacks.constructs import handoff, sweeper
from tests.infra.conftest import make_app

FUNCTION = "SweeperFunction15FDF226"
ROLE_POLICY = "SweeperRoleDefaultPolicyA7914683"
SCHEDULE_ROLE = "SweeperScheduleRole355FA113"
SCHEDULE_POLICY = "SweeperScheduleRoleDefaultPolicy057C85E5"
DEAD_LETTERS = "SweeperDeadLettersD01FDB2E"
MCP = "McpServerRuntime59F17E8D"
KIT_KEY = "EncryptionKey3A692D6E"


def resources(synthesized, env: str) -> dict[str, Any]:
    return synthesized.template_json(env, "runtimes")["Resources"]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted(synthesized, env: str, policy: str) -> dict[str, list[Any]]:
    """action -> resources, over every statement of one policy."""
    found: dict[str, list[Any]] = {}
    for statement in resources(synthesized, env)[policy]["Properties"]["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in _list(statement["Action"]):
            found.setdefault(action, []).extend(_list(statement["Resource"]))
    return found


def statements(synthesized, env: str, policy: str) -> list[dict[str, Any]]:
    return resources(synthesized, env)[policy]["Properties"]["PolicyDocument"]["Statement"]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_function_runs_the_mcp_servers_sweep_one_at_a_time(synthesized, env: str) -> None:
    props = resources(synthesized, env)[FUNCTION]["Properties"]
    assert props["Handler"] == "mcp_server.sweeper_lambda.handler"
    assert (props["Runtime"], props["Architectures"]) == (handoff.RUNTIME.name, ["arm64"])
    assert props["Timeout"] == 300
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
    (layer,) = props["Layers"]
    assert (
        f":{handoff.POWERTOOLS_LAYER_ACCOUNT}:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:"
        f"{handoff.POWERTOOLS_LAYER_VERSION}"
    ) in json.dumps(layer)


def test_the_function_uses_the_same_powertools_layer_as_the_handoff(synthesized) -> None:
    ours = resources(synthesized, "dev")[FUNCTION]["Properties"]["Layers"]
    functions = synthesized.template("dev", "handoff").find_resources("AWS::Lambda::Function")
    theirs = [f["Properties"]["Layers"] for f in functions.values() if "handoff." in f["Properties"]["Handler"]]
    assert theirs and all(layers == ours for layers in theirs)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_its_log_group_is_its_own_under_the_environments_prefix(synthesized, env: str) -> None:
    config = load_environment(env)
    found = resources(synthesized, env)
    log_group = found[FUNCTION]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    props = found[log_group]["Properties"]
    assert props["LogGroupName"] == f"{config.log_group_prefix}/sweeper"
    assert props["RetentionInDays"] == config.log_retention_days
    assert "EncryptionKey" in json.dumps(props["KmsKeyId"])
    # Its role writes to this group only, and carries no managed policy.
    assert granted(synthesized, env, ROLE_POLICY)["logs:PutLogEvents"] == [{"Fn::GetAtt": [log_group, "Arn"]}]
    role = found[FUNCTION]["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in found[role]["Properties"]


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_in_iam_environments_it_may_wake_the_mcp_runtime_and_nothing_else(synthesized, env: str) -> None:
    actions = granted(synthesized, env, ROLE_POLICY)
    mcp_arn = {"Fn::GetAtt": [MCP, "AgentRuntimeArn"]}
    assert actions["bedrock-agentcore:InvokeAgentRuntime"] == [mcp_arn, {"Fn::Join": ["", [mcp_arn, "/*"]]}]
    assert "bedrock-agentcore:InvokeAgentRuntimeForUser" not in actions
    assert resources(synthesized, env)[FUNCTION]["Properties"]["Environment"]["Variables"]["MCP_RUNTIME_ARN"] == mcp_arn


def test_under_jwt_it_neither_invokes_nor_knows_the_runtime(synthesized) -> None:
    """With JWT inbound auth the MCP runtime accepts no SigV4 call: an invoke grant would be dead weight."""
    assert "bedrock-agentcore:InvokeAgentRuntime" not in granted(synthesized, "prod", ROLE_POLICY)
    assert "MCP_RUNTIME_ARN" not in resources(synthesized, "prod")[FUNCTION]["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_its_role_holds_exactly_the_sweeps_needs(synthesized, env: str) -> None:
    actions = granted(synthesized, env, ROLE_POLICY)
    expected = {
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
        "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query",
        "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey",
        "bedrock-agentcore:CreateEvent",
    }  # fmt: skip
    if load_environment(env).auth.mode == "iam":
        expected.add("bedrock-agentcore:InvokeAgentRuntime")
    assert set(actions) == expected
    table = json.dumps(actions["dynamodb:GetItem"])
    assert "TaskStoreTable" in table and actions["dynamodb:GetItem"] == actions["dynamodb:UpdateItem"]
    # Query on the sweep index only: not the table, not the owner index.
    (query,) = actions["dynamodb:Query"]
    assert json.dumps(query).endswith('"/index/by_sweep"]]}')
    assert "AgentMemory" in json.dumps(actions["bedrock-agentcore:CreateEvent"])
    for statement in statements(synthesized, env, ROLE_POLICY):
        if any(a.startswith("kms:") for a in _list(statement["Action"])):
            assert "dynamodb." in json.dumps(statement["Condition"]["StringEquals"]["kms:ViaService"])


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_schedule_runs_every_minute_with_retries_and_a_dead_letter_queue(synthesized, env: str) -> None:
    (schedule,) = synthesized.template(env, "runtimes").find_resources("AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "rate(1 minute)"
    assert props["State"] == "ENABLED"
    target = props["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [FUNCTION, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [DEAD_LETTERS, "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 3}
    assert target["RoleArn"] == {"Fn::GetAtt": [SCHEDULE_ROLE, "Arn"]}


def test_the_dead_letter_queue_is_encrypted_and_tls_only(synthesized) -> None:
    found = resources(synthesized, "dev")
    assert "EncryptionKey" in json.dumps(found[DEAD_LETTERS]["Properties"]["KmsMasterKeyId"])
    (policy,) = [
        r
        for r in found.values()
        if r["Type"] == "AWS::SQS::QueuePolicy" and {"Ref": DEAD_LETTERS} in r["Properties"]["Queues"]
    ]
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_schedule_role_invokes_the_function_and_dead_letters_only(synthesized) -> None:
    found = resources(synthesized, "dev")
    trust = found[SCHEDULE_ROLE]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    (statement,) = trust
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "schedule-group/default" in json.dumps(statement["Condition"]["StringEquals"]["aws:SourceArn"])
    actions = granted(synthesized, "dev", SCHEDULE_POLICY)
    assert set(actions) == {"lambda:InvokeFunction", "sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"}
    assert actions["sqs:SendMessage"] == [{"Fn::GetAtt": [DEAD_LETTERS, "Arn"]}]
    fn = {"Fn::GetAtt": [FUNCTION, "Arn"]}
    assert actions["lambda:InvokeFunction"] == [fn, {"Fn::Join": ["", [fn, ":*"]]}]
    for statement in statements(synthesized, "dev", SCHEDULE_POLICY):
        if "kms:Decrypt" in _list(statement["Action"]):
            assert "sqs." in json.dumps(statement["Condition"]["StringEquals"]["kms:ViaService"])


def test_a_sweep_that_cannot_start_before_the_next_is_due_is_dropped(synthesized) -> None:
    (config,) = synthesized.template("dev", "runtimes").find_resources("AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["FunctionName"] == {"Ref": FUNCTION}
    assert (config["Properties"]["MaximumRetryAttempts"], config["Properties"]["MaximumEventAgeInSeconds"]) == (0, 60)


def test_the_interval_comes_from_config(tmp_path: Path) -> None:
    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
    data["sweeper"] = {"schedule_minutes": 15}
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    (stage,) = build(make_app(tmp_path / "out", env="dev", config_dir=str(tmp_path)))
    template = Template.from_stack(stage.runtimes)
    (schedule,) = template.find_resources("AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["ScheduleExpression"] == "rate(15 minutes)"
    assert schedule["Properties"]["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"] == 900
    (config,) = template.find_resources("AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["MaximumEventAgeInSeconds"] == 900


def test_the_code_is_the_mcp_server_package_without_the_image_files(synthesized) -> None:
    code = resources(synthesized, "dev")[FUNCTION]["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    staged = synthesized.outdir / f"asset.{code}"  # staged as a directory, zipped on upload
    assert staged.is_dir()
    names = {p.relative_to(staged).as_posix() for p in staged.rglob("*")}
    assert "mcp_server/sweeper_lambda.py" in names
    assert "kit_contracts/settings.py" in names and not (staged / "kit_contracts").is_symlink()
    leftovers = {n for n in names if n in sweeper.CODE_EXCLUDE[:3] or "__pycache__" in n or n.endswith(".pyc")}
    assert leftovers == set()
