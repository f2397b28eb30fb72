"""Typed, validated per-environment configuration.

One YAML file per environment under ``config/``. ``app.py`` is the only caller of
``load_environment``/``load_all``; constructs receive plain typed values.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kit_contracts.context import CONTEXT_HEADERS, CUSTOM_HEADER_PREFIX
from kit_contracts.errors import describe

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

# AgentCore Runtime and Memory names (CloudFormation pattern; cfn-lint does not check it).
RESOURCE_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,47}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
MAX_ALLOWLISTED_HEADERS = 20
DISCOVERY_URL = re.compile(r"^https://[^\s/?#]+(/[^\s?#]*)?/\.well-known/openid-configuration$")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
MODEL_ID = re.compile(r"^[a-z0-9-]+(\.[a-zA-Z0-9-]+)+(:[0-9]+)?$")
# Inference profiles carry a geography prefix in front of the model id.
INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "jp.", "au.", "ca.", "global.")
ACCOUNT = re.compile(r"^[0-9]{12}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$")


class ConfigError(ValueError):
    """A configuration file is invalid; the message names file, field, value and rule."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RemovalPolicyName(StrEnum):
    RETAIN = "retain"
    DESTROY = "destroy"


class RuntimeSettings(_Model):
    name: str = Field(description="AgentCore Runtime name, [a-zA-Z][a-zA-Z0-9_]{0,47}")
    idle_timeout_seconds: Annotated[int, Field(ge=60, le=28800)] = 900
    max_lifetime_seconds: Annotated[int, Field(ge=60, le=28800)] = 28800

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _resource_name(value)

    @model_validator(mode="after")
    def _idle_within_lifetime(self) -> RuntimeSettings:
        if self.idle_timeout_seconds > self.max_lifetime_seconds:
            raise ValueError(
                f"idle_timeout_seconds ({self.idle_timeout_seconds}) must be <= "
                f"max_lifetime_seconds ({self.max_lifetime_seconds})"
            )
        return self


class McpServerSettings(RuntimeSettings):
    # Extra headers to pass through beyond the kit's caller-context headers.
    extra_request_headers: list[str] = Field(default_factory=list)


class MemorySettings(_Model):
    name: str
    event_expiry_days: Annotated[int, Field(ge=3, le=365)] = 30

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _resource_name(value)


class IamAuth(_Model):
    mode: Literal["iam"] = "iam"


class JwtAuth(_Model):
    mode: Literal["jwt"]
    discovery_url: str
    allowed_clients: list[str] = Field(default_factory=list)
    allowed_audience: list[str] = Field(default_factory=list)

    @field_validator("discovery_url")
    @classmethod
    def _discovery_url(cls, value: str) -> str:
        if not DISCOVERY_URL.match(value):
            raise ValueError(f"must be an https URL ending in /.well-known/openid-configuration, got {value!r}")
        return value

    @model_validator(mode="after")
    def _has_client_or_audience(self) -> JwtAuth:
        if not (self.allowed_clients or self.allowed_audience):
            raise ValueError("jwt auth needs at least one of allowed_clients or allowed_audience")
        return self


class NetworkSettings(_Model):
    mode: Literal["public", "vpc"] = "public"
    vpc_id: str | None = None
    subnet_ids: list[str] = Field(default_factory=list)
    availability_zones: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _vpc_complete(self) -> NetworkSettings:
        if self.mode == "vpc":
            if not self.vpc_id or not re.match(r"^vpc-[0-9a-f]{8,17}$", self.vpc_id):
                raise ValueError(f"vpc mode needs vpc_id like 'vpc-0abc12345', got {self.vpc_id!r}")
            if not self.subnet_ids or len(self.subnet_ids) != len(self.availability_zones):
                raise ValueError("vpc mode needs subnet_ids and one availability_zones entry per subnet")
        return self


class ObservabilitySettings(_Model):
    # An existing SNS topic for alarms; without one the Stage creates an encrypted topic.
    alarm_topic_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$"
    )
    alarm_emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(default_factory=list)
    # Alarm when more than this share of finished tasks failed in 15 minutes.
    task_failure_rate_percent: Annotated[int, Field(ge=1, le=100)] = 20

    @model_validator(mode="after")
    def _one_destination(self) -> ObservabilitySettings:
        if self.alarm_topic_arn and self.alarm_emails:
            raise ValueError("set alarm_topic_arn or alarm_emails, not both (emails subscribe to the kit's own topic)")
        return self


class ImageSettings(_Model):
    # local: CDK container assets built by the deploying machine's Docker (linux/arm64).
    # codebuild: an ARM64 CodeBuild project builds and pushes each image during deploy.
    build: Literal["local", "codebuild"] = "local"


