"""Settings parsed once from the environment the runtime (or `make local`) provides.

Every variable the agent reads is listed in ENV_VARS; the CDK stack sets the deployed ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

McpAuth = Literal["iam", "jwt", "none"]

# AgentCore Memory's sessionId rule: the results session must be a valid one.
SESSION_ID_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]{0,99}")

ENV_VARS: Mapping[str, str] = {
    "HOST": "interface to listen on (default 0.0.0.0, the runtime contract)",
    "PORT": "port to listen on (default 8080)",
    "AWS_REGION": "region of the model, the memory and the MCP runtime",
    "MODEL_ID": "Bedrock model or inference-profile id of the agent's model",
    "MEMORY_ID": "AgentCore Memory id; unset locally (then LOCAL_STATE_DIR is used)",
    "MCP_RUNTIME_URL": "MCP server URL: the MCP runtime's invoke URL, or http://127.0.0.1:8000/mcp locally",
    "MCP_AUTH": "iam (SigV4), jwt (forward the caller's bearer token) or none (local)",
    "MCP_TASK_POLL_TIMEOUT_SECONDS": "how long one tool call may wait for a task (default 28800)",
    "MCP_TASK_TTL_SECONDS": "how long the server keeps a task's result (default 604800, 7 days)",
    "ACTOR_ID_FROM_REQUEST": "true: accept 'actor_id' from the request body when no identity exists (default false)",
    "ACTOR_ID_CLAIM": "JWT claim holding the actor id (default sub)",
    "RESULTS_SESSION_ID": "memory session where task results are delivered for each actor (default task-results)",
    "RESULTS_IN_CONTEXT": "how many recent task results enter the agent's context (default 20)",
    "LOCAL_STATE_DIR": "local mode: conversation files (default .local/agent)",
    "RESULT_SINK_SQLITE_PATH": "local mode: the MCP server's SQLite results sink to read results from",
}


class SettingsError(ValueError):
    """A configuration value is out of range; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SettingsError(f"{name}={raw!r}: expected a whole number between {low} and {high}")
    return int(raw)


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "false").strip().lower()
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise SettingsError(f"{name}={raw!r}: expected true or false")
    return raw in ("true", "1", "yes")


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"  # noqa: S104 - the runtime contract requires all interfaces
    port: int = 8080
    region: str | None = None
    model_id: str | None = None
    memory_id: str | None = None
    mcp_runtime_url: str | None = None
    mcp_auth: McpAuth = "iam"
    task_poll_timeout_seconds: int = 28_800
    task_ttl_seconds: int = 604_800
    actor_id_from_request: bool = False
    actor_id_claim: str = "sub"
    results_session_id: str = "task-results"
    results_in_context: int = 20
    local_state_dir: Path = Path(".local/agent")
    result_sink_sqlite_path: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        auth = (env.get("MCP_AUTH") or "iam").lower()
        if auth not in ("iam", "jwt", "none"):
            raise SettingsError(f"MCP_AUTH={auth!r}: expected iam, jwt or none")
        results_session = env.get("RESULTS_SESSION_ID") or cls.results_session_id
        if not SESSION_ID_RE.fullmatch(results_session):
            raise SettingsError(
                f"RESULTS_SESSION_ID={results_session!r}: expected 1..100 characters of [a-zA-Z0-9-_]"
                " starting with a letter or digit"
            )
        sink = env.get("RESULT_SINK_SQLITE_PATH")
        return cls(
            host=env.get("HOST") or cls.host,
            port=_int(env, "PORT", 8080, 1, 65535),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            model_id=env.get("MODEL_ID") or None,
            memory_id=env.get("MEMORY_ID") or None,
            mcp_runtime_url=env.get("MCP_RUNTIME_URL") or None,
            mcp_auth=auth,  # type: ignore[arg-type]
            task_poll_timeout_seconds=_int(env, "MCP_TASK_POLL_TIMEOUT_SECONDS", 28_800, 1, 28_800),
            task_ttl_seconds=_int(env, "MCP_TASK_TTL_SECONDS", 604_800, 60, 31_536_000),
            actor_id_from_request=_bool(env, "ACTOR_ID_FROM_REQUEST"),
            actor_id_claim=env.get("ACTOR_ID_CLAIM") or cls.actor_id_claim,
            results_session_id=results_session,
            results_in_context=_int(env, "RESULTS_IN_CONTEXT", 20, 0, 100),
            local_state_dir=Path(env.get("LOCAL_STATE_DIR") or cls.local_state_dir),
            result_sink_sqlite_path=Path(sink) if sink else None,
        )
