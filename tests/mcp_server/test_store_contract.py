"""One contract, two stores: SQLite (embedded default) and DynamoDB (moto, schema from the CDK construct)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_server import constants as c
from mcp_server.store import LeaseLost, NewTask, TaskStore
from mcp_server.store.dynamodb import DynamoDbTaskStore
from mcp_server.store.sqlite import SqliteTaskStore

NOW = 1_800_000_000.0
LEASE = 30.0


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskStore]:
    if request.param == "sqlite":
        s: TaskStore = SqliteTaskStore(tmp_path / "tasks.sqlite3")
    else:
        client, table = request.getfixturevalue("moto_table")
        s = DynamoDbTaskStore(table, client=client)
    yield s
    s.close()


def new_task(owner: str = "alice", request_key: str | None = None, worker: str = "w1", **kw: Any) -> NewTask:
    return NewTask(
        task_id=str(uuid.uuid4()),
        owner=owner,
        session_id="s1",
        memory_id="mem1",
        tool="summarize_csv",
        arguments={"path": "a.csv"},
        ttl_seconds=600,
        worker_id=worker,
        request_key=request_key,
        **kw,
    )


def test_create_is_readable_by_owner_only(store: TaskStore) -> None:
    task, created = store.create(new_task(), NOW, LEASE)
    assert created and task.status == c.STATUS_WORKING
    got = store.get(task.task_id, "alice", NOW)
    assert got is not None and got.arguments == {"path": "a.csv"} and got.memory_id == "mem1"
    assert store.get(task.task_id, "mallory", NOW) is None
    assert store.get("no-such-task", "alice", NOW) is None


def test_retried_create_with_request_key_returns_the_same_task(store: TaskStore) -> None:
    first, created = store.create(new_task(request_key="k1"), NOW, LEASE)
    again, created_again = store.create(new_task(request_key="k1"), NOW + 1, LEASE)
    assert created and not created_again
    assert again.task_id == first.task_id
    other_owner, created_other = store.create(new_task(owner="bob", request_key="k1"), NOW, LEASE)
    assert created_other and other_owner.task_id != first.task_id
    assert [t.task_id for t in store.list_by_owner("alice", NOW)] == [first.task_id]


def test_heartbeat_records_progress_and_finish_is_terminal_once(store: TaskStore) -> None:
    task, _ = store.create(new_task(), NOW, LEASE)
    store.heartbeat(task.task_id, "w1", NOW + 1, LEASE, progress=(3, 10, "chunk 3/10"))
    mid = store.get(task.task_id, "alice", NOW + 1)
    assert mid is not None and (mid.progress, mid.total, mid.status_message) == (3, 10, "chunk 3/10")
    done = store.finish(task.task_id, "w1", c.STATUS_COMPLETED, NOW + 2, result={"rows": 5}, publish_after=NOW + 100)
    assert done.status == c.STATUS_COMPLETED and done.result == {"rows": 5} and done.completions == 1
    with pytest.raises(LeaseLost):
        store.finish(task.task_id, "w1", c.STATUS_FAILED, NOW + 3, error={"message": "late"}, publish_after=NOW + 100)
    with pytest.raises(LeaseLost):
        store.heartbeat(task.task_id, "w1", NOW + 3, LEASE)
    assert (
        store.cancel(task.task_id, "alice", NOW + 3, "too late", publish_after=NOW + 100).status == c.STATUS_COMPLETED
    )  # type: ignore[union-attr]
    final = store.get(task.task_id, "alice", NOW + 4)
    assert final is not None and final.status == c.STATUS_COMPLETED and final.completions == 1


def test_only_the_lease_owner_may_write(store: TaskStore) -> None:
    task, _ = store.create(new_task(), NOW, LEASE)
    with pytest.raises(LeaseLost):
        store.heartbeat(task.task_id, "intruder", NOW + 1, LEASE)
    with pytest.raises(LeaseLost):
        store.finish(task.task_id, "intruder", c.STATUS_COMPLETED, NOW + 1, result={}, publish_after=NOW + 100)


def test_cancel_is_terminal_and_observed_by_the_worker(store: TaskStore) -> None:
    task, _ = store.create(new_task(), NOW, LEASE)
    assert store.cancel(task.task_id, "mallory", NOW + 1, "no", publish_after=NOW + 100) is None
    cancelled = store.cancel(task.task_id, "alice", NOW + 1, "user asked", publish_after=NOW + 100)
    assert cancelled is not None and cancelled.status == c.STATUS_CANCELLED
    with pytest.raises(LeaseLost):
        store.heartbeat(task.task_id, "w1", NOW + 2, LEASE)
    with pytest.raises(LeaseLost):
        store.finish(task.task_id, "w1", c.STATUS_COMPLETED, NOW + 2, result={"late": True}, publish_after=NOW + 100)
    final = store.get(task.task_id, "alice", NOW + 2)
    assert final is not None and final.status == c.STATUS_CANCELLED and final.result is None


def test_expired_lease_is_found_and_taken_over_once(store: TaskStore) -> None:
    task, _ = store.create(new_task(), NOW, LEASE)
    live, _ = store.create(new_task(), NOW, LEASE)
    store.heartbeat(live.task_id, "w1", NOW + LEASE, LEASE)
    store.heartbeat(live.task_id, "w1", NOW + 3 * LEASE, LEASE)
    assert store.expired_leases(NOW + LEASE - 1) == []  # never while its lease runs
    # Found once its lease ran out; on DynamoDB up to two leases later (its sweep_at moves on a grid).
    later = NOW + 3 * LEASE + 1
    assert [t.task_id for t in store.expired_leases(later)] == [task.task_id]
    assert store.take_over(task.task_id, "w1", "w2", later, LEASE)
    assert not store.take_over(task.task_id, "w1", "w3", later, LEASE)
    taken = store.get(task.task_id, "alice", later)
    assert taken is not None and taken.lease_owner == "w2" and taken.attempts == 2
    with pytest.raises(LeaseLost):
        store.heartbeat(task.task_id, "w1", later, LEASE)
    assert store.expired_leases(later) == []
    store.finish(task.task_id, "w2", c.STATUS_FAILED, later, error={"message": "worker lost"}, publish_after=NOW + 100)
    assert store.expired_leases(later + 10 * LEASE) == [store.get(live.task_id, "alice", later)]


def test_expired_tasks_are_not_found_and_purged(store: TaskStore) -> None:
    task, _ = store.create(new_task(request_key="k"), NOW, LEASE)
    store.finish(task.task_id, "w1", c.STATUS_COMPLETED, NOW + 1, result={}, publish_after=NOW + 100)
    after_ttl = NOW + 1 + 600 + 1
    assert store.get(task.task_id, "alice", NOW + 600) is not None
    assert store.get(task.task_id, "alice", after_ttl) is None
    assert store.list_by_owner("alice", after_ttl) == []
    store.purge_expired(after_ttl)
    assert store.get(task.task_id, "alice", NOW + 2) is None or isinstance(store, DynamoDbTaskStore)
    again, created = store.create(new_task(request_key="k"), after_ttl, LEASE)
    assert created and again.task_id != task.task_id


def test_moto_table_matches_the_construct(table_definition: dict[str, Any]) -> None:
    # The store relies on these names; the construct is the source of truth.
    assert table_definition["KeySchema"] == [{"AttributeName": "task_id", "KeyType": "HASH"}]
    indexes = {g["IndexName"]: g["KeySchema"] for g in table_definition["GlobalSecondaryIndexes"]}
    assert [k["AttributeName"] for k in indexes["by_owner_keys"]] == ["owner", "created_at"]
    assert [k["AttributeName"] for k in indexes["by_sweep"]] == ["lease_state", "sweep_at"]
    assert [k["AttributeName"] for k in indexes["by_follower"]] == ["follower", "follow_since"]
    # Keys only: renewals and progress reports change no key, so they write no index.
    projections = {
        g["IndexName"]: g["Projection"]["ProjectionType"] for g in table_definition["GlobalSecondaryIndexes"]
    }
    assert projections == {"by_owner_keys": "KEYS_ONLY", "by_sweep": "KEYS_ONLY", "by_follower": "KEYS_ONLY"}
    assert table_definition["_ttl_attribute"] == "expires_at"


def test_batched_renewal_reports_the_leases_lost(store: TaskStore) -> None:
    kept, _ = store.create(new_task(), NOW, LEASE)
    cancelled, _ = store.create(new_task(), NOW, LEASE)
    store.cancel(cancelled.task_id, "alice", NOW + 1, "stop", publish_after=NOW + 100)
    lost = store.heartbeat_many("w1", NOW + 2, LEASE, [(kept.task_id, (5, 10, "half")), (cancelled.task_id, None)])
    assert lost == [cancelled.task_id]
    got = store.get(kept.task_id, "alice", NOW + 2)
    assert got is not None and got.progress == 5 and got.lease_expires_at == NOW + 2 + LEASE


def test_result_events_due_after_a_terminal_transition(store: TaskStore) -> None:
    done, _ = store.create(new_task(), NOW, LEASE)
    cancelled, _ = store.create(new_task(), NOW, LEASE)
    store.finish(done.task_id, "w1", c.STATUS_COMPLETED, NOW + 1, result={}, publish_after=NOW + 31)
    store.cancel(cancelled.task_id, "alice", NOW + 2, "stop", publish_after=NOW + 32)
    assert store.unpublished(NOW + 30) == []
    overdue = store.unpublished(NOW + 40)
    assert {r.task_id for r in overdue} == {done.task_id, cancelled.task_id}
    assert store.expired_leases(NOW + 40) == []  # overdue events are not lost workers
    assert store.claim_publish(done.task_id, NOW + 40, NOW + 70)
    assert not store.claim_publish(done.task_id, NOW + 41, NOW + 71)  # one publisher at a time
    store.mark_published(done.task_id)
    store.mark_published(cancelled.task_id)
    assert store.unpublished(NOW + 1000) == []
    record = store.get(done.task_id, "alice", NOW + 40)
    assert record is not None and record.publish_due_at is None and record.status == c.STATUS_COMPLETED


ASK = {"method": "elicitation/create", "params": {"mode": "form", "message": "Write it?", "requestedSchema": {}}}
ACCEPT = {"action": "accept", "content": {"write": True}}


def test_questions_are_answered_once_by_the_owner_and_cleared_by_the_worker(store: TaskStore) -> None:
    task, _ = store.create(new_task(), NOW, LEASE)
    store.request_input(task.task_id, "w1", NOW + 1, {"ask-1": ASK, "ask-2": ASK})
    asked = store.get(task.task_id, "alice", NOW + 1)
    assert asked is not None and asked.status == c.STATUS_WORKING  # lease and cancellation unchanged
    assert asked.wire_status == c.STATUS_INPUT_REQUIRED and set(asked.pending_input) == {"ask-1", "ask-2"}
    # Only the owner, only open questions, each at most once.
    assert store.provide_input(task.task_id, "mallory", NOW + 2, {"ask-1": ACCEPT}) is None
    assert store.provide_input(task.task_id, "alice", NOW + 2, {"ask-9": ACCEPT}) is None
    assert store.provide_input(task.task_id, "alice", NOW + 2, {}) is None
    answered = store.provide_input(task.task_id, "alice", NOW + 2, {"ask-1": ACCEPT})
    assert answered is not None and answered.input_responses == {"ask-1": ACCEPT}
    assert set(answered.pending_input) == {"ask-2"} and answered.updated_at == NOW + 2
    assert store.provide_input(task.task_id, "alice", NOW + 3, {"ask-1": {"action": "decline"}}) is None
    done = store.provide_input(task.task_id, "alice", NOW + 3, {"ask-2": {"action": "decline"}})
    assert done is not None and done.pending_input == {} and done.wire_status == c.STATUS_WORKING
    assert done.input_responses == {"ask-1": ACCEPT, "ask-2": {"action": "decline"}}
    # Only the lease owner asks and clears.
    with pytest.raises(LeaseLost):
        store.clear_input(task.task_id, "w2", NOW + 4)
    store.clear_input(task.task_id, "w1", NOW + 4)
    cleared = store.get(task.task_id, "alice", NOW + 4)
    assert cleared is not None and cleared.input_requests is None and cleared.input_responses is None
    with pytest.raises(LeaseLost):
        store.request_input(task.task_id, "w2", NOW + 5, {"ask-3": ASK})


def test_an_ended_task_takes_no_answers(store: TaskStore) -> None:
    task, _ = store.create(new_task(), NOW, LEASE)
    store.request_input(task.task_id, "w1", NOW + 1, {"ask-1": ASK})
    store.cancel(task.task_id, "alice", NOW + 2, "no longer needed", publish_after=NOW + 100)
    assert store.provide_input(task.task_id, "alice", NOW + 3, {"ask-1": ACCEPT}) is None
    ended = store.get(task.task_id, "alice", NOW + 3)
    assert ended is not None and ended.wire_status == c.STATUS_CANCELLED and ended.pending_input == {}
    with pytest.raises(LeaseLost):
        store.request_input(task.task_id, "w1", NOW + 4, {"ask-2": ASK})


def test_a_store_file_from_before_questions_gains_the_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    SqliteTaskStore(path).close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE tasks DROP COLUMN input_requests")
    db.execute("ALTER TABLE tasks DROP COLUMN input_responses")
    db.close()
    store = SqliteTaskStore(path)
    task, _ = store.create(new_task(), NOW, LEASE)
    store.request_input(task.task_id, "w1", NOW + 1, {"ask-1": ASK})
    assert store.get(task.task_id, "alice", NOW + 1).pending_input == {"ask-1": ASK}  # type: ignore[union-attr]
    store.close()


def test_a_taken_over_task_drops_the_lost_workers_question(store: TaskStore) -> None:
    task, _ = store.create(new_task(), NOW, LEASE)
    store.request_input(task.task_id, "w1", NOW + 1, {"ask-1": ASK})
    assert store.take_over(task.task_id, "w1", "w2", NOW + LEASE + 1, LEASE)
    taken = store.get(task.task_id, "alice", NOW + LEASE + 1)
    assert taken is not None and taken.pending_input == {} and taken.wire_status == c.STATUS_WORKING
    assert store.provide_input(task.task_id, "alice", NOW + LEASE + 2, {"ask-1": ACCEPT}) is None


def test_a_finished_task_shows_its_last_progress_not_a_stale_one(store: TaskStore) -> None:
    task, _ = store.create(new_task(), NOW, LEASE)
    store.heartbeat(task.task_id, "w1", NOW + 1, LEASE, (650_000.0, 1_500_000.0, "650000 rows read (43%)"))
    final = (1_500_000.0, 1_500_000.0, "1500000 rows read (100%)")
    done = store.finish(
        task.task_id, "w1", c.STATUS_COMPLETED, NOW + 2, result={"content": []}, publish_after=NOW, progress=final
    )
    assert (done.progress, done.total, done.status_message) == final
    other, _ = store.create(new_task(), NOW, LEASE)
    store.heartbeat(other.task_id, "w1", NOW + 1, LEASE, (10.0, 100.0, "10%"))
    failed = store.finish(other.task_id, "w1", c.STATUS_FAILED, NOW + 2, message="boom", publish_after=NOW)
    assert failed.status_message == "boom"


def test_a_released_lease_is_taken_over_at_once_without_counting_an_attempt(store: TaskStore) -> None:
    task, _ = store.create(new_task(worker="w1", resumable=True), NOW, LEASE)
    assert not store.release(task.task_id, "someone-else", NOW + 1)
    assert store.release(task.task_id, "w1", NOW + 1)
    expired = [r for r in store.expired_leases(NOW + 1.5) if r.task_id == task.task_id]
    assert expired and expired[0].handover
    assert store.take_over(task.task_id, "w1", "w2", NOW + 2, LEASE, count_attempt=False)
    moved = store.get(task.task_id, "alice", NOW + 2)
    assert moved is not None and moved.attempts == 1 and moved.lease_owner == "w2" and not moved.handover


def test_publication_attempts_are_counted_and_can_be_given_up(store: TaskStore) -> None:
    task, _ = store.create(new_task(), NOW, LEASE)
    store.finish(task.task_id, "w1", c.STATUS_COMPLETED, NOW + 1, result={"content": []}, publish_after=NOW + 2)
    assert store.claim_publish(task.task_id, NOW + 3, NOW + 10)
    assert not store.claim_publish(task.task_id, NOW + 4, NOW + 10)  # taken until NOW + 10
    assert store.claim_publish(task.task_id, NOW + 11, NOW + 20)
    due = [r for r in store.unpublished(NOW + 21) if r.task_id == task.task_id]
    assert due and due[0].publish_attempts == 2
    store.abandon_publish(task.task_id)
    assert [r for r in store.unpublished(NOW + 1_000) if r.task_id == task.task_id] == []
    given_up = store.get(task.task_id, "alice", NOW + 21)
    assert given_up is not None and given_up.publish_abandoned and given_up.status == c.STATUS_COMPLETED


def test_a_reader_elsewhere_follows_a_task_and_its_renewal_says_so(store: TaskStore) -> None:
    task, _ = store.create(new_task(), NOW, LEASE)
    assert store.renew("w1", NOW + 1, LEASE, [(task.task_id, None)]).followed == {}
    assert store.follow(task.task_id, "w1", NOW + 2, NOW + 122)
    seen = store.get(task.task_id, "alice", NOW + 2)
    assert seen is not None and (seen.follower, seen.followed_until) == ("w1", NOW + 122)
    # A second reader: the first mark serves both (whichever form it tries).
    assert not store.follow(task.task_id, "w1", NOW + 3, NOW + 123, extend=True)
    assert not store.follow(task.task_id, "w1", NOW + 3, NOW + 123)
    renewal = store.renew("w1", NOW + 4, LEASE, [(task.task_id, (1, 10, "one"))])
    assert renewal.lost == [] and renewal.followed == {task.task_id: NOW + 122}
    assert store.follow(task.task_id, "w1", NOW + 70, NOW + 190, extend=True)  # past the mark's middle: extended
    assert store.follows_since("w1", NOW) == {task.task_id: NOW + 2}  # the same follow: it began at NOW + 2
    assert store.renew("w1", NOW + 200, LEASE, [(task.task_id, None)]).followed == {}  # the mark ran out
    store.finish(task.task_id, "w1", c.STATUS_COMPLETED, NOW + 201, result={}, publish_after=NOW + 300)
    assert not store.follow(task.task_id, "w1", NOW + 202, NOW + 322)  # ended: nothing to follow
    got = store.get(task.task_id, "alice", NOW + 202)
    assert got is not None and got.progress == 1 and got.status == c.STATUS_COMPLETED


def test_a_worker_reads_the_follows_begun_for_it_since_a_time(store: TaskStore) -> None:
    mine, _ = store.create(new_task(), NOW, LEASE)
    theirs, _ = store.create(new_task(worker="w2"), NOW, LEASE)
    quiet, _ = store.create(new_task(), NOW, LEASE)
    assert store.follows_since("w1", NOW - 30) == {}
    assert store.follow(mine.task_id, "w1", NOW + 1, NOW + 121)
    assert store.follow(theirs.task_id, "w2", NOW + 2, NOW + 122)
    assert not store.follow(quiet.task_id, "w2", NOW + 2, NOW + 122)  # not w2's task: no mark for it
    assert store.follows_since("w1", NOW - 29) == {mine.task_id: NOW + 1}
    assert store.follows_since("w2", NOW - 28) == {theirs.task_id: NOW + 2}
    assert store.follows_since("w1", NOW + 2) == {}  # begun before the time asked about
    # The mark ran out; a new reader begins a new follow, and the worker is told again.
    assert store.follow(mine.task_id, "w1", NOW + 200, NOW + 320)
    assert store.follows_since("w1", NOW + 150) == {mine.task_id: NOW + 200}
    # Taken over by another worker: a reader's follow now names it (a mark for the former worker is refused).
    store.release(mine.task_id, "w1", NOW + 210)
    assert store.take_over(mine.task_id, "w1", "w3", NOW + 211, LEASE, count_attempt=False)
    assert not store.follow(mine.task_id, "w1", NOW + 212, NOW + 332)
    assert store.follow(mine.task_id, "w3", NOW + 212, NOW + 332, extend=True)  # tried as an extension first
    assert store.follows_since("w3", NOW + 150) == {mine.task_id: NOW + 212}
    # A task that ended is no longer reported to its worker.
    store.finish(theirs.task_id, "w2", c.STATUS_COMPLETED, NOW + 213, result={}, publish_after=NOW + 300)
    assert store.follows_since("w2", NOW) in ({}, {theirs.task_id: NOW + 2})


def test_renewals_leave_the_sweep_index_alone_until_the_grid_moves(moto_table: tuple[Any, str]) -> None:
    # The sweep index's key (lease_state, sweep_at) is written at create, then only when the lease's end
    # passes a grid line two leases wide: never before the lease ends, never more than two leases after.
    client, table = moto_table
    store = DynamoDbTaskStore(table, client=client)
    task, _ = store.create(new_task(), NOW, LEASE)
    first = client.get_item(TableName=table, Key={"task_id": {"S": task.task_id}})["Item"]
    written = [float(first["sweep_at"]["N"])]
    for step in range(1, 31):
        now = NOW + step * LEASE / 3
        store.heartbeat(task.task_id, "w1", now, LEASE, (step, 30, None))
        item = client.get_item(TableName=table, Key={"task_id": {"S": task.task_id}})["Item"]
        sweep, lease = float(item["sweep_at"]["N"]), float(item["lease_expires_at"]["N"])
        assert lease < sweep <= lease + 2 * LEASE
        written.append(sweep)
    moves = sum(a != b for a, b in itertools.pairwise(written))
    assert moves == 5  # 30 renewals over ten leases: the key moved five times


def test_a_renewal_racing_a_release_does_not_take_the_lease_back(store: TaskStore) -> None:
    task, _ = store.create(new_task(), NOW, LEASE)
    assert store.release(task.task_id, "w1", NOW + 1, progress=(2, 10, None), checkpoint='{"next": 2}')
    assert store.renew("w1", NOW + 2, LEASE, [(task.task_id, (3, 10, None), '{"next": 3}')]).lost == [task.task_id]
    released = store.get(task.task_id, "alice", NOW + 2)
    assert released is not None and released.handover and released.lease_expires_at == NOW + 1
    assert released.progress == 2 and released.checkpoint == {"next": 2}
    assert [t.task_id for t in store.expired_leases(NOW + 2)] == [task.task_id]  # free at once, for the next session
