#!/usr/bin/env bash
# Pilgrimage compat suite: clients no one here wrote (kcat, kafka-python, aiokafka,
# confluent-kafka-python, kafkajs) against a freshly started node.
#
#   compat-tests/run.sh [path-to-pilgrimage-binary]     (default: target/debug/pilgrimage)
#
# Installs what the clients need (pinned; quick when already installed), starts a node on a free
# port with a temporary data directory, runs every scenario, and stops the node with SIGTERM. A
# scenario prints PASS or FAIL with a reason; one named in allow-list.txt is expected to fail
# (FINDINGS.md says why) and prints XFAIL instead, or XPASS if it passed after all; one the
# installed client cannot run prints SKIP with the reason (neither passes nor fails). Exits non-zero
# if any scenario failed that is not allow-listed, or if the node did not stop cleanly.
#
# Environment: COMPAT_CLIENTS="kcat python aiokafka confluent js" picks the clients to run
# (default: all).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
if [[ $# -ge 1 ]]; then
    BIN=$(realpath -- "$1")
else
    BIN=$ROOT/target/debug/pilgrimage
fi
CLIENTS=${COMPAT_CLIENTS:-kcat python aiokafka confluent js}
ALLOW_LIST=$HERE/allow-list.txt
VENV=$HERE/.venv

# Bounds: the whole run is meant to take well under three minutes.
NODE_START_TIMEOUT_S=30
NODE_STOP_TIMEOUT_S=20
RUNNER_TIMEOUT_S=150

START=$SECONDS
say() { printf '%s\n' "$*"; }
die() {
    say "compat: $*" >&2
    exit 2
}

[[ -x $BIN ]] || die "no pilgrimage binary at $BIN (build it, or pass its path)"

# --- installation (idempotent) ---------------------------------------------------------------

install_kcat() {
    command -v kcat >/dev/null && return
    say "installing kcat (Debian package)"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq kcat >/dev/null
}

# A stamp holding the hash of the file that pins the versions: reinstall only when it changes.
stamp_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

install_python() {
    local req=$HERE/python/requirements.txt want
    want=$(stamp_of "$req")-$(python3 --version 2>&1)
    if [[ -x $VENV/bin/python && -f $VENV/.compat-stamp && $(<"$VENV/.compat-stamp") == "$want" ]]; then
        return
    fi
    say "installing the Python venv ($VENV)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --disable-pip-version-check --no-input -q -r "$req"
    printf '%s' "$want" >"$VENV/.compat-stamp"
}

install_js() {
    local dir=$HERE/js want
    want=$(stamp_of "$dir/package-lock.json" "$dir/package.json")-$(node --version)
    local stamp=$dir/node_modules/.compat-stamp
    if [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
        return
    fi
    say "installing Node packages (npm ci in $dir)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    printf '%s' "$want" >"$stamp"
}

for c in $CLIENTS; do
    case $c in
    kcat) install_kcat ;;
    python | aiokafka | confluent) install_python ;; # one venv for the three
    js) install_js ;;
    *) die "unknown client '$c' in COMPAT_CLIENTS (kcat, python, aiokafka, confluent, js)" ;;
    esac
done

# --- the node --------------------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pilgrimage-compat.XXXXXX")
NODE_PID=
NODE_LOG=$WORK/node.log
NODE_STOPPED_CLEANLY=
NODE_EXIT=

# Stops the node with SIGTERM and records whether it exited 0 within the bound.
stop_node() {
    [[ -n $NODE_PID ]] || return 0
    local pid=$NODE_PID rc=0
    NODE_PID=
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + NODE_STOP_TIMEOUT_S))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            say "node: still running ${NODE_STOP_TIMEOUT_S}s after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    else
        say "node: had already exited before SIGTERM"
    fi
    wait "$pid" 2>/dev/null || rc=$?
    NODE_EXIT=$rc
    if [[ $rc -eq 0 ]]; then
        NODE_STOPPED_CLEANLY=yes
    else
        say "node: exited with code $rc (expected 0 after SIGTERM); last lines of its log:"
        tail -n 30 "$NODE_LOG" | sed 's/^/    node| /'
    fi
}

