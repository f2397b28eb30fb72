"""Store and sink calls block (sqlite3, boto3): they run in a worker thread, off the event loop.

asyncio's own thread hop, not anyio's: the scheduled sweeper runs this path in a Lambda that
ships only the standard library, pydantic and boto3 (the server runs on asyncio too).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))


async def store_read(store: Any, fn: Callable[..., T], *args: Any) -> T:
    """A store read: on the event loop when the store's point reads are cheap (`reads_inline`), else in a thread."""
    return fn(*args) if store.reads_inline else await blocking(fn, *args)
