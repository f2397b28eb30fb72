"""Runtime stack: both runtimes as configured, and each IAM grant the agents rely on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Match, Template

from app import build
from kit_contracts.context import AUTHORIZATION_HEADER, CONTEXT_HEADERS
from stacks.config import CONFIG_DIR, load_environment
from tests.infra.conftest import make_app

AGENT = "AgentRuntime23CE8C05"
MCP = "McpServerRuntime59F17E8D"
AGENT_ROLE = "AgentExecutionRoleA67A0453"
MCP_ROLE = "McpServerExecutionRole2502E43E"
AGENT_POLICY = "AgentExecutionRoleDefaultPolicyC6FA4EDA"
MCP_POLICY = "McpServerExecutionRoleDefaultPolicy28C6C2FA"
INVOKE = "bedrock-agentcore:InvokeAgentRuntime"
INVOKE_FOR_USER = "bedrock-agentcore:InvokeAgentRuntimeForUser"
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


def test_under_jwt_the_mcp_server_also_receives_the_callers_token(synthesized) -> None:
    props = runtime_props(synthesized, "prod", MCP)
    assert props["RequestHeaderConfiguration"]["RequestHeaderAllowlist"] == [*CONTEXT_HEADERS, AUTHORIZATION_HEADER]


def test_mcp_server_takes_the_actor_from_the_runtime_user_id_under_iam(synthesized) -> None:
    env = runtime_props(synthesized, "dev", MCP)["EnvironmentVariables"]
    assert env["CALLER_IDENTITY"] == "runtime-user-id"
    assert "ACTOR_ID_CLAIM" not in env
    assert "ACTOR_ID_CLAIM" not in runtime_props(synthesized, "dev", AGENT)["EnvironmentVariables"]


def test_mcp_server_and_agent_read_the_same_claim_under_jwt(synthesized) -> None:
    claim = load_environment("prod").auth.actor_id_claim  # type: ignore[union-attr]
    mcp_env = runtime_props(synthesized, "prod", MCP)["EnvironmentVariables"]
    assert mcp_env["CALLER_IDENTITY"] == "jwt"
    assert mcp_env["ACTOR_ID_CLAIM"] == claim
    assert runtime_props(synthesized, "prod", AGENT)["EnvironmentVariables"]["ACTOR_ID_CLAIM"] == claim


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_quotas_and_agent_limits_come_from_config(synthesized, env: str) -> None:
    config = load_environment(env)
    mcp_env = runtime_props(synthesized, env, MCP)["EnvironmentVariables"]
    assert mcp_env["QUOTA_RUNNING_TASKS"] == str(config.quotas.running_tasks)
    assert mcp_env["QUOTA_TASKS_PER_MINUTE"] == str(config.quotas.tasks_per_minute)
    assert mcp_env["QUOTA_RESULT_BYTES_PER_DAY"] == str(config.quotas.result_bytes_per_day)
    agent_env = runtime_props(synthesized, env, AGENT)["EnvironmentVariables"]
    assert agent_env["RESULTS_CONTEXT_CHARS"] == str(config.agent.results_context_chars)
    assert agent_env["MAX_REQUEST_BYTES"] == str(config.agent.max_request_bytes)


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
    # Through the MCP runtime's named endpoint, never DEFAULT (the newest version, promoted or not).
    assert MCP in str(agent_env["MCP_RUNTIME_URL"]) and str(agent_env["MCP_RUNTIME_URL"]).endswith(
        "/invocations?qualifier=live']]}"
    )
    assert "AgentMemory" in str(agent_env["MEMORY_ID"])


def test_agent_may_invoke_only_the_mcp_runtime_and_name_the_user(synthesized) -> None:
    granted = actions_on(kit_statements(synthesized, "dev", AGENT_POLICY))
    mcp_arn = {"Fn::GetAtt": [MCP, "AgentRuntimeArn"]}
    for action in (INVOKE, INVOKE_FOR_USER):
        assert granted[action] == [mcp_arn, {"Fn::Join": ["", [mcp_arn, "/*"]]}], action


def test_no_other_principal_may_invoke_for_a_user(synthesized) -> None:
    """The runtime user id is the actor under IAM auth: only the agent's role may set it."""
    holders = set()
    for path in synthesized.template_files():
        for logical_id, resource in json.loads(path.read_text())["Resources"].items():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role"):
                continue
            text = json.dumps(resource["Properties"])
            if "InvokeAgentRuntimeForUser" in text or "bedrock-agentcore:Invoke*" in text:
                holders.add((path.parent.name.removeprefix("assembly-"), logical_id))
    iam_envs = [env for env in ("dev", "staging", "prod") if load_environment(env).auth.mode == "iam"]
    assert iam_envs
    assert holders == {(env, AGENT_POLICY) for env in iam_envs}


