"""AWS clients made on first use, so that start-up neither imports boto3 for them nor builds a client it may not call.

Every session on AgentCore starts a fresh process: an eager client costs its start-up 5-50 ms of
service-model loading (the handoff bus, the results memory, the results bucket), and in local mode
importing boto3 alone costs about 160 ms. A client given explicitly (tests, the sweeper Lambda) is
used as it is.
"""

from __future__ import annotations

import threading
from typing import Any

# boto3's default session is not thread-safe (clients made from it are), and first uses come
# from worker threads: one lock for every client made here.
_lock = threading.Lock()


class LazyClient:
    """`boto3.client(service, region_name=region)`, made by the first call."""

    def __init__(self, service: str, region: str | None, client: Any = None) -> None:
        self.service = service
        self.region = region
        self._client = client

    def __call__(self) -> Any:
        if self._client is None:
            with _lock:
                if self._client is None:
                    import boto3

                    self._client = boto3.client(self.service, region_name=self.region)
        return self._client
