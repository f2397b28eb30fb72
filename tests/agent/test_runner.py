"""The agent's invocation logic end to end: a scripted model drives the real agent code against the
real MCP server on loopback, with moto's AgentCore Memory data plane as the memory of both."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import pytest
from agent.runner import Invocation, parse_invocation, run
from agent.settings import Settings, load_settings
from conftest import MEMORY_ID, REGION, McpServer, mcp_server_env, wait_for, write_sales_csv
from scripted_model import ScriptedModel, Text, ToolUse, last_tool_result

from kit_contracts.context import RUNTIME_SESSION_ID_HEADER

SESSION_HEADER = RUNTIME_SESSION_ID_HEADER


def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    async def drain() -> list[dict[str, Any]]:
        return [event async for event in stream]

    return asyncio.run(drain())


def chat(settings: Settings, model: ScriptedModel, prompt: str, session_id: str, actor: str) -> list[dict[str, Any]]:
    invocation = parse_invocation({"prompt": prompt, "actor_id": actor})
    return collect(run(invocation, settings=settings, session_id=session_id, headers={}, model_factory=lambda _: model))


def answer(events: list[dict[str, Any]]) -> str:
    return "".join(e["text"] for e in events if e["type"] == "text")


@pytest.fixture(scope="module")
def memory_mcp_server(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str) -> Iterator[McpServer]:
    """An MCP server whose results sink is AgentCore Memory, served by the shared moto server."""
    data = tmp_path_factory.mktemp("mcp-memory")
    write_sales_csv(data / "sales.csv", rows=20_000)
    env = mcp_server_env(
        data,
        RESULT_SINK="agentcore",
        MEMORY_ID=MEMORY_ID,
        AWS_ENDPOINT_URL_BEDROCK_AGENTCORE=moto_endpoint,
        TASK_PROGRESS_WRITE_SECONDS="0.1",
    )
    server = McpServer(data, env).start()
    yield server
    server.stop()


def results_given(seen: Any) -> str:
    """The task-results data block the model was given with the user's turn ('' if none)."""
    for message in seen.messages:
        for block in message.get("content", []) if message.get("role") == "user" else []:
            if str(block.get("text", "")).startswith("<task_results>"):
                return str(block["text"])
    return ""


def memory_settings(server: McpServer) -> Settings:
    return load_settings(
        {
            "AWS_REGION": REGION,
            "MODEL_ID": "scripted",
            "MEMORY_ID": MEMORY_ID,
            "MCP_RUNTIME_URL": server.url,
            "MCP_AUTH": "none",
            "ACTOR_ID_FROM_REQUEST": "true",
        }
    )


def result_events(actor: str) -> list[dict[str, Any]]:
    client = boto3.client("bedrock-agentcore", region_name=REGION)
    page = client.list_events(memoryId=MEMORY_ID, actorId=actor, sessionId="task-results", includePayloads=True)
    return list(page["events"])


def test_a_result_finished_after_the_session_ended_is_in_the_next_sessions_context(
    memory_mcp_server: McpServer, aws_to_moto: str
) -> None:
    settings = memory_settings(memory_mcp_server)
    actor = f"alice-{uuid.uuid4().hex[:8]}"
    first = ScriptedModel(
        [
            lambda seen: ToolUse(
                "start_summarize_csv",
                {"path": "sales.csv", "value_column": "amount", "group_by": "region", "chunk_rows": 1000},
            ),
            lambda seen: Text(f"Started task {last_tool_result(seen)['task_id']}."),
        ]
    )
    events = chat(settings, first, "Summarize sales.csv by region; I'll be back later.", str(uuid.uuid4()), actor)
    assert events[-1]["type"] == "done", events
    task = next(e for e in events if e["type"] == "task")
    task_id = task["task_id"]
    assert task["tool"] == "summarize_csv"
    assert [e["tool"] for e in events if e["type"] == "tool_end" and e["status"] == "success"] == [
        "start_summarize_csv"
    ]
    assert answer(events) == f"Started task {task_id}."
    assert "start_summarize_csv" in first.seen[0].tool_names and "get_task_result" in first.seen[0].tool_names

    # The first session is over; the server finishes the work and writes the result to memory.
    delivered = wait_for(
        lambda: [
            e for e in result_events(actor) if e.get("metadata", {}).get("task_id", {}).get("stringValue") == task_id
        ],
        "the task's result event in AgentCore Memory",
    )
    assert len(delivered) == 1

    # Days later, a new conversation (a new runtime session id) of the same actor.
    expected_total = float(sum(i % 10 for i in range(0, 20_000, 2)))
    second = ScriptedModel(
        [
            lambda seen: ToolUse("get_task_result", {"task_id": task_id}),
            lambda seen: Text(f"north total: {last_tool_result(seen)['groups']['north']['total']}"),
        ]
    )
    events = chat(settings, second, "What came of my sales summary?", str(uuid.uuid4()), actor)
    assert events[-1]["type"] == "done", events
    # The result reached the model as quoted data with the user's turn, not in its instructions.
    context = results_given(second.seen[0])
    assert f"[background task {task_id}] The summarize_csv task started earlier completed" in context
    assert '\\"rows\\": 20000' in context
    assert task_id not in (second.seen[0].system_prompt or "")
    assert answer(events) == f"north total: {expected_total}"


