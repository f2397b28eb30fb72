"""Every policy in every synthesized template (the shipped environments, and dev built on
CodeBuild): no wildcard in any action (`*`, `s3:*`, a prefix such as `kms:Create*`, or `?`) outside
a commented allowlist, and Resource "*" only where AWS offers nothing narrower."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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

# (action, a substring of the policy's logical id) -> why that construct's wildcard stays.
# Only for grants a CDK construct makes that the kit cannot name itself; each entry is
# limited to the one policy it concerns.
WILDCARD_ACTION_ALLOWLIST = {
    # codebuild mode: codebuild.Source.s3 grants the project role read on the CDK-bootstrapped
    # assets bucket it is given (Bucket.grantRead, an imported bucket the kit does not own), on
    # the one source object's key. Replacing it would mean re-implementing the L2's source binding.
    ("s3:GetObject*", "ImageBuildRoleDefaultPolicy"): "CDK asset bucket read, one object",
    ("s3:GetBucket*", "ImageBuildRoleDefaultPolicy"): "CDK asset bucket read, one object",
    ("s3:List*", "ImageBuildRoleDefaultPolicy"): "CDK asset bucket read, one object",
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


def wildcard_allowed(action: str, logical_id: str) -> bool:
    return any(action == allowed and where in logical_id for allowed, where in WILDCARD_ACTION_ALLOWLIST)


def scan(paths: list[Path]) -> tuple[int, list[str]]:
    """(statements checked, problems found) over the templates at `paths`."""
    problems: list[str] = []
    checked = 0
    for path in paths:
        template = json.loads(path.read_text())
        for logical_id, kind, document in policy_documents(template):
            for statement in document["Statement"]:
                checked += 1
                where = f"{path.name}:{logical_id}"
                actions = as_list(statement.get("Action", []))
                if "NotAction" in statement:
                    problems.append(f"{where}: NotAction grants everything it does not name")
                for action in actions:
                    if ("*" in action or "?" in action) and not wildcard_allowed(action, logical_id):
                        problems.append(f"{where}: wildcard action {action}")
                if "*" not in as_list(statement.get("Resource", [])):
                    continue
                if kind == "AWS::KMS::Key":
                    continue  # in a key policy "*" is the key itself
                for action in actions:
                    if action not in RESOURCE_STAR_ALLOWLIST:
                        problems.append(f"{where}: {action} on Resource '*'")
    return checked, problems


def test_no_wildcard_actions_and_resource_star_only_where_allowlisted(synthesized) -> None:
    checked, problems = scan(synthesized.template_files())
    assert checked > 0
    assert problems == []


def test_codebuild_mode_has_none_either(codebuild_stage) -> None:
    _, outdir, _ = codebuild_stage
    checked, problems = scan(sorted(outdir.glob("assembly-*/*.template.json")))
    assert checked > 0
    assert problems == []


def test_every_allowlisted_wildcard_is_still_granted(codebuild_stage) -> None:
    """An allowlist entry that no template needs any more is removed, not kept "just in case"."""
    _, outdir, _ = codebuild_stage
    found = set()
    for path in sorted(outdir.glob("assembly-*/*.template.json")):
        for logical_id, _, document in policy_documents(json.loads(path.read_text())):
            for statement in document["Statement"]:
                for action in as_list(statement.get("Action", [])):
                    found.update((a, w) for a, w in WILDCARD_ACTION_ALLOWLIST if a == action and w in logical_id)
    assert found == set(WILDCARD_ACTION_ALLOWLIST)


@pytest.mark.parametrize("action", ["*", "s3:*", "kms:Create*", "s3:Get*", "kms:*Key", "logs:Put?"])
def test_the_scan_catches_every_kind_of_wildcard(tmp_path: Path, action: str) -> None:
    template = {
        "Resources": {
            "P": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [{"Effect": "Allow", "Action": action, "Resource": "arn:aws:s3:::b/k"}]
                    }
                },
            }
        }
    }
    path = tmp_path / "t.template.json"
    path.write_text(json.dumps(template))
    _, problems = scan([path])
    assert problems, action
