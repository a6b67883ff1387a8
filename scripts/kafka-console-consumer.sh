#!/usr/bin/env bash
# Kafka's own console consumer, from the jars the local stack uses: a standard client to watch
# any topic. Values on the project's output topics are Avro (single-object encoding), so print
# keys and offsets with it, or decode values with `omni watch TOPIC`.
#   scripts/kafka-console-consumer.sh --topic availability.web --from-beginning \
#       --property print.key=true --property print.offset=true
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lib="${OMNI_STACK_DIR:-$root/.stack}/kafka/lib"
[ -d "$lib" ] || { echo "no Kafka jars in $lib: run 'make up' first" >&2; exit 1; }
exec java -cp "$lib/*" -Dlog4j2.configurationFile="$root/stack/kafka/log4j2-tools.xml" \
  org.apache.kafka.tools.consumer.ConsoleConsumer \
  --bootstrap-server "${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:19092}" "$@"
