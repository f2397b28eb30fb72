"""Where a confirmed handoff request goes: the Stage's EventBridge bus, or a local outbox.

Exactly-once execution is the workflow's job: it validates the event, then claims the idempotency
key, so a duplicate event ends as `Duplicate` with no side effect. The emitters add a
second, cheaper guard so that repeating a confirmed request does not put a second event
at all: the outbox dedupes on the key, and the EventBridge emitter keeps a record of the
keys it put. That record is written *after* PutEvents succeeds: a crash between the two
can only cause a re-put on retry (harmless, the claim absorbs it), never a lost request,
which recording first would risk.
"""

from __future__ import annotations

import abc
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from kit_contracts.handoff import EVENT_DETAIL_TYPE, EVENT_SOURCE
from mcp_server.aws_clients import LazyClient
from mcp_server.settings import Settings

# How long an emitted key is remembered: long enough to absorb a client's retries of one call.
# Beyond it a repeat is put again, and the workflow's claim decides: a duplicate of a request
# that ran (or may have) is a no-op, one whose run failed before its step runs again. A longer
# memory here would keep a user from re-running a request that never ran.
REMEMBER_SECONDS = 3600


class HandoffEmitError(Exception):
    """The event was not accepted; the message says why. Nothing was recorded: retrying is safe."""


class HandoffEmitter(abc.ABC):
    """Blocking API; callers run it in a worker thread."""

    @abc.abstractmethod
    def emit(self, detail: dict[str, Any]) -> bool:
        """Put the event unless this key was emitted before; True if it was put now."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # Survives a process crash (the failure that matters here), like the task store.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class LocalOutbox(HandoffEmitter):
    """Local mode: the event itself is a row, unique on its idempotency key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = _connect(path)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS outbox (idempotency_key TEXT PRIMARY KEY, source TEXT NOT NULL,"
                " detail_type TEXT NOT NULL, detail TEXT NOT NULL, emitted_at REAL NOT NULL)"
            )

    def emit(self, detail: dict[str, Any]) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?, ?)",
                (detail["idempotency_key"], EVENT_SOURCE, EVENT_DETAIL_TYPE, json.dumps(detail), time.time()),
            )
        return cursor.rowcount == 1

    def events(self) -> list[dict[str, Any]]:
        """Every event in the outbox, oldest first (for `make local` users and tests)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT source, detail_type, detail FROM outbox ORDER BY emitted_at, idempotency_key"
            ).fetchall()
        return [{"source": s, "detail-type": t, "detail": json.loads(d)} for s, t, d in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class EmittedKeys(abc.ABC):
    """The EventBridge emitter's memory of keys it already put."""

    @abc.abstractmethod
    def seen(self, key: str, now: float) -> bool: ...

    @abc.abstractmethod
    def remember(self, key: str, now: float) -> None: ...


class SqliteEmittedKeys(EmittedKeys):
    def __init__(self, path: Path) -> None:
        self._conn = _connect(path)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS emitted (idempotency_key TEXT PRIMARY KEY, expires_at REAL NOT NULL)"
            )

    def seen(self, key: str, now: float) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM emitted WHERE idempotency_key = ? AND expires_at >= ?", (key, now)
            ).fetchone()
        return row is not None

    def remember(self, key: str, now: float) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO emitted VALUES (?, ?)", (key, now + REMEMBER_SECONDS))


class DynamoDbEmittedKeys(EmittedKeys):
    """Deployed: items in the task table under `handoff#<key>`.

    They carry none of the table's index keys (so they stay out of the owner and lease
    indexes) and its TTL attribute (so DynamoDB deletes them). Shared by every microVM,
    so a repeat that lands in another session is recognised too.
    """

    PARTITION_KEY = "task_id"
    TTL_ATTRIBUTE = "expires_at"

    def __init__(self, table_name: str, region: str | None = None, client: Any = None) -> None:
        self._table = table_name
        self._ddb = LazyClient("dynamodb", region, client)

    def _key(self, key: str) -> dict[str, Any]:
        return {self.PARTITION_KEY: {"S": f"handoff#{key}"}}

    def seen(self, key: str, now: float) -> bool:
        item = self._ddb().get_item(TableName=self._table, Key=self._key(key), ConsistentRead=True).get("Item")
        return item is not None and float(item[self.TTL_ATTRIBUTE]["N"]) >= now

    def remember(self, key: str, now: float) -> None:
        self._ddb().put_item(
            TableName=self._table,
            Item={**self._key(key), self.TTL_ATTRIBUTE: {"N": str(int(now + REMEMBER_SECONDS))}},
        )


class EventBridgeEmitter(HandoffEmitter):
    def __init__(self, bus_name: str, keys: EmittedKeys, region: str | None = None, client: Any = None) -> None:
        self.bus_name = bus_name
        self._keys = keys
        self._events = LazyClient("events", region, client)

    def emit(self, detail: dict[str, Any]) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        key = detail["idempotency_key"]
        if self._keys.seen(key, time.time()):
            return False
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": EVENT_DETAIL_TYPE,
            "Detail": json.dumps(detail),
            "EventBusName": self.bus_name,
        }
        try:
            response = self._events().put_events(Entries=[entry])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise HandoffEmitError(f"PutEvents failed: {error.get('Code')}: {error.get('Message')}") from None
        except BotoCoreError as exc:  # no connection, no credentials: nothing was put
            raise HandoffEmitError(f"PutEvents failed: {type(exc).__name__}: {exc}") from None
        if response.get("FailedEntryCount", 0) > 0:
            failed = response["Entries"][0]
            raise HandoffEmitError(
                f"EventBridge rejected the event: {failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
            )
        self._keys.remember(key, time.time())
        return True


def make_emitter(settings: Settings) -> HandoffEmitter:
    """EventBridge when the stack gave a bus; otherwise the local outbox next to the task store."""
    if settings.handoff_bus_name is None:
        return LocalOutbox(settings.handoff_outbox_path)
    keys: EmittedKeys
    if settings.store == "dynamodb" and settings.table_name is not None:
        keys = DynamoDbEmittedKeys(settings.table_name, settings.region)
    else:
        keys = SqliteEmittedKeys(settings.handoff_outbox_path)
    return EventBridgeEmitter(settings.handoff_bus_name, keys, settings.region)
