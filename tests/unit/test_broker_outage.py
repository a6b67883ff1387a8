"""A sink waits out an unreachable broker, says so, and gives up only after the bound."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from prometheus_client import REGISTRY

from omnichannel.broker_outage import (
    FIRST_WAIT_S,
    OUTAGE_SETTING,
    deliver_all,
    outage_timeout_from_env,
)
from omnichannel.kafka_io import CheckedKafkaSink, OutboundRecord
from omnichannel.settings import SettingError

HOUR = timedelta(hours=1)


class Clock:
    """Seconds that pass only when a flush waits."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class AwayBroker:
    """A producer holding `records` until the broker is back at `back_after` seconds: each
    flush meanwhile waits its whole timeout, as librdkafka's does."""

    def __init__(self, clock: Clock, records: int, back_after: float) -> None:
        self.clock = clock
        self.records = records
        self.back_at = clock.now + back_after
        self.timeouts: list[float] = []
        self.waiting_seen: list[float] = []

    def flush(self, timeout: float) -> int:
        self.timeouts.append(timeout)
        self.waiting_seen.append(sample("omni_broker_unreachable_seconds"))
        if self.clock.now + timeout >= self.back_at:
            self.clock.now = max(self.clock.now, self.back_at)
            self.records = 0
            return 0
        self.clock.now += timeout
        return self.records


def sample(name: str, flow: str = "test_outage", step: str = "produce") -> float:
    return REGISTRY.get_sample_value(name, {"flow": flow, "step": step}) or 0.0


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "omnichannel.broker_outage"]


def test_a_broker_that_answers_costs_one_flush_and_no_word(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    producer = AwayBroker(clock, records=40, back_after=0.01)
    outages = sample("omni_broker_outages_total")
    deliver_all(producer, "test_outage.produce", "test_outage", HOUR, clock=clock)
    assert producer.timeouts == [FIRST_WAIT_S]
    assert lines(caplog) == []
    assert sample("omni_broker_outages_total") == outages


def test_an_outage_is_waited_out_with_one_line_then_one_every_30_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    producer = AwayBroker(clock, records=1_200, back_after=100)
    outages = sample("omni_broker_outages_total")

    deliver_all(producer, "test_outage.produce", "test_outage", HOUR, clock=clock)

    said = lines(caplog)
    assert said[0] == (
        "test_outage.produce: the broker is unreachable: 1200 records waiting for delivery; "
        f"waiting up to 3600s ({OUTAGE_SETTING})"
    )
    # Said at 5 s, then every 30 s until the broker takes the records at 100 s.
    assert [line.split(": ")[1] for line in said[1:-1]] == [
        "the broker is still unreachable after 35s",
        "the broker is still unreachable after 65s",
        "the broker is still unreachable after 95s",
    ]
    assert said[-1] == (
        "test_outage.produce: the broker is reachable again: records delivered after 100s"
    )
    assert sample("omni_broker_outages_total") == outages + 1
    # The gauge shows the wait while it lasts (the flow label keeps the step's name short).
    assert producer.waiting_seen[0] == 0
    assert producer.waiting_seen[1:] == [5.0 * n for n in range(1, len(producer.waiting_seen))]
    assert sample("omni_broker_unreachable_seconds") == 0


def test_past_the_bound_it_raises_naming_the_setting_and_never_waits_longer() -> None:
    clock = Clock()
    producer = AwayBroker(clock, records=7, back_after=float("inf"))
    bound = timedelta(seconds=22)
    started = clock.now

    with pytest.raises(RuntimeError, match=rf"7 records not delivered within {OUTAGE_SETTING}=22s"):
        deliver_all(producer, "test_outage.produce", "test_outage", bound, clock=clock)

    assert clock.now - started == 22
    assert max(producer.timeouts) <= FIRST_WAIT_S
    assert sample("omni_broker_unreachable_seconds") == 0


def test_the_bound_is_an_hour_by_default_and_refuses_a_routine_restart_s_length() -> None:
    assert outage_timeout_from_env({}) == HOUR
    assert outage_timeout_from_env({OUTAGE_SETTING: "7200"}) == timedelta(hours=2)
    for bad in ["600", "0", "-1", "an hour", "99999999"]:
        with pytest.raises(SettingError, match=OUTAGE_SETTING):
            outage_timeout_from_env({OUTAGE_SETTING: bad})


def test_the_flows_sink_checks_the_setting_when_the_flow_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(OUTAGE_SETTING, "60")
    with pytest.raises(SettingError, match=OUTAGE_SETTING):
        CheckedKafkaSink(["127.0.0.1:9"])


class _SlowlyBack:
    """A producer whose broker takes three flushes to come back, then delivers everything."""

    def __init__(self) -> None:
        self.waiting: list[Any] = []
        self.flushes = 0

    def produce(self, topic: str, on_delivery: Any, **_: Any) -> None:
        self.waiting.append((topic, on_delivery))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.flushes += 1
        if self.flushes < 3:
            return len(self.waiting)
        for topic, on_delivery in self.waiting:
            on_delivery(None, mock.Mock(topic=lambda topic=topic: topic))
        self.waiting = []
        return 0


def test_the_flows_sink_waits_for_the_broker_instead_of_failing_the_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = _SlowlyBack()
    with mock.patch("omnichannel.kafka_io.Producer", return_value=producer):
        part = CheckedKafkaSink(["127.0.0.1:9"]).build("test_outage_sink.produce", 0, 1)
    part.write_batch([OutboundRecord("canonical.orders", None, b"")] * 4)
    assert producer.flushes == 3
    assert (
        REGISTRY.get_sample_value(
            "omni_events_out_total", {"flow": "test_outage_sink", "topic": "canonical.orders"}
        )
        == 4
    )
    assert any("the broker is unreachable: 4 records" in line for line in lines(caplog))


def test_a_producer_made_unusable_is_not_waited_for() -> None:
    """Fenced by a successor, a transactional producer's records are never delivered, though
    the broker is there: the wait stops at the fatal error, instead of lasting the bound."""
    clock = Clock()
    producer = AwayBroker(clock, records=1, back_after=10 * 3600)
    fenced = RuntimeError("fenced by a newer instance")
    errors: list[BaseException] = []

    def fatal() -> BaseException | None:
        return errors[0] if errors else None

    started = clock.now
    producer_flush = producer.flush

    def flush(timeout: float) -> int:
        remaining = producer_flush(timeout)
        if clock.now - started > 60:
            errors.append(fenced)  # the producer's error_cb hears it a minute in
        return remaining

    producer.flush = flush  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="fenced by a newer instance"):
        deliver_all(producer, "test_outage.produce", "test_outage", HOUR, clock=clock, fatal=fatal)
    assert clock.now - started < 120
