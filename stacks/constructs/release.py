"""A runtime's named endpoints: how a new version reaches its callers.

Every runtime is called through one named endpoint (`release.endpoint`, `live` by default),
never through DEFAULT, which AgentCore moves to each new version as soon as it exists.

- `on_deploy`: the endpoint names the runtime's current version (the L2 `add_endpoint`
  default), so a deploy that creates a version moves the endpoint to it.
- `manual`: the endpoint is pinned to version 1 in the template (as the `agentcore` starter
  toolkit pins its extra endpoints). Its template properties never change afterwards, so
  CloudFormation never moves it again; `python -m stacks.release promote` does, after a smoke
  call through a second endpoint, `<endpoint>_candidate`, which follows each deployed version.

AgentCore writes a runtime's application logs to `/aws/bedrock-agentcore/runtimes/<id>-<endpoint>`;
each endpoint's group is created here, like DEFAULT's in runtime.py, so it has the environment's
retention and key from the first call on.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import ReleaseSettings

# The version a runtime has when CloudFormation creates it, and so the one a manual endpoint starts at.
FIRST_VERSION = "1"


def endpoint_log_group_name(runtime_id: str, endpoint: str) -> str:
    return f"/aws/bedrock-agentcore/runtimes/{runtime_id}-{endpoint}"


class RuntimeEndpoints(Construct):
    """The endpoint callers use and, with manual promotion, the candidate endpoint; their log groups."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: agentcore.Runtime,
        release: ReleaseSettings,
        log_retention: logs.RetentionDays,
        encryption_key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = release.endpoint
        manual = release.promotion == "manual"
        self.endpoint = runtime.add_endpoint(
            release.endpoint,
            description=(
                "Callers' endpoint; moved by the release command after a smoke call"
                if manual
                else "Callers' endpoint; follows each deployed version"
            ),
            version=FIRST_VERSION if manual else None,
        )
        self.candidate: agentcore.RuntimeEndpoint | None = None
        names = [release.endpoint]
        if manual:
            self.candidate = runtime.add_endpoint(
                release.candidate_endpoint,
                description="The newest deployed version, smoke-tested here before promotion",
            )
            names.append(release.candidate_endpoint)
        self.log_groups = [
            logs.LogGroup(
                self,
                f"Logs{name}",
                log_group_name=endpoint_log_group_name(runtime.agent_runtime_id, name),
                retention=log_retention,
                encryption_key=encryption_key,
                removal_policy=removal_policy,
            )
            for name in names
        ]
