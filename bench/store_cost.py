"""Benchmark: task-store writes per task-hour, by kind, and their DynamoDB write units and on-demand cost.

N durable tasks report progress every second (one of them from a 2025-era session) through real MCP
clients on loopback, created spread over one sweep-index grid period (two leases: each task's
index-key moves then fall at a different phase, as they do for tasks started at any time), on the
DynamoDB store (moto) with the table the CDK construct synthesizes. Every store call is classified by
kind at the store boundary (a counting proxy around the TaskStore) and every item it writes is metered
at the DynamoDB client: its image before and after, from which the write units follow (1 per KB of the
larger image, twice in a transaction, plus each index the write reaches: a put or delete of its
projected item, or both when its index key changes). moto bills nothing and models no index writes:
the units are derived, from the synthesized definition.

In the same run:
- a reader in another engine (a second server on its own port, with its own task service, worker and
  listeners, sharing only the table) polls some tasks with tasks/get every second from their start,
  and some from 15 s past half-way ("late": three quarters of a renewal interval after the last
  renewal, so the stored progress is stale when the reader arrives): how old is the progress it sees
  (each report carries its time),
  and how long each tasks/get takes (a first read of a stale task waits for its worker's write);
- a 2025-era session gets notifications/progress for its task, and a 2026-07-28 client follows one
  task with subscriptions/listen (notifications/tasks): how often they arrive;
- a reader in the task's own server polls one task: progress from memory.

Extrapolation: writes that recur while a task runs (lease, progress, checkpoint, follow) are divided by
the measured task-seconds and scaled to an hour; writes made once per task (create, terminal, publish)
are added once: "per task-hour" is a one-hour task.

Run with the MCP server's environment:
  .venv/mcp/bin/python bench/store_cost.py [--n 20] [--task-seconds 120] [--tree DIR] [--env K=V ...]
`--tree` runs another checkout of the kit (e.g. `git archive HEAD | tar -x -C /tmp/before`) for a before/after.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TABLE = "tasks"
ACTOR = "bench"
PRICES = (1.25, 0.625)  # USD per million write request units: the former on-demand price; us-east-1 since Nov 2024
# Store methods by the kind of write they make; beats (renewals) are classified one by one.
KINDS = {
    "create": "create",
    "finish": "terminal",
    "cancel": "terminal",
    "mark_published": "publish",
    "claim_publish": "publish",
    "abandon_publish": "publish",
    "purge_expired": "purge",
    "follow": "follow",
    "request_input": "input",
    "clear_input": "input",
    "provide_input": "input",
    "take_over": "recovery",
    "release": "recovery",
}
BEATS = ("renew", "heartbeat_many", "heartbeat")
# "follow start": a reader's mark that begins a follow (the item enters the follow index), once per
# reader arriving; "follow": the marks that extend it, once a minute while the reader stays.
# A late reader arrives this long after half of the task's time: with the default 60 s lease renewed every
# 20 s from the task's start, its stored progress is then 15 s old (a first read that waits for the worker).
LATE_AFTER_HALF = 15.0
ONCE = ("create", "follow start", "terminal", "publish", "purge")
RECURRING = ("lease", "progress", "checkpoint", "follow", "input", "recovery")
# Printed even when none was written (purge: DynamoDB's TTL deletes expired items without write units).
ALWAYS_SHOWN = ("create", "lease", "progress", "checkpoint", "terminal", "publish", "purge")
ORDER = (
    "create",
    "lease",
    "progress",
    "checkpoint",
    "follow start",
    "follow",
    "terminal",
    "publish",
    "purge",
    "input",
    "recovery",
)


# ---------------------------------------------------------------- DynamoDB write units (pure)
def value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value as DynamoDB counts them (AWS: "Item sizes and formats")."""
    (kind, v), *_ = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = Decimal(v).normalize().as_tuple().digits
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(value_size(x) + 1 for x in v)
    if kind == "SS":
        return sum(len(x.encode()) for x in v)
    if kind == "NS":
        return sum(value_size({"N": x}) for x in v)
    return sum(len(x) for x in v)  # BS


def item_size(item: dict[str, Any] | None) -> int:
    return 0 if not item else sum(len(k.encode()) + value_size(v) for k, v in item.items())


