#!/usr/bin/env bash
# examples/minidb as an embedder builds and runs it: `cmake --install` of the build into a
# temporary prefix, minidb built out of tree against it, then a 3-node cluster with
# rpc_tls require and mysql_tls on, driven by the mariadb CLI over TLS.
#   minidb_test.sh BUILD_DIR SOURCE_DIR CASE      CASE: replicate | kill | rolling
#     replicate: CREATE DATABASE / CREATE TABLE / INSERT on n1, read back on n2 and n3
#     kill:      n3 killed with SIGKILL, writes on n1, n3 restarted catches up
#     rolling:   every node restarted in turn under a write loop (and sysbench oltp_insert
#                on all three nodes when sysbench is installed); no acknowledged write lost
#     stmt:      prepared statements (libmariadb) written on n1 and read on n2, and a large
#                result streamed under back-pressure (minidb_client.c)
# Readiness comes only from the process just started: a log file of its own (one per
# start) and a port probe. Waits are bounded polls.
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd) case=${3:-replicate}
command -v mariadb >/dev/null || { echo "SKIP: no mariadb CLI"; exit 77; }
if [ "$case" = stmt ] && ! pkg-config --exists libmariadb; then
    echo "SKIP: no libmariadb (libmariadb-dev) for the prepared-statement client"; exit 77
