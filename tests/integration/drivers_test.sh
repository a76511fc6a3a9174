#!/usr/bin/env bash
# The driver matrix: one real driver against a bare nodenet node (the administrative handler).
#   drivers_test.sh DRIVER MODE [ARG...]
# DRIVER: libmariadb | pymysql | mysqlclient | mysql2 | go | java | php | sqlrandom
#         (sqlrandom: random statements of the admin grammar through PyMySQL, see
#         drivers_sql_random.py; syntax errors are its point, so the log is not checked)
# MODE:   text      TLS with the server certificate verified, a REQUIRE X509 user with a
#                   client certificate, what the driver sends on connect, text queries (and
#                   the driver's client-side parameters where it has them);
#         prepared  the same login, then the driver's server-side prepared statements with
#                   parameters (COM_STMT_PREPARE / EXECUTE).
# ARG: the libmariadb client binary; for mysql2 the npm cache dir.
#
# Every client prints "ok NAME" / "FAIL NAME" per check. Exit 77 (ctest SKIP) with the reason
# when the driver is not installed and cannot be.
#
# The node runs with --log-level debug, so that every statement the admin handler refuses
# (mysql.sql.error) and every command it does not know (mysql.command.unknown) is in its log:
# any such line fails the test (the drivers' connect paths must all be answered).
set -uo pipefail
driver=$1
mode=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)

skip() {
    echo "SKIP: $*"
    exit 77
}

# ------------------------------------------------------------ is the driver there?
case "$driver" in
libmariadb)
    client_bin=$1
    [ -x "$client_bin" ] || skip "the libmariadb client was not built (libmariadb-dev missing)"
    ;;
pymysql | sqlrandom)
    /usr/bin/python3 -c 'import pymysql' 2>/dev/null ||
        skip "python3-pymysql is not installed (deploy/install-deps installs it)"
    ;;
mysqlclient)
    /usr/bin/python3 -c 'import MySQLdb' 2>/dev/null ||
        skip "python3-mysqldb is not installed (deploy/install-deps installs it)"
    ;;
mysql2)
    cache=$1
    command -v node >/dev/null 2>&1 || skip "node is not installed"
    if [ ! -f "$cache/node_modules/mysql2/package.json" ]; then
        command -v npm >/dev/null 2>&1 || skip "npm is not installed"
        mkdir -p "$cache" || skip "cannot create $cache"
        # Into a fresh dir, then moved: a half-finished install is never taken for a cache.
        staging=$(mktemp -d "$cache/.install.XXXXXX")
        if ! timeout 300 npm install --prefix "$staging" --no-audit --no-fund --no-save \
            --loglevel=error mysql2 >"$staging/npm.log" 2>&1; then
            tail -5 "$staging/npm.log"
            rm -rf "$staging"
            skip "npm cannot install mysql2 (no registry?)"
        fi
        [ -d "$cache/node_modules" ] || mv "$staging/node_modules" "$cache/node_modules" 2>/dev/null
        rm -rf "$staging"
        [ -f "$cache/node_modules/mysql2/package.json" ] || skip "mysql2 did not land in $cache"
    fi
    ;;
go)
    command -v go >/dev/null 2>&1 || skip "golang-go is not installed (deploy/install-deps)"
    [ -d /usr/share/gocode/src/github.com/go-sql-driver/mysql ] ||
        skip "golang-github-go-sql-driver-mysql-dev is not installed (deploy/install-deps)"
    ;;
java)
    command -v java >/dev/null 2>&1 || skip "default-jre-headless is not installed (deploy/install-deps)"
    java_jar=/usr/share/java/mariadb-java-client.jar
    [ -f "$java_jar" ] || skip "libmariadb-java is not installed (deploy/install-deps)"
    command -v openssl >/dev/null 2>&1 || skip "openssl is needed to make the PKCS#12 key store"
    ;;
php)
    command -v php >/dev/null 2>&1 || skip "php-cli is not installed (deploy/install-deps)"
    php_modules=$(php -m 2>/dev/null) # not piped into grep -q: SIGPIPE under pipefail
    grep -qx mysqli <<<"$php_modules" && grep -qx pdo_mysql <<<"$php_modules" ||
        skip "php-mysql (mysqli, pdo_mysql) is not installed (deploy/install-deps)"
    ;;
