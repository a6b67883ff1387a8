"""One SKU's stock at every location, and the available-to-sell numbers it gives each channel.

All locations of a SKU live in one state (the flow keys this step by SKU), so that a channel's
number across its locations is computed from one consistent view, without a second exchange
between workers. Positions themselves are per (SKU, location).

A changed number is published at once when it drops to zero or rises from zero (that is when
overselling starts or sales can resume); other changes wait up to the coalescing window, so a
busy SKU sends one update per window instead of one per order.

Each published key carries a version that only grows, also across a crash: it is the publish
time in microseconds (or one more than the last version, if the clock is behind). A flow that
resumes from a snapshot may have published updates after that snapshot before it died, for
keys of the snapshot and for keys it created after it; its successor does not know them, and
replays the same changes, maybe in another order, that may never move its own number. So in
every execution each key publishes at its first change at once, whatever the number and
without coalescing, with a later version that supersedes anything before it, and then goes on
as usual. A process cannot tell a key created fresh by a predecessor that died from one never
seen before, so a first run does the same: one update per key, at most, that would otherwise
have been held back (a 0 where nothing was published yet, most often).

Movements that change nothing are reported, as informational anomalies: a warehouse movement
delivered again (`duplicate_event`), and one that a cycle count already includes
(`movement_absorbed`). A change from an order is not: its reservation still applies, and
whether a count was taken before its shipment arrived is a matter of delivery order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from functools import cached_property
from operator import attrgetter
from typing import Any

from omnichannel.contracts.anomaly import Anomaly, AnomalyType
from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel, checked
from omnichannel.reference import ReferenceData
from operators.availability.policy import available_to_sell, location_surplus
from operators.availability.positions import DEFAULT_COUNT_HORIZON, Position
from operators.availability.settling import DEFAULT_GRACE, DEFAULT_HOLD, SettledStock
from operators.availability.stock_changes import StockChange, StockCount, StockDelta
from operators.watermark import END_OF_TIME

ChannelKey = tuple[Channel, str | None]  # (channel, location for per-location channels)
Published = AvailabilityUpdate | Anomaly
# Per location, rises not shown yet: (on-hand raised, reservations released).
Held = dict[str, tuple[int, int]]
NOTHING_HELD: Held = {}


@dataclass(frozen=True)
class AvailabilitySettings:
    """How the availability numbers are published."""

    reference: ReferenceData
    coalesce: timedelta = timedelta(milliseconds=250)
    count_horizon: timedelta = DEFAULT_COUNT_HORIZON
    # Event time a claim waits behind the watermark before it is judged (`settling`).
    oversell_grace: timedelta = DEFAULT_GRACE
    # Wall time a rise in stock waits at most for the watermark to pass it.
    hold: timedelta = DEFAULT_HOLD

    @cached_property
    def _keys_by_location(self) -> dict[str, list[ChannelKey]]:
        # Worked out once: every change asks it, on the hot path.
        keys: dict[str, list[ChannelKey]] = {}
        for code, location in self.reference.locations.items():
            keys[code] = sorted(
                (channel, code if self.reference.channels[channel].per_location else None)
                for channel in location.channels
            )
        return keys

    @cached_property
    def _locations_by_key(self) -> dict[ChannelKey, list[str]]:
        return {
            key: [key[1]] if key[1] else self.reference.locations_for(key[0])
            for keys in self._keys_by_location.values()
            for key in keys
        }

    def channel_keys(self, location: str) -> list[ChannelKey]:
        """The published numbers that stock at this location feeds."""
        return self._keys_by_location.get(location, [])

    def locations(self, key: ChannelKey) -> list[str]:
        """The locations whose stock a published number spans."""
        return self._locations_by_key[key]


@dataclass(slots=True)
class SkuStock:
    """Positions of one SKU per location, and what was published from them per channel."""

    sku: str = ""
    positions: dict[str, Position] = field(default_factory=dict)
    newest_event_time: datetime | None = None
    # Per channel key: (available-to-sell, version) as last published.
    published: dict[ChannelKey, tuple[int, int]] = field(default_factory=dict)
    pending: set[ChannelKey] = field(default_factory=set)
    pending_until: datetime | None = None
    # Keys published by this execution. For any other key a predecessor may have published a
    # number this one does not know: its first change goes out at once. Emptied on resume.
    confirmed: set[ChannelKey] = field(default_factory=set)
    # Movement ids applied, by event time, kept for the count horizon: a movement delivered
    # twice (an at-least-once producer, a normalization that resumed) moves stock once.
    movements: dict[str, datetime] = field(default_factory=dict)
    # The same changes in event-time order, settled as the watermark passes: oversells.
    settled: SettledStock = field(default_factory=SettledStock)

    def copy(self) -> SkuStock:
        """An independent copy: what a snapshot holds."""
        return SkuStock(
            self.sku, {code: p.copy() for code, p in self.positions.items()},
            self.newest_event_time, dict(self.published), set(self.pending), self.pending_until,
            set(self.confirmed), dict(self.movements), self.settled.copy(),
        )  # fmt: skip

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by value: a slotted dataclass otherwise pickles through a Python
        # __getstate__ that looks its fields up on every call.
        return SkuStock, _SKU_STOCK_FIELDS(self)

    def resumed(self) -> None:
        """This state was restored from a snapshot: what was published after it is unknown."""
        self.confirmed = set()
        if self.positions and self.settled.through is None and not self.settled.unsettled:
            # A snapshot from before oversells were settled: its positions are settled.
            self.settled = SettledStock(
                {code: p.copy() for code, p in self.positions.items()}, self.newest_event_time
            )

    def apply(
        self,
        change: StockChange,
        settings: AvailabilitySettings,
        now: datetime,
        watermark: datetime | None = END_OF_TIME,
    ) -> list[Published]:
        """Apply one stock change; return the updates due now (and the oversell of a claim
        that came after its time was settled).

        `watermark`: the event time up to which every input was read (None: not known yet); a
        rise after it is not shown yet. The default is for input that is all there.
        """
        self.sku = change.sku
        movement_id = change.movement_id
        if movement_id is not None:
            if movement_id in self.movements:
                return [self._unapplied(AnomalyType.DUPLICATE_EVENT, movement_id, change, now)]
            self._remember(movement_id, change.event_time, settings.count_horizon)
        outputs: list[Published] = []
        position = self.positions.setdefault(change.location, Position())
        on_hand, reserved = position.on_hand, position.reserved
        if isinstance(change, StockDelta):
            applied = position.apply(
                change.on_hand, change.reserved, change.event_time, settings.count_horizon
            )
        else:
            applied = position.count(change.counted, change.event_time)
        if not applied and movement_id is not None:
            outputs.append(self._unapplied(AnomalyType.MOVEMENT_ABSORBED, movement_id, change, now))
        if self.newest_event_time is None or change.event_time > self.newest_event_time:
            self.newest_event_time = change.event_time
        outputs.extend(
            self.settled.add(
                change,
                max(0, position.on_hand - on_hand),
                max(0, reserved - position.reserved),
                now,
                self._judge(settings, now),
                settings.count_horizon,
            )
        )
        held = self._held(settings, watermark, now)
        for key in settings.channel_keys(change.location):
            outputs.extend(self._changed(key, settings, now, held))
        return outputs

    def settle(
        self,
        through: datetime | None,
        settings: AvailabilitySettings,
        now: datetime,
        watermark: datetime | None,
    ) -> list[Published]:
        """Judge the claims up to `through` in event-time order, and show the rises the
        watermark has passed (or that were held long enough): the oversells and updates due."""
        outputs: list[Published] = []
        if through is not None:
            outputs.extend(
                self.settled.settle(through, self._judge(settings, now), settings.count_horizon)
            )
        held = self._held(settings, watermark, now)
        keys = {key for code in self.positions for key in settings.channel_keys(code)}
        moved = self.settled.take_moved()
        if moved is not None and keys <= self.confirmed:
            # Stock changed only where a change came, and every change looked at its keys:
            # since then a number can have moved only where a held rise was let go.
            keys = {key for code in moved for key in settings.channel_keys(code)}
        for key in sorted(keys):
            outputs.extend(self._changed(key, settings, now, held))
        return outputs

    def next_release(
        self, settings: AvailabilitySettings, watermark: datetime | None, now: datetime
    ) -> datetime | None:
        """When the next rise held back now is shown, whatever the watermark."""
        return self.settled.next_release(watermark, now, settings.hold)

    def _held(
        self, settings: AvailabilitySettings, watermark: datetime | None, now: datetime
    ) -> Held:
        if not self.settled.unsettled:
            return NOTHING_HELD
        return self.settled.held(watermark, now, settings.hold)

    def _judge(
        self, settings: AvailabilitySettings, now: datetime
    ) -> Callable[[StockChange, dict[str, Position]], list[Anomaly]]:
        def judge(change: StockChange, positions: dict[str, Position]) -> list[Anomaly]:
            if isinstance(change, StockCount):
                return []
            return self._oversell(change, positions, settings, now)

        return judge

    def _remember(self, movement_id: str, event_time: datetime, horizon: timedelta) -> None:
        self.movements[movement_id] = event_time
        newest = self.newest_event_time or event_time
        cutoff = max(newest, event_time) - horizon
        if len(self.movements) > 64 and min(self.movements.values()) < cutoff:
            self.movements = {m: t for m, t in self.movements.items() if t >= cutoff}

    def flush(
        self,
        settings: AvailabilitySettings,
        now: datetime,
        watermark: datetime | None = END_OF_TIME,
    ) -> list[Published]:
        """Publish every pending change (the window has passed, or the input has ended)."""
        due = sorted(self.pending)
        self.pending.clear()
        self.pending_until = None
        held = self._held(settings, watermark, now)
        return [
            update
            for key in due
            if (update := self._publish(key, settings, now, key not in self.confirmed, held))
        ]

    def available(
        self, key: ChannelKey, settings: AvailabilitySettings, held: Held = NOTHING_HELD
    ) -> int:
        """The channel's number from the current figures, less the rises `held` back."""
        policy = settings.reference.channels[key[0]]
        surpluses = []
        for code in settings.locations(key):
            position = self.positions.get(code)
            if position is None:
                continue
            raised, released = held.get(code, (0, 0))
            surpluses.append(
                location_surplus(
                    position.on_hand - raised, position.reserved + released, policy.safety_stock
                )
            )
        return available_to_sell(surpluses, policy)

    def _changed(
        self, key: ChannelKey, settings: AvailabilitySettings, now: datetime, held: Held
    ) -> list[Published]:
        number = self.available(key, settings, held)
        if key not in self.confirmed:
            self.pending.discard(key)
            return [self._update(key, number, settings, now, held)]
        was = self.published.get(key, (0, 0))[0]
        if number == was:
            self.pending.discard(key)
            return []
        if number == 0 or was == 0 or not settings.coalesce:
            self.pending.discard(key)
            return [self._update(key, number, settings, now, held)]
        self.pending.add(key)
        if self.pending_until is None:
            self.pending_until = now + settings.coalesce
        return []

    def _publish(
        self,
        key: ChannelKey,
        settings: AvailabilitySettings,
        now: datetime,
        force: bool,
        held: Held,
    ) -> AvailabilityUpdate | None:
        number = self.available(key, settings, held)
        was, last_version = self.published.get(key, (0, 0))
        if number == was and last_version and not force:
            return None
        return self._update(key, number, settings, now, held)

    def _update(
        self,
        key: ChannelKey,
        number: int,
        settings: AvailabilitySettings,
        now: datetime,
        held: Held,
    ) -> AvailabilityUpdate:
        """Publish `number`, the key's figure from the current positions less `held`."""
        last_version = self.published.get(key, (0, 0))[1]
        version = max(last_version + 1, int(now.timestamp() * 1_000_000))
        self.published[key] = (number, version)
        self.confirmed.add(key)
        channel, location = key
        policy = settings.reference.channels[channel]
        locations = settings.locations(key)
        on_hand = reserved = 0
        for code in locations:
            position = self.positions.get(code)
            if position is not None:
                raised, released = held.get(code, (0, 0))
                on_hand += position.on_hand - raised
                reserved += position.reserved + released
        return checked(AvailabilityUpdate, {
            "channel": channel,
            "sku": self.sku,
            "location": location,
            "available_to_sell": number,
            "version": version,
            "event_time": self.newest_event_time or now,
            "on_hand": on_hand,
            "reserved": reserved,
            "safety_stock": policy.safety_stock * len(locations),
            "buffer": policy.buffer,
            "allocation_share": str(policy.allocation_share),
            "published_at": now,
        })  # fmt: skip

    def _oversell(
        self,
        change: StockDelta,
        positions: dict[str, Position],
        settings: AvailabilitySettings,
        now: datetime,
    ) -> list[Anomaly]:
        """An order that claims more than the location had free at the claim's event time:
        on-hand not yet promised, in the settled `positions` just before the claim.

        Selling into safety stock or beyond the channel's share is allowed to happen (the
        channel may act on an older number); promising goods that are not on the shelf is not.
        """
        position = positions[change.location]
        free = max(0, position.on_hand - max(0, position.reserved))
        if change.claimed <= free or change.channel is None:
            return []
        policy = settings.reference.channels[change.channel]
        key: ChannelKey = (change.channel, change.location if policy.per_location else None)
        offered = available_to_sell(
            (
                location_surplus(p.on_hand, p.reserved, policy.safety_stock)
                for code in settings.locations(key)
                if (p := positions.get(code)) is not None
            ),
            policy,
        )
        shortfall = change.claimed - free
        return [
            checked(Anomaly, {
                "anomaly_id": (
                    f"oversell:{change.channel}:{change.order_id}:{self.sku}:{change.location}"
                ),
                "anomaly_type": AnomalyType.OVERSELL,
                "entity_id": f"{self.sku}@{change.location}",
                "channel": change.channel,
                "event_time": change.event_time,
                "detected_at": now,
                "quantity": shortfall,
                "amount": None,
                "currency": None,
                "message": (
                    f"order {change.order_id} claimed {change.claimed} of {self.sku} at "
                    f"{change.location}, which had {free} free ({change.channel} offered {offered})"
                ),
                "details": {
                    "order_id": change.order_id or "",
                    "sku": self.sku,
                    "location": change.location,
                    "claimed": str(change.claimed),
                    "free": str(free),
                    "on_hand": str(position.on_hand),
                    "reserved": str(position.reserved),
                    "offered": str(offered),
                },
                "correlation_id": f"{change.channel}:{change.order_id}",
            })
        ]  # fmt: skip

    def _unapplied(
        self, kind: AnomalyType, movement_id: str, change: StockChange, now: datetime
    ) -> Anomaly:
        """A warehouse movement that changed nothing: delivered again, or inside a count.

        Informational: stock is right either way, but nothing leaves the flow unreported.
        """
        position = self.positions.get(change.location)
        counted_at = position.counted_at if position is not None else None
        if isinstance(change, StockDelta):
            units, what = change.on_hand, f"{change.on_hand:+d} on hand"
        else:
            units, what = change.counted, f"a count of {change.counted}"
        if kind is AnomalyType.DUPLICATE_EVENT:
            outcome = "delivered again, applied once"
        elif counted_at is not None and change.event_time <= counted_at:
            outcome = f"settled by the count as of {counted_at.isoformat()}, on-hand unchanged"
        else:
            # Only a count gets here: older than the changes kept to rebuild one.
            outcome = "older than the changes the position keeps, ignored"
        return checked(Anomaly, {
            "anomaly_id": f"{kind.value}:movement:{movement_id}",
            "anomaly_type": kind,
            "entity_id": f"{self.sku}@{change.location}",
            "channel": None,
            "event_time": change.event_time,
            "detected_at": now,
            "quantity": units,
            "amount": None,
            "currency": None,
            "message": (
                f"movement {movement_id} ({what} of {self.sku} at {change.location}, "
                f"{change.event_time.isoformat()}): {outcome}"
            ),
            "details": {
                "movement_id": movement_id,
                "sku": self.sku,
                "location": change.location,
                "counted_at": counted_at.isoformat() if counted_at is not None else "",
                "on_hand": str(position.on_hand if position is not None else 0),
            },
            "correlation_id": f"movement:{movement_id}",
        })  # fmt: skip


_SKU_STOCK_FIELDS = attrgetter(*(f.name for f in fields(SkuStock)))
