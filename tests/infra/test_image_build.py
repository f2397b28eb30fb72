"""images.build: codebuild — each image is built on ARM64 CodeBuild during deploy, pushed with
an immutable tag, and the runtime waits for it. Synth stays offline and needs no Docker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from stacks.constructs.image_build import CodeBuildImage
from stacks.constructs.runtime import IMAGES_DIR
from tests.infra.test_assets import assert_carries_contracts, staged_directories

# The `codebuild_stage` fixture (dev with images.build: codebuild) is in conftest.py; the IAM
# scan covers its templates too.


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_no_docker_image_assets_are_left_for_the_deploying_machine(codebuild_stage) -> None:
    _, outdir, _ = codebuild_stage
    manifests = list(outdir.glob("assembly-dev/*.assets.json"))
    assert manifests
    for manifest in manifests:
        assert json.loads(manifest.read_text()).get("dockerImages", {}) == {}


def test_image_sources_carry_kit_contracts_as_files(codebuild_stage) -> None:
    _, outdir, _ = codebuild_stage
    images, zipped = staged_directories(outdir)
    assert images == [] and len(zipped) == 4  # both image sources, the handoff code and the sweeper code
    for directory in zipped:
        assert_carries_contracts(directory)


def test_runtimes_use_the_pushed_image_and_wait_for_its_build(codebuild_stage) -> None:
    stage, _, _ = codebuild_stage
    template = Template.from_stack(stage.runtimes).to_json()
    conditions = of_type(template, "AWS::CloudFormation::WaitCondition")
    assert len(conditions) == 2
    for name, runtime in of_type(template, "AWS::BedrockAgentCore::Runtime").items():
        uri = json.dumps(runtime["Properties"]["AgentRuntimeArtifact"]["ContainerConfiguration"]["ContainerUri"])
        image = "Agent" if name.startswith("Agent") else "McpServer"
        assert f"{image}ImageRepository" in uri
        depends = runtime.get("DependsOn", [])
        assert any(d.startswith(f"{image}ImageBuilt") for d in depends), depends
        assert (
            conditions[next(d for d in depends if d.startswith(f"{image}ImageBuilt"))]["Properties"]["Timeout"]
            == "1800"
        )


def test_repositories_are_immutable_scanned_and_encrypted(codebuild_stage) -> None:
    stage, _, _ = codebuild_stage
    for repo in of_type(Template.from_stack(stage.runtimes).to_json(), "AWS::ECR::Repository").values():
        props = repo["Properties"]
        assert props["ImageTagMutability"] == "IMMUTABLE"
        assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
        assert props["EncryptionConfiguration"]["EncryptionType"] == "KMS"


def test_builds_run_on_arm64_and_signal_the_wait_condition(codebuild_stage) -> None:
    stage, _, _ = codebuild_stage
    template = Template.from_stack(stage.runtimes).to_json()
    projects = of_type(template, "AWS::CodeBuild::Project")
    assert len(projects) == 2
    for project in projects.values():
        props = project["Properties"]
        assert props["Environment"]["Type"] == "ARM_CONTAINER" and props["Environment"]["PrivilegedMode"] is True
        phases = json.loads(props["Source"]["BuildSpec"])["phases"]
        build_commands = " ".join(phases["build"]["commands"])
        assert 'docker build --platform linux/arm64 -t "$REPOSITORY_URI:$IMAGE_TAG"' in build_commands
        assert 'docker push "$REPOSITORY_URI:$IMAGE_TAG"' in build_commands
        signal = " ".join(phases["post_build"]["commands"])
        assert '"$WAIT_URL"' in signal and "CODEBUILD_BUILD_SUCCEEDING" in signal
    starts = of_type(template, "Custom::AWS")
    assert len(starts) == 2
    for start in starts.values():
        create = json.dumps(start["Properties"]["Create"])
        assert "startBuild" in create and "IMAGE_TAG" in create and "WAIT_URL" in create


def image_tag(directory: Path, tmp_path: Path) -> str:
    cdk.AssetStaging.clear_asset_hash_cache()
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path / "o")), "S")
    key = cdk.aws_kms.Key(stack, "K")
    return CodeBuildImage(
        stack,
        "I",
        directory=directory,
        encryption_key=key,
        log_group_name="/agent-kit/test/image-build/agent",
        log_retention=cdk.aws_logs.RetentionDays.ONE_WEEK,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    ).tag


def test_the_tag_follows_image_inputs_only(tmp_path: Path) -> None:
    copy = tmp_path / "agent"
    shutil.copytree(IMAGES_DIR / "agent", copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = image_tag(copy, tmp_path)
    (copy / "notes.md").write_text("not an image input")
    assert image_tag(copy, tmp_path) == before
    (copy / "agent" / "app.py").write_text((copy / "agent" / "app.py").read_text() + "\n# changed\n")
    assert image_tag(copy, tmp_path) != before
