"""The handoff Lambdas' settings: the variables the handoff construct sets, and their rules."""

from __future__ import annotations

import pytest
from handoff.settings import Settings, SettingsError, load_settings, settings

VALID = {
    "IDEMPOTENCY_TABLE": "idempotency",
    "MEMORY_ID": "kit_test_memory-abcdefghij",
    "LEDGER_PREFIX": "/agent-kit/dev",
}


def test_every_variable_is_listed_with_a_description() -> None:
    listed = Settings.variables()
    assert set(listed) == {"IDEMPOTENCY_TABLE", "MEMORY_ID", "LEDGER_PREFIX", "AWS_REGION", "APPROVAL_ALLOW_SELF"}
    assert all(listed.values())


def test_self_approval_is_off_unless_the_environment_turns_it_on() -> None:
    assert load_settings(VALID).approval_allow_self is False
    assert load_settings({**VALID, "APPROVAL_ALLOW_SELF": "true"}).approval_allow_self is True
    assert load_settings({**VALID, "APPROVAL_ALLOW_SELF": "false"}).approval_allow_self is False
    with pytest.raises(SettingsError, match="APPROVAL_ALLOW_SELF='maybe': expected true or false"):
        load_settings({**VALID, "APPROVAL_ALLOW_SELF": "maybe"})


def test_valid_settings_and_an_optional_region() -> None:
    parsed = load_settings({**VALID, "UNRELATED": "x"})
    assert (parsed.idempotency_table, parsed.memory_id, parsed.ledger_prefix) == tuple(VALID.values())
    assert parsed.region is None
    assert load_settings({**VALID, "AWS_REGION": "eu-west-1"}).region == "eu-west-1"


@pytest.mark.parametrize("name", ["IDEMPOTENCY_TABLE", "MEMORY_ID", "LEDGER_PREFIX"])
def test_a_missing_or_empty_variable_is_named_without_echoing_the_environment(name: str) -> None:
    others = {"AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    for env in ({k: v for k, v in VALID.items() if k != name}, {**VALID, name: ""}):
        with pytest.raises(SettingsError) as raised:
            load_settings(env | others)
        message = str(raised.value)
        assert name in message and "required" in message and "s3cr3t" not in message, message


@pytest.mark.parametrize("prefix", ["agent-kit/dev", "/agent-kit/dev/", "/"])
def test_the_ledger_prefix_starts_with_a_slash_and_does_not_end_with_one(prefix: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({**VALID, "LEDGER_PREFIX": prefix})
    message = str(raised.value)
    assert all(part in message for part in ("LEDGER_PREFIX", repr(prefix), "starts with '/' and does not end with it"))


def test_the_handlers_read_the_process_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()
    try:
        first = settings()
        monkeypatch.setenv("MEMORY_ID", "another")
        assert settings() is first and first == load_settings(VALID | {"AWS_REGION": first.region or ""})
    finally:
        settings.cache_clear()
