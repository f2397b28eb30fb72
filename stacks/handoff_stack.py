"""The handoff: event bus, rule, dead-letter queue and the exactly-once workflow."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.handoff import Handoff
from stacks.constructs.memory import AgentMemory
from stacks.kit_stack import KitStack
from stacks.retention import retention


class HandoffStack(KitStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        memory: AgentMemory,
        idempotency_table: dynamodb.ITable,
        encryption_key: kms.IKey,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, config=config, purpose="EventBridge to Step Functions handoff", **kwargs)
        self.handoff = Handoff(
            self,
            "Handoff",
            env_name=config.name,
            memory=memory,
            idempotency_table=idempotency_table,
            encryption_key=encryption_key,
            approval_required=config.approval_required,
            approval_timeout=Duration.hours(config.approval_timeout_hours),
            approval_allow_self=config.approval_allow_self,
            log_retention=retention(config.log_retention_days),
            log_group_prefix=config.log_group_prefix,
            removal_policy=self.removal_policy,
        )
