"""The agent's settings: every variable, its default and its rule; bad values stop the start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from agent.settings import Settings, SettingsError, load_settings
from conftest import AGENT_DIR

VARIABLES = {
    "HOST",
    "PORT",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "MODEL_PROVIDER",
    "MODEL_ID",
    "MODEL_BASE_URL",
    "MODEL_API_KEY",
    "MEMORY_ID",
    "MCP_RUNTIME_URL",
    "MCP_AUTH",
    "MCP_TASK_POLL_TIMEOUT_SECONDS",
    "MCP_TASK_TTL_SECONDS",
    "ACTOR_ID_FROM_REQUEST",
    "ACTOR_ID_CLAIM",
    "RESULTS_SESSION_ID",
    "RESULTS_IN_CONTEXT",
    "RESULTS_CONTEXT_CHARS",
    "LONG_TERM_NAMESPACES",
    "LONG_TERM_CONTEXT_CHARS",
    "MAX_REQUEST_BYTES",
    "LOCAL_STATE_DIR",
    "RESULT_SINK_SQLITE_PATH",
}


def test_every_variable_is_listed_with_a_description() -> None:
    listed = Settings.variables()
    assert set(listed) == VARIABLES
    assert all(listed.values())


def test_defaults() -> None:
    settings = load_settings({})
    assert (settings.host, settings.port, settings.mcp_auth) == ("0.0.0.0", 8080, "iam")
    assert (settings.task_poll_timeout_seconds, settings.task_ttl_seconds) == (28_800, 604_800)
    assert (settings.results_session_id, settings.results_in_context, settings.actor_id_claim) == (
        "task-results",
        20,
        "sub",
    )
    assert settings.local_state_dir == Path(".local/agent")
    assert None is settings.region is settings.model_id is settings.memory_id is settings.result_sink_sqlite_path
    assert settings.actor_id_from_request is False


def test_empty_values_count_as_unset_and_the_region_falls_back() -> None:
    settings = load_settings({"MODEL_ID": "", "PORT": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-west-1"})
    assert (settings.model_id, settings.port, settings.region) == (None, 8080, "eu-west-1")
    assert load_settings({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "eu-west-1"}).region == "us-east-1"


def test_only_the_given_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_ID", "from-the-process")
    settings = load_settings({"port": "1", "MCP_AUTH": "JWT", "ACTOR_ID_FROM_REQUEST": "true", "UNRELATED": "x"})
    assert (settings.model_id, settings.port, settings.mcp_auth, settings.actor_id_from_request) == (
        None,
        8080,
        "jwt",
        True,
    )


def test_the_process_environment_is_parsed_like_a_given_one(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"PORT": "9000", "MODEL_ID": "m", "AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-west-1", "MCP_AUTH": "none"}
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings() == load_settings(env)


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("PORT", "70000", "a whole number between 1 and 65535"),
        ("PORT", "eighty", "a whole number between 1 and 65535"),
        ("MCP_AUTH", "kerberos", "one of iam, jwt, none"),
        ("MCP_TASK_POLL_TIMEOUT_SECONDS", "0", "a whole number between 1 and 28800"),
        ("MCP_TASK_POLL_TIMEOUT_SECONDS", "28801", "a whole number between 1 and 28800"),
        ("MCP_TASK_TTL_SECONDS", "59", "a whole number between 60 and 31536000"),
        ("RESULTS_IN_CONTEXT", "101", "a whole number between 0 and 100"),
        ("ACTOR_ID_FROM_REQUEST", "maybe", "true or false"),
        ("RESULTS_SESSION_ID", "no spaces", "1..100 characters of [a-zA-Z0-9-_] starting with a letter or digit"),
        ("RESULTS_SESSION_ID", "x" * 101, "1..100 characters"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_the_rule(name: str, value: str, rule: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})
    message = str(raised.value)
    assert name in message and repr(value)[:40] in message and rule in message, message


def test_a_bad_value_stops_the_start_up() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent"],
        cwd=AGENT_DIR,
        env={"PORT": "0", "MCP_AUTH": "kerberos"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result
    assert result.stderr.startswith("configuration error: ")
    for part in ("PORT", "'0'", "a whole number between 1 and 65535", "MCP_AUTH", "'kerberos'"):
        assert part in result.stderr, result.stderr
