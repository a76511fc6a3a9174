#!/usr/bin/env bash
# tests/faults/soak.sh: checklist L8 by hand (not in CI). A 3-node cluster with TLS on both
# ports (rpc_tls: require) carries RPC traffic (nodenet-admin drive on every node) and
# MySQL TLS logins (the mariadb CLI in a loop) for SOAK_SECONDS; every RELOAD_EVERY seconds
# each node is reloaded, and once, at the middle, the CA is rotated in three reloads:
# trust {old, new} -> swap every leaf to the new CA -> trust only the new CA.
#
#   tests/faults/soak.sh [RUN_DIR]          # SOAK_SECONDS=3600 RELOAD_EVERY=60 by default
#   SOAK_SECONDS=180 RELOAD_EVERY=20 tests/faults/soak.sh /tmp/soak   # a short rehearsal
#
# Exit 0 when nothing failed: 0 failed RPC calls, 0 failed logins, 0 failed reloads, and no
# failed TLS handshake in any node's log. Logs stay in RUN_DIR. Ports: 2981.. (override
# with SOAK_PORT_BASE).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${NODENET_BIN_DIR:-$repo/build/bin}
run=${1:-$(mktemp -d /tmp/nn-soak.XXXXXX)}
soak=${SOAK_SECONDS:-3600}
every=${RELOAD_EVERY:-60}
base=${SOAK_PORT_BASE:-2981}
admin=$bin/nodenet-admin
mkdir -p "$run"
run=$(cd "$run" && pwd)
cfg=$run/cluster.yaml
export NODENET_ROOT_PASSWORD=soakpw

"$repo/deploy/gen-certs" "$run/certs" n1 n2 n3 >/dev/null     # the old CA
"$repo/deploy/gen-certs" "$run/certs-new" n1 n2 n3 >/dev/null # the new one
cp "$run/certs/ca.pem" "$run/certs/ca-old.pem"
cat >"$cfg" <<EOF
cluster: { name: soak, id: 7 }
nodes:
  - { name: n1, host: 127.0.0.1, mysql_port: $base, rpc_port: $((base + 1)) }
  - { name: n2, host: 127.0.0.1, mysql_port: $((base + 10)), rpc_port: $((base + 11)) }
  - { name: n3, host: 127.0.0.1, mysql_port: $((base + 20)), rpc_port: $((base + 21)) }
security:
  ca_file: certs/ca.pem
  cert_file: certs/%n-cert.pem
  key_file: certs/%n-key.pem
  mysql_tls: on
  rpc_tls: require
  tool_subjects: ["/C=CN/O=nodenet/CN=nodenet-admin"]
  admin_cert_file: certs/admin-cert.pem
  admin_key_file: certs/admin-key.pem
node: { workers: 2, data_dir: data/%n }
EOF
lc() { "$repo/deploy/local-cluster" "$@" --config "$cfg" --run-dir "$run" --bin-dir "$bin"; }
lc start
trap 'lc stop || true' EXIT
for n in n1 n2 n3; do lc mesh-up $n >/dev/null; done

# Replaces a file atomically, so that a reload never reads half of it.
put() { cp "$1" "$2.tmp" && mv -f "$2.tmp" "$2"; }
reload_all() {
    for n in n1 n2 n3; do
        if ! "$admin" --config "$cfg" --node $n reload >>"$run/reloads.log" 2>&1; then
            echo "reload of $n failed" >>"$run/failures.log"
        fi
    done
}
rotate_ca() {
    echo "$(date -u +%FT%TZ) CA rotation: trust old + new" >>"$run/reloads.log"
    cat "$run/certs/ca-old.pem" "$run/certs-new/ca.pem" >"$run/ca-both.pem"
    put "$run/ca-both.pem" "$run/certs/ca.pem"
    reload_all
    sleep 5
    echo "$(date -u +%FT%TZ) CA rotation: leaves from the new CA" >>"$run/reloads.log"
    for f in n1 n2 n3 admin; do
        put "$run/certs-new/$f-key.pem" "$run/certs/$f-key.pem"
        put "$run/certs-new/$f-cert.pem" "$run/certs/$f-cert.pem"
    done
    reload_all
    sleep 5
    echo "$(date -u +%FT%TZ) CA rotation: trust only the new CA" >>"$run/reloads.log"
    put "$run/certs-new/ca.pem" "$run/certs/ca.pem"
    reload_all
}

# RPC traffic from every node to every peer, for the whole soak.
for n in n1 n2 n3; do
    "$admin" --config "$cfg" --node $n drive --rate 200 --size 512 --seconds "$soak" --json \
        >"$run/drive-$n.json" 2>&1 &
done
# MySQL TLS logins, one after another, each verified against the CA file of the moment.
(
    end=$((SECONDS + soak))
    while [ $SECONDS -lt $end ]; do
        port=$base
        if mariadb -h 127.0.0.1 -P $port -u root -p"$NODENET_ROOT_PASSWORD" --ssl \
            --ssl-ca="$run/certs/ca.pem" -N -e "SELECT 1" >/dev/null 2>>"$run/logins-failed.log"; then
            echo ok
        else
            echo failed
        fi
        sleep 0.2
    done >"$run/logins.log"
) &
logins=$!

start=$SECONDS
rotated=0
while [ $((SECONDS - start)) -lt "$soak" ]; do
    sleep "$every"
    [ $((SECONDS - start)) -lt "$soak" ] || break
    if [ $rotated = 0 ] && [ $((SECONDS - start)) -ge $((soak / 2)) ]; then
        rotate_ca
        rotated=1
    else
        reload_all
    fi
done
wait "$logins" || true
wait || true

fail=0
for n in n1 n2 n3; do
    echo "drive from $n: $(cat "$run/drive-$n.json")"
    grep -q '"failed":0,' "$run/drive-$n.json" || fail=1
done
ok=$(grep -c '^ok$' "$run/logins.log" || true)
bad=$(grep -c '^failed$' "$run/logins.log" || true)
echo "MySQL TLS logins: $ok ok, $bad failed"
[ "$bad" = 0 ] || fail=1
if [ -s "$run/failures.log" ]; then
    cat "$run/failures.log"
    fail=1
fi
# Failed handshakes on either port, and channels that broke instead of being replaced.
hs=$(grep -hE 'mysql\.tls\.error|TLS handshake|rpc\.channel\.refused|rpc\.refuse |rpc\.channel\.down' \
    "$run"/n*.log | grep -v 'closed before sending anything' || true)
if [ -n "$hs" ]; then
    echo "handshake failures or broken channels in the node logs:"
    echo "$hs" | head -20
    fail=1
fi
for n in n1 n2 n3; do "$admin" --config "$cfg" --node $n mesh || fail=1; done
[ $rotated = 1 ] || echo "note: the soak was too short for the CA rotation"
echo "soak $( [ $fail = 0 ] && echo PASSED || echo FAILED ); logs in $run"
exit $fail