*)
    echo "unknown driver $driver"
    exit 2
    ;;
esac

# ------------------------------------------------------------ the node and the accounts
. "$here/mysql_lib.sh"
MYSQL_PORT=$(free_port)
RPC_PORT=$(free_port)
make_certs
write_config on off
NODENET_ROOT_PASSWORD=rootpw "$NODENET_BIN" --config "$T_DIR/cluster.yaml" --node n1 \
    --log-level debug >>"$T_DIR/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 400); do
    if grep -q "node.ready" "$T_DIR/node.log" 2>/dev/null &&
        /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',$MYSQL_PORT),1).close()" 2>/dev/null; then
        break
    fi
    kill -0 "$NODE_PID" 2>/dev/null || { echo "node exited early"; cat "$T_DIR/node.log"; exit 1; }
    sleep 0.05
done
grep -q "node.ready" "$T_DIR/node.log" || { echo "node did not become ready"; exit 1; }

# The driver's account: REQUIRE X509, so the login itself proves the client certificate.
mariadb -h 127.0.0.1 -P "$MYSQL_PORT" -u root -prootpw --ssl --ssl-ca "$T_DIR/certs/ca.pem" \
    --ssl-verify-server-cert \
    -e "CREATE USER 'drv'@'%' IDENTIFIED BY 'drv-pw' REQUIRE X509" || {
    echo "cannot create the driver's account"
    exit 1
}
# Only what the driver sends from here on is checked against the log.
log_from=$(($(wc -l <"$T_DIR/node.log") + 1))

export NN_PORT=$MYSQL_PORT NN_CERTS=$T_DIR/certs NN_OTHER_CA=$T_DIR/other/ca.pem
export NN_USER=drv NN_PASSWORD=drv-pw NN_MODE=$mode

run_client() {
    case "$driver" in
    libmariadb) timeout 120 "$client_bin" ;;
    pymysql | mysqlclient) timeout 120 /usr/bin/python3 "$here/drivers_python.py" "$driver" ;;
    sqlrandom) timeout 600 /usr/bin/python3 "$here/drivers_sql_random.py" ;;
    mysql2) NODE_PATH="$cache/node_modules" timeout 120 node "$here/drivers_mysql2.js" ;;
    go)
        mkdir -p "$T_DIR/go" && cp "$here/drivers_go.go" "$T_DIR/go/main.go"
        (cd "$T_DIR/go" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= \
            GOCACHE=${NN_GOCACHE:-$T_DIR/gocache} timeout 300 go build -o client main.go) ||
            return 1
        timeout 120 "$T_DIR/go/client"
        ;;
    java)
        # Connector/J reads the client key from a key store: PKCS#12 made from the PEM pair.
        openssl pkcs12 -export -in "$T_DIR/certs/client-cert.pem" \
            -inkey "$T_DIR/certs/client-key.pem" -out "$T_DIR/client.p12" \
            -passout pass:storepw -name client || return 1
        NN_KEYSTORE=$T_DIR/client.p12 timeout 180 java -cp "$java_jar" "$here/DriversJava.java"
        ;;
    php) timeout 120 php "$here/drivers_php.php" ;;
    esac
}

set +e
out=$(run_client 2>&1)
rc=$?
set -e
printf '%s\n' "$out"
if [ "$rc" -eq 0 ] && ! grep -q '^FAIL' <<<"$out"; then
    PASSED=$((PASSED + 1))
    echo "ok   $driver $mode client"
else
    FAILED=$((FAILED + 1))
    echo "FAIL $driver $mode client (exit $rc)"
fi
refused=$(tail -n +"$log_from" "$T_DIR/node.log" | grep -E "mysql\.sql\.error|mysql\.command\.unknown" || true)
if [ "$driver" = sqlrandom ]; then
    : # refused statements are what it sends on purpose
elif [ -z "$refused" ]; then
    PASSED=$((PASSED + 1))
    echo "ok   nothing $driver sent was refused"
else
    FAILED=$((FAILED + 1))
    echo "FAIL the node refused what $driver sent:"
    printf '%s\n' "$refused" | sed 's/^/    /'
fi
finish