class EnvironmentConfig(_Model):
    """Everything that differs between environments."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,23}$")
    account: str | None = None
    region: str | None = None
    removal_policy: RemovalPolicyName = RemovalPolicyName.DESTROY
    termination_protection: bool = False
    log_retention_days: int = 30
    approval_required: bool = False
    # How long a handoff waits for a human before it is treated as rejected.
    approval_timeout_hours: Annotated[int, Field(ge=1, le=168)] = 24
    model_ids: list[str] = Field(min_length=1)
    memory: MemorySettings
    agent: RuntimeSettings
    mcp_server: McpServerSettings
    auth: Annotated[IamAuth | JwtAuth, Field(discriminator="mode")] = IamAuth()
    network: NetworkSettings = NetworkSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    images: ImageSettings = ImageSettings()

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not ACCOUNT.match(value):
            raise ValueError(f"must be a 12-digit AWS account id, got {value!r}")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not REGION.match(value):
            raise ValueError(f"must be an AWS region like 'us-east-1', got {value!r}")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {list(LOG_RETENTION_DAYS)}, got {value}")
        return value

    @field_validator("model_ids")
    @classmethod
    def _model_ids(cls, value: list[str]) -> list[str]:
        for model_id in value:
            if not MODEL_ID.match(model_id):
                raise ValueError(
                    f"{model_id!r} is not a Bedrock model or inference profile id "
                    "(like 'anthropic.claude-3-5-haiku-20241022-v1:0')"
                )
        return value

    @model_validator(mode="after")
    def _headers(self) -> EnvironmentConfig:
        headers = self.request_headers
        if len(headers) > MAX_ALLOWLISTED_HEADERS:
            raise ValueError(
                f"mcp_server.extra_request_headers: at most {MAX_ALLOWLISTED_HEADERS} headers in "
                f"total including the kit's {len(CONTEXT_HEADERS)}, got {len(headers)}"
            )
        seen: set[str] = set()
        for header in headers:
            if header.lower() in seen:
                raise ValueError(f"mcp_server.extra_request_headers: {header!r} is listed twice")
            seen.add(header.lower())
            if header.lower() == "authorization":
                if self.auth.mode != "jwt":
                    raise ValueError(
                        "mcp_server.extra_request_headers: 'Authorization' may be passed through "
                        "only with auth.mode 'jwt'"
                    )
            elif not header.startswith(CUSTOM_HEADER_PREFIX) or not HEADER_NAME.match(header):
                raise ValueError(
                    f"mcp_server.extra_request_headers: {header!r} must be 'Authorization' or "
                    f"start with {CUSTOM_HEADER_PREFIX!r} followed by letters, digits or '-'"
                )
            elif header == CUSTOM_HEADER_PREFIX:
                raise ValueError(f"mcp_server.extra_request_headers: {header!r} needs a name after the prefix")
        if self.account is not None and self.region is None:
            raise ValueError("account is set but region is not: set both or neither")
        return self

    @property
    def request_headers(self) -> list[str]:
        return [*CONTEXT_HEADERS, *self.mcp_server.extra_request_headers]

    @property
    def retain(self) -> bool:
        return self.removal_policy is RemovalPolicyName.RETAIN

    @property
    def stage_id(self) -> str:
        return self.name


def _resource_name(value: str) -> str:
    if not RESOURCE_NAME.match(value):
        raise ValueError(
            f"{value!r} must match [a-zA-Z][a-zA-Z0-9_]{{0,47}} "
            "(a letter, then up to 47 letters, digits or underscores; no hyphens)"
        )
    return value


def _describe(path: Path, error: ValidationError, raw: dict[str, Any]) -> str:
    lines = [f"{path}: invalid configuration"]
    for problem in describe(error):
        value = _lookup(raw, problem.loc)
        # Cross-field rules report on a whole mapping; their message names the values.
        shown = "" if value is _MISSING or isinstance(value, dict) else f" = {value!r}"
        lines.append(f"  {problem.field or '(top level)'}{shown}: {problem.message}")
    return "\n".join(lines)


_MISSING = object()


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    node = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return _MISSING
    return node


def load_file(path: Path) -> EnvironmentConfig:
    """Parse and validate one environment file; raise ConfigError naming what is wrong."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        config = EnvironmentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc, raw)) from None
    if config.name != path.stem:
        raise ConfigError(f"{path}: name = {config.name!r}: must equal the file name {path.stem!r}")
    return config


def available(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in config_dir.glob("*.yaml"))


def load_environment(name: str, config_dir: Path = CONFIG_DIR) -> EnvironmentConfig:
    path = config_dir / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown environment {name!r}: no {path}; available: {', '.join(available(config_dir))}")
    return load_file(path)


def load_all(config_dir: Path = CONFIG_DIR) -> list[EnvironmentConfig]:
    names = available(config_dir)
    if not names:
        raise ConfigError(f"no environment files (*.yaml) in {config_dir}")
    return [load_environment(name, config_dir) for name in names]
