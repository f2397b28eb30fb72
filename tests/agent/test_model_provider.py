"""The agent's model is chosen by settings: each provider, Strands' own class, talks to a loopback fake of
its server's wire protocol, and a prompt (and a tool call through the real MCP server) round-trips."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent.model_provider import build_model
from agent.runner import parse_invocation, run
from agent.settings import Settings, SettingsError, load_settings
from conftest import AGENT_DIR, FAKE_AWS, McpServer, free_port
from model_servers import FakeModelServer, system_prompt, tool_names, tool_output, user_text
from scripted_model import Text, ToolUse
from test_runner import answer, collect

MODEL_IDS = {
    "openai": "llama-3.1-8b-instruct",
    "ollama": "llama3.1:8b",
    "bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
}
KEY = "sk-test-0123456789abcdef"


def base_url(provider: str, server_url: str) -> str:
    # An OpenAI-compatible base URL ends in /v1; Ollama's host and a Bedrock endpoint are the server itself.
    return f"{server_url}/v1" if provider == "openai" else server_url


def settings_for(provider: str, url: str, tmp_path: Path, **extra: str) -> Settings:
    return load_settings(
        {
            "MODEL_PROVIDER": provider,
            "MODEL_ID": MODEL_IDS[provider],
            "MODEL_BASE_URL": url,
            "AWS_REGION": "us-east-1",
            "MCP_AUTH": "none",
            "ACTOR_ID_FROM_REQUEST": "true",
            "LOCAL_STATE_DIR": str(tmp_path / "state"),
            **extra,
        }
    )


def ask(settings: Settings, prompt: str) -> list[dict[str, Any]]:
    """One invocation with the model the settings choose (the runner's default factory)."""
    invocation = parse_invocation({"prompt": prompt, "actor_id": "alice"})
    return collect(run(invocation, settings=settings, session_id=str(uuid.uuid4()), headers={}))


@pytest.fixture
def fake_server() -> Iterator[list[FakeModelServer]]:
    started: list[FakeModelServer] = []
    yield started
    for server in started:
        server.stop()


def serve(started: list[FakeModelServer], protocol: str, *turns: Any, **options: Any) -> FakeModelServer:
    server = FakeModelServer(protocol, list(turns), **options).start()
    started.append(server)
    return server


# ------------------------------------------------------------------ settings


def test_bedrock_is_the_default_and_the_model_is_chosen_by_settings() -> None:
    settings = load_settings({})
    assert (settings.model_provider, settings.model_base_url, settings.model_api_key) == ("bedrock", None, None)
    assert load_settings({"MODEL_PROVIDER": "Ollama"}).model_provider == "ollama"
    assert {"MODEL_PROVIDER", "MODEL_BASE_URL", "MODEL_API_KEY"} <= set(Settings.variables())
    # Not required when deployed: the stack deploys Bedrock, the default, and sets none of them.
    assert not {"MODEL_PROVIDER", "MODEL_BASE_URL", "MODEL_API_KEY"} & Settings.required_when_deployed()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MODEL_PROVIDER": "gpt"}, "MODEL_PROVIDER='gpt': expected one of bedrock, openai, ollama"),
        (
            {"MODEL_BASE_URL": "127.0.0.1:11434"},
            "MODEL_BASE_URL='127.0.0.1:11434': expected an http:// or https:// URL",
        ),
        ({"MODEL_PROVIDER": "openai"}, "MODEL_PROVIDER=openai needs MODEL_BASE_URL"),
    ],
)
def test_a_bad_model_setting_is_named_with_the_rule(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(env)


def test_the_key_never_appears_in_a_repr_or_an_error() -> None:
    settings = load_settings({"MODEL_PROVIDER": "openai", "MODEL_API_KEY": KEY})
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    assert settings.model_api_key is not None and settings.model_api_key.get_secret_value() == KEY
    with pytest.raises(SettingsError) as raised:
        load_settings({"MODEL_API_KEY": KEY, "PORT": "x"})
    assert KEY not in str(raised.value)


def test_each_provider_is_strands_own_class_pointed_at_the_settings(tmp_path: Path) -> None:
    from strands.models.bedrock import BedrockModel
    from strands.models.ollama import OllamaModel
    from strands.models.openai import OpenAIModel

    openai = build_model(settings_for("openai", "http://127.0.0.1:9/v1", tmp_path, MODEL_API_KEY=KEY))
    assert isinstance(openai, OpenAIModel) and openai.get_config()["model_id"] == MODEL_IDS["openai"]
    assert openai.client_args == {"base_url": "http://127.0.0.1:9/v1", "api_key": KEY}
    ollama = build_model(settings_for("ollama", "http://127.0.0.1:9", tmp_path))
    assert isinstance(ollama, OllamaModel) and (ollama.host, ollama.get_config()["model_id"]) == (
        "http://127.0.0.1:9",
        MODEL_IDS["ollama"],
    )
    bedrock = build_model(load_settings({"MODEL_ID": MODEL_IDS["bedrock"], "AWS_REGION": "eu-west-1"}))
    assert isinstance(bedrock, BedrockModel) and bedrock.client.meta.region_name == "eu-west-1"
    assert bedrock.client.meta.endpoint_url == "https://bedrock-runtime.eu-west-1.amazonaws.com"


def test_importing_the_agent_loads_no_model_client() -> None:
    """Cold start: the openai and ollama libraries load on the first prompt that needs them, not before."""
    probe = "import sys, agent.app; print(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'ollama')))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=AGENT_DIR, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout


# ------------------------------------------------------------------ round trips against the fakes


def final_loss(protocol: str) -> Any:
    def turn(body: dict[str, Any]) -> Text:
        loss = re.search(r'"final_loss": ?([0-9.]+)', tool_output(protocol, body))
        assert loss is not None, tool_output(protocol, body)
        return Text(f"Training finished with loss {loss.group(1)}.")

    return turn


@pytest.mark.parametrize(
    ("provider", "key"),
    [("openai", KEY), ("openai", None), ("ollama", None), ("ollama", KEY), ("bedrock", KEY)],
)
def test_a_prompt_and_a_tool_call_round_trip_through_the_provider(
    provider: str,
    key: str | None,
    mcp_server: McpServer,
    fake_server: list[FakeModelServer],
    tmp_path: Path,
) -> None:
    training = {"model_name": "m", "epochs": 2, "seconds_per_epoch": 0.01}
    fake = serve(fake_server, provider, lambda body: ToolUse("model_training", training), final_loss(provider))
    extra = {"MCP_RUNTIME_URL": mcp_server.url, **({"MODEL_API_KEY": key} if key else {})}
    settings = settings_for(provider, base_url(provider, fake.url), tmp_path, **extra)

    events = ask(settings, "Train model m for two epochs.")

    assert events[-1]["type"] == "done", events
    assert answer(events) == "Training finished with loss 0.49."
    ends = [e for e in events if e["type"] == "tool_end"]
    assert [(e["tool"], e["status"]) for e in ends] == [("model_training", "success")]
    first, second = fake.requests
    # What reached the server: the model, the kit's instructions, the user's prompt and the MCP tools.
    if provider == "bedrock":
        assert urllib.parse.unquote(first.path) == f"/model/{MODEL_IDS[provider]}/converse-stream"
    else:
        assert first.body["model"] == MODEL_IDS[provider] and first.body["stream"] is True
    assert system_prompt(provider, first.body).startswith("You are an assistant that runs long jobs")
    assert "Train model m for two epochs." in user_text(provider, first.body)
    assert {"model_training", "start_model_training", "check_task_status"} <= set(tool_names(provider, first.body))
    assert '"epochs": 2' in tool_output(provider, second.body)
    expected = f"Bearer {key}" if key else ("Bearer unused" if provider == "openai" else None)
    assert first.headers.get("authorization") == expected


def test_bedrock_without_a_key_signs_with_sigv4(
    fake_server: list[FakeModelServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    fake = serve(fake_server, "bedrock", lambda body: Text("Hello from Bedrock."))
    events = ask(settings_for("bedrock", fake.url, tmp_path), "Hello?")
    assert answer(events) == "Hello from Bedrock.", events
    assert fake.requests[0].headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    # No MCP_RUNTIME_URL: the agent still answers, and says it has no tools.
    assert {"type": "warning", "message": "MCP_RUNTIME_URL is not configured: no tools are available"} in events


# ------------------------------------------------------------------ failures the user can act on


def closed_port_url(provider: str) -> str:
    return base_url(provider, f"http://127.0.0.1:{free_port()}")


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ("openai", "the OpenAI-compatible server at {url} could not be reached: is it running? (MODEL_BASE_URL"),
        ("ollama", "Ollama at {url} could not be reached: is `ollama serve` running? (MODEL_BASE_URL)"),
    ],
)
def test_an_unreachable_server_is_named(provider: str, message: str, tmp_path: Path) -> None:
    url = closed_port_url(provider)
    settings = settings_for(provider, url, tmp_path, MODEL_API_KEY=KEY)
    [error] = [e for e in ask(settings, "Hello?") if e["type"] == "error"]
    assert error["error"].startswith(message.format(url=url)), error


def test_a_missing_ollama_model_says_how_to_pull_it(fake_server: list[FakeModelServer], tmp_path: Path) -> None:
    fake = serve(fake_server, "ollama", failure=(404, {"error": "model 'llama3.1:8b' not found"}))
    [error] = [e for e in ask(settings_for("ollama", fake.url, tmp_path), "Hello?") if e["type"] == "error"]
    assert error["error"] == (
        f"the model 'llama3.1:8b' on Ollama at {fake.url} failed with HTTP 404: model 'llama3.1:8b' not found"
        " (pull it with `ollama pull llama3.1:8b`)"
    )


def test_a_refused_key_is_named_and_never_logged(
    fake_server: list[FakeModelServer], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = serve(
        fake_server, "openai", failure=(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
    )
    settings = settings_for("openai", base_url("openai", fake.url), tmp_path, MODEL_API_KEY=KEY)
    with caplog.at_level(logging.DEBUG):
        events = ask(settings, "Hello?")
    [error] = [e for e in events if e["type"] == "error"]
    assert error["error"] == f"the OpenAI-compatible server at {fake.url}/v1 refused the key (MODEL_API_KEY): HTTP 401"
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"  # it was sent, to the server only
    assert caplog.records and KEY not in caplog.text
    assert KEY not in json.dumps(events)
