"""Build a runtime image on an ARM64 CodeBuild host during deploy, for teams without Docker.

The image directory is uploaded as an S3 asset (hashed on the same inputs .dockerignore lets
into the image); its hash is the image's immutable tag. On each new tag a custom resource
starts the build and a CloudFormation wait condition holds the runtime back until the build
signals it pushed the image (or failed). Synth stays offline: nothing here runs before deploy.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import (
    CfnWaitCondition,
    CfnWaitConditionHandle,
    Duration,
    IgnoreMode,
    RemovalPolicy,
    Stack,
    SymlinkFollowMode,
)
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.nag import acknowledge

BUILD_TIMEOUT = Duration.minutes(30)
# The build's last step reports to the wait condition whether it pushed the image.
BUILD_SPEC = {
    "version": "0.2",
    "env": {"shell": "bash"},
    "phases": {
        "build": {
            "commands": [
                'aws ecr get-login-password | docker login --username AWS --password-stdin "${REPOSITORY_URI%%/*}"',
                'if aws ecr describe-images --repository-name "$REPOSITORY_NAME" --image-ids imageTag="$IMAGE_TAG"'
                ' >/dev/null 2>&1; then echo "image $IMAGE_TAG already pushed";'
                ' else docker build --platform linux/arm64 -t "$REPOSITORY_URI:$IMAGE_TAG" .'
                ' && docker push "$REPOSITORY_URI:$IMAGE_TAG"; fi',
            ]
        },
        "post_build": {
            "commands": [
                'if [ "$CODEBUILD_BUILD_SUCCEEDING" = "1" ]; then STATUS=SUCCESS; else STATUS=FAILURE; fi;'
                " curl -sS -X PUT -H 'Content-Type:' --data-binary"
                ' "{\\"Status\\":\\"$STATUS\\",\\"Reason\\":\\"$CODEBUILD_BUILD_ID\\",'
                '\\"UniqueId\\":\\"$IMAGE_TAG\\",\\"Data\\":\\"$IMAGE_TAG\\"}" "$WAIT_URL"'
            ]
        },
    },
}


def dockerignore_patterns(directory: Path) -> list[str]:
    path = directory / ".dockerignore"
    lines = path.read_text().splitlines() if path.is_file() else []
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


class CodeBuildImage(Construct):
    """One image: source asset → ARM64 CodeBuild → ECR (immutable tags)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        directory: Path,
        encryption_key: kms.IKey,
        log_group_name: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        source = s3_assets.Asset(
            self,
            "Source",
            path=str(directory),
            exclude=dockerignore_patterns(directory),
            ignore_mode=IgnoreMode.DOCKER,
            # kit_contracts is a symlink out of the image directory; CodeBuild needs the files.
            follow_symlinks=SymlinkFollowMode.ALWAYS,
        )
        self.tag = source.asset_hash
        self.repository = ecr.Repository(
            self,
            "Repository",
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            image_scan_on_push=True,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=encryption_key,
            removal_policy=removal_policy,
            empty_on_delete=removal_policy == RemovalPolicy.DESTROY,
        )
        project = codebuild.Project(
            self,
            "Build",
            description=f"Builds the {directory.name} runtime image for linux/arm64",
            source=codebuild.Source.s3(bucket=source.bucket, path=source.s3_object_key),
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxArmBuildImage.AMAZON_LINUX_2_STANDARD_3_0,
                compute_type=codebuild.ComputeType.SMALL,
                privileged=True,
            ),
            environment_variables={
                "REPOSITORY_URI": codebuild.BuildEnvironmentVariable(value=self.repository.repository_uri),
                "REPOSITORY_NAME": codebuild.BuildEnvironmentVariable(value=self.repository.repository_name),
            },
            build_spec=codebuild.BuildSpec.from_object(BUILD_SPEC),
            encryption_key=encryption_key,
            timeout=BUILD_TIMEOUT,
            logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(
                    log_group=logs.LogGroup(
                        self,
                        "BuildLogs",
                        # Under the environment's prefix: the kit key serves only those names.
                        log_group_name=log_group_name,
                        retention=log_retention,
                        encryption_key=encryption_key,
                        removal_policy=removal_policy,
                    )
                )
            ),
        )
        self.repository.grant_pull_push(project)
        project.add_to_role_policy(
            iam.PolicyStatement(actions=["ecr:DescribeImages"], resources=[self.repository.repository_arn])
        )
        acknowledge(
            project,
            "AwsSolutions-CB3",
            "docker build needs a privileged build container; the project only builds this image.",
        )
        self._acknowledge_build_role(project)

        # New construct ids per tag: a changed image gets a new handle and a new build.
        short = self.tag[:12]
        handle = CfnWaitConditionHandle(self, f"Handle{short}")
        start = cr.AwsCustomResource(
            self,
            f"StartBuild{short}",
            on_create=cr.AwsSdkCall(
                service="CodeBuild",
                action="startBuild",
                parameters={
                    "projectName": project.project_name,
                    "environmentVariablesOverride": [
                        {"name": "IMAGE_TAG", "value": self.tag, "type": "PLAINTEXT"},
                        {"name": "WAIT_URL", "value": handle.ref, "type": "PLAINTEXT"},
                    ],
                },
                physical_resource_id=cr.PhysicalResourceId.of(self.tag),
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["codebuild:StartBuild"], resources=[project.project_arn])]
            ),
            install_latest_aws_sdk=False,
        )
        self.built = CfnWaitCondition(self, f"Built{short}", handle=handle.ref, timeout=str(BUILD_TIMEOUT.to_seconds()))
        self.built.node.add_dependency(start)
        self.artifact = agentcore.AgentRuntimeArtifact.from_ecr_repository(self.repository, self.tag)

    def _acknowledge_build_role(self, project: codebuild.Project) -> None:
        """The CodeBuild L2 grants its role the standard build permissions; say why each is wide."""
        stack = Stack.of(self)
        logical_id = stack.resolve(stack.get_logical_id(project.node.default_child))  # type: ignore[arg-type]
        policy = project.role.node.find_child("DefaultPolicy")  # type: ignore[union-attr]
        prefix = "arn:<AWS::Partition>"
        for finding, reason in (
            ("Action::s3:GetBucket*", "Reads the one source asset object in the CDK assets bucket."),
            ("Action::s3:GetObject*", "Reads the one source asset object in the CDK assets bucket."),
            ("Action::s3:List*", "Reads the one source asset object in the CDK assets bucket."),
            ("Resource::*", "ecr:GetAuthorizationToken is account-level; pushes are limited to this repository."),
            (
                f"Resource::{prefix}:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/codebuild/<{logical_id}>:*",
                "Log streams of this project's own builds.",
            ),
            (
                f"Resource::{prefix}:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/<{logical_id}>-*",
                "Test report groups named after this project.",
            ),
        ):
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)


def acknowledge_sdk_call_function(stack: Stack) -> None:
    """The single Lambda behind every AwsCustomResource in a stack (it only calls StartBuild here)."""
    # SingletonFunction's construct id is "AWS" + its uuid without dashes.
    function = stack.node.try_find_child("AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", ""))
    if function is None:
        return
    acknowledge(
        function.node.find_child("ServiceRole"),
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "CDK's AwsCustomResource provider role; it writes only its own logs and calls codebuild:StartBuild.",
    )
    for finding, reason in (
        ("Serverless-LambdaDLQ", "Invoked synchronously by CloudFormation, which reports its failures."),
        ("Serverless-LambdaDefaultMemorySize", "CDK's provider function; one SDK call per deploy."),
        ("Serverless-LambdaTracing", "CDK's provider function; one SDK call per deploy, nothing to trace."),
    ):
        acknowledge(function, finding, reason)
