"""Explicit, wildcard-free grants the L2 helpers would otherwise widen."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam


def grant_table_items(
    grantee: iam.IGrantable,
    table: dynamodb.ITable,
    actions: Sequence[str],
    *,
    query_indexes: Sequence[str] = (),
) -> None:
    """Item-level actions on one table (and Query on named indexes), plus use of its key.

    Unlike ``grant_read_write_data`` this names every action and index, so no
    ``dynamodb:*``-style action or ``index/*`` resource appears.
    """
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=[f"dynamodb:{action}" for action in actions],
        resource_arns=[table.table_arn],
    )
    if query_indexes:
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:Query"],
            resource_arns=[f"{table.table_arn}/index/{name}" for name in query_indexes],
        )
    if table.encryption_key is not None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[table.encryption_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Aws.REGION}.amazonaws.com"}},
            )
        )
