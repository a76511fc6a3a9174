#!/usr/bin/env bash
# mysql/ end to end with libmariadb (and raw sockets) and PyMySQL: commands, result sets,
# multi-packet, max_allowed_packet, sequence errors, stalled clients, max_connections,
# plaintext after SSLRequest, and a live TLS reconfigure with sessions open.
#   mysql_clients_test.sh CLIENT_BIN PYMYSQL_SCRIPT
set -uo pipefail
. "$(dirname "$0")/mysql_lib.sh"
CLIENT_BIN=$1
PY_SCRIPT=$2

MYSQL_PORT=$(free_port)
RPC_PORT=$(free_port)
MAX_PACKET=$((20 * 1024 * 1024))
HANDSHAKE_MS=1500
MAX_CONNECTIONS=6
IDLE_MS=4000
make_certs
write_config on off
start_node
mariadb -h 127.0.0.1 -P "$MYSQL_PORT" -u root -prootpw --ssl --ssl-ca "$T_DIR/certs/ca.pem" \
    -e "CREATE USER 'nopw'@'%' IDENTIFIED WITH mysql_native_password" || exit 1

"$CLIENT_BIN" "$MYSQL_PORT" "$T_DIR/certs" "$MAX_PACKET" "$MAX_CONNECTIONS" "$IDLE_MS"
rc_c=$?
/usr/bin/python3 "$PY_SCRIPT" "$MYSQL_PORT" "$T_DIR/certs" "$T_DIR/cluster.yaml" "$NODE_PID" \
    "$T_DIR/node.log"
rc_py=$?
if kill -0 "$NODE_PID" 2>/dev/null; then
    PASSED=$((PASSED + 1)); echo "ok   node_still_serving"
else
    echo "FAIL node died"; FAILED=$((FAILED + 1))
fi
for rc in $rc_c $rc_py; do
    if [ "$rc" -eq 0 ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
done
finish
