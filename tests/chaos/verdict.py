"""What a chaos run must show at its end: the checks, as pure functions of what was read back.

- **Postings**: every idempotency key an uninterrupted run posts is present once, none is
  missing, none is extra, and every entry balances.
- **Availability**: the newest number of every (channel, SKU, location) on the availability
  topics equals the reference computation, and the Redis read model holds that same update.
- **Accounting**: every input record is accounted for exactly once, as a canonical event (first
  seen, or a duplicate of an event seen before) or as an exception record:
  `inputs = processed + duplicates + exceptions`. Canonical records a crashed normalization
  wrote twice for the same input (at-least-once, absorbed downstream) are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# An input record's place: (topic, partition, offset).
Coordinates = tuple[str, int, int]
# Availability is compared per (channel, SKU, location); a pooled channel has no location.
AvailabilityKey = tuple[str, str, str | None]


@dataclass(frozen=True)
class PostingsVerdict:
    expected: int
    present: int
    lost: int
    extra: int
    doubled: int
    unbalanced: int
    # Where each doubled key was written: "key @ partition:offset (timestamp ms), ..."
    doubled_at: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.lost == self.extra == self.doubled == self.unbalanced == 0


def postings_verdict(
    expected_keys: Iterable[str],
    posted: Iterable[tuple[str, str]],
    unbalanced: int,
) -> PostingsVerdict:
    """Compare the keys on the postings topic with those an uninterrupted run posts.

    `posted` holds (idempotency key, where it was written) for every record on the topic.
    """
    expected = set(expected_keys)
    places: dict[str, list[str]] = {}
    for key, where in posted:
        places.setdefault(key, []).append(where)
    return PostingsVerdict(
        expected=len(expected),
        present=len(places),
        lost=len(expected - places.keys()),
        extra=len(places.keys() - expected),
        doubled=sum(len(at) - 1 for at in places.values()),
        unbalanced=unbalanced,
        doubled_at=tuple(
            f"{key} @ {', '.join(at)}" for key, at in sorted(places.items()) if len(at) > 1
        ),
    )


@dataclass(frozen=True)
class AvailabilityVerdict:
    keys: int
    mismatches: int
    read_model_mismatches: int
    examples: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.mismatches == self.read_model_mismatches == 0


def availability_verdict(
    published: Mapping[AvailabilityKey, tuple[int, int]],
    expected: Mapping[AvailabilityKey, int],
    stored: Mapping[AvailabilityKey, tuple[int, int] | None],
) -> AvailabilityVerdict:
    """Compare the newest published (version, available) per key with the reference and Redis.

    `expected` lists the keys with a positive number (the reference omits zeros); a key
    published at zero or never published must be absent from it. `stored` is what the read
    model holds for each published key, None when it holds nothing.
    """
    keys = published.keys() | expected.keys()
    wrong = sorted(
        (key for key in keys if published.get(key, (0, 0))[1] != expected.get(key, 0)),
        key=str,
    )
    behind = [key for key, newest in published.items() if stored.get(key) != newest]
    examples = tuple(
        f"{key}: published {published.get(key, (0, 0))[1]}, expected {expected.get(key, 0)}"
        for key in wrong[:5]
    )
    return AvailabilityVerdict(len(keys), len(wrong), len(behind), examples)


@dataclass(frozen=True)
class Accounting:
    inputs: int
    processed: int
    duplicates: int
    exceptions: int
    unaccounted: int
    both: int
    redelivered: int
    refused_downstream: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.inputs == self.processed + self.duplicates + self.exceptions
            and self.unaccounted == self.both == 0
        )


def accounting(
    inputs: Iterable[Coordinates],
    canonical: Iterable[tuple[Coordinates, str]],
    exceptions: Iterable[Coordinates],
    refused_downstream: int = 0,
) -> Accounting:
    """Account for every input record once from the canonical and exception topics.

    `canonical` holds (source coordinates, event id) of every canonical record as read, crash
    re-deliveries included; `exceptions` the source coordinates of the records normalization
    refused. `refused_downstream` counts the canonical events a later flow refused (finance's
    exception queue): they were processed here, and are reported beside the identity.
    """
    every_input = set(inputs)
    first_event_at: dict[Coordinates, str] = {}
    written = 0
    for coordinates, event_id in canonical:
        written += 1
        first_event_at.setdefault(coordinates, event_id)
    seen: set[str] = set()
    duplicates = 0
    for coordinates in sorted(first_event_at):
        event_id = first_event_at[coordinates]
        if event_id in seen:
            duplicates += 1
        seen.add(event_id)
    refused = set(exceptions)
    accounted = first_event_at.keys() | refused
    return Accounting(
        inputs=len(every_input),
        processed=len(first_event_at) - duplicates,
        duplicates=duplicates,
        exceptions=len(refused),
        unaccounted=len(every_input - accounted) + len(accounted - every_input),
        both=len(first_event_at.keys() & refused),
        redelivered=written - len(first_event_at),
        refused_downstream=refused_downstream,
    )
