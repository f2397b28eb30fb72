"""Every policy in every synthesized template: no wildcard actions, and Resource "*" only
where AWS offers nothing narrower (the allowlist below, each entry with its reason)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

# action -> why it may be granted on Resource "*"
RESOURCE_STAR_ALLOWLIST = {
    # X-Ray has no resource-level permissions for these calls.
    "xray:PutTraceSegments": "no resource-level permissions",
    "xray:PutTelemetryRecords": "no resource-level permissions",
    "xray:GetSamplingRules": "no resource-level permissions",
    "xray:GetSamplingTargets": "no resource-level permissions",
    # Scoped by the cloudwatch:namespace condition the L2 Runtime role adds.
    "cloudwatch:PutMetricData": "no resource-level permissions; namespace condition",
    # An account-wide token; image pulls themselves are limited to the asset repository.
    "ecr:GetAuthorizationToken": "account-level call",
    # Step Functions logging goes through CloudWatch Logs' vended log delivery, whose
    # APIs take no resource.
    "logs:CreateLogDelivery": "vended log delivery",
    "logs:GetLogDelivery": "vended log delivery",
    "logs:UpdateLogDelivery": "vended log delivery",
    "logs:DeleteLogDelivery": "vended log delivery",
    "logs:ListLogDeliveries": "vended log delivery",
    "logs:PutResourcePolicy": "vended log delivery",
    "logs:DescribeResourcePolicies": "vended log delivery",
    "logs:DescribeLogGroups": "vended log delivery",
}


def policy_documents(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield logical_id, kind, props["PolicyDocument"]
        elif kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield logical_id, kind, policy["PolicyDocument"]
        elif kind == "AWS::KMS::Key":
            yield logical_id, kind, props["KeyPolicy"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_wildcard_actions_and_resource_star_only_where_allowlisted(synthesized) -> None:
    problems: list[str] = []
    checked = 0
    for path in synthesized.template_files():
        template = json.loads(path.read_text())
        for logical_id, kind, document in policy_documents(template):
            for statement in document["Statement"]:
                checked += 1
                where = f"{path.name}:{logical_id}"
                actions = as_list(statement.get("Action", []))
                for action in actions:
                    if action == "*" or action.endswith(":*"):
                        problems.append(f"{where}: wildcard action {action}")
                if "*" not in as_list(statement.get("Resource", [])):
                    continue
                if kind == "AWS::KMS::Key":
                    continue  # in a key policy "*" is the key itself
                for action in actions:
                    if action not in RESOURCE_STAR_ALLOWLIST:
                        problems.append(f"{where}: {action} on Resource '*'")
    assert checked > 0
    assert problems == []


def test_the_scan_catches_a_wildcard(synthesized) -> None:
    template = {
        "Resources": {
            "P": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
                },
            }
        }
    }
    ((_, _, document),) = policy_documents(template)
    assert as_list(document["Statement"][0]["Action"])[0].endswith(":*")
