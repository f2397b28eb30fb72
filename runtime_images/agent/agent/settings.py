"""Settings parsed once from the environment the runtime (or `make local`) provides.

Each variable the agent reads is one field below, named by its alias, with its type, bounds
and description (kit_contracts.settings); `Settings.variables()` lists them. The CDK's agent
runtime construct sets the deployed ones, and a contract test feeds its synthesized
environment to `load_settings`. An empty value counts as unset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator

from kit_contracts.context import SESSION_ID_MAX, SESSION_ID_PATTERN
from kit_contracts.settings import EnvSettings, SettingsError

__all__ = ["Settings", "SettingsError", "is_session_id", "load_settings"]

McpAuth = Literal["iam", "jwt", "none"]

# AgentCore Memory's sessionId rule: the results session (and each conversation) must be a valid one.
SESSION_ID_RE = re.compile(SESSION_ID_PATTERN)
SESSION_ID_RULE = f"1..{SESSION_ID_MAX} characters of [a-zA-Z0-9-_] starting with a letter or digit"


def is_session_id(value: str) -> bool:
    return len(value) <= SESSION_ID_MAX and SESSION_ID_RE.fullmatch(value) is not None


class Settings(EnvSettings):
    host: str = Field(
        "0.0.0.0",  # noqa: S104 - the runtime contract requires all interfaces
        validation_alias="HOST",
        description="interface to listen on (all interfaces, the runtime contract)",
    )
    port: int = Field(8080, ge=1, le=65535, validation_alias="PORT", description="port to listen on")
    region: str | None = Field(
        None,
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),
        json_schema_extra={"deployed": True},
        description="region of the model, the memory and the MCP runtime (AWS_DEFAULT_REGION if unset)",
    )
    model_id: str | None = Field(
        None,
        validation_alias="MODEL_ID",
        json_schema_extra={"deployed": True},
        description="Bedrock model or inference-profile id of the agent's model",
    )
    memory_id: str | None = Field(
        None,
        validation_alias="MEMORY_ID",
        json_schema_extra={"deployed": True},
        description="AgentCore Memory id; unset locally (then LOCAL_STATE_DIR is used)",
    )
    mcp_runtime_url: str | None = Field(
        None,
        validation_alias="MCP_RUNTIME_URL",
        json_schema_extra={"deployed": True},
        description="MCP server URL: the MCP runtime's invoke URL, or http://127.0.0.1:8000/mcp locally",
    )
    mcp_auth: McpAuth = Field(
        "iam",
        validation_alias="MCP_AUTH",
        json_schema_extra={"deployed": True},
        description="iam (SigV4), jwt (forward the caller's bearer token) or none (local)",
    )
    task_poll_timeout_seconds: int = Field(
        28_800,
        ge=1,
        le=28_800,
        validation_alias="MCP_TASK_POLL_TIMEOUT_SECONDS",
        json_schema_extra={"deployed": True},
        description="how long one tool call may wait for a task",
    )
    task_ttl_seconds: int = Field(
        604_800,
        ge=60,
        le=31_536_000,
        validation_alias="MCP_TASK_TTL_SECONDS",
        description="how long the server keeps a task's result",
    )
    actor_id_from_request: bool = Field(
        False,
        validation_alias="ACTOR_ID_FROM_REQUEST",
        description="true: accept 'actor_id' from the request body when no identity exists",
    )
    actor_id_claim: str = Field("sub", validation_alias="ACTOR_ID_CLAIM", description="JWT claim holding the actor id")
    results_session_id: str = Field(
        "task-results",
        validation_alias="RESULTS_SESSION_ID",
        description="memory session where task results are delivered for each actor",
        json_schema_extra={"expected": SESSION_ID_RULE},
    )
    results_in_context: int = Field(
        20,
        ge=0,
        le=100,
        validation_alias="RESULTS_IN_CONTEXT",
        description="how many recent task results enter the agent's context",
    )
    results_context_chars: int = Field(
        12_000,
        ge=1_000,
        le=200_000,
        validation_alias="RESULTS_CONTEXT_CHARS",
        description="total characters of task results given to the model with a turn (newest first)",
    )
    max_request_bytes: int = Field(
        262_144,
        ge=1024,
        le=10_485_760,
        validation_alias="MAX_REQUEST_BYTES",
        description="largest /invocations body accepted (larger: HTTP 413 naming the limit)",
    )
    local_state_dir: Path = Field(
        Path(".local/agent"), validation_alias="LOCAL_STATE_DIR", description="local mode: conversation files"
    )
    result_sink_sqlite_path: Path | None = Field(
        None,
        validation_alias="RESULT_SINK_SQLITE_PATH",
        description="local mode: the MCP server's SQLite results sink to read results from",
    )

    @field_validator("mcp_auth", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("results_session_id")
    @classmethod
    def _session_id(cls, value: str) -> str:
        if not is_session_id(value):
            raise ValueError(f"expected {SESSION_ID_RULE}")
        return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse exactly `env` (default: the process environment); raise SettingsError on a bad value."""
    return Settings.load(env)
