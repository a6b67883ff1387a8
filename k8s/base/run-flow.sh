#!/bin/sh
# run-flow.sh FLOW WORKERS_PER_PROCESS ADDRESSES: run this pod's process of FLOW's Bytewax cluster,
#   omni run FLOW -w WORKERS_PER_PROCESS -i <this pod's ordinal> -a ADDRESSES
# ADDRESSES has one host:port per process, ';'-separated, in ordinal order.
#
# Recovery partitions. Bytewax 0.21 needs the cluster as a whole to hold each partition once:
# any process may hold any of them, none needs any in particular. Each pod has a volume of its
# own, and `omni run` creates a full set of RECOVERY_PARTITIONS in RECOVERY_DIR when it finds
# none there (and only then). On every pod, that would make a copy of each partition per pod:
# Bytewax writes to one copy and leaves the others empty, and a later start with other workers
# may read an empty one. So, the first time, each pod keeps only its share (partition p lives
# on pod p mod processes) before `omni run`, which then finds it and creates nothing. The share
# is recorded in a layout file; a volume laid out for another number of processes, or holding
# partitions without that record, stops the pod rather than guess (README.md, "Rescaling").
set -eu

flow=$1 workers=$2 addresses=$3
process_id=${POD_NAME##*-}
processes=$(printf '%s\n' "$addresses" | tr ';' '\n' | grep -c .)

fail() {
  echo "run-flow.sh: $*" >&2
  exit 1
}

[ "$process_id" -lt "$processes" ] ||
  fail "$POD_NAME is process $process_id, but ADDRESSES names only $processes"

case "${RECOVERY:-on}" in
  0 | false | no | off) ;;
  *)
    partitions=${RECOVERY_PARTITIONS:-8}
    layout="$RECOVERY_DIR/layout"
    [ "$partitions" -ge "$processes" ] ||
      fail "RECOVERY_PARTITIONS=$partitions leaves some of the $processes processes none"
    if [ ! -f "$layout" ]; then
      for held in "$RECOVERY_DIR"/part-*; do
        [ ! -e "$held" ] || fail "$RECOVERY_DIR holds partitions but no record of their layout"
      done
      staging="$RECOVERY_DIR/.staging"
      rm -rf "$staging"
      mkdir "$staging"
      python -m bytewax.recovery "$staging" "$partitions"
      p=$process_id
      while [ "$p" -lt "$partitions" ]; do
        mv "$staging/part-$p.sqlite3" "$RECOVERY_DIR/"
        p=$((p + processes))
      done
      rm -rf "$staging"
      echo "processes=$processes" >"$layout"
    fi
    [ "$(cat "$layout")" = "processes=$processes" ] ||
      fail "$RECOVERY_DIR was laid out for $(cat "$layout"), now processes=$processes"
    ;;
esac

exec omni run "$flow" -w "$workers" -i "$process_id" -a "$addresses"
