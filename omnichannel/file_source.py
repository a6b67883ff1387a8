"""Replay input topics from JSON Lines files: the file edge's source, in place of Kafka.

One file per topic, `<topic>.jsonl`, one message a line, in offset order:
`{"key": "...", "value": {...}, "timestamp": <epoch ms>}`. A payload that is not JSON is carried
as `"value_b64": "<base64 of the raw bytes>"` instead of `"value"`. Each line becomes the
`RawRecord` a single-partition topic would have given: partition 0, offset = line number.

The value's bytes are the payload as a channel sends it: compact JSON (no spaces) in UTF-8.
Numbers are copied as written, never through a float: `29.99` stays `29.99`. A line that is not
a valid envelope does not stop the replay: its whole text becomes the value, so that the
normalizer refuses it into the exception topic and every line is accounted for.
"""

from __future__ import annotations

import base64
import heapq
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from operators.adapters.raw import RawRecord

logger = logging.getLogger(__name__)

LINES_PER_BATCH = 1_000


@dataclass(frozen=True, slots=True)
class _JsonNumber:
    """A number with a fraction or exponent (or NaN, Infinity) kept exactly as written."""

    text: str


class _ExactNumbersNeeded(Exception):
    """The payload holds a `_JsonNumber`, which the fast standard encoder cannot write."""


def _refuse_exact_number(node: object) -> NoReturn:
    raise _ExactNumbersNeeded


_DECODER = json.JSONDecoder(parse_float=_JsonNumber, parse_constant=_JsonNumber)
_COMPACT = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_refuse_exact_number
)


def payload_bytes(value: Any) -> bytes:
    """Return a decoded JSON payload written back compactly, its numbers exactly as read."""
    try:
        return _COMPACT.encode(value).encode()
    except _ExactNumbersNeeded:
        # Channels send money as strings, so fractions are rare: only then the slow path.
        return _exact_json(value).encode()


def _exact_json(node: Any) -> str:
    if isinstance(node, _JsonNumber):
        return node.text
    if isinstance(node, dict):
        members = (f"{_COMPACT.encode(key)}:{_exact_json(item)}" for key, item in node.items())
        return "{" + ",".join(members) + "}"
    if isinstance(node, list):
        return "[" + ",".join(_exact_json(item) for item in node) + "]"
    return _COMPACT.encode(node)


class _NotAnEnvelope(ValueError):
    """A replay line that is not `{"key", "value" or "value_b64", "timestamp"}`."""


def raw_record_from_line(topic: str, offset: int, line: bytes) -> RawRecord:
    """Return the raw record one replay line stands for.

    Args:
        topic: the topic the file replays (its name without `.jsonl`).
        offset: the line's 0-based number, the record's offset.
        line: the line's bytes, with or without its line break.
    """
    text = line.rstrip(b"\r\n")
    try:
        key, value, timestamp_ms = _read_envelope(text)
    except (ValueError, RecursionError) as exc:
        logger.warning("%s.jsonl line %d is not a replay record (%s)", topic, offset + 1, exc)
        return RawRecord(topic=topic, partition=0, offset=offset, key=None, value=text)
    return RawRecord(
        topic=topic, partition=0, offset=offset, key=key, value=value, timestamp_ms=timestamp_ms
    )


def _read_envelope(text: bytes) -> tuple[bytes | None, bytes, int | None]:
    entry = _DECODER.decode(text.decode("utf-8"))
    if not isinstance(entry, dict):
        raise _NotAnEnvelope(f"expected a JSON object, found {type(entry).__name__}")
    if ("value" in entry) == ("value_b64" in entry):
        raise _NotAnEnvelope('expected exactly one of "value" and "value_b64"')
    key, timestamp = entry.get("key"), entry.get("timestamp")
    if key is not None and not isinstance(key, str):
        raise _NotAnEnvelope(f'"key" must be a string, found {key!r}')
    if timestamp is not None and (type(timestamp) is not int):
        raise _NotAnEnvelope(f'"timestamp" must be epoch milliseconds, found {timestamp!r}')
    if "value" in entry:
        value = payload_bytes(entry["value"])
    elif isinstance(entry["value_b64"], str):
        value = base64.b64decode(entry["value_b64"], validate=True)
    else:
        raise _NotAnEnvelope('"value_b64" must be a base64 string')
    return (None if key is None else key.encode()), value, timestamp


class _JsonLinesPartition(StatefulSourcePartition[RawRecord, int]):
    """One topic file, read a batch of lines at a time; the state is the next line number."""

    def __init__(self, topic: str, path: Path, next_line: int, batch_size: int) -> None:
        self._topic = topic
        self._batch_size = batch_size
        self._file: BinaryIO = path.open("rb")
        skipped = sum(1 for _ in islice(self._file, next_line))
        if skipped < next_line:
            self._file.close()
            raise ValueError(
                f"cannot resume {path} at line {next_line + 1}: it has only {skipped} lines; "
                "the file changed since the snapshot"
            )
        self._next_line = next_line

    def next_batch(self) -> list[RawRecord]:
        lines = list(islice(self._file, self._batch_size))
        if not lines:
            self._file.close()
            raise StopIteration
        first = self._next_line
        self._next_line += len(lines)
        return [
            raw_record_from_line(self._topic, first + number, line)
            for number, line in enumerate(lines)
        ]

    def snapshot(self) -> int:
        return self._next_line

    def close(self) -> None:
        self._file.close()


