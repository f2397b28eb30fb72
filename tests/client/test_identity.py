"""Who `kit tasks` says you are, per environment: the headers, the endpoint and the signer (the server's rules)."""

from __future__ import annotations

import urllib.parse

import anyio
import httpx2
import pytest
from conftest import Server
from kit_client.headers import (
    ACTOR_ID_HEADER,
    AUTHORIZATION_HEADER,
    RUNTIME_SESSION_ID_HEADER,
    RUNTIME_USER_ID_HEADER,
    SESSION_ID_HEADER,
)
from kit_client.mcp_tasks import connect, explain, target
from kit_client.sigv4 import SigV4HttpxAuth
from kit_client.state import Environment

MCP_ARN = "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/kit_dev_mcp_server-AbCdE12345"
DEPLOYED = Environment("dev", agent_arn=MCP_ARN.replace("mcp_server", "agent"), region="eu-west-1", mcp_arn=MCP_ARN)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")


def test_local_mode_sends_the_actor_and_the_results_session() -> None:
    to = target(Environment("local", mcp_url="http://127.0.0.1:9/mcp"), actor="alice")
    assert to.identity == "local" and to.url == "http://127.0.0.1:9/mcp" and to.auth is None
    assert to.headers == {ACTOR_ID_HEADER: "alice", SESSION_ID_HEADER: "task-results"}


def test_iam_signs_with_your_credentials_and_sends_a_runtime_user_id_only_when_asked(credentials: None) -> None:
    to = target(DEPLOYED, actor="alice")
    assert to.identity == "iam" and isinstance(to.auth, SigV4HttpxAuth)
    assert to.url == (
        f"https://bedrock-agentcore.eu-west-1.amazonaws.com/runtimes/{urllib.parse.quote(MCP_ARN, safe='')}"
        "/invocations?qualifier=live"
    )
    # The server takes the actor from what the platform authenticated, never from Actor-Id.
    assert ACTOR_ID_HEADER not in to.headers and RUNTIME_USER_ID_HEADER not in to.headers
    assert 33 <= len(to.headers[RUNTIME_SESSION_ID_HEADER]) <= 256
    assert target(DEPLOYED, actor="alice", user_id="bob").headers[RUNTIME_USER_ID_HEADER] == "bob"


def test_jwt_sends_the_bearer_token_and_no_signature() -> None:
    to = target(DEPLOYED, actor="alice", token="a.b.c")
    assert to.identity == "jwt" and to.auth is None
    assert to.headers[AUTHORIZATION_HEADER] == "Bearer a.b.c" and ACTOR_ID_HEADER not in to.headers


def test_the_signature_covers_the_body(credentials: None) -> None:
    auth = target(DEPLOYED, actor="alice").auth
    assert auth is not None
    request = httpx2.Request("POST", "https://example.com/mcp", content=b'{"jsonrpc": "2.0"}')
    signed = next(auth.auth_flow(request))
    assert signed.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/bedrock-agentcore/aws4_request" in signed.headers["Authorization"]
    assert "X-Amz-Date" in signed.headers


def test_refusals_are_explained_with_what_to_do() -> None:
    to = target(DEPLOYED, actor="alice", token="a.b.c")
    missing = explain(f"Error executing tool check_task_status: missing header {RUNTIME_USER_ID_HEADER}: ...", to)
    assert missing.startswith("missing header") and "InvokeAgentRuntimeForUser" in missing and "\n" not in missing
    assert "--token or set KIT_TOKEN" in explain("missing header Authorization: expected 'Bearer <JWT>'", to)


def test_the_tasks_extension_resolves_a_durable_call_to_its_result(server: Server) -> None:
    to = target(Environment("local", mcp_url=server.url), actor="carol")

    async def call() -> dict:
        async with connect(to) as tasks:
            assert tasks.modern  # the kit's server speaks 2026-07-28
            arguments = {"model_name": "m", "epochs": 2, "seconds_per_epoch": 0.05}
            result = await tasks.client.call_tool("model_training", arguments)  # the claim polls tasks/get
            return result.model_dump(by_alias=True)

    result = anyio.run(call)
    assert result["isError"] is False and result["structuredContent"]["epochs"] == 2
