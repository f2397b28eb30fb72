"""The dataset directory a server's tools read and write: paths inside it only.

A tool takes a path from its caller (a model, a user): resolving it against the directory and
refusing anything outside (`../`, absolute paths, symlinks that lead out) keeps a tool from
reading /etc/passwd. Use it for every path argument:

    @tool(mode="either")
    async def count_lines(path: DatasetPath, ctx: TaskContext) -> int:
        file = dataset_file(path)          # a ToolError naming `path` if it is outside or missing
        ...

The directory is DATASET_ROOT (the server sets it at start-up); the shipped tools take theirs
as an argument of their factory (`Datasets(root)`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

DatasetPath = Annotated[
    str, Field(min_length=1, max_length=1024, description="a file, relative to the dataset directory")
]


class Datasets:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _inside(self, relative: str, field: str) -> Path:
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root):
            raise ToolError(f"{field}={relative!r}: expected a path inside the dataset directory")
        return candidate

    def file(self, relative: str, field: str = "path") -> Path:
        """An existing file inside the directory; ToolError naming the argument (`field`) otherwise."""
        candidate = self._inside(relative, field)
        if not candidate.is_file():
            raise ToolError(f"{field}={relative!r}: no such file in the dataset directory")
        return candidate

    def new_file(self, relative: str, field: str = "path") -> Path:
        """A path to write inside the directory (its folder must exist); ToolError otherwise."""
        candidate = self._inside(relative, field)
        if not candidate.parent.is_dir():
            raise ToolError(f"{field}={relative!r}: no such folder in the dataset directory")
        return candidate

    def relative(self, path: Path) -> str:
        return str(path.resolve().relative_to(self.root))


_configured: Datasets | None = None


def use_dataset_root(root: Path) -> None:
    """Set the directory `dataset_file` resolves against (the server calls this at start-up)."""
    global _configured
    _configured = Datasets(root)


def dataset_file(relative: str, field: str = "path") -> Path:
    """An existing file inside DATASET_ROOT; ToolError naming the argument otherwise."""
    if _configured is None:
        raise ToolError("no dataset directory is configured (DATASET_ROOT)")
    return _configured.file(relative, field)
