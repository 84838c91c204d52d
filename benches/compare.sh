#!/usr/bin/env bash
# Side-by-side figures of two node binaries in one run (e.g. the previous commit's and this one's):
# each round starts a fresh node from each binary in turn and runs the load and latency benchmarks
# against it, so both see the same machine state (`benches/side-by-side.sh` with two nodes).
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
serve='serve --data-dir {dir} --listen 127.0.0.1:{port} --http-listen none'
exec "$(dirname "${BASH_SOURCE[0]}")/side-by-side.sh" "$ROUNDS" "$OLD=$OLD $serve" "$NEW=$NEW $serve" -- "$@"
