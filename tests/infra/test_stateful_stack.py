"""Stateful stack: what holds data, how it is protected, and logical IDs that never move."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from stacks.constructs import task_table

# Renaming any of these replaces (and, without RETAIN, deletes) the resource holding data.
PINNED_LOGICAL_IDS = {
    "EncryptionKey3A692D6E": "AWS::KMS::Key",
    "AgentMemoryServiceRole0B12E4A3": "AWS::IAM::Role",
    "AgentMemoryServiceRoleDefaultPolicy4A1061F6": "AWS::IAM::Policy",
    "AgentMemory1601EF79": "AWS::BedrockAgentCore::Memory",
    "TaskStoreTable7D7100B6": "AWS::DynamoDB::Table",
    "IdempotencyTable22A5A209": "AWS::DynamoDB::Table",
}
DATA_RESOURCES = (
    "EncryptionKey3A692D6E",
    "AgentMemory1601EF79",
    "TaskStoreTable7D7100B6",
    "IdempotencyTable22A5A209",
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


def test_key_policy_lets_cloudwatch_logs_encrypt_this_accounts_log_groups(synthesized) -> None:
    synthesized.template("dev", "stateful").has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "AllowCloudWatchLogsInThisAccount",
                                "Principal": {
                                    "Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
                                },
                                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": Match.any_value()}},
                            }
                        )
                    ]
                )
            }
        },
    )


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
    key = KitKey(stack, "K", removal_policy=cdk.RemovalPolicy.DESTROY).key
    AgentMemory(
        stack,
        "M",
        memory_name="m3",
        event_expiry_days=3,
        encryption_key=key,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    Template.from_stack(stack).has_resource_properties("AWS::BedrockAgentCore::Memory", {"EventExpiryDuration": 3})


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
            "GlobalSecondaryIndexes": Match.array_with(
                [
                    Match.object_like(
                        {
                            "IndexName": task_table.OWNER_INDEX,
                            "KeySchema": [
                                {"AttributeName": task_table.OWNER_INDEX_PARTITION_KEY, "KeyType": "HASH"},
                                {"AttributeName": task_table.OWNER_INDEX_SORT_KEY, "KeyType": "RANGE"},
                            ],
                        }
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
