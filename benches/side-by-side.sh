#!/usr/bin/env bash
# The load and latency benchmarks against several brokers in alternation, in one run: each
# round starts every broker in turn, fresh, on the same port and measures it, so all of them
# see the same machine state. Any Kafka-compatible broker that runs as one process will do.
#
#   benches/side-by-side.sh ROUNDS NAME='COMMAND' [NAME='COMMAND' ...] [-- load benchmark flags]
#
# COMMAND starts one broker in the foreground. `{port}` in it becomes the port to listen on and
# `{dir}` a fresh, empty directory, which is also its working directory (and the load
# benchmark's `--data-dir`). For example, this build against Tansu's in-memory engine:
#
#   benches/side-by-side.sh 2 \
#     pilgrimage="$PWD/target/release/pilgrimage serve --data-dir {dir} --listen 127.0.0.1:{port} --http-listen none" \
#     tansu-memory="tansu broker --listener-url tcp://127.0.0.1:{port} --advertised-listener-url tcp://127.0.0.1:{port} --storage-engine memory://tansu/" \
#     -- --records 1000000 --sizes 100,1024 --acks 1,all
#
# LATENCY_BENCH=0 runs the load benchmark alone (more rounds in the same time), LOAD_BENCH=0 the
# latency benchmark alone (against a broker that holds nothing yet). Build the benchmarks first
# (`cargo bench --no-run`).
set -euo pipefail
ROUNDS=$1
shift
NAMES=()
COMMANDS=()
while [[ $# -gt 0 && $1 != -- ]]; do
    [[ $1 == *=* ]] || { echo "expected NAME='COMMAND', got: $1" >&2; exit 2; }
    NAMES+=("${1%%=*}")
    COMMANDS+=("${1#*=}")
    shift
done
[[ ${1:-} == -- ]] && shift
[[ ${#NAMES[@]} -gt 0 ]] || { echo "no broker given" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
newest() { ls -t "$ROOT"/target/release/deps/"$1"-* | grep -v '\.d$' | head -1; }
LOAD=$(newest load)
LATENCY=$(newest latency)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for round in $(seq 1 "$ROUNDS"); do
    for i in "${!NAMES[@]}"; do
        dir=$(mktemp -d "${TMPDIR:-/tmp}/side-by-side.XXXXXX")
        cmd=${COMMANDS[$i]//\{port\}/$PORT}
        cmd=${cmd//\{dir\}/$dir}
        sync
        (cd "$dir" && RUST_LOG=${RUST_LOG:-warn} exec bash -c "exec $cmd") >"$dir.log" 2>&1 &
        pid=$!
        until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
            if ! kill -0 "$pid" 2>/dev/null; then
                echo "${NAMES[$i]} exited before it listened on $PORT:" >&2
                cat "$dir.log" >&2
                exit 1
            fi
            sleep 0.05
        done
        echo "== ${NAMES[$i]} (round $round)"
        if [[ ${LOAD_BENCH:-1} != 0 ]]; then
            "$LOAD" --bench --bootstrap "127.0.0.1:$PORT" --broker-pid "$pid" --data-dir "$dir" "$@" | grep "records in"
        fi
        if [[ ${LATENCY_BENCH:-1} != 0 ]]; then
            "$LATENCY" --bench --bootstrap "127.0.0.1:$PORT" | grep samples
        fi
        echo "   broker peak RSS: $(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')"
        kill -TERM "$pid"
        # A broker that does not stop on SIGTERM in 10 s is killed: the next one needs the port.
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" || true
        rm -rf "$dir" "$dir.log"
    done
done
