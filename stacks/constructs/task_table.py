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
# Every index projects keys only: a write reaches an index only when an item enters or leaves
# it or its index key changes, so a lease renewal or a progress report writes the table alone
# (with ``ALL`` each one was also written to every index). Readers fetch the items by key.
OWNER_INDEX = "by_owner_keys"
OWNER_INDEX_PARTITION_KEY = "owner"
OWNER_INDEX_SORT_KEY = "created_at"
SWEEP_INDEX = "by_sweep"
# Sparse index: only items with pending work carry ``lease_state`` (running tasks, and
# finished ones whose memory event is still to be written), so the sweeper that
# recovers lost workers reads just those. ``sweep_at`` is when to look: a running task's
# moves on a coarse grid past its lease's end, not with every renewal.
SWEEP_INDEX_PARTITION_KEY = "lease_state"
SWEEP_INDEX_SORT_KEY = "sweep_at"
FOLLOW_INDEX = "by_follower"
# Sparse index: only tasks a reader in another server began to follow carry ``follower`` (the worker
# running the task then) and ``follow_since``. Each worker queries its own recent follows about once a
# second while it runs tasks, and writes a followed task's progress at once: the reader's wait for fresh
# progress is a second or two, without every task writing progress often. Extending a follow changes
# no key (no index write).
FOLLOW_INDEX_PARTITION_KEY = "follower"
FOLLOW_INDEX_SORT_KEY = "follow_since"
TTL_ATTRIBUTE = "expires_at"
# What the MCP server's DynamoDB store calls on the table (no Scan: the sweeper queries
# the sparse sweep index and expiry is DynamoDB TTL's job).
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
# on the sweep index for expired leases and overdue publications; GetItem to read each one found
# (the index holds keys only) and UpdateItem to take a task over, end it and clear its
# publication. Ending a task is a transaction of Updates (the task and its owner's counters,
# which ADD creates): no PutItem, no ConditionCheckItem. It never creates a task, so it holds neither.
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
            (SWEEP_INDEX, SWEEP_INDEX_PARTITION_KEY, SWEEP_INDEX_SORT_KEY),
            (FOLLOW_INDEX, FOLLOW_INDEX_PARTITION_KEY, FOLLOW_INDEX_SORT_KEY),
        ):
            self.table.add_global_secondary_index(
                index_name=index_name,
                partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.NUMBER),
                projection_type=dynamodb.ProjectionType.KEYS_ONLY,
            )

    def grant_task_access(self, grantee: iam.IGrantable) -> None:
        """What the MCP server's store needs: its item actions and Query on the three indexes."""
        grant_table_items(
            grantee, self.table, TASK_STORE_ACTIONS, query_indexes=(OWNER_INDEX, SWEEP_INDEX, FOLLOW_INDEX)
        )

    def grant_sweep_access(self, grantee: iam.IGrantable) -> None:
        """What the scheduled sweeper needs: its item actions and Query on the sweep index only."""
        grant_table_items(grantee, self.table, SWEEPER_ACTIONS, query_indexes=(SWEEP_INDEX,))
