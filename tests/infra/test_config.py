"""Environment files: the shipped ones load; bad values fail with file, field, value and rule."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.config import CONFIG_DIR, ConfigError, load_all, load_environment, load_file

ROOT = Path(__file__).resolve().parents[2]
DEV = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())


def write(tmp_path: Path, data: dict[str, Any], name: str = "dev") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def with_value(dotted: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(DEV)
    node = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return data


def test_shipped_environments_load() -> None:
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    assert names == ["dev", "prod", "staging"]
    for name in names:
        config = load_environment(name)
        assert config.name == name
    assert load_environment("prod").retain and load_environment("prod").termination_protection
    assert load_environment("prod").auth.mode == "jwt"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("agent.idle_timeout_seconds", 59, "greater than or equal to 60"),
        ("agent.idle_timeout_seconds", 28801, "less than or equal to 28800"),
        ("mcp_server.max_lifetime_seconds", 0, "greater than or equal to 60"),
        ("memory.event_expiry_days", 2, "greater than or equal to 3"),
        ("memory.event_expiry_days", 366, "less than or equal to 365"),
        ("memory.name", "kit-dev-memory", "[a-zA-Z][a-zA-Z0-9_]{0,47}"),
        ("agent.name", "1agent", "[a-zA-Z][a-zA-Z0-9_]{0,47}"),
        ("mcp_server.name", "m" * 49, "[a-zA-Z][a-zA-Z0-9_]{0,47}"),
        ("log_retention_days", 10, "must be one of"),
        ("account", "12345", "12-digit AWS account id"),
        ("region", "mars-1", "AWS region"),
        ("model_ids", [], "at least 1 item"),
        ("model_ids", ["not a model"], "not a Bedrock model"),
        ("removal_policy", "snapshot", "'retain' or 'destroy'"),
        ("mcp_server.extra_request_headers", ["X-Custom-Thing"], "must start with"),
        ("mcp_server.extra_request_headers", ["Authorization"], "'Authorization' is not an extra header"),
        (
            "mcp_server.extra_request_headers",
            ["X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id"],
            "listed twice",
        ),
        (
            "mcp_server.extra_request_headers",
            [f"X-Amzn-Bedrock-AgentCore-Runtime-Custom-H{i}" for i in range(19)],
            "at most 20 headers in total including the kit's 2, got 21",
        ),
        ("agent.results_context_chars", 999, "greater than or equal to 1000"),
        ("agent.results_context_chars", 200_001, "less than or equal to 200000"),
        ("agent.max_request_bytes", 1023, "greater than or equal to 1024"),
        ("agent.max_request_bytes", 10_485_761, "less than or equal to 10485760"),
        ("quotas.running_tasks", 0, "greater than or equal to 1"),
        ("quotas.running_tasks", 1001, "less than or equal to 1000"),
        ("quotas.tasks_per_minute", 0, "greater than or equal to 1"),
        ("quotas.tasks_per_minute", 10_001, "less than or equal to 10000"),
        ("quotas.result_bytes_per_day", 1023, "greater than or equal to 1024"),
        ("quotas.result_bytes_per_day", 10_737_418_241, "less than or equal to 10737418240"),
        ("quotas.concurrent", 5, "Extra inputs are not permitted"),
        ("results.expire_days", 0, "greater than or equal to 1"),
        ("results.expire_days", 366, "less than or equal to 365"),
        ("sweeper.schedule_minutes", 0, "greater than or equal to 1"),
        ("sweeper.schedule_minutes", 61, "less than or equal to 60"),
        ("sweeper.enabled", False, "Extra inputs are not permitted"),
        ("model_regions", ["us-east-1", "mars-1"], "'mars-1' is not an AWS region"),
        ("model_regions", ["us-east-1", "us-east-1"], "lists a region twice"),
        ("model_regions", [], "at least 1 item"),
        (
            "auth",
            {
                "mode": "jwt",
                "discovery_url": "https://idp.example.com/.well-known/openid-configuration",
                "allowed_clients": ["a"],
                "actor_id_claim": "custom claim",
            },
            "must be a JWT claim name of 1 to 128 letters, digits or any of _ : . - /, got 'custom claim'",
        ),
        (
            "auth",
            {
                "mode": "jwt",
                "discovery_url": "http://idp.example.com/.well-known/openid-configuration",
                "allowed_clients": ["a"],
            },
            "https URL ending in /.well-known/openid-configuration",
        ),
        (
            "auth",
            {"mode": "jwt", "discovery_url": "https://idp.example.com/oauth2", "allowed_clients": ["a"]},
            "https URL ending in /.well-known/openid-configuration",
        ),
        (
            "auth",
            {"mode": "jwt", "discovery_url": "https://idp.example.com/.well-known/openid-configuration"},
            "allowed_clients or allowed_audience",
        ),
        ("auth", {"mode": "saml"}, "does not match any of the expected tags"),
        ("network", {"mode": "vpc"}, "vpc_id"),
        ("unknown_setting", 1, "Extra inputs are not permitted"),
    ],
)
def test_invalid_value_names_file_field_value_and_rule(tmp_path: Path, field: str, value: Any, expected: str) -> None:
    path = write(tmp_path, with_value(field, value))
    with pytest.raises(ConfigError) as raised:
        load_file(path)
    message = str(raised.value)
    assert str(path) in message
    assert field.split(".")[0] in message
    assert expected in message


def test_idle_timeout_above_max_lifetime_is_rejected(tmp_path: Path) -> None:
    data = with_value("agent.idle_timeout_seconds", 7200)
    data["agent"]["max_lifetime_seconds"] = 3600
    with pytest.raises(
        ConfigError, match=r"agent: idle_timeout_seconds \(7200\) must be <= max_lifetime_seconds \(3600\)"
    ):
        load_file(write(tmp_path, data))


def test_value_is_shown_in_the_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"memory.event_expiry_days = 500: .*less than or equal to 365"):
        load_file(write(tmp_path, with_value("memory.event_expiry_days", 500)))


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    data = with_value("memory.event_expiry_days", 1)
    data["agent"]["idle_timeout_seconds"] = 5
    with pytest.raises(ConfigError) as raised:
        load_file(write(tmp_path, data))
    assert "memory.event_expiry_days = 1" in str(raised.value)
    assert "agent.idle_timeout_seconds = 5" in str(raised.value)


def test_name_must_match_file_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must equal the file name 'qa'"):
        load_file(write(tmp_path, DEV, name="qa"))


def test_unknown_environment_lists_available_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown environment 'nope'.*available: dev, prod, staging"):
        load_environment("nope")


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_file(path)


def test_forking_an_environment_is_copying_one_file(tmp_path: Path) -> None:
    data = copy.deepcopy(DEV)
    data.update(name="qa", account="123456789012", region="eu-west-1")
    data["memory"]["name"] = "kit_qa_memory"
    for key in ("agent", "mcp_server"):
        data[key]["name"] = f"kit_qa_{key}"
    write(tmp_path, data, name="qa")
    config = load_environment("qa", tmp_path)
    assert (config.account, config.region, config.memory.name) == (
        "123456789012",
        "eu-west-1",
        "kit_qa_memory",
    )


def test_synth_with_a_bad_file_exits_with_the_message(tmp_path: Path) -> None:
    """The CLI path: app.py prints one clear message and exits non-zero, no traceback."""
    write(tmp_path, with_value("agent.idle_timeout_seconds", 30))
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={
            "CDK_CONTEXT_JSON": f'{{"config_dir": "{tmp_path}"}}',
            "PATH": "/usr/bin:/bin",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "CDK_OUTDIR": str(tmp_path / "out"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "agent.idle_timeout_seconds = 30" in result.stderr
    assert "Traceback" not in result.stderr


JWT = {
    "mode": "jwt",
    "discovery_url": "https://idp.example.com/.well-known/openid-configuration",
    "allowed_clients": ["a"],
}


def test_the_new_settings_default_when_absent() -> None:
    config = load_environment("dev")
    assert (config.quotas.running_tasks, config.quotas.tasks_per_minute, config.quotas.result_bytes_per_day) == (
        20,
        30,
        104_857_600,
    )
    assert (config.agent.results_context_chars, config.agent.max_request_bytes) == (12_000, 262_144)
    assert config.model_regions is None
    assert (config.results.expire_days, config.sweeper.schedule_minutes) == (8, 1)


def test_jwt_auth_reads_the_actor_from_sub_unless_told_otherwise(tmp_path: Path) -> None:
    config = load_file(write(tmp_path, with_value("auth", JWT)))
    assert config.auth.actor_id_claim == "sub"  # type: ignore[union-attr]
    config = load_file(write(tmp_path, with_value("auth", {**JWT, "actor_id_claim": "custom:employee_id"})))
    assert config.auth.actor_id_claim == "custom:employee_id"  # type: ignore[union-attr]


def test_under_jwt_the_mcp_runtime_allowlists_authorization_once(tmp_path: Path) -> None:
    data = with_value("auth", JWT)
    config = load_file(write(tmp_path, data))
    assert config.request_headers[-1] == "Authorization" and len(config.request_headers) == 3
    data["mcp_server"]["extra_request_headers"] = ["authorization"]
    with pytest.raises(ConfigError, match=r"'Authorization' is not an extra header: with auth\.mode 'jwt' the kit"):
        load_file(write(tmp_path, data))
    data["mcp_server"]["extra_request_headers"] = [f"X-Amzn-Bedrock-AgentCore-Runtime-Custom-H{i}" for i in range(18)]
    with pytest.raises(ConfigError, match="including the kit's 3, got 21"):
        load_file(write(tmp_path, data))


@pytest.mark.parametrize(
    ("model_id", "regions"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", ("us-east-1", "us-east-2", "us-west-1", "us-west-2")),
        ("us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0", ("us-gov-east-1", "us-gov-west-1")),
        ("jp.anthropic.claude-sonnet-4-5-20250929-v1:0", ("ap-northeast-1", "ap-northeast-3")),
        ("au.anthropic.claude-sonnet-4-5-20250929-v1:0", ("ap-southeast-2", "ap-southeast-4")),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", None),  # any commercial Region
        ("anthropic.claude-3-5-haiku-20241022-v1:0", ()),  # a model in the stack's own Region
    ],
)
def test_model_regions_default_to_the_profiles_geography(tmp_path: Path, model_id: str, regions: Any) -> None:
    config = load_file(write(tmp_path, with_value("model_ids", [model_id])))
    assert config.model_regions_for(model_id) == regions


def test_model_regions_when_set_apply_to_every_profile(tmp_path: Path) -> None:
    data = with_value("model_regions", ["us-east-1", "us-west-2"])
    data["model_ids"] = ["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.amazon.nova-2-lite-v1:0"]
    config = load_file(write(tmp_path, data))
    for model_id in data["model_ids"]:
        assert config.model_regions_for(model_id) == ("us-east-1", "us-west-2")
    assert config.model_regions_for("anthropic.claude-3-5-haiku-20241022-v1:0") == ()


def test_every_geography_lists_real_region_names() -> None:
    from stacks.config import PROFILE_REGIONS, REGION

    for prefix, regions in PROFILE_REGIONS.items():
        assert regions and all(REGION.match(r) for r in regions), prefix
        assert len(set(regions)) == len(regions), prefix


def test_the_kit_names_its_log_groups_under_the_environment() -> None:
    assert load_environment("staging").log_group_prefix == "/agent-kit/staging"


# ------------------------------------------------------------------ when a file is wrong


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            "memory.expiry_days",
            30,
            "memory.expiry_days = 30: Extra inputs are not permitted; did you mean event_expiry_days?",
        ),
        ("agent.idle_timeout", 900, "did you mean idle_timeout_seconds?"),
        ("model_id", "x", "model_id = x: Extra inputs are not permitted; did you mean model_ids?"),
        # A setting of another section: named with its section.
        ("agent.event_expiry_days", 30, "did you mean memory.event_expiry_days?"),
        ("quotas.concurrent", 5, "; the settings of quotas are running_tasks, tasks_per_minute, result_bytes_per_day"),
        ("unknown_setting", 1, "; the settings at the top level are name, account, region,"),
    ],
)
def test_an_unknown_key_suggests_the_setting_meant(tmp_path: Path, field: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_file(write(tmp_path, with_value(field, value)))
    assert expected in str(raised.value)


def test_an_unknown_key_under_a_chosen_auth_mode_is_matched_against_that_modes_settings(tmp_path: Path) -> None:
    data = with_value(
        "auth", {**JWT, "allowed_client": ["b"], "discovery_url": "http://idp/.well-known/openid-configuration"}
    )
    with pytest.raises(ConfigError) as raised:
        load_file(write(tmp_path, data))
    message = str(raised.value)
    # The mode is not a key of the file: the path is the one written there, and the value is found.
    assert "auth.allowed_client = [b]: Extra inputs are not permitted; did you mean allowed_clients?" in message
    assert "auth.discovery_url = http://idp/.well-known/openid-configuration: must be an https URL" in message
    assert "auth.jwt" not in message


def test_a_missing_section_lists_what_to_give(tmp_path: Path) -> None:
    data = copy.deepcopy(DEV)
    del data["memory"]
    data["agent"] = None
    with pytest.raises(ConfigError) as raised:
        load_file(write(tmp_path, data))
    message = str(raised.value)
    assert "  memory is required: give name (AgentCore Memory name, [a-zA-Z][a-zA-Z0-9_]{0,47}), " in message
    assert "event_expiry_days (optional, default 30)" in message
    assert "  agent is empty: give name (AgentCore Runtime name, [a-zA-Z][a-zA-Z0-9_]{0,47}), " in message
    assert "idle_timeout_seconds (optional, default 900), max_lifetime_seconds (optional, default 28800)" in message
    jwt = {k: v for k, v in JWT.items() if k != "discovery_url"}
    with pytest.raises(ConfigError, match=r"\n  auth.discovery_url is required"):
        load_file(write(tmp_path, with_value("auth", jwt)))


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("termination_protection", "maybe", "termination_protection = maybe: "),
        ("approval_required", None, "approval_required = null: "),
        ("agent.idle_timeout_seconds", True, "agent.idle_timeout_seconds = true: "),
        ("account", "12345", "account = '12345': "),  # a string YAML would read as a number is quoted
        ("model_ids", ["not a model", "x"], "model_ids = [not a model, x]: "),
        ("memory.name", "kit-dev-memory", "memory.name = kit-dev-memory: "),
        ("removal_policy", "yes", "removal_policy = 'yes': "),
    ],
)
def test_values_are_shown_as_yaml_spells_them(tmp_path: Path, field: str, value: Any, shown: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_file(write(tmp_path, with_value(field, value)))
    assert shown in str(raised.value)
    assert "True" not in str(raised.value) and "None" not in str(raised.value)


def environment(name: str, **changes: Any) -> dict[str, Any]:
    """An environment of its own (its own names), with `changes` applied over it."""
    data = copy.deepcopy(DEV)
    data["name"] = name
    data["memory"]["name"] = f"kit_{name}_memory"
    for key in ("agent", "mcp_server"):
        data[key]["name"] = f"kit_{name}_{key}"
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return data


def test_the_shipped_environments_name_distinct_resources() -> None:
    assert [config.name for config in load_all()] == ["dev", "prod", "staging"]


def test_two_unpinned_environments_naming_one_resource_fail_naming_both_files(tmp_path: Path) -> None:
    write(tmp_path, environment("dev"), name="dev")
    write(tmp_path, environment("qa", memory__name="kit_dev_memory", agent__name="kit_dev_mcp_server"), name="qa")
    with pytest.raises(ConfigError) as raised:
        load_all(tmp_path)
    message = str(raised.value)
    assert message.startswith("two environments would create the same named resource in one account and Region")
    dev, qa = tmp_path / "dev.yaml", tmp_path / "qa.yaml"
    unpinned = "account and region not pinned"
    assert f"AgentCore Memory kit_dev_memory: {dev} (memory.name; {unpinned}) and {qa} (memory.name; {unpinned})" in (
        message
    )
    # Runtime names are one namespace: the agent of one and the MCP server of the other clash.
    assert f"AgentCore Runtime kit_dev_mcp_server: {dev} (mcp_server.name; {unpinned}) and {qa} (agent.name;" in message
    assert "environment-agnostic: it deploys wherever the CLI's credentials point" in message


@pytest.mark.parametrize(
    ("dev", "qa", "clash"),
    [
        ({}, {}, True),
        ({"account": "111111111111", "region": "us-east-1"}, {"account": "111111111111", "region": "us-east-1"}, True),
        ({"account": "111111111111", "region": "us-east-1"}, {}, True),  # qa may be deployed into dev's account
        ({"region": "us-east-1"}, {"account": "111111111111", "region": "us-east-1"}, True),
        ({"account": "111111111111", "region": "us-east-1"}, {"account": "222222222222", "region": "us-east-1"}, False),
        ({"account": "111111111111", "region": "us-east-1"}, {"account": "111111111111", "region": "eu-west-1"}, False),
        ({"region": "us-east-1"}, {"region": "eu-west-1"}, False),
    ],
)
def test_the_same_names_are_fine_where_two_environments_cannot_meet(
    tmp_path: Path, dev: dict[str, str], qa: dict[str, str], clash: bool
) -> None:
    write(tmp_path, environment("dev", **dev), name="dev")
    write(tmp_path, environment("qa", memory__name="kit_dev_memory", **qa), name="qa")
    if clash:
        with pytest.raises(ConfigError, match="AgentCore Memory kit_dev_memory"):
            load_all(tmp_path)
    else:
        assert [c.memory.name for c in load_all(tmp_path)] == ["kit_dev_memory", "kit_dev_memory"]


def test_one_environment_cannot_give_both_runtimes_one_name(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"mcp_server\.name are both kit_dev_agent: each AgentCore Runtime needs its own"
    ):
        load_file(write(tmp_path, with_value("mcp_server.name", "kit_dev_agent")))


def test_synth_with_two_clashing_files_exits_naming_both(tmp_path: Path) -> None:
    write(tmp_path, environment("dev"), name="dev")
    write(tmp_path, environment("qa", agent__name="kit_dev_agent"), name="qa")
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={
            "CDK_CONTEXT_JSON": f'{{"config_dir": "{tmp_path}"}}',
            "PATH": "/usr/bin:/bin",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "CDK_OUTDIR": str(tmp_path / "out"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert f"AgentCore Runtime kit_dev_agent: {tmp_path / 'dev.yaml'} (agent.name;" in result.stderr
    assert f"{tmp_path / 'qa.yaml'} (agent.name;" in result.stderr
    assert "Traceback" not in result.stderr
