"""Readable JSON snapshots of every environment's templates and the example's (config/examples/private.yaml);
asset hashes normalised so a code edit in an image does not churn them. Update with
`make test PYTEST_ARGS=--snapshot-update`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.infra.conftest import EXAMPLE

HASH = re.compile(r"[0-9a-f]{64}")


def normalise(template: dict[str, Any]) -> Any:
    return json.loads(HASH.sub("<asset-hash>", json.dumps(template)))


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize("stack", ["stateful", "handoff", "runtimes", "observability"])
def test_template_snapshot(synthesized, snapshot_json, env: str, stack: str) -> None:
    assert normalise(synthesized.template_json(env, stack)) == snapshot_json


# The example with every optional feature on (config/examples/private.yaml): the VPC, the gateway,
# tracing, all memory strategies and manual promotion are in no shipped environment.
@pytest.mark.parametrize("stack", ["stateful", "handoff", "runtimes", "observability"])
def test_example_template_snapshot(example, snapshot_json, stack: str) -> None:
    assert normalise(example.template_json(EXAMPLE, stack)) == snapshot_json
