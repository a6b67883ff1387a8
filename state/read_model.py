"""The Redis read model of availability: what each channel may sell now, per SKU and location.

The availability flow writes it through `RedisReadModelSink`; channel teams query it. One hash
per key, every value stored as text:

    {prefix}atp:{channel}:{sku}              channels that sell from a pool (web, marketplace)
    {prefix}atp:{channel}:{sku}:{location}   channels that sell per location (pos, per store)

e.g. `omni:atp:web:SKU-1001` and `omni:atp:pos:SKU-1001:S-014` with the default prefix `omni:`.
Channel, SKU and location are used verbatim. The fields:

    available         units the channel may sell now (integer, never negative)
    version           the update's per-key version; greater means newer (integer)
    event_time        event time of the newest input behind it (ISO-8601 UTC, microseconds)
    on_hand           units at the locations the channel sells from (integer)
    reserved          units promised to open orders there (integer)
    safety_stock      units held back in total (integer)
    buffer            units held back from the channel's total (integer)
    allocation_share  share of the remaining stock offered (exact decimal text, e.g. "0.5")
    published_at      when the update was computed (ISO-8601 UTC, microseconds)

A hash only moves forward: an update is written only when its version is greater than the
stored one, compared and set in one Lua script, so replays and re-sends are harmless. Read it
with `HGETALL omni:atp:web:SKU-1001`, with `read_availability`, or with `omni availability`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import cast

import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import NoScriptError
from redis.retry import Retry

from omnichannel.contracts.availability import AvailabilityUpdate
from state.read_model_lua import COMPARE_AND_SET_MANY

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "omni:"
DEFAULT_TIMEOUT_S = 0.5
# How often a partition that found Redis unreachable tries it again.
RETRY_INTERVAL_S = 1.0
INTEGER_FIELDS = frozenset(
    {"available", "version", "on_hand", "reserved", "safety_stock", "buffer"}
)
# A hash as redis-py returns it: bytes, or text when the client decodes responses.
StoredHash = Mapping[bytes, bytes] | Mapping[str, str] | Mapping[bytes | str, bytes | str]
# What redis-py raises when the server cannot be reached; anything else is an answer.
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


def availability_key(prefix: str, channel: str, sku: str, location: str | None = None) -> str:
    """The key of a channel's number for a SKU, and location where the channel sells per one."""
    key = f"{prefix}atp:{channel}:{sku}"
    return key if location is None else f"{key}:{location}"


def update_key(prefix: str, update: AvailabilityUpdate) -> str:
    """The key an update is written to."""
    return availability_key(prefix, update.channel, update.sku, update.location)


def hash_fields(update: AvailabilityUpdate) -> dict[str, str]:
    """An update as the hash fields of the layout above, each value as Redis stores it."""
    return {
        "available": str(update.available_to_sell),
        "version": str(update.version),
        "event_time": iso_utc(update.event_time),
        "on_hand": str(update.on_hand),
        "reserved": str(update.reserved),
        "safety_stock": str(update.safety_stock),
        "buffer": str(update.buffer),
        "allocation_share": update.allocation_share,
        "published_at": iso_utc(update.published_at),
    }


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds, so every stored time has the same width."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def decode_fields(raw: StoredHash) -> dict[str, int | str]:
    """A stored hash as values: the integer fields as int, the others as the stored text."""
    decoded: dict[str, int | str] = {}
    for name, value in raw.items():
        field = name.decode() if isinstance(name, bytes) else name
        text = value.decode() if isinstance(value, bytes) else value
        decoded[field] = int(text) if field in INTEGER_FIELDS else text
    return decoded


def newest_per_key(
    updates: Iterable[AvailabilityUpdate], prefix: str
) -> dict[str, AvailabilityUpdate]:
    """The update of highest version for each key; of equal versions the first, as Redis keeps."""
    newest: dict[str, AvailabilityUpdate] = {}
    for update in updates:
        key = update_key(prefix, update)
        held = newest.get(key)
        if held is None or update.version > held.version:
            newest[key] = update
    return newest


