#!/usr/bin/env bash
# The exception workbench on the demo day (`make workbench`): make demo-live's day on the local
# Kafka broker, the three flows tailing it with recovery (a second start resumes where they
# stopped and reads nothing twice) and serving their metrics, and the workbench in front of
# them. The day is produced once; `make demo-live` recreates the topics and so starts it afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:19092}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:16379/0}"
omni=.venv/bin/omni
state=.stack/workbench
mkdir -p "$state/logs"

if [ ! -f "$state/day" ]; then
  $omni topics create --partitions 3 --recreate
  rm -rf "$state/recovery"
  $omni generate --kafka "$KAFKA_BOOTSTRAP_SERVERS" --events "${DEMO_EVENTS:-20000}" --seed 20261127
  # Through every flow to its end first, so that the workbench opens on the whole day; the
  # flows below resume from these runs' snapshots.
  for flow in normalization availability finance; do
    echo "$flow flow over the day..."
    RECOVERY_DIR="$state/recovery/$flow" METRICS_PORT=0 NORMALIZE_TAIL=false \
      AVAILABILITY_TAIL=false FINANCE_TAIL=false $omni run "$flow" >"$state/logs/$flow.day.log" 2>&1
  done
  date -u +%FT%TZ >"$state/day"
fi

flows=()
stop_flows() {
  if ((${#flows[@]})); then
    kill -TERM "${flows[@]}" 2>/dev/null || true
    wait "${flows[@]}" 2>/dev/null || true
  fi
}
trap stop_flows EXIT
port=9101
urls=()
for flow in normalization availability finance; do
  RECOVERY_DIR="$state/recovery/$flow" METRICS_PORT=$port \
    $omni run "$flow" >"$state/logs/$flow.log" 2>&1 &
  flows+=($!)
  urls+=("http://127.0.0.1:$port/metrics")
  port=$((port + 1))
done
echo "flows tailing the demo day, logs in $state/logs/"

export WORKBENCH_METRICS_URLS="${WORKBENCH_METRICS_URLS:-$(IFS=,; echo "${urls[*]}")}"
export WORKBENCH_TOKENS="${WORKBENCH_TOKENS:-ops-demo=anna.ops:operator,view-demo=ben.support:viewer}"
echo "sign in with a token of WORKBENCH_TOKENS: ops-demo (operator anna.ops), view-demo (viewer ben.support)"
$omni workbench
