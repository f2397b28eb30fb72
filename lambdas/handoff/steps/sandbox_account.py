"""Example step: request a sandbox AWS account for an application.

The request is recorded in a ledger (an SSM parameter per request, which an account
vending pipeline reads) and tagged with its cost center for billing. Both calls are
real AWS APIs; compensation removes the ledger entry.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from handoff.settings import settings

REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"


class SandboxAccountRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    application_name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{2,39}$",
        description="lower-case letters, digits and '-', 3..40 characters, starting with a letter",
    )
    region: str = Field(pattern=REGION_PATTERN, description="AWS region like 'eu-west-1'")
    cost_center: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,19}$", description="like 'CC-1234'")


class SandboxAccountStep:
    kind = "sandbox_account"
    request_model = SandboxAccountRequest

    def describe(self, request: SandboxAccountRequest) -> str:
        return (
            f"sandbox account for '{request.application_name}' in {request.region} (cost center {request.cost_center})"
        )

    def parameter_name(self, idempotency_key: str) -> str:
        return f"{settings().ledger_prefix}/sandbox-requests/{idempotency_key}"

    def execute(self, idempotency_key: str, request: SandboxAccountRequest) -> dict[str, Any]:
        ssm = boto3.client("ssm", region_name=settings().region)
        name = self.parameter_name(idempotency_key)
        value = json.dumps(request.model_dump(), sort_keys=True)
        try:
            version = ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=False)["Version"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ParameterAlreadyExists":
                raise
            existing = ssm.get_parameter(Name=name)["Parameter"]
            if existing["Value"] != value:
                raise RuntimeError(f"ledger entry {name} exists with a different request") from None
            version = existing["Version"]
        ssm.add_tags_to_resource(
            ResourceType="Parameter",
            ResourceId=name,
            Tags=[{"Key": "cost-center", "Value": request.cost_center}],
        )
        return {"ledger_parameter": name, "version": version}

    def compensate(self, idempotency_key: str, request: SandboxAccountRequest) -> dict[str, Any]:
        ssm = boto3.client("ssm", region_name=settings().region)
        name = self.parameter_name(idempotency_key)
        try:
            ssm.delete_parameter(Name=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ParameterNotFound":
                raise
            return {"ledger_parameter": name, "removed": False}
        return {"ledger_parameter": name, "removed": True}
