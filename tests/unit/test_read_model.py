"""The read model's pure parts: key names, batch reduction, field encoding, outage bookkeeping."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
import redis

from omnichannel.contracts.availability import AvailabilityUpdate
from omnichannel.contracts.common import Channel
from state.read_model import (
    ReadModelPartition,
    ReadModelUnavailable,
    ReadModelWriter,
    WriteResult,
    availability_key,
    decode_fields,
    hash_fields,
    newest_per_key,
    update_key,
)
from state.read_model_cli import add_availability_parser, run_availability
from tests.unit.contract_examples import WEB_AVAILABILITY


def web(sku: str = "SKU-1001", version: int = 1, available: int = 10) -> AvailabilityUpdate:
    return WEB_AVAILABILITY.model_copy(
        update={"sku": sku, "version": version, "available_to_sell": available}
    )


def pos(location: str, version: int = 1) -> AvailabilityUpdate:
    return WEB_AVAILABILITY.model_copy(
        update={"channel": Channel.POS, "location": location, "version": version}
    )


def test_key_without_location_is_channel_and_sku() -> None:
    assert availability_key("omni:", "web", "SKU-1001") == "omni:atp:web:SKU-1001"
    assert update_key("omni:", WEB_AVAILABILITY) == "omni:atp:web:SKU-1001"


def test_key_with_location_ends_with_the_location() -> None:
    assert availability_key("omni:", Channel.POS, "SKU-1", "S-014") == "omni:atp:pos:SKU-1:S-014"
    assert update_key("t:1:", pos("S-015")) == "t:1:atp:pos:SKU-1001:S-015"


def test_batch_keeps_the_highest_version_per_key() -> None:
    batch = [web(version=3), web(version=5), web(version=4), web("SKU-2", version=1)]

    newest = newest_per_key(batch, "omni:")

    assert {key: update.version for key, update in newest.items()} == {
        "omni:atp:web:SKU-1001": 5,
        "omni:atp:web:SKU-2": 1,
    }


def test_batch_keeps_the_first_of_equal_versions_as_redis_would() -> None:
    first, second = web(version=2, available=7), web(version=2, available=9)

    assert newest_per_key([first, second], "omni:") == {"omni:atp:web:SKU-1001": first}


def test_batch_keeps_locations_and_channels_apart() -> None:
    batch = [pos("S-014", 9), pos("S-015", 1), web(version=1)]

    assert len(newest_per_key(batch, "omni:")) == 3


def test_fields_are_stored_as_text_with_utc_times_of_fixed_width() -> None:
    update = WEB_AVAILABILITY.model_copy(
        update={"event_time": datetime(2026, 11, 27, 9, 15, 2, tzinfo=timezone(timedelta(hours=1)))}
    )

    assert hash_fields(update) == {
        "available": "103",
        "version": "7",
        "event_time": "2026-11-27T08:15:02.000000+00:00",
        "on_hand": "120",
        "reserved": "2",
        "safety_stock": "10",
        "buffer": "5",
        "allocation_share": "1",
        "published_at": "2026-11-27T08:15:02.418337+00:00",
    }


def test_stored_fields_decode_to_integers_and_text() -> None:
    stored = {
        name.encode(): value.encode() for name, value in hash_fields(WEB_AVAILABILITY).items()
    }

    decoded = decode_fields(stored)

    assert decoded["available"] == 103
    assert decoded["version"] == 7
    assert decoded["allocation_share"] == "1"
    assert datetime.fromisoformat(str(decoded["event_time"])) == WEB_AVAILABILITY.event_time
    assert decoded["event_time"] == datetime(2026, 11, 27, 8, 15, 2, tzinfo=UTC).isoformat(
        timespec="microseconds"
    )


class FlakyWriter(ReadModelWriter):
    """Stands in for Redis: compare-and-set on a dict, unreachable while `down`."""

    def __init__(self) -> None:
        super().__init__("redis://unused", prefix="omni:")
        self.down = False
        self.stored: dict[str, int] = {}
        self.sent: list[int] = []

    def write(self, updates: Sequence[AvailabilityUpdate]) -> WriteResult:
        self.sent.append(len(updates))
        if self.down:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
        applied = 0
        for key, update in newest_per_key(updates, self.prefix).items():
            if update.version > self.stored.get(key, -1):
                self.stored[key] = update.version
                applied += 1
        return WriteResult(applied=applied, stale=len(updates) - applied)


def test_partition_holds_the_newest_per_key_while_down_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = FlakyWriter()
    partition = ReadModelPartition("read_model", writer, retry_interval_s=0.05)
    partition.write_batch([web(version=1)])
    writer.down = True

    with caplog.at_level(logging.WARNING, logger="state.read_model"):
        partition.write_batch([web(version=2), web("SKU-2", version=2)])
        sent_when_found_down = len(writer.sent)
        for version in range(3, 12):
            partition.write_batch([web(version=version), web("SKU-2", version=version)])
        assert partition.pending == 2
        assert partition.outages == 1
        writer.down = False
        wait_until(lambda: partition.pending == 0)

    # While down, batches are only held: Redis is tried by the retry thread, not per batch.
    assert sent_when_found_down == 2
    assert [record.message for record in caplog.records[:1]] == [
        "read_model: Redis read model unreachable (Error 111 connecting to 127.0.0.1:1. "
        "Connection refused.); holding the newest update of each key and retrying every 0.05s"
    ]
    assert "reachable again" in caplog.records[-1].message
    partition.write_batch([web("SKU-3", version=1)])
    assert writer.stored == {
        "omni:atp:web:SKU-1001": 11,
        "omni:atp:web:SKU-2": 11,
        "omni:atp:web:SKU-3": 1,
    }
    assert partition.pending == 0
    assert (partition.applied, partition.stale) == (4, 18)
    partition.close()


def test_partition_catches_up_without_another_batch() -> None:
    writer = FlakyWriter()
    partition = ReadModelPartition("read_model", writer, retry_interval_s=0.05)
    writer.down = True
    partition.write_batch([web(version=3)])
    time.sleep(0.2)
    assert (partition.pending, partition.down) == (1, True)

    writer.down = False
    wait_until(lambda: partition.pending == 0)

    assert writer.stored == {"omni:atp:web:SKU-1001": 3}
    assert not partition.down
    partition.close()


def wait_until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.01)


def test_partition_counts_every_update_once() -> None:
    writer = FlakyWriter()
    partition = ReadModelPartition("read_model", writer)
    partition.write_batch([web(version=5)])
    partition.write_batch([web(version=4), web(version=5), web(version=6), web(version=6)])

    assert partition.applied + partition.stale == 5
    assert (partition.applied, partition.stale) == (2, 3)


def test_partition_catches_up_on_close() -> None:
    writer = FlakyWriter()
    partition = ReadModelPartition("read_model", writer, retry_interval_s=3600)
    writer.down = True
    partition.write_batch([web(version=3)])
    writer.down = False

    partition.close()

    assert writer.stored == {"omni:atp:web:SKU-1001": 3}
    assert partition.pending == 0


def test_partition_closing_with_updates_held_fails_loudly() -> None:
    writer = FlakyWriter()
    partition = ReadModelPartition("read_model", writer)
    writer.down = True
    partition.write_batch([web(version=3)])

    with pytest.raises(ReadModelUnavailable, match="read_model: Redis unreachable at close; 1 key"):
        partition.close()


def test_writer_setup_sends_nothing_and_builds_the_client_once() -> None:
    writer = ReadModelWriter("redis://127.0.0.1:1/0")

    client, script = writer.setup()

    assert writer.setup() == (client, script)
    writer.close()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="omni")
    add_availability_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_availability_command_reads_its_arguments() -> None:
    args = parse(["availability", "SKU-1", "--channel", "pos", "--location", "S-014"])

    assert (args.sku, args.channel, args.location, args.prefix) == (
        "SKU-1",
        "pos",
        "S-014",
        "omni:",
    )


def test_availability_command_names_the_missing_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)

    assert run_availability(parse(["availability", "SKU-1", "--channel", "web"])) == 1
    assert "REDIS_URL is not set" in capsys.readouterr().err


def test_availability_command_reports_an_unreachable_redis(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 on loopback refuses at once: no server is involved.
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")

    assert run_availability(parse(["availability", "SKU-1", "--channel", "web"])) == 1
    assert "Redis at REDIS_URL unreachable" in capsys.readouterr().err
