"""Time `make synth`'s synth step (every environment) against a bare one-stack CDK app
synthesized the same way, in the same run; print the ratio and where the time goes.

    make bench-synth          # or: .venv/cdk/bin/python bench/synth.py [--rounds 5] [--no-breakdown]

Each round synthesizes, in turn, the bare app (one SQS queue, CDK defaults), the same bare app
with the kit's App settings and cdk.json context (the like-for-like yardstick: what is left is the
kit's own work), and the kit, each with `make synth`'s CLI command and the same Python; medians of
the wall times. Then one instrumented run of the bare app and one of the kit are split into phases
(bench/synth_phases.py); the profilers cost a few per cent, so those totals run a little high.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/ is on sys.path: `python bench/synth.py` puts the script's directory there.
from synth_phases import BUILD, PYTHON, SYNTHESIS, Phases, instrumented_synth

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
TARGET = 1.6
# Notes the end of its phases as app.py does, so the breakdown can set the two side by side.
BARE_APP = """
import json, os, time
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_sqs as sqs

marks = [("main", time.monotonic())]
app = cdk.App(**json.loads(os.environ.get("BARE_APP_PROPS", "{}")))
marks.append(("app", time.monotonic()))
stack = cdk.Stack(app, "Bare")
sqs.Queue(stack, "Queue")
marks.append(("Stage Bare", time.monotonic()))
app.synth()
marks.append(("synth", time.monotonic()))
if os.environ.get("KIT_SYNTH_TIMINGS"):
    stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    started = time.monotonic() - (uptime - int(stat[19]) / os.sysconf("SC_CLK_TCK"))
    Path(os.environ["KIT_SYNTH_TIMINGS"]).write_text(json.dumps({"started": started, "marks": marks}))
"""
LABELS = {
    "bare": "bare one-stack app, CDK defaults",
    "like-kit": "bare one-stack app, the kit's settings",
    "kit": "kit, all environments",
}


def kit_app_props() -> dict[str, Any]:
    """app.py's APP_PROPS, for the like-for-like bare app (read from the source: importing app.py
    would start a jsii kernel)."""
    for node in ast.parse((ROOT / "app.py").read_text()).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "APP_PROPS":
            return ast.literal_eval(node.value) if node.value else {}
    raise SystemExit("app.py has no APP_PROPS")


def command(outdir: Path) -> list[str]:
    """`make synth`'s CLI call, with the app (app.py in the working directory) and the output named."""
    return [str(CDK), "synth", "--quiet", "--app", f"{sys.executable} app.py", "--output", str(outdir), "**"]


def synth(cwd: Path, env: dict[str, str], outdir: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        command(outdir), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"synth in {cwd} failed:\n{result.stderr[-4000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-breakdown", action="store_true", help="print the ratio only")
    args = parser.parse_args()
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    kit_context = json.loads((ROOT / "cdk.json").read_text())["context"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        apps = {  # name: (working directory, environment)
            "bare": (work / "bare", env),
            "like-kit": (work / "like-kit", {**env, "BARE_APP_PROPS": json.dumps(kit_app_props())}),
            "kit": (ROOT, env),
        }
        for name, context in (("bare", {}), ("like-kit", kit_context)):
            apps[name][0].mkdir()
            (apps[name][0] / "app.py").write_text(BARE_APP)
            (apps[name][0] / "cdk.json").write_text(json.dumps({"context": context}))
        for cwd, app_env in apps.values():
            synth(cwd, app_env, work / "out")  # warm file caches and jsii's package cache once
        times: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(args.rounds):  # interleaved so drift hits all alike
            for name, (cwd, app_env) in apps.items():
                times[name].append(synth(cwd, app_env, work / "out"))
        medians = {name: statistics.median(runs) for name, runs in times.items()}
        for name, label in LABELS.items():
            runs = ", ".join(f"{t:.2f}" for t in times[name])
            print(f"{label:42s}: median {medians[name]:6.2f} s  (runs: {runs})")
        print(f"{'ratio kit / bare':42s}: {medians['kit'] / medians['bare']:.2f}x  (target <= {TARGET:.2f}x)")
        print(f"{'ratio kit / bare, like for like':42s}: {medians['kit'] / medians['like-kit']:.2f}x  (no target)")
        if not args.no_breakdown:
            print()
            print_breakdown(
                instrumented_synth(command(work / "out"), apps["bare"][0], env, work / "bare-probe"),
                instrumented_synth(command(work / "out"), ROOT, env, work / "kit-probe"),
            )


def print_breakdown(bare: Phases, kit: Phases) -> None:
    print("where the time goes, in seconds (one instrumented run of each; indented: who was working)")
    print(f"{'':70s} {'bare':>6s} {'kit':>6s} {'kit-bare':>8s}")
    for row in kit.rows:
        _line(row, bare.rows.get(row, 0.0), kit.rows[row])
        if row not in (BUILD, SYNTHESIS):
            continue
        if row == BUILD:
            print("    kit, by Stage: " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in kit.stages.items()))
        bare_parts, kit_parts = bare.parts.get(row, {}), kit.parts[row]
        for part in sorted({*bare_parts, *kit_parts}, key=lambda p: (p != PYTHON, -kit_parts.get(p, 0.0))):
            values = bare_parts.get(part, 0.0), kit_parts.get(part, 0.0)
            if max(values) >= 0.01:
                _line(f"    {part}", *values)
    _line("total of this run", sum(bare.rows.values()), sum(kit.rows.values()))


def _line(label: str, bare: float, kit: float) -> None:
    print(f"{label:70s} {bare:6.2f} {kit:6.2f} {kit - bare:+8.2f}")


if __name__ == "__main__":
    main()
