"""The GitHub Actions workflow a fork uses runs what .ci/run runs, and deploys with OIDC only."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())


def run_lines(job: str) -> list[str]:
    return [step["run"] for step in WORKFLOW["jobs"][job]["steps"] if "run" in step]


def test_the_test_job_runs_the_same_make_targets_as_ci_run() -> None:
    ci_run = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert ci_run == ["make synth", "make test"]
    runs = run_lines("test")
    for target in ci_run:
        assert target in runs
    assert "make cfn-lint" in runs


def test_deploy_uses_oidc_and_no_stored_keys() -> None:
    deploy = WORKFLOW["jobs"]["deploy"]
    assert deploy["permissions"]["id-token"] == "write"
    assert deploy["needs"] == "test"
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert not re.search(r"aws-access-key-id|aws-secret-access-key|AWS_SECRET", text, re.IGNORECASE)
    configure = next(
        s for s in deploy["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials")
    )
    assert set(configure["with"]) == {"role-to-assume", "aws-region"}
    assert any(r.startswith("make deploy ENV=${{ matrix.env }}") for r in run_lines("deploy"))
