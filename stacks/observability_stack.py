"""Dashboard and alarms over the runtimes, the task engine, the sweeper and the handoff."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.handoff import Handoff
from stacks.constructs.observability import Observability
from stacks.kit_stack import KitStack
from stacks.runtime_stack import RuntimeStack


class ObservabilityStack(KitStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        runtimes: RuntimeStack,
        handoff: Handoff,
        encryption_key: kms.IKey,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, config=config, purpose="dashboard and alarms", **kwargs)
        self.observability = Observability(
            self,
            "Observability",
            env_name=config.name,
            runtimes={"Agent": runtimes.agent.runtime, "McpServer": runtimes.mcp_server.runtime},
            state_machine=handoff.state_machine,
            dead_letters=handoff.dead_letters,
            sweeper=runtimes.sweeper,
            encryption_key=encryption_key,
            alarm_topic_arn=config.observability.alarm_topic_arn,
            alarm_emails=config.observability.alarm_emails,
            task_failure_rate_percent=config.observability.task_failure_rate_percent,
            tracing=config.observability.tracing,
        )
