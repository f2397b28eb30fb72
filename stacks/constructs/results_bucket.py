"""The bucket for task results larger than a task-table item may hold (DynamoDB's 400 KB limit).

The MCP server writes such a result under `results/` and keeps a pointer in the task; the object
expires a little after the longest-lived task that can name it. Every request to the bucket is
recorded in a second bucket by S3 server access logging.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.grants import grant_objects

# Where the MCP server writes results; its role may touch nothing else in the bucket.
RESULTS_PREFIX = "results/"
ACCESS_LOGS_PREFIX = "results-bucket/"
# Log delivery by a bucket policy naming the S3 logging service and this bucket, rather than the
# legacy LogDeliveryWrite ACL, which would need ACLs enabled on the log bucket. Set on this
# construct only: the kit's cdk.json does not carry the flag.
_LOGS_BY_BUCKET_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"


class ResultsBucket(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        expire_days: int,
        access_log_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.node.set_context(_LOGS_BY_BUCKET_POLICY, True)
        private = {
            "enforce_ssl": True,
            "minimum_tls_version": 1.2,
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "removal_policy": removal_policy,
        }
        # S3 server access logging delivers only to a bucket encrypted with S3-managed keys (SSE-S3),
        # so this one cannot use the kit key. It holds request records (keys, requester, time), no
        # results. cdk-nag does not ask a log target for logs of its own (AwsSolutions-S1).
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[s3.LifecycleRule(id="ExpireAccessLogs", expiration=Duration.days(access_log_days))],
            **private,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            # One data key per bucket rather than per object: far fewer KMS calls for the same key.
            bucket_key_enabled=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireResults",
                    expiration=Duration.days(expire_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=ACCESS_LOGS_PREFIX,
            **private,
        )

    def grant_results(self, grantee: iam.IGrantable) -> None:
        """Write and read result objects under `results/`, and the key through S3 for this bucket only."""
        grant_objects(grantee, self.bucket, ("PutObject", "GetObject"), prefix=RESULTS_PREFIX)

    def results_resource_for_nag(self, consumer: Construct) -> str:
        """The granted `results/*` resource as cdk-nag names it in a finding on `consumer`'s policy.

        From another stack the bucket's ARN arrives as an import, named by its export; exporting
        it here gives that name (the reference CDK makes reuses the same export).
        """
        stack = Stack.of(self)
        if Stack.of(consumer) is stack:
            bucket_id = stack.resolve(stack.get_logical_id(self.bucket.node.default_child))  # type: ignore[arg-type]
            return f"<{bucket_id}.Arn>/{RESULTS_PREFIX}*"
        imported = stack.resolve(stack.export_value(self.bucket.bucket_arn))
        return f"{imported['Fn::ImportValue']}/{RESULTS_PREFIX}*"
