"""The workbench's case store on the real broker: rebuilt from the topics, governed, replaying.

Exceptions are made the way they are in production: a web order whose tax code (Texas) the
reference data does not know goes through the normalization flow. The store then acts on the
cases, replays them after the reference data is fixed (or not), and sees what became of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer

from omnichannel.codec import codec_for
from omnichannel.contracts.exception_audit import AuditAction, ExceptionAudit, ReplayOutcome
from omnichannel.kafka_settings import producer_config
from omnichannel.reference import DEFAULT_REFERENCE_FILE
from omnichannel.topics import Topics
from omnichannel.workbench.cases import (
    Actor,
    Case,
    CaseFilter,
    CaseStatus,
    Resolution,
    Role,
    TransitionError,
)
from omnichannel.workbench.records import SystemRecords
from omnichannel.workbench.store import CaseStore
from tests.conftest import TopicFactory
from tests.integration.kafka_topics import fresh_topics, read_topic, records_in, run_flow, topic_env
from tests.integration.test_exception_replay import TEXAS
from tests.unit import channel_examples as ex
from tests.unit.test_adapters import changed

pytestmark = pytest.mark.integration

ANA = Actor("ana", ("finance-ops",), Role.OPERATOR)
VIC = Actor("vic", ("support",), Role.VIEWER)
TEXAS_TAX = '\n[tax_codes.US-TX]\nerp_code = "US-TX-SALES"\naccount = "2302"\nrate = "0.0625"\n'
AUDIT = codec_for(ExceptionAudit, None)


def until(condition: Callable[[], object], what: str, timeout_s: float = 120) -> None:
    """Wait until `condition()` holds; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f}s: {what}"
        time.sleep(0.2)


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    producer = Producer(producer_config([bootstrap]))
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def texas_order(order_id: int) -> tuple[bytes, bytes]:
    """A web order charging Texas sales tax, which the bundled reference data does not know."""
    return str(order_id).encode(), json.dumps(changed(TEXAS, "id", order_id)).encode()


def normalize(bootstrap: str, topics: Topics, reference: Path | None = None) -> None:
    """Run the normalization flow over the inputs, with that reference data (else the bundled)."""
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "NORMALIZE_TAIL": "false", **topic_env(topics)}
    if reference is not None:
        env["REFERENCE_DATA"] = str(reference)
    run_flow("dataflows.normalization", env)


def reference_without_texas(tmp_path: Path) -> Path:
    path = tmp_path / "reference.toml"
    path.write_text(DEFAULT_REFERENCE_FILE.read_text())
    return path


def teach_texas(reference: Path) -> None:
    """The fix: the reference data learns the Texas tax code."""
    reference.write_text(reference.read_text() + TEXAS_TAX)


@contextmanager
def running(
    bootstrap: str, topics: Topics, reference: Path | None = None, cases: int = 0
) -> Iterator[CaseStore]:
    """A started store, rebuilt and holding `cases` cases at least; stopped afterwards."""
    store = CaseStore([bootstrap], topics, reference_file=reference)
    store.start()
    try:
        until(store.ready, "the store rebuilt")
        until(lambda: len(store.book) >= cases, f"{cases} cases in the book")
        yield store
    finally:
        store.stop()
    assert store.failure is None


def cases(store: CaseStore) -> list[Case]:
    with store.lock:
        return store.book.select(CaseFilter(), datetime.now(UTC))


def state(store: CaseStore) -> dict[str, tuple[object, ...]]:
    """Each case's status, assignee, resolution and the audit ids of its history."""
    with store.lock:
        return {
            case.id: (
                case.status,
                case.assignee,
                case.resolution,
                [event.audit_id for event in case.history],
            )
            for case in cases(store)
        }


def case_of(store: CaseStore, case_id: str) -> Case:
    with store.lock:
        case = store.book.get(case_id)
    assert case is not None
    return case


def audit_trail(bootstrap: str, topics: Topics, case_id: str) -> list[ExceptionAudit]:
    """The case's audit events on the topic, in order (a case's events share a partition)."""
    events = [AUDIT.decode_model(r.value) for r in read_topic(bootstrap, topics.exceptions_audit)]
    return [event for event in events if event.exception_id == case_id]


