# tests/integration/mysql_lib.sh: helpers for mysql/'s integration tests (sourced).
# Each test: its own temp dir, its own free ports, a real nodenet node, real clients.
# Waits are bounded polls on readiness, never fixed sleeps. Stops only what it started.

: "${NODENET_BIN:?NODENET_BIN must point at build/bin/nodenet}"
: "${GEN_CERTS:?GEN_CERTS must point at deploy/gen-certs}"

T_DIR=$(mktemp -d /tmp/nn-mysql-test.XXXXXX)
T_PORTS_FILE="$T_DIR/ports.given"
: >"$T_PORTS_FILE"
NODE_PID=""
PASSED=0
FAILED=0

t_cleanup() {
    if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
        kill "$NODE_PID" 2>/dev/null || true
        wait "$NODE_PID" 2>/dev/null || true
    fi
    if [ "$FAILED" -ne 0 ] && [ -f "$T_DIR/node.log" ]; then
        echo "---- node log (last 40 lines) ----"
        tail -40 "$T_DIR/node.log"
    fi
    [ -n "${KEEP:-}" ] || rm -rf "$T_DIR"
}
trap t_cleanup EXIT

free_port() { # below the ephemeral range (a port there can be taken as a client's source
    # port while a node restarts on it), and never one this test was given already
    local given="$T_PORTS_FILE" p
    p=$(/usr/bin/python3 -c '
import random, socket, sys
given = set(open(sys.argv[1]).read().split()) if sys.argv[1] else set()
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
lo, hi = (10000, low - 1) if low > 12000 else (61000, 65535)
while True:
    port = random.randint(lo, hi)
    if str(port) in given:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    print(port)
    break' "$given")
    echo "$p" >>"$given"
    echo "$p"
}

# make_certs: the cluster PKI in $T_DIR/certs and an unrelated CA in $T_DIR/other.
make_certs() {
    "$GEN_CERTS" "$T_DIR/certs" n1 >/dev/null 2>&1
    "$GEN_CERTS" "$T_DIR/other" n1 >/dev/null 2>&1
}

# write_config MYSQL_TLS REQUIRE_SECURE: (re)writes $T_DIR/cluster.yaml.
write_config() {
    cat >"$T_DIR/cluster.yaml" <<YAML
cluster: { name: mysqltest, id: 11 }
nodes:
  - { name: n1, host: 127.0.0.1, mysql_port: $MYSQL_PORT, rpc_port: $RPC_PORT }
security:
  ca_file: certs/ca.pem
  cert_file: certs/%n-cert.pem
  key_file: certs/%n-key.pem
  mysql_tls: $1
  require_secure_transport: $2
  rpc_tls: off
node:
  workers: 2
  data_dir: data/%n
  handshake_timeout_ms: ${HANDSHAKE_MS:-3000}
  idle_timeout_ms: ${IDLE_MS:-28800000}
  max_packet_bytes: ${MAX_PACKET:-67108864}
  max_connections: ${MAX_CONNECTIONS:-10000}
YAML
}

# start_node: starts n1 and waits (bounded) until it logs node.ready and the port accepts.
# Each run writes a fresh $T_DIR/node.log (the previous one moves to node.runN.log first),
# so node.ready can only come from the new process, never from a line an earlier run left.
NODE_RUNS=0
start_node() {
    if [ -f "$T_DIR/node.log" ]; then
        NODE_RUNS=$((NODE_RUNS + 1))
        mv "$T_DIR/node.log" "$T_DIR/node.run$NODE_RUNS.log"
    fi
    NODENET_ROOT_PASSWORD=${ROOT_PW:-rootpw} "$NODENET_BIN" --config "$T_DIR/cluster.yaml" \
        --node n1 >"$T_DIR/node.log" 2>&1 &
    NODE_PID=$!
    for _ in $(seq 200); do
        if grep -q 'node.ready' "$T_DIR/node.log" 2>/dev/null &&
            /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',$MYSQL_PORT),1).close()" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$NODE_PID" 2>/dev/null; then
            echo "node exited early"; cat "$T_DIR/node.log"; exit 1
        fi
        sleep 0.05
    done
    echo "node did not become ready"; cat "$T_DIR/node.log"; exit 1
}

stop_node() {
    kill "$NODE_PID"
    wait "$NODE_PID" 2>/dev/null || true
    NODE_PID=""
}

# reload_node: SIGHUP and wait (bounded) for the node.reload line.
reload_node() {
    local before
    before=$(grep -c 'node.reload ' "$T_DIR/node.log" || true)
    kill -HUP "$NODE_PID"
    for _ in $(seq 200); do
        if [ "$(grep -c 'node.reload ' "$T_DIR/node.log" || true)" -gt "$before" ]; then
            return 0
        fi
        sleep 0.05
    done
    echo "node did not reload"; tail "$T_DIR/node.log"; exit 1
}

check() { # check NAME EXPECTED_SUBSTRING OUTPUT
    # A here-string, not a pipe: grep -q may exit at its match before printf has written
    # everything, and under pipefail printf's SIGPIPE would fail a passing check.
    if grep -qF -- "$2" <<<"$3"; then
        PASSED=$((PASSED + 1))
        echo "ok   $1"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $1: expected '$2' in:"
        printf '%s\n' "$3" | sed 's/^/    /'
    fi
}

check_not() { # check_not NAME UNEXPECTED_SUBSTRING OUTPUT
    # A here-string, not a pipe: grep -q may exit at its match before printf has written
    # everything, and under pipefail printf's SIGPIPE would fail a passing check.
    if grep -qF -- "$2" <<<"$3"; then
        FAILED=$((FAILED + 1))
        echo "FAIL $1: did not expect '$2' in:"
        printf '%s\n' "$3" | sed 's/^/    /'
    else
        PASSED=$((PASSED + 1))
        echo "ok   $1"
    fi
}

finish() {
    # Stop the node first so that a sanitizer build gets to report leaks at exit.
    if [ -n "$NODE_PID" ]; then
        stop_node
    fi
    if grep -qE "(ERROR|WARNING): [A-Za-z]+Sanitizer|runtime error:" "$T_DIR"/node*.log; then
        FAILED=$((FAILED + 1))
        echo "FAIL node sanitizer report:"
        grep -A20 -E "(ERROR|WARNING): [A-Za-z]+Sanitizer|runtime error:" "$T_DIR"/node*.log |
            head -60
    fi
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
