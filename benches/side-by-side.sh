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
#
# RDKAFKA_PERFORMANCE=1 also measures with librdkafka's own load generator, `rdkafka_performance`
# on its defaults (built with gcc from the librdkafka sources the benchmarks link): for each record
# size in RKP_SIZES (default "100 1024") and acks in RKP_ACKS (default "1 all"), RKP_RECORDS
# (default 1000000) records produced to a fresh one-partition topic, then consumed from it with
# its batch consumer (`-B 10000`). MB = 10^6 bytes of record values, as everywhere here. Its
# producer sets `linger.ms=1000` and times to the last delivery, so a run ends with up to a second
# of waiting for the last batch; RKP_ARGS="-X linger.ms=5" (librdkafka's own default) removes
# that. RKP_ARGS adds any options to both of its runs.
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
if [[ ${RDKAFKA_PERFORMANCE:-0} != 0 ]]; then
    RKP=$ROOT/target/release/rdkafka_performance
    if [[ ! -x $RKP ]]; then
        src=
        for d in "$ROOT"/target/release/build/rdkafka-sys-*/out; do
            [[ -f $d/src/librdkafka.a && ( -z $src || $d -nt $src ) ]] && src=$d
        done
        [[ -n $src ]] || { echo "no librdkafka build: run cargo bench --no-run" >&2; exit 1; }
        zstd=$(ls -t "$ROOT"/target/release/build/zstd-sys-*/out/libzstd.a | head -1)
        gcc -O2 -I"$src/src" -o "$RKP" "$src/examples/rdkafka_performance.c" "$src/src/librdkafka.a" \
            "$zstd" -lpthread -lz -lm -ldl -lrt
    fi
    TICKS=$(getconf CLK_TCK)
fi
# The broker's CPU time in clock ticks (user + system).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# One rdkafka_performance phase: prints records/s, MB/s and the broker's CPU per GB.
rkp_phase() {
    local what=$1 size=$2 pid=$3 line t0 t1
    shift 3
    t0=$(ticks "$pid")
    # shellcheck disable=SC2086 # RKP_ARGS is a list of options
    line=$("$RKP" "$@" -q -X broker.address.family=v4 ${RKP_ARGS:-} 2>&1 | grep -E "messages produced|consumed in" | tail -1)
    t1=$(ticks "$pid")
    # "... N delivered ... in Tms: R msgs/s and M MB/s" (producer), "N messages ... consumed
    # in Tms: R msgs/s (M MB/s)" (consumer).
    awk -v what="$what" -v size="$size" -v cpu=$((t1 - t0)) -v tck="$TICKS" -v line="$line" 'BEGIN {
        n = split(line, w, " ")
        for (i = 1; i <= n; i++) {
            if (w[i] == "delivered" || (w[i] == "messages" && w[i + 1] ~ /^\(/)) recs = w[i - 1]
            if (w[i] == "in" && w[i + 1] ~ /ms:$/) ms = w[i + 1] + 0
        }
        if (ms == 0 || recs == 0) { printf "%-44s failed: %s\n", what, line; exit }
        gb = recs * size / 1e9
        printf "%-44s %8d records in %7.3f s: %9d records/s %8.1f MB/s  broker CPU %5.2f core-s/GB\n",
            what, recs, ms / 1000, recs / (ms / 1000), gb * 1000 / (ms / 1000), cpu / tck / gb
    }'
}
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
        if [[ ${RDKAFKA_PERFORMANCE:-0} != 0 ]]; then
            for size in ${RKP_SIZES:-100 1024}; do
                for acks in ${RKP_ACKS:-1 all}; do
                    topic=rkp-$size-$acks-$round
                    "$LOAD" --bench --bootstrap "127.0.0.1:$PORT" --create-topic "$topic"
                    n=${RKP_RECORDS:-1000000}
                    rkp_phase "rdkafka_performance produce $size B acks=$acks" "$size" "$pid" \
                        -P -t "$topic" -p 0 -b "127.0.0.1:$PORT" -s "$size" -c "$n" -a "${acks/all/-1}"
                    rkp_phase "rdkafka_performance consume $size B" "$size" "$pid" \
                        -C -t "$topic" -p 0 -b "127.0.0.1:$PORT" -o beginning -c "$n" -B 10000
                done
            done
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
