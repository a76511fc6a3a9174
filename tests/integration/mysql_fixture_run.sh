#!/usr/bin/env bash
# Starts the engine fixture (mysql_fixture_main.c) on a free port with a fresh data
# directory, runs CLIENT PORT ROOT_PASSWORD against it, stops the fixture, and fails on a
# sanitizer report in its log.
#   mysql_fixture_run.sh FIXTURE_BIN CLIENT_BIN
set -uo pipefail
FIXTURE=$1
CLIENT=$2
T_DIR=$(mktemp -d /tmp/nn-mysql-fixture.XXXXXX)
PID=""
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill "$PID"; wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$T_DIR"
}
trap cleanup EXIT
NODENET_ROOT_PASSWORD=rootpw "$FIXTURE" "$T_DIR/data" >"$T_DIR/out" 2>"$T_DIR/log" &
PID=$!
PORT=""
for _ in $(seq 200); do
    PORT=$(sed -n 's/^ready port=//p' "$T_DIR/out")
    [ -n "$PORT" ] && break
    kill -0 "$PID" 2>/dev/null || { cat "$T_DIR/log"; exit 1; }
    sleep 0.05
done
[ -n "$PORT" ] || { echo "fixture not ready"; exit 1; }
"$CLIENT" "$PORT" rootpw
rc=$?
kill "$PID"; wait "$PID" 2>/dev/null
PID=""
if grep -qE "Sanitizer|runtime error" "$T_DIR/log"; then
    echo "FAIL sanitizer report in the fixture's log:"; tail -50 "$T_DIR/log"
    exit 1
fi
[ $rc -eq 0 ] || { echo "---- fixture log (last 30 lines) ----"; tail -30 "$T_DIR/log"; }
exit $rc
