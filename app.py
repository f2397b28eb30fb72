#!/usr/bin/env python3
"""CDK entry point: `-c env=NAME` builds one environment's Stage, no `env` builds all of them.

The only place that reads CDK context; everything below receives typed configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk

from stacks.config import CONFIG_DIR, ConfigError, load_all, load_environment
from stacks.nag import enable_checks
from stacks.stage import KitStage


def build(app: cdk.App) -> list[KitStage]:
    name = app.node.try_get_context("env")
    # A fork may keep its environment files elsewhere: -c config_dir=path/to/dir
    config_dir = Path(app.node.try_get_context("config_dir") or CONFIG_DIR)
    configs = [load_environment(name, config_dir)] if name else load_all(config_dir)
    enable_checks(app)
    return [KitStage(app, config) for config in configs]


def main() -> None:
    app = cdk.App()
    try:
        build(app)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    app.synth()


if __name__ == "__main__":
    main()