def test_another_actor_sees_neither_the_result_nor_the_task(memory_mcp_server: McpServer, aws_to_moto: str) -> None:
    settings = memory_settings(memory_mcp_server)
    owner = ScriptedModel(
        [
            lambda seen: ToolUse("start_summarize_csv", {"path": "sales.csv", "value_column": "amount"}),
            lambda seen: Text(last_tool_result(seen)["task_id"]),
        ]
    )
    task_id = answer(chat(settings, owner, "start it", str(uuid.uuid4()), "owner-1"))
    wait_for(lambda: result_events("owner-1"), "the owner's result event")
    intruder = ScriptedModel(
        [
            lambda seen: ToolUse("get_task_result", {"task_id": task_id}),
            lambda seen: Text(json.dumps(last_tool_result(seen))),
        ]
    )
    events = chat(settings, intruder, "show me that task", str(uuid.uuid4()), "intruder-1")
    assert task_id not in (intruder.seen[0].system_prompt or "") and task_id not in results_given(intruder.seen[0])
    end = next(e for e in events if e["type"] == "tool_end")
    assert end["status"] == "error" and "not found" in end["error"]


def test_the_conversation_round_trips_through_agentcore_memory(memory_mcp_server: McpServer, aws_to_moto: str) -> None:
    from bedrock_agentcore.memory.integrations.strands.config import AgentCoreMemoryConfig
    from bedrock_agentcore.memory.integrations.strands.session_manager import AgentCoreMemorySessionManager

    settings = memory_settings(memory_mcp_server)
    session_id = str(uuid.uuid4())
    events = chat(settings, ScriptedModel([lambda seen: Text("Hello, Bob.")]), "I am Bob.", session_id, "bob")
    assert answer(events) == "Hello, Bob."
    manager = AgentCoreMemorySessionManager(
        AgentCoreMemoryConfig(memory_id=MEMORY_ID, session_id=session_id, actor_id="bob"), region_name=REGION
    )
    # The converter reverses ListEvents' newest-first order; moto lists oldest first, so order by creation.
    restored = sorted(manager.list_messages(session_id, "kit_agent"), key=lambda m: m.created_at)
    messages = [m.to_message() for m in restored]
    manager.close()
    assert [(m["role"], m["content"][0]["text"]) for m in messages] == [
        ("user", "I am Bob."),
        ("assistant", "Hello, Bob."),
    ]


def test_task_status_action_reports_progress_without_a_model(memory_mcp_server: McpServer, aws_to_moto: str) -> None:
    settings = memory_settings(memory_mcp_server).model_copy(update={"model_id": None})
    starter = ScriptedModel(
        [
            # The image's labelled training simulation: slow enough to be seen while it runs.
            lambda seen: ToolUse("start_model_training", {"model_name": "m", "epochs": 8, "seconds_per_epoch": 0.25}),
            lambda seen: Text(last_tool_result(seen)["task_id"]),
        ]
    )
    task_id = answer(
        chat(settings.model_copy(update={"model_id": "scripted"}), starter, "go", str(uuid.uuid4()), "carol")
    )

    def statuses() -> dict[str, dict[str, Any]]:
        invocation = Invocation("task_status", task_ids=(task_id, "no-such-task"), payload={"actor_id": "carol"})
        events = collect(run(invocation, settings=settings, session_id=str(uuid.uuid4()), headers={}))
        assert events[-1]["type"] == "done", events
        return {e["task_id"]: e for e in events if e["type"] == "task"}

    running = wait_for(lambda: (s := statuses())[task_id].get("progress") and s, "progress of the running task")
    assert running[task_id]["tool"] == "model_training" and running[task_id]["total"] == 8
    assert running["no-such-task"]["status"] == "unknown" and "not found" in running["no-such-task"]["status_message"]
    wait_for(lambda: statuses()[task_id]["status"] == "completed", "the task to complete")


def write_orders_csv(path: Any) -> None:
    with path.open("w") as out:
        out.write("order,amount\n")
        out.writelines(f"order-{i % 300},{i % 300 % 7}\n" for i in range(400))  # 100 repeated rows


