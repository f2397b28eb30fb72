"""One Stage per environment: the stateful stack and the stateless stacks that use it."""

from __future__ import annotations

from typing import Any

from aws_cdk import Environment, Stage
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.handoff_stack import HandoffStack
from stacks.observability_stack import ObservabilityStack
from stacks.runtime_stack import RuntimeStack
from stacks.stateful_stack import StatefulStack


class KitStage(Stage):
    def __init__(self, scope: Construct, config: EnvironmentConfig, **kwargs: Any) -> None:
        env = Environment(account=config.account, region=config.region) if config.account or config.region else None
        super().__init__(scope, config.stage_id, env=env, **kwargs)
        self.stateful = StatefulStack(self, "Stateful", config=config)
        self.handoff = HandoffStack(
            self,
            "Handoff",
            config=config,
            memory=self.stateful.memory,
            idempotency_table=self.stateful.idempotency_table,
            encryption_key=self.stateful.key,
        )
        self.runtimes = RuntimeStack(
            self,
            "Runtimes",
            config=config,
            memory=self.stateful.memory,
            task_table=self.stateful.task_table,
            results=self.stateful.results,
            encryption_key=self.stateful.key,
            handoff_bus=self.handoff.handoff.bus,
        )
        # In the Runtimes stack: the policy names the MCP server's role, which lives there.
        self.handoff.handoff.admit_only(self.runtimes.mcp_server.runtime.role, self.runtimes)
        self.observability = ObservabilityStack(
            self,
            "Observability",
            config=config,
            runtimes=self.runtimes,
            handoff=self.handoff.handoff,
            encryption_key=self.stateful.key,
        )
