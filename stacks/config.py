"""Typed, validated per-environment configuration.

One YAML file per environment under ``config/``. ``app.py`` is the only caller of
``load_environment``/``load_all``; constructs receive plain typed values.
"""

from __future__ import annotations

import difflib
import itertools
import re
import types
import typing
from collections.abc import Iterator
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from kit_contracts.context import AUTHORIZATION_HEADER, CONTEXT_HEADERS, CUSTOM_HEADER_PREFIX
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
# Where a cross-region (system-defined) inference profile may route a request, by its geography
# prefix: the union of the destination Regions AWS documents for that geography (a profile of
# one model may use fewer). Sources, read 2026-11-30: the Bedrock user guide pages "Supported
# Regions and models for inference profiles" (inference-profiles-support), "Geographic
# cross-Region inference" and "Cross Region support required for Bedrock Data Automation"
# (bda-cris: us.* -> us-east-1/2, us-west-1/2; eu.* -> eu-central-1, eu-north-1, eu-south-1/2,
# eu-west-1/3), and the region lists AWS publishes with aws-cdk-lib 2.275's
# CrossRegionInferenceProfileRegion (aws-bedrock-alpha). The per-model tables now live on each
# model's card; check a profile with `aws bedrock get-inference-profile` (its `models` field
# lists every destination) and set `model_regions` where it differs. `ca.` is the one entry
# not confirmed on an AWS page (seen only in third-party code): check it before relying on it;
# a Region missing here fails closed (AccessDenied when the profile routes there).
# `global.` profiles route to any commercial Region and have no entry: see model_regions.
PROFILE_REGIONS: dict[str, tuple[str, ...]] = {
    "us.": ("us-east-1", "us-east-2", "us-west-1", "us-west-2"),
    "us-gov.": ("us-gov-east-1", "us-gov-west-1"),
    "eu.": (
        "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
        "eu-west-1", "eu-west-2", "eu-west-3",
    ),
    "apac.": (
        "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
        "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
        "ap-southeast-5", "ap-southeast-7", "me-central-1",
    ),
    "jp.": ("ap-northeast-1", "ap-northeast-3"),
    "au.": ("ap-southeast-2", "ap-southeast-4"),
    "ca.": ("ca-central-1", "ca-west-1"),
}  # fmt: skip
GLOBAL_PROFILE_PREFIX = "global."
# Inference profiles carry a geography prefix in front of the model id.
INFERENCE_PROFILE_PREFIXES = (*PROFILE_REGIONS, GLOBAL_PROFILE_PREFIX)
ACCOUNT = re.compile(r"^[0-9]{12}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$")
# A JWT claim name the MCP server and the agent read the actor id from.
CLAIM_NAME = r"^[A-Za-z0-9_:.\-/]{1,128}$"
# Every other log group the kit creates is named under this prefix (see log_group_prefix):
# the kit key lets CloudWatch Logs use it for these names and the runtimes' own groups only.
LOG_GROUP_ROOT = "/agent-kit"
# EC2 resource ids: a prefix and 8 (older resources) or 17 lowercase hex digits.
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$")
SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$")
# AgentCore reserves DEFAULT for the endpoint that always follows the newest version.
RESERVED_ENDPOINT = "DEFAULT"
# A runtime endpoint's name (CloudFormation AWS::BedrockAgentCore::RuntimeEndpoint Name); the
# candidate endpoint appends CANDIDATE_SUFFIX, so the configured name leaves room for it.
CANDIDATE_SUFFIX = "_candidate"
ENDPOINT_NAME = re.compile(rf"^[a-zA-Z][a-zA-Z0-9_]{{0,{47 - len(CANDIDATE_SUFFIX)}}}$")


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


class AgentSettings(RuntimeSettings):
    # The total size of finished task results the agent puts into its model context per turn.
    results_context_chars: Annotated[int, Field(ge=1000, le=200_000)] = 12_000
    # The largest /invocations body the agent accepts; larger requests are refused with 413.
    max_request_bytes: Annotated[int, Field(ge=1024, le=10_485_760)] = 262_144
    # The total size of long-term memory records (facts, preferences, summaries) the agent puts
    # into its model context per turn; 0 leaves them out.
    long_term_context_chars: Annotated[int, Field(ge=0, le=100_000)] = 4_000


class McpServerSettings(RuntimeSettings):
    # Extra headers to pass through beyond the kit's caller-context headers (and, with JWT
    # auth, Authorization, which the kit adds itself).
    extra_request_headers: list[str] = Field(default_factory=list)


