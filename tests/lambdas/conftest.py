"""The synthesized handoff workflow, executed by moto's Step Functions interpreter.

The state machine definition, the Lambda handler names and the idempotency table's key
schema are all read from the CDK templates; only their CloudFormation tokens are resolved
to the moto resources created here. When moto invokes a Lambda, the real handler runs
in-process (moto's Docker-less Lambda backend would only echo the payload).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "lambdas"))
os.environ.update(
    {
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "AgentKitTest",
    }
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
MEMORY_ID = "kit_test_memory-abcdefghij"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass
class SynthesizedHandoff:
    """What the CDK app produced for one environment's handoff."""

    definition_parts: list[Any]
    functions: dict[str, dict[str, Any]]  # logical id -> Lambda properties
    idempotency_table: dict[str, Any]  # AWS::DynamoDB::Table properties
    event_pattern: dict[str, Any]
    env_name: str


def _synthesize(env_name: str) -> SynthesizedHandoff:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from app import build

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    app = cdk.App(context={**context, "env": env_name})
    (stage,) = build(app)
    handoff = Template.from_stack(stage.handoff).to_json()["Resources"]
    stateful = Template.from_stack(stage.stateful).to_json()["Resources"]
    (machine,) = [r for r in handoff.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    (rule,) = [r for r in handoff.values() if r["Type"] == "AWS::Events::Rule"]
    tables = [r["Properties"] for k, r in stateful.items() if k.startswith("IdempotencyTable")]
    return SynthesizedHandoff(
        definition_parts=machine["Properties"]["DefinitionString"]["Fn::Join"][1],
        functions={k: r["Properties"] for k, r in handoff.items() if r["Type"] == "AWS::Lambda::Function"},
        idempotency_table=tables[0],
        event_pattern=rule["Properties"]["EventPattern"],
        env_name=env_name,
    )


@pytest.fixture(scope="session")
def synthesized_dev() -> SynthesizedHandoff:
    return _synthesize("dev")  # approval off


@pytest.fixture(scope="session")
def synthesized_staging() -> SynthesizedHandoff:
    return _synthesize("staging")  # approval on


class _Context:
    """The parts of a LambdaContext that Powertools reads."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = f"req-{time.monotonic_ns()}"
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class FunctionError(Exception):
    """A failure the Lambda runtime reports for a function it stopped (timeout, out of memory):
    the state's error is `error_type` (e.g. `Sandbox.Timedout`), whatever the handler was doing."""

    def __init__(self, error_type: str, message: str = "") -> None:
        super().__init__(message or error_type)
        self.error_type = error_type


class InvokeError(Exception):
    """The Invoke call itself failed (Step Functions sees `Lambda.<code>`), as when the client
    gives up waiting (`ClientExecutionTimeoutException`) while the function may still run."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


# A test's stand-in for one function: it gets the event and the real handler (call it, or not,
# or in another thread) and returns the result or raises (FunctionError, InvokeError, anything).
Fault = Callable[[Any, Callable[[Any], Any]], Any]


def _handler(handler_path: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = handler_path.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)  # type: ignore[no-any-return]


def _run_handler(
    handler_path: str, event: Any, function_name: str, fault: Fault | None = None
) -> tuple[str, bool, str]:
    handler = _handler(handler_path)

    def real(e: Any) -> Any:
        return handler(e, _Context(function_name))

    try:
        return json.dumps(fault(event, real) if fault else real(event)), False, ""
    except InvokeError:
        raise
    except Exception as exc:  # the Lambda runtime's error shape: errorType becomes the state error
        body = {
            "errorType": exc.error_type if isinstance(exc, FunctionError) else type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_exc(),
        }
        return json.dumps(body), True, ""


def short_name(handler_path: str) -> str:
    """`handoff.handlers.execute.handler` -> `execute`."""
    return handler_path.split(".")[-2]


@dataclass
class Workflow:
    sfn: Any
    dynamodb: Any
    ssm: Any
    memory: Any
    state_machine_arn: str
    table_name: str
    ledger_prefix: str
    # Stand-ins by function (`validate`, `approval`, `execute`, `compensate`, `record`).
    faults: dict[str, Fault] = field(default_factory=dict)
    # Every Retry interval the interpreter asked to wait, in seconds (it does not wait).
    retry_waits: list[float] = field(default_factory=list)

    def start(self, detail: dict[str, Any], name: str) -> str:
        return self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(detail))[
            "executionArn"
        ]

    def wait(self, execution_arn: str, *, until: tuple[str, ...] = TERMINAL, deadline_s: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in until:
                return described
            time.sleep(0.05)
        raise TimeoutError(f"{execution_arn} still {described['status']} after {deadline_s}s")

    def states_entered(self, execution_arn: str) -> list[str]:
        history = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]

    def task_errors(self, execution_arn: str) -> list[str]:
        """The error of every failed task attempt, in order (retried ones included)."""
        history = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return [e["taskFailedEventDetails"]["error"] for e in history if "taskFailedEventDetails" in e]

    def claim_state(self, idempotency_key: str) -> str | None:
        claim = self.claim(idempotency_key)
        return claim["state"]["S"] if claim and "state" in claim else None

    def claim(self, idempotency_key: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(TableName=self.table_name, Key={"id": {"S": f"claim#{idempotency_key}"}})
        return item.get("Item")

    def wait_for_approval_token(self, idempotency_key: str, deadline_s: float = 30) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if (self.claim(idempotency_key) or {}).get("approval_token"):
                return
            time.sleep(0.05)
        raise TimeoutError("the approval step did not store a task token")

    def memory_events(self, actor_id: str, session_id: str) -> list[dict[str, Any]]:
        return self.memory.list_events(
            memoryId=MEMORY_ID, actorId=actor_id, sessionId=session_id, includePayloads=True
        )["events"]

    def ledger(self, idempotency_key: str) -> dict[str, Any] | None:
        try:
            return self.ssm.get_parameter(Name=f"{self.ledger_prefix}/sandbox-requests/{idempotency_key}")["Parameter"]
        except self.ssm.exceptions.ParameterNotFound:
            return None


def _resolve(parts: list[Any], tokens: dict[str, str]) -> str:
    resolved = []
    for part in parts:
        if isinstance(part, str):
            resolved.append(part)
            continue
        key = json.dumps(part, sort_keys=True)
        if key not in tokens:
            raise KeyError(f"unresolved token in the synthesized definition: {key}")
        resolved.append(tokens[key])
    return "".join(resolved)


def _start_workflow(synthesized: SynthesizedHandoff, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workflow]:
    import boto3
    from moto import mock_aws
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.exceptions import JsonRESTError
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        table_props = synthesized.idempotency_table
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        table_name = f"{synthesized.env_name}-idempotency"
        dynamodb.create_table(
            TableName=table_name,
            KeySchema=table_props["KeySchema"],
            AttributeDefinitions=table_props["AttributeDefinitions"],
            BillingMode=table_props["BillingMode"],
        )
        iam = boto3.client("iam", region_name=REGION)
        role_arn = iam.create_role(RoleName="handoff", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lambda_client = boto3.client("lambda", region_name=REGION)
        tokens = {
            json.dumps({"Ref": "AWS::Partition"}): "aws",
            json.dumps({"Ref": "AWS::Region"}): REGION,
            json.dumps({"Ref": "AWS::AccountId"}): ACCOUNT,
        }
        ledger_prefix = ""
        for logical_id, props in synthesized.functions.items():
            created = lambda_client.create_function(
                FunctionName=logical_id,
                Runtime="python3.12",
                Role=role_arn,
                Handler=props["Handler"],
                Code={"ZipFile": b"in-process"},
            )
            tokens[json.dumps({"Fn::GetAtt": [logical_id, "Arn"]}, sort_keys=True)] = created["FunctionArn"]
            ledger_prefix = props["Environment"]["Variables"]["LEDGER_PREFIX"]
            # The handlers share this process: each literal variable a function gets is set, so a
            # setting only one function has (the approval's APPROVAL_ALLOW_SELF) is the template's.
            for name, value in props["Environment"]["Variables"].items():
                if isinstance(value, str):
                    monkeypatch.setenv(name, value)
        for token in synthesized.definition_parts:
            if (
                isinstance(token, dict)
                and "Fn::ImportValue" in token
                and "IdempotencyTable" in token["Fn::ImportValue"]
            ):
                tokens[json.dumps(token, sort_keys=True)] = table_name
        definition = _resolve(synthesized.definition_parts, tokens)

        monkeypatch.setenv("IDEMPOTENCY_TABLE", table_name)
        monkeypatch.setenv("MEMORY_ID", MEMORY_ID)
        monkeypatch.setenv("LEDGER_PREFIX", ledger_prefix)
        from handoff.observability import persistence_layer
        from handoff.settings import settings

        settings.cache_clear()
        persistence_layer.cache_clear()

        faults: dict[str, Fault] = {}

        def invoke(self, function_name, qualifier, body, headers, response_headers):  # type: ignore[no-untyped-def]
            function = self.get_function(function_name, qualifier)
            fault = faults.get(short_name(function.handler))
            try:
                payload, errored, _ = _run_handler(
                    function.handler, json.loads(body or "{}"), function.function_name, fault
                )
            except InvokeError as exc:
                raise JsonRESTError(exc.code, str(exc)) from None
            if errored:
                response_headers["x-amz-function-error"] = "Unhandled"
            return payload.encode()

        monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
        # moto really sleeps each Retry interval; the tests record the intervals instead.
        retry_waits: list[float] = []
        monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=retry_waits.append))
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine_arn = sfn.create_state_machine(
            name=f"handoff-{synthesized.env_name}", definition=definition, roleArn=role_arn, type="STANDARD"
        )["stateMachineArn"]
        yield Workflow(
            sfn=sfn,
            dynamodb=dynamodb,
            ssm=boto3.client("ssm", region_name=REGION),
            memory=boto3.client("bedrock-agentcore", region_name=REGION),
            state_machine_arn=machine_arn,
            table_name=table_name,
            ledger_prefix=ledger_prefix,
            faults=faults,
            retry_waits=retry_waits,
        )
        settings.cache_clear()
        persistence_layer.cache_clear()


@pytest.fixture
def workflow(synthesized_dev: SynthesizedHandoff, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workflow]:
    yield from _start_workflow(synthesized_dev, monkeypatch)


@pytest.fixture
def approval_workflow(synthesized_staging: SynthesizedHandoff, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workflow]:
    yield from _start_workflow(synthesized_staging, monkeypatch)
