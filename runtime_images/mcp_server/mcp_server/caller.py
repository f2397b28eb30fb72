"""The caller's identity and conversation, read from the allowlisted context headers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mcp_server import constants as c

# AgentCore Memory's own patterns, so a value accepted here is accepted by CreateEvent.
_ACTOR_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_/]*(?::[a-zA-Z0-9\-_/]+)*[a-zA-Z0-9\-_/]*")
_SESSION_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]*")
_MEMORY_RE = re.compile(
    r"(arn:(aws|aws-cn|aws-us-gov):bedrock-agentcore:[a-z0-9-]+:[0-9]{12}:memory/)?[a-zA-Z][a-zA-Z0-9\-_]{0,99}-[a-zA-Z0-9]{10}"
)


class CallerContextError(ValueError):
    """A context header is missing or malformed; the message names the header."""


@dataclass(frozen=True)
class Caller:
    actor_id: str
    session_id: str
    memory_id: str | None


def _check(header: str, value: str | None, pattern: re.Pattern[str], max_len: int, expected: str) -> str:
    if value is None or value == "":
        raise CallerContextError(f"missing header {header}: expected {expected}")
    if len(value) > max_len or not pattern.fullmatch(value):
        raise CallerContextError(f"malformed header {header}={value[:80]!r}: expected {expected}")
    return value


def caller_from_headers(headers: Mapping[str, str] | None, default_memory_id: str | None) -> Caller:
    """Build the caller from request headers (case-insensitive); raise CallerContextError if unusable."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    actor = _check(
        c.ACTOR_ID_HEADER,
        lowered.get(c.ACTOR_ID_HEADER.lower()),
        _ACTOR_RE,
        255,
        "1..255 characters of [a-zA-Z0-9-_/:] starting with a letter or digit",
    )
    session = _check(
        c.SESSION_ID_HEADER,
        lowered.get(c.SESSION_ID_HEADER.lower()),
        _SESSION_RE,
        100,
        "1..100 characters of [a-zA-Z0-9-_] starting with a letter or digit",
    )
    memory_raw = lowered.get(c.MEMORY_ID_HEADER.lower())
    memory = (
        _check(
            c.MEMORY_ID_HEADER,
            memory_raw,
            _MEMORY_RE,
            2048,
            "a memory id or ARN such as taskMemory-AbCdE12345",
        )
        if memory_raw
        else default_memory_id
    )
    return Caller(actor_id=actor, session_id=session, memory_id=memory)