class QuotaSettings(_Model):
    """Per-actor limits the MCP server enforces, so one caller cannot exhaust the environment."""

    # Durable tasks one actor may have working or waiting for input at once.
    running_tasks: Annotated[int, Field(ge=1, le=1000)] = 20
    # Tasks one actor may start in any one minute.
    tasks_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 30
    # Bytes of task results one actor may store per day (results go to memory and the table).
    result_bytes_per_day: Annotated[int, Field(ge=1024, le=10_737_418_240)] = 104_857_600


class ResultsSettings(_Model):
    """The bucket that holds task results too large for a task-table item."""

    # Days an object stays. A task (and its pointer to the object) lives at most the MCP server's
    # TASK_MAX_TTL_SECONDS, 7 days in every shipped environment (the stack does not set it): the
    # default keeps each object a day longer than the longest-lived task that can name it.
    expire_days: Annotated[int, Field(ge=1, le=365)] = 8


class SweeperSettings(_Model):
    """The scheduled sweeper that notices lost work when no MCP session is alive."""

    # How often it runs; the lost-work alarm's threshold follows from it.
    schedule_minutes: Annotated[int, Field(ge=1, le=60)] = 1


MemoryStrategyName = Literal["semantic", "user_preference", "summary"]


class MemorySettings(_Model):
    name: str = Field(description="AgentCore Memory name, [a-zA-Z][a-zA-Z0-9_]{0,47}")
    event_expiry_days: Annotated[int, Field(ge=3, le=365)] = 30
    # Long-term memory: the built-in strategies that extract records from events, each into a
    # per-actor namespace (stacks/constructs/memory.py). Empty: short-term memory only.
    strategies: list[MemoryStrategyName] = Field(default_factory=list)

    @field_validator("strategies")
    @classmethod
    def _strategies_once(cls, value: list[MemoryStrategyName]) -> list[MemoryStrategyName]:
        if len(set(value)) != len(value):
            raise ValueError(f"lists a strategy twice: {value}")
        return value

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
    # The claim of the validated token that holds the actor id (the MCP server and the agent read it).
    actor_id_claim: str = "sub"

    @field_validator("discovery_url")
    @classmethod
    def _discovery_url(cls, value: str) -> str:
        if not DISCOVERY_URL.match(value):
            raise ValueError(f"must be an https URL ending in /.well-known/openid-configuration, got {value!r}")
        return value

    @field_validator("actor_id_claim")
    @classmethod
    def _actor_id_claim(cls, value: str) -> str:
        if not re.match(CLAIM_NAME, value):
            raise ValueError(f"must be a JWT claim name of 1 to 128 letters, digits or any of _ : . - /, got {value!r}")
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
    # Security groups for the runtimes' network interfaces; none: the L2 creates one per Stage
    # that allows all outbound traffic and no inbound.
    security_group_ids: list[str] = Field(default_factory=list, max_length=16)

    @field_validator("subnet_ids")
    @classmethod
    def _subnet_ids(cls, value: list[str]) -> list[str]:
        return _ec2_ids(value, SUBNET_ID, "subnet-0abc1234def567890")

    @field_validator("security_group_ids")
    @classmethod
    def _security_group_ids(cls, value: list[str]) -> list[str]:
        return _ec2_ids(value, SECURITY_GROUP_ID, "sg-0abc1234def567890")

    @model_validator(mode="after")
    def _public_takes_no_ids(self) -> NetworkSettings:
        if self.mode == "public" and (self.vpc_id or self.subnet_ids or self.security_group_ids):
            raise ValueError(
                "mode 'public' takes no vpc_id, subnet_ids or security_group_ids: set mode 'vpc' or remove them"
            )
        return self

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
    # OpenTelemetry traces from both runtimes (ADOT in the images, the platform's spans delivered
    # to X-Ray). Needs CloudWatch Transaction Search, once per account (docs/deploying.md).
    tracing: bool = False
    # X-Ray admits trace delivery by one resource policy per account and Region, and allows few:
    # "create" makes it in this Stage (one environment per account and Region), "existing"
    # relies on the one another environment (or you) created.
    trace_delivery_policy: Literal["create", "existing"] = "create"

    @model_validator(mode="after")
    def _one_destination(self) -> ObservabilitySettings:
        if self.alarm_topic_arn and self.alarm_emails:
            raise ValueError("set alarm_topic_arn or alarm_emails, not both (emails subscribe to the kit's own topic)")
        return self


