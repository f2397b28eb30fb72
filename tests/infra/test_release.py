"""Releases: each runtime is called through a named endpoint, and the release command moves it.

The templates: endpoints, their versions and the qualifier every caller uses. The command
(`stacks/release.py`): against moto 5.2.5's AgentCore control plane (runtimes, versions,
endpoints), CloudFormation's DescribeStacks and the data plane's InvokeAgentRuntime through
botocore Stubbers (moto has neither), which check each request against the service model.

moto leaves what an update creates in the state it had mid-update: a runtime version stays
UPDATING in ListAgentRuntimeVersions, and an endpoint update records the version as targetVersion,
stays UPDATING and never moves liveVersion. The service finishes both: versions become READY, and
the endpoint serves the new version as its liveVersion once READY (GetAgentRuntimeEndpoint:
liveVersion is "the currently deployed version"). `finished_updates` makes moto do the same.
"""

from __future__ import annotations

import io
import json
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from aws_cdk.assertions import Template
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.bedrockagentcorecontrol import models as control_models

from app import build
from stacks import release
from stacks.config import CONFIG_DIR, ConfigError, load_environment, load_file
from stacks.release import BearerSmoke, ReleaseError, Releaser, RuntimeRef, SigV4Smoke, check_agent, check_mcp
from tests.infra.conftest import make_app

REGION = "us-east-1"
ACCOUNT = "123456789012"
AGENT = "AgentRuntime23CE8C05"
MCP = "McpServerRuntime59F17E8D"


# ---------------------------------------------------------------- the templates
def endpoints(synthesized, env: str) -> dict[str, dict[str, Any]]:
    found = synthesized.template(env, "runtimes").find_resources("AWS::BedrockAgentCore::RuntimeEndpoint")
    return {
        f"{p['Properties']['AgentRuntimeId']['Fn::GetAtt'][0]}/{p['Properties']['Name']}": p for p in found.values()
    }


def test_on_deploy_environments_have_one_endpoint_that_follows_each_version(synthesized) -> None:
    found = endpoints(synthesized, "dev")
    assert sorted(found) == [f"{AGENT}/live", f"{MCP}/live"]
    for runtime in (AGENT, MCP):
        endpoint = found[f"{runtime}/live"]
        assert endpoint["Properties"]["AgentRuntimeVersion"] == {"Fn::GetAtt": [runtime, "AgentRuntimeVersion"]}
        assert endpoint["DependsOn"] == [runtime]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_manual_environments_pin_the_callers_endpoint_and_test_through_a_candidate(synthesized, env: str) -> None:
    found = endpoints(synthesized, env)
    assert sorted(found) == [f"{AGENT}/live", f"{AGENT}/live_candidate", f"{MCP}/live", f"{MCP}/live_candidate"]
    for runtime in (AGENT, MCP):
        # A constant: CloudFormation never moves it again; the release command does.
        assert found[f"{runtime}/live"]["Properties"]["AgentRuntimeVersion"] == "1"
        assert found[f"{runtime}/live_candidate"]["Properties"]["AgentRuntimeVersion"] == {
            "Fn::GetAtt": [runtime, "AgentRuntimeVersion"]
        }


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_caller_names_the_endpoint_never_default(synthesized, env: str) -> None:
    template = synthesized.template_json(env, "runtimes")
    agent_env = template["Resources"][AGENT]["Properties"]["EnvironmentVariables"]
    assert json.dumps(agent_env["MCP_RUNTIME_URL"]).endswith('"/invocations?qualifier=live"]]}')
    outputs = template["Outputs"]
    for name in ("Agent", "McpServer"):
        assert json.dumps(outputs[f"{name}InvokeUrl"]["Value"]).endswith('"/invocations?qualifier=live"]]}')
        assert outputs[f"{name}EndpointName"]["Value"] == "live"
    assert "qualifier=DEFAULT" not in json.dumps(template)


