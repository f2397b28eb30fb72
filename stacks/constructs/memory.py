"""AgentCore Memory holding conversations and finished task results, and the long-term records
its strategies extract from them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class LongTermStrategy:
    factory: Callable[..., agentcore.ManagedMemoryStrategy]
    name: str
    # Every namespace starts with the actor, so a retrieval for one actor names only its records
    # (the agent checks each record's namespace against it too).
    namespace: str
    description: str


# The built-in strategies an environment may choose (memory.strategies), each in a namespace that
# starts with the actor (the L2's own built-ins use /strategies/{memoryStrategyId}/actors/{actorId}:
# docs/design.md says why the kit does not).
STRATEGIES = {
    "semantic": LongTermStrategy(
        agentcore.MemoryStrategy.using_semantic,
        "facts",
        "/facts/{actorId}",
        "Facts about the user and their work, from conversations and task results",
    ),
    "user_preference": LongTermStrategy(
        agentcore.MemoryStrategy.using_user_preference,
        "preferences",
        "/preferences/{actorId}",
        "The user's stated and observed preferences",
    ),
    "summary": LongTermStrategy(
        agentcore.MemoryStrategy.using_summarization,
        "summaries",
        "/summaries/{actorId}/{sessionId}",
        "A running summary of each conversation",
    ),
}


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
        strategies: Sequence[str] = (),
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
        # Built-in strategies without model overrides: the service runs the extraction, and the
        # L2 grants the memory's role nothing more for them (ManagedMemoryStrategy.grant).
        for kind in strategies:
            strategy = STRATEGIES[kind]
            self.memory.add_memory_strategy(
                strategy.factory(
                    strategy_name=strategy.name, description=strategy.description, namespaces=[strategy.namespace]
                )
            )
        # What the agent retrieves from, in the order it gives them room in its context.
        self.long_term_namespaces = [STRATEGIES[kind].namespace for kind in strategies]

    def grant_read_events(self, grantee: iam.IGrantable) -> iam.Grant:
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(READ_ACTIONS), resource_arns=[self.memory.memory_arn]
        )

    def grant_write_events(self, grantee: iam.IGrantable) -> iam.Grant:
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(WRITE_ACTIONS), resource_arns=[self.memory.memory_arn]
        )
