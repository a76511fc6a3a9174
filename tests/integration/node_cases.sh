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
    # NODENET_TEST_KEEP=1 keeps the temp dir (logs, configs, drive results) for a look.
    [ -n "${NODENET_TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL [$case_name]: $*" >&2
    for f in "$work"/*.log "$work"/run/*.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

# N distinct free ports, held open together while chosen so they differ. They come from
# below the kernel's ephemeral range: a port picked there can be taken, between the pick
# and the node's bind, as the local port of any outgoing connection on the machine (the
# benchmarks open thousands), and the node then fails with "Address already in use".
free_ports() {
    "$py" -c '
import random, socket, sys
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
hi = low - 1 if low > 12000 else 65535
lo = 10000 if low > 12000 else 61000
socks = []
while len(socks) < int(sys.argv[1]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(lo, hi)))
    except OSError:
        s.close()
        continue
    socks.append(s)
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
log_count() { grep -c -- "$2" "$1" 2>/dev/null || true; }
log_grew() { [ "$(log_count "$1" "$2")" -gt "$3" ]; } # log_grew FILE PATTERN COUNT_BEFORE
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
  heartbeat_ms: 1000
  call_timeout_ms: 5000
EOF
    } >"$file"
}

certs() {
    "$src/deploy/gen-certs" "$work/certs" "$@" >/dev/null 2>&1 || fail "gen-certs failed"
}

start_node() { # start_node NAME CONFIG -> sets node_pid, log at $work/NAME.log
    # A fresh log for each run: the previous run's log moves aside here, before the start,
    # so that node.ready can only come from the new process (a `>` in the child truncates
    # too late: the poll below could still read the old run's line).
    [ -f "$work/$1.log" ] && mv "$work/$1.log" "$(mktemp "$work/$1.prev.XXXXXX.log")"
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
        # Each node in turn is restarted into $mode while the two others drive traffic to
        # every peer (it among them) from before its SIGTERM until after its mesh is back.
        for n in n1 n2 n3; do
            drv=()
            for o in n1 n2 n3; do
                [ "$o" = "$n" ] && continue
                before=$(log_count "$work/run/$o.log" " rpc.drive.start node=$o ")
                "$admin" --config "$(cat "$work/run/$o.config")" --node "$o" drive --rate 200 --size 128 \
                    --seconds 9 --json >"$work/drive-$mode-$n-$o.json" 2>"$work/drive-$mode-$n-$o.err" &
                drv+=("$o:$!")
                pids+=("$!")
                wait_for log_grew "$work/run/$o.log" " rpc.drive.start node=$o " "$before" ||
                    fail "drive on $o did not start: $(cat "$work/drive-$mode-$n-$o.err")"
            done
            t0=$SECONDS
            NODENET_ROOT_PASSWORD=secret-pw "${lc[@]}" restart "$n" --config "$work/$mode.yaml" "${opts[@]}" ||
                fail "restart $n to $mode"
            "${lc[@]}" mesh-up "$n" --config "$work/$mode.yaml" "${opts[@]}" || fail "$n mesh after restart"
            for d in "${drv[@]}"; do
                kill -0 "${d#*:}" 2>/dev/null ||
                    fail "drive on ${d%%:*} ended before $n was back ($((SECONDS - t0)) s; raise --seconds)"
            done
            for d in "${drv[@]}"; do
                o=${d%%:*}
                f=$work/drive-$mode-$n-$o
                wait "${d#*:}" || fail "drive on $o while $n restarted into $mode: $(cat "$f.json" "$f.err")"
                "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["failed"] == 0 and d["sent"] > 0 and d["succeeded"] == d["sent"] else 1)' \
                    "$f.json" || fail "drive on $o while $n restarted into $mode: $(cat "$f.json")"
            done
        done
    done
    # Everything is on require now: every channel encrypted.
    for n in n1 n2 n3; do
        "$admin" --config "$work/require.yaml" --node "$n" mesh --json >"$work/mesh-$n.json" || fail "mesh $n"
        "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["channels"] and all(c["encrypted"] for c in d["channels"]) else 1)' \
            "$work/mesh-$n.json" || fail "plaintext channel left on $n: $(cat "$work/mesh-$n.json")"
    done
    ;;

admin_prefer_falls_back_to_plaintext_only_for_a_node_with_tls_off)
    certs n1
    "$src/deploy/gen-certs" "$work/other" n1 >/dev/null 2>&1 || fail "gen-certs (other CA)"
    ports=$(free_ports 2)
    write_config "$work/off.yaml" off on n1
    write_config "$work/prefer.yaml" prefer on n1
    # What the admin tool reads: prefer, and broken variants of its TLS set-up that it
    # cannot see by itself: an admin certificate of a CA the node does not trust (the tool
    # trusts both CAs), one whose subject is not in tool_subjects, and a CA that does not
    # sign the node's certificate.
    cat "$work/certs/ca.pem" "$work/other/ca.pem" >"$work/both-ca.pem"
    sed 's#ca_file: .*#ca_file: both-ca.pem#; s#admin_cert_file: .*#admin_cert_file: other/admin-cert.pem#; s#admin_key_file: .*#admin_key_file: other/admin-key.pem#' \
        "$work/prefer.yaml" >"$work/admin-foreign-cert.yaml"
    sed 's#admin_cert_file: .*#admin_cert_file: certs/client-cert.pem#; s#admin_key_file: .*#admin_key_file: certs/client-key.pem#' \
        "$work/prefer.yaml" >"$work/admin-not-a-tool.yaml"
    sed 's#ca_file: .*#ca_file: other/ca.pem#; s#admin_cert_file: .*#admin_cert_file: other/admin-cert.pem#; s#admin_key_file: .*#admin_key_file: other/admin-key.pem#' \
        "$work/prefer.yaml" >"$work/admin-foreign-ca.yaml"
    admin_status() { # admin_status CONFIG -> JSON on stdout, error on $work/admin.err
        "$admin" --config "$1" --node n1 status --json 2>"$work/admin.err"
    }
    # 1. The node has rpc_tls off: a prefer tool falls back and says its link is plaintext.
    start_node n1 "$work/off.yaml"
    out=$(admin_status "$work/prefer.yaml") || fail "prefer admin vs TLS-off node: $(cat "$work/admin.err")"
    echo "$out" | grep -q '"admin_connection_encrypted":false' || fail "status said: $out"
    # Against a node without TLS, certificate mistakes do not show: the link is plaintext.
    for v in foreign-cert not-a-tool foreign-ca; do
        admin_status "$work/admin-$v.yaml" >/dev/null || fail "admin-$v vs TLS-off node: $(cat "$work/admin.err")"
    done
    kill -TERM "$node_pid"
    wait_for gone "$node_pid" || fail "n1 did not stop"
    # 2. The node speaks TLS (prefer, so it would take a plaintext tool): every TLS failure
    #    must end the attempt, never fall back to plaintext.
    start_node n1 "$work/prefer.yaml"
    out=$(admin_status "$work/prefer.yaml") || fail "prefer admin vs prefer node: $(cat "$work/admin.err")"
    echo "$out" | grep -q '"admin_connection_encrypted":true' || fail "status said: $out"
    if out=$(admin_status "$work/admin-foreign-cert.yaml"); then
        fail "node refused the admin certificate, yet the tool got in: $out"
    fi
    grep -q "closed the TLS handshake" "$work/admin.err" && fail "refusal misread as TLS off: $(cat "$work/admin.err")"
    grep -qi "certificate\|alert\|tls" "$work/admin.err" || fail "unclear error: $(cat "$work/admin.err")"
    if out=$(admin_status "$work/admin-not-a-tool.yaml"); then
        fail "node refused the tool's subject, yet the tool got in: $out"
    fi
    grep -q "not in tool_subjects" "$work/admin.err" || fail "unclear error: $(cat "$work/admin.err")"
    if out=$(admin_status "$work/admin-foreign-ca.yaml"); then
        fail "the tool did not trust the node's certificate, yet it got in: $out"
    fi
    grep -qi "certificate\|verify" "$work/admin.err" || fail "unclear error: $(cat "$work/admin.err")"
    # A node that is down is not a node with TLS off either.
    kill -TERM "$node_pid"
    wait_for gone "$node_pid" || fail "n1 did not stop"
    admin_status "$work/prefer.yaml" >/dev/null && fail "admin succeeded against a stopped node"
    grep -q "closed the TLS handshake" "$work/admin.err" && fail "a stopped node read as TLS off"
    ;;

sighup_rollout_off_prefer_require_without_restart_loses_no_call)
    # The same rollout as above without restarting anything: the one config file every
    # node reads is rewritten, and each node in turn takes SIGHUP and renegotiates its
    # channels, while every node drives traffic to its peers the whole time.
    certs n1 n2 n3
    ports=$(free_ports 6)
    names=(n1 n2 n3)
    for mode in off prefer require; do
        write_config "$work/$mode.yaml" "$mode" on "${names[@]}"
    done
    cp "$work/off.yaml" "$work/cluster.yaml"
    declare -A npid mode_of
    for n in "${names[@]}"; do
        start_node "$n" "$work/cluster.yaml"
        npid[$n]=$node_pid
        mode_of[$n]=off
    done
    # mesh_json N: N's channels (prefer.yaml reaches a node in any mode: the tool falls
    # back to plaintext for a node that still has rpc_tls off).
    mesh_json() { "$admin" --config "$work/prefer.yaml" --node "$1" mesh --json 2>/dev/null; }
    # settled: every channel of every node is ready and encrypted as its two ends' modes
    # demand: a prefer or require dialler whose last (re)negotiation saw a TLS listener
    # holds TLS; anything touching a require node holds TLS; an off end is plaintext.
    # Channels a reload did not touch may keep plaintext under prefer (by design), so
    # only what the last reload of node $1 must have renegotiated is checked strictly.
    settled() {
        local x=$1 n
        for n in "${names[@]}"; do
            mesh_json "$n" >"$work/mesh-$n.json" || return 1
        done
        "$py" - "$work" "$x" "${names[@]/%/=}" <<EOF_PY
import json, sys
work, x = sys.argv[1], sys.argv[2]
modes = {$(for n in "${names[@]}"; do printf '"%s": "%s", ' "$n" "${mode_of[$n]}"; done)}
for n in modes:
    chans = {c["peer"]: c for c in json.load(open("%s/mesh-%s.json" % (work, n)))["channels"]}
    if set(chans) != set(modes) - {n}:
        sys.exit(1)
    for p, c in chans.items():
        if c["state"] != "ready":
            sys.exit(1)
        if "off" in (modes[n], modes[p]):
            want = False
        elif "require" in (modes[n], modes[p]) and x in (n, p):
            want = True
        elif n == x:
            want = True  # x just renegotiated with TLS first; p takes TLS
        else:
            continue
        if c["encrypted"] != want:
            sys.exit(1)
EOF_PY
    }
    wait_for settled none || fail "mesh not up: $(cat "$work"/mesh-*.json)"
    prev=off
    for mode in prefer require; do
        # Drivers are started through $prev.yaml so that their own tool connection is one
        # every node keeps under the new mode too (a plaintext tool is sent a goodbye by a
        # node that turns to require).
        drv=()
        for n in "${names[@]}"; do
            before=$(log_count "$work/$n.log" " rpc.drive.start node=$n ")
            "$admin" --config "$work/$prev.yaml" --node "$n" drive --rate 150 --size 128 \
                --seconds 16 --json >"$work/drive-$mode-$n.json" 2>"$work/drive-$mode-$n.err" &
            drv+=($!)
            pids+=($!)
            wait_for log_grew "$work/$n.log" " rpc.drive.start node=$n " "$before" ||
                fail "drive on $n did not start: $(cat "$work/drive-$mode-$n.err")"
        done
        cp "$work/$mode.yaml" "$work/cluster.yaml.new"
        mv "$work/cluster.yaml.new" "$work/cluster.yaml"
        for n in "${names[@]}"; do
            before=$(log_count "$work/$n.log" " node.reload node=$n .*rpc_tls=$mode")
            kill -HUP "${npid[$n]}"
            wait_for log_grew "$work/$n.log" " node.reload node=$n .*rpc_tls=$mode" "$before" ||
                fail "$n did not reload to $mode"
            mode_of[$n]=$mode
            wait_for settled "$n" || fail "$n's channels not renegotiated for $mode: $(cat "$work"/mesh-*.json)"
        done
        # The drivers must have outlived the rollout, or it ran partly without traffic.
        for i in 0 1 2; do
            kill -0 "${drv[$i]}" 2>/dev/null ||
                fail "drive on ${names[$i]} ended before the $mode rollout did (raise --seconds)"
        done
        for i in 0 1 2; do
            n=${names[$i]}
            wait "${drv[$i]}" || fail "drive on $n during $mode: $(cat "$work/drive-$mode-$n.json" "$work/drive-$mode-$n.err")"
            "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["failed"] == 0 and d["sent"] > 0 and d["succeeded"] == d["sent"] else 1)' \
                "$work/drive-$mode-$n.json" || fail "drive on $n during $mode: $(cat "$work/drive-$mode-$n.json")"
        done
        prev=$mode
    done
    for n in "${names[@]}"; do
        [ "$(log_count "$work/$n.log" "node.ready node=$n ")" = 1 ] || fail "$n was restarted"
        mesh_json "$n" >"$work/mesh-$n.json" || fail "mesh $n"
        "$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
ok = len(d["channels"]) == 2 and all(
    c["state"] == "ready" and c["encrypted"] and c["tls_version"] == "TLSv1.3"
    and c["peer_subject"] == "/C=CN/O=nodenet/CN=" + c["peer"] for c in d["channels"])
sys.exit(0 if ok else 1)' "$work/mesh-$n.json" || fail "after the rollout, $n has: $(cat "$work/mesh-$n.json")"
    done
    ;;

*)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
# Under -DNODENET_SANITIZE a node that hit a report may still have answered: its log says.
for f in "$work"/*.log "$work"/run/*.log; do
    [ -f "$f" ] || continue
    if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$f"; then
        fail "sanitizer report in $f: $(grep -m 3 "ERROR: \|runtime error:" "$f")"
    fi
done
echo "ok [$case_name]"
