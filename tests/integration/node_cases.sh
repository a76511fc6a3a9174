#!/usr/bin/env bash
# Integration cases for the nodenet binary, nodenet-admin and deploy/ scripts.
#   node_cases.sh CASE BIN_DIR SOURCE_DIR
# Each case runs in its own temp dir on free 127.0.0.1 ports, waits on readiness (bounded
# polls, no fixed sleeps), and stops only the processes it started, by pid.
set -euo pipefail

case_name=$1
bin=$2
src=$3
nodenet=$bin/nodenet
admin=$bin/nodenet-admin
py=/usr/bin/python3

work=$(mktemp -d /tmp/nn-node-XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    if [ -d "$work/run" ]; then
        "$src/deploy/local-cluster" stop --run-dir "$work/run" --bin-dir "$bin" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL [$case_name]: $*" >&2
    for f in "$work"/*.log "$work"/run/*.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

# N distinct free ports, held open together while chosen so they differ.
free_ports() {
    "$py" -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# wait_for CMD...: polls CMD every 0.1 s for up to 20 s.
wait_for() {
    local deadline=$((SECONDS + 20))
    until "$@"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

log_has() { grep -q -- "$2" "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# write_config FILE RPC_TLS MYSQL_TLS NODES... (ports from $ports, two per node)
write_config() {
    local file=$1 rpc_tls=$2 mysql_tls=$3
    shift 3
    local i=0 name
    local -a p=($ports)
    {
        echo "cluster: { name: test, id: 42 }"
        echo "nodes:"
        for name in "$@"; do
            echo "  - { name: $name, host: 127.0.0.1, mysql_port: ${p[$i]}, rpc_port: ${p[$((i + 1))]} }"
            i=$((i + 2))
        done
        cat <<EOF
security:
  ca_file: certs/ca.pem
  cert_file: certs/%n-cert.pem
  key_file: certs/%n-key.pem
  mysql_tls: $mysql_tls
  rpc_tls: $rpc_tls
  tool_subjects: ["/C=CN/O=nodenet/CN=nodenet-admin"]
  admin_cert_file: certs/admin-cert.pem
  admin_key_file: certs/admin-key.pem
node:
  workers: 2
  data_dir: data/%n
  heartbeat_ms: 200
  call_timeout_ms: 5000
EOF
    } >"$file"
}

certs() {
    "$src/deploy/gen-certs" "$work/certs" "$@" >/dev/null 2>&1 || fail "gen-certs failed"
}

start_node() { # start_node NAME CONFIG -> sets node_pid, log at $work/NAME.log
    NODENET_ROOT_PASSWORD=secret-pw "$nodenet" --config "$2" --node "$1" >"$work/$1.log" 2>&1 &
    node_pid=$!
    pids+=("$node_pid")
    wait_for log_has "$work/$1.log" " node.ready node=$1 " || fail "$1 did not log node.ready"
}

mysql_query() { # mysql_query PORT SQL
    mariadb -h 127.0.0.1 -P "$1" -u root -psecret-pw --ssl --ssl-ca="$work/certs/ca.pem" \
        --connect-timeout=5 -N -B -e "$2"
}

case "$case_name" in
config_error_stops_the_node_with_the_key_path)
    certs n1
    ports=$(free_ports 2)
    write_config "$work/cluster.yaml" maybe on n1
    set +e
    out=$("$nodenet" --config "$work/cluster.yaml" --node n1 2>&1)
    rc=$?
    set -e
    [ $rc -eq 1 ] || fail "exit $rc, wanted 1"
    echo "$out" | grep -q "security.rpc_tls: invalid value 'maybe' (expected off, prefer or require)" ||
        fail "no key path in: $out"
    echo "$out" | grep -q "node.ready" && fail "the node became ready"
    set +e
    out=$("$nodenet" --config "$work/cluster.yaml" --check 2>&1)
    rc=$?
    set -e
    [ $rc -eq 1 ] || fail "--check exit $rc, wanted 1"
    echo "$out" | grep -q "security.rpc_tls" || fail "--check said: $out"
    # A certificate that is not a certificate: --check loads it as the node would.
    write_config "$work/cluster.yaml" off on n1
    cp "$work/certs/n1-cert.pem" "$work/n1-cert.pem.bak"
    echo "not a certificate" >"$work/certs/n1-cert.pem"
    "$nodenet" --config "$work/cluster.yaml" --check >/dev/null 2>&1 && fail "--check took a broken certificate"
    cp "$work/n1-cert.pem.bak" "$work/certs/n1-cert.pem"
    "$nodenet" --config "$work/cluster.yaml" --check >/dev/null || fail "--check refused a good config"
    out=$("$nodenet" --config "$work/cluster.yaml" --node n9 --check 2>&1) && fail "--node n9 passed"
    echo "$out" | grep -q "no node named 'n9'" || fail "--node n9 not reported: $out"
    ;;

node_serves_mysql_and_stops_on_sigterm)
    certs n1
    ports=$(free_ports 2)
    read -r mport rport <<<"$ports"
    write_config "$work/cluster.yaml" require on n1
    start_node n1 "$work/cluster.yaml"
    out=$(mysql_query "$mport" "SHOW SESSION STATUS LIKE 'Ssl_version'") || fail "mariadb could not connect"
    echo "$out" | grep -q "TLSv1" || fail "session not encrypted: $out"
    "$admin" --config "$work/cluster.yaml" --node n1 ping >/dev/null || fail "nodenet-admin ping failed"
    "$admin" --config "$work/cluster.yaml" --node n1 status --json | grep -q '"node":"n1"' ||
        fail "status --json"
    start=$SECONDS
    kill -TERM "$node_pid"
    wait_for gone "$node_pid" || fail "still running 20 s after SIGTERM"
    set +e
    wait "$node_pid"
    rc=$?
    set -e
    [ $rc -eq 0 ] || fail "exit $rc after SIGTERM"
    [ $((SECONDS - start)) -le 10 ] || fail "took $((SECONDS - start)) s to stop"
    log_has "$work/n1.log" "node.stopped node=n1" || fail "no node.stopped"
    set +e
    out=$("$admin" --config "$work/cluster.yaml" --node n1 status 2>&1)
    rc=$?
    set -e
    [ $rc -eq 1 ] || fail "admin against a stopped node: exit $rc"
    echo "$out" | grep -q "n1 at 127.0.0.1:$rport" || fail "admin error does not say where: $out"
    ;;

sighup_with_broken_config_keeps_serving)
    certs n1
    ports=$(free_ports 2)
    read -r mport rport <<<"$ports"
    write_config "$work/cluster.yaml" off on n1
    start_node n1 "$work/cluster.yaml"
    cp "$work/cluster.yaml" "$work/good.yaml"
    sed -i 's/rpc_tls: off/rpc_tls: sometimes/' "$work/cluster.yaml"
    kill -HUP "$node_pid"
    wait_for log_has "$work/n1.log" "node.reload.failed" || fail "no reload failure logged"
    log_has "$work/n1.log" "security.rpc_tls: invalid value 'sometimes'" || fail "no key path in the log"
    mysql_query "$mport" "SELECT 1" >/dev/null || fail "not serving after a bad reload"
    # nodenet-admin reload reports the same failure, exit 1.
    cp "$work/good.yaml" "$work/admin.yaml"
    if "$admin" --config "$work/admin.yaml" --node n1 reload >/dev/null 2>&1; then
        fail "admin reload of a broken config succeeded"
    fi
    # A good config with a live change (mysql TLS off) and a restart-only change (workers).
    cp "$work/good.yaml" "$work/cluster.yaml"
    sed -i 's/mysql_tls: on/mysql_tls: off/; s/workers: 2/workers: 3/' "$work/cluster.yaml"
    out=$("$admin" --config "$work/cluster.yaml" --node n1 reload) || fail "admin reload failed"
    echo "$out" | grep -q "mysql_tls=off" || fail "reload said: $out"
    echo "$out" | grep -q "needs a restart: node.workers" || fail "reload said: $out"
    log_has "$work/n1.log" "node.reload.needs_restart" || fail "needs_restart not logged"
    out=$(mariadb -h 127.0.0.1 -P "$mport" -u root -psecret-pw --ssl=0 -N -B \
        -e "SHOW SESSION STATUS LIKE 'Ssl_version'" 2>&1) || fail "plaintext login failed: $out"
    kill -TERM "$node_pid"
    wait_for gone "$node_pid" || fail "did not stop"
    ;;

local_cluster_starts_checks_and_stops_three_nodes)
    certs n1 n2 n3
    ports=$(free_ports 6)
    write_config "$work/cluster.yaml" require on n1 n2 n3
    lc=("$src/deploy/local-cluster")
    opts=(--config "$work/cluster.yaml" --run-dir "$work/run" --bin-dir "$bin" --timeout 20)
    NODENET_ROOT_PASSWORD=secret-pw "${lc[@]}" start "${opts[@]}" || fail "start"
    for n in n1 n2 n3; do
        "${lc[@]}" mesh-up "$n" "${opts[@]}" || fail "mesh not up for $n"
    done
    "${lc[@]}" health "${opts[@]}" || fail "health"
    out=$("${lc[@]}" status "${opts[@]}")
    echo "$out" | grep -q "n2 .*running.*mesh 2/2 ready" || fail "status said: $out"
    NODENET_ROOT_PASSWORD=secret-pw "${lc[@]}" restart n2 "${opts[@]}" || fail "restart"
    "${lc[@]}" mesh-up n2 "${opts[@]}" || fail "mesh after restart"
    "${lc[@]}" stop "${opts[@]}" || fail "stop"
    for n in n1 n2 n3; do
        [ -e "$work/run/$n.pid" ] && fail "$n pid file left"
    done
    "${lc[@]}" health "${opts[@]}" 2>/dev/null && fail "health passed with nothing running"
    ;;

rollout_off_prefer_require_loses_no_call)
    certs n1 n2 n3
    ports=$(free_ports 6)
    for mode in off prefer require; do
        write_config "$work/$mode.yaml" "$mode" on n1 n2 n3
    done
    lc=("$src/deploy/local-cluster")
    opts=(--run-dir "$work/run" --bin-dir "$bin" --timeout 20)
    NODENET_ROOT_PASSWORD=secret-pw "${lc[@]}" start --config "$work/off.yaml" "${opts[@]}" || fail "start"
    for n in n1 n2 n3; do
        "${lc[@]}" mesh-up "$n" --config "$work/off.yaml" "${opts[@]}" || fail "mesh not up for $n"
    done
    for mode in prefer require; do
        # Traffic from every node to every peer for as long as the rolling restart takes;
        # each driver runs on a node that is restarted, so drive from the nodes in turn:
        # the driver on node X covers the restarts of the other two.
        for n in n1 n2 n3; do
            others=$(echo n1 n2 n3 | tr ' ' '\n' | grep -vx "$n" | tr '\n' ' ')
            "$admin" --config "$(cat "$work/run/$n.config")" --node "$n" drive --rate 200 --size 128 \
                --seconds 12 --json >"$work/drive-$mode-$n.json" 2>"$work/drive-$mode-$n.err" &
            drv=$!
            pids+=("$drv")
            for o in $others; do
                NODENET_ROOT_PASSWORD=secret-pw "${lc[@]}" restart "$o" --config "$work/$mode.yaml" "${opts[@]}" ||
                    fail "restart $o to $mode"
                "${lc[@]}" mesh-up "$o" --config "$work/$mode.yaml" "${opts[@]}" || fail "$o mesh after restart"
            done
            wait "$drv" || fail "drive on $n during $mode rollout: $(cat "$work/drive-$mode-$n.json" "$work/drive-$mode-$n.err")"
            grep -q '"failed":0' "$work/drive-$mode-$n.json" || fail "failed calls: $(cat "$work/drive-$mode-$n.json")"
        done
    done
    # Everything is on require now: every channel encrypted.
    for n in n1 n2 n3; do
        "$admin" --config "$work/require.yaml" --node "$n" mesh --json >"$work/mesh-$n.json" || fail "mesh $n"
        "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["channels"] and all(c["encrypted"] for c in d["channels"]) else 1)' \
            "$work/mesh-$n.json" || fail "plaintext channel left on $n: $(cat "$work/mesh-$n.json")"
    done
    ;;

*)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
echo "ok [$case_name]"