cleanup() {
    stop_node
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Settings: 3 partitions for auto-created topics (the kcat scenarios count on it); no initial
# rebalance delay (Kafka's default of 3 s would hold up the first join of every group); a 1 s
# minimum session timeout (Kafka's is 6 s) so that group members may use short sessions.
NODE_SETTINGS=(
    --set num.partitions=3
    --set group.initial.rebalance.delay.ms=0
    --set group.min.session.timeout.ms=1000
)

# A port can be taken between choosing it and the node binding it: try a few.
start_node() {
    local attempt
    for attempt in 1 2 3; do
        PORT=$(free_port)
        rm -rf "$WORK/data"
        NO_COLOR=1 RUST_LOG=${RUST_LOG:-info} "$BIN" serve --data-dir "$WORK/data" \
            --listen "127.0.0.1:$PORT" --http-listen none "${NODE_SETTINGS[@]}" \
            >"$NODE_LOG" 2>&1 &
        NODE_PID=$!
        local deadline=$((SECONDS + NODE_START_TIMEOUT_S))
        while ((SECONDS < deadline)); do
            if ! kill -0 "$NODE_PID" 2>/dev/null; then
                break
            fi
            if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
                return 0
            fi
            sleep 0.1
        done
        if kill -0 "$NODE_PID" 2>/dev/null; then
            say "node: not accepting connections on port $PORT after ${NODE_START_TIMEOUT_S}s"
            tail -n 30 "$NODE_LOG" | sed 's/^/    node| /'
            exit 2
        fi
        wait "$NODE_PID" 2>/dev/null || true
        NODE_PID=
        say "node: exited at start (attempt $attempt, port $PORT):"
        tail -n 10 "$NODE_LOG" | sed 's/^/    node| /'
    done
    die "the node did not start"
}

start_node
BOOTSTRAP=127.0.0.1:$PORT
say "node: $BIN on $BOOTSTRAP (data in $WORK/data), started in $((SECONDS - START))s"

# --- scenarios -------------------------------------------------------------------------------

declare -A ALLOWED=() SEEN=()
if [[ -f $ALLOW_LIST ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        line=$(printf '%s' "$line" | tr -d '[:space:]')
        [[ -n $line ]] && ALLOWED[$line]=1
    done <"$ALLOW_LIST"
fi

PASSED=0 FAILED=0 XFAILED=0 XPASSED=0 SKIPPED=0
FAILURES=()

record() { # status name reason
    local status=$1 name=$2 reason=${3:-}
    SEEN[$name]=1
    if [[ $status == SKIP ]]; then
        # Not runnable with the installed client (the reason says why): neither passed nor failed.
        SKIPPED=$((SKIPPED + 1))
        say "SKIP $name: $reason"
    elif [[ $status == PASS ]]; then
        if [[ -n ${ALLOWED[$name]:-} ]]; then
            XPASSED=$((XPASSED + 1))
            say "XPASS $name (allow-listed, but passed: remove it from allow-list.txt and FINDINGS.md)"
        else
            PASSED=$((PASSED + 1))
            say "PASS $name"
        fi
    else
        if [[ -n ${ALLOWED[$name]:-} ]]; then
            XFAILED=$((XFAILED + 1))
            say "XFAIL $name: $reason"
        else
            FAILED=$((FAILED + 1))
            FAILURES+=("$name")
            say "FAIL $name: $reason"
        fi
    fi
}

# Runs one client's scenario runner; its PASS/FAIL lines are judged here, anything else it
# prints is passed through as context.
run_client() {
    local client=$1
    shift
    say "--- $client"
    if ! kill -0 "$NODE_PID" 2>/dev/null; then
        record FAIL "$client.runner" "not run: the node is no longer running"
        return
    fi
    local line rc=
    while IFS= read -r line; do
        if [[ $line =~ ^__RUNNER_EXIT\ ([0-9]+)$ ]]; then
            rc=${BASH_REMATCH[1]}
        elif [[ $line =~ ^PASS\ ([^ :]+)$ ]]; then
            record PASS "${BASH_REMATCH[1]}"
        elif [[ $line =~ ^FAIL\ ([^ :]+):\ ?(.*)$ ]]; then
            record FAIL "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
        elif [[ $line =~ ^SKIP\ ([^ :]+):\ ?(.*)$ ]]; then
            record SKIP "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
        else
            say "$line"
        fi
    done < <(
        rc=0
        timeout "$RUNNER_TIMEOUT_S" "$@" 2>&1 || rc=$?
        echo "__RUNNER_EXIT $rc"
    )
    if [[ ${rc:-1} -ne 0 ]]; then
        local why="exited with code ${rc:-?}"
        [[ $rc == 124 ]] && why="killed after ${RUNNER_TIMEOUT_S}s"
        record FAIL "$client.runner" "$why"
    fi
}

export PYTHONDONTWRITEBYTECODE=1 KAFKAJS_NO_PARTITIONER_WARNING=1
for c in $CLIENTS; do
    case $c in
    kcat) run_client kcat bash "$HERE/kcat/scenarios.sh" "$BOOTSTRAP" ;;
    python) run_client python "$VENV/bin/python" "$HERE/python/test_kafka_python.py" "$BOOTSTRAP" ;;
    aiokafka) run_client aiokafka "$VENV/bin/python" "$HERE/python/test_aiokafka.py" "$BOOTSTRAP" ;;
    confluent) run_client confluent "$VENV/bin/python" "$HERE/python/test_confluent_kafka.py" "$BOOTSTRAP" ;;
    js) run_client js node "$HERE/js/test_kafkajs.js" "$BOOTSTRAP" ;;
    esac