def test_agent_reads_and_writes_memory_including_get_memory(synthesized) -> None:
    granted = actions_on(kit_statements(synthesized, "dev", AGENT_POLICY))
    memory_actions = {a for a in granted if a.startswith("bedrock-agentcore:") and a not in (INVOKE, INVOKE_FOR_USER)}
    assert memory_actions == {
        "bedrock-agentcore:GetMemory", "bedrock-agentcore:GetEvent", "bedrock-agentcore:ListEvents",
        "bedrock-agentcore:ListSessions", "bedrock-agentcore:ListActors", "bedrock-agentcore:RetrieveMemoryRecords",
        "bedrock-agentcore:ListMemoryRecords", "bedrock-agentcore:GetMemoryRecord", "bedrock-agentcore:CreateEvent",
    }  # fmt: skip
    for action in memory_actions:
        assert all("MemoryArn" in str(resource) for resource in granted[action]), action


def test_agent_invokes_only_the_configured_models_in_their_regions(synthesized) -> None:
    for env in ("dev", "staging", "prod"):
        config = load_environment(env)
        granted = actions_on(kit_statements(synthesized, env, AGENT_POLICY))
        invoke = sorted(json.dumps(r) for r in granted["bedrock:InvokeModel"])
        assert invoke == sorted(json.dumps(r) for r in granted["bedrock:InvokeModelWithResponseStream"])
        assert not any(":bedrock:*:" in r for r in invoke), "no profile here routes to any region"
        for model_id in config.model_ids:
            regions = config.model_regions_for(model_id)
            assert regions, model_id
            model = model_id.split(".", 1)[1]
            assert sum(f"inference-profile/{model_id}" in r for r in invoke) == 1
            on_model = [r for r in invoke if r.endswith(f'::foundation-model/{model}"]]}}')]
            # the stack's own Region (the profile's source) and each Region it routes to
            assert len(on_model) == 1 + len(regions), model_id
            assert sum('{"Ref": "AWS::Region"}' in r for r in on_model) == 1
            for region in regions:
                assert sum(f":bedrock:{region}::" in r for r in on_model) == 1, region


def test_a_global_profile_may_route_anywhere_and_says_so(tmp_path: Path) -> None:
    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
    data["model_ids"] = ["global.anthropic.claude-sonnet-4-5-20250929-v1:0"]
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    app = make_app(tmp_path / "out", env="dev", config_dir=str(tmp_path))
    (stage,) = build(app)
    app.synth()  # the "*" Region is acknowledged on the policy, so cdk-nag passes
    policy = Template.from_stack(stage.runtimes).to_json()["Resources"][AGENT_POLICY]
    assert ":bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0" in json.dumps(policy)


def test_runtime_roles_reach_only_their_own_runtimes_logs_and_workload_identity(synthesized) -> None:
    for env in ("dev", "prod"):
        config = load_environment(env)
        resources = synthesized.template_json(env, "runtimes")["Resources"]
        for role, policy, name in (
            (AGENT_ROLE, AGENT_POLICY, config.agent.name),
            (MCP_ROLE, MCP_POLICY, config.mcp_server.name),
        ):
            document = json.dumps(resources[policy]["Properties"]["PolicyDocument"])
            assert "/runtimes/*" not in document and "workload-identity/*" not in document
            assert f"log-group:/aws/bedrock-agentcore/runtimes/{name}-*" in document
            assert f"log-group:/aws/bedrock-agentcore/runtimes/{name}-*:log-stream:*" in document
            assert f"workload-identity-directory/default/workload-identity/{name}-*" in document
            trust = json.dumps(resources[role]["Properties"]["AssumeRolePolicyDocument"])
            assert f":runtime/{name}-*" in trust
            assert resources[role]["Properties"]["MaxSessionDuration"] == 8 * 3600


def test_runtime_roles_keep_the_platforms_image_pull_traces_and_metrics(synthesized) -> None:
    doc = synthesized.template_json("dev", "runtimes")["Resources"][AGENT_POLICY]["Properties"]["PolicyDocument"]
    granted = actions_on(doc["Statement"])
    assert {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:GetAuthorizationToken"} <= set(granted)
    assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= set(granted)
    (metrics,) = [s for s in doc["Statement"] if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "bedrock-agentcore"}}


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
    assert len(index_resources) == 3 and not any("/index/*" in r for r in index_resources)
    assert {r.rsplit("/index/", 1)[1].split("'")[0] for r in index_resources} == {
        "by_owner_keys",
        "by_sweep",
        "by_follower",
    }
    kit_key = {"Fn::ImportValue": "dev-Stateful:ExportsOutputFnGetAttEncryptionKey3A692D6EArn94765F1F"}
    for action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"):
        assert granted[action] and all(r == kit_key for r in granted[action]), action
    assert granted["events:PutEvents"] == [
        {"Fn::ImportValue": "dev-Handoff:ExportsOutputFnGetAttHandoffBusB231BF73ArnD1376914"}
    ]
    assert {a.split(":")[0] for a in granted} == {
        "bedrock-agentcore",
        "dynamodb",
        "kms",
        "events",
        "s3",
        "secretsmanager",
    }
    # The requestState key: its own secret only, decrypted through Secrets Manager for that secret only.
    [secret] = granted["secretsmanager:GetSecretValue"]
    assert "RequestStateKey" in json.dumps(secret)
    assert not any(a == "bedrock-agentcore:InvokeAgentRuntime" or a.startswith("bedrock:") for a in granted)


