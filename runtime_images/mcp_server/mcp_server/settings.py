"""Configuration: environment variables parsed once, at start-up, into one typed object."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mcp_server import constants as c

StoreKind = Literal["sqlite", "dynamodb"]
SinkKind = Literal["agentcore", "sqlite", "none"]


class SettingsError(ValueError):
    """A configuration value is missing or out of range; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"  # noqa: S104 - the runtime contract requires all interfaces
    port: int = c.DEFAULT_PORT
    store: StoreKind = "sqlite"
    table_name: str | None = None
    region: str | None = None
    sqlite_path: Path = Path("/tmp/mcp_server/tasks.sqlite3")  # noqa: S108 - the image's only writable path
    sink: SinkKind = "sqlite"
    sink_sqlite_path: Path = Path("/tmp/mcp_server/results.sqlite3")  # noqa: S108
    memory_id: str | None = None
    heartbeat_seconds: float = 5.0
    lease_seconds: float = 30.0
    default_ttl_seconds: int = 86_400
    max_ttl_seconds: int = 7 * 86_400
    poll_interval_ms: int = 2_000
    progress_write_seconds: float = 2.0
    session_idle_timeout_seconds: float = 900.0
    dataset_root: Path = Path("/data")
    log_level: str = "INFO"
    handoff_bus_name: str | None = None
    handoff_outbox_path: Path = Path("/tmp/mcp_server/handoff_outbox.sqlite3")  # noqa: S108
    environment: str = "local"
    # Host headers the MCP endpoint answers (DNS-rebinding protection); loopback is always allowed.
    allowed_hosts: tuple[str, ...] = ()
    task_list_page_size: int = 50

    @property
    def sweep_seconds(self) -> float:
        # Lost workers are noticed within about one lease of their death.
        return max(self.lease_seconds / 2, 0.1)


# Every variable read, with the field it sets; README and the CDK stack refer to these.
ENV_VARS: Mapping[str, str] = {
    "MCP_HOST": "host",
    "MCP_PORT": "port",
    c.ENV_TASK_STORE: "store",
    c.ENV_TASK_TABLE_NAME: "table_name",
    c.ENV_AWS_REGION: "region",
    "TASK_SQLITE_PATH": "sqlite_path",
    "RESULT_SINK": "sink",
    "RESULT_SINK_SQLITE_PATH": "sink_sqlite_path",
    c.ENV_MEMORY_ID: "memory_id",
    "TASK_HEARTBEAT_SECONDS": "heartbeat_seconds",
    "TASK_LEASE_SECONDS": "lease_seconds",
    "TASK_DEFAULT_TTL_SECONDS": "default_ttl_seconds",
    "TASK_MAX_TTL_SECONDS": "max_ttl_seconds",
    "TASK_POLL_INTERVAL_MS": "poll_interval_ms",
    "TASK_PROGRESS_WRITE_SECONDS": "progress_write_seconds",
    c.ENV_SESSION_IDLE_TIMEOUT: "session_idle_timeout_seconds",
    "DATASET_ROOT": "dataset_root",
    "LOG_LEVEL": "log_level",
    c.ENV_HANDOFF_BUS_NAME: "handoff_bus_name",
    c.ENV_KIT_ENVIRONMENT: "environment",
    c.ENV_ALLOWED_HOSTS: "allowed_hosts",
    "TASK_LIST_PAGE_SIZE": "task_list_page_size",
}

# A CloudWatch dimension value that also reads well as a log field.
_ENVIRONMENT_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}")
# An EventBridge bus name or ARN.
_BUS_RE = re.compile(r"[/.\-_A-Za-z0-9:]{1,1600}")


def _number(name: str, raw: str, kind: type[int] | type[float], low: float, high: float) -> float:
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a {kind.__name__} between {low} and {high}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={raw!r}: expected a {kind.__name__} between {low} and {high}")
    return value


# host, host:port or host:* (any port); no scheme, path or wildcard host.
_HOST_RE = re.compile(r"[a-zA-Z0-9.\-]{1,253}(:([0-9]{1,5}|\*))?")


