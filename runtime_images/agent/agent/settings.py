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

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from kit_contracts.context import SESSION_ID_MAX, SESSION_ID_PATTERN
from kit_contracts.settings import EnvSettings, SettingsError

__all__ = ["Settings", "SettingsError", "is_session_id", "load_settings"]

McpAuth = Literal["iam", "jwt", "none"]
ModelProvider = Literal["bedrock", "openai", "ollama"]

# AgentCore Memory's sessionId rule: the results session (and each conversation) must be a valid one.
SESSION_ID_RE = re.compile(SESSION_ID_PATTERN)
SESSION_ID_RULE = f"1..{SESSION_ID_MAX} characters of [a-zA-Z0-9-_] starting with a letter or digit"
# A per-actor namespace template: /<segment>/{actorId}[/{sessionId}]; a template without the actor
# would hand one actor's records to every other.
LONG_TERM_NAMESPACE_RE = re.compile(r"/[A-Za-z0-9_-]+/\{actorId\}(/\{sessionId\})?")
LONG_TERM_NAMESPACE_RULE = "comma-separated templates like /facts/{actorId} or /summaries/{actorId}/{sessionId}"


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
    model_provider: ModelProvider = Field(
        "bedrock",
        validation_alias="MODEL_PROVIDER",
        description="who serves the agent's model: bedrock, openai (any OpenAI-compatible endpoint) or ollama",
    )
    model_id: str | None = Field(
        None,
        validation_alias="MODEL_ID",
        json_schema_extra={"deployed": True},
        description="the agent's model: a Bedrock model or inference-profile id, or the name the server knows it by",
    )
    model_base_url: str | None = Field(
        None,
        validation_alias="MODEL_BASE_URL",
        description=(
            "where the model is served: the OpenAI-compatible base URL (e.g. http://127.0.0.1:8081/v1), the Ollama "
            "host (default http://127.0.0.1:11434), or a Bedrock runtime endpoint (default: the region's)"
        ),
        json_schema_extra={"expected": "an http:// or https:// URL"},
    )
    # SecretStr: the key never appears in a repr, a log line or an error message.
    model_api_key: SecretStr | None = Field(
        None,
        validation_alias="MODEL_API_KEY",
        description="the key the model's server accepts (sent as a bearer token; Bedrock: an Amazon Bedrock API key)",
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
    long_term_namespaces: str | None = Field(
        None,
        validation_alias="LONG_TERM_NAMESPACES",
        description=(
            "the namespace templates of the memory's long-term strategies, per actor (/facts/{actorId}, "
            "/summaries/{actorId}/{sessionId}); unset: no long-term records"
        ),
        json_schema_extra={"expected": LONG_TERM_NAMESPACE_RULE},
    )
    long_term_context_chars: int = Field(
        4_000,
        ge=0,
        le=100_000,
        validation_alias="LONG_TERM_CONTEXT_CHARS",
        description="total characters of long-term memory records given to the model with a turn; 0: none",
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

    @field_validator("mcp_auth", "model_provider", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("model_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/?#]+", value):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("long_term_namespaces")
    @classmethod
    def _long_term_namespaces(cls, value: str | None) -> str | None:
        for template in value.split(",") if value is not None else []:
            if not LONG_TERM_NAMESPACE_RE.fullmatch(template.strip()):
                raise ValueError(f"{template.strip()!r}: expected {LONG_TERM_NAMESPACE_RULE}")
        return value

    @field_validator("results_session_id")
    @classmethod
    def _session_id(cls, value: str) -> str:
        if not is_session_id(value):
            raise ValueError(f"expected {SESSION_ID_RULE}")
        return value

    @model_validator(mode="after")
    def _openai_needs_a_server(self) -> Settings:
        # Without a base URL the OpenAI client talks to api.openai.com, which refuses every request
        # without a key: say so at start-up instead of on the first prompt.
        if self.model_provider == "openai" and self.model_base_url is None and self.model_api_key is None:
            raise ValueError(
                "MODEL_PROVIDER=openai needs MODEL_BASE_URL (your OpenAI-compatible server, e.g. "
                "http://127.0.0.1:8081/v1) or MODEL_API_KEY (for api.openai.com)"
            )
        return self


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse exactly `env` (default: the process environment); raise SettingsError on a bad value."""
    return Settings.load(env)
