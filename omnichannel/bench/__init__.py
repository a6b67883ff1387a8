"""Benchmarks: throughput against the raw Kafka ceiling, latency under load, scaling.

    python -m omnichannel.bench throughput   # make bench
    python -m omnichannel.bench latency      # make bench-latency
    python -m omnichannel.bench scaling      # make bench-scaling
    python -m omnichannel.bench stages       # per-record cost of each hot-path step, no Kafka
    python -m omnichannel.bench profile FLOW # py-spy profile of one flow on the broker

Every mode runs the real flows as `python -m bytewax.run dataflows.<flow>:flow` processes on
the local broker (or `KAFKA_BOOTSTRAP_SERVERS`), on topics of their own named
`bench.<run>.<stage>.<topic>`, deleted at the end, and writes its results with the machine and
the versions beside them under `out/bench/`. `docs/benchmarks.md` says what each figure means.
"""
