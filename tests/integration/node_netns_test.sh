#!/usr/bin/env bash
# A 3-node cluster with every node on its own "host": one network namespace per node, each
# with one veth into a bridge that lives in a fourth namespace (the switch, which also
# plays the operator's machine at 10.77.0.254). Nothing is added to the namespace the test
# runs in, and every namespace is deleted at the end, on failure too.
#   node_netns_test.sh BIN_DIR SOURCE_DIR
# Shows: certificates that name the node's address (gen-certs --host), the mesh up in both
# directions with rpc_tls require across addresses that are not loopback, traffic with no
# failed call, nodenet-admin from another host, and the mariadb CLI verifying the server's
# certificate against the address it dialled. Exits 77 (skipped) where namespaces cannot
# be made: not root, no `ip`, or the kernel/container refuses.
set -euo pipefail

bin=$1
src=$2
nodenet=$bin/nodenet
admin=$bin/nodenet-admin
py=/usr/bin/python3
SKIP=77

skip() {
    echo "SKIP: $*" >&2
    exit $SKIP
}
[ "$(id -u)" = 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "no 'ip' command (iproute2)"

# Short and unique: interface and namespace names of parallel runs must not clash.
tag=nn$$
sw=$tag-sw
names=(n1 n2 n3)
made=()
pids=()
work=$(mktemp -d /tmp/nn-netns-XXXXXX)
cleanup() {
    local p ns
    for p in "${pids[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    for ns in "${made[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    [ -n "${NODENET_TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL [netns]: $*" >&2
    for f in "$work"/*.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

wait_for() { # wait_for CMD...: polls CMD every 0.1 s for up to 20 s
    local deadline=$((SECONDS + 20))
    until "$@"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# Probe: a container without CAP_SYS_ADMIN, or without /run writable, refuses here.
if ! ip netns add "$sw" 2>"$work/probe.err"; then
    skip "cannot create a network namespace: $(cat "$work/probe.err")"
fi
made+=("$sw")
if ! ip -n "$sw" link add br0 type bridge 2>"$work/probe.err"; then
    skip "cannot create a bridge inside a namespace: $(cat "$work/probe.err")"
fi
ip -n "$sw" link set lo up
ip -n "$sw" addr add 10.77.0.254/24 dev br0
ip -n "$sw" link set br0 up
i=0
for n in "${names[@]}"; do
    i=$((i + 1))
    ip netns add "$tag-$n" || fail "ip netns add $tag-$n"
    made+=("$tag-$n")
    # The veth is made in the switch and its other end moved straight into the node.
    ip -n "$sw" link add "v$n" type veth peer name eth0 netns "$tag-$n" || fail "veth for $n"
    ip -n "$sw" link set "v$n" master br0 up
    ip -n "$tag-$n" link set lo up
    ip -n "$tag-$n" addr add "10.77.0.$i/24" dev eth0
    ip -n "$tag-$n" link set eth0 up
done
in_sw() { ip netns exec "$sw" "$@"; }

"$src/deploy/gen-certs" "$work/certs" --host n1=10.77.0.1 --host n2=10.77.0.2 \
    --host n3=10.77.0.3 n1 n2 n3 >/dev/null 2>&1 || fail "gen-certs --host"
openssl x509 -in "$work/certs/n2-cert.pem" -noout -ext subjectAltName | grep -q "IP Address:10.77.0.2" ||
    fail "n2's certificate does not name 10.77.0.2"

# Every node on its own host: the default ports for all of them.
cat >"$work/cluster.yaml" <<'EOF'
cluster: { name: netns, id: 77 }
nodes:
  - { name: n1, host: 10.77.0.1, mysql_port: 2881, rpc_port: 2882 }
  - { name: n2, host: 10.77.0.2, mysql_port: 2881, rpc_port: 2882 }
  - { name: n3, host: 10.77.0.3, mysql_port: 2881, rpc_port: 2882 }
security:
  ca_file: certs/ca.pem
  cert_file: certs/%n-cert.pem
  key_file: certs/%n-key.pem
  mysql_tls: on
  require_secure_transport: on
  rpc_tls: require
  tool_subjects: ["/C=CN/O=nodenet/CN=nodenet-admin"]
  admin_cert_file: certs/admin-cert.pem
  admin_key_file: certs/admin-key.pem
node:
  workers: 2
  data_dir: data/%n
EOF
"$nodenet" --config "$work/cluster.yaml" --check >/dev/null || fail "--check"

for n in "${names[@]}"; do
    rm -f "$work/$n.log" # node.ready below must come from this run only
    NODENET_ROOT_PASSWORD=secret-pw ip netns exec "$tag-$n" "$nodenet" --config "$work/cluster.yaml" \
        --node "$n" >"$work/$n.log" 2>&1 &
    pids+=($!)
done
for n in "${names[@]}"; do
    wait_for grep -q " node.ready node=$n " "$work/$n.log" || fail "$n did not log node.ready"
done

# mesh_ok N: N's two channels ready, TLS 1.3, each with its peer's certificate; and the
# peers' hellos came from their own addresses (the listener checks the source address
# against the config, so an accepted peer proves the packet crossed the bridge).
mesh_ok() {
    local n=$1
    in_sw "$admin" --config "$work/cluster.yaml" --node "$n" mesh --json >"$work/mesh-$n.json" 2>/dev/null ||
        return 1
    "$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
peers = {c["peer"]: c for c in d["channels"]}
ok = set(peers) == set(sys.argv[2:]) and all(
    c["state"] == "ready" and c["encrypted"] and c["tls_version"] == "TLSv1.3"
    and c["peer_subject"] == "/C=CN/O=nodenet/CN=" + p for p, c in peers.items())
sys.exit(0 if ok else 1)' "$work/mesh-$n.json" $(printf '%s\n' "${names[@]}" | grep -vx "$n")
}
for n in "${names[@]}"; do
    wait_for mesh_ok "$n" || fail "$n's mesh is not up with TLS: $(cat "$work/mesh-$n.json")"
done
for n in "${names[@]}"; do
    for p in "${names[@]}"; do
        [ "$p" = "$n" ] && continue
        grep -q "rpc.accept node=$n peer=$p tool=0 tls=TLSv1.3" "$work/$n.log" ||
            fail "$n never accepted $p's channel over TLS"
    done
done

# The admin tool from the operator's host, over TLS, sees the node it dialled.
out=$(in_sw "$admin" --config "$work/cluster.yaml" --node n3 status --json) || fail "admin status n3"
echo "$out" | grep -q '"node":"n3".*"admin_connection_encrypted":true' || fail "status said: $out"

# Traffic from every node to every peer at once, across the bridge: no call may fail.
drv=()
for n in "${names[@]}"; do
    in_sw "$admin" --config "$work/cluster.yaml" --node "$n" drive --rate 200 --size 512 \
        --seconds 2 --json >"$work/drive-$n.json" 2>"$work/drive-$n.err" &
    drv+=($!)
    pids+=($!)
done
for i in 0 1 2; do
    n=${names[$i]}
    wait "${drv[$i]}" || fail "drive on $n: $(cat "$work/drive-$n.json" "$work/drive-$n.err")"
    "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["failed"] == 0 and d["sent"] > 0 and d["succeeded"] == d["sent"] else 1)' \
        "$work/drive-$n.json" || fail "drive on $n: $(cat "$work/drive-$n.json")"
done

# MySQL across hosts: the client checks that n2's certificate names 10.77.0.2.
if ! command -v mariadb >/dev/null; then
    echo "note: no mariadb CLI; the MySQL part is skipped" >&2
else
    out=$(in_sw mariadb -h 10.77.0.2 -P 2881 -u root -psecret-pw --ssl --ssl-ca="$work/certs/ca.pem" \
        --ssl-verify-server-cert --connect-timeout=5 -N -B \
        -e "SHOW SESSION STATUS LIKE 'Ssl_version'" 2>&1) || fail "mariadb to 10.77.0.2: $out"
    echo "$out" | grep -q "TLSv1" || fail "MySQL session not encrypted: $out"
    # require_secure_transport: a plaintext login from another host is refused.
    if out=$(in_sw mariadb -h 10.77.0.3 -P 2881 -u root -psecret-pw --ssl=0 --connect-timeout=5 \
        -N -B -e "SELECT 1" 2>&1); then
        fail "plaintext MySQL login accepted with require_secure_transport: $out"
    fi
    echo "$out" | grep -q "3159\|secure transport" || fail "plaintext refusal unclear: $out"
fi

for p in "${pids[@]:0:3}"; do
    kill -TERM "$p"
done
for i in 0 1 2; do
    wait_for eval "! kill -0 ${pids[$i]} 2>/dev/null" || fail "${names[$i]} did not stop on SIGTERM"
    rc=0
    wait "${pids[$i]}" || rc=$?
    [ $rc -eq 0 ] || fail "${names[$i]} exited $rc after SIGTERM"
done
for f in "$work"/*.log; do
    if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$f"; then
        fail "sanitizer report in $f: $(grep -m 3 "ERROR: \|runtime error:" "$f")"
    fi
done
echo "ok [netns]"