def connect(redis_url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> redis.Redis:
    """A client that gives up fast: short timeouts, one immediate retry (not redis-py's ten).

    The retry replaces a pooled connection the server closed (a restart) without waiting, so an
    unreachable Redis costs a call about two timeouts at most. Nothing is sent until first use.
    """
    return redis.Redis.from_url(
        redis_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
    )


def read_availability(
    client: redis.Redis,
    prefix: str,
    channel: str,
    sku: str,
    location: str | None = None,
) -> dict[str, int | str] | None:
    """What the read model holds for one channel, SKU and location; None when nothing is."""
    raw = client.hgetall(availability_key(prefix, channel, sku, location))
    return decode_fields(raw) if raw else None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """How a batch went: updates written, and updates refused because a newer one was there.

    `stale` counts both the updates Redis refused and those a newer one of the same batch
    superseded, so `applied + stale` is the batch's length.
    """

    applied: int
    stale: int


class ReadModelError(RuntimeError):
    """Redis answered but refused a write (a key of another type, say): not an outage."""


class ReadModelWriter:
    """Writes availability updates to the read model, one pipelined round trip per batch.

    The client is built in `setup()` (or on the first write), not in `__init__`, so a Bytewax
    sink can make one per worker; it gives up fast (see `connect`) when Redis is unreachable.

    Args:
        redis_url: The server, as `redis://host:port/db`.
        prefix: Prepended to every key, e.g. a test's own namespace.
        timeout_s: Socket connect and read timeout, in seconds.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.prefix = prefix
        self._redis_url = redis_url
        self._timeout_s = timeout_s
        self._client: redis.Redis | None = None
        self._script: Script | None = None

    def setup(self) -> tuple[redis.Redis, Script]:
        """Build the client and register the script; nothing is sent until the first write."""
        if self._client is None or self._script is None:
            self._client = connect(self._redis_url, self._timeout_s)
            self._script = self._client.register_script(COMPARE_AND_SET_MANY)
        return self._client, self._script

    def write(self, updates: Sequence[AvailabilityUpdate]) -> WriteResult:
        """Compare-and-set the newest update of each key, in one round trip.

        Raises redis.ConnectionError or redis.TimeoutError when Redis cannot be reached (sending
        the batch again later is safe), and ReadModelError when Redis refuses a write.
        """
        if not updates:
            return WriteResult(applied=0, stale=0)
        newest = newest_per_key(updates, self.prefix)
        replies = self._compare_and_set(newest)
        applied = sum(1 for reply in replies if reply == 1)
        return WriteResult(applied=applied, stale=len(updates) - applied)

    def close(self) -> None:
        """Release the connections; a later write connects again."""
        if self._client is not None:
            self._client.close()
        self._client = self._script = None

    def _compare_and_set(self, batch: dict[str, AvailabilityUpdate]) -> list[object]:
        client, script = self.setup()
        # EVALSHA directly, not `script(client=pipe)`: that asks SCRIPT EXISTS first, a second
        # round trip per batch. The script is loaded only when Redis says it lost it.
        try:
            replies = _send(client, script.sha, batch)
        except NoScriptError:
            script.sha = client.script_load(COMPARE_AND_SET_MANY)
            replies = _send(client, script.sha, batch)
        for key, reply in zip(batch, replies, strict=True):
            if not isinstance(reply, int):
                text = reply.decode() if isinstance(reply, bytes) else str(reply)
                raise ReadModelError(f"Redis refused the availability update of {key}: {text}")
        return replies


# Keys per script run: a batch larger than this is sent as several runs, still one round trip.
KEYS_PER_RUN = 500


def _send(client: redis.Redis, sha: str, batch: dict[str, AvailabilityUpdate]) -> list[object]:
    """Every update of `batch` through the many-key script; one reply per key, in order."""
    keys = list(batch)
    with client.pipeline(transaction=False) as pipe:
        for start in range(0, len(keys), KEYS_PER_RUN):
            run = keys[start : start + KEYS_PER_RUN]
            values: list[str | int] = []
            for key in run:
                update = batch[key]
                values.append(update.version)
                values.extend(chain.from_iterable(hash_fields(update).items()))
            per = len(values) // len(run)
            pipe.evalsha(sha, len(run), *run, per, *values)
        runs: list[object] = pipe.execute(raise_on_error=False)
    replies: list[object] = []
    for result in runs:
        if isinstance(result, Exception):
            raise result
        replies.extend(cast(list[object], result))
    return replies


class ReadModelUnavailable(RuntimeError):
    """The flow closed with updates Redis never took: the read model is behind its topics."""


class ReadModelPartition(StatelessSinkPartition[AvailabilityUpdate]):
    """One worker's part of the sink: writes each batch, holding back what Redis cannot take.

    While Redis is unreachable the newest update of each key waits in memory (one entry per key,
    however long the outage) and the flow goes on at full speed: batches are only merged into
    what is held, and a retry thread tries Redis every `retry_interval_s`, so the read model
    catches up when Redis returns even if no further update arrives. The script makes sending
    again harmless. One warning per outage, not per batch. `applied`, `stale`, `pending` and
    `outages` are counters for metrics.
    """

    def __init__(
        self, step_id: str, writer: ReadModelWriter, retry_interval_s: float = RETRY_INTERVAL_S
    ) -> None:
        self.applied = 0
        self.stale = 0
        self.outages = 0
        self._step_id = step_id
        self._writer = writer
        self._retry_interval_s = retry_interval_s
        self._held: dict[str, AvailabilityUpdate] = {}
        self._down_since: float | None = None
        # The worker thread (write_batch, close) and the retry thread share the held updates.
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._retrier: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Keys whose newest update Redis has not taken yet."""
        return len(self._held)

    @property
    def down(self) -> bool:
        """Whether the last attempt found Redis unreachable."""
        return self._down_since is not None

    def write_batch(self, items: list[AvailabilityUpdate]) -> None:
        """Write the batch together with whatever an outage held back; only hold it while down."""
        with self._lock:
            arrived = len(self._held) + len(items)
            self._held = newest_per_key([*self._held.values(), *items], self._writer.prefix)
            self.stale += arrived - len(self._held)
            if self._down_since is None:
                self._flush()

    def close(self) -> None:
        """Try the held updates a last time; fail loudly if Redis still cannot take them."""
        self._closed.set()
        retrier = self._retrier
        if retrier is not None:
            retrier.join()
        try:
            with self._lock:
                self._flush()
                if self._held:
                    raise ReadModelUnavailable(
                        f"{self._step_id}: Redis unreachable at close; {len(self._held)} keys of "
                        "the read model lag their availability topics until the next update of "
                        "each"
                    )
        finally:
            self._writer.close()

    def _retry_until_caught_up(self) -> None:
        while not self._closed.wait(self._retry_interval_s):
            with self._lock:
                self._flush()
                if self._down_since is None:
                    self._retrier = None
                    return

    def _flush(self) -> None:
        if not self._held:
            return
        try:
            result = self._writer.write(list(self._held.values()))
        except UNREACHABLE as exc:
            self._note_unreachable(exc)
            return
        self.applied += result.applied
        self.stale += result.stale
        if self._down_since is not None:
            logger.warning(
                "%s: Redis read model reachable again after %.1fs; wrote %d held keys",
                self._step_id,
                time.monotonic() - self._down_since,
                len(self._held),
            )
            self._down_since = None
        self._held = {}

    def _note_unreachable(self, exc: Exception) -> None:
        if self._down_since is not None:
            logger.debug("%s: Redis read model still unreachable: %s", self._step_id, exc)
            return
        self._down_since = time.monotonic()
        self.outages += 1
        logger.warning(
            "%s: Redis read model unreachable (%s); holding the newest update of each key "
            "and retrying every %gs",
            self._step_id,
            exc,
            self._retry_interval_s,
        )
        if self._retrier is None and not self._closed.is_set():
            self._retrier = threading.Thread(
                target=self._retry_until_caught_up, name=f"{self._step_id}-retry", daemon=True
            )
            self._retrier.start()


class RedisReadModelSink(DynamicSink[AvailabilityUpdate]):
    """Writes availability updates to the Redis read model from every worker at once.

    Workers need no coordination: the compare-and-set script keeps the newest version per key,
    whichever worker writes it. `partitions` lists the parts built in this process, for metrics.

    Args:
        redis_url: The server, as `redis://host:port/db`.
        prefix: Prepended to every key.
        timeout_s: Socket connect and read timeout, in seconds.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._redis_url = redis_url
        self._prefix = prefix
        self._timeout_s = timeout_s
        self.partitions: list[ReadModelPartition] = []

    def build(self, step_id: str, worker_index: int, worker_count: int) -> ReadModelPartition:
        """A writer of its own for one worker."""
        writer = ReadModelWriter(self._redis_url, prefix=self._prefix, timeout_s=self._timeout_s)
        writer.setup()
        partition = ReadModelPartition(step_id, writer)
        self.partitions.append(partition)
        return partition