def test_a_tasks_question_is_put_to_the_user_and_their_reply_answers_it_in_a_later_turn(
    memory_mcp_server: McpServer, aws_to_moto: str
) -> None:
    write_orders_csv(memory_mcp_server.data / "orders.csv")
    settings = memory_settings(memory_mcp_server)
    actor = f"dana-{uuid.uuid4().hex[:8]}"
    starter = ScriptedModel(
        [
            lambda seen: ToolUse("start_deduplicate_csv", {"path": "orders.csv"}),
            lambda seen: Text(last_tool_result(seen)["task_id"]),
        ]
    )
    task_id = answer(chat(settings, starter, "Clean up orders.csv", str(uuid.uuid4()), actor))

    def status() -> dict[str, Any]:
        invocation = Invocation("task_status", task_ids=(task_id,), payload={"actor_id": actor})
        events = collect(
            run(invocation, settings=settings.model_copy(update={"model_id": None}), session_id="s", headers={})
        )
        return next(e for e in events if e["type"] == "task")

    wait_for(lambda: status()["status"] == "input_required", "the task's question")
    wait_for(
        lambda: [e for e in result_events(actor) if e["metadata"]["task_status"]["stringValue"] == "input_required"],
        "the question's event in AgentCore Memory",
    )
    # A later turn: the model reads the open question and puts it to the user.
    asking = ScriptedModel(
        [
            lambda seen: ToolUse("check_task_status", {"task_id": task_id}),
            lambda seen: Text(next(iter(last_tool_result(seen)["questions"].values()))["message"]),
        ]
    )
    events = chat(settings, asking, "Anything waiting for me?", str(uuid.uuid4()), actor)
    assert "100 duplicate rows out of 400" in answer(events)
    # The conversation began knowing the task waits (the question's event in the results session).
    assert f"[background task {task_id}] The deduplicate_csv task is waiting for your answer" in (
        results_given(asking.seen[0])
    )
    # The user's reply, in the next turn, goes to answer_task.
    replying = ScriptedModel(
        [
            lambda seen: ToolUse("answer_task", {"task_id": task_id, "content": {"write_copy": True}}),
            lambda seen: Text(last_tool_result(seen)["status"]),
        ]
    )
    chat(settings, replying, "Yes, write the copy.", str(uuid.uuid4()), actor)
    wait_for(lambda: status()["status"] == "completed", "the task to complete")
    assert (memory_mcp_server.data / "orders.dedup.csv").read_text().count("\n") == 301
    [delivered] = wait_for(
        lambda: [e for e in result_events(actor) if e["metadata"]["task_status"]["stringValue"] == "completed"],
        "the task's result event",
    )
    assert delivered["metadata"]["task_id"]["stringValue"] == task_id
    message = json.loads(delivered["payload"][0]["conversational"]["content"]["text"])["message"]
    assert '"outcome": "written"' in message["content"][0]["text"]


def test_a_question_asked_during_a_direct_call_is_declined_not_left_waiting(
    memory_mcp_server: McpServer, aws_to_moto: str
) -> None:
    write_orders_csv(memory_mcp_server.data / "direct.csv")
    model = ScriptedModel(
        [
            lambda seen: ToolUse("deduplicate_csv", {"path": "direct.csv"}),
            lambda seen: Text(last_tool_result(seen)["outcome"]),
        ]
    )
    events = chat(memory_settings(memory_mcp_server), model, "Dedupe direct.csv now", str(uuid.uuid4()), "erin")
    assert answer(events) == "declined"
    assert not (memory_mcp_server.data / "direct.dedup.csv").exists()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"prompt": "hi"}, "no caller identity"),
        ({"prompt": "hi", "actor_id": "bad actor!"}, "field 'actor_id'='bad actor!': expected an actor id"),
        ({"action": "task_status", "task_ids": []}, "field 'task_ids' must be a non-empty list"),
        ({"action": "dance"}, "field 'action'='dance': expected 'chat' or 'task_status'"),
    ],
)
def test_bad_requests_get_one_clear_error(payload: dict[str, Any], message: str) -> None:
    settings = load_settings({"MODEL_ID": "scripted", "ACTOR_ID_FROM_REQUEST": str("actor_id" in payload)})
    try:
        invocation = parse_invocation(payload)
    except ValueError as exc:
        assert message in str(exc)
        return
    events = collect(run(invocation, settings=settings, session_id=str(uuid.uuid4()), headers={}))
    assert events == [{"type": "error", "error": events[0]["error"]}] and message in events[0]["error"]


def test_a_missing_or_unusable_session_id_is_named() -> None:
    settings = load_settings({"MODEL_ID": "scripted", "ACTOR_ID_FROM_REQUEST": "true"})
    invocation = parse_invocation({"prompt": "hi", "actor_id": "dave"})
    for session_id, message in ((None, f"header {SESSION_HEADER} is missing"), ("x" * 120, "expected 1..100")):
        events = collect(run(invocation, settings=settings, session_id=session_id, headers={}))
        assert events[0]["type"] == "error" and message in events[0]["error"]