class ImageSettings(_Model):
    # local: CDK container assets built by the deploying machine's Docker (linux/arm64).
    # codebuild: an ARM64 CodeBuild project builds and pushes each image during deploy.
    build: Literal["local", "codebuild"] = "local"


class ReleaseSettings(_Model):
    """How a new runtime version reaches callers: through a named endpoint per runtime."""

    # The endpoint callers use (the agent reaches the MCP server through it too).
    endpoint: str = "live"
    # on_deploy: the endpoint follows each deployed version. manual: it stays until
    # `python -m stacks.release promote` smoke-tests the new version and moves it.
    promotion: Literal["on_deploy", "manual"] = "on_deploy"

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if value.upper() == RESERVED_ENDPOINT:
            raise ValueError(f"{value!r} is AgentCore's own endpoint, which always serves the newest version")
        if not ENDPOINT_NAME.match(value):
            raise ValueError(
                f"{value!r} must match {ENDPOINT_NAME.pattern} (a letter, then letters, digits or "
                f"underscores; short enough to append {CANDIDATE_SUFFIX!r})"
            )
        return value

    @property
    def candidate_endpoint(self) -> str:
        """manual promotion: the endpoint that serves the newest version before it is promoted."""
        return f"{self.endpoint}{CANDIDATE_SUFFIX}"


class GatewaySettings(_Model):
    """An AgentCore Gateway in front of the MCP runtime, for MCP clients other than the agent."""

    enabled: bool = False


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
    # Whether the requesting actor may approve their own handoff (checked by `handoff.approve`).
    approval_allow_self: bool = False
    model_ids: list[str] = Field(min_length=1)
    memory: MemorySettings
    agent: AgentSettings
    mcp_server: McpServerSettings
    auth: Annotated[IamAuth | JwtAuth, Field(discriminator="mode")] = IamAuth()
    network: NetworkSettings = NetworkSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    images: ImageSettings = ImageSettings()
    quotas: QuotaSettings = QuotaSettings()
    results: ResultsSettings = ResultsSettings()
    sweeper: SweeperSettings = SweeperSettings()
    release: ReleaseSettings = ReleaseSettings()
    gateway: GatewaySettings = GatewaySettings()
    # The Regions the inference profiles in model_ids may route to; bedrock:InvokeModel on the
    # foundation models is granted there (and in the stack's own Region) only. Unset: derived
    # from each profile's geography prefix (PROFILE_REGIONS); a global. profile then keeps "*".
    model_regions: list[str] | None = Field(default=None, min_length=1)

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

    @field_validator("model_regions")
    @classmethod
    def _model_regions(cls, value: list[str] | None) -> list[str] | None:
        for region in value or ():
            if not REGION.match(region):
                raise ValueError(f"{region!r} is not an AWS region like 'us-east-1'")
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"lists a region twice: {value}")
        return value

    @model_validator(mode="after")
    def _headers(self) -> EnvironmentConfig:
        headers = self.request_headers
        kit_headers = len(headers) - len(self.mcp_server.extra_request_headers)
        if len(headers) > MAX_ALLOWLISTED_HEADERS:
            raise ValueError(
                f"mcp_server.extra_request_headers: at most {MAX_ALLOWLISTED_HEADERS} headers in "
                f"total including the kit's {kit_headers}, got {len(headers)}"
            )
        seen = {header.lower() for header in CONTEXT_HEADERS}
        for header in self.mcp_server.extra_request_headers:
            if header.lower() in seen:
                raise ValueError(f"mcp_server.extra_request_headers: {header!r} is listed twice")
            seen.add(header.lower())
            if header.lower() == AUTHORIZATION_HEADER.lower():
                raise ValueError(
                    "mcp_server.extra_request_headers: 'Authorization' is not an extra header: "
                    "with auth.mode 'jwt' the kit passes it through already, and with 'iam' "
                    "there is no bearer token to pass"
                )
            elif not header.startswith(CUSTOM_HEADER_PREFIX) or not HEADER_NAME.match(header):
                raise ValueError(
                    f"mcp_server.extra_request_headers: {header!r} must start with "
                    f"{CUSTOM_HEADER_PREFIX!r} followed by letters, digits or '-'"
                )
            elif header == CUSTOM_HEADER_PREFIX:
                raise ValueError(f"mcp_server.extra_request_headers: {header!r} needs a name after the prefix")
        if self.account is not None and self.region is None:
            raise ValueError("account is set but region is not: set both or neither")
        return self

    @model_validator(mode="after")
    def _gateway_keeps_the_caller(self) -> EnvironmentConfig:
        # The gateway forwards the caller's own token to the MCP runtime; without JWT auth there
        # is no token, and every caller would reach the server as the gateway.
        if self.gateway.enabled and not isinstance(self.auth, JwtAuth):
            raise ValueError(
                "gateway.enabled needs auth.mode 'jwt': the gateway passes the caller's token through to "
                "the MCP runtime, which takes the actor from it (docs/security.md#the-gateway)"
            )
        return self

    @property
    def request_headers(self) -> list[str]:
        """The MCP runtime's header allowlist: the caller context, with JWT auth the caller's
        token (the server reads the actor claim from it), then the configured extras."""
        token = [AUTHORIZATION_HEADER] if isinstance(self.auth, JwtAuth) else []
        return [*CONTEXT_HEADERS, *token, *self.mcp_server.extra_request_headers]

    def model_regions_for(self, model_id: str) -> tuple[str, ...] | None:
        """Regions a model id's requests may be served in, beyond the stack's own; None: any."""
        if not model_id.startswith(INFERENCE_PROFILE_PREFIXES):
            return ()  # a foundation model id: the stack's own Region only
        if self.model_regions is not None:
            return tuple(self.model_regions)
        return next((regions for p, regions in PROFILE_REGIONS.items() if model_id.startswith(p)), None)

    @property
    def log_group_prefix(self) -> str:
        """Where every log group the kit creates (other than the runtimes' own) is named."""
        return f"{LOG_GROUP_ROOT}/{self.name}"

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


