"""Synthesize every environment once per test session, the way `cdk synth` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from app import build  # noqa: E402
from stacks.config import CONFIG_DIR, load_all  # noqa: E402
from stacks.stage import KitStage  # noqa: E402


def cdk_json_context() -> dict[str, Any]:
    """pytest does not go through the CLI, so cdk.json's context must be applied by hand."""
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


def make_app(outdir: Path, **context: Any) -> cdk.App:
    return cdk.App(outdir=str(outdir), context={**cdk_json_context(), **context})


@dataclass
class Synthesized:
    stages: dict[str, KitStage]
    assembly: cdk.cx_api.CloudAssembly
    outdir: Path

    def template(self, env: str, stack: str) -> Template:
        stage = self.stages[env]
        return Template.from_stack(getattr(stage, stack))

    def template_json(self, env: str, stack: str) -> dict[str, Any]:
        return self.template(env, stack).to_json()

    def template_files(self) -> list[Path]:
        return sorted(self.outdir.glob("assembly-*/*.template.json"))


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = make_app(outdir)
    stages = {stage.stage_name: stage for stage in build(app)}
    # Raises ValidationFailed if cdk-nag finds anything unacknowledged.
    assembly = app.synth()
    return Synthesized(stages=stages, assembly=assembly, outdir=outdir)


# The example with every optional feature on (VPC, gateway, tracing, all memory strategies, manual
# promotion). Not a shipped environment: config/examples/ is not config/, so `make synth` skips it.
EXAMPLES_DIR = ROOT / "config" / "examples"
EXAMPLE = "private"


@pytest.fixture(scope="session")
def example(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """config/examples/private.yaml synthesized the way `make synth CONFIG_DIR=config/examples` does, with cdk-nag."""
    outdir = tmp_path_factory.mktemp("example.out")
    app = make_app(outdir, env=EXAMPLE, config_dir=str(EXAMPLES_DIR))
    stages = {stage.stage_name: stage for stage in build(app)}
    assembly = app.synth()  # raises ValidationFailed if cdk-nag finds anything unacknowledged
    return Synthesized(stages=stages, assembly=assembly, outdir=outdir)


@pytest.fixture(scope="session")
def codebuild_stage(tmp_path_factory: pytest.TempPathFactory) -> tuple[KitStage, Path, cdk.cx_api.CloudAssembly]:
    """dev with images.build: codebuild (no shipped environment builds on CodeBuild)."""
    config_dir = tmp_path_factory.mktemp("config")
    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
    data["images"] = {"build": "codebuild"}
    (config_dir / "dev.yaml").write_text(yaml.safe_dump(data))
    outdir = tmp_path_factory.mktemp("out")
    app = make_app(outdir, env="dev", config_dir=str(config_dir))
    (stage,) = build(app)
    assembly = app.synth()  # cdk-nag runs here too
    return stage, outdir, assembly


@pytest.fixture(scope="session")
def env_names() -> list[str]:
    return [config.name for config in load_all()]


def cfn_lint(templates: list[Path]) -> subprocess.CompletedProcess[str]:
    """cfn-lint as `make cfn-lint` runs it (W3005 is CDK's explicit DependsOn noise)."""
    executable = Path(sys.executable).parent / "cfn-lint"
    return subprocess.run(
        [str(executable), "--ignore-checks", "W3005", "--", *map(str, templates)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def synth_variant(outdir: Path, config_dir: Path, env: str, **changes: Any) -> tuple[KitStage, list[Path]]:
    """One shipped environment with some settings changed, synthesized with cdk-nag: its Stage and templates."""
    data = yaml.safe_load((CONFIG_DIR / f"{env}.yaml").read_text())
    data.update(changes)
    (config_dir / f"{env}.yaml").write_text(yaml.safe_dump(data))
    app = make_app(outdir, env=env, config_dir=str(config_dir))
    (stage,) = build(app)
    app.synth()
    return stage, sorted(outdir.glob("assembly-*/*.template.json"))
