#!/usr/bin/env bash
# Protocol compression (zlib with the mariadb CLI's --compress, zlib and zstd with a raw
# client after a PyMySQL login) over TLS with the server verified, against a real node:
# the same rows as an uncompressed session, the Compression status, and a compression
# bomb refused while the node goes on serving.
set -uo pipefail
. "$(dirname "$0")/mysql_lib.sh"
MYSQL_PORT=$(free_port)
RPC_PORT=$(free_port)
make_certs
write_config on off
start_node
cli() {
    mariadb -h 127.0.0.1 -P "$MYSQL_PORT" -u root -prootpw --ssl --ssl-ca="$T_DIR/certs/ca.pem" \
        --ssl-verify-server-cert -N -B "$@" 2>&1
}
for q in "SHOW VARIABLES" "SELECT 1+1, 'text', NULL, @@version_comment" "SHOW COLLATION"; do
    plain=$(cli -e "$q" | sha256sum)
    packed=$(cli --compress -e "$q" | sha256sum)
    check "cli_compress_same_rows: $q" "$plain" "$packed"
done
check cli_compress_status_on "Compression	ON" "$(cli --compress -e "SHOW STATUS LIKE 'Compression'")"
check cli_plain_status_off "Compression	OFF" "$(cli -e "SHOW STATUS LIKE 'Compression'")"
check cli_compress_tls "TLSv1.3" "$(cli --compress -e "SHOW STATUS LIKE 'Ssl_version'")"
out=$(/usr/bin/python3 "$(dirname "$0")/mysql_compress_client.py" "$MYSQL_PORT" \
    "$T_DIR/certs/ca.pem" rootpw 2>&1)
rc=$?
printf '%s\n' "$out"
if [ $rc -eq 0 ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
finish
