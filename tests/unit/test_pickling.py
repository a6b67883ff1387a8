"""Contracts that cross between processes pickle as their Avro bytes, and come back equal."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys

from omnichannel import pickling
from omnichannel.codec import AvroCodec, to_avro_record
from omnichannel.contracts.anomaly import Anomaly
from omnichannel.contracts.order_event import OrderEvent
from omnichannel.contracts.schema_files import released_schemas
from omnichannel.contracts.settlement import Settlement
from tests.unit.contract_examples import (
    MARKETPLACE_OVERSELL,
    MARKETPLACE_SETTLEMENT,
    WEB_ORDER_PLACED,
)


def plain_pickle(instance: object) -> bytes:
    """The pickle without any registered reduction (another test may have registered one)."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {}
    pickler.dump(instance)
    return out.getvalue()


def test_an_exchanged_contract_pickles_as_its_avro_bytes_and_comes_back_equal() -> None:
    plain = plain_pickle(WEB_ORDER_PLACED)
    pickling.exchanged_as_avro(OrderEvent, Settlement)

    for instance in (WEB_ORDER_PLACED, MARKETPLACE_SETTLEMENT):
        data = pickle.dumps(instance, protocol=pickle.HIGHEST_PROTOCOL)
        assert AvroCodec(type(instance)).encode_model(instance) in data
        back = pickle.loads(data)
        assert type(back) is type(instance)
        assert back == instance
        assert back.__pydantic_fields_set__ == instance.__pydantic_fields_set__
        # What the Avro reader gives writes the same bytes again: a second crossing is exact.
        codec = AvroCodec(type(instance))
        assert codec.encode_model(back) == codec.encode_model(instance)
        assert pickle.loads(pickle.dumps(back, protocol=pickle.HIGHEST_PROTOCOL)) == back
    assert len(pickle.dumps(WEB_ORDER_PLACED, protocol=pickle.HIGHEST_PROTOCOL)) < len(plain)
    # A pickle of the plain form (a snapshot of an older version) still loads.
    assert pickle.loads(plain) == WEB_ORDER_PLACED


def test_a_process_that_registered_nothing_loads_the_avro_form() -> None:
    pickling.exchanged_as_avro(OrderEvent)
    data = pickle.dumps(WEB_ORDER_PLACED, protocol=pickle.HIGHEST_PROTOCOL)
    loaded = subprocess.run(
        [sys.executable, "-c",
         "import pickle, sys; print(pickle.loads(sys.stdin.buffer.read()).order_id)"],
        input=data, capture_output=True, check=True,
    )  # fmt: skip
    assert loaded.stdout.decode().strip() == WEB_ORDER_PLACED.order_id


def test_a_pickle_written_under_a_released_earlier_schema_still_loads() -> None:
    # A snapshot keeps pickles: one made before the contract's schema changed resumes, read
    # from the released schema it was written with, as a Kafka record of that schema is.
    (v1, current) = released_schemas("Anomaly")[:2]
    assert v1 != current
    older = AvroCodec(v1).encode(to_avro_record(MARKETPLACE_OVERSELL))
    assert not older.startswith(AvroCodec(Anomaly).header)
    assert pickling.from_avro(Anomaly, older) == MARKETPLACE_OVERSELL
