"""Where a synth's time goes: one instrumented `cdk synth` of an app, split into phases.

The app notes when each of its phases ended (KIT_SYNTH_TIMINGS, see app.py) on time.monotonic()'s
clock, which is also the clock of node's CPU profiles; Python's -X importtime splits the start-up;
node's CPU profiler, run on the jsii kernel (the node process that holds the constructs), says what
the kernel was doing inside each phase. Used by bench/synth.py.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# What the kernel was doing, named by the outermost frame that matches (function name or any,
# and a part of the file path).
MARKERS = (
    ("_singletonInstance", "/validation/cloudformation-validate-plugin.js", "CloudFormation validation: engine start"),
    ("validate", "/validation/cloudformation-validate-plugin.js", "CloudFormation validation: templates"),
    ("", "/node_modules/cdk-nag/", "cdk-nag checks (with the L1 modules their rules load)"),
    ("", "/core/lib/asset-staging.js", "asset staging (fingerprint, copy into the assembly)"),
)
MODULE_LOADING = "jsii kernel: loading aws-cdk-lib's JS modules"
GARBAGE = "jsii kernel: garbage collection"
OTHER = "jsii kernel: constructs, tokens, templates"
PYTHON = "Python: the app's code, its half of each jsii call"
WAITING = "waiting"  # the kernel blocked reading its stdin: Python's turn
IMPORTTIME = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")


BUILD = "build the constructs"
SYNTHESIS = "synthesis: app.synth()"


@dataclass
class Phases:
    """Seconds per phase, in order; `parts` splits a phase by what the jsii kernel was doing, and
    `stages` the build phase by Stage."""

    rows: dict[str, float] = field(default_factory=dict)
    parts: dict[str, Counter[str]] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)


def instrumented_synth(command: list[str], cwd: Path, env: dict[str, str], work: Path) -> Phases:
    """Run `command`, a `cdk synth` of an app that honours KIT_SYNTH_TIMINGS, once with the probes on."""
    timings, profiles = work / "timings.json", work / "profiles"
    profiles.mkdir(parents=True)
    node = work / "node-with-cpu-profile"
    node.write_text(
        f'#!/bin/sh\nexec {shlex.quote(env.get("JSII_NODE", "node"))} --cpu-prof --cpu-prof-dir="{profiles}" "$@"\n'
    )
    node.chmod(0o755)
    spawned = time.monotonic()
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**env, "KIT_SYNTH_TIMINGS": str(timings), "PYTHONPROFILEIMPORTTIME": "1", "JSII_NODE": str(node)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ended = time.monotonic()
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stderr[-4000:]}")
    recorded = json.loads(timings.read_text())
    return split(spawned, ended, recorded, result.stderr, kernel_profile(profiles))


def split(spawned: float, ended: float, recorded: dict[str, Any], stderr: str, profile: dict[str, Any]) -> Phases:
    marks = [(str(name), float(at)) for name, at in recorded["marks"]]
    started = recorded["started"] or spawned  # None where /proc is missing: the CLI row is then 0
    import_cdk = _import_seconds(stderr, "aws_cdk")
    out = Phases()
    out.rows["CDK CLI start, until the app's process starts"] = started - spawned
    out.rows["import aws_cdk (starts the jsii kernel, loads the CDK's assemblies)"] = import_cdk
    out.rows["Python start-up, the app's other imports"] = marks[0][1] - started - import_cdk
    samples = list(_samples(profile))
    for (_, begin), (name, end) in itertools.pairwise(marks):
        label = {"app": "create the App", "synth": SYNTHESIS}.get(name, BUILD)
        if label == BUILD:
            out.stages[name.removeprefix("Stage ")] = end - begin
        out.rows[label] = out.rows.get(label, 0.0) + end - begin
        parts = out.parts.setdefault(label, Counter())
        busy = 0.0
        for at, seconds, category in samples:
            if begin <= at < end and category != WAITING:
                parts[category] += seconds
                busy += seconds
        # The rest of the phase's wall time: the kernel waited for Python (or was not sampled).
        parts[PYTHON] += max(0.0, end - begin - busy)
    out.rows["app exit, the CLI reads the assembly"] = ended - marks[-1][1]
    return out


def kernel_profile(directory: Path) -> dict[str, Any]:
    """The jsii kernel's profile (jsii's launcher is a node process too, with a profile of its own)."""
    for path in sorted(directory.glob("*.cpuprofile"), key=lambda p: p.stat().st_size, reverse=True):
        profile = json.loads(path.read_text())
        if any(node["callFrame"]["functionName"] == "processRequest" for node in profile["nodes"]):
            return profile
    raise RuntimeError(f"no CPU profile of the jsii kernel in {directory}")


def _samples(profile: dict[str, Any]) -> Iterator[tuple[float, float, str]]:
    """(time.monotonic() of the sample, the seconds it stands for, its category), sample by sample."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", ())}
    categories: dict[int, str] = {}

    def categorize(node_id: int) -> str:
        frames = []
        current: int | None = node_id
        while current is not None:
            frames.append(nodes[current]["callFrame"])
            current = parent.get(current)
        frames.reverse()
        for frame in frames:
            for function, path, name in MARKERS:
                if path in frame["url"] and function in ("", frame["functionName"]):
                    return name
        names = {frame["functionName"] for frame in frames}
        if "readSync" in names or frames[-1]["functionName"] in ("(idle)", "(root)"):
            return WAITING
        if "Module._load" in names:
            return MODULE_LOADING
        if frames[-1]["functionName"] == "(garbage collector)":
            return GARBAGE
        return OTHER

    at = profile["startTime"]
    deltas = profile["timeDeltas"]
    for index, node_id in enumerate(profile["samples"]):
        at += deltas[index]
        if node_id not in categories:
            categories[node_id] = categorize(node_id)
        seconds = deltas[index + 1] / 1e6 if index + 1 < len(deltas) else 0.0
        yield at / 1e6, seconds, categories[node_id]


def _import_seconds(stderr: str, module: str) -> float:
    """The cumulative seconds of `module`'s top-level -X importtime entry."""
    for line in stderr.splitlines():
        match = IMPORTTIME.match(line)
        if match and match.group(2) == module:
            return int(match.group(1)) / 1e6
    return 0.0
