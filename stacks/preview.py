"""What a deploy would create, read offline from the synthesized templates, and what changed since the last look.

    python -m stacks.preview [ENV ...] [--outdir cdk.out] [--state-dir .local/preview] [--json] [--no-save]

Per environment (a Stage of the cloud assembly): resources by type; every IAM role with who
assumes it and each grant's actions and resources; public endpoints (invoke URLs, each runtime
endpoint and the version it follows, a gateway with its authorizer and target); and the cost
drivers (runtimes with their lifecycle, network and VPC ids, inbound auth and tracing; memory
expiry and strategies; DynamoDB billing and indexes, S3 lifecycle, log retention, functions and
workflows, alarms, schedules). The last preview of each
environment is kept in the state directory, and the next one lists what was added, removed or
changed. `make preview` synthesizes first; `kit preview` is the same from the command-line tool.

Standard library only: `kit` imports this module from the checkout, in its own environment.
Asset hashes (image tags, code keys) are left out, so a code change alone shows no change here.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTDIR = ROOT / "cdk.out"
DEFAULT_STATE_DIR = ROOT / ".local" / "preview"

Lines = str | list[str]
Preview = dict[str, dict[str, Lines]]  # section -> item -> its line, or its lines (roles)

SECTIONS = (
    "resources",
    "roles",
    "endpoints",
    "runtimes",
    "memory",
    "tables",
    "buckets",
    "log groups",
    "compute",
    "alarms",
    "schedules",
)
PSEUDO = {
    "AWS::Region": "{region}",
    "AWS::AccountId": "{account}",
    "AWS::Partition": "{partition}",
    "AWS::URLSuffix": "{url-suffix}",
    "AWS::StackName": "{stack}",
    "AWS::NoValue": "",
}
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")
_CDK_HASH = re.compile(r"[0-9A-F]{8}$")


class PreviewError(Exception):
    """Nothing to preview, or not what was asked: the message says what to run."""


@dataclass(frozen=True)
class Stack:
    name: str  # the display name, "dev/Stateful"
    template: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.template.get("Resources", {}))


# ---------------------------------------------------------------- reading the assembly
def environments(outdir: Path) -> dict[str, list[Stack]]:
    """The stacks of each environment (Stage) in a cloud assembly, in its manifest's order."""
    manifest_path = outdir / "manifest.json"
    if not manifest_path.is_file():
        raise PreviewError(f"no synthesized templates in {outdir}: run `make synth` first (`make preview` does)")
    found: dict[str, list[Stack]] = {}
    for directory, artifact in _artifacts(outdir):
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        name = artifact.get("displayName") or artifact["properties"]["templateFile"]
        template = json.loads((directory / artifact["properties"]["templateFile"]).read_text())
        found.setdefault(name.split("/", 1)[0], []).append(Stack(name, template))
    return found


def _artifacts(directory: Path) -> Iterable[tuple[Path, dict[str, Any]]]:
    manifest = json.loads((directory / "manifest.json").read_text())
    for artifact in manifest.get("artifacts", {}).values():
        if artifact.get("type") == "cdk:cloud-assembly":
            yield from _artifacts(directory / artifact["properties"]["directoryName"])
        else:
            yield directory, artifact


