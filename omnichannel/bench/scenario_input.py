"""The benchmark's input: a generated trading day produced to a run's raw topics."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from omnichannel import localstack
from omnichannel.bench.workspace import Workspace
from omnichannel.reference import ReferenceData, load_reference
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.records import Scenario
from omnichannel.scenario.writers import produce_to_kafka
from omnichannel.settings import Connections
from omnichannel.topics import Topics


@dataclass(frozen=True)
class DaySize:
    """How big a day to generate: events, and SKU-locations (SKUs x trading locations)."""

    events: int
    sku_locations: int
    seed: int = 0

    def settings(self, reference: ReferenceData) -> ScenarioSettings:
        locations = len(reference.locations)
        return ScenarioSettings(
            seed=self.seed, events=self.events, skus=max(1, self.sku_locations // locations)
        )


@dataclass(frozen=True)
class ProducedDay:
    """A day on the broker: where it is, how many records each topic holds."""

    scenario: Scenario
    topics: Topics
    counts: dict[str, int]
    locations: int
    seconds_to_generate: float
    seconds_to_produce: float

    @property
    def events(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> dict[str, Any]:
        settings = self.scenario.settings
        return {
            "events": self.events,
            "skus": settings.skus,
            "locations": self.locations,
            "sku_locations": settings.skus * self.locations,
            "seed": settings.seed,
            "day": str(settings.day),
            "records_per_topic": self.scenario.manifest["counts"],
            "expected_after_normalization": self.scenario.manifest["expected_counts"],
            "faults": self.scenario.manifest["fault_counts"],
            "seconds_to_generate": round(self.seconds_to_generate, 2),
            "seconds_to_produce": round(self.seconds_to_produce, 2),
        }


def connect() -> Connections:
    """The user's Kafka and Redis, or the local stack (started when it is not running)."""
    connections, _ = localstack.up()
    return connections


def produce_day(
    workspace: Workspace, size: DaySize, partitions: int, reference: ReferenceData | None = None
) -> ProducedDay:
    """Generate the day and produce it to fresh raw input topics of the run."""
    reference = reference or load_reference()
    began = time.perf_counter()
    scenario = generate(size.settings(reference), reference)
    generated = time.perf_counter()
    raw = workspace.stage("raw")
    workspace.create(raw.inputs, partitions)
    produce_to_kafka(
        scenario, ",".join(workspace.brokers), dict(zip(Topics().inputs, raw.inputs, strict=True))
    )
    produced = time.perf_counter()
    counts = workspace.end_offsets(raw.inputs)
    expected = scenario.manifest["total_events"]
    if sum(counts.values()) != expected:
        raise RuntimeError(f"the raw topics hold {sum(counts.values())} records, not {expected}")
    return ProducedDay(
        scenario, raw, counts, len(reference.locations), generated - began, produced - generated
    )