def test_jwt_environment_grants_no_iam_invoke(synthesized) -> None:
    granted = actions_on(kit_statements(synthesized, "prod", AGENT_POLICY))
    assert INVOKE not in granted and INVOKE_FOR_USER not in granted


def test_log_groups_are_encrypted_with_retention(synthesized) -> None:
    template = synthesized.template("prod", "runtimes")
    groups = [g["Properties"] for g in template.find_resources("AWS::Logs::LogGroup").values()]
    template.all_resources_properties(
        "AWS::Logs::LogGroup",
        {"RetentionInDays": 365, "KmsKeyId": {"Fn::ImportValue": Match.string_like_regexp("EncryptionKey")}},
    )
    # Each runtime's application groups (named after its id): DEFAULT's, and prod's manual
    # promotion's two endpoints (live and live_candidate); and the sweeper's own.
    assert sum(isinstance(g["LogGroupName"], dict) and "Fn::Join" in g["LogGroupName"] for g in groups) == 6
    assert [g["LogGroupName"] for g in groups if isinstance(g["LogGroupName"], str)] == ["/agent-kit/prod/sweeper"]


def mcp_kms_statements(synthesized, env: str, via: str) -> list[dict[str, Any]]:
    return [
        s
        for s in kit_statements(synthesized, env, MCP_POLICY)
        if via in json.dumps(s.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService"))
    ]


RESULTS_ARN = {"Fn::ImportValue": "dev-Stateful:ExportsOutputFnGetAttResultsBucket46167C27ArnE43BA8FC"}


def test_mcp_server_writes_and_reads_results_under_the_prefix_only(synthesized) -> None:
    granted = actions_on(kit_statements(synthesized, "dev", MCP_POLICY))
    s3_actions = {a for a in granted if a.startswith("s3:")}
    assert s3_actions == {"s3:PutObject", "s3:GetObject"}
    for action in s3_actions:
        assert granted[action] == [{"Fn::Join": ["", [RESULTS_ARN, "/results/*"]]}], action
    # The kit key through S3, for this bucket only; nothing S3 does not ask for.
    (statement,) = mcp_kms_statements(synthesized, "dev", "s3.")
    assert sorted(_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"]["StringEquals"]["kms:EncryptionContext:aws:s3:arn"] == RESULTS_ARN
    assert "EncryptionKey" in json.dumps(statement["Resource"])


def test_the_agent_gets_nothing_of_the_results_bucket(synthesized) -> None:
    for env in ("dev", "prod"):
        resources = synthesized.template_json(env, "runtimes")["Resources"]
        assert "ResultsBucket" not in json.dumps(resources[AGENT_POLICY])
        assert "ResultsBucket" not in json.dumps(resources[AGENT]["Properties"]["EnvironmentVariables"])


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_mcp_server_knows_its_results_bucket_and_its_lifetime(synthesized, env: str) -> None:
    mcp_env = runtime_props(synthesized, env, MCP)["EnvironmentVariables"]
    assert mcp_env["RESULTS_BUCKET"] == {
        "Fn::ImportValue": f"{env}-Stateful:ExportsOutputRefResultsBucket46167C27D2BDFE4C"
    }
    assert mcp_env["RUNTIME_MAX_LIFETIME_SECONDS"] == str(load_environment(env).mcp_server.max_lifetime_seconds)


def test_the_lifetime_follows_the_configured_max_lifetime(tmp_path: Path) -> None:
    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
    data["mcp_server"].update(idle_timeout_seconds=900, max_lifetime_seconds=7200)
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    (stage,) = build(make_app(tmp_path / "out", env="dev", config_dir=str(tmp_path)))
    props = Template.from_stack(stage.runtimes).to_json()["Resources"][MCP]["Properties"]
    assert props["EnvironmentVariables"]["RUNTIME_MAX_LIFETIME_SECONDS"] == "7200"
    assert props["LifecycleConfiguration"]["MaxLifetime"] == 7200


def test_outputs_name_both_runtimes_the_memory_and_the_table(synthesized) -> None:
    outputs = synthesized.template_json("dev", "runtimes")["Outputs"]
    assert {"AgentRuntimeArn", "AgentInvokeUrl", "McpServerRuntimeArn", "McpServerInvokeUrl"} <= set(outputs)
    stateful_outputs = synthesized.template_json("dev", "stateful")["Outputs"]
    assert stateful_outputs["MemoryId"]["Value"] == {"Fn::GetAtt": ["AgentMemory1601EF79", "MemoryId"]}
    assert stateful_outputs["TaskTableName"]["Value"] == {"Ref": "TaskStoreTable7D7100B6"}


def test_synth_fails_if_the_l2_stops_adding_the_statements_the_role_scopes() -> None:
    """If a new aws-cdk-lib renamed them, the wide grants would pass through unnoticed."""
    import aws_cdk as cdk

    from stacks.constructs.runtime_role import RuntimeExecutionRole

    role = RuntimeExecutionRole(cdk.Stack(cdk.App(), "S"), "Role", runtime_name="kit_x")
    with pytest.raises(RuntimeError, match="no longer adds statements"):
        role.check_scoped()
