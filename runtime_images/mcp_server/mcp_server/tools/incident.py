"""The interactive example: investigate an incident in a service log.

Asks for the service and time window when the call does not give them (elicitation),
scans the log counting error signatures in the window (progress), and asks the
client's model for a short summary (sampling) where the client offers sampling;
otherwise the server writes a plain summary from the counts and says so.
Sampling is deprecated in the 2026-07-28 specification (removal no earlier than
2027-07-28) and Strands cannot sample: the tool never depends on it.

The questions are SDK resolvers (`Resolve`/`Elicit`/`Sample`), so one declaration
serves both eras: server-to-client requests inside the call on 2025-11-25
connections, input-required round trips on 2026-07-28. On the latter every round
re-runs the resolvers, so the scan is memoised per (file, size, mtime, scope).
"""

# No `from __future__ import annotations`: the resolvers are closures named in the
# annotations (`Resolve(findings_of)`), which must be evaluated where they are defined.
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import AcceptedElicitation, Elicit, ElicitationResult, Resolve, Sample
from mcp_types import CreateMessageResult, SamplingMessage, TextContent
from pydantic import BaseModel, Field

from mcp_server.datasets import Datasets
from mcp_server.tooling import TaskContext, ToolSpec, tool

# `<ISO-8601 timestamp> <LEVEL> <service> <message>`, the shape of the kit's sample logs.
_LINE = re.compile(r"(?P<ts>\S+)\s+(?P<level>[A-Z]+)\s+(?P<service>[\w.\-]+)\s+(?P<message>.*)")
ERROR_LEVELS = frozenset({"ERROR", "FATAL", "CRITICAL"})
# Variable parts of a message, replaced so that one failure mode is one signature.
_VARIABLE = [
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<uuid>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{12,}\b"), "<hex>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b"), "<ip>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
]
PROGRESS_EVERY_LINES = 5_000
TOP_SIGNATURES = 10


def signature_of(message: str) -> str:
    for pattern, placeholder in _VARIABLE:
        message = pattern.sub(placeholder, message)
    return message.strip()[:200]


def parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class IncidentScope(BaseModel):
    """What the user is asked when the call leaves it out (a flat form, as elicitation requires)."""

    service: str = Field(min_length=1, max_length=128, description="Service whose errors to investigate")
    window_minutes: int = Field(default=60, ge=1, le=10_080, description="Minutes before the last log line to scan")


class SignatureCount(BaseModel):
    signature: str
    count: int
    first_seen: str
    last_seen: str
    example: str


class Findings(BaseModel):
    log_path: str
    service: str
    window_start: str
    window_end: str
    lines_scanned: int
    unparsed_lines: int
    errors_in_window: int
    signatures: list[SignatureCount]


class IncidentReport(Findings):
    summary: str
    summary_source: Literal["client_sampling", "server"] = Field(
        description="client_sampling: written by the client's model; server: composed from the counts"
    )
    note: str | None = None


@dataclass
class _Seen:
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    example: str = ""


async def scan_log(
    file: Path, display_path: str, scope: IncidentScope, report: Any, until: datetime | None = None
) -> Findings:
    """Count the service's error signatures in the window ending at `until` (default: the file's last line)."""
    size = max(file.stat().st_size, 1)
    # Kept per minute so the window can be applied once the last timestamp is known: one pass.
    per_minute: Counter[tuple[datetime, str]] = Counter()
    examples: dict[str, str] = {}
    last_ts: datetime | None = None
    lines = unparsed = 0
    with file.open("rb") as raw:
        for line_bytes in raw:
            lines += 1
            match = _LINE.fullmatch(line_bytes.decode("utf-8", "replace").strip())
            ts = parse_time(match["ts"]) if match else None
            if match is None or ts is None:
                unparsed += 1
            else:
                last_ts = ts if last_ts is None or ts > last_ts else last_ts
                if match["level"] in ERROR_LEVELS and match["service"] == scope.service:
                    sig = signature_of(match["message"])
                    per_minute[(ts.replace(second=0, microsecond=0), sig)] += 1
                    examples.setdefault(sig, match["message"][:300])
            if lines % PROGRESS_EVERY_LINES == 0:
                done = raw.tell()
                await report(done, size, f"{lines} lines scanned ({done * 100 // size}%)")
                await anyio.sleep(0)  # lets cancellation and other requests in
    await report(size, size, f"{lines} lines scanned (100%)")
    end = until or last_ts or datetime.now(tz=UTC)
    start = end - timedelta(minutes=scope.window_minutes)
    seen: dict[str, _Seen] = {}
    for (minute, sig), count in per_minute.items():
        if not start.replace(second=0, microsecond=0) <= minute <= end:
            continue
        entry = seen.setdefault(sig, _Seen(example=examples[sig]))
        entry.count += count
        entry.first = minute if entry.first is None or minute < entry.first else entry.first
        entry.last = minute if entry.last is None or minute > entry.last else entry.last
    ranked = sorted(seen.items(), key=lambda kv: (-kv[1].count, kv[0]))
    return Findings(
        log_path=display_path,
        service=scope.service,
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        lines_scanned=lines,
        unparsed_lines=unparsed,
        errors_in_window=sum(s.count for s in seen.values()),
        signatures=[
            SignatureCount(
                signature=sig,
                count=s.count,
                first_seen=s.first.isoformat() if s.first else "",
                last_seen=s.last.isoformat() if s.last else "",
                example=s.example,
            )
            for sig, s in ranked[:TOP_SIGNATURES]
        ],
    )


