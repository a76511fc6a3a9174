#!/usr/bin/env bash
# Runs tests/lib/events_test.c with fresh certificates and free ports.
#   events_test.sh EVENTS_BIN GEN_CERTS
set -euo pipefail
bin=$1 gen=$2
tmp=$(mktemp -d /tmp/nn-lib-events.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp/certs" n1 n2 >/dev/null 2>&1
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$bin" "$tmp/certs" "$tmp/data" "$(port)" "$(port)" "$(port)" "$(port)" 2>"$tmp/err.log" || {
    echo "---- library log ----"; tail -60 "$tmp/err.log"; exit 1; }
