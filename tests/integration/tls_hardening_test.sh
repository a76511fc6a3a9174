#!/usr/bin/env bash
# TLS hardening on the MySQL port (issue 13, RELIABILITY.md rel_09 and rel_15 to rel_18) with
# real clients: the mariadb CLI and Debian's openssl s_client (-starttls mysql sends the
# MySQL greeting/SSLRequest prologue before its ClientHello). After every bad case a good
# client still logs in and queries.
#
# Client-certificate failures end the TLS handshake with an alert, as MySQL does with
# ssl-ca/ssl-crl (the server verifies a presented certificate and aborts on failure); a
# revoked certificate is one of them. A stale or unreadable CRL fails closed: a node does not
# start with one, and a reload to one keeps the old store and says why.
set -uo pipefail
. "$(dirname "$0")/mysql_lib.sh"

command -v openssl >/dev/null || {
    echo "SKIP: the openssl CLI is needed (apt-get install openssl)"
    exit 77
}
MYSQL_PORT=$(free_port)
RPC_PORT=$(free_port)
# The PKI of security/'s unit tests: a (the cluster CA, crl.pem revoking revoked/client),
# b (another CA), expired, future, revoked, stale (a stale CRL of a), eku (wrong usages).
bash "$(dirname "$0")/../unit/pki/mkpki.sh" "$GEN_CERTS" "$T_DIR/pki" >/dev/null 2>&1 || {
    echo "FAIL: cannot make the PKI"
    exit 1
}
P=$T_DIR/pki
mkdir -p "$T_DIR/certs"
cp "$P"/a/*.pem "$T_DIR/certs/"
C=$T_DIR/certs

cat >"$T_DIR/cluster.yaml" <<YAML
cluster: { name: tlstest, id: 13 }
nodes:
  - { name: n1, host: 127.0.0.1, mysql_port: $MYSQL_PORT, rpc_port: $RPC_PORT }
security:
  ca_file: certs/ca.pem
  cert_file: certs/%n-cert.pem
  key_file: certs/%n-key.pem
  crl_file: certs/crl.pem
  mysql_tls: on
  rpc_tls: off
node:
  workers: 2
  data_dir: data/%n
  handshake_timeout_ms: 5000
YAML

# q MODE [CERT KEY]: the mariadb CLI as root, "SELECT CURRENT_USER()" (prints root@% when
# it got in).
q() {
    local mode=$1
    local args=(-h 127.0.0.1 -P "$MYSQL_PORT" -u root -prootpw -N -B --connect-timeout=10
        --ssl --ssl-ca "$C/ca.pem" --ssl-verify-server-cert)
    case "$mode" in
    tls) ;;
    cert) args+=(--ssl-cert "$2" --ssl-key "$3") ;;
    esac
    mariadb "${args[@]}" -e "SELECT CURRENT_USER()" 2>&1
}
check_in() { # check_in NAME OUTPUT: exactly the logged-in answer
    if [ "$2" = "root@%" ]; then
        PASSED=$((PASSED + 1))
        echo "ok   $1"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $1: expected root@%, got: $2"
    fi
}
good() { # after each bad case: a good client (with a good certificate) still gets in
    check_in "$1: then a good client logs in and queries" "$(q cert "$C/client-cert.pem" "$C/client-key.pem")"
}
# sc ARGS...: openssl s_client after the MySQL prologue; prints its output.
sc() {
    timeout 20 openssl s_client -starttls mysql -connect "127.0.0.1:$MYSQL_PORT" \
        -CAfile "$C/ca.pem" "$@" </dev/null 2>&1
}
# reload_any: SIGHUP, then wait (bounded) for the node's verdict, success or failure.
reload_any() {
    local before
    before=$(grep -cE 'node\.reload( |\.failed )' "$T_DIR/node.log" || true)
    kill -HUP "$NODE_PID"
    for _ in $(seq 200); do
        if [ "$(grep -cE 'node\.reload( |\.failed )' "$T_DIR/node.log" || true)" -gt "$before" ]; then
            return 0
        fi
        sleep 0.05
    done
    echo "node did not answer the reload"
    exit 1
}
refused() { # refused NAME OUTPUT: s_client's handshake did not complete
    check "$1: no session" "Cipher is (NONE)" "$2"
}
denied_tls() { # denied_tls NAME OUTPUT: the mariadb CLI did not get in
    if [ "$2" != "root@%" ] && [[ "$2" == "ERROR 2026"* ]]; then
        PASSED=$((PASSED + 1))
        echo "ok   $1"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $1: expected a TLS error (2026), got: $2"
    fi
}

start_node
check_in "good client with certificate" "$(q cert "$C/client-cert.pem" "$C/client-key.pem")"
check_in "good client without certificate" "$(q tls)"

# ---- rel_09: only TLS 1.0/1.1, or only disabled (CBC, static RSA) ciphers: an alert
for v in -tls1 -tls1_1; do
    out=$(sc "$v" -cipher 'DEFAULT:@SECLEVEL=0')
    check "rel_09_old_protocol_alert $v" "alert protocol version" "$out"
    refused "rel_09 $v" "$out"
done
for cipher in ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA ECDHE-RSA-AES128-SHA AES128-GCM-SHA256 AES256-SHA; do
    out=$(sc -tls1_2 -cipher "$cipher:@SECLEVEL=0")
    check "rel_09_disabled_cipher_alert $cipher" "alert handshake failure" "$out"
    refused "rel_09 $cipher" "$out"
done
out=$(sc -tls1_2 -cipher 'ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256')
check "rel_09 TLS 1.2 uses the server's order" "Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" "$out"
check "rel_09 no renegotiation offered to a client" "Secure Renegotiation IS supported" "$out"
check "rel_09 no compression" "Compression: NONE" "$out"
# No resumption on the MySQL port (no tickets, no session cache): five reconnects offering
# the first session all get a full handshake.
out=$(sc -tls1_2 -reconnect)
check "mysql port: reconnects get full handshakes" "New, TLSv1.2" "$out"
check_not "mysql port: no session is resumed" "Reused, TLSv1" "$out"
good rel_09

# ---- rel_15: a client certificate from another CA: an alert
out=$(q cert "$P/b/client-cert.pem" "$P/b/client-key.pem")
check "rel_15_other_ca_client_cert_alert" "unknown ca" "$out"
denied_tls "rel_15 not logged in" "$out"
good rel_15

# ---- rel_16: expired and not-yet-valid client certificates: an alert
out=$(q cert "$P/expired/client-cert.pem" "$P/expired/client-key.pem")
check "rel_16_expired_client_cert_alert" "certificate expired" "$out"
denied_tls "rel_16 expired: not logged in" "$out"
out=$(q cert "$P/future/n1-cert.pem" "$P/future/n1-key.pem")
denied_tls "rel_16_not_yet_valid_client_cert_alert" "$out"
check "rel_16 not yet valid: the log says why" "certificate is not yet valid" "$(cat "$T_DIR/node.log")"
good rel_16

# ---- rel_17: a revoked client certificate with the CRL loaded: denied at the handshake
out=$(q cert "$P/revoked/client-cert.pem" "$P/revoked/client-key.pem")
check "rel_17_revoked_client_cert_alert" "certificate revoked" "$out"
denied_tls "rel_17 revoked: not logged in" "$out"
check "rel_17 the log says why" "certificate verify failed: certificate revoked" "$(cat "$T_DIR/node.log")"
good rel_17

# Revoke the good client certificate live: the file watcher (or SIGHUP) loads the new CRL.
"$GEN_CERTS" "$P/a" --revoke "$C/admin-cert.pem" >/dev/null 2>&1
cp "$P/a/crl.pem" "$C/crl.pem.tmp" && mv "$C/crl.pem.tmp" "$C/crl.pem"
reload_node
check "rel_17 CRL reloaded" "security.reloaded generation=" "$(tail -n +1 "$T_DIR/node.log")"
out=$(q cert "$C/admin-cert.pem" "$C/admin-key.pem")
check "rel_17_newly_revoked_cert_alert" "certificate revoked" "$out"
good "rel_17 newly revoked"

# A stale CRL on reload: the old store stays, the log says why.
cp "$P/stale/crl.pem" "$C/crl.pem.tmp" && mv "$C/crl.pem.tmp" "$C/crl.pem"
reload_any
check "rel_17_stale_crl_reload_refused" "is stale: its nextUpdate was" "$(grep 'reload' "$T_DIR/node.log" | tail -3)"
out=$(q cert "$P/revoked/client-cert.pem" "$P/revoked/client-key.pem")
check "rel_17 stale CRL: revoked still refused (old store)" "certificate revoked" "$out"
good "rel_17 stale reload"
# An unreadable CRL on reload: same.
rm -f "$C/crl.pem"
mkdir "$C/crl.pem"
reload_any
check "rel_17_unreadable_crl_reload_refused" "crl.pem: not a regular file" "$(grep 'reload' "$T_DIR/node.log" | tail -3)"
out=$(q cert "$P/revoked/client-cert.pem" "$P/revoked/client-key.pem")
check "rel_17 unreadable CRL: revoked still refused (old store)" "certificate revoked" "$out"
good "rel_17 unreadable reload"
stop_node

# At start: a stale or missing CRL stops the node with the file and the reason.
rmdir "$C/crl.pem"
cp "$P/stale/crl.pem" "$C/crl.pem"
out=$(NODENET_ROOT_PASSWORD=rootpw timeout 30 "$NODENET_BIN" --config "$T_DIR/cluster.yaml" --node n1 2>&1)
rc=$?
check "rel_17_stale_crl_at_start_refused" "security.crl_file: $C/crl.pem: CRL 1 (issuer /C=CN/O=nodenet/CN=nodenet-ca) is stale" "$out"
check_not "rel_17 stale CRL: exit status" "0" "$rc"
rm -f "$C/crl.pem"
out=$(NODENET_ROOT_PASSWORD=rootpw timeout 30 "$NODENET_BIN" --config "$T_DIR/cluster.yaml" --node n1 2>&1)
check "rel_17_missing_crl_at_start_refused" "security.crl_file: $C/crl.pem: cannot open" "$out"
cp "$P/a/crl.pem" "$C/crl.pem"
start_node "$(grep -c 'node.ready' "$T_DIR/node.log" || true)"
good "rel_17 restart with a good CRL"

# ---- rel_18: wrong extended key usage (serverAuth only) or key usage (keyEncipherment
# only, on an EC key): refused
out=$(q cert "$P/eku/eku-cert.pem" "$P/eku/eku-key.pem")
check "rel_18_wrong_eku_client_cert_refused" "unsupported certificate" "$out"
denied_tls "rel_18 eku: not logged in" "$out"
# TLS 1.3 (the mariadb CLI): the server checks the key usage of the CertificateVerify key.
out=$(q cert "$P/eku/ku-cert.pem" "$P/eku/ku-key.pem")
denied_tls "rel_18_wrong_key_usage_client_cert_refused" "$out"
check "rel_18 key usage: the log says why" "key usage bit incorrect" "$(tail -3 "$T_DIR/node.log")"
# TLS 1.2 (s_client): refused as a certificate not meant for client authentication.
out=$(sc -tls1_2 -cert "$P/eku/ku-cert.pem" -key "$P/eku/ku-key.pem")
check "rel_18_wrong_key_usage_tls12_alert" "alert unsupported certificate" "$out"
good rel_18

finish
