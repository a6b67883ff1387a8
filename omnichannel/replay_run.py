"""Run the replay flow in this process: files in, Avro files out, no Kafka and no Redis."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from bytewax._bytewax import cli_main
from bytewax.testing import run_main

from dataflows.replay import build, output_topics
from omnichannel import collector
from omnichannel.file_source import LINES_PER_BATCH
from omnichannel.reference import ReferenceData
from omnichannel.topics import Topics


def replay(
    input_dir: Path,
    output_dir: Path,
    reference: ReferenceData,
    workers: int = 1,
    coalesce: timedelta = timedelta(0),
    batch_size: int = LINES_PER_BATCH,
) -> float:
    """Replay the folder's input files, `batch_size` records at a time; return the wall time in
    seconds.

    The output folder's files of an earlier replay are removed first: the Avro sink appends.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    for topic in output_topics(Topics()):
        (output_dir / f"{topic}.avro").unlink(missing_ok=True)
    # Run without recovery: the stateful steps need not copy their state for snapshots.
    flow = build(
        input_dir, output_dir, reference, coalesce=coalesce, batch_size=batch_size, snapshots=False
    )
    with collector.tuned_for_run():
        began = time.perf_counter()
        if workers == 1:
            run_main(flow)  # type: ignore[no-untyped-call]
        else:
            cli_main(  # type: ignore[no-untyped-call]
                flow, workers_per_process=workers, epoch_interval=timedelta(seconds=10)
            )
        return time.perf_counter() - began
