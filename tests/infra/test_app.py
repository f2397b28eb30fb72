"""app.py: `-c env=NAME` builds one Stage, no env builds every shipped environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import build
from stacks.config import ConfigError
from tests.infra.conftest import make_app


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


def test_unknown_env_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown environment 'qa'"):
        build(make_app(tmp_path, env="qa"))


def test_environment_agnostic_unless_account_and_region_are_set(synthesized) -> None:
    for stage in synthesized.stages.values():
        assert stage.account is None and stage.region is None
