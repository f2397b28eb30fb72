"""Deployables: images built for linux/arm64 and hashed only on real image inputs; every image
and the Lambdas' code (handoff, sweeper) carry kit_contracts as files, not as the repository's symlinks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ecr_assets as ecr_assets

from stacks.constructs.runtime import IMAGES_DIR

CONTRACT = IMAGES_DIR.parent / "kit_contracts" / "handoff.py"


def test_every_image_asset_targets_linux_arm64(synthesized) -> None:
    manifests = sorted(synthesized.outdir.glob("assembly-*/*.assets.json"))
    images = [
        (m.parent, image) for m in manifests for image in json.loads(m.read_text()).get("dockerImages", {}).values()
    ]
    assert len(images) == 2 * len(synthesized.stages)
    assert {image["source"]["platform"] for _, image in images} == {"linux/arm64"}
    directories = {(base / image["source"]["directory"]).resolve() for base, image in images}
    assert {(d / "Dockerfile").is_file() for d in directories} == {True}


def staged_directories(outdir: Path) -> tuple[list[Path], list[Path]]:
    """(image build contexts, the kit's zipped directories) of every Stage's manifests.

    The kit's zipped directories are image sources (with a Dockerfile), the handoff Lambdas'
    code (with handoff/) and the sweeper's (the MCP server package, mcp_server/); CDK's own provider
    functions are left out.
    """
    images: list[Path] = []
    zipped: list[Path] = []
    for manifest in sorted(outdir.glob("assembly-*/*.assets.json")):
        assets = json.loads(manifest.read_text())
        images += [manifest.parent / a["source"]["directory"] for a in assets.get("dockerImages", {}).values()]
        zipped += [
            manifest.parent / a["source"]["path"]
            for a in assets.get("files", {}).values()
            if a["source"].get("packaging") == "zip"
        ]
    kit = ("Dockerfile", "handoff", "mcp_server")
    return images, [d for d in zipped if any((d / name).exists() for name in kit)]


def assert_carries_contracts(directory: Path) -> None:
    staged = directory / "kit_contracts" / "handoff.py"
    assert not (directory / "kit_contracts").is_symlink() and not staged.is_symlink(), directory
    assert staged.is_file() and staged.read_bytes() == CONTRACT.read_bytes(), directory


def test_images_and_lambda_code_carry_kit_contracts_as_files(synthesized) -> None:
    images, lambda_code = staged_directories(synthesized.outdir)
    assert len(images) == 2 * len(synthesized.stages)
    # The handoff functions share one asset; the sweeper has its own.
    assert len(lambda_code) == 2 * len(synthesized.stages)
    for directory in images + lambda_code:
        assert_carries_contracts(directory)


def image_hash(directory: Path, tmp_path: Path) -> str:
    cdk.AssetStaging.clear_asset_hash_cache()  # hashes are cached per source path
    app = cdk.App(outdir=str(tmp_path / "out"))
    stack = cdk.Stack(app, "S")
    return ecr_assets.DockerImageAsset(
        stack, "I", directory=str(directory), platform=ecr_assets.Platform.LINUX_ARM64
    ).asset_hash


@pytest.mark.parametrize(
    ("image", "source_file"), [("agent", "agent/app.py"), ("mcp_server", "mcp_server/__main__.py")]
)
def test_dockerignore_keeps_non_inputs_out_of_the_hash(tmp_path: Path, image: str, source_file: str) -> None:
    copy = tmp_path / image
    shutil.copytree(IMAGES_DIR / image, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = image_hash(copy, tmp_path)
    for junk in (
        "README.md",
        "tests/test_x.py",
        ".venv/lib/x.py",
        f"{source_file.split('/')[0]}/__pycache__/x.pyc",
    ):
        (copy / junk).parent.mkdir(parents=True, exist_ok=True)
        (copy / junk).write_text("noise")
    assert image_hash(copy, tmp_path) == before
    (copy / source_file).write_text((copy / source_file).read_text() + "\n# changed\n")
    changed = image_hash(copy, tmp_path)
    assert changed != before
    # copytree copied kit_contracts' files; an edit to the shared contracts is an image input too.
    contract = copy / "kit_contracts" / "handoff.py"
    contract.write_text(contract.read_text() + "\n# changed\n")
    assert image_hash(copy, tmp_path) != changed