def _ec2_ids(values: list[str], pattern: re.Pattern[str], example: str) -> list[str]:
    prefix = example.split("-", 1)[0]
    for value in values:
        if not pattern.match(value):
            raise ValueError(
                f"{value!r} is not a {prefix} id: expected '{prefix}-' and 8 or 17 lowercase hex digits, "
                f"like {example!r}"
            )
    if len(set(values)) != len(values):
        raise ValueError(f"lists an id twice: {values}")
    return values


def _yaml(value: Any) -> str:
    """A value as the file would spell it: true, null, [a, b], a string quoted only where YAML needs it."""
    if isinstance(value, Enum):
        value = value.value
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True, sort_keys=False)
    return text.removesuffix("\n...\n").strip()


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The settings models a field may hold: one, several (a discriminated union such as auth), or none."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]
    return [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []


def _tags(model: type[BaseModel], discriminator: Any) -> tuple[Any, ...]:
    field = model.model_fields.get(discriminator) if isinstance(discriminator, str) else None
    return typing.get_args(field.annotation) if field is not None else ()


def _walk(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], type[BaseModel] | None]:
    """A problem's location as the file spells it, and the settings model that holds its last key.

    pydantic puts a discriminated union's tag in the location (`auth.jwt.discovery_url`), a key
    no file has: it is dropped, so the message and the value lookup use `auth.discovery_url`.
    """
    model: type[BaseModel] | None = EnvironmentConfig
    holder: type[BaseModel] | None = None
    path: list[Any] = []
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        path.append(part)
        holder = model
        info = model.model_fields.get(part) if model is not None and isinstance(part, str) else None
        candidates = _models_in(info.annotation) if info is not None else []
        discriminator = info.discriminator if info is not None else None
        if len(candidates) > 1 and parts:
            model = next((c for c in candidates if parts[0] in _tags(c, discriminator)), None)
            if model is not None:
                parts.pop(0)
        else:
            model = candidates[0] if len(candidates) == 1 else None
    return tuple(path), holder


def _field_hint(name: str, info: FieldInfo) -> str:
    if info.is_required():
        return f"{name} ({info.description})" if info.description else name
    default = info.get_default(call_default_factory=True)
    return f"{name} (optional)" if isinstance(default, BaseModel) else f"{name} (optional, default {_yaml(default)})"


def _requirement(key: Any, holder: type[BaseModel] | None) -> str:
    """What a missing (or empty) setting needs: a section's fields, each required or with its default."""
    info = holder.model_fields.get(key) if holder is not None and isinstance(key, str) else None
    if info is None:
        return ""
    models = _models_in(info.annotation)
    if len(models) == 1:
        return ": give " + ", ".join(_field_hint(n, f) for n, f in models[0].model_fields.items())
    return f" ({info.description})" if info.description else ""


