#!/usr/bin/env bash
# The user catalog shared by the cluster, end to end: three real nodes (rpc_tls require,
# certificates from deploy/gen-certs), user management on one node, logins on the others
# with the mariadb CLI.
#   catalog_cases.sh CASE BIN_DIR SOURCE_DIR
# Each case: its own temp dir and free 127.0.0.1 ports; waits are bounded polls; stops only
# the processes it started, by pid.
set -euo pipefail

case_name=$1
bin=$2
src=$3
nodenet=$bin/nodenet
py=/usr/bin/python3

work=$(mktemp -d /tmp/nn-catalog-XXXXXX)
declare -A pid
cleanup() {
    local n
    for n in "${!pid[@]}"; do
        kill -KILL "${pid[$n]}" 2>/dev/null || true
    done
    [ -n "${NODENET_TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL [$case_name]: $*" >&2
    local f
    for f in "$work"/*.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -n 25 "$f" >&2; }
    done
    exit 1
}

"$src/deploy/gen-certs" "$work/certs" n1 n2 n3 >/dev/null 2>&1 || fail "gen-certs failed"
# pick_ports_and_configure: six distinct free ports below the ephemeral range (see
# node_cases.sh for why) and the cluster config that uses them.
pick_ports_and_configure() {
read -r -a ports <<<"$("$py" -c '
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
hi = low - 1 if low > 12000 else 65535
lo = 10000 if low > 12000 else 61000
socks = []
while len(socks) < 6:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(lo, hi)))
    except OSError:
        s.close()
        continue
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))')"
declare -gA mysql_port=([n1]=${ports[0]} [n2]=${ports[2]} [n3]=${ports[4]})

cat >"$work/cluster.yaml" <<EOF
cluster: { name: catalogtest, id: 77 }
nodes:
  - { name: n1, host: 127.0.0.1, mysql_port: ${ports[0]}, rpc_port: ${ports[1]} }
  - { name: n2, host: 127.0.0.1, mysql_port: ${ports[2]}, rpc_port: ${ports[3]} }
  - { name: n3, host: 127.0.0.1, mysql_port: ${ports[4]}, rpc_port: ${ports[5]} }
security:
  ca_file: certs/ca.pem
  cert_file: certs/%n-cert.pem
  key_file: certs/%n-key.pem
  mysql_tls: on
  rpc_tls: require
  tool_subjects: ["/C=CN/O=nodenet/CN=nodenet-admin"]
  admin_cert_file: certs/admin-cert.pem
  admin_key_file: certs/admin-key.pem
node:
  workers: 2
  data_dir: data/%n
  heartbeat_ms: 500
  call_timeout_ms: 3000
EOF
}
pick_ports_and_configure

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds or SECONDS pass.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}
log_has() { grep -q -- "$2" "$work/$1.log" 2>/dev/null; }

# start_node NAME: appends to NAME.log, waits for a new node.ready. A port taken between
# the pick and the bind (another test on the machine) ends the start with status 75, for
# start_cluster to pick new ports.
start_node() {
    local before=0
    [ -f "$work/$1.log" ] && before=$(grep -c " node.ready node=$1 " "$work/$1.log" || true)
    NODENET_ROOT_PASSWORD=root-pw "$nodenet" --config "$work/cluster.yaml" --node "$1" \
        >>"$work/$1.log" 2>&1 &
    pid[$1]=$!
    local deadline=$((SECONDS + 20))
    until [ "$(grep -c " node.ready node=$1 " "$work/$1.log" || true)" -gt "$before" ]; do
        if gone "${pid[$1]}"; then
            wait "${pid[$1]}" 2>/dev/null || true
            unset "pid[$1]"
            grep -q "Address already in use" "$work/$1.log" && return 75
            fail "$1 exited before node.ready"
        fi
        [ $SECONDS -lt $deadline ] || fail "$1 did not log node.ready"
        sleep 0.1
    done
}

stop_node() { # SIGTERM, then wait (bounded) for the exit
    kill -TERM "${pid[$1]}"
    wait_for 20 gone "${pid[$1]}" || fail "$1 still running 20 s after SIGTERM"
    local rc=0
    wait "${pid[$1]}" || rc=$?
    [ $rc -eq 0 ] || fail "$1 exited $rc after SIGTERM"
    unset "pid[$1]"
}
gone() { ! kill -0 "$1" 2>/dev/null; }

# sql NODE USER PASSWORD [mariadb options...] -- SQL
sql() {
    local node=$1 user=$2 pw=$3
    shift 3
    local opts=()
    while [ "$1" != "--" ]; do
        opts+=("$1")
        shift
    done
    shift
    mariadb -h 127.0.0.1 -P "${mysql_port[$node]}" -u "$user" -p"$pw" \
        --ssl-ca="$work/certs/ca.pem" --connect-timeout=5 "${opts[@]}" -N -B -e "$1" 2>&1
}
root_sql() { sql "$1" root root-pw --ssl -- "$2"; }
with_cert() { # with_cert NODE USER PW: logs in presenting the mysql-client certificate
    sql "$1" "$2" "$3" --ssl-cert="$work/certs/client-cert.pem" \
        --ssl-key="$work/certs/client-key.pem" -- "SELECT CURRENT_USER()"
}
without_cert() { sql "$1" "$2" "$3" --ssl -- "SELECT CURRENT_USER()"; }

# (Output captured first: with pipefail, mariadb's failing exit would hide grep's match.)
can_login() {
    local out
    out=$(with_cert "$@") || return 1
    echo "$out" | grep -q "^$2@%$"
}
cannot_login() {
    local out
    out=$(with_cert "$@") && return 1
    echo "$out" | grep -q "Access denied"
}

start_cluster() {
    local attempt n rc
    for attempt in 1 2 3; do
        rc=0
        for n in n1 n2 n3; do
            start_node "$n" || { rc=$?; break; }
        done
        [ $rc -eq 0 ] && return 0
        for n in "${!pid[@]}"; do
            kill -KILL "${pid[$n]}" 2>/dev/null || true
            wait "${pid[$n]}" 2>/dev/null || true
            unset "pid[$n]"
        done
        rm -rf "$work/data" "$work"/n?.log
        echo "ports taken, new ones (attempt $attempt)"
        pick_ports_and_configure
    done
    fail "no free ports after 3 attempts"
}

subject="/C=CN/O=nodenet/CN=mysql-client"

# A sanitizer report or a torn state never passes silently.
check_logs() {
    if grep -qE "(ERROR|WARNING): [A-Za-z]+Sanitizer|runtime error:" "$work"/*.log; then
        fail "sanitizer report"
    fi
}

case "$case_name" in
create_user_with_require_subject_reaches_every_node)
    start_cluster
    out=$(root_sql n1 "CREATE USER 'alice'@'%' IDENTIFIED BY 'alice-pw' REQUIRE SUBJECT '$subject'") ||
        fail "CREATE USER on n1: $out"
    for n in n2 n3; do
        wait_for 20 can_login "$n" alice alice-pw || fail "alice cannot log in on $n: $(with_cert "$n" alice alice-pw)"
        out=$(without_cert "$n" alice alice-pw) && fail "alice logged in on $n without a certificate: $out"
        echo "$out" | grep -q "Access denied" || fail "no access denied on $n: $out"
        out=$(with_cert "$n" alice wrong-pw) && fail "a wrong password passed on $n"
        # The requirement travelled, not only the password.
        out=$(root_sql "$n" "SHOW CREATE USER 'alice'@'%'") || fail "SHOW CREATE USER on $n: $out"
        echo "$out" | grep -q "SUBJECT '$subject'" || fail "requirement on $n: $out"
    done
    log_has n2 "mysql.catalog.merge" || fail "n2 logged no merge"
    stop_node n1
    stop_node n2
    stop_node n3
    check_logs
    ;;

alter_user_on_another_node_reaches_all)
    start_cluster
    root_sql n1 "CREATE USER 'bob'@'%' IDENTIFIED BY 'old-pw' REQUIRE X509" >/dev/null ||
        fail "CREATE USER"
    wait_for 20 can_login n2 bob old-pw || fail "bob did not reach n2"
    out=$(root_sql n2 "ALTER USER 'bob'@'%' IDENTIFIED BY 'new-pw'") || fail "ALTER USER on n2: $out"
    for n in n1 n3; do
        wait_for 20 can_login "$n" bob new-pw || fail "new password not on $n"
        cannot_login "$n" bob old-pw || fail "the old password still works on $n: $(with_cert "$n" bob old-pw)"
    done
    stop_node n1
    stop_node n2
    stop_node n3
    check_logs
    ;;

drop_user_reaches_all_and_stays_dropped)
    start_cluster
    root_sql n1 "CREATE USER 'carol'@'%' IDENTIFIED BY 'carol-pw'" >/dev/null || fail "CREATE USER"
    wait_for 20 can_login n3 carol carol-pw || fail "carol did not reach n3"
    wait_for 20 can_login n2 carol carol-pw || fail "carol did not reach n2"
    # n2 sleeps through the DROP: it comes back holding carol's older row.
    stop_node n2
    out=$(root_sql n3 "DROP USER 'carol'@'%'") || fail "DROP USER on n3: $out"
    for n in n1 n3; do
        wait_for 20 cannot_login "$n" carol carol-pw || fail "carol still logs in on $n"
    done
    # The push to n2 waits for it up to call_timeout_ms: let it fail first, so that what n2
    # learns after its restart comes from the catch-up sync, the path under test.
    wait_for 20 log_has n3 "node.catalog.push.failed peer=n2" || fail "n3's push to the stopped n2 did not fail"
    start_node n2 || fail "n2 could not restart: its port was taken"
    wait_for 20 cannot_login n2 carol carol-pw || fail "n2 kept carol after its restart"
    wait_for 20 log_has n2 "node.catalog.sync peer=" || fail "n2 logged no catalog sync"
    # The tombstone wins everywhere: n2's older row did not bring carol back.
    for n in n1 n2 n3; do
        cannot_login "$n" carol carol-pw || fail "carol is back on $n"
        out=$(root_sql "$n" "SHOW GRANTS FOR 'carol'@'%'") && fail "carol exists again on $n: $out"
    done
    stop_node n1
    stop_node n2
    stop_node n3
    check_logs
    ;;

node_down_during_create_catches_up_after_restart)
    start_cluster
    stop_node n3
    root_sql n1 "CREATE USER 'dave'@'%' IDENTIFIED BY 'dave-pw' REQUIRE SUBJECT '$subject'" \
        >/dev/null || fail "CREATE USER while n3 is down"
    wait_for 20 can_login n2 dave dave-pw || fail "dave did not reach n2"
    root_sql n2 "DROP USER IF EXISTS 'nobody'@'%'" >/dev/null || fail "no-op DROP"
    wait_for 20 log_has n1 "node.catalog.push.failed peer=n3" || fail "n1's push to the stopped n3 did not fail"
    start_node n3 || fail "n3 could not restart: its port was taken"
    wait_for 20 can_login n3 dave dave-pw || fail "n3 did not catch up after its restart"
    out=$(without_cert n3 dave dave-pw) && fail "no certificate passed on n3: $out"
    log_has n3 "node.catalog.sync peer=" || fail "n3 logged no catalog sync"
    stop_node n1
    stop_node n2
    stop_node n3
    check_logs
    ;;

services_refuse_tool_clients)
    # catalog_tool_probe sits next to nodenet in the build's bin dir.
    start_cluster
    out=$("$bin/catalog_tool_probe" "${ports[1]}" "$work/certs/ca.pem" \
        "$work/certs/admin-cert.pem" "$work/certs/admin-key.pem" n1 2>&1) ||
        fail "a tool client reached the catalog services: $out"
    echo "$out" | grep -q "catalog.apply: denied" || fail "catalog.apply not denied: $out"
    stop_node n1
    check_logs
    ;;

*)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
echo "ok [$case_name]"
