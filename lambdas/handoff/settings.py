"""Environment variables, parsed once at cold start into typed settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Settings:
    idempotency_table: str
    memory_id: str
    ledger_prefix: str
    region: str | None


@cache
def settings() -> Settings:
    missing = [n for n in ("IDEMPOTENCY_TABLE", "MEMORY_ID", "LEDGER_PREFIX") if not os.environ.get(n)]
    if missing:
        raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
    prefix = os.environ["LEDGER_PREFIX"]
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise RuntimeError(f"LEDGER_PREFIX must start with '/' and not end with it, got {prefix!r}")
    return Settings(
        idempotency_table=os.environ["IDEMPOTENCY_TABLE"],
        memory_id=os.environ["MEMORY_ID"],
        ledger_prefix=prefix,
        region=os.environ.get("AWS_REGION"),
    )
