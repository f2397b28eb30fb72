"""The interactive incident tool with real clients of both eras: elicitation, progress, sampling, and declines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp_types import CreateMessageResult, ElicitResult, TextContent
from tests_support import CONTEXT, ServerProcess, client, start_server

pytestmark = pytest.mark.anyio
END = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
LINES = 40_000
# Errors of the service under investigation; the window is the last 30 minutes of the file.
FAILURES = (
    "TimeoutError: upstream ledger timed out after {n}s (request {uuid})",
    "ConnectionResetError: peer 10.0.{n}.7 reset the connection",
    "ValueError: invalid currency 'X{n}'",
)


def write_log(path: Path) -> Counter[str]:
    """A 40k-line log over ~2 hours with three error signatures; return the expected counts in the last 30 min."""
    expected: Counter[str] = Counter()
    signatures = (
        "TimeoutError: upstream ledger timed out after <n>s (request <uuid>)",
        "ConnectionResetError: peer <ip> reset the connection",
        "ValueError: invalid currency <str>",
    )
    with path.open("w") as out:
        for i in range(LINES):
            ts = END - timedelta(seconds=(LINES - 1 - i) * 0.18)
            stamp = ts.isoformat().replace("+00:00", "Z")
            if i % 1000 == 5:
                out.write("a line that is not in the log format\n")
            elif i % 7 == 0:
                kind = (i // 7) % 5 % 3
                message = FAILURES[kind].format(n=i % 90, uuid=f"{i:08x}-0000-4000-8000-{i:012x}")
                service = "payment-api" if i % 2 == 0 else "search-api"
                out.write(f"{stamp} ERROR {service} {message}\n")
                if service == "payment-api" and ts >= END - timedelta(minutes=30):
                    expected[signatures[kind]] += 1
            else:
                out.write(f"{stamp} INFO payment-api request served in {i % 300} ms\n")
    return expected


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("incident")


@pytest.fixture(scope="module")
def expected(data_dir: Path) -> Counter[str]:
    return write_log(data_dir / "app.log")


@pytest.fixture(scope="module")
def server(data_dir: Path, expected: Counter[str]) -> Iterator[ServerProcess]:
    proc = start_server(data_dir)
    yield proc
    proc.stop()


class Human:
    """Answers elicitation (or declines) and plays the client's model, recording what it was asked."""

    def __init__(self, action: str = "accept") -> None:
        self.action = action
        self.questions: list[Any] = []
        self.prompts: list[str] = []

    async def elicit(self, context: Any, params: Any) -> ElicitResult:
        self.questions.append(params)
        if self.action != "accept":
            return ElicitResult(action=self.action)  # type: ignore[arg-type]
        return ElicitResult(action="accept", content={"service": "payment-api", "window_minutes": 30})

    async def sample(self, context: Any, params: Any) -> CreateMessageResult:
        self.prompts.append(params.messages[0].content.text)
        return CreateMessageResult(
            role="assistant", content=TextContent(type="text", text="Ledger timeouts dominate."), model="scripted"
        )


def check_counts(report: dict[str, Any], expected: Counter[str]) -> None:
    assert report["service"] == "payment-api" and report["window_end"] == END.isoformat()
    assert report["lines_scanned"] == LINES and report["unparsed_lines"] == LINES // 1000
    assert {s["signature"]: s["count"] for s in report["signatures"]} == dict(expected)
    assert report["errors_in_window"] == sum(expected.values())


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_elicits_scans_with_progress_and_samples_a_summary(
    server: ServerProcess, expected: Counter[str], mode: str
) -> None:
    human = Human()
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    async with client(
        server.mcp_url, CONTEXT, mode=mode, elicitation_callback=human.elicit, sampling_callback=human.sample
    ) as session:
        result = await session.call_tool("investigate_incident", {"log_path": "app.log"}, progress_callback=on_progress)
        assert session.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    assert not result.is_error, result.content
    report = result.structured_content
    check_counts(report, expected)
    assert report["summary"] == "Ledger timeouts dominate." and report["summary_source"] == "client_sampling"
    assert len(human.questions) == 1 and "service" in human.questions[0].requested_schema["properties"]
    # The model was shown the counts it summarizes.
    top = max(expected, key=lambda k: expected[k])
    assert f"{expected[top]}x {top}" in human.prompts[0]
    if mode == "legacy":  # 2026-07-28 requests carry no progress token from this client
        assert progress and progress[-1][0] == progress[-1][1]


async def test_a_client_without_sampling_gets_a_server_summary_that_says_so(
    server: ServerProcess, expected: Counter[str]
) -> None:
    human = Human()
    async with client(server.mcp_url, CONTEXT, mode="legacy", elicitation_callback=human.elicit) as session:
        result = await session.call_tool("investigate_incident", {"log_path": "app.log"})
    report = result.structured_content
    check_counts(report, expected)
    assert report["summary_source"] == "server" and "does not support sampling" in report["note"]
    assert report["summary"].startswith(f"{sum(expected.values())} errors from payment-api")


@pytest.mark.parametrize(("mode", "action"), [("legacy", "decline"), ("auto", "cancel")])
async def test_a_declined_question_ends_the_call_clearly(server: ServerProcess, mode: str, action: str) -> None:
    human = Human(action)
    async with client(server.mcp_url, CONTEXT, mode=mode, elicitation_callback=human.elicit) as session:
        result = await session.call_tool("investigate_incident", {"log_path": "app.log"})
        assert (await session.list_tools()).tools  # still serving
    assert result.is_error
    assert f"investigation not started: the question about service and window was {action}" in result.content[0].text


async def test_a_client_that_cannot_answer_must_give_the_scope(server: ServerProcess, expected: Counter[str]) -> None:
    async with client(server.mcp_url, CONTEXT, mode="legacy") as session:
        refused = await session.call_tool("investigate_incident", {"log_path": "app.log"})
        given = await session.call_tool(
            "investigate_incident", {"log_path": "app.log", "service": "payment-api", "window_minutes": 30}
        )
        outside = await session.call_tool(
            "investigate_incident", {"log_path": "../app.log", "service": "x", "window_minutes": 1}
        )
    assert refused.is_error and "service and window_minutes: expected both in the call" in refused.content[0].text
    check_counts(given.structured_content, expected)
    assert (
        outside.is_error
        and "log_path='../app.log': expected a path inside the dataset directory" in outside.content[0].text
    )
