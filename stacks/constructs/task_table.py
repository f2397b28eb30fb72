"""DynamoDB table behind the MCP server's durable task store.

The key schema below is the contract with ``runtime_images/mcp_server``'s DynamoDB
store; its tests synthesize this construct and read the schema from the template
rather than restating it.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.constructs.grants import grant_table_items

PARTITION_KEY = "task_id"
OWNER_INDEX = "by_owner"
OWNER_INDEX_PARTITION_KEY = "owner"
OWNER_INDEX_SORT_KEY = "created_at"
LEASE_INDEX = "by_lease"
# Sparse index: only items with pending work carry ``lease_state`` (running tasks, and
# finished ones whose memory event is still to be written), so the sweeper that
# recovers lost workers reads just those.
LEASE_INDEX_PARTITION_KEY = "lease_state"
LEASE_INDEX_SORT_KEY = "lease_expires_at"
TTL_ATTRIBUTE = "expires_at"
# What the MCP server's DynamoDB store calls on the table (no Scan: the sweeper queries
# the sparse lease index and expiry is DynamoDB TTL's job).
TASK_STORE_ACTIONS = (
    "GetItem",
    "BatchGetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    # Transactions need no action of their own: each item in one is authorized by
    # the matching item action above.
    "ConditionCheckItem",
)

# What the scheduled sweeper's sweep calls (engine/sweeper.py, store/dynamodb_recovery.py): Query
# on the lease index for expired leases and overdue publications; GetItem and UpdateItem to take
# a task over, end it and clear its publication. Ending a task is a transaction of Updates (the
# task and its owner's counters, which ADD creates): no PutItem, no ConditionCheckItem. It never
# creates a task, so it holds neither.
SWEEPER_ACTIONS = ("GetItem", "UpdateItem")


class TaskTable(Construct):
    """On-demand, KMS-encrypted, point-in-time-recoverable table of durable tasks."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # dynamodb.Table, not TableV2: TableV2 cannot render a customer-managed key in
        # an environment-agnostic stack.
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=encryption_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=removal_policy,
        )
        for index_name, partition_key, sort_key in (
            (OWNER_INDEX, OWNER_INDEX_PARTITION_KEY, OWNER_INDEX_SORT_KEY),
            (LEASE_INDEX, LEASE_INDEX_PARTITION_KEY, LEASE_INDEX_SORT_KEY),
        ):
            self.table.add_global_secondary_index(
                index_name=index_name,
                partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.NUMBER),
            )

    def grant_task_access(self, grantee: iam.IGrantable) -> None:
        """What the MCP server's store needs: its item actions and Query on both indexes."""
        grant_table_items(grantee, self.table, TASK_STORE_ACTIONS, query_indexes=(OWNER_INDEX, LEASE_INDEX))

    def grant_sweep_access(self, grantee: iam.IGrantable) -> None:
        """What the scheduled sweeper needs: its item actions and Query on the lease index only."""
        grant_table_items(grantee, self.table, SWEEPER_ACTIONS, query_indexes=(LEASE_INDEX,))