def test_each_endpoint_has_its_own_encrypted_log_group(synthesized) -> None:
    groups = synthesized.template("staging", "runtimes").find_resources("AWS::Logs::LogGroup")
    names = [json.dumps(g["Properties"]["LogGroupName"]) for g in groups.values()]
    for runtime in (AGENT, MCP):
        for suffix in ("-DEFAULT", "-live", "-live_candidate"):
            assert sum(runtime in n and n.endswith(f'"{suffix}"]]}}') for n in names) == 1, (runtime, suffix)


def test_the_endpoint_name_comes_from_config(tmp_path: Path) -> None:
    data = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())
    data["release"] = {"endpoint": "prod_v", "promotion": "manual"}
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    (stage,) = build(make_app(tmp_path / "out", env="dev", config_dir=str(tmp_path)))
    template = Template.from_stack(stage.runtimes)
    names = {
        p["Properties"]["Name"] for p in template.find_resources("AWS::BedrockAgentCore::RuntimeEndpoint").values()
    }
    assert names == {"prod_v", "prod_v_candidate"}
    env = template.to_json()["Resources"][AGENT]["Properties"]["EnvironmentVariables"]
    assert json.dumps(env["MCP_RUNTIME_URL"]).endswith('"/invocations?qualifier=prod_v"]]}')


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("DEFAULT", "AgentCore's own endpoint"),
        ("default", "AgentCore's own endpoint"),
        ("live-1", "must match"),
        ("1live", "must match"),
        ("l" * 39, "short enough to append '_candidate'"),
    ],
)
def test_the_endpoint_name_is_checked_at_synth(tmp_path: Path, endpoint: str, message: str) -> None:
    config_dir = write_env(tmp_path, "dev", release={"endpoint": endpoint})
    with pytest.raises(ConfigError) as raised:
        load_file(config_dir / "dev.yaml")
    assert "release.endpoint" in str(raised.value) and message in str(raised.value)


# ---------------------------------------------------------------- the command
@pytest.fixture
def finished_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    def update(self: Any, agent_runtime_version: str | None, description: str | None) -> None:
        if agent_runtime_version is not None:
            self.target_version = self.live_version = agent_runtime_version
        self.status = "READY"

    monkeypatch.setattr(control_models.AgentRuntimeEndpoint, "update", update)
    snapshot = control_models.AgentRuntime._snapshot_version

    def finished_version(self: Any) -> None:
        snapshot(self)
        self.versions[-1]["status"] = "READY"

    monkeypatch.setattr(control_models.AgentRuntime, "_snapshot_version", finished_version)


