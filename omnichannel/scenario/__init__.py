"""Synthetic omnichannel trading days, deterministic for a seed, with faults and ground truth.

`generate(settings, reference)` simulates one trading day (default: Black Friday 2026) in the
input formats of `CHANNELS.md`: web shop webhooks, store POS receipts, marketplace orders and
settlement reports, and the warehouses' stock movements. Stock is simulated along the way, so
sales mostly stay within stock (a few oversells at peak), locations are replenished, and cycle
counts report what is on the shelf. A count happens at the very start of its second, so any
record stamped with the same second happened after it. The same seed and settings give
byte-identical output.

Faults are injected at configurable rates (`FaultRates`; `ScenarioSettings.clean()` has none):
duplicate_webhook, pos_backlog_resend, late_marketplace_status, refund_before_fulfilment,
late_stock_movement (these still normalize; a late stock movement is one the availability flow
reports as `movement_absorbed`, its position's later count having it already), and
unmapped_tax_code, unknown_sku, settlement_unbalanced, malformed_json (these must become
exception records).

Files (`write_jsonl`): one `<topic>.jsonl` per input topic, each line
`{"key": "...", "value": {...}, "timestamp": <epoch ms>}` in offset order. Extension: a value
that is not valid JSON (malformed_json) is written as `"value_b64": "<base64 of the raw bytes>"`
instead of `"value"`. Kafka (`produce_to_kafka`): the same records, keys and timestamps.

`manifest.json` is the ground truth of normalization: every input record becomes exactly one
canonical event (orders -> `canonical.orders`, movements -> `canonical.movements`, settlements
-> `canonical.settlements`) or exactly one exception record (`integration.exceptions`)::

    {
      "format": "omnichannel.scenario.manifest/1",
      "seed": 7,
      "settings": {...ScenarioSettings as JSON...},
      "window": {"start": "2026-11-27T00:00:00Z", "end": "2026-11-28T00:00:00Z"},
      "total_events": 20113,
      "counts": {"orders.web": n, "orders.pos": n, "orders.marketplace": n,
                 "settlements.marketplace": n, "inventory.movements": n},
      "orders": {"web": n, "pos": n, "marketplace": n},
      "lifecycle": {"orders.web": {"orders/create": n, ...}, "orders.pos": {"SALE": n, ...},
                    "inventory.movements": {"COUNT": n, ...}, ...},
      "oversold_orders": {"web": n, "pos": n, "marketplace": n},
      "expected_counts": {"canonical.orders": n, "canonical.movements": n,
                          "canonical.settlements": n, "integration.exceptions": n},
      "expected_exceptions": {"malformed_json": n, "unknown_sku": n, ...},
      "fault_counts": {"duplicate_webhook": n, ...every fault...},
      "faults": [{"fault": "duplicate_webhook", "topic": "orders.web", "offset": 812,
                  "key": "5123...", "expected": "canonical", "original_offset": 640},
                 {"fault": "unknown_sku", "topic": "orders.pos", "offset": 77,
                  "key": "S-014:41290", "expected": "exception:unknown_ean"}, ...]
    }

`orders` counts web orders created, POS sale receipts and marketplace orders. `lifecycle`
counts, per input topic, the records of each kind the day produced before faults. `faults` is
sorted by topic and offset. `original_offset` (replay faults only) is the offset, in the same
topic, of the record the fault is measured against: the first delivery (duplicate_webhook,
pos_backlog_resend), the newer status that arrived first (late_marketplace_status), the
fulfilment the refund overtook (refund_before_fulfilment, where it is the larger offset), the
count of the same SKU and location the movement arrived after (late_stock_movement).
Exception reasons: unknown_tax_code, unknown_sku, unknown_ean (POS), settlement_unbalanced,
malformed_json.
"""

from omnichannel.scenario.config import FaultRates, PeakCurve, ScenarioSettings
from omnichannel.scenario.generator import generate
from omnichannel.scenario.records import INPUT_TOPICS, OUTPUT_TOPICS, InputRecord, Scenario
from omnichannel.scenario.writers import DeliveryError, produce_to_kafka, read_jsonl, write_jsonl

__all__ = [
    "INPUT_TOPICS",
    "OUTPUT_TOPICS",
    "DeliveryError",
    "FaultRates",
    "InputRecord",
    "PeakCurve",
    "Scenario",
    "ScenarioSettings",
    "generate",
    "produce_to_kafka",
    "read_jsonl",
    "write_jsonl",
]
