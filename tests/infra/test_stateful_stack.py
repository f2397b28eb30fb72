"""Stateful stack: what holds data, how it is protected, and logical IDs that never move."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from stacks.config import load_environment
from stacks.constructs import kit_key, results_bucket, task_table

# Renaming any of these replaces (and, without RETAIN, deletes) the resource holding data.
PINNED_LOGICAL_IDS = {
    "EncryptionKey3A692D6E": "AWS::KMS::Key",
    "AgentMemoryServiceRole0B12E4A3": "AWS::IAM::Role",
    "AgentMemoryServiceRoleDefaultPolicy4A1061F6": "AWS::IAM::Policy",
    "AgentMemory1601EF79": "AWS::BedrockAgentCore::Memory",
    "TaskStoreTable7D7100B6": "AWS::DynamoDB::Table",
    "IdempotencyTable22A5A209": "AWS::DynamoDB::Table",
    "ResultsBucket46167C27": "AWS::S3::Bucket",
    "ResultsBucketPolicy9055CDCC": "AWS::S3::BucketPolicy",
    "ResultsAccessLogs10A17094": "AWS::S3::Bucket",
    "ResultsAccessLogsPolicy288E1A51": "AWS::S3::BucketPolicy",
}
RESULTS_BUCKET = "ResultsBucket46167C27"
ACCESS_LOGS = "ResultsAccessLogs10A17094"
DATA_RESOURCES = (
    "EncryptionKey3A692D6E",
    "AgentMemory1601EF79",
    "TaskStoreTable7D7100B6",
    "IdempotencyTable22A5A209",
    RESULTS_BUCKET,
    ACCESS_LOGS,
)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_stateful_logical_ids_are_pinned(synthesized, env: str) -> None:
    resources = synthesized.template_json(env, "stateful")["Resources"]
    found = {k: v["Type"] for k, v in resources.items() if v["Type"] != "AWS::CDK::Metadata"}
    assert found == PINNED_LOGICAL_IDS


def test_prod_retains_data_and_is_termination_protected(synthesized) -> None:
    stage = synthesized.stages["prod"]
    assert stage.stateful.termination_protection and stage.runtimes.termination_protection
    resources = synthesized.template_json("prod", "stateful")["Resources"]
    for logical_id in DATA_RESOURCES:
        assert resources[logical_id]["DeletionPolicy"] == "Retain", logical_id
        assert resources[logical_id]["UpdateReplacePolicy"] == "Retain", logical_id


def test_dev_destroys_data_and_is_not_protected(synthesized) -> None:
    assert not synthesized.stages["dev"].stateful.termination_protection
    resources = synthesized.template_json("dev", "stateful")["Resources"]
    for logical_id in DATA_RESOURCES:
        assert resources[logical_id]["DeletionPolicy"] == "Delete", logical_id


def test_key_rotates(synthesized) -> None:
    synthesized.template("dev", "stateful").has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def key_statements(synthesized, env: str) -> dict[str, dict]:
    key = synthesized.template_json(env, "stateful")["Resources"]["EncryptionKey3A692D6E"]
    return {statement["Sid"]: statement for statement in key["Properties"]["KeyPolicy"]["Statement"]}


def log_group_arn(name: str) -> dict:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":logs:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":log-group:{name}",
            ],
        ]
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_key_policy_lets_cloudwatch_logs_encrypt_this_environments_log_groups_only(synthesized, env: str) -> None:
    config = load_environment(env)
    statement = key_statements(synthesized, env)["AllowCloudWatchLogsForThisEnvironment"]
    assert statement["Principal"] == {
        "Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    }
    assert statement["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": [
                log_group_arn(f"/aws/bedrock-agentcore/runtimes/{config.agent.name}-*"),
                log_group_arn(f"/aws/bedrock-agentcore/runtimes/{config.mcp_server.name}-*"),
                log_group_arn(f"/agent-kit/{env}/*"),
                log_group_arn(f"/aws/vendedlogs/states/agent-kit/{env}/*"),
            ]
        }
    }
    assert sorted(statement["Action"]) == sorted(kit_key.LOGS_SERVICE_ACTIONS)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_encrypted_log_group_the_kit_creates_is_one_the_key_admits(synthesized, env: str) -> None:
    # A log group whose name falls outside the key policy's patterns cannot be created with the key.
    import fnmatch

    config = load_environment(env)
    patterns = [
        f"/aws/bedrock-agentcore/runtimes/{config.agent.name}-*",
        f"/aws/bedrock-agentcore/runtimes/{config.mcp_server.name}-*",
        f"/agent-kit/{env}/*",
        f"/aws/vendedlogs/states/agent-kit/{env}/*",
    ]
    names = []
    for stack in ("stateful", "handoff", "runtimes", "observability"):
        for group in synthesized.template(env, stack).find_resources("AWS::Logs::LogGroup").values():
            if "KmsKeyId" not in group["Properties"]:
                continue
            name = group["Properties"].get("LogGroupName")
            assert name is not None, f"{env}/{stack}: an encrypted log group without a name: {group}"
            # Runtime groups embed the runtime id (a token), which starts with the runtime's name.
            if isinstance(name, dict):
                runtime = json.dumps(name)
                named = config.agent.name if '"Agent' in runtime else config.mcp_server.name
                parts = name["Fn::Join"][1]
                name = "".join(p if isinstance(p, str) else f"{named}-AbCdEf1234" for p in parts)
            names.append(name)
    assert names, env
    outside = [n for n in names if not any(fnmatch.fnmatch(n, p) for p in patterns)]
    assert outside == [], outside


def test_key_policy_names_every_action_it_delegates(synthesized) -> None:
    for statement in key_statements(synthesized, "dev").values():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [a for a in actions if "*" in a], statement["Sid"]
    delegated = set(key_statements(synthesized, "dev")["DelegateToIamPoliciesInThisAccount"]["Action"])
    assert delegated == {*kit_key.KEY_ADMIN_ACTIONS, *kit_key.KEY_USE_ACTIONS}


def test_every_named_kms_action_exists() -> None:
    """Spelling: each action is in the IAM service authorization data cfn-lint ships for KMS."""
    import cfnlint

    policies = json.loads((Path(cfnlint.__file__).parent / "data/AdditionalSpecs/Policies.json").read_text())
    known = set(policies["kms"]["Actions"])
    named = {*kit_key.KEY_ADMIN_ACTIONS, *kit_key.KEY_USE_ACTIONS, *kit_key.LOGS_SERVICE_ACTIONS}
    named |= {a for actions in kit_key.NAMED_FOR_WILDCARD.values() for a in actions}
    assert sorted(a for a in named if a.removeprefix("kms:").lower() not in known) == []


def test_grants_on_the_kit_key_name_their_actions() -> None:
    assert kit_key.named_actions(["kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"]) == [
        "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="kms:Get\\*"):
        kit_key.named_actions(["kms:Get*"])


def test_memory_service_role_uses_the_key_by_named_actions(synthesized) -> None:
    policy = synthesized.template_json("dev", "stateful")["Resources"]["AgentMemoryServiceRoleDefaultPolicy4A1061F6"]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == [
        "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo",
    ]  # fmt: skip
    assert statement["Resource"] == {"Fn::GetAtt": ["EncryptionKey3A692D6E", "Arn"]}


@pytest.mark.parametrize(("env", "days"), [("dev", 30), ("prod", 90)])
def test_memory_expiry_name_and_key_come_from_config(synthesized, env: str, days: int) -> None:
    synthesized.template(env, "stateful").has_resource_properties(
        "AWS::BedrockAgentCore::Memory",
        {
            "Name": f"kit_{env}_memory",
            "EventExpiryDuration": days,
            "EncryptionKeyArn": {"Fn::GetAtt": ["EncryptionKey3A692D6E", "Arn"]},
        },
    )


def test_memory_expiry_below_the_l2_minimum_is_passed_through(tmp_path) -> None:
    """CloudFormation accepts 3 days although the L2 construct insists on 7."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from stacks.constructs.kit_key import KitKey
    from stacks.constructs.memory import AgentMemory

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "S")
    key = KitKey(
        stack, "K", removal_policy=cdk.RemovalPolicy.DESTROY, log_group_prefix="/agent-kit/t", runtime_names=()
    ).key
    AgentMemory(
        stack,
        "M",
        memory_name="m3",
        event_expiry_days=3,
        encryption_key=key,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    Template.from_stack(stack).has_resource_properties("AWS::BedrockAgentCore::Memory", {"EventExpiryDuration": 3})


STRATEGY_PROPERTIES = {
    "semantic": ("SemanticMemoryStrategy", "facts", "/facts/{actorId}"),
    "user_preference": ("UserPreferenceMemoryStrategy", "preferences", "/preferences/{actorId}"),
    "summary": ("SummaryMemoryStrategy", "summaries", "/summaries/{actorId}/{sessionId}"),
}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_long_term_strategies_come_from_config_each_in_per_actor_namespaces(synthesized, env: str) -> None:
    memory = synthesized.template_json(env, "stateful")["Resources"]["AgentMemory1601EF79"]["Properties"]
    rendered = []
    for strategy in memory.get("MemoryStrategies", []):
        ((key, body),) = strategy.items()
        # Built-in strategies without model overrides: nothing else to grant or configure.
        assert set(body) == {"Name", "Description", "Namespaces"}
        rendered.append((key, body["Name"], body["Namespaces"]))
    expected = [STRATEGY_PROPERTIES[kind] for kind in load_environment(env).memory.strategies]
    assert rendered == [(key, name, [namespace]) for key, name, namespace in expected]
    assert all(namespace.split("/")[2] == "{actorId}" for *_, namespace in expected)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_agent_retrieves_from_exactly_the_memorys_namespaces(synthesized, env: str) -> None:
    memory = synthesized.template_json(env, "stateful")["Resources"]["AgentMemory1601EF79"]["Properties"]
    namespaces = [n for s in memory.get("MemoryStrategies", []) for b in s.values() for n in b["Namespaces"]]
    agent = synthesized.template_json(env, "runtimes")["Resources"]["AgentRuntime23CE8C05"]["Properties"]
    variables = agent["EnvironmentVariables"]
    assert variables.get("LONG_TERM_NAMESPACES", "").split(",") == (namespaces or [""])
    assert variables["LONG_TERM_CONTEXT_CHARS"] == str(load_environment(env).agent.long_term_context_chars)


def test_the_memorys_role_gains_nothing_for_built_in_strategies(synthesized) -> None:
    """The service runs built-in extraction itself; only model overrides would need bedrock:InvokeModel."""
    policy = synthesized.template_json("prod", "stateful")["Resources"]["AgentMemoryServiceRoleDefaultPolicy4A1061F6"]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert all(action.startswith("kms:") for action in statement["Action"])


def test_a_strategy_is_chosen_once(tmp_path: Path) -> None:
    from stacks.config import ConfigError, load_file
    from tests.infra.test_config import DEV, write

    path = write(tmp_path, {**DEV, "memory": {**DEV["memory"], "strategies": ["semantic", "semantic"]}})
    with pytest.raises(ConfigError, match=r"memory\.strategies.*lists a strategy twice"):
        load_file(path)
    path = write(tmp_path, {**DEV, "memory": {**DEV["memory"], "strategies": ["episodic"]}})
    with pytest.raises(ConfigError, match=r"memory\.strategies"):
        load_file(path)


def test_task_table_schema(synthesized) -> None:
    synthesized.template("dev", "stateful").has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": task_table.PARTITION_KEY, "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {
                "SSEEnabled": True,
                "SSEType": "KMS",
                "KMSMasterKeyId": {"Fn::GetAtt": ["EncryptionKey3A692D6E", "Arn"]},
            },
            "TimeToLiveSpecification": {"AttributeName": task_table.TTL_ATTRIBUTE, "Enabled": True},
            # Keys only: renewals and progress reports change no key, so no index write. The follow
            # index is sparse: only tasks a reader elsewhere began to follow; extending one writes no key.
            "GlobalSecondaryIndexes": Match.array_with(
                [
                    Match.object_like(
                        {
                            "IndexName": name,
                            "KeySchema": [
                                {"AttributeName": partition_key, "KeyType": "HASH"},
                                {"AttributeName": sort_key, "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                        }
                    )
                    for name, partition_key, sort_key in (
                        (task_table.OWNER_INDEX, task_table.OWNER_INDEX_PARTITION_KEY, task_table.OWNER_INDEX_SORT_KEY),
                        (task_table.SWEEP_INDEX, task_table.SWEEP_INDEX_PARTITION_KEY, task_table.SWEEP_INDEX_SORT_KEY),
                        (
                            task_table.FOLLOW_INDEX,
                            task_table.FOLLOW_INDEX_PARTITION_KEY,
                            task_table.FOLLOW_INDEX_SORT_KEY,
                        ),
                    )
                ]
            ),
        },
    )


def test_idempotency_table_uses_powertools_attribute_names(synthesized) -> None:
    synthesized.template("dev", "stateful").has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
            "SSESpecification": Match.object_like({"SSEType": "KMS"}),
        },
    )


