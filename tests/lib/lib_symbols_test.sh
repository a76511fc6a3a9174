#!/usr/bin/env bash
# libnodenet exports only the API and nothing of BoringSSL:
#   - every defined dynamic symbol of libnodenet.so is nn_-prefixed (plus the symbol
#     version node NODENET_<major>) and every name of lib/exports.txt is there;
#   - libnodenet.so has no DT_NEEDED on BoringSSL (it is dlopen'ed privately);
#   - libnodenet.a's only global definitions are the same nn_ names.
#   lib_symbols_test.sh LIBNODENET_SO LIBNODENET_A EXPORTS_TXT
set -euo pipefail
so=$1 a=$2 exports=$3
fail=0
bad=$(nm -D --defined-only "$so" | awk '{print $NF}' | sed 's/@.*//' | grep -Ev '^(nn_[a-z0-9_]+|NODENET_[0-9]+)$' || true)
if [ -n "$bad" ]; then
    echo "FAIL: libnodenet.so exports non-API symbols:"; echo "$bad" | head -20; fail=1
fi
missing=$(comm -23 <(grep '^nn_' "$exports" | sort -u) \
    <(nm -D --defined-only "$so" | awk '{print $NF}' | sed 's/@.*//' | sort -u))
if [ -n "$missing" ]; then
    echo "FAIL: API names not exported by libnodenet.so:"; echo "$missing"; fail=1
fi
if readelf -d "$so" | grep -E 'NEEDED.*\[lib(ssl|crypto)\.so' ; then
    echo "FAIL: libnodenet.so links BoringSSL (or OpenSSL) directly"; fail=1
fi
bssl=$(nm -D "$so" | awk '{print $NF}' | grep -E '^(SSL|X509|EVP|BIO|ERR|RAND|SHA|PEM|RSA|BN|CRYPTO|OPENSSL)_' || true)
if [ -n "$bssl" ]; then
    echo "FAIL: libnodenet.so names OpenSSL-style symbols:"; echo "$bssl" | head; fail=1
fi
bad_a=$(nm "$a" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -Ev '^nn_' || true)
if [ -n "$bad_a" ]; then
    echo "FAIL: libnodenet.a defines non-API globals:"; echo "$bad_a" | head -20; fail=1
fi
count=$(nm -D --defined-only "$so" | grep -c ' nn_' || true)
[ "$fail" -eq 0 ] && echo "ok: libnodenet.so exports $count nn_ symbols and nothing else"
exit "$fail"
