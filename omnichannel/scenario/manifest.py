"""Number the day's drafts into topic offsets and write down what normalization must make of them.

Each input topic is ordered by delivery time, as a single-partition topic would hold it; a
draft's position is its offset. The manifest is the ground truth a test, the demo or a benchmark
checks the flows against: counts per input topic, and per output topic how many canonical events
and exception records normalization must produce, with every injected fault by offset.
"""

from __future__ import annotations

from collections import Counter
from operator import attrgetter
from typing import Any

from omnichannel.contracts.common import Channel
from omnichannel.scenario.clock import TradingDay, iso_utc
from omnichannel.scenario.config import FaultRates, ScenarioSettings
from omnichannel.scenario.day import DayLog
from omnichannel.scenario.records import (
    CANONICAL,
    CANONICAL_TOPIC,
    EXCEPTIONS,
    INPUT_TOPICS,
    OUTPUT_TOPICS,
    POS_ORDERS,
    Draft,
    InputRecord,
    Scenario,
)

MANIFEST_FORMAT = "omnichannel.scenario.manifest/1"
DELIVERY_ORDER = attrgetter("deliver_ms", "seq")


def publish(settings: ScenarioSettings, log: DayLog) -> Scenario:
    """Put each topic's drafts in delivery order and describe the outcome they must have."""
    topics: dict[str, list[Draft]] = {topic: [] for topic in INPUT_TOPICS}
    for draft in log.outbox.drafts:
        topics[draft.topic].append(draft)
    for drafts in topics.values():
        drafts.sort(key=DELIVERY_ORDER)
        for offset, draft in enumerate(drafts):
            draft.offset = offset
    record = InputRecord._make
    records = {
        topic: [record((d.key, d.value, d.deliver_ms)) for d in drafts]
        for topic, drafts in topics.items()
    }
    faulted = {
        topic: [d for d in drafts if d.fault is not None] for topic, drafts in topics.items()
    }
    not_json = {
        topic: frozenset(d.offset for d in drafts if d.fault == "malformed_json")
        for topic, drafts in faulted.items()
    }
    return Scenario(settings, records, describe(settings, log, topics, faulted), not_json)


def describe(
    settings: ScenarioSettings,
    log: DayLog,
    topics: dict[str, list[Draft]],
    faulted: dict[str, list[Draft]],
) -> dict[str, Any]:
    """The manifest: the day's settings, its counts, and its expected normalization outcome.

    Only faulted records can be expected anywhere but their canonical topic, so the expected
    counts are worked out from the faults and the topic sizes.
    """
    expected: Counter[str] = Counter(dict.fromkeys(OUTPUT_TOPICS, 0))
    reasons: Counter[str] = Counter()
    faults: list[dict[str, Any]] = []
    for topic, drafts in topics.items():
        exceptions = [d for d in faulted[topic] if d.expected != CANONICAL]
        expected[CANONICAL_TOPIC[topic]] += len(drafts) - len(exceptions)
        expected[EXCEPTIONS] += len(exceptions)
        reasons.update(d.expected.removeprefix("exception:") for d in exceptions)
        faults.extend(_fault_entry(d) for d in faulted[topic])
    fault_counts = Counter(dict.fromkeys(FaultRates.model_fields, 0))
    fault_counts.update(entry["fault"] for entry in faults)
    day = TradingDay.of(settings.day)
    return {
        "format": MANIFEST_FORMAT,
        "seed": settings.seed,
        "settings": settings.model_dump(mode="json"),
        "window": {"start": iso_utc(day.start_ms), "end": iso_utc(day.end_ms)},
        "total_events": sum(len(drafts) for drafts in topics.values()),
        "counts": {topic: len(drafts) for topic, drafts in topics.items()},
        "orders": {
            Channel.WEB.value: len(log.web_orders),
            Channel.POS.value: log.lifecycle.get(POS_ORDERS, Counter())["SALE"],
            Channel.MARKETPLACE.value: len(log.marketplace_orders),
        },
        "lifecycle": {
            name: dict(sorted(counts.items())) for name, counts in sorted(log.lifecycle.items())
        },
        "oversold_orders": {channel.value: log.oversells[channel.value] for channel in Channel},
        "expected_counts": dict(expected),
        "expected_exceptions": dict(sorted(reasons.items())),
        "fault_counts": dict(fault_counts),
        "faults": faults,
    }


def _fault_entry(draft: Draft) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "fault": draft.fault,
        "topic": draft.topic,
        "offset": draft.offset,
        "key": draft.key,
        "expected": draft.expected,
    }
    if draft.related is not None:
        entry["original_offset"] = draft.related.offset
    return entry