def server_summary(findings: Findings) -> str:
    if not findings.signatures:
        return f"No errors from {findings.service} between {findings.window_start} and {findings.window_end}."
    top = findings.signatures[0]
    return (
        f"{findings.errors_in_window} errors from {findings.service} between {findings.window_start} and "
        f"{findings.window_end}, in {len(findings.signatures)} signature(s); the most frequent "
        f"({top.count}x, {top.first_seen}..{top.last_seen}): {top.signature}"
    )


def sampling_prompt(findings: Findings) -> str:
    rows = "\n".join(f"- {s.count}x {s.signature} (e.g. {s.example})" for s in findings.signatures)
    return (
        f"Write a three-sentence incident summary for the on-call engineer. Service {findings.service}, "
        f"window {findings.window_start} to {findings.window_end}, {findings.errors_in_window} errors by "
        f"signature:\n{rows or '- none'}"
    )


def incident_tool(dataset_root: Path) -> ToolSpec:
    _memo: dict[tuple[Any, ...], Findings] = {}

    async def ask_scope(
        ctx: Context, service: str | None, window_minutes: int | None
    ) -> IncidentScope | Elicit[IncidentScope]:
        if service and window_minutes:
            return IncidentScope(service=service, window_minutes=window_minutes)
        caps = ctx.client_capabilities
        if caps is None or caps.elicitation is None:
            raise ToolError(
                "service and window_minutes: expected both in the call, since this client cannot answer "
                "questions (it declared no elicitation capability)"
            )
        return Elicit(
            "Which service's errors should I investigate, and over how many minutes before the last log line?",
            IncidentScope,
        )

    async def findings_of(
        ctx: Context,
        log_path: str,
        scope: Annotated[ElicitationResult[IncidentScope], Resolve(ask_scope)],
    ) -> Findings:
        if not isinstance(scope, AcceptedElicitation):
            raise ToolError(f"investigation not started: the question about service and window was {scope.action}d")
        file = Datasets(dataset_root).file(log_path, "log_path")
        stat = file.stat()
        key = (str(file), stat.st_size, stat.st_mtime_ns, scope.data.service, scope.data.window_minutes)
        if key not in _memo:
            _memo.clear()  # one entry: what the next round of this call asks for again
            _memo[key] = await scan_log(file, log_path, scope.data, ctx.report_progress)
        return _memo[key]

    async def sampled_summary(
        ctx: Context, findings: Annotated[Findings, Resolve(findings_of)]
    ) -> Sample | CreateMessageResult | None:
        caps = ctx.client_capabilities
        if caps is None or caps.sampling is None:
            return None  # degrade: the body writes the summary itself and says why
        prompt = sampling_prompt(findings)
        return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=prompt))], max_tokens=400)

    @tool(mode="request", max_duration_seconds=900)
    async def investigate_incident(
        log_path: Annotated[
            str, Field(min_length=1, max_length=1024, description="Log file, relative to the dataset directory")
        ],
        ctx: TaskContext,
        findings: Annotated[Findings, Resolve(findings_of)],
        sampled: Annotated[CreateMessageResult | None, Resolve(sampled_summary)],
        service: Annotated[
            str | None, Field(min_length=1, max_length=128, description="Service name; asked for when omitted")
        ] = None,
        window_minutes: Annotated[
            int | None, Field(ge=1, le=10_080, description="Minutes before the last log line; asked for when omitted")
        ] = None,
    ) -> IncidentReport:
        """Investigate an incident: count a service's error signatures in a time window of a log file.

        Asks for the service and window when omitted, reports progress while scanning, and
        asks the client's model for a summary when the client supports sampling.
        """
        if sampled is not None and isinstance(sampled.content, TextContent):
            return IncidentReport(
                **findings.model_dump(), summary=sampled.content.text, summary_source="client_sampling"
            )
        note = (
            "The client does not support sampling, so this summary was composed by the server from the counts."
            if sampled is None
            else "The client's model answered with no text, so this summary was composed by the server."
        )
        return IncidentReport(
            **findings.model_dump(), summary=server_summary(findings), summary_source="server", note=note
        )

    return investigate_incident
