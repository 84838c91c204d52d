#!/usr/bin/env bash
# Restart time after SIGKILL: writes GB gigabytes of 1 KiB records (acks=1, default 1 GiB
# segments) with the load benchmark, or creates PARTITIONS empty partitions, kills the node with
# SIGKILL and times the restart until it accepts connections.
#
#   benches/restart.sh BINARY data GB          # e.g. 10
#   benches/restart.sh BINARY partitions N     # e.g. 10000 (needs the compat-tests venv)
#
# Node settings may be added with SETTINGS, e.g. SETTINGS="log.segment.bytes=10485760" for 10 GB
# in about 1,000 segments.
set -euo pipefail
BIN=$(realpath "$1")
MODE=$2
N=$3
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOAD=$(ls -t "$ROOT"/target/release/deps/load-* | grep -v '\.d$' | head -1)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DIR=$(mktemp -d "${TMPDIR:-/tmp}/pilgrimage-restart.XXXXXX")
trap 'pkill -KILL -f "data-dir $DIR" || true; rm -rf "$DIR"' EXIT
EXTRA=()
for s in ${SETTINGS:-}; do EXTRA+=(--set "$s"); done
start() { RUST_LOG=warn "$BIN" serve "${EXTRA[@]}" --data-dir "$DIR" --listen "127.0.0.1:$PORT" --http-listen none >/dev/null 2>&1 & disown; }
ready() { until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.01; done; }
start
ready
case $MODE in
data) "$LOAD" --bench --bootstrap "127.0.0.1:$PORT" --records $((N * 1000000)) --sizes 1024 --acks 1 | grep produce ;;
partitions)
    "$ROOT/compat-tests/.venv/bin/python" - "127.0.0.1:$PORT" "$N" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
for f in a.create_topics([NewTopic("many", int(sys.argv[2]), 1)], operation_timeout=300, request_timeout=300).values():
    f.result(timeout=600)
PY
    ;;
*) echo "mode: data or partitions" >&2; exit 2 ;;
esac
sleep 3
pkill -KILL -f "data-dir $DIR"
sleep 0.5
t0=$(date +%s%N)
start
ready
t1=$(date +%s%N)
pid=$(pgrep -f "data-dir $DIR" | head -1)
echo "$BIN: ready $(((t1 - t0) / 1000000)) ms after SIGKILL ($MODE $N, $(du -sh "$DIR" | cut -f1) on disk); RSS $(grep VmRSS /proc/$pid/status | awk '{print $2, $3}'), $(ls /proc/$pid/fd | wc -l) open files"
