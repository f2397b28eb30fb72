"""The kit's checkout, for the commands whose logic lives in it: handoff approvals and redrives
(lambdas/handoff) and the deploy preview (stacks/preview.py).

`make install` installs the client editable from client/, so this file sits in the checkout
and the checkout is two folders up.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kit_client.state import ClientError

ROOT = Path(__file__).resolve().parents[2]


def importable(folder: str, needs: str) -> Path:
    """Put ROOT/folder on sys.path (once); ClientError if this copy of kit is not in a checkout."""
    path = ROOT / folder
    if not (path / needs).exists():
        raise ClientError(
            f"this command runs from the kit's checkout ({ROOT / folder / needs} is missing):"
            " install kit with `make install` in the checkout"
        )
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    return path
