#!/usr/bin/env bash
# MySQL's TLS status variables as MariaDB reports them for the same certificate: a private
# MariaDB (mariadb-server) and a node serve n1's certificate; the mariadb CLI reads
# Ssl_server_not_before/after, Ssl_version and Ssl_verify_mode from each (Ssl_verify_depth
# is each library's own: 100 in BoringSSL, unlimited in OpenSSL), and the node's
# Ssl_accepts / Ssl_finished_accepts count its handshakes. Exits 77 without mariadbd.
set -uo pipefail
. "$(dirname "$0")/mysql_lib.sh"
if ! command -v mariadbd >/dev/null || ! command -v mariadb-install-db >/dev/null; then
    echo "SKIP: mariadb-server is not installed"; exit 77
fi
MDB_PID=""
stop_mariadb() {
    if [ -n "$MDB_PID" ] && kill -0 "$MDB_PID" 2>/dev/null; then
        kill "$MDB_PID"; wait "$MDB_PID" 2>/dev/null || true
    fi
}
trap 'stop_mariadb; t_cleanup' EXIT
MYSQL_PORT=$(free_port)
RPC_PORT=$(free_port)
MDB_PORT=$(free_port)
make_certs
write_config on off
start_node
mkdir -p "$T_DIR/mdb"
mariadb-install-db --no-defaults --datadir="$T_DIR/mdb/data" --user=root \
    --auth-root-authentication-method=normal --skip-test-db >"$T_DIR/mdb/install.log" 2>&1 ||
    { echo "SKIP: mariadb-install-db failed"; tail "$T_DIR/mdb/install.log"; exit 77; }
mariadbd --no-defaults --datadir="$T_DIR/mdb/data" --user=root --bind-address=127.0.0.1 \
    --port="$MDB_PORT" --socket="$T_DIR/mdb/sock" --pid-file="$T_DIR/mdb/pid" \
    --log-error="$T_DIR/mdb/err.log" --skip-name-resolve --skip-log-bin \
    --innodb-buffer-pool-size=16M \
    --ssl-ca="$T_DIR/certs/ca.pem" --ssl-cert="$T_DIR/certs/n1-cert.pem" \
    --ssl-key="$T_DIR/certs/n1-key.pem" >"$T_DIR/mdb/out.log" 2>&1 &
MDB_PID=$!
for _ in $(seq 600); do
    mariadb-admin --no-defaults -S "$T_DIR/mdb/sock" -uroot ping >/dev/null 2>&1 && break
    kill -0 "$MDB_PID" 2>/dev/null || { echo "SKIP: mariadbd did not start"; tail "$T_DIR/mdb/err.log"; exit 77; }
    sleep 0.05
done
mariadb --no-defaults -S "$T_DIR/mdb/sock" -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY 'rootpw'; GRANT ALL ON *.* TO 'root'@'127.0.0.1';" ||
    { echo "SKIP: MariaDB user set-up failed"; exit 77; }
status() { # status PORT NAME
    mariadb --no-defaults -h 127.0.0.1 -P "$1" -u root -prootpw --ssl --ssl-ca="$T_DIR/certs/ca.pem" \
        --ssl-verify-server-cert -N -B -e "SHOW SESSION STATUS LIKE '$2'" 2>&1 | cut -f2
}
for v in Ssl_server_not_before Ssl_server_not_after Ssl_version Ssl_verify_mode; do
    want=$(status "$MDB_PORT" "$v")
    got=$(status "$MYSQL_PORT" "$v")
    if [ -n "$want" ] && [ "$want" = "$got" ]; then
        PASSED=$((PASSED + 1)); echo "ok   $v matches MariaDB ($got)"
    else
        FAILED=$((FAILED + 1)); echo "FAIL $v: MariaDB '$want', nodenet '$got'"
    fi
done
before=$(status "$MYSQL_PORT" Ssl_finished_accepts)
status "$MYSQL_PORT" Ssl_version >/dev/null
after=$(status "$MYSQL_PORT" Ssl_finished_accepts)
check ssl_finished_accepts_counts "$((before + 2))" "$after"
check ssl_cipher_list_names_the_cipher "AES" "$(status "$MYSQL_PORT" Ssl_cipher_list)"
plain_cipher=$(mariadb --no-defaults -h 127.0.0.1 -P "$MYSQL_PORT" -u root -prootpw --ssl=0 -N -B \
    -e "SHOW STATUS LIKE 'Ssl_cipher'" 2>&1)
if [ "$plain_cipher" = "Ssl_cipher	" ]; then
    PASSED=$((PASSED + 1)); echo "ok   ssl_cipher_empty_without_tls"
else
    FAILED=$((FAILED + 1)); echo "FAIL ssl_cipher_empty_without_tls: '$plain_cipher'"
fi
finish
