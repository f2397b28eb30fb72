"""The customer-managed KMS key every stateful resource, queue and log group uses."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

KEY_ADMIN_ACTIONS = (
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
    "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
)  # fmt: skip
KEY_USE_ACTIONS = (
    "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
    "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext", "kms:RetireGrant",
)  # fmt: skip


class KitKey(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        # Replaces CDK's default "account root may kms:*" statement with the same
        # delegation to IAM, every action named, so no policy in the kit holds kms:*.
        account_delegation = iam.PolicyStatement(
            sid="DelegateToIamPoliciesInThisAccount",
            principals=[iam.AccountRootPrincipal()],
            actions=[*KEY_ADMIN_ACTIONS, *KEY_USE_ACTIONS],
            resources=["*"],  # in a key policy "*" means this key
        )
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the agent kit's memory, tables, queues and log groups",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            policy=iam.PolicyDocument(statements=[account_delegation]),
        )
        # CloudWatch Logs encrypts a log group only if the key policy lets the regional
        # logs service use the key for log groups in this account.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsInThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],  # in a key policy "*" means this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )
        # Services that encrypt on the kit's behalf in this account: EventBridge writes
        # undeliverable handoff events to the dead-letter queue, CloudWatch alarms publish to
        # the alarm topic.
        for sid, service in (
            ("AllowEventBridgeToWriteEncryptedDeadLetters", "events.amazonaws.com"),
            ("AllowCloudWatchAlarmsToPublishEncrypted", "cloudwatch.amazonaws.com"),
        ):
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=["*"],  # in a key policy "*" means this key
                    conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
                )
            )