# ---------------------------------------------------------------- naming what templates refer to
class Names:
    """Renders CloudFormation values readably: construct paths for resources, {region} for pseudo parameters."""

    def __init__(self, stacks: list[Stack]) -> None:
        self.stacks = {stack.name: stack for stack in stacks}
        # Logical ids rather than construct paths: templates carry paths only when the CDK CLI
        # synthesizes them, and a preview must read the same from any synth. Two ids that shorten
        # alike keep their hashes.
        self._short: dict[str, dict[str, str]] = {}
        for stack in stacks:
            short = {logical_id: _CDK_HASH.sub("", logical_id) or logical_id for logical_id in stack.resources}
            taken = Counter(short.values())
            self._short[stack.name] = {k: v if taken[v] == 1 else k for k, v in short.items()}
        self.exports: dict[str, tuple[Stack, Any]] = {}
        for stack in stacks:
            for output in stack.template.get("Outputs", {}).values():
                export = (output.get("Export") or {}).get("Name")
                if isinstance(export, str):
                    self.exports[export] = (stack, output.get("Value"))

    def path(self, stack: Stack, logical_id: str) -> str:
        """`Runtimes/SweeperFunction`: the stack and the logical id without the hash CDK appends."""
        return f"{stack.name.split('/', 1)[-1]}/{self._short[stack.name].get(logical_id, logical_id)}"

    def resource(self, value: Any, stack: Stack) -> tuple[Stack, str] | None:
        """The resource a Ref (or an import of one) names."""
        if isinstance(value, dict) and isinstance(value.get("Ref"), str) and value["Ref"] in stack.resources:
            return stack, value["Ref"]
        if isinstance(value, dict) and "Fn::ImportValue" in value:
            exported = self.exports.get(str(value["Fn::ImportValue"]))
            if exported is not None:
                return self.resource(exported[1], exported[0])
        return None

    def text(self, value: Any, stack: Stack) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return json.dumps(value)
        if isinstance(value, list):
            return ", ".join(self.text(item, stack) for item in value)
        if not isinstance(value, dict) or len(value) != 1:
            return json.dumps(value, sort_keys=True)
        ((function, argument),) = value.items()
        if function == "Ref":
            return self._ref(str(argument), stack)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return f"<{self.path(stack, logical_id)}>.{attribute}"
        if function == "Fn::ImportValue":
            exported = self.exports.get(self.text(argument, stack))
            return self.text(exported[1], exported[0]) if exported else f"{{import {self.text(argument, stack)}}}"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(self.parts(parts, stack))
        if function == "Fn::Select":
            index, items = argument
            chosen = self.parts(items, stack)
            position = int(self.text(index, stack))
            return chosen[position] if 0 <= position < len(chosen) else f"{{select {position}}}"
        if function == "Fn::Sub":
            template, variables = (argument, {}) if isinstance(argument, str) else argument
            return _SUB.sub(lambda m: self._sub(m.group(1), variables, stack), template)
        return f"{{{function.removeprefix('Fn::')} {self.text(argument, stack)}}}"

    def parts(self, value: Any, stack: Stack) -> list[str]:
        """A list-valued expression's items (Fn::Split of a reference stays whole)."""
        if isinstance(value, list):
            return [self.text(item, stack) for item in value]
        if isinstance(value, dict) and "Fn::Split" in value:
            separator, source = value["Fn::Split"]
            whole = self.text(source, stack)
            return [whole] if "<" in whole else whole.split(separator)
        return [self.text(value, stack)]

    def _ref(self, name: str, stack: Stack) -> str:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in stack.resources:
            return f"<{self.path(stack, name)}>"
        return f"{{parameter {name}}}"

    def _sub(self, name: str, variables: dict[str, Any], stack: Stack) -> str:
        if name in variables:
            return self.text(variables[name], stack)
        if name in PSEUDO:
            return PSEUDO[name]
        logical_id, _, attribute = name.partition(".")
        if attribute:
            return f"<{self.path(stack, logical_id)}>.{attribute}"
        return self._ref(name, stack)


# ---------------------------------------------------------------- the sections
def preview(stacks: list[Stack]) -> Preview:
    names = Names(stacks)
    sections: Preview = {section: {} for section in SECTIONS}
    counts = Counter(r["Type"] for s in stacks for r in s.resources.values() if r["Type"] != "AWS::CDK::Metadata")
    sections["resources"] = {kind: str(count) for kind, count in sorted(counts.items())}
    sections["roles"] = roles(stacks, names)
    for stack in stacks:
        for name, output in stack.template.get("Outputs", {}).items():
            if name.endswith(("Url", "Endpoint")) and "Export" not in output:
                sections["endpoints"][f"{stack.name.split('/', 1)[-1]} output {name}"] = names.text(
                    output["Value"], stack
                )
        for logical_id, resource in sorted(stack.resources.items()):
            describe = DESCRIBERS.get(resource["Type"])
            if describe is not None:
                section, key, line = describe(resource.get("Properties") or {}, stack, logical_id, names)
                sections[section][key] = line
    return {section: dict(sorted(items.items())) for section, items in sections.items()}


