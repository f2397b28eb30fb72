"""Runtime stack: both runtimes as configured, and each IAM grant the agents rely on."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from kit_contracts.context import CONTEXT_HEADERS
from stacks.config import load_environment

AGENT = "AgentRuntime23CE8C05"
MCP = "McpServerRuntime59F17E8D"
AGENT_POLICY = "AgentRuntimeExecutionRoleDefaultPolicy63E71FE1"
MCP_POLICY = "McpServerRuntimeExecutionRoleDefaultPolicyFAD86CBD"
# What the L2 Runtime role always carries for the platform (logs, traces, metrics,
# workload identity, image pull); everything else a role holds is the kit's own grant.
PLATFORM_ACTIONS = {
    "logs:DescribeLogStreams", "logs:CreateLogGroup", "logs:DescribeLogGroups",
    "logs:CreateLogStream", "logs:PutLogEvents",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "cloudwatch:PutMetricData",
    "bedrock-agentcore:GetWorkloadAccessToken", "bedrock-agentcore:GetWorkloadAccessTokenForJWT",
    "bedrock-agentcore:GetWorkloadAccessTokenForUserId",
    "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "ecr:GetAuthorizationToken",
}  # fmt: skip


def runtime_props(synthesized, env: str, logical_id: str) -> dict[str, Any]:
    return synthesized.template_json(env, "runtimes")["Resources"][logical_id]["Properties"]


def kit_statements(synthesized, env: str, policy: str) -> list[dict[str, Any]]:
    doc = synthesized.template_json(env, "runtimes")["Resources"][policy]["Properties"]["PolicyDocument"]
    return [s for s in doc["Statement"] if not set(_list(s["Action"])) <= PLATFORM_ACTIONS]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_on(statements: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """action -> resources it is granted on."""
    granted: dict[str, list[Any]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _list(statement["Action"]):
            granted.setdefault(action, []).extend(_list(statement["Resource"]))
    return granted


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_protocols_names_and_lifecycles_come_from_config(synthesized, env: str) -> None:
    config = load_environment(env)
    for logical_id, settings, protocol in (
        (AGENT, config.agent, "HTTP"),
        (MCP, config.mcp_server, "MCP"),
    ):
        props = runtime_props(synthesized, env, logical_id)
        assert props["AgentRuntimeName"] == settings.name
        assert props["ProtocolConfiguration"] == protocol
        assert props["LifecycleConfiguration"] == {
            "IdleRuntimeSessionTimeout": settings.idle_timeout_seconds,
            "MaxLifetime": settings.max_lifetime_seconds,
        }


def test_mcp_server_allowlists_the_caller_context_headers(synthesized) -> None:
    props = runtime_props(synthesized, "dev", MCP)
    assert props["RequestHeaderConfiguration"]["RequestHeaderAllowlist"] == list(CONTEXT_HEADERS)


def test_iam_environments_use_iam_auth_and_jwt_ones_a_jwt_authorizer(synthesized) -> None:
    for logical_id in (AGENT, MCP):
        assert "AuthorizerConfiguration" not in runtime_props(synthesized, "dev", logical_id)
        prod = runtime_props(synthesized, "prod", logical_id)
        assert prod["AuthorizerConfiguration"] == {
            "CustomJWTAuthorizer": {
                "DiscoveryUrl": load_environment("prod").auth.discovery_url,  # type: ignore[union-attr]
                "AllowedClients": ["replace-with-your-app-client-id"],
            }
        }
    # Under JWT the agent receives the caller's token to forward to the MCP server.
    assert runtime_props(synthesized, "prod", AGENT)["RequestHeaderConfiguration"] == {
        "RequestHeaderAllowlist": ["Authorization"]
    }


def test_container_environment_carries_ids_and_endpoints(synthesized) -> None:
    mcp_env = runtime_props(synthesized, "dev", MCP)["EnvironmentVariables"]
    assert mcp_env["TASK_STORE"] == "dynamodb"
    assert mcp_env["TASK_TABLE_NAME"] == {
        "Fn::ImportValue": "dev-Stateful:ExportsOutputRefTaskStoreTable7D7100B62795BF27"
    }
    assert "AgentMemory" in str(mcp_env["MEMORY_ID"])
    assert mcp_env["AWS_REGION"] == {"Ref": "AWS::Region"}
    assert mcp_env["MCP_SESSION_IDLE_TIMEOUT_SECONDS"] == "3600"
    agent_env = runtime_props(synthesized, "dev", AGENT)["EnvironmentVariables"]
    assert agent_env["MODEL_ID"] == load_environment("dev").model_ids[0]
    # The agent reaches the MCP runtime by its invocation URL alone; nothing in the image reads
    # the ARN, so the stack no longer sets it.
    assert "MCP_RUNTIME_ARN" not in agent_env
    assert MCP in str(agent_env["MCP_RUNTIME_URL"]) and "/invocations?qualifier=DEFAULT" in str(
        agent_env["MCP_RUNTIME_URL"]
    )
    assert "AgentMemory" in str(agent_env["MEMORY_ID"])


def test_agent_may_invoke_only_the_mcp_runtime(synthesized) -> None:
    granted = actions_on(kit_statements(synthesized, "dev", AGENT_POLICY))
    mcp_arn = {"Fn::GetAtt": [MCP, "AgentRuntimeArn"]}
    assert granted["bedrock-agentcore:InvokeAgentRuntime"] == [
        mcp_arn,
        {"Fn::Join": ["", [mcp_arn, "/*"]]},
    ]
    assert not any("ForUser" in action for action in granted)


def test_agent_reads_and_writes_memory_including_get_memory(synthesized) -> None:
    granted = actions_on(kit_statements(synthesized, "dev", AGENT_POLICY))
    memory_actions = {
        a for a in granted if a.startswith("bedrock-agentcore:") and a != "bedrock-agentcore:InvokeAgentRuntime"
    }
    assert memory_actions == {
        "bedrock-agentcore:GetMemory", "bedrock-agentcore:GetEvent", "bedrock-agentcore:ListEvents",
        "bedrock-agentcore:ListSessions", "bedrock-agentcore:ListActors", "bedrock-agentcore:RetrieveMemoryRecords",
        "bedrock-agentcore:ListMemoryRecords", "bedrock-agentcore:GetMemoryRecord", "bedrock-agentcore:CreateEvent",
    }  # fmt: skip
    for action in memory_actions:
        assert all("MemoryArn" in str(resource) for resource in granted[action]), action


def test_agent_invokes_only_the_configured_models(synthesized) -> None:
    for env in ("dev", "staging"):
        granted = actions_on(kit_statements(synthesized, env, AGENT_POLICY))
        invoke = sorted(str(r) for r in granted["bedrock:InvokeModel"])
        assert invoke == sorted(str(r) for r in granted["bedrock:InvokeModelWithResponseStream"])
        model_ids = load_environment(env).model_ids
        assert len(invoke) == 2 * len(model_ids)  # profile ARN + the model it routes to
        for model_id in model_ids:
            assert sum(f"inference-profile/{model_id}" in r for r in invoke) == 1
            assert sum(f"foundation-model/{model_id.split('.', 1)[1]}" in r for r in invoke) == 1


def test_agent_holds_nothing_else(synthesized) -> None:
    granted = actions_on(kit_statements(synthesized, "dev", AGENT_POLICY))
    assert {a.split(":")[0] for a in granted} == {"bedrock", "bedrock-agentcore"}
    assert not any(a.startswith("dynamodb:") for a in granted)


def test_mcp_server_writes_memory_events_and_uses_its_table_only(synthesized) -> None:
    granted = actions_on(kit_statements(synthesized, "dev", MCP_POLICY))
    assert {a for a in granted if a.startswith("bedrock-agentcore:")} == {"bedrock-agentcore:CreateEvent"}
    assert "AgentMemory" in str(granted["bedrock-agentcore:CreateEvent"])
    dynamo = {a for a in granted if a.startswith("dynamodb:")}
    assert "dynamodb:Scan" not in dynamo and "dynamodb:DeleteTable" not in dynamo
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"} <= dynamo
    for action in dynamo:
        assert all("TaskStoreTable" in str(r) for r in granted[action]), action
    index_resources = [str(r) for r in granted["dynamodb:Query"] if "/index/" in str(r)]
    assert len(index_resources) == 2 and not any("/index/*" in r for r in index_resources)
    for action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"):
        assert [str(r) for r in granted[action]] == [
            str({"Fn::ImportValue": "dev-Stateful:ExportsOutputFnGetAttEncryptionKey3A692D6EArn94765F1F"})
        ]
    assert granted["events:PutEvents"] == [
        {"Fn::ImportValue": "dev-Handoff:ExportsOutputFnGetAttHandoffBusB231BF73ArnD1376914"}
    ]
    assert {a.split(":")[0] for a in granted} == {"bedrock-agentcore", "dynamodb", "kms", "events"}
    assert not any(a == "bedrock-agentcore:InvokeAgentRuntime" or a.startswith("bedrock:") for a in granted)


def test_jwt_environment_grants_no_iam_invoke(synthesized) -> None:
    granted = actions_on(kit_statements(synthesized, "prod", AGENT_POLICY))
    assert "bedrock-agentcore:InvokeAgentRuntime" not in granted


def test_application_log_groups_are_encrypted_with_retention(synthesized) -> None:
    template = synthesized.template("prod", "runtimes")
    template.resource_count_is("AWS::Logs::LogGroup", 2)
    template.all_resources_properties(
        "AWS::Logs::LogGroup",
        {
            "RetentionInDays": 365,
            "KmsKeyId": {"Fn::ImportValue": Match.string_like_regexp("EncryptionKey")},
            "LogGroupName": Match.object_like({"Fn::Join": Match.any_value()}),
        },
    )


def test_outputs_name_both_runtimes_the_memory_and_the_table(synthesized) -> None:
    outputs = synthesized.template_json("dev", "runtimes")["Outputs"]
    assert {"AgentRuntimeArn", "AgentInvokeUrl", "McpServerRuntimeArn", "McpServerInvokeUrl"} <= set(outputs)
    stateful_outputs = synthesized.template_json("dev", "stateful")["Outputs"]
    assert stateful_outputs["MemoryId"]["Value"] == {"Fn::GetAtt": ["AgentMemory1601EF79", "MemoryId"]}
    assert stateful_outputs["TaskTableName"]["Value"] == {"Ref": "TaskStoreTable7D7100B6"}
