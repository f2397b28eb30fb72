"""Helpers for the handoff tests: the Lambdas' own models (loaded by path) and the rule's pattern."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sqlite3
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = REPO_ROOT / "lambdas"


@cache
def lambda_module(name: str) -> ModuleType:
    """Import `handoff.<...>` from lambdas/ by path, without putting lambdas/ on sys.path.

    The package is registered under its own name because sandbox_account.py imports
    `handoff.settings`; nothing else in this venv is called `handoff`.
    """
    if "handoff" not in sys.modules:
        spec = importlib.machinery.PathFinder.find_spec("handoff", [str(LAMBDAS_DIR)])
        assert spec is not None and spec.loader is not None, "lambdas/handoff not found"
        package = importlib.util.module_from_spec(spec)
        sys.modules["handoff"] = package
        spec.loader.exec_module(package)
    return importlib.import_module(name)


@cache
def handoff_rule_pattern() -> dict[str, Any]:
    """The EventPattern of the rule the Handoff construct synthesizes (the deployed filter)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import aws_cdk as cdk
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_logs as logs
    from aws_cdk.assertions import Template

    from stacks.constructs.handoff import Handoff
    from stacks.constructs.memory import AgentMemory

    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    stack = cdk.Stack(app, "HandoffUnderTest")
    key = kms.Key(stack, "Key")
    removal = cdk.RemovalPolicy.DESTROY
    Handoff(
        stack,
        "Handoff",
        env_name="test",
        memory=AgentMemory(
            stack, "Memory", memory_name="testMemory", event_expiry_days=30, encryption_key=key, removal_policy=removal
        ),
        idempotency_table=dynamodb.Table(
            stack, "Claims", partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)
        ),
        encryption_key=key,
        approval_required=False,
        approval_timeout=cdk.Duration.hours(1),
        log_retention=logs.RetentionDays.ONE_WEEK,
        removal_policy=removal,
        log_group_prefix="/agent-kit/test",
    )
    rules = Template.from_stack(stack).find_resources("AWS::Events::Rule")
    assert len(rules) == 1, f"expected one rule in the Handoff construct, found {list(rules)}"
    return next(iter(rules.values()))["Properties"]["EventPattern"]


def outbox_rows(path: Path) -> list[tuple[str, str]]:
    """(idempotency_key, detail JSON) of every event in a local outbox file."""
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'outbox'").fetchone()
        return list(db.execute("SELECT idempotency_key, detail FROM outbox")) if exists else []
