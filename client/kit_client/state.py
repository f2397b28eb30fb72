"""The client's small local state: environments, and per conversation its session id and tasks.

One JSON file (KIT_CLIENT_STATE, default ~/.config/kit-client/state.json), written atomically.
The built-in `local` environment is the pair `make local` starts: the agent at KIT_LOCAL_URL
(else 127.0.0.1:AGENT_PORT, 8080) and the MCP server at KIT_MCP_URL (else 127.0.0.1:MCP_PORT, 8000).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LOCAL_ENV = "local"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
# The MCP server's results session: where finished tasks' outcomes are written (RESULTS_SESSION_ID).
RESULTS_SESSION = "task-results"
_ACTOR_SAFE = re.compile(r"[^a-zA-Z0-9\-_]")


class ClientError(Exception):
    """A problem the user can fix; the message says how."""


class Refused(ClientError):
    """The server or AWS refused what was asked (exit 1 rather than 2): the message says why."""


@dataclass
class Environment:
    name: str
    agent_arn: str | None = None  # None: the local agent
    region: str | None = None
    user_id: str | None = None  # IAM: sent as runtimeUserId (needs InvokeAgentRuntimeForUser)
    jwt_token_env: str | None = None  # JWT: name of the variable holding the bearer token
    local_url: str | None = None
    mcp_arn: str | None = None  # the MCP server runtime (stack output McpServerRuntimeArn)
    mcp_url: str | None = None  # the local MCP server
    # The runtime endpoint called (config `release.endpoint`); DEFAULT is the newest version, which in
    # `manual` environments may not be promoted yet.
    endpoint: str = "live"


def local_agent_url() -> str:
    return os.environ.get("KIT_LOCAL_URL") or f"http://127.0.0.1:{os.environ.get('AGENT_PORT') or 8080}"


def local_mcp_url() -> str:
    return os.environ.get("KIT_MCP_URL") or f"http://127.0.0.1:{os.environ.get('MCP_PORT') or 8000}/mcp"


@dataclass
class Conversation:
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)


def default_path() -> Path:
    return Path(os.environ.get("KIT_CLIENT_STATE") or Path.home() / ".config" / "kit-client" / "state.json")


def default_actor() -> str:
    return _ACTOR_SAFE.sub("-", getpass.getuser()).strip("-") or "local-user"


class State:
    def __init__(self, path: Path) -> None:
        self.path = path
        raw: dict[str, Any] = {}
        if path.exists():
            try:
                raw = json.loads(path.read_text())
            except ValueError as exc:
                raise ClientError(f"state file {path} is not valid JSON ({exc}); fix or delete it") from None
        self.environments = {n: Environment(**e) for n, e in raw.get("environments", {}).items()}
        self.conversations = {k: Conversation(**c) for k, c in raw.get("conversations", {}).items()}
        self.actor_id: str = raw.get("actor_id") or default_actor()

    def environment(self, name: str) -> Environment:
        if name == LOCAL_ENV and name not in self.environments:
            return Environment(LOCAL_ENV, local_url=local_agent_url(), mcp_url=local_mcp_url())
        if name not in self.environments:
            known = ", ".join(sorted({LOCAL_ENV, *self.environments}))
            raise ClientError(
                f"unknown environment {name!r}: known environments are {known};"
                f" add one with `kit env add {name} --agent-arn ARN --mcp-arn ARN`"
            )
        return self.environments[name]

    def conversation(self, env: str, name: str) -> Conversation:
        return self.conversations.setdefault(f"{env}/{name}", Conversation())

    def forget(self, env: str, name: str) -> None:
        self.conversations.pop(f"{env}/{name}", None)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "actor_id": self.actor_id,
            "environments": {n: asdict(e) for n, e in self.environments.items()},
            "conversations": {k: asdict(c) for k, c in self.conversations.items()},
        }
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2))
        temporary.replace(self.path)
