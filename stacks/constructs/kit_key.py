"""The customer-managed KMS key every stateful resource, queue and log group uses."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.constructs.runtime_role import runtime_log_group_pattern

# What administering this key takes, every action named (KMS operations in botocore's kms
# 2014-11-01 model that act on a key): the CDK default's prefix wildcards (kms:Create*, Get*,
# Put*, ...) expanded to the operations a symmetric, single-Region, AWS-generated key has.
# Left out on purpose: imported key material (ImportKeyMaterial, GetParametersForImport,
# DeleteImportedKeyMaterial), multi-Region keys (ReplicateKey, UpdatePrimaryRegion),
# asymmetric and HMAC keys (Sign, Verify, GetPublicKey, GenerateMac, VerifyMac,
# DeriveSharedSecret, Encapsulate, Decapsulate) and account-level calls that name no key
# (CreateKey, ListKeys, ListAliases, GenerateRandom, custom key stores).
KEY_ADMIN_ACTIONS = (
    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:ListKeyPolicies",
    "kms:EnableKey", "kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
    "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:GetKeyRotationStatus",
    "kms:RotateKeyOnDemand", "kms:ListKeyRotations", "kms:UpdateKeyDescription",
    "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias",
    "kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant",
    "kms:TagResource", "kms:UntagResource", "kms:ListResourceTags",
)  # fmt: skip
KEY_USE_ACTIONS = (
    "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
    "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext", "kms:RetireGrant",
)  # fmt: skip
# What CloudWatch Logs does with the key for an encrypted log group: the AWS-documented
# "Encrypt*, Decrypt*, ReEncrypt*, GenerateDataKey*, Describe*" named for a symmetric key.
LOGS_SERVICE_ACTIONS = (
    "kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
    "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey",
)  # fmt: skip


# The prefix wildcards CDK's key grants ask for (kms.Key.grant_encrypt*, and the Memory L2's
# grant to its service role), and the named actions they stand for on a symmetric key. Data-key
# pairs (GenerateDataKeyPair*) are left out: no service the kit uses asks for them.
NAMED_FOR_WILDCARD = {
    "kms:ReEncrypt*": ("kms:ReEncryptFrom", "kms:ReEncryptTo"),
    "kms:GenerateDataKey*": ("kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"),
}
ENCRYPT_ACTIONS = ("kms:Encrypt", *NAMED_FOR_WILDCARD["kms:ReEncrypt*"], *NAMED_FOR_WILDCARD["kms:GenerateDataKey*"])


def named_actions(actions: Sequence[str]) -> list[str]:
    """`actions` with every prefix wildcard replaced by the actions it stands for."""
    named: list[str] = []
    for action in actions:
        if action in NAMED_FOR_WILDCARD:
            named.extend(NAMED_FOR_WILDCARD[action])
        elif "*" in action:
            raise ValueError(f"a grant on the kit key asks for {action!r}: name its actions in NAMED_FOR_WILDCARD")
        else:
            named.append(action)
    return list(dict.fromkeys(named))


# Where vended log groups (Step Functions) are named, under the environment's prefix.
VENDED_LOGS_PREFIX = "/aws/vendedlogs/states"


class NamedActionsKey(kms.Key):
    """A key whose grants name every action, whoever asks: L2s that grant on a key they are
    given (AgentCore Memory, CodeBuild) ask for kms:ReEncrypt* and kms:GenerateDataKey*."""

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        return super().grant(grantee, *named_actions(actions))

    def grant_encrypt(self, grantee: iam.IGrantable) -> iam.Grant:
        return self.grant(grantee, *ENCRYPT_ACTIONS)

    def grant_encrypt_decrypt(self, grantee: iam.IGrantable) -> iam.Grant:
        return self.grant(grantee, "kms:Decrypt", *ENCRYPT_ACTIONS)


class KitKey(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: RemovalPolicy,
        log_group_prefix: str,
        runtime_names: Sequence[str],
    ) -> None:
        """`log_group_prefix` and `runtime_names` say which log groups CloudWatch Logs may
        encrypt with the key: names under the prefix, and the runtimes' own application groups."""
        super().__init__(scope, construct_id)
        # Replaces CDK's default "account root may kms:*" statement with the same
        # delegation to IAM, every action named, so no policy in the kit holds kms:*.
        account_delegation = iam.PolicyStatement(
            sid="DelegateToIamPoliciesInThisAccount",
            principals=[iam.AccountRootPrincipal()],
            actions=[*KEY_ADMIN_ACTIONS, *KEY_USE_ACTIONS],
            resources=["*"],  # in a key policy "*" means this key
        )
        self.key = NamedActionsKey(
            self,
            "Key",
            description="Encrypts the agent kit's memory, tables, queues and log groups",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            policy=iam.PolicyDocument(statements=[account_delegation]),
        )
        # CloudWatch Logs encrypts a log group only if the key policy lets the regional logs
        # service use the key, with the log group's ARN as encryption context. Only this
        # environment's groups may: the runtimes' (named by the platform after each runtime)
        # and the kit's own, all named under log_group_prefix. Names, not references: the log
        # groups live in later stacks, and a reference back would be a cycle.
        log_group = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
        self.log_group_patterns = [
            *(log_group + runtime_log_group_pattern(name) for name in runtime_names),
            f"{log_group}{log_group_prefix}/*",
            # Step Functions delivers its logs as vended logs: under this prefix CloudWatch Logs
            # needs no resource policy per group (whose size is capped per account and region).
            f"{log_group}{VENDED_LOGS_PREFIX}{log_group_prefix}/*",
        ]
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsForThisEnvironment",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=list(LOGS_SERVICE_ACTIONS),
                resources=["*"],  # in a key policy "*" means this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": self.log_group_patterns}},
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