def units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def projected(item: dict[str, Any] | None, index: dict[str, Any], table_keys: list[str]) -> dict[str, Any] | None:
    """The item as the index stores it; None when it is not in the index (an index key missing: sparse)."""
    keys = [k["AttributeName"] for k in index["KeySchema"]]
    if not item or any(k not in item for k in keys):
        return None
    projection = index.get("Projection", {"ProjectionType": "ALL"})
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        return dict(item)
    names = set(keys) | set(table_keys) | set(projection.get("NonKeyAttributes", []) if kind == "INCLUDE" else [])
    return {k: v for k, v in item.items() if k in names}


def index_units(before: dict[str, Any] | None, after: dict[str, Any] | None, index: dict, table_keys: list[str]) -> int:
    """Write units one table write costs in one index: a put or delete of the projected item, or both
    when its index key changes; nothing when neither its key nor a projected attribute changed value."""
    old, new = projected(before, index, table_keys), projected(after, index, table_keys)
    if old is None and new is None:
        return 0
    if old is None:
        return units(item_size(new))
    if new is None:
        return units(item_size(old))
    keys = [k["AttributeName"] for k in index["KeySchema"]]
    if any(old[k] != new[k] for k in keys):
        return units(item_size(old)) + units(item_size(new))
    return units(item_size(new)) if old != new else 0


def table_units(before: dict[str, Any] | None, after: dict[str, Any] | None, transactional: bool) -> int:
    return units(max(item_size(before), item_size(after))) * (2 if transactional else 1)


