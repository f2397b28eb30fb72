"""Example step: request a sandbox AWS account for an application.

The request is recorded in a ledger (an SSM parameter per request, which an account
vending pipeline reads) and tagged with its cost center for billing. Both calls are
real AWS APIs; compensation removes the ledger entry. The request model is the shared one
(kit_contracts.handoff), so the MCP tool refuses what this step would.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from handoff.settings import settings
from kit_contracts.handoff import KIND_SANDBOX_ACCOUNT, SandboxAccountRequest


class SandboxAccountStep:
    kind = KIND_SANDBOX_ACCOUNT
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
