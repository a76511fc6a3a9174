#!/usr/bin/env bash
# A client certificate that logged in (and whose verdict the node remembers, see
# security/verify_cache.c) is refused after a CRL that revokes it is loaded; an account's
# REQUIRE SUBJECT/ISSUER is still checked at every login of a remembered certificate. One
# worker, so that every login meets the same cache. The mariadb CLI against a real node.
set -uo pipefail
. "$(dirname "$0")/mysql_lib.sh"

command -v openssl >/dev/null || {
    echo "SKIP: the openssl CLI is needed by deploy/gen-certs (apt-get install openssl)"
    exit 77
}
MYSQL_PORT=$(free_port)
RPC_PORT=$(free_port)
C=$T_DIR/certs
"$GEN_CERTS" "$C" n1 >/dev/null 2>&1 && "$GEN_CERTS" "$C" --crl >/dev/null 2>&1 || {
    echo "FAIL: cannot make the certificates"
    exit 1
}
# mysql_lib.sh's configuration, with the CRL and a single worker.
write_config on false
sed -i -e 's|^  key_file: .*|&\n  crl_file: certs/crl.pem|' -e 's|^  workers: 2$|  workers: 1|' \
    "$T_DIR/cluster.yaml"

# q USER [CERT KEY]: the mariadb CLI over TLS (server verified), "SELECT CURRENT_USER()".
q() {
    local args=(-h 127.0.0.1 -P "$MYSQL_PORT" -u "$1" -N -B --connect-timeout=10 --ssl
        --ssl-ca "$C/ca.pem" --ssl-verify-server-cert)
    [ "$1" = root ] && args+=(-prootpw) || args+=(-pupw)
    [ $# -ge 3 ] && args+=(--ssl-cert "$2" --ssl-key "$3")
    mariadb "${args[@]}" -e "SELECT CURRENT_USER()" 2>&1
}

start_node
out=$(mariadb -h 127.0.0.1 -P "$MYSQL_PORT" -u root -prootpw --ssl \
    --ssl-ca "$C/ca.pem" -e "
    CREATE USER 'x509u'@'%' IDENTIFIED BY 'upw' REQUIRE X509;
    CREATE USER 'subju'@'%' IDENTIFIED BY 'upw'
        REQUIRE SUBJECT '/C=CN/O=nodenet/CN=someone-else' AND ISSUER '/C=CN/O=nodenet/CN=nodenet-ca';" 2>&1)
check_not "accounts created" "ERROR" "$out"

for i in 1 2 3; do
    check "x509 login $i with the client certificate" "x509u@%" \
        "$(q x509u "$C/client-cert.pem" "$C/client-key.pem")"
done
check "x509 login without a certificate: 1045" "ERROR 1045" "$(q x509u)"
# The same (verified, remembered) certificate against an account whose subject differs.
for i in 1 2; do
    check "REQUIRE SUBJECT not met by a remembered certificate ($i): 1045" "ERROR 1045" \
        "$(q subju "$C/client-cert.pem" "$C/client-key.pem")"
done
check "the log says why" "SSL requirement not met" "$(cat "$T_DIR/node.log")"

# Revoke the client certificate that logged in; the node loads the new CRL.
"$GEN_CERTS" "$C" --revoke "$C/client-cert.pem" >/dev/null 2>&1
reload_node
check "CRL reloaded" "security.reloaded generation=" "$(cat "$T_DIR/node.log")"
for i in 1 2; do
    out=$(q x509u "$C/client-cert.pem" "$C/client-key.pem")
    check "revoked after it logged in: refused at the handshake ($i)" "certificate revoked" "$out"
    check_not "revoked after it logged in: not logged in ($i)" "x509u@%" "$out"
done
check "the log says revoked" "certificate verify failed: certificate revoked" "$(cat "$T_DIR/node.log")"
# Another certificate of the CA still gets in (root has no requirement).
check "a good certificate still logs in" "root@%" \
    "$(q root "$C/admin-cert.pem" "$C/admin-key.pem")"

# ---- default_authentication_plugin: mysql_native_password (MariaDB's default) is what the
# greeting names; native accounts answer it at once, caching_sha2 ones after a switch, and an
# unknown account is refused as a wrong password would be.
greeting_plugin() {
    /usr/bin/python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
hdr = s.recv(4, socket.MSG_WAITALL)
body = s.recv(hdr[0] | hdr[1] << 8 | hdr[2] << 16, socket.MSG_WAITALL)
print(body.rstrip(b"\0").rsplit(b"\0", 1)[-1].decode())' "$MYSQL_PORT"
}
check "greeting names caching_sha2_password by default" "caching_sha2_password" "$(greeting_plugin)"
sed -i 's|^  workers: 1$|&\n  default_authentication_plugin: mysql_native_password|' "$T_DIR/cluster.yaml"
reload_node
check "greeting names mysql_native_password once set" "mysql_native_password" "$(greeting_plugin)"
out=$(mariadb -h 127.0.0.1 -P "$MYSQL_PORT" -u root -prootpw -N -B --ssl --ssl-ca "$C/ca.pem" -e "
    CREATE USER 'nat'@'%' IDENTIFIED WITH mysql_native_password BY 'upw';
    SELECT @@default_authentication_plugin;" 2>&1)
check "the variable says it" "mysql_native_password" "$out"
check "native account logs in" "nat@%" "$(q nat)"
check "caching_sha2 account logs in (after a switch)" "root@%" "$(q root)"
check "wrong password: 1045" "ERROR 1045" "$(mariadb -h 127.0.0.1 -P "$MYSQL_PORT" -u nat -pbad \
    --ssl --ssl-ca "$C/ca.pem" -e "SELECT 1" 2>&1)"
check "unknown account: 1045" "ERROR 1045" "$(mariadb -h 127.0.0.1 -P "$MYSQL_PORT" -u nobody \
    -pupw --ssl --ssl-ca "$C/ca.pem" -e "SELECT 1" 2>&1)"
check "unknown account: the log says why" 'user=nobody host=127.0.0.1 tls=TLSv1.3 reason="no such account"' \
    "$(cat "$T_DIR/node.log")"

echo "passed=$PASSED failed=$FAILED"
[ "$FAILED" -eq 0 ]
