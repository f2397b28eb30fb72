"""Environment variables, parsed once at cold start into typed settings (kit_contracts.settings).

Each variable is one field, named by its alias, with its rule and description; the handoff
construct (stacks/constructs/handoff.py) sets them. A plain pydantic model: the Powertools
layer carries pydantic, not pydantic-settings. An empty value counts as unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from pydantic import Field, field_validator

from kit_contracts.settings import EnvSettings, SettingsError

__all__ = ["Settings", "SettingsError", "load_settings", "settings"]


class Settings(EnvSettings):
    idempotency_table: str = Field(
        validation_alias="IDEMPOTENCY_TABLE", description="DynamoDB table of claims and idempotency records"
    )
    memory_id: str = Field(validation_alias="MEMORY_ID", description="AgentCore Memory that receives each outcome")
    ledger_prefix: str = Field(
        validation_alias="LEDGER_PREFIX", description="SSM path of the environment's sandbox-requests ledger"
    )
    region: str | None = Field(None, validation_alias="AWS_REGION", description="region of every AWS call")
    approval_allow_self: bool = Field(
        False,
        validation_alias="APPROVAL_ALLOW_SELF",
        description="approval step only: whether the requesting actor may approve their own handoff "
        "(stored with the claim; `handoff.approve` enforces it)",
    )

    @field_validator("ledger_prefix")
    @classmethod
    def _ledger_prefix(cls, value: str) -> str:
        # The step appends "/sandbox-requests/<key>"; SSM parameter paths start with one '/'.
        if not value.startswith("/") or value.endswith("/"):
            raise ValueError("expected a path that starts with '/' and does not end with it")
        return value


def load_settings(env: Mapping[str, str]) -> Settings:
    """Parse exactly `env`; raise SettingsError naming each missing or bad variable."""
    return Settings.load(env)


@cache
def settings() -> Settings:
    return load_settings(os.environ)