@pytest.fixture
def control(finished_updates: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("bedrock-agentcore-control", region_name=REGION)


def deploy(control: Any, name: str, versions: int, live: str = "1") -> RuntimeRef:
    """A runtime with `versions` versions, its live endpoint at `live` and the candidate at the newest."""
    artifact = {"containerConfiguration": {"containerUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/kit:1"}}
    created = control.create_agent_runtime(
        agentRuntimeName=name,
        agentRuntimeArtifact=artifact,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/kit",
        networkConfiguration={"networkMode": "PUBLIC"},
    )
    runtime_id = created["agentRuntimeId"]
    for _ in range(versions - 1):
        control.update_agent_runtime(
            agentRuntimeId=runtime_id,
            agentRuntimeArtifact=artifact,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/kit",
            networkConfiguration={"networkMode": "PUBLIC"},
        )
    control.create_agent_runtime_endpoint(agentRuntimeId=runtime_id, name="live", agentRuntimeVersion=live)
    control.create_agent_runtime_endpoint(agentRuntimeId=runtime_id, name="live_candidate")
    return RuntimeRef(name, f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:runtime/{runtime_id}")


class Smokes:
    """Records each smoke call; fails the ones it is told to."""

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.calls: list[tuple[str, str]] = []
        self.failing = failing

    def __call__(self, runtime: RuntimeRef, qualifier: str) -> str:
        self.calls.append((runtime.name, qualifier))
        if runtime.name in self.failing:
            raise ReleaseError("tools/list returned no tools")
        return "ok"


def releaser(control: Any, smoke: Smokes) -> Releaser:
    return Releaser(control, "live", "live_candidate", smoke, out=io.StringIO(), sleep=lambda _: None)


def live_version(control: Any, runtime: RuntimeRef, endpoint: str = "live") -> str:
    answer = control.get_agent_runtime_endpoint(agentRuntimeId=runtime.runtime_id, endpointName=endpoint)
    return str(answer["liveVersion"])


def test_promote_smoke_tests_the_newest_version_then_moves_live(control: Any) -> None:
    mcp = deploy(control, "mcp_server", versions=3)
    smoke = Smokes()
    assert releaser(control, smoke).promote(mcp) is True
    assert smoke.calls == [("mcp_server", "live_candidate")]
    assert live_version(control, mcp) == "3"


def test_a_failed_smoke_call_leaves_live_where_it_was(control: Any) -> None:
    mcp = deploy(control, "mcp_server", versions=2)
    with pytest.raises(
        ReleaseError, match=r"version 2 failed its smoke call through live_candidate.*still serves version 1"
    ):
        releaser(control, Smokes(failing={"mcp_server"})).promote(mcp)
    assert live_version(control, mcp) == "1"


def test_promoting_an_older_version_moves_the_candidate_to_it_first(control: Any) -> None:
    agent = deploy(control, "agent", versions=4)
    releaser(control, Smokes()).promote(agent, "3")
    assert live_version(control, agent, "live_candidate") == "3" and live_version(control, agent) == "3"


def test_promote_is_a_no_op_when_live_already_serves_the_version(control: Any) -> None:
    mcp = deploy(control, "mcp_server", versions=2, live="2")
    smoke = Smokes()
    assert releaser(control, smoke).promote(mcp) is False and smoke.calls == []


def test_an_unknown_version_is_refused_before_anything_moves(control: Any) -> None:
    mcp = deploy(control, "mcp_server", versions=2)
    with pytest.raises(ReleaseError, match="no ready version 7"):
        releaser(control, Smokes()).promote(mcp, "7")
    assert live_version(control, mcp) == "1"


def test_rollback_returns_to_the_version_before_live(control: Any) -> None:
    mcp = deploy(control, "mcp_server", versions=4, live="3")
    smoke = Smokes()
    assert releaser(control, smoke).rollback(mcp) is True
    assert live_version(control, mcp) == "2" and smoke.calls == []  # it served callers before
    with pytest.raises(ReleaseError, match="none before it"):
        deploy_one = deploy(control, "agent", versions=1)
        releaser(control, smoke).rollback(deploy_one)


def test_an_endpoint_that_fails_to_move_is_reported(control: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    mcp = deploy(control, "mcp_server", versions=2)

    def failing(self: Any, agent_runtime_version: str | None, description: str | None) -> None:
        self.status = "UPDATE_FAILED"

    monkeypatch.setattr(control_models.AgentRuntimeEndpoint, "update", failing)
    with pytest.raises(ReleaseError, match="did not move to version 2: UPDATE_FAILED"):
        releaser(control, Smokes()).promote(mcp)


def test_status_lists_each_endpoint_and_the_newest_version(control: Any) -> None:
    agent = deploy(control, "agent", versions=2)
    assert releaser(control, Smokes()).status(agent) == {
        "runtime": "agent",
        "live": "1",
        "live_candidate": "2",
        "newest": "2",
    }


def write_env(tmp_path: Path, name: str, **changes: Any) -> Path:
    data = yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text())
    data.update(changes)
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


class Session:
    """What main() takes from boto3.Session: a region and clients (moto's, or stubbed)."""

    region_name = REGION

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    def client(self, service: str) -> Any:
        return self.clients[service]


def stack_outputs(runtimes: dict[str, RuntimeRef], stack: str) -> Stubber:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(cloudformation)
    outputs = [{"OutputKey": release.OUTPUTS[name], "OutputValue": ref.arn} for name, ref in runtimes.items()]
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": stack,
                    "CreationTime": "2026-11-30T00:00:00Z",
                    "StackStatus": "UPDATE_COMPLETE",
                    "Outputs": outputs,
                }
            ]
        },
        {"StackName": stack},
    )
    stubber.activate()
    return stubber


