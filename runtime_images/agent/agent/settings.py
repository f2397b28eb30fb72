"""Settings parsed once from the environment the runtime (or `make local`) provides."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    region: str | None
    model_id: str | None
    memory_id: str | None
    mcp_runtime_url: str | None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        port_text = env.get("PORT", "8080")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"PORT must be a TCP port number 1..65535, got {port_text!r}")
        return cls(
            host=env.get("HOST", "0.0.0.0"),  # noqa: S104 - the runtime contract requires it
            port=int(port_text),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            model_id=env.get("MODEL_ID"),
            memory_id=env.get("MEMORY_ID"),
            mcp_runtime_url=env.get("MCP_RUNTIME_URL"),
        )
