#!/usr/bin/env bash
# The demo on the local Kafka broker and Redis server (`make demo-live` starts them first):
# the same generated trading day produced to the input topics, then the normalization and the
# availability flows run to the end of their input as `python -m bytewax.run` processes.
# The demo's topics are deleted and created afresh, so that a second run starts clean.
set -euo pipefail
cd "$(dirname "$0")/.."
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:19092}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:16379/0}"
omni=.venv/bin/omni
python=.venv/bin/python

$omni topics create --partitions 3 --recreate
# The workbench's day (scripts/workbench.sh) was on the topics just recreated: it starts afresh.
rm -rf .stack/workbench
$omni generate --kafka "$KAFKA_BOOTSTRAP_SERVERS" --events "${DEMO_EVENTS:-20000}" --seed 20261127
echo "normalization flow..."
NORMALIZE_TAIL=false $python -m bytewax.run dataflows.normalization:flow
echo "availability flow..."
AVAILABILITY_TAIL=false AVAILABILITY_COALESCE_MS=250 $python -m bytewax.run dataflows.availability:flow

sku_key="$(redis-cli -u "$REDIS_URL" --scan --pattern 'omni:atp:web:*' | awk 'NR == 1')"
if [ -n "$sku_key" ]; then
  sku="${sku_key#omni:atp:web:}"
  echo
  echo "The read model for $sku on the web shop:"
  $omni availability "$sku" --channel web
fi
echo
echo "Watch a channel's availability topic, decoded:  .venv/bin/omni watch availability.web"
echo "or with Kafka's console consumer (keys):        scripts/kafka-console-consumer.sh \\"
echo "    --topic availability.web --from-beginning --property print.key=true"
