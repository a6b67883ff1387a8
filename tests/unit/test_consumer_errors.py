"""Which consumer errors a flow rides out, and which stop it rather than skip records."""

from __future__ import annotations

import pytest
from bytewax.connectors.kafka import KafkaError as SourceError
from bytewax.connectors.kafka import KafkaSourceMessage
from confluent_kafka import KafkaError

from omnichannel.kafka_source import skips_records, stop_rather_than_skip

OUT_OF_RANGE = (
    "fetch failed due to requested offset not available on the broker: "
    "Broker: Offset out of range (broker 1)"
)


def source_error(
    code: int, reason: str = OUT_OF_RANGE, fatal: bool = False, topic: str | None = "orders.web"
) -> SourceError[bytes | None, bytes | None]:
    """An error as Bytewax's source hands it on: librdkafka's, with where it happened."""
    where = KafkaSourceMessage[bytes | None, bytes | None](
        None, None, topic=topic, partition=3, offset=1234
    )
    return SourceError(KafkaError(code, reason, fatal=fatal), where)


@pytest.mark.parametrize(
    "code",
    [
        # What librdkafka says with auto.offset.reset=error (seen on Kafka 4.1).
        KafkaError._AUTO_OFFSET_RESET,
        # The broker's own answer, which some of librdkafka's paths pass on.
        KafkaError.OFFSET_OUT_OF_RANGE,
    ],
)
def test_a_position_the_broker_does_not_hold_stops_the_flow_naming_it(code: int) -> None:
    error = source_error(code)
    assert skips_records(error.err)
    with pytest.raises(RuntimeError) as stopped:
        stop_rather_than_skip("normalization.consume.stop_rather_than_skip", error)
    message = str(stopped.value)
    assert "orders.web[3] offset 1234" in message
    assert "Offset out of range" in message
    assert "stops rather than skip records" in message


@pytest.mark.parametrize(
    "code",
    [
        KafkaError._TRANSPORT,  # the connection to the broker broke
        KafkaError._ALL_BROKERS_DOWN,  # every broker is unreachable
        KafkaError._TIMED_OUT,
        KafkaError._RESOLVE,
        KafkaError.NOT_LEADER_FOR_PARTITION,  # a leader moved in a rolling restart
        KafkaError.UNKNOWN_TOPIC_OR_PART,  # metadata not there yet, or a topic being made
        KafkaError.LEADER_NOT_AVAILABLE,
    ],
)
def test_the_broker_s_own_troubles_are_ridden_out(code: int) -> None:
    error = source_error(code, reason="Local: Broker transport failure", topic=None)
    assert not skips_records(error.err)
    stop_rather_than_skip("normalization.consume.stop_rather_than_skip", error)


def test_a_fatal_error_stops_the_flow_too() -> None:
    error = source_error(KafkaError._FATAL, reason="Fatal error", fatal=True, topic=None)
    assert skips_records(error.err)
    with pytest.raises(RuntimeError, match="the consumer cannot go on"):
        stop_rather_than_skip("mirror.consume.stop_rather_than_skip", error)


def test_records_pass_untouched() -> None:
    record = KafkaSourceMessage[bytes | None, bytes | None](b"k", b"v", topic="t", offset=5)
    stop_rather_than_skip("normalization.consume.stop_rather_than_skip", record)
