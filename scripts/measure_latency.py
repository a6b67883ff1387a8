"""Event-to-publish latency on a running broker: a stock receipt in, its availability update out.

Starts the normalization and availability flows (tailing) on fresh topic names, produces
RECEIPT movements at a fixed rate, each for a SKU with no stock yet (so its web number rises
from zero and is published at once, whatever the coalescing window), and times each from the
moment it was handed to the producer to the moment its update is read from
`availability.web`. Prints the count, median, p99 and max in milliseconds.

    .venv/bin/python scripts/measure_latency.py --rate 200 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omnichannel.codec import codec_for  # noqa: E402
from omnichannel.contracts.availability import AvailabilityUpdate  # noqa: E402
from omnichannel.contracts.common import Channel  # noqa: E402
from omnichannel.kafka_admin import delete_topics, ensure_topics  # noqa: E402
from omnichannel.kafka_settings import producer_config  # noqa: E402
from omnichannel.topics import Topics  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=200, help="receipts per second")
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    run = f"latency-{uuid.uuid4().hex[:6]}"
    topics = Topics(**{k: f"{run}.{v}" for k, v in Topics().model_dump().items()})
    names = [*topics.inputs, topics.canonical_orders, topics.canonical_movements,
             topics.canonical_settlements, topics.exceptions, topics.anomalies,
             *(topics.availability(c) for c in Channel)]  # fmt: skip
    ensure_topics([bootstrap], names, partitions=3)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    env.update({f"TOPIC_{k.upper()}": v for k, v in topics.model_dump().items()})
    flows = [
        subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", f"dataflows.{name}:flow"],
            env=env,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        for name in ("normalization", "availability")
    ]
    sent: dict[str, float] = {}
    latencies: list[float] = []
    codec = codec_for(AvailabilityUpdate, None)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": run,
                         "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.subscribe([topics.availability(Channel.WEB)])
    total = args.rate * args.seconds
    done = threading.Event()

    def read() -> None:
        while len(latencies) < total and not done.is_set():
            message = consumer.poll(0.05)
            if message is None or message.error():
                continue
            seen = time.perf_counter()
            update = codec.decode_model(message.value() or b"")
            if update.sku in sent and update.version == 1:
                latencies.append((seen - sent[update.sku]) * 1000)

    try:
        # Warm up: the first records wait for the flows to start and join their partitions.
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        producer = Producer(producer_config([bootstrap]) | {"linger.ms": 0})
        warmup = _receipt(producer, topics.movements, 1000, sent)
        deadline = time.monotonic() + 120
        while not latencies and time.monotonic() < deadline:
            time.sleep(0.1)
        latencies.clear()
        sent.pop(warmup)
        began = time.perf_counter()
        for n in range(total):
            delay = began + n / args.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            _receipt(producer, topics.movements, 1001 + n, sent)
            producer.poll(0)
        producer.flush(30)
        deadline = time.monotonic() + 30
        while len(latencies) < total and time.monotonic() < deadline:
            time.sleep(0.1)
        done.set()
        reader.join()
    finally:
        for flow in flows:
            flow.terminate()
            flow.wait()
        consumer.close()
        delete_topics([bootstrap], names)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
    print(json.dumps({
        "receipts": total, "updates_seen": len(ordered), "rate_per_s": args.rate,
        "median_ms": round(statistics.median(ordered), 1) if ordered else None,
        "p99_ms": round(p99, 1), "max_ms": round(ordered[-1], 1) if ordered else None,
    }))  # fmt: skip
    return 0 if len(ordered) == total else 1


def _receipt(producer: Producer, topic: str, n: int, sent: dict[str, float]) -> str:
    sku = f"SKU-{n}"
    value = {"movement_id": f"LAT-{n}", "type": "RECEIPT", "sku": sku, "location": "DC-EAST",
             "quantity": 50, "ts": "2026-11-27T06:00:00Z", "reference": "latency"}  # fmt: skip
    sent[sku] = time.perf_counter()
    producer.produce(topic, key=sku.encode(), value=json.dumps(value).encode())
    return sku


if __name__ == "__main__":
    sys.exit(main())