done

# --- the node after the run ------------------------------------------------------------------

say "--- node"
if kill -0 "$NODE_PID" 2>/dev/null; then
    record PASS node.alive_after_run
else
    record FAIL node.alive_after_run "the node exited during the run"
fi
if grep -q "panicked at" "$NODE_LOG"; then
    record FAIL node.no_panic "$(grep -m1 "panicked at" "$NODE_LOG")"
else
    record PASS node.no_panic
fi
if ((FAILED > 0)); then
    say "node log, WARN and ERROR lines (at most 20):"
    grep -E " (WARN|ERROR) " "$NODE_LOG" | tail -n 20 | sed 's/^/    node| /' || true
fi
stop_node
if [[ -n $NODE_STOPPED_CLEANLY ]]; then
    record PASS node.clean_shutdown
else
    record FAIL node.clean_shutdown "exit code ${NODE_EXIT:-?} after SIGTERM (expected 0 within ${NODE_STOP_TIMEOUT_S}s)"
fi

# --- summary ---------------------------------------------------------------------------------

for name in "${!ALLOWED[@]}"; do
    # Only for the clients that ran (COMPAT_CLIENTS may pick some).
    if [[ -z ${SEEN[$name]:-} && " $CLIENTS node " == *" ${name%%.*} "* ]]; then
        say "note: allow-list.txt names '$name', which did not run"
    fi
done
say "---"
((${#FAILURES[@]} == 0)) || say "failed: ${FAILURES[*]}"
say "xfail: $XFAILED allow-listed failures (FINDINGS.md), skip: $SKIPPED not runnable with the installed clients, xpass: $XPASSED; $((SECONDS - START))s in all"
say "compat: $((PASSED + XPASSED)) passed, $FAILED failed, $((XFAILED + SKIPPED)) skipped"
((FAILED == 0))
