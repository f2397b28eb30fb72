"""Explicit, wildcard-free grants the L2 helpers would otherwise widen: table items, bucket objects."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3


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


def grant_objects(grantee: iam.IGrantable, bucket: s3.IBucket, actions: Sequence[str], *, prefix: str) -> None:
    """Object actions under one key prefix of one bucket, plus use of its key through S3 for that bucket.

    Unlike ``grant_read_write`` this names every action (no ``s3:GetObject*``, ``s3:Abort*``)
    and no key action S3 does not take on the caller's behalf.
    """
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=[f"s3:{action}" for action in actions],
        resource_arns=[bucket.arn_for_objects(f"{prefix}*")],
    )
    if bucket.encryption_key is not None:
        # PutObject has S3 generate a data key (and decrypt it again for multipart uploads);
        # GetObject has S3 decrypt it.
        kms_actions = ["kms:Decrypt", *(["kms:GenerateDataKey"] if "PutObject" in actions else [])]
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=kms_actions,
                resources=[bucket.encryption_key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com",
                        # With an S3 Bucket Key the encryption context is the bucket's ARN.
                        "kms:EncryptionContext:aws:s3:arn": bucket.bucket_arn,
                    }
                },
            )
        )


def grant_secret_value(grantee: iam.IGrantable, secret_arn: str, key: kms.IKey) -> None:
    """GetSecretValue on one secret, and its key's Decrypt through Secrets Manager for that secret.

    Unlike ``Secret.grant_read`` this writes only the grantee's policy: the key lives in another
    stack, and a key-policy grant would make that stack depend on this one.
    """
    iam.Grant.add_to_principal(grantee=grantee, actions=["secretsmanager:GetSecretValue"], resource_arns=[secret_arn])
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["kms:Decrypt"],
            resources=[key.key_arn],
            conditions={
                "StringEquals": {
                    "kms:ViaService": f"secretsmanager.{Aws.REGION}.amazonaws.com",
                    "kms:EncryptionContext:SecretARN": secret_arn,
                }
            },
        )
    )