fi
tmp=$(mktemp -d /tmp/nn-minidb.XXXXXX)
T_PORTS_FILE="$tmp/ports.given"
: >"$T_PORTS_FILE"
declare -A pid=() port=() rport=() starts=()
cleanup() {
    local n
    for n in "${!pid[@]}"; do
        kill -KILL "${pid[$n]}" 2>/dev/null || true
        wait "${pid[$n]}" 2>/dev/null || true
    done
    [ -f "$tmp/writer.pid" ] && kill "$(cat "$tmp/writer.pid")" 2>/dev/null || true
    [ -z "${sb_pid:-}" ] || { kill "$sb_pid" 2>/dev/null; wait "$sb_pid" 2>/dev/null; } || true
    if [ "${ok:-0}" != 1 ]; then
        for f in "$tmp"/n*.log.*; do
            [ -f "$f" ] && { echo "---- $f"; tail -15 "$f"; }
        done
    fi
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log"
# NN_EMBED_FLAGS: the sanitizer runtime of a sanitized library, as lib_install_test.sh.
flags=${NN_EMBED_FLAGS:-}
cmake -S "$src/examples/minidb" -B "$tmp/b" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
    -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/cmake.log" || { cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/b" >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
minidb=$tmp/b/minidb
echo "ok: minidb built out of tree against the installed package"

free_port() { # below the ephemeral range (a port there can be taken as a client's source
    # port while a node restarts on it), and never one this test was given already
    local given="$T_PORTS_FILE" p
    p=$(/usr/bin/python3 -c '
import random, socket, sys
given = set(open(sys.argv[1]).read().split()) if sys.argv[1] else set()
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
lo, hi = (10000, low - 1) if low > 12000 else (61000, 65535)
while True:
    port = random.randint(lo, hi)
    if str(port) in given:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    print(port)
    break' "$given")
    echo "$p" >>"$given"
    echo "$p"
}
"$src/deploy/gen-certs" "$tmp/certs" n1 n2 n3 >/dev/null 2>&1
for n in n1 n2 n3; do port[$n]=$(free_port); rport[$n]=$(free_port); starts[$n]=0; done
cat >"$tmp/cluster.yaml" <<YAML
cluster: { name: minidbtest, id: 12 }
nodes:
  - { name: n1, host: 127.0.0.1, mysql_port: ${port[n1]}, rpc_port: ${rport[n1]} }
  - { name: n2, host: 127.0.0.1, mysql_port: ${port[n2]}, rpc_port: ${rport[n2]} }
  - { name: n3, host: 127.0.0.1, mysql_port: ${port[n3]}, rpc_port: ${rport[n3]} }
security:
  ca_file: certs/ca.pem
  cert_file: certs/%n-cert.pem
  key_file: certs/%n-key.pem
  mysql_tls: on
  require_secure_transport: on
  rpc_tls: require
node: { workers: 1, data_dir: data/%n }
YAML
export NODENET_ROOT_PASSWORD=minidb-test

# sql NODE SQL...: the mariadb CLI over TLS, the server verified against the cluster CA.
sql() {
    local n=$1; shift
    timeout 30 mariadb -h 127.0.0.1 -P "${port[$n]}" -u root -p"$NODENET_ROOT_PASSWORD" \
        --ssl --ssl-ca="$tmp/certs/ca.pem" --ssl-verify-server-cert -N -B "$@"
}

# launch NODE: a fresh log for this start. ready NODE: it said node.ready, its MySQL port
# answers and its channels to both peers are up (all in that log).
launch() {
    local n=$1
    starts[$n]=$((starts[$n] + 1))
    "$minidb" --config "$tmp/cluster.yaml" --node "$n" >"$tmp/$n.log.${starts[$n]}" 2>&1 </dev/null &
    pid[$n]=$!
}
ready() {
    local n=$1 log=$tmp/$1.log.${starts[$1]} deadline=$((SECONDS + 60))
    until grep -q " node.ready node=$n " "$log" &&
        [ "$(grep -c "rpc.channel.up node=$n " "$log")" -ge 2 ] &&
        sql "$n" -e "SELECT 1" >/dev/null 2>&1; do
        kill -0 "${pid[$n]}" 2>/dev/null || fail "$n exited during start: $(tail -3 "$log")"
        [ $SECONDS -lt $deadline ] || fail "$n not ready after 60s"
        sleep 0.1
    done
}
stop() { # NODE SIGNAL
    kill -"$2" "${pid[$1]}"
    wait "${pid[$1]}" 2>/dev/null || true
    unset "pid[$1]"
}
# wait_count NODE QUERY WANT: polls (bounded) until NODE answers WANT.
wait_answer() {
    local n=$1 q=$2 want=$3 got="" deadline=$((SECONDS + 60))
    while [ $SECONDS -lt $deadline ]; do
        got=$(sql "$n" -e "$q" 2>/dev/null || true)
        [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    fail "$n answered '$got' to $q, expected '$want'"
}

start() { launch "$1"; ready "$1"; }
for n in n1 n2 n3; do launch "$n"; done
for n in n1 n2 n3; do ready "$n"; done
echo "ok: 3 minidb nodes up, rpc_tls require, mysql_tls on"

case $case in
replicate)
    out=$(sql n1 -e "CREATE DATABASE shop;
        USE shop;
        CREATE TABLE \`items\` (id INT UNSIGNED NOT NULL AUTO_INCREMENT, name VARCHAR(40)
            CHARACTER SET utf8mb4 NOT NULL, price DOUBLE, PRIMARY KEY (id), KEY k_name (name))
            /*!40101 ENGINE=InnoDB */ DEFAULT CHARSET=utf8mb4;
        INSERT INTO items(name, price) VALUES ('apple', 1.5), ('it\\'s', 2), (\"pear\", NULL);
        SHOW SESSION STATUS LIKE 'Ssl_version'")
    echo "$out" | grep -q "Ssl_version	TLSv1" || fail "n1's session was not TLS: $out"
    want=$'1\tapple\t1.5\n2\tit\'s\t2\n3\tpear\tNULL'
    # The write was acknowledged after every live peer applied it: no waiting here.
    for n in n2 n3; do
        got=$(sql "$n" -e "SELECT id, name, price FROM shop.items ORDER BY id")
        [ "$got" = "$want" ] || fail "$n read: $got"
        echo "ok: $n reads n1's rows"
    done
    got=$(sql n3 shop -e "SELECT count(*) FROM items WHERE price > 1")
    [ "$got" = 2 ] || fail "n3: count $got"
    # Typed columns: the CLI prints metadata with --column-type-info.
    timeout 30 mariadb -h 127.0.0.1 -P "${port[n2]}" -u root -p"$NODENET_ROOT_PASSWORD" \
        --ssl --ssl-ca="$tmp/certs/ca.pem" --table --column-type-info shop \
        -e "SELECT id, name, price FROM items LIMIT 1" >"$tmp/types"
    grep -q "Type:.*LONGLONG" "$tmp/types" && grep -q "Type:.*DOUBLE" "$tmp/types" ||
        fail "untyped columns: $(cat "$tmp/types")"
    echo "ok: typed result columns (LONGLONG, DOUBLE)"
    # What sysbench and mysqldump send: their schema, SET NAMES, BEGIN/COMMIT (statements
    # are applied one by one: BEGIN and COMMIT are accepted and do nothing).
    sql n1 -e "CREATE DATABASE sbtest; USE sbtest; SET NAMES utf8mb4;
        /*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
        CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL,
            c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id))
            /*! ENGINE = innodb */;
        CREATE INDEX k_1 ON sbtest1(k);
        BEGIN; INSERT INTO sbtest1 (k, c, pad) VALUES (5, 'c-1', 'p-1'), (7, 'c-2', 'p-2'); COMMIT;
        UPDATE sbtest1 SET k = k + 1 WHERE id = 2; DELETE FROM sbtest1 WHERE id = 1;
        INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 9, 'c-3', 'p-3')" ||
        fail "sysbench's schema"
    # id 0 into an AUTO_INCREMENT column takes the next id, as in MySQL (oltp_insert does it).
    got=$(sql n3 sbtest -e "SELECT id, k, c FROM sbtest1 WHERE k BETWEEN 1 AND 10 ORDER BY id")
    [ "$got" = $'2\t8\tc-2\n3\t9\tc-3' ] || fail "n3 read sbtest1: $got"
    echo "ok: sysbench's schema and writes on n1, read on n3"
    # Not minidb's: users and status go to the administrative handler.
    sql n1 -e "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'" || fail "CREATE USER"
    sql n2 -e "SHOW GLOBAL STATUS LIKE 'Uptime'" | grep -q Uptime || fail "SHOW STATUS"
    echo "ok: CREATE USER and SHOW STATUS answered by the administrative handler"
    ;;
kill)
    sql n1 -e "CREATE DATABASE k; CREATE TABLE k.t (v INT)"
    stop n3 KILL
    for i in $(seq 1 20); do sql n1 -e "INSERT INTO k.t VALUES ($i)"; done
    echo "ok: 20 writes acknowledged with n3 down"
    start n3
    wait_answer n3 "SELECT count(*), sum(v) FROM k.t" $'20\t210'
    echo "ok: n3 restarted after SIGKILL caught up"
    # And takes writes again, which reach the others.
    deadline=$((SECONDS + 60))
    until sql n3 -e "INSERT INTO k.t VALUES (100)" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "n3 never took a write"
        sleep 0.2
    done
    for n in n1 n2; do
        [ "$(sql "$n" -e "SELECT count(*) FROM k.t")" = 21 ] || fail "$n missed n3's write"
    done
    echo "ok: a write on the restarted n3 is on n1 and n2"
    ;;
rolling)
    sql n1 -e "CREATE DATABASE r; CREATE TABLE r.t (v INT)"
    # The load, when sysbench is installed: oltp_insert over TLS (server verified: cacert.pem,
    # client-cert.pem, client-key.pem in its working directory), 4 threads on the two nodes
    # that stay up while the third is stopped and restarted (one sysbench run per restart:
    # sysbench 1.0.20 crashes, SIGSEGV, when it reconnects to a node that went away, so no
    # thread talks to the node being restarted). A write a stopping peer did not apply is
    # answered with error 1180 (not acknowledged): sysbench counts it as an ignored error.
    # The runs' "write" counts (successful INSERTs only) are checked against the rows every
    # node has at the end.
    sb="" sb_pid="" sb_writes=0 sb_ignored=0
    if command -v sysbench >/dev/null; then
        mkdir "$tmp/sb"
        cp "$tmp/certs/ca.pem" "$tmp/sb/cacert.pem"
        cp "$tmp/certs/client-cert.pem" "$tmp/certs/client-key.pem" "$tmp/sb/"
        sql n1 -e "CREATE DATABASE sbtest"
        sbargs=(--db-driver=mysql --mysql-host=127.0.0.1
            --mysql-port="${port[n1]},${port[n2]},${port[n3]}" --mysql-user=root
            --mysql-password="$NODENET_ROOT_PASSWORD" --mysql-db=sbtest --mysql-ssl=on
            --tables=1 --table-size=100)
        sb_writes=0
        (cd "$tmp/sb" && sysbench oltp_insert "${sbargs[@]}" prepare) >"$tmp/sb/prepare.log" 2>&1 ||
            fail "sysbench prepare: $(tail -3 "$tmp/sb/prepare.log")"
        sb=1
        echo "ok: sysbench oltp_insert will be the write load"
    else
        echo "note: no sysbench: the mariadb CLI writer alone is the write load"
    fi
    # The writer: one row at a time, to the first node that takes it; a value is
    # acknowledged when the CLI exits 0.
    (
        i=0
        while [ ! -f "$tmp/stop" ]; do
            i=$((i + 1))
            for n in n1 n2 n3; do
                if sql "$n" -e "INSERT INTO r.t VALUES ($i)" 2>/dev/null; then
                    echo "$i" >>"$tmp/acked"
                    break
                fi
            done
        done
    ) &
    echo $! >"$tmp/writer.pid"
    acked_count() { if [ -f "$tmp/acked" ]; then wc -l <"$tmp/acked"; else echo 0; fi; }
    # more_acked N: waits (bounded) until N more writes were acknowledged.
    more_acked() {
        local want=$(($(acked_count) + $1)) deadline=$((SECONDS + 60))
        until [ "$(acked_count)" -ge $want ]; do
            [ $SECONDS -lt $deadline ] || fail "the write load stalled at $(acked_count)"
            sleep 0.1
        done
    }
    more_acked 10
    # sb_start NODE: a sysbench oltp_insert run on the two other nodes, in the background,
    # once its threads are running. sb_end: waits for it and adds its acknowledged writes.
    sb_start() {
        local others="" m
        for m in n1 n2 n3; do [ "$m" = "$1" ] || others+="${others:+,}${port[$m]}"; done
        sb_log=$tmp/sb/run-$1.log
        (cd "$tmp/sb" && exec sysbench oltp_insert "${sbargs[@]}" --mysql-port="$others" \
            --threads=4 --time=4 --mysql-ignore-errors=1180 run) >"$sb_log" 2>&1 &
        sb_pid=$!
        local deadline=$((SECONDS + 30))
        until grep -q "Threads started" "$sb_log"; do
            kill -0 "$sb_pid" 2>/dev/null || break
            [ $SECONDS -lt $deadline ] || fail "sysbench did not start: $(tail -3 "$sb_log")"
            sleep 0.1
        done
    }
    sb_end() {
        local rc=0 w
        wait "$sb_pid" || rc=$?
        sb_pid=""
        [ $rc = 0 ] || fail "sysbench exited $rc: $(tail -3 "$sb_log")"
        w=$(awk '/^ *write:/ { print $2 }' "$sb_log")
        [ -n "$w" ] && [ "$w" -gt 0 ] || fail "sysbench wrote nothing: $(tail -5 "$sb_log")"
        sb_writes=$((sb_writes + w))
        sb_ignored=$((sb_ignored + $(awk '/ignored errors:/ { print $3 }' "$sb_log")))
    }
    for n in n1 n2 n3; do
        [ -z "$sb" ] || sb_start "$n"
        stop "$n" TERM
        more_acked 10 # while it is down
        start "$n"
        more_acked 10 # with it back
        [ -z "$sb" ] || { sb_end; echo "ok: sysbench oltp_insert on the other two nodes meanwhile ($sb_writes acknowledged so far)"; }
        echo "ok: $n restarted under the write load ($(wc -l <"$tmp/acked" 2>/dev/null || echo 0) acked)"
    done
    touch "$tmp/stop"
    wait "$(cat "$tmp/writer.pid")" || true
    rm -f "$tmp/writer.pid"
    acked=$(sort -u "$tmp/acked" | wc -l)
    [ "$acked" -gt 10 ] || fail "only $acked writes acknowledged"
    # A last write fills any gap a node may have (a peer fetches what precedes it).
    sql n1 -e "INSERT INTO r.t VALUES (0)"
    sort -u "$tmp/acked" >"$tmp/acked.sorted"
    for n in n1 n2 n3; do
        deadline=$((SECONDS + 60))
        while :; do
            sql "$n" -e "SELECT DISTINCT v FROM r.t WHERE v > 0 ORDER BY v" >"$tmp/$n.rows" || true
            missing=$(comm -23 "$tmp/acked.sorted" <(sort -u "$tmp/$n.rows") | wc -l)
            [ "$missing" = 0 ] && break
            [ $SECONDS -lt $deadline ] || fail "$n lost $missing acknowledged writes"
            sleep 0.2
        done
        echo "ok: $n has all $acked acknowledged writes"
    done
    if [ -n "$sb" ]; then
        # Every acknowledged INSERT is on every node (an INSERT whose answer was lost with its
        # connection may be there too, so at least), and the three nodes hold the same rows.
        ids=$(sql n1 sbtest -e "SELECT count(*), sum(id) FROM sbtest1")
        for n in n1 n2 n3; do
            deadline=$((SECONDS + 60))
            while :; do
                got=$(sql "$n" sbtest -e "SELECT count(*), sum(id) FROM sbtest1" || true)
                [ "$got" = "$ids" ] && [ "${got%%$'\t'*}" -ge $((100 + sb_writes)) ] && break
                [ $SECONDS -lt $deadline ] ||
                    fail "$n has $got of sbtest1 (n1: $ids; 100 prepared + $sb_writes acknowledged)"
                sleep 0.2
                ids=$(sql n1 sbtest -e "SELECT count(*), sum(id) FROM sbtest1" || true)
            done
        done
        echo "ok: n1, n2, n3 hold the same ${ids%%$'\t'*} sbtest1 rows (100 prepared + $sb_writes acknowledged; $sb_ignored answered with an error)"
    fi
    ;;
stmt)
    cc -std=c17 -Wall -Wextra -Werror $(pkg-config --cflags libmariadb) \
        "$src/tests/integration/minidb_client.c" -o "$tmp/minidb_client" $(pkg-config --libs libmariadb)
    "$tmp/minidb_client" "${port[n1]}" "${port[n2]}" "$NODENET_ROOT_PASSWORD" "$tmp/certs/ca.pem" ||
        fail "minidb_client"
    [ "$(sql n3 -e "SELECT count(*), sum(n) FROM ps.m")" = $'100\t5050' ] || fail "n3 misses rows"
    echo "ok: n3 has the 100 prepared inserts"
    ;;
*) fail "unknown case $case" ;;
esac
ok=1
