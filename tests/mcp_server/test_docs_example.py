"""The tool in docs/tools.md (and README.md) works as written: it counts, refuses paths outside
the dataset directory, and resumes from any of its checkpoints."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError
from mcp_server.datasets import use_dataset_root
from mcp_server.testing import Crashed, run_tool
from tests_support import REPO_ROOT


def example(doc: str) -> Any:
    text = (REPO_ROOT / doc).read_text()
    code = re.search(r"```python\n(.*?@tool\(.*?)```", text, re.S)
    assert code is not None, f"no tool example in {doc}"
    source = code.group(1)
    if "import" not in source:  # README's snippet leaves the imports to the reader
        source = (
            "from mcp_server.datasets import DatasetPath, dataset_file\nfrom mcp_server.tooling import TaskContext, tool\n"
            + source
        )
    names: dict[str, Any] = {}
    exec(compile(source, doc, "exec"), names)
    return names["count_lines"]


@pytest.mark.parametrize("doc", ["docs/tools.md", "README.md"])
def test_the_documented_tool_counts_refuses_and_resumes(doc: str, tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("".join(f"line {i}\n" for i in range(55_000)))
    use_dataset_root(tmp_path)
    count_lines = example(doc)

    async def check() -> None:
        whole = await run_tool(count_lines, {"path": "big.txt"})
        assert whole.result == 55_000
        with pytest.raises(ToolError, match=r"path='\.\./etc/passwd'"):
            await run_tool(count_lines, {"path": "../etc/passwd"})
        first = await run_tool(count_lines, {"path": "big.txt"}, crash_after=4)
        assert isinstance(first.error, Crashed)
        again = await run_tool(count_lines, {"path": "big.txt"}, resume_state=first.checkpoints[1], files=first.files)
        assert again.result == 55_000 and again.progress[0][0] > first.progress[0][0]

    anyio.run(check)