def roles(stacks: list[Stack], names: Names) -> dict[str, Lines]:
    found: dict[tuple[str, str], list[str]] = {}
    for stack in stacks:
        for logical_id, resource in stack.resources.items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            props = resource.get("Properties") or {}
            lines = [f"assumed by {', '.join(_principals(props.get('AssumeRolePolicyDocument') or {}, stack, names))}"]
            lines += [f"managed policy {names.text(arn, stack)}" for arn in props.get("ManagedPolicyArns") or []]
            for policy in props.get("Policies") or []:
                lines += _statements(policy.get("PolicyDocument") or {}, stack, names)
            found[(stack.name, logical_id)] = lines
    for stack in stacks:
        for resource in stack.resources.values():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            props = resource.get("Properties") or {}
            for role in props.get("Roles") or []:
                owner = names.resource(role, stack)
                key = (owner[0].name, owner[1]) if owner else ("", f"role {names.text(role, stack)} (outside the kit)")
                found.setdefault(key, []).extend(_statements(props.get("PolicyDocument") or {}, stack, names))
    result: dict[str, Lines] = {}
    for (stack_name, logical_id), lines in found.items():
        owner_stack = names.stacks.get(stack_name)
        result[names.path(owner_stack, logical_id) if owner_stack else logical_id] = lines
    return result


def _principals(document: dict[str, Any], stack: Stack, names: Names) -> list[str]:
    principals: list[str] = []
    for statement in _listed(document.get("Statement")):
        principal = statement.get("Principal") or {}
        if not isinstance(principal, dict):
            principals.append(names.text(principal, stack))
            continue
        for kind in ("Service", "AWS", "Federated"):
            principals += [names.text(p, stack) for p in _listed(principal.get(kind))]
    return sorted(set(principals)) or ["nobody"]


def _statements(document: dict[str, Any], stack: Stack, names: Names) -> list[str]:
    lines = []
    for statement in _listed(document.get("Statement")):
        actions = ", ".join(sorted(names.text(a, stack) for a in _listed(statement.get("Action"))))
        if "NotAction" in statement:
            actions = "all but " + ", ".join(sorted(names.text(a, stack) for a in _listed(statement["NotAction"])))
        resources = ", ".join(names.text(r, stack) for r in _listed(statement.get("Resource")))
        if "NotResource" in statement:
            resources = "all but " + ", ".join(names.text(r, stack) for r in _listed(statement["NotResource"]))
        effect = "" if statement.get("Effect") == "Allow" else "DENY "
        line = f"{effect}{actions} on {resources}"
        for operator, tests in sorted((statement.get("Condition") or {}).items()):
            for key, value in sorted(tests.items()):
                line += f" if {operator} {key}={names.text(value, stack)}"
        lines.append(line)
    return lines


