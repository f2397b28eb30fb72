"""docs/security.md's IAM matrix names every action the kit grants (beyond the platform's own)."""

from __future__ import annotations

import json
import re
from pathlib import Path

DOC = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
PLATFORM = re.compile(r"^(logs|xray|ecr|cloudwatch|s3|codebuild|sts):|^bedrock-agentcore:GetWorkloadAccessToken")


def documented(action: str) -> bool:
    service, name = action.split(":", 1)
    # The matrix abbreviates a run of actions of one service after its first, e.g.
    # "`dynamodb:GetItem`, `PutItem`".
    return f"`{action}`" in DOC or (f"`{service}:" in DOC and f"`{name}`" in DOC)


def test_every_granted_action_is_in_the_iam_matrix(synthesized) -> None:
    missing: set[str] = set()
    for path in synthesized.template_files():
        for resource in json.loads(path.read_text())["Resources"].values():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                missing.update(a for a in actions if not PLATFORM.match(a) and not documented(a))
    assert sorted(missing) == []


def test_the_check_notices_an_undocumented_action() -> None:
    assert not documented("sqs:PurgeQueue")
    assert documented("dynamodb:Query") and documented("ssm:DeleteParameter")