def test_main_promotes_the_mcp_server_before_the_agent(control: Any, tmp_path: Path) -> None:
    runtimes = {"mcp_server": deploy(control, "mcp_server", versions=2), "agent": deploy(control, "agent", versions=2)}
    clients = {
        "bedrock-agentcore-control": control,
        "cloudformation": stack_outputs(runtimes, "staging-Runtimes").client,
    }
    smoke = Smokes()
    code = release.main(
        ["promote", "--env", "staging", "--yes", "--config-dir", str(write_env(tmp_path, "staging"))],
        session=Session(clients),
        smoke=smoke,
    )
    assert code == 0
    assert smoke.calls == [("mcp_server", "live_candidate"), ("agent", "live_candidate")]
    assert all(live_version(control, ref) == "2" for ref in runtimes.values())


def test_main_does_not_promote_the_agent_after_a_failed_mcp_server(
    control: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtimes = {"mcp_server": deploy(control, "mcp_server", versions=2), "agent": deploy(control, "agent", versions=2)}
    clients = {
        "bedrock-agentcore-control": control,
        "cloudformation": stack_outputs(runtimes, "staging-Runtimes").client,
    }
    code = release.main(
        ["promote", "--env", "staging", "--yes", "--config-dir", str(write_env(tmp_path, "staging"))],
        session=Session(clients),
        smoke=Smokes(failing={"mcp_server"}),
    )
    assert code == 1 and "release failed: mcp_server: version 2 failed" in capsys.readouterr().err
    assert all(live_version(control, ref) == "1" for ref in runtimes.values())


def test_main_rolls_back_the_agent_first(control: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runtimes = {
        "mcp_server": deploy(control, "mcp_server", versions=3, live="3"),
        "agent": deploy(control, "agent", versions=3, live="3"),
    }
    clients = {"bedrock-agentcore-control": control, "cloudformation": stack_outputs(runtimes, "prod-Runtimes").client}
    code = release.main(
        ["rollback", "--env", "prod", "--yes", "--config-dir", str(write_env(tmp_path, "prod"))],
        session=Session(clients),
        smoke=Smokes(),
    )
    assert code == 0 and all(live_version(control, ref) == "2" for ref in runtimes.values())
    moved = [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if "moved back" in line]
    assert moved == ["agent", "mcp_server"]


def test_promote_is_refused_where_each_deploy_promotes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = release.main(
        ["promote", "--env", "dev", "--config-dir", str(write_env(tmp_path, "dev"))], session=Session({})
    )
    assert code == 2 and "nothing to promote" in capsys.readouterr().err


def test_a_jwt_environment_needs_a_token_to_promote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_dir = write_env(tmp_path, "prod")
    code = release.main(["promote", "--env", "prod", "--config-dir", str(config_dir)], session=Session({}))
    assert code == 2 and "$KIT_RELEASE_TOKEN" in capsys.readouterr().err


def test_a_version_needs_its_runtime() -> None:
    with pytest.raises(SystemExit):
        release.parse_args(["promote", "--env", "prod", "--version", "3"])


def test_the_stack_name_is_the_stages() -> None:
    assert release.stack_name(load_environment("prod")) == "prod-Runtimes"


# ---------------------------------------------------------------- the smoke calls
MCP_ARN = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:runtime/kit_dev_mcp_server-AbCdE12345"
AGENT_ARN = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:runtime/kit_dev_agent-AbCdE12345"
TOOLS = {"jsonrpc": "2.0", "id": release.SMOKE_USER, "result": {"tools": [{"name": "count_lines"}]}}


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_the_sigv4_smoke_lists_the_mcp_servers_tools_through_the_candidate() -> None:
    data_plane = boto3.client("bedrock-agentcore", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(data_plane)
    answer = json.dumps(TOOLS).encode()
    stubber.add_response(
        "invoke_agent_runtime",
        {"response": body(answer), "contentType": "application/json", "statusCode": 200},
        {
            "agentRuntimeArn": MCP_ARN,
            "qualifier": "live_candidate",
            "runtimeSessionId": ANY,
            "contentType": "application/json",
            "accept": "application/json, text/event-stream",
            "mcpProtocolVersion": "2026-07-28",
            "mcpMethod": "tools/list",
            "payload": ANY,
        },
    )
    with stubber:
        assert SigV4Smoke(data_plane)(RuntimeRef("mcp_server", MCP_ARN), "live_candidate") == "tools/list: 1 tools"


def test_the_sigv4_smoke_asks_the_agent_as_a_user_who_owns_nothing() -> None:
    data_plane = boto3.client("bedrock-agentcore", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(data_plane)
    stream = b'data: {"type": "task", "status": "unknown"}\n\ndata: {"type": "done"}\n\n'
    stubber.add_response(
        "invoke_agent_runtime",
        {"response": body(stream), "contentType": "text/event-stream", "statusCode": 200},
        {
            "agentRuntimeArn": AGENT_ARN,
            "qualifier": "live_candidate",
            "runtimeSessionId": ANY,
            "contentType": "application/json",
            "accept": "application/json, text/event-stream",
            "runtimeUserId": "release-smoke",
            "payload": ANY,
        },
    )
    with stubber:
        assert SigV4Smoke(data_plane)(RuntimeRef("agent", AGENT_ARN), "live_candidate").endswith("done")


def test_the_requests_are_what_the_servers_expect() -> None:
    headers, payload = release.mcp_request()
    request = json.loads(payload)
    # The 2026-07-28 stateless envelope the kit's server checks (tests/mcp_server/test_hardening.py).
    assert headers == {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}
    assert request["method"] == "tools/list" and set(request["params"]["_meta"]) == {
        "io.modelcontextprotocol/protocolVersion",
        "io.modelcontextprotocol/clientCapabilities",
    }
    assert json.loads(release.agent_request())["action"] == "task_status"


@pytest.mark.parametrize(
    ("check", "data", "content_type", "message"),
    [
        (
            check_mcp,
            {"jsonrpc": "2.0", "id": "release-smoke", "error": {"code": -32602}},
            "application/json",
            "no result",
        ),
        (check_mcp, {"jsonrpc": "2.0", "id": "release-smoke", "result": {"tools": []}}, "application/json", "no tools"),
        (check_agent, None, "text/event-stream", "without 'done'"),
    ],
)
def test_a_smoke_answer_without_what_it_needs_fails(check: Any, data: Any, content_type: str, message: str) -> None:
    raw = json.dumps(data).encode() if data is not None else b'data: {"type": "text", "text": "hi"}\n\n'
    with pytest.raises(ReleaseError, match=message.replace("no result", "did not return a result")):
        check(raw, content_type)


def test_an_agent_error_event_fails_its_smoke_call() -> None:
    stream = b'data: {"type": "error", "message": "MCP server unreachable"}\n\ndata: {"type": "done"}\n\n'
    with pytest.raises(ReleaseError, match="MCP server unreachable"):
        check_agent(stream, "text/event-stream")


class Response(io.BytesIO):
    def __init__(self, data: bytes, content_type: str) -> None:
        super().__init__(data)
        self.headers = {"Content-Type": content_type}


def test_the_bearer_smoke_sends_the_token_to_the_candidate_endpoint() -> None:
    sent: list[Any] = []

    def opener(request: Any, timeout: float) -> Response:
        sent.append(request)
        return Response(json.dumps(TOOLS).encode(), "application/json")

    assert BearerSmoke(REGION, "eyJ.t.s", opener)(RuntimeRef("mcp_server", MCP_ARN), "live_candidate")
    (request,) = sent
    assert request.full_url.endswith("/invocations?qualifier=live_candidate")
    assert "runtime%2Fkit_dev_mcp_server-AbCdE12345" in request.full_url
    assert request.get_header("Authorization") == "Bearer eyJ.t.s"
    assert len(request.get_header("X-amzn-bedrock-agentcore-runtime-session-id")) >= 33


def test_a_refused_bearer_call_fails_with_its_status() -> None:
    def opener(request: Any, timeout: float) -> Response:
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", {}, io.BytesIO(b"token expired"))  # type: ignore[arg-type]

    with pytest.raises(ReleaseError, match="HTTP 403"):
        BearerSmoke(REGION, "t", opener)(RuntimeRef("agent", AGENT_ARN), "live_candidate")
