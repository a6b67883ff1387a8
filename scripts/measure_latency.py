"""Event-to-output latency on a running broker: now `python -m omnichannel.bench latency`.

This script used to time stock receipts for fresh SKUs to their first web availability update.
The benchmark's latency mode does that for every output topic, under a realistic mixed load
(a generated day at a fixed rate), with and without the coalescing window, and writes its
results to `out/bench/latency.json` (see docs/benchmarks.md). The old options still work:

    .venv/bin/python scripts/measure_latency.py --rate 200 --seconds 20
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omnichannel.bench.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["latency", *sys.argv[1:]]))
