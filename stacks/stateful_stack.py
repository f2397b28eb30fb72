"""Resources that hold data. Their logical IDs are pinned by tests/infra/test_stateful_stack.py."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.kit_key import KitKey
from stacks.constructs.memory import AgentMemory
from stacks.constructs.results_bucket import ResultsBucket
from stacks.constructs.task_table import TaskTable
from stacks.kit_stack import KitStack

# Powertools idempotency's default attribute names.
IDEMPOTENCY_KEY = "id"
IDEMPOTENCY_TTL = "expiration"


class StatefulStack(KitStack):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, config=config, purpose="key, memory, tables and results bucket", **kwargs)
        removal = self.removal_policy
        self.key = KitKey(
            self,
            "Encryption",
            removal_policy=removal,
            log_group_prefix=config.log_group_prefix,
            runtime_names=(config.agent.name, config.mcp_server.name),
        ).key
        self.memory = AgentMemory(
            self,
            "AgentMemory",
            memory_name=config.memory.name,
            event_expiry_days=config.memory.event_expiry_days,
            encryption_key=self.key,
            removal_policy=removal,
            strategies=config.memory.strategies,
        )
        self.task_table = TaskTable(self, "TaskStore", encryption_key=self.key, removal_policy=removal)
        # Exactly-once bookkeeping for the handoff workflow's irreversible steps.
        self.idempotency_table = dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name=IDEMPOTENCY_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=IDEMPOTENCY_TTL,
            removal_policy=removal,
        )
        self.results = ResultsBucket(
            self,
            "Results",
            encryption_key=self.key,
            expire_days=config.results.expire_days,
            access_log_days=config.log_retention_days,
            removal_policy=removal,
        )
        CfnOutput(self, "MemoryId", value=self.memory.memory.memory_id)
        CfnOutput(self, "TaskTableName", value=self.task_table.table.table_name)
        CfnOutput(self, "IdempotencyTableName", value=self.idempotency_table.table_name)
        CfnOutput(self, "ResultsBucketName", value=self.results.bucket.bucket_name)
        CfnOutput(self, "ResultsAccessLogsBucketName", value=self.results.access_logs.bucket_name)