def _days(n: Any) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _runtime(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    lifecycle = props.get("LifecycleConfiguration") or {}
    idle = lifecycle.get("IdleRuntimeSessionTimeout")
    lifetime = lifecycle.get("MaxLifetime")
    line = (
        f"{props.get('ProtocolConfiguration', 'HTTP')}, idle timeout "
        f"{f'{idle} s' if idle is not None else 'default (900 s)'}, max lifetime "
        f"{f'{lifetime} s' if lifetime is not None else 'default (28800 s)'}, {_network(props, stack, names)}, "
        f"inbound auth {_inbound_auth(props, stack, names)}, {_tracing(props, stack, logical_id)}"
    )
    return "runtimes", names.text(props.get("AgentRuntimeName", logical_id), stack), line


def _network(props: dict[str, Any], stack: Stack, names: Names) -> str:
    """`network PUBLIC`, or `network VPC (subnets ...; security groups ...)`: where the runtime's interfaces go."""
    network = props.get("NetworkConfiguration") or {}
    mode = network.get("NetworkMode", "PUBLIC")
    config = network.get("NetworkModeConfig") or {}
    ids = [
        f"{label} {', '.join(names.parts(config[key], stack))}"
        for key, label in (("Subnets", "subnets"), ("SecurityGroups", "security groups"))
        if config.get(key)
    ]
    return f"network {mode}" + (f" ({'; '.join(ids)})" if ids else "")


def _inbound_auth(props: dict[str, Any], stack: Stack, names: Names) -> str:
    """A runtime's or a gateway's authorizer: the identity provider and whom it admits."""
    jwt = (props.get("AuthorizerConfiguration") or {}).get("CustomJWTAuthorizer") or {}
    kind = props.get("AuthorizerType")  # a gateway's; a runtime has none and is IAM without a JWT authorizer
    if not jwt:
        return kind or "IAM (SigV4)"
    admits = [
        f"{label} {', '.join(names.parts(jwt[key], stack))}"
        for key, label in (("AllowedClients", "clients"), ("AllowedAudience", "audience"))
        if jwt.get(key)
    ]
    detail = "; ".join([names.text(jwt.get("DiscoveryUrl"), stack), *admits])
    return f"{kind or 'JWT'} ({detail})"


def _tracing(props: dict[str, Any], stack: Stack, logical_id: str) -> str:
    """ADOT in the container (its switch variable) and the platform's spans delivered to X-Ray (a TRACES source)."""
    adot = (props.get("EnvironmentVariables") or {}).get("AGENT_OBSERVABILITY_ENABLED") == "true"
    xray = any(
        resource["Type"] == "AWS::Logs::DeliverySource"
        and (resource.get("Properties") or {}).get("LogType") == "TRACES"
        and (resource.get("Properties") or {}).get("ResourceArn") == {"Fn::GetAtt": [logical_id, "AgentRuntimeArn"]}
        for resource in stack.resources.values()
    )
    parts = [part for part, on in (("ADOT in the container", adot), ("platform spans to X-Ray", xray)) if on]
    return f"tracing on ({', '.join(parts)})" if parts else "tracing off"


def _memory(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    strategies = []
    for strategy in props.get("MemoryStrategies") or []:
        for kind, body in strategy.items():
            namespaces = ", ".join(names.parts(body.get("Namespaces") or [], stack))
            strategy_line = f"{kind.removesuffix('MemoryStrategy')} {body.get('Name', '')}".strip()
            strategies.append(f"{strategy_line} ({namespaces})" if namespaces else strategy_line)
    kept = props.get("EventExpiryDuration")
    line = f"events expire after {_days(kept)}" if kept is not None else "events expire after the default (90 days)"
    line += f"; strategies: {', '.join(strategies) if strategies else 'none (short-term events only)'}"
    return "memory", names.text(props.get("Name", logical_id), stack), line


def _table(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    billing = props.get("BillingMode", "PROVISIONED")
    if billing == "PROVISIONED":
        throughput = props.get("ProvisionedThroughput") or {}
        reads, writes = throughput.get("ReadCapacityUnits", "?"), throughput.get("WriteCapacityUnits", "?")
        mode = f"provisioned {reads} RCU / {writes} WCU"
    else:
        mode = "on demand (PAY_PER_REQUEST)"
    indexes = [
        f"{index['IndexName']} ({', '.join(k['AttributeName'] for k in index['KeySchema'])}; "
        f"{(index.get('Projection') or {}).get('ProjectionType', 'ALL')})"
        for index in props.get("GlobalSecondaryIndexes") or []
    ]
    ttl = props.get("TimeToLiveSpecification") or {}
    pitr = (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
    if props.get("Replicas"):  # AWS::DynamoDB::GlobalTable keeps PITR per replica
        pitr = any(
            (r.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
            for r in props["Replicas"]
        )
    line = (
        f"{mode}; indexes: {', '.join(indexes) or 'none'}; "
        f"TTL {ttl['AttributeName'] if ttl.get('Enabled') else 'off'}; point-in-time recovery {'on' if pitr else 'off'}"
    )
    key = names.text(props["TableName"], stack) if "TableName" in props else names.path(stack, logical_id)
    return "tables", key, line


def _bucket(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    rules = []
    for rule in (props.get("LifecycleConfiguration") or {}).get("Rules") or []:
        if rule.get("Status") != "Enabled":
            continue
        parts = [f"expire after {_days(rule['ExpirationInDays'])}"] if "ExpirationInDays" in rule else []
        if "AbortIncompleteMultipartUpload" in rule:
            parts.append(f"abort uploads after {_days(rule['AbortIncompleteMultipartUpload']['DaysAfterInitiation'])}")
        for transition in rule.get("Transitions") or []:
            parts.append(f"to {transition.get('StorageClass')} after {_days(transition.get('TransitionInDays'))}")
        rules.append(f"{rule.get('Id', 'rule')}: {', '.join(parts) or 'no expiry'}")
    versioning = (props.get("VersioningConfiguration") or {}).get("Status", "off")
    logging = props.get("LoggingConfiguration")
    line = f"lifecycle: {'; '.join(rules) or 'none (objects never expire)'}; versioning {versioning.lower()}"
    if logging:
        line += f"; access logs to {names.text(logging.get('DestinationBucketName'), stack)}"
    key = names.text(props["BucketName"], stack) if "BucketName" in props else names.path(stack, logical_id)
    return "buckets", key, line


def _log_group(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    days = props.get("RetentionInDays")
    key = names.text(props["LogGroupName"], stack) if "LogGroupName" in props else names.path(stack, logical_id)
    return "log groups", key, f"kept {_days(days)}" if days else "kept forever (no retention set)"


def _function(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    line = (
        f"Lambda {props.get('Runtime', 'container')} {', '.join(props.get('Architectures') or ['x86_64'])}, "
        f"{props.get('MemorySize', 128)} MB, timeout {props.get('Timeout', 3)} s"
    )
    if "ReservedConcurrentExecutions" in props:
        line += f", reserved concurrency {props['ReservedConcurrentExecutions']}"
    return "compute", names.path(stack, logical_id), line


def _workflow(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    logging = (props.get("LoggingConfiguration") or {}).get("Level", "OFF")
    line = f"Step Functions {props.get('StateMachineType', 'STANDARD')}, logging {logging}"
    return "compute", names.path(stack, logical_id), line


def _build(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    environment = props.get("Environment") or {}
    line = f"CodeBuild {environment.get('Type', '?')} {environment.get('ComputeType', '?')}"
    return "compute", names.path(stack, logical_id), line


def _alarm(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    if "MetricName" in props:
        statistic = props.get("Statistic") or props.get("ExtendedStatistic", "")
        watched = f"{props.get('Namespace', '')}/{props['MetricName']} {statistic}"
    else:
        expressions = [m.get("Expression") for m in props.get("Metrics") or [] if m.get("ReturnData", True)]
        watched = f"expression {next((e for e in expressions if e), '?')}"
    period = props.get("Period") or next(
        ((m.get("MetricStat") or {}).get("Period") for m in props.get("Metrics") or [] if m.get("MetricStat")), "?"
    )
    line = (
        f"{watched.strip()} {props.get('ComparisonOperator', '?')} {props.get('Threshold', '?')} "
        f"for {props.get('EvaluationPeriods', '?')} x {period} s"
    )
    key = names.text(props["AlarmName"], stack) if "AlarmName" in props else names.path(stack, logical_id)
    return "alarms", key, line


def _schedule(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    target = (props.get("Target") or {}).get("Arn")
    line = f"{props.get('ScheduleExpression', '?')} {props.get('State', 'ENABLED')}"
    if target is not None:
        line += f" -> {names.text(target, stack)}"
    return "schedules", names.path(stack, logical_id), line


def _rule(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    if "ScheduleExpression" in props:
        return (
            "schedules",
            names.path(stack, logical_id),
            f"{props['ScheduleExpression']} {props.get('State', 'ENABLED')}",
        )
    pattern = json.dumps(props.get("EventPattern", {}), sort_keys=True)
    return "compute", names.path(stack, logical_id), f"EventBridge rule on {pattern}"


def _gateway(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    name = names.text(props.get("Name", logical_id), stack)
    url = names.text({"Fn::GetAtt": [logical_id, "GatewayUrl"]}, stack)
    protocol = props.get("ProtocolType")
    line = (
        f"AgentCore Gateway{f' ({protocol})' if protocol else ''}, public at {url}, "
        f"inbound auth {_inbound_auth(props, stack, names)}"
    )
    return "endpoints", f"gateway {name}", line


def _gateway_target(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    """Where a gateway sends its calls, and with which credentials."""
    configuration = props.get("TargetConfiguration") or {}
    runtime = (configuration.get("Http") or {}).get("AgentcoreRuntime")
    if runtime is not None:
        qualifier = names.text(runtime.get("Qualifier", "DEFAULT"), stack)
        target = f"endpoint {qualifier} of {names.text(runtime.get('Arn'), stack)}"
    else:
        target = names.text(configuration, stack)
    credentials = ", ".join(
        str(c.get("CredentialProviderType", "?")) for c in props.get("CredentialProviderConfigurations") or []
    )
    line = f"{names.text(props.get('Name', logical_id), stack)} -> {target}, outbound {credentials or 'no credentials'}"
    return "endpoints", f"gateway target {names.path(stack, logical_id)}", line


def _function_url(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    return "endpoints", f"function URL {names.path(stack, logical_id)}", f"auth {props.get('AuthType', '?')}"


def _runtime_endpoint(props: dict[str, Any], stack: Stack, logical_id: str, names: Names) -> tuple[str, str, str]:
    runtime = names.text(props.get("AgentRuntimeId"), stack)
    name = names.text(props.get("Name", logical_id), stack)
    version = props.get("AgentRuntimeVersion")
    if isinstance(version, dict) and "AgentRuntimeVersion" in json.dumps(version.get("Fn::GetAtt")):
        # The runtime's current version: each deploy that creates a version moves the endpoint to it.
        follows = "follows each deployed version"
    elif isinstance(version, str | int):
        # A literal never changes in the template, so CloudFormation never moves the endpoint again.
        follows = f"starts at version {version}; only `python -m stacks.release promote` moves it"
    elif version is None:
        follows = "no version set"
    else:
        follows = f"version {names.text(version, stack)}"
    return "endpoints", f"runtime endpoint {names.path(stack, logical_id)}", f"{name} of {runtime}, {follows}"


DESCRIBERS = {
    "AWS::BedrockAgentCore::Runtime": _runtime,
    "AWS::BedrockAgentCore::RuntimeEndpoint": _runtime_endpoint,
    "AWS::BedrockAgentCore::Gateway": _gateway,
    "AWS::BedrockAgentCore::GatewayTarget": _gateway_target,
    "AWS::BedrockAgentCore::Memory": _memory,
    "AWS::DynamoDB::Table": _table,
    "AWS::DynamoDB::GlobalTable": _table,
    "AWS::S3::Bucket": _bucket,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::Url": _function_url,
    "AWS::StepFunctions::StateMachine": _workflow,
    "AWS::CodeBuild::Project": _build,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::Events::Rule": _rule,
}


# ---------------------------------------------------------------- changes since the last preview
def changes(old: Preview, new: Preview) -> list[str]:
    """`+ section item: line`, `- ...`, and `~ section item: old -> new`."""
    found: list[str] = []
    for section in dict.fromkeys([*(s for s in SECTIONS if s in old or s in new), *old, *new]):
        before, after = old.get(section, {}), new.get(section, {})
        for key in sorted(set(before) | set(after)):
            was, now = before.get(key), after.get(key)
            if was == now:
                continue
            if was is None or now is None:
                sign, value = ("+", now) if was is None else ("-", was)
                lines = value if isinstance(value, list) else [str(value)]
                found += [f"{sign} {section} {key}: {line}" for line in lines] or [f"{sign} {section} {key}"]
            elif isinstance(was, list) or isinstance(now, list):
                was_lines, now_lines = _listed(was), _listed(now)
                found += [f"- {section} {key}: {line}" for line in was_lines if line not in now_lines]
                found += [f"+ {section} {key}: {line}" for line in now_lines if line not in was_lines]
            else:
                found.append(f"~ {section} {key}: {was} -> {now}")
    return found


def compare_and_save(env: str, current: Preview, state_dir: Path, *, save: bool = True) -> tuple[str | None, list[str]]:
    """When the previous preview was taken (None: never) and what changed since; keeps this one as the next baseline."""
    path = state_dir / f"{env}.json"
    previous_at: str | None = None
    found: list[str] = []
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
            previous_at, found = saved.get("at"), changes(saved.get("sections", {}), current)
        except ValueError:
            previous_at = None  # a damaged file is replaced by this preview
    if save:
        state_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        at = datetime.now(UTC).isoformat(timespec="seconds")
        temporary.write_text(json.dumps({"env": env, "at": at, "sections": current}, indent=1, sort_keys=True))
        temporary.replace(path)
    return previous_at, found


# ---------------------------------------------------------------- text
def render(env: str, stacks: list[Stack], current: Preview) -> list[str]:
    total = sum(int(str(count)) for count in current["resources"].values())
    lines = [f"== {env}: {', '.join(stack.name for stack in stacks)} ({total} resources) =="]
    for section, items in current.items():
        lines.append(f"{section}:" if items else f"{section}: none")
        width = min(max((len(key) for key in items), default=0), 48)
        for key, value in items.items():
            if isinstance(value, list):
                lines.append(f"  {key}")
                lines += [f"    {line}" for line in value]
            else:
                lines.append(f"  {key:{width}}  {value}")
    return lines


def render_changes(env: str, previous_at: str | None, found: list[str]) -> list[str]:
    if previous_at is None:
        return [f"changes in {env}: no earlier preview to compare with; this one is the baseline"]
    if not found:
        return [f"changes in {env} since the preview of {previous_at}: none"]
    return [f"changes in {env} since the preview of {previous_at}:", *(f"  {line}" for line in found)]


def run(
    outdir: Path, wanted: list[str], state_dir: Path, *, save: bool = True
) -> list[tuple[str, list[Stack], Preview, str | None, list[str]]]:
    """Each wanted environment (all synthesized ones by default): its stacks, preview, and changes."""
    synthesized = environments(outdir)
    missing = [env for env in wanted if env not in synthesized]
    if missing:
        have = ", ".join(sorted(synthesized)) or "none"
        raise PreviewError(
            f"{', '.join(missing)} not synthesized in {outdir} (it holds: {have}): run `make synth ENV={missing[0]}`"
        )
    results = []
    for env in wanted or list(synthesized):
        current = preview(synthesized[env])
        previous_at, found = compare_and_save(env, current, state_dir, save=save)
        results.append((env, synthesized[env], current, previous_at, found))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("envs", nargs="*", help="environments to preview (default: every synthesized one)")
    parser.add_argument("--outdir", type=Path, default=DEFAULT_OUTDIR, help="the cloud assembly (default: cdk.out)")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="where the last previews are kept")
    parser.add_argument("--json", action="store_true", help="print JSON: {env: {sections, previous_at, changes}}")
    parser.add_argument("--no-save", action="store_true", help="compare, but keep the previous baseline")
    args = parser.parse_args(argv)
    try:
        results = run(args.outdir, args.envs, args.state_dir, save=not args.no_save)
    except PreviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {env: {"sections": p, "previous_at": at, "changes": c} for env, _, p, at, c in results}, indent=1
            )
        )
        return 0
    for env, stacks, current, previous_at, found in results:
        print("\n".join(render(env, stacks, current) + render_changes(env, previous_at, found)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
