"""The duplicate memory of one order: verdicts, horizon in event time, bounded size."""

from __future__ import annotations

from datetime import timedelta

from operators.finance.dedupe import EventMemory, Verdict
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
