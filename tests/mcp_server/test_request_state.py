"""A tool's questions asked in the call (2026-07-28 input_required rounds) may be answered on another
server: every server seals `requestState` with the stack's shared secret, bound to the actor.

Secrets Manager is moto's (it keeps and returns the secret; IAM and KMS on it are not checked here:
the stack's grant is a template test, tests/infra/test_runtime_stack.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import boto3
import pytest
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp_server.request_state import SecretKeyCodec
from mcp_server.tooling import TaskContext, tool
from moto import mock_aws
from pydantic import BaseModel
from test_tasks_2026 import envelope, post_raw
from tests_support import CONTEXT, InProcessServer, test_settings

REGION = "eu-west-1"


class Owner(BaseModel):
    name: str


def ask_owner() -> Elicit[Owner]:
    return Elicit("Who owns it?", Owner)


@tool(mode="request", max_duration_seconds=30)
async def owned_by(ctx: TaskContext, owner: Annotated[Owner, Resolve(ask_owner)]) -> str:
    """Answers with the owner it asked for."""
    return f"owned by {owner.name}"


@pytest.fixture
def secret_arn(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=REGION)
        yield secrets.create_secret(Name="kit/request-state", SecretString="k" * 64)["ARN"]


def servers(tmp_path: Path, secret: str | None) -> tuple[InProcessServer, InProcessServer]:
    extra = {"REQUEST_STATE_SECRET_ARN": secret, "AWS_REGION": REGION} if secret else {}
    return (
        InProcessServer(test_settings(tmp_path / "a", **extra), [owned_by], plain_tools=False, handoff_tools=False),
        InProcessServer(test_settings(tmp_path / "b", **extra), [owned_by], plain_tools=False, handoff_tools=False),
    )


def rounds(first: InProcessServer, second: InProcessServer, second_actor: str = "alice") -> dict[str, Any]:
    headers = {**CONTEXT, "Mcp-Method": "tools/call", "Mcp-Name": "owned_by"}
    _, asked = first_round = post_raw(
        first.port, envelope("tools/call", {"name": "owned_by", "arguments": {}}), headers
    )
    state = asked["result"]
    assert state["resultType"] == "input_required", first_round
    [key] = state["inputRequests"]
    answered = {
        "name": "owned_by",
        "arguments": {},
        "inputResponses": {key: {"action": "accept", "content": {"name": "ana"}}},
        "requestState": state["requestState"],
    }
    as_actor = {**headers, "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": second_actor}
    return post_raw(second.port, envelope("tools/call", answered), as_actor)[1]


def test_a_round_answered_on_another_server_is_accepted(secret_arn: str, tmp_path: Path) -> None:
    a, b = servers(tmp_path, secret_arn)
    with a, b:
        reply = rounds(a, b)
    assert reply["result"]["content"][0]["text"] == "owned by ana", reply


def test_another_actor_cannot_replay_the_state(secret_arn: str, tmp_path: Path) -> None:
    a, b = servers(tmp_path, secret_arn)
    with a, b:
        reply = rounds(a, b, second_actor="mallory")
    assert "error" in reply and "requestState" in reply["error"]["message"], reply


def test_without_the_shared_secret_each_process_has_its_own_key(tmp_path: Path) -> None:
    a, b = servers(tmp_path, None)
    with a, b:
        reply = rounds(a, b)
    assert "error" in reply and "requestState" in reply["error"]["message"], reply


def test_an_unreadable_secret_refuses_the_round_and_says_why_in_the_log(
    secret_arn: str, caplog: pytest.LogCaptureFixture
) -> None:
    codec = SecretKeyCodec(secret_arn.replace("request-state", "missing"), REGION)
    from mcp.server.request_state import InvalidRequestState

    with pytest.raises(InvalidRequestState):
        codec.unseal("v1.AAAA")
    assert "reading the request-state key failed" in caplog.text
