"""Write output topics to Avro container files: the file edge's sink, in place of Kafka.

Each topic goes to `<topic>.avro`, an Avro object container file whose header carries the
contract's schema, so any Avro reader (fastavro, Apache Avro, Spark, DuckDB) reads it back.
The file holds the contract records only: the Kafka key is not stored, because it is a field
of the record (`correlation_id`, `sku`, `settlement_id`, `exception_id`; see `Routed`).

A topic that receives no record gets no file, and a file left in the folder by an earlier run
is not removed: give each run an empty folder. A run writes its files anew; a run resumed from
a snapshot cuts each file back to the records snapshotted and appends after them, so nothing is
written twice.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, cast

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from fastavro import parse_schema, reader
from fastavro.write import Writer

from omnichannel.codec import AvroCodec, schema_fingerprint
from omnichannel.contracts.avro_compiled import write_long
from omnichannel.contracts.avro_schema import avro_schema
from omnichannel.contracts.common import Contract
from operators.routing import Routed

# The block codecs fastavro writes without optional packages.
CODECS = ("deflate", "null")


class AvroFilePosition(NamedTuple):
    """How far a topic's file was written: records in it, and its size in bytes."""

    records: int
    size: int


def read_avro_file(path: Path) -> list[dict[str, Any]]:
    """Return every record of an Avro container file, in the order written."""
    with Path(path).open("rb") as file:
        return [cast(dict[str, Any], record) for record in reader(file)]


class _AvroFilePartition(StatefulSinkPartition[Routed, AvroFilePosition]):
    """One topic's file. It is opened at the first record, which names the contract."""

    def __init__(self, topic: str, path: Path, codec: str, resume: AvroFilePosition | None):
        self._topic = topic
        self._path = path
        self._codec = codec
        self._position = resume or AvroFilePosition(0, 0)
        self._file: BinaryIO | None = None
        self._records: AvroCodec[Contract] | None = None
        self._model: type[Contract] | None = None
        self._sync = b""
        self._block = bytearray()
        if resume is not None:
            self._file = self._cut_back(resume)

    def _cut_back(self, resume: AvroFilePosition) -> BinaryIO:
        # Records written after the snapshot will come again from the resumed input.
        file = self._path.open("r+b")
        size = file.seek(0, 2)
        if size < resume.size:
            file.close()
            raise ValueError(
                f"cannot resume {self._path}: it has {size} bytes, the snapshot says "
                f"{resume.size}; the file was changed or lost data since"
            )
        file.truncate(resume.size)
        return file

    def write_batch(self, values: list[Routed]) -> None:
        for routed in values:
            if routed.topic != self._topic:
                raise ValueError(
                    f"the file of {self._topic!r} was given a record for {routed.topic!r}: "
                    "the items must be keyed by their topic"
                )
            model = type(routed.record)
            codec = self._open(model) if self._records is None else self._records
            if model is not self._model:
                raise TypeError(
                    f"{self._topic}: expected {self._model.__name__ if self._model else None} "
                    f"records, found {model.__name__}; a topic's file holds one contract"
                )
            codec.append_body(routed.record, self._block)
        if values and self._file is not None:
            # A block per batch: a reader sees every batch as soon as it is written.
            self._file.write(self._framed(len(values)))
            self._file.flush()
            self._block.clear()
            self._position = AvroFilePosition(
                self._position.records + len(values), self._file.tell()
            )

    def _framed(self, count: int) -> bytes:
        # An Avro container block: record count, size, the records' bodies (deflated: raw
        # RFC 1951), and the file's sync marker. Deflated at zlib's fastest level: on the demo
        # day's blocks a third of the default level's time, for files about 12% larger.
        data = bytes(self._block)
        if self._codec == "deflate":
            deflater = zlib.compressobj(zlib.Z_BEST_SPEED, zlib.DEFLATED, -15)
            data = deflater.compress(data) + deflater.flush()
        return write_long(count) + write_long(len(data)) + data + self._sync

    def _open(self, model: type[Contract]) -> AvroCodec[Contract]:
        schema = avro_schema(model)
        if self._file is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("w+b")
        else:
            self._check_schema(self._file, schema)
        # fastavro writes the header of a new file, or reads a resumed file's back; the blocks
        # are written here, after the last one, from the compiled writer's bodies.
        header = Writer(self._file, parse_schema(schema), codec=self._codec)
        self._sync = cast(bytes, header.sync_marker)  # type: ignore[attr-defined]
        self._file.seek(0, 2)
        self._model = model
        self._records = AvroCodec(model)
        return self._records

    def _check_schema(self, file: BinaryIO, schema: dict[str, Any]) -> None:
        file.seek(0)
        written = json.loads(reader(file).metadata["avro.schema"])
        file.seek(0, 2)
        if schema_fingerprint(written)[1] != schema_fingerprint(schema)[1]:
            raise ValueError(
                f"cannot resume {self._path}: it was written with another schema than the "
                f"current {schema.get('name')}"
            )

    def snapshot(self) -> AvroFilePosition:
        return self._position

    def close(self) -> None:
        self._records = None
        if self._file is not None:
            self._file.close()
            self._file = None


class AvroFilesSink(FixedPartitionedSink[Routed, AvroFilePosition]):
    """Writes each topic's records to `<folder>/<topic>.avro`, an Avro container file.

    The file edge's output for running the flows without Kafka (`make demo`) and for reports.
    Items are `(topic, Routed)`: one partition per topic, so one worker writes each file even
    when there are several. Each batch is flushed as a block; the resume state is the records
    and bytes written, which makes a resumed run exactly-once.

    Args:
        folder: where the `.avro` files are written (created if missing).
        topics: every topic the flow writes; an item for any other topic is an error.
        codec: the container's block codec, "deflate" or "null".
    """

    def __init__(self, folder: Path, topics: list[str], codec: str = "deflate") -> None:
        self._folder = Path(folder)
        self._topics = sorted(set(topics))
        self._codec = codec
        if not self._topics:
            raise ValueError("AvroFilesSink needs at least one topic")
        if codec not in CODECS:
            raise ValueError(f"Avro codec must be one of {', '.join(CODECS)}, not {codec!r}")

    def path(self, topic: str) -> Path:
        """Return the file a topic is written to."""
        return self._folder / f"{topic}.avro"

    def list_parts(self) -> list[str]:
        return self._topics

    def part_fn(self, item_key: str) -> int:
        # Bytewax indexes the sorted set of every partition's name with this number.
        try:
            return self._topics.index(item_key)
        except ValueError:
            raise ValueError(
                f"no Avro file is configured for topic {item_key!r}; "
                f"the sink writes {', '.join(self._topics)}"
            ) from None

    def build_part(
        self, step_id: str, for_part: str, resume_state: AvroFilePosition | None
    ) -> _AvroFilePartition:
        return _AvroFilePartition(for_part, self.path(for_part), self._codec, resume_state)
