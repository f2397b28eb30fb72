"""Configuration: environment variables parsed once, at start-up, into one typed object.

Each variable is declared once below (name, type, bounds, description); a bad value stops
the server at start-up with the variable, the value and the rule. The CDK's MCP runtime
construct sets the deployed ones, and a contract test feeds its synthesized environment to
`load_settings` (so a variable the stack sets but nobody reads fails the build).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from kit_contracts.context import ACTOR_ID_MAX, ACTOR_ID_PATTERN
from kit_contracts.settings import EnvSettings, SettingsError
from mcp_server import constants as c
from mcp_server.store.quotas import Quota

__all__ = ["Settings", "SettingsError", "load_settings"]

StoreKind = Literal["sqlite", "dynamodb"]
SinkKind = Literal["agentcore", "sqlite", "none"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

# host, host:port or host:* (any port); no scheme, path or wildcard host.
_HOST_RE = re.compile(r"[a-zA-Z0-9.\-]{1,253}(:([0-9]{1,5}|\*))?")
LOCAL_DIR = Path("/tmp/mcp_server")  # noqa: S108 - the image's only writable path


class Settings(EnvSettings):
    host: str = Field("0.0.0.0", validation_alias="MCP_HOST", description="interface to listen on")  # noqa: S104
    port: int = Field(c.DEFAULT_PORT, ge=0, le=65535, validation_alias="MCP_PORT", description="port to listen on")
    store: StoreKind = Field(
        "sqlite",
        validation_alias=c.ENV_TASK_STORE,
        json_schema_extra={"deployed": True},
        description="task store: sqlite or dynamodb",
    )
    table_name: str | None = Field(
        None,
        validation_alias=c.ENV_TASK_TABLE_NAME,
        json_schema_extra={"deployed": True},
        description="DynamoDB task table (TASK_STORE=dynamodb)",
    )
    region: str | None = Field(
        None,
        validation_alias=c.ENV_AWS_REGION,
        json_schema_extra={"deployed": True},
        description="AWS region of the table and memory",
    )
    sqlite_path: Path = Field(
        LOCAL_DIR / "tasks.sqlite3", validation_alias="TASK_SQLITE_PATH", description="SQLite task store file"
    )
    sink: SinkKind | None = Field(
        None,
        validation_alias="RESULT_SINK",
        description="where finished results go: agentcore, sqlite or none (default: agentcore with DynamoDB)",
    )
    sink_sqlite_path: Path | None = Field(
        None,
        validation_alias="RESULT_SINK_SQLITE_PATH",
        description="SQLite results sink file (default: results.sqlite3 next to the task store)",
    )
    memory_id: str | None = Field(
        None,
        validation_alias=c.ENV_MEMORY_ID,
        json_schema_extra={"deployed": True},
        description="AgentCore Memory that receives task results",
    )
    heartbeat_seconds: float = Field(
        5.0, ge=0.05, le=600, validation_alias="TASK_HEARTBEAT_SECONDS", description="in-request heartbeat interval"
    )
    lease_seconds: float = Field(
        60.0,
        ge=0.2,
        le=3600,
        validation_alias="TASK_LEASE_SECONDS",
        description="a running task's lease, renewed every third of it (a lost worker is noticed after it runs out)",
    )
    default_ttl_seconds: int = Field(
        7 * 86_400,
        ge=1,
        le=31_536_000,
        validation_alias="TASK_DEFAULT_TTL_SECONDS",
        description="how long a task and its result are kept when the client asks for no ttl",
    )
    max_ttl_seconds: int = Field(
        7 * 86_400, ge=1, le=31_536_000, validation_alias="TASK_MAX_TTL_SECONDS", description="longest ttl granted"
    )
    poll_interval_ms: int = Field(
        2_000, ge=10, le=600_000, validation_alias="TASK_POLL_INTERVAL_MS", description="poll interval told to clients"
    )
    progress_write_seconds: float = Field(
        10.0,
        ge=0,
        le=3600,
        validation_alias="TASK_PROGRESS_WRITE_SECONDS",
        description=(
            "progress store writes while a reader in another process follows the task: at most one this often"
            " (otherwise progress rides the lease renewal; readers in this process see every report)"
        ),
    )
    notify_min_interval_seconds: float = Field(
        1.0,
        ge=0,
        le=3600,
        validation_alias="TASK_NOTIFY_MIN_INTERVAL_SECONDS",
        description="a listen stream's progress notifications: at most one per task this often (status: never held)",
    )
    session_idle_timeout_seconds: float = Field(
        900.0,
        ge=60,
        le=28_800,
        validation_alias=c.ENV_SESSION_IDLE_TIMEOUT,
        json_schema_extra={"deployed": True},
        description="idle timeout of a stateful MCP session (the runtime's)",
    )
    dataset_root: Path = Field(
        Path("/data"), validation_alias="DATASET_ROOT", description="directory the dataset tools read"
    )
    log_level: LogLevel = Field("INFO", validation_alias="LOG_LEVEL", description="DEBUG, INFO, WARNING or ERROR")
    handoff_bus_name: str | None = Field(
        None,
        pattern=r"^[/.\-_A-Za-z0-9:]{1,1600}$",
        validation_alias=c.ENV_HANDOFF_BUS_NAME,
        json_schema_extra={"expected": "an EventBridge bus name or ARN", "deployed": True},
        description="EventBridge bus of handoff requests (unset: the local outbox)",
    )
    environment: str = Field(
        "local",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$",
        validation_alias=c.ENV_KIT_ENVIRONMENT,
        json_schema_extra={
            "expected": "1..64 characters of [a-zA-Z0-9_-] starting with a letter or digit",
            "deployed": True,
        },
        description="the environment's name: the metrics' dimension and a log field",
    )
    allowed_hosts: tuple[str, ...] = Field(
        (),
        validation_alias=c.ENV_ALLOWED_HOSTS,
        description="extra Host header values the MCP endpoint accepts, comma-separated (loopback always)",
    )
    caller_identity: Literal["jwt", "runtime-user-id", "local"] | None = Field(
        None,
        validation_alias="CALLER_IDENTITY",
        description="where the actor comes from: jwt, runtime-user-id, or local (loopback only; the default locally)",
        json_schema_extra={"deployed": True},
    )
    actor_id_claim: str = Field(
        "sub",
        pattern=r"^[A-Za-z0-9_:.\-/]{1,128}$",
        validation_alias="ACTOR_ID_CLAIM",
        description="with CALLER_IDENTITY=jwt: the claim holding the actor id",
        json_schema_extra={"expected": "a JWT claim name like 'sub'"},
    )
    local_actor_id: str | None = Field(
        None,
        pattern=f"^{ACTOR_ID_PATTERN}$",
        max_length=ACTOR_ID_MAX,
        validation_alias="LOCAL_ACTOR_ID",
        description=(
            "local mode only: the actor of a request that sends no Actor-Id header (a plain MCP client, "
            "MCP Inspector); unset: the header is required"
        ),
        json_schema_extra={"expected": "an actor id like 'local-user'"},
    )
    quota_running_tasks: int = Field(
        20, ge=1, le=1000, validation_alias="QUOTA_RUNNING_TASKS", description="running tasks per actor"
    )
    quota_tasks_per_minute: int = Field(
        30, ge=1, le=10_000, validation_alias="QUOTA_TASKS_PER_MINUTE", description="tasks an actor may start a minute"
    )
    quota_result_bytes_per_day: int = Field(
        104_857_600,
        ge=1024,
        le=10_737_418_240,
        validation_alias="QUOTA_RESULT_BYTES_PER_DAY",
        description="bytes of task results an actor may store per UTC day",
    )
    publish_max_attempts: int = Field(
        8,
        ge=1,
        le=100,
        validation_alias="PUBLISH_MAX_ATTEMPTS",
        description="sweeper writes of an unwritten result event (with backoff) before giving up",
    )
    park_after_seconds: float = Field(
        120.0,
        ge=0.1,
        le=28_800,
        validation_alias="TASK_PARK_AFTER_SECONDS",
        description="a resumable task's ctx.sleep at least this long parks it (no lease, no busy session)",
    )
    runtime_max_lifetime_seconds: int | None = Field(
        None,
        ge=60,
        le=28_800,
        validation_alias="RUNTIME_MAX_LIFETIME_SECONDS",
        description="the runtime's max session lifetime: work that cannot finish in it is refused or handed over",
    )
    results_bucket: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        validation_alias="RESULTS_BUCKET",
        description="S3 bucket for results too large for the task store (unset: a folder next to the store)",
        json_schema_extra={"expected": "an S3 bucket name"},
    )
    request_state_secret_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$",
        validation_alias="REQUEST_STATE_SECRET_ARN",
        json_schema_extra={"deployed": True, "expected": "a Secrets Manager secret ARN"},
        description=(
            "the secret whose value seals multi-round-trip requestState, shared by every session's server "
            "(unset: a key per process, fine for one local process)"
        ),
    )
    task_list_page_size: int = Field(
        50, ge=1, le=1000, validation_alias="TASK_LIST_PAGE_SIZE", description="tasks per tasks/list page"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        hosts = tuple(h.strip() for h in value.split(",") if h.strip())
        for host in hosts:
            if not _HOST_RE.fullmatch(host):
                raise ValueError(f"{host[:80]!r} is not a host: expected host, host:port or host:*, comma-separated")
        return hosts

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.store == "dynamodb" and self.table_name is None:
            raise ValueError(f"{c.ENV_TASK_TABLE_NAME} is required when {c.ENV_TASK_STORE}=dynamodb")
        if self.store == "dynamodb" and self.caller_identity in (None, "local"):
            raise ValueError(
                f"CALLER_IDENTITY={self.caller_identity or ''}: expected jwt or runtime-user-id with "
                f"{c.ENV_TASK_STORE}=dynamodb (local trusts a header anyone can send)"
            )
        if self.local_actor_id is not None and self.identity != "local":
            raise ValueError(
                f"LOCAL_ACTOR_ID is for CALLER_IDENTITY=local only (it is {self.caller_identity}): a deployed "
                "server takes every actor from what the platform authenticated"
            )
        if self.default_ttl_seconds > self.max_ttl_seconds:
            raise ValueError(
                f"TASK_DEFAULT_TTL_SECONDS={self.default_ttl_seconds}: expected at most "
                f"TASK_MAX_TTL_SECONDS={self.max_ttl_seconds}"
            )
        return self

    @property
    def quota(self) -> Quota:
        return Quota(self.quota_running_tasks, self.quota_tasks_per_minute, self.quota_result_bytes_per_day)

    @property
    def identity(self) -> str:
        return self.caller_identity or "local"

    @property
    def results_memory_id(self) -> str | None:
        """The memory results are written to: the environment's; locally the SQLite sink's own."""
        if self.memory_id is None and self.result_sink == "sqlite":
            return "local"
        return self.memory_id

    @property
    def result_sink(self) -> SinkKind:
        # Deployed (DynamoDB) servers write results to AgentCore Memory; local ones to SQLite.
        return self.sink or ("agentcore" if self.store == "dynamodb" else "sqlite")

    @property
    def result_sink_path(self) -> Path:
        return self.sink_sqlite_path or self.sqlite_path.with_name("results.sqlite3")

    @property
    def results_dir(self) -> Path:
        """Local mode: large results in this folder, next to the task store."""
        return self.sqlite_path.with_name("results")

    @property
    def handoff_outbox_path(self) -> Path:
        # Local mode's handoff outbox lives next to the task store.
        return self.sqlite_path.with_name("handoff_outbox.sqlite3")

    @property
    def sweep_seconds(self) -> float:
        # Lost workers are noticed within about one lease of their death.
        return max(self.lease_seconds / 2, 0.1)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse `env` (default: the process environment); raise SettingsError naming the bad variable."""
    return Settings.load(env)