class JsonLinesSource(FixedPartitionedSource[RawRecord, int]):
    """Replays input topics from `<topic>.jsonl` files, one partition per file.

    For running the flows without Kafka (`make demo`), and for tests. A topic without a file
    is an empty topic. Each file is read by one worker; resuming continues at the line after
    the last one snapshotted, so a replay can be exactly-once.

    Args:
        folder: where the `<topic>.jsonl` files are.
        topics: the topics to replay; each is one file and one partition.
        batch_size: lines read per batch.

    Raises:
        FileNotFoundError: the folder does not exist, or holds none of the topics' files.
    """

    def __init__(
        self, folder: Path, topics: Iterable[str], batch_size: int = LINES_PER_BATCH
    ) -> None:
        self._folder = Path(folder)
        self._topics = list(dict.fromkeys(topics))
        self._batch_size = batch_size
        if not self._folder.is_dir():
            raise FileNotFoundError(
                f"replay folder {self._folder} does not exist or is not a folder"
            )
        if not self.list_parts():
            wanted = ", ".join(f"{topic}.jsonl" for topic in self._topics)
            raise FileNotFoundError(f"replay folder {self._folder} holds none of: {wanted}")

    def path(self, topic: str) -> Path:
        """Return the file a topic is replayed from."""
        return self._folder / f"{topic}.jsonl"

    def list_parts(self) -> list[str]:
        return [topic for topic in self._topics if self.path(topic).is_file()]

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _JsonLinesPartition:
        return _JsonLinesPartition(
            for_part, self.path(for_part), resume_state or 0, self._batch_size
        )


class _MergedPartition(StatefulSourcePartition[RawRecord, dict[str, int]]):
    """All topic files as one stream, interleaved by record timestamp, each file in its order."""

    def __init__(self, paths: dict[str, Path], next_lines: dict[str, int], batch_size: int) -> None:
        self._batch_size = batch_size
        self._next_lines = {topic: next_lines.get(topic, 0) for topic in paths}
        self._files = [path.open("rb") for path in paths.values()]
        self._merged = heapq.merge(
            *(
                self._timed(rank, topic, file)
                for rank, (topic, file) in enumerate(zip(paths, self._files, strict=True))
            )
        )

    def _timed(
        self, rank: int, topic: str, file: BinaryIO
    ) -> Iterator[tuple[int, int, int, RawRecord]]:
        first = self._next_lines[topic]
        skipped = sum(1 for _ in islice(file, first))
        if skipped < first:
            raise ValueError(f"cannot resume {topic}.jsonl at line {first + 1}: it changed")
        timestamp = 0
        for offset, line in enumerate(file, start=first):
            record = raw_record_from_line(topic, offset, line)
            # A line without a timestamp keeps its place after the line before it.
            timestamp = record.timestamp_ms if record.timestamp_ms is not None else timestamp
            yield timestamp, rank, offset, record

    def next_batch(self) -> list[RawRecord]:
        batch = [record for _, _, _, record in islice(self._merged, self._batch_size)]
        if not batch:
            raise StopIteration
        for record in batch:
            self._next_lines[record.topic] = record.offset + 1
        return batch

    def snapshot(self) -> dict[str, int]:
        return dict(self._next_lines)

    def close(self) -> None:
        for file in self._files:
            file.close()


class TimeOrderedJsonLinesSource(FixedPartitionedSource[RawRecord, dict[str, int]]):
    """Replays all topic files as one partition, in the order their records were produced.

    A live system sees the channels' records interleaved in time; replaying one file after
    another instead would, for example, sell a whole day's orders before the morning's stock
    receipts. This source merges the files by each record's `timestamp` (ties by topic order),
    keeping every file's own line order, as Kafka keeps a partition's.

    Args:
        folder: where the `<topic>.jsonl` files are.
        topics: the topics to replay; a topic without a file is empty.
        batch_size: records per batch.
    """

    PARTITION = "all-topics-by-time"

    def __init__(
        self, folder: Path, topics: Iterable[str], batch_size: int = LINES_PER_BATCH
    ) -> None:
        self._files = JsonLinesSource(folder, topics, batch_size)
        self._batch_size = batch_size

    def list_parts(self) -> list[str]:
        return [self.PARTITION]

    def build_part(
        self, step_id: str, for_part: str, resume_state: dict[str, int] | None
    ) -> _MergedPartition:
        paths = {topic: self._files.path(topic) for topic in self._files.list_parts()}
        return _MergedPartition(paths, resume_state or {}, self._batch_size)