def _suggestion(key: Any, holder: type[BaseModel] | None, section: str) -> str:
    """For an unknown key: the nearest name at its level, the section that has it, or every name there."""
    if holder is None:
        return ""
    names = list(holder.model_fields)
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]}?"
    elsewhere = [
        f"{section}.{key}"
        for section, info in EnvironmentConfig.model_fields.items()
        for model in _models_in(info.annotation)[:1]
        if key in model.model_fields and model is not holder
    ]
    if elsewhere:
        return f"; did you mean {elsewhere[0]}?"
    return f"; the settings {f'of {section}' if section else 'at the top level'} are {', '.join(names)}"


def _describe(path: Path, error: ValidationError, raw: dict[str, Any]) -> str:
    lines = [f"{path}: invalid configuration"]
    for problem in describe(error):
        where, holder = _walk(problem.loc)
        field = ".".join(str(part) for part in where) or "(top level)"
        value = _lookup(raw, where)
        if problem.kind == "missing" or (problem.kind == "model_type" and value is None):
            state = "is required" if problem.kind == "missing" else "is empty"
            lines.append(f"  {field} {state}{_requirement(where[-1], holder)}")
            continue
        # Cross-field rules report on a whole mapping; their message names the values.
        shown = "" if value is _MISSING or isinstance(value, dict) else f" = {_yaml(value)}"
        message = problem.message
        if problem.kind == "extra_forbidden":
            message += _suggestion(where[-1], holder, ".".join(str(part) for part in where[:-1]))
        lines.append(f"  {field}{shown}: {message}")
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
        raise ConfigError(f"{path}: name = {_yaml(config.name)}: must equal the file name {path.stem!r}")
    for (kind, name, first), (other_kind, other_name, second) in itertools.combinations(_named_resources(config), 2):
        if (kind, name) == (other_kind, other_name):
            raise ConfigError(f"{path}: {first} and {second} are both {_yaml(name)}: each {kind} needs its own name")
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
    loaded = {config_dir / f"{name}.yaml": load_environment(name, config_dir) for name in names}
    _names_unique_per_place(loaded)
    return list(loaded.values())


# The settings that name an AWS resource outright, with the kind of resource (its names are unique
# per account and Region). Everything else the kit creates is named by CloudFormation or under the
# environment's name, which is its file's and so unique. A new setting that names a resource
# belongs here.
NAMED_RESOURCES = (
    ("AgentCore Runtime", "agent.name"),
    ("AgentCore Runtime", "mcp_server.name"),
    ("AgentCore Memory", "memory.name"),
)


def _named_resources(config: EnvironmentConfig) -> Iterator[tuple[str, str, str]]:
    """(kind, name, setting) for each resource the environment names."""
    for kind, setting in NAMED_RESOURCES:
        value: Any = config
        for part in setting.split("."):
            value = getattr(value, part)
        yield kind, str(value), setting


def _may_share_place(a: EnvironmentConfig, b: EnvironmentConfig) -> bool:
    # An unpinned account or region deploys wherever the CLI's credentials point: it may be the other's.
    return all(x is None or y is None or x == y for x, y in ((a.account, b.account), (a.region, b.region)))


def _place(config: EnvironmentConfig) -> str:
    if config.account is not None:
        return f"account {config.account} in {config.region}"
    if config.region is not None:
        return f"{config.region}, account not pinned"
    return "account and region not pinned"


def _names_unique_per_place(loaded: dict[Path, EnvironmentConfig]) -> None:
    """Synth fails when two environments would create one named resource in the same account and Region."""
    clashes = []
    for (path_a, a), (path_b, b) in itertools.combinations(loaded.items(), 2):
        if not _may_share_place(a, b):
            continue
        for kind, name, setting_a in _named_resources(a):
            for other_kind, other_name, setting_b in _named_resources(b):
                if (kind, name) == (other_kind, other_name):
                    clashes.append(
                        f"  {kind} {_yaml(name)}: {path_a} ({setting_a}; {_place(a)}) and "
                        f"{path_b} ({setting_b}; {_place(b)})"
                    )
    if clashes:
        raise ConfigError(
            "two environments would create the same named resource in one account and Region\n"
            + "\n".join(clashes)
            + "\n  An environment without account and region pinned is environment-agnostic: it deploys"
            " wherever the CLI's credentials point, so it is treated as sharing any other environment's"
            " account and Region. Give each environment its own names (kit_<env>_...), or pin both to"
            " different accounts or Regions."
        )
