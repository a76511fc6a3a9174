#!/usr/bin/env bash
# Runs tests/lib/embed_openssl.c with fresh certificates and free ports.
#   embed_openssl_test.sh EMBED_BIN GEN_CERTS
set -euo pipefail
bin=$1 gen=$2
tmp=$(mktemp -d /tmp/nn-lib-embed.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp/certs" n1 n2 >/dev/null 2>&1
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Show which TLS libraries the process maps: BoringSSL must not appear until libnodenet
# loads it, and OpenSSL 3 comes with libmariadb.
ldd "$bin" | grep -E 'nodenet|mariadb|libssl|libcrypto' || true
"$bin" "$tmp/certs" "$tmp/data" "$(port)" "$(port)" "$(port)" "$(port)" 2>"$tmp/err.log" || {
    echo "---- library log ----"; tail -40 "$tmp/err.log"; exit 1; }
