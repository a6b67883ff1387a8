"""Mirror one Kafka topic into another, record for record: the smallest flow on the real broker.

A platform team runs it first in a new environment to prove the path to Kafka (network,
credentials, topics, murmur2 partitioning) before the business flows go live:

    MIRROR_SOURCE_TOPIC=orders.web MIRROR_SINK_TOPIC=orders.web.mirror \\
        python -m bytewax.run dataflows.mirror:flow

Settings: `KAFKA_BOOTSTRAP_SERVERS`, `MIRROR_SOURCE_TOPIC`, `MIRROR_SINK_TOPIC`, and
`MIRROR_TAIL` (default true; false stops at the end of the source topic).
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow

from omnichannel.kafka_io import log_consumer_error
from omnichannel.kafka_settings import (
    kafka_brokers_from_env,
    producer_overrides,
    source_config,
)
from omnichannel.kafka_source import consume
from omnichannel.settings import env_bool, env_str


def build(brokers: list[str], source_topic: str, sink_topic: str, tail: bool) -> Dataflow:
    """The mirror flow from `source_topic` to `sink_topic` on `brokers`."""
    flow = Dataflow("mirror")
    # Consume every partition of the source, from the beginning; stop rather than skip records.
    consumed = consume(
        "consume",
        flow,
        brokers=brokers,
        topics=[source_topic],
        tail=tail,
        add_config=source_config(brokers),
    )
    # The consumer errors left are the broker's: logged where an operator sees them.
    op.inspect("log_consumer_errors", consumed.errs, log_consumer_error)
    # Re-produce key, value and headers; murmur2 keeps each key on its partition number.
    kop.output(
        "produce",
        consumed.oks,
        brokers=brokers,
        topic=sink_topic,
        add_config=producer_overrides(brokers),
    )
    return flow


def build_from_env() -> Dataflow:
    """The mirror flow configured from the environment; fails fast naming a bad setting."""
    return build(
        brokers=kafka_brokers_from_env(),
        source_topic=env_str("MIRROR_SOURCE_TOPIC"),
        sink_topic=env_str("MIRROR_SINK_TOPIC"),
        tail=env_bool("MIRROR_TAIL", default=True),
    )


def __getattr__(name: str) -> Dataflow:
    # `python -m bytewax.run dataflows.mirror:flow` builds the flow on first access, so that
    # importing this module (tests, tooling) needs no environment.
    if name == "flow":
        return build_from_env()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
