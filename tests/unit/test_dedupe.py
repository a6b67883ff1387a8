"""The duplicate memory of one order: verdicts, horizon in event time, bounded size."""

from __future__ import annotations

from datetime import timedelta

from operators.finance.dedupe import EventMemory, Verdict, content_hash, content_hash_v1
from tests.unit.availability_events import marketplace, web_order


def test_verdicts() -> None:
    memory = EventMemory()
    assert memory.classify(marketplace("Unshipped", 5)) is Verdict.NEW
    assert memory.classify(marketplace("Unshipped", 5)) is Verdict.DUPLICATE_EVENT
    assert memory.classify(marketplace("Unshipped", 9)) is Verdict.DUPLICATE_ORDER
    assert memory.classify(marketplace("Shipped", 9)) is Verdict.NEW


def test_event_ids_older_than_the_horizon_are_forgotten() -> None:
    memory = EventMemory()
    memory.classify(web_order(minute=0), horizon=timedelta(hours=1))
    memory.classify(web_order("orders/cancelled", minute=120), horizon=timedelta(hours=1))
    assert list(memory.seen) == [web_order("orders/cancelled", minute=120).event_id]
    # Forgotten as an event, still known as a step: a re-delivery now is a duplicate order.
    assert memory.classify(web_order(minute=0)) is Verdict.DUPLICATE_ORDER


def test_memory_is_bounded_per_order() -> None:
    memory = EventMemory()
    for minute in range(10):
        memory.classify(marketplace("Unshipped", minute), max_events=4)
    assert len(memory.seen) == 4


def test_the_digest_sees_content_and_not_delivery() -> None:
    event = marketplace("Unshipped", 5)
    source = event.source.model_copy(update={"offset": 7})
    later = marketplace("Unshipped", 9).event_time
    redelivered = event.model_copy(
        update={"event_id": "other", "event_time": later, "channel_status": "Pending",
                "source": source}
    )  # fmt: skip
    assert content_hash(redelivered) == content_hash(event)
    line = event.lines[0].model_copy(update={"quantity": event.lines[0].quantity + 1})
    assert content_hash(event.model_copy(update={"lines": [line]})) != content_hash(event)
    assert content_hash(event.model_copy(update={"location": "DC-WEST"})) != content_hash(event)


def test_a_step_remembered_under_the_first_digest_is_compared_by_it() -> None:
    # A snapshot written before the v2 digest holds the first version's digests.
    first = marketplace("Unshipped", 5)
    memory = EventMemory(
        steps={(first.event_type.value, first.document_id): content_hash_v1(first)}
    )
    assert memory.classify(marketplace("Unshipped", 9)) is Verdict.DUPLICATE_ORDER
    changed = marketplace("Unshipped", 11)
    changed = changed.model_copy(update={"location": "DC-WEST"})
    assert memory.classify(changed) is Verdict.CONFLICTING_RESUBMISSION
