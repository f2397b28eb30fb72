"""Shared fixtures: import path for the image's package, stores, and a live server process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO_ROOT / "runtime_images" / "mcp_server"
sys.path.insert(0, str(IMAGE_DIR))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
# moto and boto3 must never reach a real account from these tests.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value

from tests_support import task_table_definition  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def table_definition() -> dict[str, Any]:
    """KeySchema, AttributeDefinitions and GSIs exactly as the CDK construct synthesizes them."""
    return task_table_definition()


@pytest.fixture
def moto_table(table_definition: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        schema = {k: v for k, v in table_definition.items() if not k.startswith("_")}
        client.create_table(TableName="tasks", BillingMode="PAY_PER_REQUEST", **schema)
        yield client, "tasks"