def _hosts(name: str, raw: str | None) -> tuple[str, ...]:
    hosts = tuple(h.strip() for h in (raw or "").split(",") if h.strip())
    for host in hosts:
        if not _HOST_RE.fullmatch(host):
            raise SettingsError(
                f"{name}: {host[:80]!r} is not a host: expected host, host:port or host:*, comma-separated"
            )
    return hosts


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise SettingsError(f"{name}={raw!r}: expected one of {', '.join(allowed)}")
    return raw


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse `env` (default: the process environment); raise SettingsError naming the bad variable."""
    env = os.environ if env is None else env

    def get(name: str) -> str | None:
        value = env.get(name)
        return value if value not in (None, "") else None

    store = _choice(c.ENV_TASK_STORE, get(c.ENV_TASK_STORE) or "sqlite", ("sqlite", "dynamodb"))
    table_name = get(c.ENV_TASK_TABLE_NAME)
    if store == "dynamodb" and table_name is None:
        raise SettingsError(f"{c.ENV_TASK_TABLE_NAME} is required when {c.ENV_TASK_STORE}=dynamodb")
    # Deployed (DynamoDB) servers write results to AgentCore Memory; local ones to SQLite.
    default_sink = "agentcore" if store == "dynamodb" else "sqlite"
    sink = _choice("RESULT_SINK", get("RESULT_SINK") or default_sink, ("agentcore", "sqlite", "none"))
    sqlite_path = Path(get("TASK_SQLITE_PATH") or Settings.sqlite_path)
    defaults = Settings()
    lease = _number("TASK_LEASE_SECONDS", get("TASK_LEASE_SECONDS") or str(defaults.lease_seconds), float, 0.2, 3600)
    heartbeat = _number(
        "TASK_HEARTBEAT_SECONDS",
        get("TASK_HEARTBEAT_SECONDS") or str(defaults.heartbeat_seconds),
        float,
        0.05,
        600,
    )
    max_ttl = int(
        _number(
            "TASK_MAX_TTL_SECONDS",
            get("TASK_MAX_TTL_SECONDS") or str(defaults.max_ttl_seconds),
            int,
            1,
            31_536_000,
        )
    )
    default_ttl = int(
        _number(
            "TASK_DEFAULT_TTL_SECONDS",
            get("TASK_DEFAULT_TTL_SECONDS") or str(defaults.default_ttl_seconds),
            int,
            1,
            max_ttl,
        )
    )
    environment = get(c.ENV_KIT_ENVIRONMENT) or defaults.environment
    if not _ENVIRONMENT_RE.fullmatch(environment):
        raise SettingsError(
            f"{c.ENV_KIT_ENVIRONMENT}={environment!r}: expected 1..64 characters of [a-zA-Z0-9_-] "
            "starting with a letter or digit"
        )
    bus = get(c.ENV_HANDOFF_BUS_NAME)
    if bus is not None and not _BUS_RE.fullmatch(bus):
        raise SettingsError(f"{c.ENV_HANDOFF_BUS_NAME}={bus[:80]!r}: expected an EventBridge bus name or ARN")
    return Settings(
        host=get("MCP_HOST") or defaults.host,
        port=int(_number("MCP_PORT", get("MCP_PORT") or str(defaults.port), int, 0, 65535)),
        store=store,  # type: ignore[arg-type]
        table_name=table_name,
        region=get(c.ENV_AWS_REGION),
        sqlite_path=sqlite_path,
        sink=sink,  # type: ignore[arg-type]
        sink_sqlite_path=Path(get("RESULT_SINK_SQLITE_PATH") or sqlite_path.with_name("results.sqlite3")),
        memory_id=get(c.ENV_MEMORY_ID),
        heartbeat_seconds=heartbeat,
        lease_seconds=lease,
        default_ttl_seconds=default_ttl,
        max_ttl_seconds=max_ttl,
        poll_interval_ms=int(
            _number(
                "TASK_POLL_INTERVAL_MS",
                get("TASK_POLL_INTERVAL_MS") or str(defaults.poll_interval_ms),
                int,
                10,
                600_000,
            )
        ),
        progress_write_seconds=_number(
            "TASK_PROGRESS_WRITE_SECONDS",
            get("TASK_PROGRESS_WRITE_SECONDS") or str(defaults.progress_write_seconds),
            float,
            0,
            3600,
        ),
        session_idle_timeout_seconds=_number(
            c.ENV_SESSION_IDLE_TIMEOUT,
            get(c.ENV_SESSION_IDLE_TIMEOUT) or str(defaults.session_idle_timeout_seconds),
            float,
            60,
            28_800,
        ),
        dataset_root=Path(get("DATASET_ROOT") or defaults.dataset_root),
        log_level=_choice("LOG_LEVEL", (get("LOG_LEVEL") or "INFO").upper(), ("DEBUG", "INFO", "WARNING", "ERROR")),
        handoff_bus_name=bus,
        # Local mode's handoff outbox lives next to the task store.
        handoff_outbox_path=sqlite_path.with_name("handoff_outbox.sqlite3"),
        environment=environment,
        allowed_hosts=_hosts(c.ENV_ALLOWED_HOSTS, get(c.ENV_ALLOWED_HOSTS)),
        task_list_page_size=int(
            _number(
                "TASK_LIST_PAGE_SIZE", get("TASK_LIST_PAGE_SIZE") or str(defaults.task_list_page_size), int, 1, 1000
            )
        ),
    )
