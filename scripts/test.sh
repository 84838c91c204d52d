#!/usr/bin/env bash
# Runs every test of the project: formatting and lints, unit and property tests, integration
# tests with librdkafka against real nodes (including SIGKILL recovery), benchmark smoke runs,
# and the compat suite with kcat, kafka-python and kafkajs (installed, pinned, on first run).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets -- -D warnings

step "unit, property and integration tests; benchmarks in smoke mode"
cargo test --workspace --all-targets
cargo test --workspace --doc

step "compat suite (kcat, kafka-python, kafkajs)"
cargo build --bin pilgrimage
compat-tests/run.sh target/debug/pilgrimage

step "all tests passed"
