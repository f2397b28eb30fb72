"""The command line itself: help everywhere, environments, the agent's commands and the operator commands' errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import REPO_ROOT, Kit, free_port, one_line_error
from kit_client import headers
from kit_client.cli import kit as root

ARN = "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/kit_dev_agent-AbCdE12345"
MCP_ARN = "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/kit_dev_mcp_server-AbCdE12345"


@pytest.fixture
def offline(tmp_path: Path) -> Kit:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"actor_id": "alice"}))
    return Kit(state)


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", commands(root), ids=lambda p: " ".join(p) or "kit")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(root, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ") and len(result.output.splitlines()) > 3


def test_the_header_names_are_the_contract_s() -> None:
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from kit_contracts import context
    finally:
        sys.path.remove(str(REPO_ROOT))
    for name in ("ACTOR_ID_HEADER", "SESSION_ID_HEADER", "RUNTIME_USER_ID_HEADER", "AUTHORIZATION_HEADER"):
        assert getattr(headers, name) == getattr(context, name), name
    assert headers.RUNTIME_SESSION_ID_HEADER == context.RUNTIME_SESSION_ID_HEADER


def test_no_local_agent_listening_says_to_start_it(offline: Kit) -> None:
    line = one_line_error(offline("ask", "hi", KIT_LOCAL_URL=f"http://127.0.0.1:{free_port()}"))
    assert "no agent is listening at" in line and "make local" in line


def test_the_ports_of_make_local_are_followed(offline: Kit) -> None:
    port, agent_port = free_port(), free_port()
    line = one_line_error(offline("tasks", "list", MCP_PORT=str(port)))
    assert f"http://127.0.0.1:{port}/mcp" in line
    line = one_line_error(offline("ask", "hi", AGENT_PORT=str(agent_port)))
    assert f"http://127.0.0.1:{agent_port}/invocations" in line


def test_environments_are_added_listed_and_named_when_unknown(offline: Kit) -> None:
    line = one_line_error(offline("--env", "qa", "ask", "hi"))
    assert "unknown environment 'qa': known environments are local" in line and "kit env add qa" in line
    assert offline("env", "add", "dev", "--agent-arn", ARN, "--mcp-arn", MCP_ARN).returncode == 0
    listed = offline("env", "list").stdout
    assert "dev" in listed and MCP_ARN in listed and "(eu-west-1)" in listed
    line = one_line_error(offline("env", "add", "qa", "--agent-arn", ARN, "--mcp-arn", "nope"))
    assert "--mcp-arn='nope': expected an agent runtime ARN" in line


def test_a_deployed_environment_without_credentials_says_how_to_get_some(offline: Kit) -> None:
    offline("env", "add", "dev", "--agent-arn", ARN, "--mcp-arn", MCP_ARN)
    line = one_line_error(offline("--env", "dev", "ask", "hi"))
    assert "no AWS credentials found to invoke the agent of environment 'dev'" in line
    line = one_line_error(offline("--env", "dev", "tasks", "list"))
    assert "no AWS credentials found to sign requests to the MCP runtime of 'dev'" in line
    assert "aws sso login" in line


def test_tasks_need_the_environment_s_mcp_server(offline: Kit) -> None:
    offline("env", "add", "old", "--agent-arn", ARN)
    line = one_line_error(offline("--env", "old", "tasks", "status", "t"))
    assert "environment 'old' has no MCP server" in line and "--mcp-arn" in line


def test_a_jwt_environment_needs_its_token(offline: Kit) -> None:
    offline("env", "add", "dev", "--agent-arn", ARN, "--mcp-arn", MCP_ARN, "--jwt-token-env", "DEV_TOKEN")
    line = one_line_error(offline("--env", "dev", "tasks", "list"))
    assert "uses JWT: set DEV_TOKEN (or pass --token)" in line


def test_approve_without_a_region_says_how_to_give_one(offline: Kit) -> None:
    line = one_line_error(offline("approve", "--table", "t", "--key", "0" * 64, "--approve", "--yes"))
    assert "no AWS region: pass --region or set AWS_REGION" in line
    assert offline("approve", "--table", "t", "--key", "k").returncode == 2  # neither --approve nor --reject
    assert "--reason is required" in offline("approve", "--table", "t", "--key", "k", "--reject").stderr


def test_approve_without_credentials_is_one_line(offline: Kit) -> None:
    done = offline("approve", "--table", "t", "--key", "0" * 64, "--approve", "--region", "eu-west-1")
    assert "no AWS credentials found" in one_line_error(done)


def test_redrive_takes_the_region_from_the_workflow_and_checks_the_arn(offline: Kit) -> None:
    line = one_line_error(offline("redrive", "--queue-url", "q", "--state-machine-arn", "Workflow"))
    assert "--state-machine-arn='Workflow': expected arn:aws:states:REGION" in line
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:Workflow"
    line = one_line_error(
        offline("redrive", "--queue-url", "https://sqs.eu-west-1.amazonaws.com/1/q", "--state-machine-arn", arn)
    )
    assert "no AWS credentials found" in line


def test_preview_compares_with_the_last_one(offline: Kit, tmp_path: Path) -> None:
    assembly, state = tmp_path / "cdk.out", tmp_path / "previews"
    stage = assembly / "assembly-qa"
    stage.mkdir(parents=True)
    nested = {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-qa", "displayName": "qa"}}
    (assembly / "manifest.json").write_text(json.dumps({"artifacts": {"assembly-qa": nested}}))
    stack = {"type": "aws:cloudformation:stack", "displayName": "qa/Logs", "properties": {"templateFile": "qa.json"}}
    (stage / "manifest.json").write_text(json.dumps({"artifacts": {"qaLogs": stack}}))

    def template(days: int) -> None:
        group = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": "/agent-kit/qa/x", "RetentionInDays": days},
        }
        (stage / "qa.json").write_text(json.dumps({"Resources": {"Logs": group}}))

    template(7)
    first = offline("preview", "--outdir", str(assembly), "--state-dir", str(state))
    assert first.returncode == 0, first
    assert "/agent-kit/qa/x  kept 7 days" in first.stdout and "this one is the baseline" in first.stdout
    template(30)
    second = offline.json("preview", "--outdir", str(assembly), "--state-dir", str(state))
    assert second["qa"]["changes"] == ["~ log groups /agent-kit/qa/x: kept 7 days -> kept 30 days"]
    missing = one_line_error(offline("preview", "prod", "--outdir", str(assembly), "--state-dir", str(state)))
    assert "prod not synthesized" in missing and "make synth ENV=prod" in missing
