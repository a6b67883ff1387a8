"""Riding out a broker that went away: a sink waits for its deliveries instead of dying.

A flow's sink produces a batch and waits until the broker has taken every record of it, so
that nothing is acknowledged downstream (a snapshot of the input offsets) before it is on the
broker. While the broker is unreachable (a restart, a rolling upgrade, a network partition)
that wait goes on, for up to `KAFKA_OUTAGE_TIMEOUT_S` (default an hour), saying so in the log
and in `omni_broker_unreachable_seconds`; librdkafka keeps the records queued and in order
(`message.timeout.ms` is infinite, `omnichannel.kafka_settings`) and sends them when the broker
is back. Past the bound the sink raises: the process stops, and its successor resumes from the
last snapshot and produces again what had not been acknowledged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Protocol

from omnichannel import metrics
from omnichannel.settings import SettingError, env_int

logger = logging.getLogger(__name__)

OUTAGE_SETTING = "KAFKA_OUTAGE_TIMEOUT_S"
DEFAULT_OUTAGE_TIMEOUT = timedelta(hours=1)
# A broker restarting after an unclean shutdown recovers its logs before it serves; on a large
# broker that alone takes minutes, and a rolling restart of a cluster longer. A bound near ten
# minutes would stop the flows during routine maintenance, so less than 15 is refused.
MIN_OUTAGE_TIMEOUT = timedelta(minutes=15)
# A broker away for more than a week is not an outage to sit out with records in memory.
MAX_OUTAGE_TIMEOUT = timedelta(days=7)

# A healthy broker takes a batch in milliseconds; a loaded one in well under this.
FIRST_WAIT_S = 5.0
# Each wait is a flush this long at most, so that the metric and the bound are looked at often.
WAIT_SLICE_S = 5.0
# While the broker is away, a line this often says the flow is still waiting, and why.
REPORT_EVERY_S = 30.0


class Deliverer(Protocol):
    """What is asked of a producer: confluent-kafka's `Producer.flush`."""

    def flush(self, timeout: float) -> int: ...


def outage_timeout_from_env(env: Mapping[str, str] | None = None) -> timedelta:
    """`KAFKA_OUTAGE_TIMEOUT_S`: how long a flow waits out an unreachable broker, checked."""
    seconds = env_int(OUTAGE_SETTING, int(DEFAULT_OUTAGE_TIMEOUT.total_seconds()), env)
    low, high = int(MIN_OUTAGE_TIMEOUT.total_seconds()), int(MAX_OUTAGE_TIMEOUT.total_seconds())
    if not low <= seconds <= high:
        raise SettingError(
            f"{OUTAGE_SETTING} must be {low} to {high} (seconds): a broker's restart must be "
            f"waited out, not stop the flows; got {seconds}"
        )
    return timedelta(seconds=seconds)


def deliver_all(
    producer: Deliverer,
    step_id: str,
    flow: str,
    bound: timedelta,
    *,
    clock: Callable[[], float] = time.monotonic,
    fatal: Callable[[], BaseException | None] = lambda: None,
) -> None:
    """Wait until the producer holds no record, riding out an unreachable broker for `bound`.

    For any sink that must know its records are on the broker before it returns: call it after
    producing a batch (and before committing a transaction). Delivery reports are served by
    the flushes, through the callbacks the caller gave `produce`; refused records are the
    caller's to look at afterwards. When records remain after a first short wait, the broker
    is taken to be unreachable: one warning line, then one every 30 seconds, a line when they
    are delivered; `omni_broker_outages_total` counts the outage and
    `omni_broker_unreachable_seconds` shows the wait while it lasts.

    Args:
        producer: the producer to wait for.
        step_id: the sink's step id, as Bytewax gives it (`finance.produce`): said in the log.
        flow: the flow's name; the metrics' `step` label is `step_id` without it.
        bound: how long to wait at most (`outage_timeout_from_env()`, or less where a
            transaction's timeout comes first).
        clock: seconds, monotonic; tests pass their own.
        fatal: the error that made the producer unusable, if one did (its `error_cb` saw
            a fatal error: fenced by a newer transactional producer, say). Its records will
            never be delivered, the broker being reachable or not: waiting stops at once.

    Raises:
        RuntimeError: records still undelivered after `bound`, naming the setting.
        The error `fatal` gives, once it gives one.
    """
    started = clock()
    limit = bound.total_seconds()
    # Both series exist from the first batch on, at 0: an alert need not wait for an outage.
    labels = (flow, step_id.removeprefix(f"{flow}."))
    waiting = metrics.BROKER_UNREACHABLE.labels(*labels)
    outages = metrics.BROKER_OUTAGES.labels(*labels)
    remaining = producer.flush(min(FIRST_WAIT_S, limit))
    if not remaining:
        return
    if (failure := fatal()) is not None:
        raise failure
    outages.inc()
    where = {"flow": flow, "step": step_id}
    logger.warning(
        "%s: the broker is unreachable: %d records waiting for delivery; waiting up to %.0fs "
        "(%s)",
        step_id, remaining, limit, OUTAGE_SETTING, extra=where,
    )  # fmt: skip
    reported = clock()
    try:
        while remaining:
            now = clock()
            elapsed = now - started
            waiting.set(elapsed)
            if elapsed >= limit:
                raise RuntimeError(
                    f"{step_id}: the broker was unreachable for {elapsed:.0f}s: {remaining} "
                    f"records not delivered within {OUTAGE_SETTING}={limit:.0f}s"
                )
            if now - reported >= REPORT_EVERY_S:
                logger.warning(
                    "%s: the broker is still unreachable after %.0fs: %d records waiting for "
                    "delivery; waiting up to %.0fs (%s)",
                    step_id, elapsed, remaining, limit, OUTAGE_SETTING, extra=where,
                )  # fmt: skip
                reported = now
            remaining = producer.flush(min(WAIT_SLICE_S, limit - elapsed))
            if remaining and (failure := fatal()) is not None:
                raise failure
    finally:
        waiting.set(0)
    logger.warning(
        "%s: the broker is reachable again: records delivered after %.0fs",
        step_id, clock() - started, extra=where,
    )  # fmt: skip