def bucket(synthesized, env: str, logical_id: str) -> dict:
    return synthesized.template_json(env, "stateful")["Resources"][logical_id]["Properties"]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_results_bucket_is_private_and_encrypted_with_the_kit_key(synthesized, env: str) -> None:
    props = bucket(synthesized, env, RESULTS_BUCKET)
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "KMSMasterKeyID": {"Fn::GetAtt": ["EncryptionKey3A692D6E", "Arn"]},
                "SSEAlgorithm": "aws:kms",
            },
        }
    ]
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": ACCESS_LOGS},
        "LogFilePrefix": results_bucket.ACCESS_LOGS_PREFIX,
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_results_expire_after_the_configured_days(synthesized, env: str) -> None:
    (rule,) = bucket(synthesized, env, RESULTS_BUCKET)["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == load_environment(env).results.expire_days == 8
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rule["Status"] == "Enabled" and "Prefix" not in rule


@pytest.mark.parametrize("logical_id", [RESULTS_BUCKET, ACCESS_LOGS])
def test_both_buckets_refuse_requests_without_tls_1_2(synthesized, logical_id: str) -> None:
    resources = synthesized.template_json("dev", "stateful")["Resources"]
    (policy,) = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": logical_id}
    ]
    denies = [s["Condition"] for s in policy if s["Effect"] == "Deny" and s["Action"] == "s3:*"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in denies
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in denies


def test_access_logs_are_delivered_by_bucket_policy_from_the_results_bucket_only(synthesized) -> None:
    """Not by the LogDeliveryWrite ACL: the log bucket keeps ACLs disabled (owner enforced)."""
    props = bucket(synthesized, "prod", ACCESS_LOGS)
    assert "AccessControl" not in props
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    # S3 server access logging cannot deliver to an SSE-KMS bucket.
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert (
        props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == load_environment("prod").log_retention_days
    )
    resources = synthesized.template_json("prod", "stateful")["Resources"]
    statements = resources["ResultsAccessLogsPolicy288E1A51"]["Properties"]["PolicyDocument"]["Statement"]
    (delivery,) = [s for s in statements if s["Effect"] == "Allow"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Condition"]["ArnLike"] == {"aws:SourceArn": {"Fn::GetAtt": [RESULTS_BUCKET, "Arn"]}}


def test_both_bucket_names_are_outputs(synthesized) -> None:
    outputs = synthesized.template_json("dev", "stateful")["Outputs"]
    assert outputs["ResultsBucketName"]["Value"] == {"Ref": RESULTS_BUCKET}
    assert outputs["ResultsAccessLogsBucketName"]["Value"] == {"Ref": ACCESS_LOGS}
