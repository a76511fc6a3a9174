#!/usr/bin/env bash
# node's mysql2 against a real nodenet node: TLS (ssl: {ca}) and plaintext sessions,
# SELECT 1, SELECT @@version, SHOW STATUS LIKE 'Ssl_cipher', a pool with a database, and a
# REQUIRE X509 user with and without a client certificate.
#   mysql_mysql2_test.sh CLIENT_JS CACHE_DIR
# mysql2 is installed with npm into CACHE_DIR once (kept for later runs). Exits 77 (ctest
# SKIP) with the reason when node or npm is missing or npm cannot install it.
set -uo pipefail
client_js=$1
cache=$2

skip() {
    echo "SKIP: $*"
    exit 77
}
command -v node >/dev/null 2>&1 || skip "node is not installed"
if [ ! -f "$cache/node_modules/mysql2/package.json" ]; then
    command -v npm >/dev/null 2>&1 || skip "npm is not installed"
    mkdir -p "$cache" || skip "cannot create $cache"
    # Into a fresh dir, then moved: a half-finished install is never taken for a cache.
    staging=$(mktemp -d "$cache/.install.XXXXXX")
    if ! timeout 300 npm install --prefix "$staging" --no-audit --no-fund --no-save \
        --loglevel=error mysql2 >"$staging/npm.log" 2>&1; then
        echo "npm install mysql2 failed:"
        tail -5 "$staging/npm.log"
        rm -rf "$staging"
        skip "npm cannot install mysql2 (no registry?)"
    fi
    if [ ! -d "$cache/node_modules" ]; then
        mv "$staging/node_modules" "$cache/node_modules" 2>/dev/null || true
    fi
    rm -rf "$staging"
    [ -f "$cache/node_modules/mysql2/package.json" ] || skip "mysql2 did not land in $cache"
fi
echo "mysql2 $(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$cache/node_modules/mysql2/package.json")"

set -e
. "$(dirname "$0")/mysql_lib.sh"
MYSQL_PORT=$(free_port)
RPC_PORT=$(free_port)
make_certs
write_config true false
# Debug log: the node then names every command and statement it refuses.
NODENET_ROOT_PASSWORD=mysql2-root-pw "$NODENET_BIN" --config "$T_DIR/cluster.yaml" --node n1 \
    --log-level debug >>"$T_DIR/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 200); do
    grep -q "node.ready" "$T_DIR/node.log" && break
    kill -0 "$NODE_PID" 2>/dev/null || { echo "node exited early"; cat "$T_DIR/node.log"; exit 1; }
    sleep 0.05
done
grep -q "node.ready" "$T_DIR/node.log" || { echo "node did not become ready"; exit 1; }

set +e
out=$(NODE_PATH="$cache/node_modules" timeout 120 node "$client_js" "$MYSQL_PORT" \
    "$T_DIR/certs" mysql2-root-pw 2>&1)
rc=$?
set -e
printf '%s\n' "$out"
if [ $rc -eq 0 ]; then
    PASSED=$((PASSED + 1))
    echo "ok   mysql2 client"
else
    FAILED=$((FAILED + 1))
    echo "FAIL mysql2 client (exit $rc)"
fi
# What mysql2 sends on connect and on its usual paths (prepared statements included) is
# all answered: no unknown command and no SQL error.
unexpected=$(grep -E "mysql.sql.error|mysql.command.unknown" "$T_DIR/node.log" || true)
if [ -z "$unexpected" ]; then
    PASSED=$((PASSED + 1))
    echo "ok   nothing mysql2 sent was refused"
else
    FAILED=$((FAILED + 1))
    echo "FAIL refused: $unexpected"
fi
finish
