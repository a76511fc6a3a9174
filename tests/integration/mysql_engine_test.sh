#!/usr/bin/env bash
# The handler interface as an engine uses it (mysql_fixture_main.c), driven by the
# mariadb CLI: synchronous result sets with NULLs, an answer from another thread, engine
# errors, delegation to the administrative handler, session_end.
#   mysql_engine_test.sh FIXTURE_BIN
set -uo pipefail
FIXTURE=$1
T_DIR=$(mktemp -d /tmp/nn-mysql-engine.XXXXXX)
PASSED=0
FAILED=0
PID=""
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill "$PID"; wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$T_DIR"
}
trap cleanup EXIT
check() {
    # A here-string, not a pipe: grep -q may exit at its match before printf has written
    # everything, and under pipefail printf's SIGPIPE would fail a passing check.
    if grep -qF -- "$2" <<<"$3"; then
        PASSED=$((PASSED + 1)); echo "ok   $1"
    else
        FAILED=$((FAILED + 1)); echo "FAIL $1: expected '$2' in:"; printf '%s\n' "$3" | sed 's/^/    /'
    fi
}

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
q() { mariadb -h 127.0.0.1 -P "$PORT" -u root -prootpw --skip-ssl -N -B -e "$1" 2>&1; }

check engine_rows_with_null "2	NULL" "$(q 'SELECT engine_rows')"
check engine_async_answer "Query OK, 7 rows affected" "$(mariadb -h 127.0.0.1 -P "$PORT" -u root -prootpw --skip-ssl -vvv -e 'SELECT engine_async' 2>&1)"
check engine_async_info "answered by the engine thread" "$(mariadb -h 127.0.0.1 -P "$PORT" -u root -prootpw --skip-ssl -vvv -e 'SELECT engine_async' 2>&1)"
check engine_async_then_more "nodenet" "$(q 'SELECT engine_async; SELECT @@version_comment')"
check engine_error "ERROR 1146 (42S02) at line 1: Table 'engine.t' doesn't exist" "$(q 'SELECT engine_error')"
check admin_delegation "root@%" "$(q 'SELECT CURRENT_USER()')"
check admin_ddl_through_engine "done" "$(q "CREATE USER 'e'@'%' IDENTIFIED WITH mysql_native_password BY 'epw'; SELECT 'done'")"
check new_user_logs_in "e@%" "$(mariadb -h 127.0.0.1 -P "$PORT" -u e -pepw --skip-ssl -N -B -e 'SELECT CURRENT_USER()' 2>&1)"
# A client that disconnects while its query is unanswered: the session stays valid until
# the engine answers (which is then discarded), and session_end runs after that.
mariadb -h 127.0.0.1 -P "$PORT" -u root -prootpw --skip-ssl -e 'SELECT engine_hold' >/dev/null 2>&1 &
HOLDER=$!
for _ in $(seq 200); do
    [ "$(q 'SELECT engine_held')" = 1 ] && break
    sleep 0.05
done
check engine_holds_query "1" "$(q 'SELECT engine_held')"
ended_before=$(q 'SELECT engine_sessions_ended')
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null
for _ in $(seq 200); do  # until the server has seen the close (only our own session left)
    [ "$(q "SHOW STATUS LIKE 'Threads_connected'")" = "Threads_connected	1" ] && break
    sleep 0.05
done
check holder_closed "Threads_connected	1" "$(q "SHOW STATUS LIKE 'Threads_connected'")"
check late_answer_after_disconnect "ok" "$(q 'SELECT engine_release'; q "SELECT 'ok'")"
for _ in $(seq 200); do
    [ "$(q 'SELECT engine_sessions_ended')" -gt "$((ended_before + 1))" ] && break
    sleep 0.05
done
ended=$(q 'SELECT engine_sessions_ended')
if [ "${ended:-0}" -ge "$((ended_before + 2))" ]; then PASSED=$((PASSED + 1)); echo "ok   session_end_called"; else
    FAILED=$((FAILED + 1)); echo "FAIL session_end_called: $ended"; fi
# Without certificates TLS is never offered: a client that would like it stays plaintext.
out=$(mariadb -h 127.0.0.1 -P "$PORT" -u root -prootpw --ssl -N -B -e "SHOW STATUS LIKE 'Ssl_version'; SHOW VARIABLES LIKE 'have_ssl'" 2>&1)
check tls_not_offered "Ssl_version	
have_ssl	DISABLED" "$out"

kill "$PID"
wait "$PID"
rc=$?
if [ $rc -eq 0 ] && ! grep -qE "(ERROR|WARNING): [A-Za-z]+Sanitizer|runtime error:" "$T_DIR/log"; then
    PASSED=$((PASSED + 1)); echo "ok   fixture_clean_exit"
else
    FAILED=$((FAILED + 1)); echo "FAIL fixture exit $rc"; tail -40 "$T_DIR/log"
fi
PID=""
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
