"""Compact pickles for the items that cross between Bytewax workers.

Bytewax pickles every item it exchanges, one at a time, so nothing is shared between them: an
aware datetime pickles with its time zone object (a reduce of its own), and an enum member with
its class, looked up by name again on the other side. Items that cross often reduce to plain
values instead: an instant as microseconds since the epoch, a member as its value.

A whole contract that crosses (an order event keyed by order, on its way to its ledger) is
pickled as its Avro single-object bytes (`exchanged_as_avro`): the compiled writer and reader
take a third of the time of pickling its nested instances, Decimals, datetimes and enum
members one by one, and the pickle is a fifth of the size. What comes out is what the Avro
reader gives: equal to what went in; an amount read back at the contract's four places
(`29.9900`) where it went in with fewer, as every event a flow reads from Kafka already is.
"""

from __future__ import annotations

import copyreg
from datetime import UTC, datetime, timedelta
from typing import Any

from omnichannel.codec import RecordCodec, codec_for
from omnichannel.contracts.common import Contract, _set_fields_set
from omnichannel.contracts.schema_files import released_schemas

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """An aware datetime as whole microseconds since the epoch."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def moment(micros: int) -> datetime:
    """The aware UTC datetime of `micros` since the epoch."""
    return EPOCH + micros * _MICROSECOND


# One codec per contract, for both sides: it writes the current schema and reads the pickles
# of the current or a released one (a snapshot keeps them too), as Kafka records are read; an
# unknown schema is an error that names its fingerprint.
_codecs: dict[type[Contract], RecordCodec[Contract]] = {}


def _codec(model: type[Contract]) -> RecordCodec[Contract]:
    codec = _codecs.get(model)
    if codec is None:
        codec = _codecs[model] = codec_for(
            model, None, previous_schemas=released_schemas(model.__name__)
        )
    return codec


def exchanged_as_avro(*models: type[Contract]) -> None:
    """Pickle the instances of these contracts (of exactly these classes) as their Avro bytes,
    in this process from now on; pickles of the plain form still load."""
    for model in models:
        _codec(model)
        copyreg.pickle(model, _as_avro)


def _as_avro(instance: Contract) -> tuple[Any, ...]:
    model = type(instance)
    data = _codec(model).encode_model(instance)
    fields = instance.__pydantic_fields_set__
    # The fields set explicitly go along unless they are all (as in every instance read).
    return from_avro, (model, data, None if len(fields) == len(model.model_fields) else fields)


def from_avro(model: type[Contract], data: bytes, fields_set: set[str] | None = None) -> Contract:
    """The instance back from its pickle (also in a process that did not register `model`)."""
    instance = _codec(model).decode_model(data)
    if fields_set is not None:
        _set_fields_set(instance, set(fields_set))
    return instance
