"""What every stack of a Stage shares: termination protection, a description, the removal policy."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy, Stack
from constructs import Construct

from stacks.config import EnvironmentConfig


class KitStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, purpose: str, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            termination_protection=config.termination_protection,
            description=f"Agent kit ({config.name}): {purpose}",
            **kwargs,
        )
        self.removal_policy = RemovalPolicy.RETAIN if config.retain else RemovalPolicy.DESTROY
