"""AgentCore Memory holding conversations and finished task results."""

from __future__ import annotations

from aws_cdk import CfnResource, Duration, RemovalPolicy
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# The L2 rejects expiry below 7 days although CloudFormation accepts 3..365;
# the kit validates 3..365 itself and sets the CloudFormation property directly.
_L2_MIN_EXPIRY_DAYS = 7

# Reads the Strands session manager makes; the L2 grant_read lacks GetMemory.
READ_ACTIONS = (
    "bedrock-agentcore:GetMemory",
    "bedrock-agentcore:GetEvent",
    "bedrock-agentcore:ListEvents",
    "bedrock-agentcore:ListSessions",
    "bedrock-agentcore:ListActors",
    "bedrock-agentcore:RetrieveMemoryRecords",
    "bedrock-agentcore:ListMemoryRecords",
    "bedrock-agentcore:GetMemoryRecord",
)
WRITE_ACTIONS = ("bedrock-agentcore:CreateEvent",)


class AgentMemory(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        memory_name: str,
        event_expiry_days: int,
        encryption_key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.memory = agentcore.Memory(
            self,
            "Memory",
            memory_name=memory_name,
            description="Conversations and long-running task results",
            expiration_duration=Duration.days(max(event_expiry_days, _L2_MIN_EXPIRY_DAYS)),
            kms_key=encryption_key,
        )
        # The L2 names its CfnMemory child "Memory", so node.default_child is None.
        cfn = self.memory.node.find_child("Memory")
        assert isinstance(cfn, CfnResource)
        cfn.add_property_override("EventExpiryDuration", event_expiry_days)
        cfn.apply_removal_policy(removal_policy)

    def grant_read_events(self, grantee: iam.IGrantable) -> iam.Grant:
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(READ_ACTIONS), resource_arns=[self.memory.memory_arn]
        )

    def grant_write_events(self, grantee: iam.IGrantable) -> iam.Grant:
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(WRITE_ACTIONS), resource_arns=[self.memory.memory_arn]
        )
