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
  RECOVERY_DIR="$state/recovery/$flow" METRICS_PORT=$port METRICS_LAG_INTERVAL_S=2 \
    $omni run "$flow" >"$state/logs/$flow.log" 2>&1 &
  flows+=($!)
  urls+=("http://127.0.0.1:$port/metrics")
  port=$((port + 1))
done
echo "flows tailing the demo day, logs in $state/logs/; waiting for them to catch up..."

# Caught up: every flow serves its consumer lag and it is 0 on all three, twice in a row.
caught_up() {
  local url
  for url in "${urls[@]}"; do
    curl -sf "$url" | awk '/^omni_consumer_lag_records\{/ {n++; s += $2} END {exit !(n > 0 && s == 0)}' ||
      return 1
  done
}
deadline=$((SECONDS + 600))
until caught_up && sleep 3 && caught_up; do
  for pid in "${flows[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "a flow stopped: see $state/logs/" >&2; exit 1; }
  done
  if ((SECONDS > deadline)); then
    echo "the flows did not catch up within 600 s: see $state/logs/" >&2
    exit 1
  fi
  sleep 2
done

export WORKBENCH_METRICS_URLS="${WORKBENCH_METRICS_URLS:-$(IFS=,; echo "${urls[*]}")}"
export WORKBENCH_TOKENS="${WORKBENCH_TOKENS:-ops-demo=anna.ops:operator,view-demo=ben.support:viewer}"
echo "sign in with a token of WORKBENCH_TOKENS: ops-demo (operator anna.ops), view-demo (viewer ben.support)"
$omni workbench
