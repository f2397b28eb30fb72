"""app.py: `-c env=NAME` builds one Stage, no env builds every shipped environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import build
from stacks.config import ConfigError
from tests.infra.conftest import ROOT, make_app


def test_without_env_every_environment_is_a_separate_stage(synthesized, env_names) -> None:
    assert sorted(synthesized.stages) == sorted(env_names) == ["dev", "prod", "staging"]
    for name, stage in synthesized.stages.items():
        assert [s.stack_name for s in (stage.stateful, stage.runtimes)] == [
            f"{name}-Stateful",
            f"{name}-Runtimes",
        ]


def test_env_context_builds_only_that_stage(tmp_path: Path) -> None:
    stages = build(make_app(tmp_path, env="staging"))
    assert [stage.stage_name for stage in stages] == ["staging"]


def test_build_reports_each_stage_as_it_is_built(tmp_path: Path) -> None:
    built: list[str] = []
    stages = build(make_app(tmp_path, env="dev"), stage_built=built.append)
    assert built == [stage.stage_name for stage in stages] == ["dev"]


def test_synth_notes_its_phases_for_the_benchmark(tmp_path: Path) -> None:
    """bench/synth.py reads this file: when the process started and when each phase ended."""
    timings = tmp_path / "timings.json"
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={
            **os.environ,
            "CDK_CONTEXT_JSON": json.dumps({"env": "dev"}),
            "CDK_OUTDIR": str(tmp_path / "out"),
            "KIT_SYNTH_TIMINGS": str(timings),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    recorded = json.loads(timings.read_text())
    names = [name for name, _ in recorded["marks"]]
    assert names == ["main", "app", "Stage dev", "synth"]
    times = [recorded["started"], *(at for _, at in recorded["marks"])]
    assert times == sorted(times)
    assert (tmp_path / "out" / "assembly-dev").is_dir()


def test_unknown_env_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown environment 'qa'"):
        build(make_app(tmp_path, env="qa"))


def test_environment_agnostic_unless_account_and_region_are_set(synthesized) -> None:
    for stage in synthesized.stages.values():
        assert stage.account is None and stage.region is None
