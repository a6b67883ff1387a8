"""The chaos run: a generated day through all three flows on the real broker, killed with -9.

1. Generate a day, write it as replay files (for the references) and produce it to fresh
   topics on the broker.
2. Run the replay of the same files, uninterrupted and without Kafka: the postings it writes
   are the postings expected.
3. Run normalization, availability and finance side by side (`omni run`, recovery on), tailing
   their inputs, and SIGKILL one of them at random moments, starting it again each time from
   its recovery partitions, until the kills are done.
4. Run each flow once more to the end of its input, still from recovery.
5. Read every output topic and the Redis read model back and judge (`verdict`).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import redis
from confluent_kafka.admin import AdminClient, NewTopic

from omnichannel.codec import codec_for
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel
from omnichannel.contracts.exception_record import ExceptionRecord
from omnichannel.contracts.inventory import InventoryMovement
from omnichannel.contracts.journal import JournalEntry
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.settlement import Settlement
from omnichannel.file_sink import read_avro_file
from omnichannel.kafka_admin import KEEP_RECORDS
from omnichannel.reference import load_reference
from omnichannel.replay_run import replay
from omnichannel.scenario.config import ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.records import Scenario
from omnichannel.scenario.writers import produce_to_kafka, write_jsonl
from omnichannel.topics import Topics
from operators.finance.postings import balanced
from operators.normalize import STEP as NORMALIZE_STEP
from state.read_model import read_availability
from tests.chaos.flows import FLOWS, FlowProcess, run_to_end
from tests.chaos.verdict import (
    Accounting,
    AvailabilityKey,
    AvailabilityVerdict,
    PostingsVerdict,
    accounting,
    availability_verdict,
    postings_verdict,
)
from tests.integration.kafka_topics import read_topic, records_in
from tests.oracle.availability import final_availability

INPUTS = ("web_orders", "pos_orders", "marketplace_orders", "settlements", "movements")


@dataclass(frozen=True)
class ChaosSettings:
    events: int = 100_000
    skus: int = 2_000
    kills: int = 10
    seed: int = 1
    # Seconds between kills, drawn uniformly; a killed flow is started again at once.
    pause_s: tuple[float, float] = (2.0, 6.0)
    snapshot_interval_s: int = 2
    input_partitions: int = 2


@dataclass(frozen=True)
class Kill:
    at_s: float
    flow: str
    outputs_so_far: int


@dataclass
class ChaosReport:
    settings: ChaosSettings
    events: int = 0
    kills: list[Kill] = field(default_factory=list)
    postings: PostingsVerdict | None = None
    availability: AvailabilityVerdict | None = None
    accounting: Accounting | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            len(self.kills) >= self.settings.kills
            and self.postings is not None
            and self.postings.ok
            and self.availability is not None
            and self.availability.ok
            and self.accounting is not None
            and self.accounting.ok
        )

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def run_chaos(
    settings: ChaosSettings,
    bootstrap: str,
    redis_url: str,
    workdir: Path,
    say: Callable[[str], None] = print,
) -> ChaosReport:
    """Run the whole chaos scenario in `workdir`; the topics it creates are deleted at the end."""
    began = time.monotonic()
    report = ChaosReport(settings)
    reference = load_reference()
    run = uuid.uuid4().hex[:8]
    topics = Topics(
        **{
            name: f"chaos.{run}.{name}"
            for name in Topics.model_fields
            if name != "availability_prefix"
        },
        availability_prefix=f"chaos.{run}.availability.",
    )
    admin = AdminClient({"bootstrap.servers": bootstrap})
    created = _create_topics(admin, topics, settings.input_partitions)
    try:
        scenario = generate(
            ScenarioSettings(seed=settings.seed, events=settings.events, skus=settings.skus),
            reference,
        )
        day = workdir / "day"
        write_jsonl(scenario, day)
        # The day reaches the broker in slices, one per pause between kills, so that every
        # kill finds the flows with work in hand rather than idle at the end of their input.
        slices = _slices(scenario, settings.kills + 1)
        targets = {getattr(Topics(), name): getattr(topics, name) for name in INPUTS}

        def feed() -> None:
            if slices:
                produced = produce_to_kafka(slices.pop(0), bootstrap, targets)
                report.events += sum(produced.values())

        feed()
        replay(day, workdir / "uninterrupted", reference)
        expected_keys = {
            entry["idempotency_key"]
            for entry in read_avro_file(workdir / "uninterrupted" / f"{Topics().postings}.avro")
        }
        say(f"uninterrupted replay posts {len(expected_keys):,} journal entries")

        prefix = f"chaos:{run}:"
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "REDIS_URL": redis_url,
            "READ_MODEL_PREFIX": prefix,
            "SNAPSHOT_INTERVAL_S": str(settings.snapshot_interval_s),
            "BACKUP_INTERVAL_S": "0",
            "RECOVERY_PARTITIONS": "2",
            **{f"TOPIC_{name.upper()}": value for name, value in topics.model_dump().items()},
        }
        flows = {
            flow: FlowProcess(
                flow, {**env, "RECOVERY_DIR": str(workdir / "recovery" / flow)}, workdir / "logs"
            )
            for flow in FLOWS
        }
        report.kills = _kill_at_random(flows, settings, bootstrap, topics, feed, say)
        while slices:
            feed()
        say(f"produced {report.events:,} events to {len(targets)} input topics")
        say("chaos over: each flow runs once more to the end of its input")
        run_to_end([flows["normalization"]])
        run_to_end([flows["availability"], flows["finance"]])

        report.postings = _judge_postings(bootstrap, topics, expected_keys)
        report.availability = _judge_availability(bootstrap, topics, redis_url, prefix, day)
        report.accounting = _judge_accounting(bootstrap, topics)
    finally:
        if created and report.ok:
            for future in admin.delete_topics(created, operation_timeout=30).values():
                future.result(timeout=60)
        elif created:
            say(f"topics kept for a post-mortem: chaos.{run}.*")
    report.seconds = time.monotonic() - began
    return report


def _slices(scenario: Scenario, count: int) -> list[Scenario]:
    """The scenario cut into `count` consecutive parts, each topic's records in offset order."""
    parts = []
    for n in range(count):
        records = {
            topic: rows[len(rows) * n // count : len(rows) * (n + 1) // count]
            for topic, rows in scenario.records.items()
        }
        parts.append(replace(scenario, records=records))
    return parts


def _create_topics(admin: AdminClient, topics: Topics, input_partitions: int) -> list[str]:
    inputs = {getattr(topics, name) for name in INPUTS}
    names = [
        value for name, value in topics.model_dump().items() if name != "availability_prefix"
    ] + [topics.availability(channel) for channel in Channel]
    futures = admin.create_topics(
        [
            NewTopic(n, num_partitions=input_partitions if n in inputs else 3, config=KEEP_RECORDS)
            for n in names
        ],
        operation_timeout=30,
    )
    for future in futures.values():
        future.result(timeout=60)
    return names


def _kill_at_random(
    flows: dict[str, FlowProcess],
    settings: ChaosSettings,
    bootstrap: str,
    topics: Topics,
    feed: Callable[[], None],
    say: Callable[[str], None],
) -> list[Kill]:
    randomness = random.Random(settings.seed)
    outputs = [topics.canonical_orders, topics.postings, topics.availability(Channel.WEB)]
    for process in flows.values():
        process.start(tail=True)
    began = time.monotonic()
    kills: list[Kill] = []
    victims: list[str] = []
    try:
        while len(kills) < settings.kills:
            feed()
            time.sleep(randomness.uniform(*settings.pause_s))
            for process in flows.values():
                assert process.running, f"{process.name} died:\n{process.log_tail()}"
            if not victims:  # every flow once per round, in a random order
                victims = randomness.sample(FLOWS, len(FLOWS))
            victim = flows[victims.pop()]
            victim.kill()
            kill = Kill(
                round(time.monotonic() - began, 1), victim.flow, records_in(bootstrap, outputs)
            )
            kills.append(kill)
            say(
                f"kill {len(kills):>2} at {kill.at_s:6.1f}s: {kill.flow:<13} "
                f"(outputs so far {kill.outputs_so_far:,})"
            )
            victim.start(tail=True)
    finally:
        for process in flows.values():
            process.kill()
    return kills


def _judge_postings(bootstrap: str, topics: Topics, expected: set[str]) -> PostingsVerdict:
    codec = codec_for(JournalEntry, None)
    records = read_topic(bootstrap, topics.postings)
    entries = [codec.decode_model(r.value) for r in records]
    unbalanced = sum(1 for entry in entries if not balanced(entry))
    posted = [
        (entry.idempotency_key, f"{record.partition}:{record.offset}")
        for entry, record in zip(entries, records, strict=True)
    ]
    return postings_verdict(expected, posted, unbalanced)


def _judge_availability(
    bootstrap: str, topics: Topics, redis_url: str, prefix: str, day: Path
) -> AvailabilityVerdict:
    codec = codec_for(AvailabilityUpdate, None)
    published: dict[AvailabilityKey, tuple[int, int]] = {}
    for channel in Channel:
        for record in read_topic(bootstrap, topics.availability(channel)):
            update = codec.decode(record.value)
            key = (update["channel"], update["sku"], update["location"])
            if key not in published or update["version"] > published[key][0]:
                published[key] = (update["version"], update["available_to_sell"])
    client = redis.Redis.from_url(redis_url)
    try:
        stored: dict[AvailabilityKey, tuple[int, int] | None] = {}
        for key in published:
            fields = read_availability(client, prefix, *key)
            stored[key] = (
                None if fields is None else (int(fields["version"]), int(fields["available"]))
            )
    finally:
        client.close()
    expected = final_availability(day, load_reference())
    return availability_verdict(published, expected, stored)


def _judge_accounting(bootstrap: str, topics: Topics) -> Accounting:
    inputs = [
        (record.topic, record.partition, record.offset)
        for name in INPUTS
        for record in read_topic(bootstrap, getattr(topics, name))
    ]
    identity = {
        topics.canonical_orders: (codec_for(OrderEvent, None), "event_id"),
        topics.canonical_movements: (codec_for(InventoryMovement, None), "movement_id"),
        topics.canonical_settlements: (codec_for(Settlement, None), "settlement_id"),
    }
    canonical = []
    for topic, (codec, id_field) in identity.items():
        for record in read_topic(bootstrap, topic):
            event = codec.decode(record.value)
            source = event["source"]
            canonical.append(
                (
                    (source["topic"], source["partition"], source["offset"]),
                    f"{topic}/{event[id_field]}",
                )
            )
    input_topics = {getattr(topics, name) for name in INPUTS}
    exception_codec = codec_for(ExceptionRecord, None)
    refused = []
    downstream = set()
    for record in read_topic(bootstrap, topics.exceptions):
        exception = exception_codec.decode(record.value)
        source = exception["source"]
        coordinates = (source["topic"], source["partition"], source["offset"])
        if exception["step"] == NORMALIZE_STEP and source["topic"] in input_topics:
            refused.append(coordinates)
        else:
            downstream.add((exception["step"], coordinates))
    return accounting(inputs, canonical, refused, refused_downstream=len(downstream))


def write_report(report: ChaosReport, path: Path) -> None:
    path.write_text(json.dumps(report.as_json(), indent=2, default=str))
