#!/usr/bin/env python3
"""CDK entry point: `-c env=NAME` builds one environment's Stage, no `env` builds all of them.

The only place that reads CDK context; everything below receives typed configuration.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from stacks.config import CONFIG_DIR, ConfigError, load_all, load_environment
from stacks.nag import enable_checks
from stacks.stage import KitStage

# The App that `cdk synth` runs (bench/synth.py gives its like-for-like bare app the same).
APP_PROPS: dict[str, Any] = {
    # The CDK's built-in template validation (cfn-lint's kind of rules in a WebAssembly engine; it
    # only warns) takes more CPU than the rest of this synth together. Templates are still checked:
    # CI runs `make cfn-lint` after every synth, `make test-infra` runs cfn-lint (which fails on a
    # finding), and the tests' own synth keeps this validation on. docs/performance.md, "Synth".
    "builtin_cloud_formation_validation": False,
}


def build(app: cdk.App, *, stage_built: Callable[[str], None] | None = None) -> list[KitStage]:
    name = app.node.try_get_context("env")
    # A fork may keep its environment files elsewhere: -c config_dir=path/to/dir
    config_dir = Path(app.node.try_get_context("config_dir") or CONFIG_DIR)
    configs = [load_environment(name, config_dir)] if name else load_all(config_dir)
    enable_checks(app)
    stages = []
    for config in configs:
        stages.append(KitStage(app, config))
        if stage_built:
            stage_built(config.name)
    return stages


def main() -> None:
    # bench/synth.py names a file here to learn when each phase of the synth ended.
    timings = os.environ.get("KIT_SYNTH_TIMINGS")
    marks = [("main", time.monotonic())]
    app = cdk.App(**APP_PROPS)
    marks.append(("app", time.monotonic()))
    try:
        build(app, stage_built=lambda name: marks.append((f"Stage {name}", time.monotonic())))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    app.synth()
    marks.append(("synth", time.monotonic()))
    if timings:
        Path(timings).write_text(json.dumps({"started": _process_started(), "marks": marks}))


def _process_started() -> float | None:
    """When this process started, on time.monotonic()'s clock (None without Linux's /proc)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    return time.monotonic() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))


if __name__ == "__main__":
    main()
