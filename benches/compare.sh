#!/usr/bin/env bash
# Side-by-side figures of two node binaries in one run (e.g. the previous commit's and this one's):
# each round starts a fresh node from each binary in turn and runs the load and latency benchmarks
# against it, so both see the same machine state.
#
#   benches/compare.sh OLD_BINARY NEW_BINARY [ROUNDS] [-- load benchmark flags]
#
# LATENCY_BENCH=0 runs the load benchmark alone (more rounds in the same time).
#
# Build the benchmarks first (`cargo bench --no-run`); the previous commit's binary comes from
# e.g. `git worktree add /tmp/prev HEAD~1 && cargo build --release --manifest-path /tmp/prev/Cargo.toml`.
set -euo pipefail
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROUNDS=${3:-2}
shift $(($# < 3 ? $# : 3))
[[ ${1:-} == -- ]] && shift
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
newest() { ls -t "$ROOT"/target/release/deps/"$1"-* | grep -v '\.d$' | head -1; }
LOAD=$(newest load)
LATENCY=$(newest latency)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for round in $(seq 1 "$ROUNDS"); do
    for bin in "$OLD" "$NEW"; do
        dir=$(mktemp -d "${TMPDIR:-/tmp}/pilgrimage-compare.XXXXXX")
        sync
        RUST_LOG=warn "$bin" serve --data-dir "$dir" --listen "127.0.0.1:$PORT" --http-listen none >"$dir.log" 2>&1 &
        pid=$!
        until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.05; done
        echo "== $bin (round $round)"
        "$LOAD" --bench --bootstrap "127.0.0.1:$PORT" --broker-pid "$pid" --data-dir "$dir" "$@" | grep "records in"
        if [[ ${LATENCY_BENCH:-1} != 0 ]]; then
            "$LATENCY" --bench --bootstrap "127.0.0.1:$PORT" | grep samples
        fi
        echo "   broker peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')"
        kill -TERM "$pid"
        wait "$pid" || true
        rm -rf "$dir" "$dir.log"
    done
done