# ---------------------------------------------------------------- metering (runs in the servers' process)
class Meter:
    """Every item write, by task and kind: rows, table units, units per index; and read calls."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self.lock = threading.Lock()
        self.local = threading.local()
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.images: list[tuple[str, str, dict | None, dict | None, bool, bool, float]] = []
        self.reads: dict[str, float] = defaultdict(float)
        self.created: dict[str, float] = {}
        self.ended: dict[str, float] = {}

    @contextmanager
    def kind(self, kind: str, beats: dict[str, str] | None = None) -> Any:
        outer = getattr(self.local, "kind", None)
        if outer is None:
            self.local.kind, self.local.beats = kind, beats or {}
        try:
            yield
        finally:
            if outer is None:
                self.local.kind = None

    def record(self, key: str, before: dict | None, after: dict | None, transactional: bool, failed: bool) -> None:
        kind = getattr(self.local, "kind", None) or "other"
        kind = self.local.beats.get(key, kind) if kind == "beat" else kind
        if kind == "follow" and (after or {}).get("follow_since") != (before or {}).get("follow_since"):
            kind = "follow start"
        with self.lock:
            self.images.append((key, kind, before, after, transactional, failed, time.time()))


class MeteredClient:
    """The boto3 DynamoDB client, metering each item written (its images read around the write)."""

    def __init__(self, inner: Any, meter: Meter, backend: Any) -> None:
        self.inner = inner
        self.meter = meter
        # moto's own table, read directly: an image costs microseconds, not a request (which would
        # slow the engine's renewal rounds, and with them the very writes being counted).
        self.backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _image(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self.backend.get_item(TABLE, key)
        return None if item is None else json.loads(json.dumps(item.to_json()["Attributes"]))

    def _write(self, keys: list[dict[str, Any]], call: Any, transactional: bool) -> Any:
        before = [self._image(k) for k in keys]
        try:
            result = call()
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                for key, old in zip(keys, before, strict=True):
                    self.meter.record(key["task_id"]["S"], old, old, transactional, failed=True)
            raise
        for key, old in zip(keys, before, strict=True):
            self.meter.record(key["task_id"]["S"], old, self._image(key), transactional, failed=False)
        return result

    def put_item(self, **kwargs: Any) -> Any:
        key = {"task_id": kwargs["Item"]["task_id"]}
        return self._write([key], lambda: self.inner.put_item(**kwargs), False)

    def update_item(self, **kwargs: Any) -> Any:
        return self._write([kwargs["Key"]], lambda: self.inner.update_item(**kwargs), False)

    def delete_item(self, **kwargs: Any) -> Any:
        return self._write([kwargs["Key"]], lambda: self.inner.delete_item(**kwargs), False)

    def transact_write_items(self, **kwargs: Any) -> Any:
        keys = []
        for entry in kwargs["TransactItems"]:
            (op, body), *_ = entry.items()
            if op != "ConditionCheck":
                keys.append({"task_id": body["Item"]["task_id"]} if op == "Put" else body["Key"])
        return self._write(keys, lambda: self.inner.transact_write_items(**kwargs), True)

    def get_item(self, **kwargs: Any) -> Any:
        response = self.inner.get_item(**kwargs)
        size = item_size(response.get("Item"))
        self.meter.reads["GetItem"] += math.ceil(max(size, 1) / 4096) * (1 if kwargs.get("ConsistentRead") else 0.5)
        return response

    def query(self, **kwargs: Any) -> Any:
        response = self.inner.query(**kwargs)
        size = sum(item_size(i) for i in response.get("Items", []))
        self.meter.reads[f"Query {kwargs.get('IndexName', 'table')}"] += math.ceil(max(size, 1) / 4096) * 0.5
        return response

    def batch_get_item(self, **kwargs: Any) -> Any:
        response = self.inner.batch_get_item(**kwargs)
        for table_items in response.get("Responses", {}).values():
            for item in table_items:
                self.meter.reads["BatchGetItem"] += math.ceil(item_size(item) / 4096) * 0.5
        return response


class CountingStore:
    """A TaskStore proxy that tells the meter which kind of write each store call makes."""

    def __init__(self, inner: Any, meter: Meter) -> None:
        self.inner = inner
        self.meter = meter
        self.last_beat: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target) or (name not in KINDS and name not in BEATS):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if name in BEATS:
                with self.meter.kind("beat", self._classify(name, args, kwargs)):
                    return target(*args, **kwargs)
            with self.meter.kind(KINDS[name]):
                result = target(*args, **kwargs)
            if name == "create":
                record, created = result
                if created:
                    self.meter.created[record.task_id] = record.created_at
                    self.last_beat[record.task_id] = time.monotonic()
            elif name in ("finish", "cancel") and result is not None:
                self.meter.ended[result.task_id] = result.updated_at
            return result

        return call

    def _classify(self, name: str, args: tuple, kwargs: dict) -> dict[str, str]:
        """Why each renewal was written: `lease` when its lease was due (a third of it since the last one,
        whatever it carried), else what made it early: a checkpoint or a progress report."""
        if name == "heartbeat":
            task_id, _, _, lease = args[:4]
            progress = args[4] if len(args) > 4 else kwargs.get("progress")
            checkpoint = args[5] if len(args) > 5 else kwargs.get("checkpoint")
            beats = [(task_id, progress, checkpoint)]
        else:
            _, _, lease, items = args[:4]
            beats = [(b[0], b[1], b[2] if len(b) > 2 else None) for b in items]
        now = time.monotonic()
        kinds = {}
        for task_id, progress, checkpoint in beats:
            since = now - self.last_beat.get(task_id, now)
            self.last_beat[task_id] = now
            if since >= 0.9 * lease / 3:
                kinds[task_id] = "lease"
            else:
                kinds[task_id] = "checkpoint" if checkpoint is not None else "progress" if progress else "lease"
        return kinds


def serve(args: argparse.Namespace) -> None:
    """The servers' process: moto, the synthesized table, engine A (runs the tasks) and engine B (the reader)."""
    tree = Path(args.tree).resolve()
    for path in (tree, tree / "tests" / "mcp_server", tree / "runtime_images" / "mcp_server"):
        sys.path.insert(0, str(path))
    import boto3
    import uvicorn
    from mcp_server.app import build
    from mcp_server.settings import load_settings
    from mcp_server.store.dynamodb import DynamoDbTaskStore
    from mcp_server.tooling import TaskContext, tool
    from moto import mock_aws
    from tests_support import task_table_definition

    globals()["TaskContext"] = TaskContext  # the tool's annotations are resolved in this module

    @tool(mode="either", max_duration_seconds=3600)
    async def progress_every_second(seconds: int, ctx: TaskContext, checkpoint: bool = False) -> dict[str, int]:
        """Reports progress every second (each report says when it was made); checkpoints too if asked."""
        import anyio

        for second in range(1, seconds + 1):
            await anyio.sleep(1)  # stands in for one second of work
            if checkpoint:
                await ctx.checkpoint({"second": second})
            await ctx.report_progress(second, seconds, f"{second}/{seconds} s @{time.time():.3f}")
        return {"seconds": seconds}

    definition = task_table_definition()  # the shipped construct, synthesized in process
    meter = Meter(definition)
    with mock_aws():
        raw = boto3.client("dynamodb", region_name="us-east-1")
        schema = {k: v for k, v in definition.items() if not k.startswith("_")}
        raw.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", **schema)
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        client = MeteredClient(raw, meter, dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"])
        servers = []
        for port in args.ports:
            settings = load_settings(dict(os.environ))
            store = CountingStore(DynamoDbTaskStore(TABLE, client=client), meter)
            app = build(settings, [progress_every_second], store=store).app
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
            server = uvicorn.Server(config)
            threading.Thread(target=server.run, daemon=True).start()  # its own event loop, as a process has
            servers.append(server)
        stop = Path(args.stop)
        while not stop.exists():
            time.sleep(0.2)
        for server in servers:
            server.should_exit = True
        time.sleep(3)
    out = {
        "definition": definition,
        "writes": [list(image) for image in meter.images],
        "reads": meter.reads,
        "created": meter.created,
        "ended": meter.ended,
    }
    Path(args.out).write_text(json.dumps(out))


# ---------------------------------------------------------------- the clients (parent process)
def headers() -> dict[str, str]:
    from kit_contracts.context import RUNTIME_USER_ID_HEADER

    return {
        "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Actor-Id": ACTOR,
        "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Session-Id": "bench-session",
        RUNTIME_USER_ID_HEADER: ACTOR,
    }


def report_time(state: dict[str, Any]) -> float:
    """When the report a task's state shows was made; none shown yet: when its first one was (a second
    after its start), so a reader still waiting for the first report counts as that far behind."""
    message = state.get("statusMessage") or ""
    if "@" in message:
        return float(message.rsplit("@", 1)[1])
    return datetime.fromisoformat(state["createdAt"]).timestamp() + 1.0


async def drive(url_a: str, url_b: str, args: argparse.Namespace) -> dict[str, Any]:
    import anyio
    from listen_support import Stream, listen, listening_client
    from tests_support import client, raw_request, task_call, tasks_extension

    seconds, arguments = args.task_seconds, {"seconds": args.task_seconds, "checkpoint": args.checkpoint}
    out: dict[str, Any] = {
        "staleness": defaultdict(list),
        "waits": defaultdict(list),
        "legacy": [],
        "listen": [],
        "groups": {},
    }
    ids: list[str] = []
    legacy_progress: list[float] = []

    async def on_message(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/progress":
            legacy_progress.append(time.time())

    stream = Stream()
    async with (
        client(url_a, headers(), mode="auto", extensions=[tasks_extension()]) as a,
        client(url_b, headers(), mode="auto", extensions=[tasks_extension()]) as b,
        client(url_a, headers(), mode="legacy", message_handler=on_message) as legacy,
        listening_client(url_a, headers(), stream) as listener,
    ):
        started = time.monotonic()
        n_modern = args.n - 1  # and one 2025-era task, created last
        followed_at = range(1, 1 + args.followed)
        late_at = range(1 + args.followed, 1 + args.followed + args.late)
        groups: dict[str, list[str]] = {"followed": [], "late": [], "legacy": [], "listened": []}
        out["groups"] = groups
        launched = anyio.Event()

        async def read(session: Any, task_id: str, group: str, after: float = 0.0) -> None:
            await anyio.sleep(after)
            while True:
                asked = time.monotonic()
                state = await task_call(session, "tasks/get", task_id)
                out["waits"][group].append(time.monotonic() - asked)
                if state["status"] != "working":
                    return
                age = time.time() - report_time(state)
                if age > 0:  # (before the first report is due there is nothing to be behind on)
                    out["staleness"][group].append((task_id, time.monotonic() - started, age))
                await anyio.sleep(1)

        async def launch(tg: Any) -> None:
            """Create the tasks spread over `--stagger` seconds, each one's readers with it."""
            for i in range(args.n):
                await anyio.sleep(max(0.0, started + i * args.stagger / args.n - time.monotonic()))
                if i == n_modern:
                    params = {"name": "progress_every_second", "arguments": arguments, "task": {"ttl": 3_600_000}}
                    created = await raw_request(legacy, "tools/call", {**params, "_meta": {"progressToken": "bench"}})
                    ids.append(created["task"]["taskId"])
                    groups["legacy"].append(ids[-1])
                    continue
                handle = await a.session.call_tool("progress_every_second", arguments, allow_claimed=True)
                task_id = handle.task_id
                ids.append(task_id)
                if i == 0:
                    groups["listened"].append(task_id)
                    tg.start_soon(listen, listener, stream, {"taskIds": [task_id]})
                elif i in followed_at:
                    groups["followed"].append(task_id)
                    tg.start_soon(read, b, task_id, "other engine, from the start")
                elif i in late_at:
                    groups["late"].append(task_id)
                    tg.start_soon(read, b, task_id, "other engine, arriving late", seconds / 2 + LATE_AFTER_HALF)
                elif i == n_modern - 1:
                    tg.start_soon(read, a, task_id, "own engine")
            launched.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(launch, tg)
            await launched.wait()
            while True:  # all done: the terminal writes and result events follow at once
                states = [await task_call(a, "tasks/get", i) for i in ids]
                if all(s["status"] != "working" for s in states):
                    break
                await anyio.sleep(2)
            await anyio.sleep(3)  # publications, a last renewal round
            tg.cancel_scope.cancel()
    out["legacy"] = legacy_progress
    out["listen"] = [at for at, frame in zip(stream.received_at, (f for _, f in stream.frames), strict=True)
                     if (frame.get("_meta") or {}).get("io.agentkit/progress")]  # fmt: skip
    return out


def gaps(times: list[float]) -> str:
    if len(times) < 2:
        return "none received"
    deltas = [b - a for a, b in itertools.pairwise(times)]
    return f"{len(times)} received, interval median {statistics.median(deltas):.2f} s, max {max(deltas):.2f} s"


# ---------------------------------------------------------------- the report
def cost(writes: list[list[Any]], definition: dict[str, Any]) -> dict[tuple[str, str], dict[str, float]]:
    """Per (task, kind): rows, failed attempts, table units and units per index under `definition`."""
    table_keys = [k["AttributeName"] for k in definition["KeySchema"]]
    totals: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for key, kind, before, after, transactional, failed, _ in writes:
        row = totals[(key, kind)]
        row["rows"] += 1
        row["failed"] += failed
        row["table"] += (
            table_units(before, after, transactional)
            if not failed
            else units(item_size(before)) * (2 if transactional else 1)
        )
        for index in definition["GlobalSecondaryIndexes"]:
            row[index["IndexName"]] += 0 if failed else index_units(before, after, index, table_keys)
    return totals


def summarize(result: dict[str, Any], definition: dict[str, Any], group: set[str] | None) -> dict:
    """Per kind: writes per task-hour (recurring per hour of running tasks, once-per-task added once).

    Recurring writes are periodic: their rate is their count over the span from the task's creation to
    its last recurring write (a task's last period, cut short by its end, would otherwise count as time
    without a write). Items that belong to no one task (the owner's quota counters, written in the
    create and terminal transactions) are shared out evenly over every task.
    """
    tasks = set(result["created"])
    chosen = tasks if group is None else group & tasks
    last: dict[str, float] = {}
    for key, kind, *_, at in result["writes"]:
        if key in chosen and kind in RECURRING:
            last[key] = max(last.get(key, 0.0), at)
    spans = {t: last.get(t, result["ended"].get(t, result["created"][t])) - result["created"][t] for t in chosen}
    span = sum(spans.values()) or 1.0
    measured = sum(result["ended"].get(t, result["created"][t]) - result["created"][t] for t in chosen)
    per_kind: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (key, kind), row in cost(result["writes"], definition).items():
        if key in tasks and key not in chosen:
            continue
        if kind in RECURRING:
            scale = 3600 / span
        else:  # once per task; a shared item's writes are shared out over every task
            scale = 1 / (len(chosen) if key in tasks else len(tasks))
        for name, value in row.items():
            per_kind[kind][name] += value * scale
    return {"per_kind": per_kind, "tasks": len(chosen), "task_seconds": measured, "span": span}


def variants(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The synthesized definition, and what-ifs on its indexes (same key names, other projections or keys)."""

    def changed(**projection: Any) -> dict[str, Any]:
        indexes = [{**g, "Projection": dict(projection)} for g in definition["GlobalSecondaryIndexes"]]
        return {**definition, "GlobalSecondaryIndexes": indexes}

    out = [("as synthesized", definition), ("every index ALL", changed(ProjectionType="ALL"))]
    out.append(("every index KEYS_ONLY", changed(ProjectionType="KEYS_ONLY")))
    for i, index in enumerate(definition["GlobalSecondaryIndexes"]):
        keys = [k["AttributeName"] for k in index["KeySchema"]]
        if "sweep_at" in keys:  # the lease's end itself as the sort key: moved by every renewal
            moved = [{**k, "AttributeName": "lease_expires_at"} if k["AttributeName"] == "sweep_at" else k
                     for k in index["KeySchema"]]  # fmt: skip
            indexes = list(definition["GlobalSecondaryIndexes"])
            indexes[i] = {**index, "KeySchema": moved}
            name = f"{index['IndexName']} keyed on lease_expires_at instead"
            out.append((name, {**definition, "GlobalSecondaryIndexes": indexes}))
    return out


def print_table(title: str, summary: dict[str, Any], definition: dict[str, Any], prices: tuple[float, ...]) -> float:
    indexes = [g["IndexName"] for g in definition["GlobalSecondaryIndexes"]]
    print(
        f"\n{title}: {summary['tasks']} tasks, {summary['task_seconds']:.0f} task-seconds measured"
        f" ({summary['span']:.0f} up to each one's last recurring write: the hourly rates' base)"
    )
    print(
        f"{'kind':<11} {'rows':>8} {'table WU':>9} " + " ".join(f"{n[:14]:>14}" for n in indexes) + f" {'total WU':>9}"
    )
    total_rows = total_units = 0.0
    for kind in ORDER:
        row = summary["per_kind"].get(kind)
        if not row:
            if kind not in ALWAYS_SHOWN:
                continue
            row = {"rows": 0.0, "table": 0.0, "failed": 0.0, **{n: 0.0 for n in indexes}}
        units_ = row["table"] + sum(row[n] for n in indexes)
        total_rows += row["rows"]
        total_units += units_
        failed = f" ({row['failed']:.1f} failed)" if row["failed"] else ""
        print(
            f"{kind:<11} {row['rows']:>8.1f} {row['table']:>9.1f} "
            + " ".join(f"{row[n]:>14.1f}" for n in indexes)
            + f" {units_:>9.1f}{failed}"
        )
    print(f"{'total':<11} {total_rows:>8.1f} {'':>9} " + " ".join(" " * 14 for _ in indexes) + f" {total_units:>9.1f}")
    print("  on demand per 1,000 task-hours: " + ", ".join(f"${total_units * p / 1000:.2f} at ${p}/M" for p in prices))
    return total_units


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20, help="tasks (one of them from a 2025-era session)")
    parser.add_argument("--task-seconds", type=int, default=120)
    parser.add_argument("--followed", type=int, default=2, help="tasks the other engine reads from their start")
    parser.add_argument("--late", type=int, default=1, help="tasks the other engine reads from 15 s past half-way")
    parser.add_argument(
        "--stagger",
        type=float,
        default=120.0,
        help="create the tasks spread over this many seconds (default: one sweep-index grid period, two"
        " 60 s leases, so the index key's moves are sampled at every phase, not all at once or not at all)",
    )
    parser.add_argument("--checkpoint", action="store_true", help="the tool also checkpoints every second")
    parser.add_argument("--tree", default=str(REPO), help="the checkout whose server, store and table run")
    parser.add_argument(
        "--env", nargs="*", default=[], metavar="K=V", help="server settings (e.g. TASK_LEASE_SECONDS=30)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ports", type=int, nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--stop", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args)

    import anyio

    sys.path.insert(0, str(REPO / "tests" / "mcp_server"))
    sys.path.insert(0, str(REPO / "runtime_images" / "mcp_server"))
    from tests_support import free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-store-cost-"))
    ports = [free_port(), free_port()]
    stop, out = tmp / "stop", tmp / "result.json"
    env = {
        **os.environ,
        "TASK_STORE": "dynamodb",
        "TASK_TABLE_NAME": TABLE,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "RESULT_SINK": "none",
        "CALLER_IDENTITY": "runtime-user-id",
        "LOG_LEVEL": "WARNING",
        "TASK_SQLITE_PATH": str(tmp / "unused.sqlite3"),
        **dict(kv.split("=", 1) for kv in args.env),
    }
    log = (tmp / "servers.log").open("wb")
    command = [sys.executable, __file__, "--serve", "--tree", args.tree, "--ports", *map(str, ports)]
    servers = subprocess.Popen([*command, "--stop", str(stop), "--out", str(out)], env=env, stdout=log, stderr=log)
    try:
        import httpx2

        deadline = time.monotonic() + 180  # the construct is synthesized first (jsii)
        for port in ports:
            while True:
                if servers.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"servers did not start: {(tmp / 'servers.log').read_text()[-3000:]}")
                try:
                    httpx2.get(f"http://127.0.0.1:{port}/ping", timeout=1)
                    break
                except httpx2.TransportError:
                    time.sleep(0.2)
        urls = [f"http://127.0.0.1:{p}/mcp" for p in ports]
        t0 = time.monotonic()
        drove = anyio.run(drive, *urls, args)
        elapsed = time.monotonic() - t0
        stop.touch()
        servers.wait(timeout=120)
    finally:
        if servers.poll() is None:
            servers.send_signal(signal.SIGKILL)
    result = json.loads(out.read_text())
    definition = result["definition"]
    report(args, result, drove, definition, elapsed, env)
    print(f"(servers' log and the raw write images: {tmp})")


def report(args: argparse.Namespace, result: dict, drove: dict, definition: dict, elapsed: float, env: dict) -> None:
    settings = {k: env[k] for k in sorted(env) if k.startswith("TASK_") and k not in ("TASK_SQLITE_PATH",)}
    print(f"store cost: {args.n} tasks of {args.task_seconds} s, progress every second"
          + (" and a checkpoint every second" if args.checkpoint else "")
          + f"; tree {args.tree}; settings {settings or 'defaults'}; run {elapsed:.0f} s")  # fmt: skip
    described = [
        f"{g['IndexName']} ({', '.join(k['AttributeName'] for k in g['KeySchema'])}; "
        f"{g.get('Projection', {}).get('ProjectionType', 'ALL')})"
        for g in definition["GlobalSecondaryIndexes"]
    ]
    print("indexes (synthesized): " + "; ".join(described))
    print(
        "write units are derived (moto neither bills nor models index writes): 1 per KB of the larger item"
        " image, x2 in a transaction; per index a put or delete of the projected item, both when its key"
        " changes, none when neither its key nor a projected attribute changed value"
    )
    groups = drove["groups"]
    watched = set(groups["followed"]) | set(groups["late"])
    everyone = set(result["created"])
    total = print_table("all tasks, per task-hour", summarize(result, definition, None), definition, PRICES)
    print_table("tasks nobody in another process read", summarize(result, definition, everyone - watched),
                definition, PRICES)  # fmt: skip
    if groups["followed"]:
        print_table("tasks the other engine read every second from their start",
                    summarize(result, definition, set(groups["followed"])), definition, PRICES)  # fmt: skip
    print("\nthe same writes costed under other index definitions (all tasks, write units per task-hour):")
    for name, variant in variants(definition):
        units_ = sum(
            row["table"] + sum(row[g["IndexName"]] for g in variant["GlobalSecondaryIndexes"])
            for row in summarize(result, variant, None)["per_kind"].values()
        )
        print(f"  {name:<58} {units_:>8.0f}  (${units_ * PRICES[0] / 1000:.2f} per 1,000 task-hours at ${PRICES[0]}/M)")
    print("\nreads (read units, whole run): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(result["reads"].items())))
    print("\nprogress as readers see it (age of the report shown, at each read):")
    for group, samples in drove["staleness"].items():
        ages = [age for _, _, age in samples]
        line = f"  {group:<30} {len(ages):>4} reads, median {statistics.median(ages):5.1f} s, max {max(ages):5.1f} s"
        if group != "own engine":  # a reader elsewhere: its first read of each task (the one that may wait)
            first: dict[str, float] = {}
            for task_id, _, age in samples:
                first.setdefault(task_id, age)
            line += f"; first read of each task: max {max(first.values()):.1f} s"
            if drove.get("waits", {}).get(group):
                waits = drove["waits"][group]
                line += f"; tasks/get answer time median {statistics.median(waits):.2f} s, max {max(waits):.2f} s"
        print(line)
    print("connected clients:")
    print(f"  2025-11-25 notifications/progress (live.py): {gaps(drove['legacy'])}")
    print(f"  2026-07-28 notifications/tasks via subscriptions/listen: {gaps(drove['listen'])}")
    print(f"total {total:.0f} write units per task-hour")


if __name__ == "__main__":
    main()
