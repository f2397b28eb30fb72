"""Time `make synth`'s synth step (every environment) against a bare one-stack CDK app
synthesized the same way, in the same run, and print the ratio.

    make bench-synth          # or: .venv/cdk/bin/python bench/synth.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
BARE_APP = """
import aws_cdk as cdk
from aws_cdk import aws_sqs as sqs

app = cdk.App()
stack = cdk.Stack(app, "Bare")
sqs.Queue(stack, "Queue")
app.synth()
"""


def synth(app_command: str, outdir: Path, cwd: Path) -> float:
    shutil.rmtree(outdir, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(
        [str(CDK), "synth", "--quiet", "--app", app_command, "--output", str(outdir), "**"],
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "bare_app.py").write_text(BARE_APP)
        (work / "cdk.json").write_text("{}")
        kit, bare = [], []
        synth(f"{python} app.py", work / "warm", ROOT)  # warm file caches once
        for _ in range(args.rounds):  # interleaved so drift hits both alike
            bare.append(synth(f"{python} {work / 'bare_app.py'}", work / "bare", work))
            kit.append(synth(f"{python} app.py", work / "kit", ROOT))
    kit_s, bare_s = statistics.median(kit), statistics.median(bare)
    print(f"bare one-stack app : median {bare_s:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in bare)})")
    print(f"kit, all envs      : median {kit_s:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in kit)})")
    print(f"ratio kit / bare   : {kit_s / bare_s:.2f}x   (target <= 2.00x)")


if __name__ == "__main__":
    main()