def test_a_restarted_store_rebuilds_the_same_cases(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topics = fresh_topics(new_topic)
    produce(
        kafka_bootstrap,
        topics.web_orders,
        [texas_order(1001), texas_order(1002), (b"broken", b'{"topic": "orders/create", ')],
    )
    normalize(kafka_bootstrap, topics)

    with running(kafka_bootstrap, topics, cases=3) as store:
        first, second, broken = sorted(case.id for case in cases(store))
        store.act(ANA, first, AuditAction.ASSIGN)
        store.act(ANA, second, AuditAction.ASSIGN, assignee="bo")
        store.act(ANA, second, AuditAction.DISCARD, reason="test order, never shipped")
        store.act(ANA, broken, AuditAction.FIX_UPSTREAM, reason="the shop re-sends it")
        store.act(ANA, broken, AuditAction.REOPEN, reason="the shop did not re-send it")
        before = state(store)

    with running(kafka_bootstrap, topics, cases=3) as restarted:
        until(lambda: state(restarted) == before, "the same statuses after the restart", 60)
        assert restarted.refused_audit() == []

    assert before[first][:3] == (CaseStatus.IN_PROGRESS, "ana", None)
    assert before[second][:3] == (CaseStatus.RESOLVED, "bo", Resolution.DISCARDED)
    assert before[broken][:3] == (CaseStatus.OPEN, None, None)


def test_a_malformed_audit_record_is_refused_and_changes_nothing(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topics = fresh_topics(new_topic)
    produce(kafka_bootstrap, topics.web_orders, [texas_order(1001)])
    normalize(kafka_bootstrap, topics)

    with running(kafka_bootstrap, topics, cases=1) as store:
        [case] = cases(store)
        # A viewer's action is refused before anything is written.
        with pytest.raises(PermissionError, match="viewer"):
            store.act(VIC, case.id, AuditAction.ASSIGN)
        # An invalid transition (reopen an open case) and bytes that are no audit event.
        reopen = ExceptionAudit(
            audit_id="forged-reopen",
            exception_id=case.id,
            action=AuditAction.REOPEN,
            actor="mallory",
            actor_groups=["finance-ops"],
            role="operator",
            at=datetime.now(UTC),
            reason="because",
        )
        key = case.id.encode()
        produce(
            kafka_bootstrap,
            topics.exceptions_audit,
            [(key, b"\x00garbage, not avro"), (key, AUDIT.encode_model(reopen))],
        )
        until(lambda: len(store.refused_audit()) == 2, "both records refused")
        refused = store.refused_audit()
        with pytest.raises(TransitionError, match="reopen"):
            store.act(ANA, case.id, AuditAction.REOPEN, reason="try it through the store")

        assert case_of(store, case.id).status is CaseStatus.OPEN
        assert case_of(store, case.id).history == []
        # The store keeps going: the next action applies.
        store.act(ANA, case.id, AuditAction.ASSIGN)
        assert case_of(store, case.id).status is CaseStatus.IN_PROGRESS

    assert [r.event for r in refused] == [None, reopen]
    assert "not an audit event" in refused[0].why
    assert "cannot reopen" in refused[1].why
    assert "it is open" in refused[1].why
    assert refused[0].partition == refused[1].partition
    assert refused[0].offset is not None
    assert refused[1].offset == refused[0].offset + 1

    # Rebuilt from the topics, the same two are refused and nothing else changed.
    with running(kafka_bootstrap, topics, cases=1) as restarted:
        until(lambda: len(restarted.refused_audit()) == 2, "both refused again")
        until(lambda: case_of(restarted, case.id).assignee == "ana", "the assignment")
        assert [(r.partition, r.offset) for r in restarted.refused_audit()] == [
            (r.partition, r.offset) for r in refused
        ]
        assert case_of(restarted, case.id).status is CaseStatus.IN_PROGRESS


def test_a_replay_after_the_reference_fix_resolves_the_case(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topics = fresh_topics(new_topic)
    produce(kafka_bootstrap, topics.web_orders, [texas_order(1001)])
    normalize(kafka_bootstrap, topics)
    reference = reference_without_texas(tmp_path)

    with running(kafka_bootstrap, topics, reference, cases=1) as store:
        [case] = cases(store)
        assert case.reason == "unknown_tax_code"
        store.act(ANA, case.id, AuditAction.ASSIGN)
        teach_texas(reference)
        summary = store.replay(ANA, [case.id])
        assert (summary.sent, summary.still_unmapped, summary.refused) == ([case.id], {}, {})
        assert case_of(store, case.id).status is CaseStatus.REPLAY_PENDING

        normalize(kafka_bootstrap, topics, reference)
        until(
            lambda: case_of(store, case.id).status is CaseStatus.RESOLVED,
            "the replayed case resolved",
        )
        resolved = case_of(store, case.id)
        assert resolved.resolution is Resolution.REPLAYED
        assert resolved.last_outcome is ReplayOutcome.BECAME_CANONICAL

    trail = audit_trail(kafka_bootstrap, topics, case.id)
    assert [(e.action, e.actor, e.role) for e in trail] == [
        (AuditAction.ASSIGN, "ana", "operator"),
        (AuditAction.REPLAY, "ana", "operator"),
        (AuditAction.OUTCOME, "workbench", "system"),
    ]
    replay, outcome = trail[1], trail[2]
    assert replay.actor_groups == ["finance-ops"]
    assert replay.replayed_to is not None
    assert (replay.replayed_to.topic, replay.replayed_to.offset) == (topics.web_orders, 1)
    assert outcome.replayed_to == replay.replayed_to
    assert outcome.outcome is ReplayOutcome.BECAME_CANONICAL
    assert outcome.audit_id == f"outcome:{case.id}:{topics.web_orders}:0:1"


def test_an_outcome_that_came_while_the_store_was_down_is_seen_after_its_restart(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topics = fresh_topics(new_topic)
    produce(kafka_bootstrap, topics.web_orders, [texas_order(1001), texas_order(1002)])
    normalize(kafka_bootstrap, topics)
    reference = reference_without_texas(tmp_path)
    teach_texas(reference)
    with running(kafka_bootstrap, topics, reference, cases=2) as store:
        replayed = sorted(case.id for case in cases(store))
        assert sorted(store.replay(ANA, replayed).sent) == replayed

    normalize(kafka_bootstrap, topics, reference)

    with running(kafka_bootstrap, topics, reference, cases=2) as restarted:
        until(
            lambda: all(case.status is CaseStatus.RESOLVED for case in cases(restarted)),
            "both cases resolved after the restart",
        )
        assert {case.resolution for case in cases(restarted)} == {Resolution.REPLAYED}


def test_a_replay_that_would_fail_is_not_sent_and_one_that_fails_goes_back(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topics = fresh_topics(new_topic)
    produce(kafka_bootstrap, topics.web_orders, [texas_order(1001)])
    normalize(kafka_bootstrap, topics)
    reference = reference_without_texas(tmp_path)

    with running(kafka_bootstrap, topics, reference, cases=1) as store:
        [case] = cases(store)
        store.act(ANA, case.id, AuditAction.ASSIGN)

        # The reference data does not know the code yet: nothing is sent.
        summary = store.replay(ANA, [case.id])
        assert summary.sent == []
        assert "unknown_tax_code" in summary.still_unmapped[case.id]
        assert "US-TX" in summary.still_unmapped[case.id]
        assert records_in(kafka_bootstrap, [topics.web_orders]) == 1
        assert case_of(store, case.id).status is CaseStatus.IN_PROGRESS

        # The workbench's reference knows it, but the flow still runs with the old one.
        teach_texas(reference)
        assert store.replay(ANA, [case.id]).sent == [case.id]
        normalize(kafka_bootstrap, topics)
        until(lambda: case_of(store, case.id).last_outcome is not None, "the replay's outcome")
        failed = case_of(store, case.id)
        assert failed.last_outcome is ReplayOutcome.FAILED_AGAIN
        assert failed.status is CaseStatus.IN_PROGRESS
        assert failed.assignee == "ana"
        assert failed.last_outcome_detail is not None
        assert "unknown_tax_code" in failed.last_outcome_detail
        assert [attempt.source.offset for attempt in failed.attempts] == [1]
        # The attempt is the case's, not a case of its own.
        assert len(store.book) == 1

    [*_, outcome] = audit_trail(kafka_bootstrap, topics, case.id)
    assert (outcome.action, outcome.actor, outcome.outcome) == (
        AuditAction.OUTCOME,
        "workbench",
        ReplayOutcome.FAILED_AGAIN,
    )
    assert outcome.outcome_detail == failed.last_outcome_detail


def test_system_records_follow_an_orders_story_and_the_books(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topics = fresh_topics(new_topic)
    produce(
        kafka_bootstrap,
        topics.web_orders,
        [(b"820982911946154508", ex.encoded(ex.WEB_ORDER)), (None, ex.encoded(ex.WEB_FULFILLMENT))],
    )
    produce(kafka_bootstrap, topics.settlements, [(None, ex.encoded(ex.SETTLEMENT))])
    normalize(kafka_bootstrap, topics)
    order = "web:820982911946154508"
    records = SystemRecords([kafka_bootstrap], topics)
    records.start()
    try:
        until(records.ready, "the records read")
        assert len(records.order(order).events) == 2
        assert records.order(order).postings == []

        # Finance posts (in transactions) while the records are followed.
        env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "FINANCE_TAIL": "false"}
        run_flow("dataflows.finance", env | topic_env(topics))
        until(lambda: records.order(order).postings, "the invoice")
        until(records.reconciliation, "the hourly summary")
        until(records.settlements, "the settlement")
        [invoice] = records.order(order).postings
        assert invoice.entry_type == "invoice"
        # Placed at 08:15, shipped at 11:40: the shipment's hour is invoiced in full.
        [hour] = [s for s in records.reconciliation() if s.channel == "web" and s.shipped]
        assert hour.window_start.hour == 11
        assert hour.invoiced == hour.shipped
        assert records.gap_orders("web", hour.currency, hour.window_start) == []
        [settlement] = records.settlements()
        assert settlement.sums
        assert records.order_backlog(datetime.now(UTC)).total() == 0
    finally:
        records.stop()
    assert records.failure is None
    assert records.undecodable == 0
