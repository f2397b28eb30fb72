"""The part both runtimes share: an image under runtime_images/, its AgentCore Runtime with an
execution role scoped to it, and a pre-created, encrypted application log group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from aws_cdk import Duration, RemovalPolicy, SymlinkFollowMode
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import ReleaseSettings, RuntimeSettings
from stacks.constructs.release import RuntimeEndpoints, endpoint_log_group_name
from stacks.constructs.runtime_role import RuntimeExecutionRole, runtime_log_group_pattern
from stacks.constructs.tracing import TRACING_ENVIRONMENT
from stacks.nag import acknowledge

if TYPE_CHECKING:
    from stacks.constructs.image_build import CodeBuildImage

IMAGES_DIR = Path(__file__).resolve().parents[2] / "runtime_images"


def invoke_url(region: str, runtime_arn: str, qualifier: str) -> str:
    """The data-plane URL a client posts to; the ARN is URL-encoded in the path, the qualifier
    names the endpoint (and so the version) that serves the call."""
    from aws_cdk import Fn

    # CloudFormation has no URL-encode function; ':' and '/' are the only characters
    # of a runtime ARN that need escaping.
    encoded = Fn.join("%2F", Fn.split("/", Fn.join("%3A", Fn.split(":", runtime_arn))))
    return Fn.join(
        "",
        [
            f"https://bedrock-agentcore.{region}.amazonaws.com/runtimes/",
            encoded,
            f"/invocations?qualifier={qualifier}",
        ],
    )


@dataclass(frozen=True)
class RuntimeOptions:
    """What both runtimes of a Stage share: how they are reached, logged, encrypted and built."""

    authorizer: agentcore.RuntimeAuthorizerConfiguration
    network: agentcore.RuntimeNetworkConfiguration
    log_retention: logs.RetentionDays
    encryption_key: kms.IKey
    removal_policy: RemovalPolicy
    # Where the kit names its own log groups (the kit key is scoped to it): /agent-kit/<env>.
    log_group_prefix: str
    release: ReleaseSettings
    image_build: Literal["local", "codebuild"] = "local"
    # ADOT in the container and the platform's spans delivered to X-Ray (stacks/constructs/tracing.py).
    tracing: bool = False


class KitRuntime(Construct):
    """Runtime + its arm64 image asset + a pre-created, encrypted application log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image: str,
        settings: RuntimeSettings,
        description: str,
        protocol: agentcore.ProtocolType,
        environment: Mapping[str, str],
        options: RuntimeOptions,
        request_headers: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.image: CodeBuildImage | None = None
        if options.image_build == "codebuild":
            # Imported here: custom_resources and its bundled AWS CLI asset take ~0.6 s to
            # load, and only this mode uses them.
            from stacks.constructs.image_build import CodeBuildImage

            self.image = CodeBuildImage(
                self,
                "Image",
                directory=IMAGES_DIR / image,
                encryption_key=options.encryption_key,
                log_group_name=f"{options.log_group_prefix}/image-build/{image}",
                log_retention=options.log_retention,
                removal_policy=options.removal_policy,
            )
            artifact = self.image.artifact
        else:
            artifact = agentcore.AgentRuntimeArtifact.from_asset(
                str(IMAGES_DIR / image),
                platform=ecr_assets.Platform.LINUX_ARM64,
                display_name=f"{settings.name} image",
                # kit_contracts is a symlink out of the image directory; the build context
                # needs the files themselves.
                follow_symlinks=SymlinkFollowMode.ALWAYS,
            )
        self.role = RuntimeExecutionRole(self, "ExecutionRole", runtime_name=settings.name)
        self.runtime = agentcore.Runtime(
            self,
            "Runtime",
            runtime_name=settings.name,
            execution_role=self.role,
            description=description,
            agent_runtime_artifact=artifact,
            protocol_configuration=protocol,
            lifecycle_configuration=agentcore.LifecycleConfiguration(
                idle_runtime_session_timeout=Duration.seconds(settings.idle_timeout_seconds),
                max_lifetime=Duration.seconds(settings.max_lifetime_seconds),
            ),
            environment_variables={**environment, **(TRACING_ENVIRONMENT if options.tracing else {})},
            authorizer_configuration=options.authorizer,
            network_configuration=options.network,
            request_header_configuration=(
                agentcore.RequestHeaderConfiguration(allowlisted_headers=list(request_headers))
                if request_headers
                else None
            ),
            tracing_enabled=options.tracing,
            # One policy per account and Region instead of one per stack (TraceDeliveryPolicy).
            manage_delivery_resource_policy=False if options.tracing else None,
        )
        self.role.check_scoped()
        if self.image is not None:
            self.runtime.node.add_dependency(self.image.built)
        _acknowledge_platform_grants(self.runtime, settings.name)
        acknowledge(
            self.runtime,
            "Annotation::aws-cdk-lib.aws-bedrockagentcore:containerUriValidationSkipped",
            "The image URI is a CDK container asset, known only at deploy time.",
        )
        # The service creates this group on first invocation with no retention and no
        # key; creating it first pins both.
        self.log_group = logs.LogGroup(
            self,
            "ApplicationLogs",
            log_group_name=endpoint_log_group_name(self.runtime.agent_runtime_id, "DEFAULT"),
            retention=options.log_retention,
            encryption_key=options.encryption_key,
            removal_policy=options.removal_policy,
        )
        self.endpoints = RuntimeEndpoints(
            self,
            "Endpoints",
            runtime=self.runtime,
            release=options.release,
            log_retention=options.log_retention,
            encryption_key=options.encryption_key,
            removal_policy=options.removal_policy,
        )

    def invoke_url(self, region: str) -> str:
        """The URL callers post to: through the named endpoint, never DEFAULT."""
        return invoke_url(region, self.runtime.agent_runtime_arn, self.endpoints.name)


def _acknowledge_platform_grants(runtime: agentcore.Runtime, runtime_name: str) -> None:
    """The execution role carries the platform's own needs (runtime_role.py); say why each is wide."""
    policy = runtime.role.node.find_child("DefaultPolicy")
    logs_arn = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
    log_groups = runtime_log_group_pattern(runtime_name)
    for resource, reason in (
        (
            f"{logs_arn}{log_groups}",
            "The runtime's log group names embed its id, known only after creation (a policy "
            "naming it would be a cycle); scoped to this runtime's name.",
        ),
        (
            f"{logs_arn}{log_groups}:log-stream:*",
            "Log streams are created per session by the platform in this runtime's log groups.",
        ),
        (
            f"{logs_arn}*",
            "logs:DescribeLogGroups is a list call that takes no narrower resource.",
        ),
        (
            "*",
            "X-Ray segment/sampling calls and ecr:GetAuthorizationToken accept no resource; "
            "cloudwatch:PutMetricData is limited by a namespace condition.",
        ),
        (
            "arn:<AWS::Partition>:bedrock-agentcore:<AWS::Region>:<AWS::AccountId>:"
            f"workload-identity-directory/default/workload-identity/{runtime_name}-*",
            "Workload access tokens for this runtime's own workload identity, which the service "
            "creates and names after the runtime.",
        ),
    ):
        acknowledge(policy, f"AwsSolutions-IAM5[Resource::{resource}]", reason)
