"""What /ping reports: whether work runs in this process, and when that last changed.

AgentCore reaps a session at its idle timeout unless /ping answers HealthyBusy, and
measures idleness from `time_of_last_update`, which must be the time the status last
changed (stamping every ping "now" would keep sessions alive to their max lifetime).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Activity:
    def __init__(self) -> None:
        self._working = 0
        self.last_change = time.time()

    @property
    def busy(self) -> bool:
        return self._working > 0

    @contextmanager
    def working(self) -> Iterator[None]:
        """Count one piece of work (a durable task or an in-request call) while the block runs."""
        self._working += 1
        if self._working == 1:
            self.last_change = time.time()
        try:
            yield
        finally:
            self._working -= 1
            if self._working == 0:
                self.last_change = time.time()
