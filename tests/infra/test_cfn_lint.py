"""cfn-lint over every synthesized template (W3005 is CDK's explicit DependsOn noise)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_cfn_lint_passes_on_every_template(synthesized) -> None:
    templates = synthesized.template_files()
    assert len(templates) == 4 * len(synthesized.stages)  # stateful, handoff, runtimes, observability
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), "--ignore-checks", "W3005", "--", *map(str, templates)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
