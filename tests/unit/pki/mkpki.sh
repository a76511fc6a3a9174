#!/usr/bin/env bash
# tests/unit/pki/mkpki.sh GEN_CERTS DIR
#
# A throwaway PKI for security/'s tests, made once per test binary:
#   DIR/a        CA "A" (deploy/gen-certs): n1 n2 admin client
#   DIR/b        CA "B", unrelated to A (same subjects!): n1
#   DIR/expired  n1 signed by CA A, notAfter yesterday   (gen-certs --days -1 on A's key)
#   DIR/future   n1 signed by CA A, valid from 2040      (openssl ca -startdate)
#   DIR/rsa      n1 with an RSA 2048 key, signed by CA A
#   DIR/wallet   OceanBase wallet layout: ca.pem server-cert/key (n1) client-cert/key (n2)
#   DIR/revoked  n3, admin, client signed by CA A; n3 and client are revoked in DIR/a/crl.pem
#   DIR/a/crl.pem      CRL of A (gen-certs --revoke), nextUpdate in 30 days
#   DIR/stale/crl.pem  CRL of A, nextUpdate yesterday (gen-certs --crl --crl-days -1)
#   DIR/b/crl.pem      CRL of B (not of A)
#   DIR/eku      client signed by CA A with serverAuth only; keyusage: keyCertSign only
#
# Dates on Debian 12's openssl 3.0: `x509 -req -days -1` gives notAfter = now - 1 day (an
# expired certificate, no faketime needed), but x509/req have no -not_before before 3.4, so
# the not-yet-valid certificate goes through `openssl ca -startdate/-enddate` with a
# minimal throwaway CA database.
set -euo pipefail
gen=$1
dir=$2
mkdir -p "$dir"
"$gen" "$dir/a" n1 n2 2>/dev/null
"$gen" "$dir/b" n1 2>/dev/null

for sub in expired future rsa; do
    mkdir -p "$dir/$sub"
    cp "$dir/a/ca.pem" "$dir/a/ca-key.pem" "$dir/$sub/"
done
"$gen" "$dir/expired" --days -1 n1 2>/dev/null
"$gen" "$dir/rsa" --rsa n1 2>/dev/null

f=$dir/future
mkdir -p "$f/db/newcerts"
: >"$f/db/index.txt"
echo 1000 >"$f/db/serial"
cat >"$f/db/ca.cnf" <<CNF
[ ca ]
default_ca = ca_default
[ ca_default ]
database = $f/db/index.txt
new_certs_dir = $f/db/newcerts
serial = $f/db/serial
default_md = sha256
policy = policy_any
preserve = yes
unique_subject = no
[ policy_any ]
countryName = optional
organizationName = optional
commonName = supplied
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:n1,DNS:localhost,IP:127.0.0.1
CNF
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$f/n1-key.pem"
openssl req -new -key "$f/n1-key.pem" -subj "/C=CN/O=nodenet/CN=n1" -out "$f/db/n1.csr"
openssl ca -batch -config "$f/db/ca.cnf" -cert "$dir/a/ca.pem" -keyfile "$dir/a/ca-key.pem" \
    -startdate 20400101000000Z -enddate 20410101000000Z -extensions leaf -notext \
    -in "$f/db/n1.csr" -out "$f/n1-cert.pem" 2>/dev/null

w=$dir/wallet
mkdir -p "$w"
cp "$dir/a/ca.pem" "$w/ca.pem"
cp "$dir/a/n1-cert.pem" "$w/server-cert.pem"
cp "$dir/a/n1-key.pem" "$w/server-key.pem"
cp "$dir/a/n2-cert.pem" "$w/client-cert.pem"
cp "$dir/a/n2-key.pem" "$w/client-key.pem"

r=$dir/revoked
mkdir -p "$r" "$dir/stale"
cp "$dir/a/ca.pem" "$dir/a/ca-key.pem" "$r/"
cp "$dir/a/ca.pem" "$dir/a/ca-key.pem" "$dir/stale/"
"$gen" "$r" n3 2>/dev/null
"$gen" "$dir/a" --revoke "$r/n3-cert.pem" 2>/dev/null
"$gen" "$dir/a" --revoke "$r/client-cert.pem" 2>/dev/null
"$gen" "$dir/stale" --crl --crl-days -1 2>/dev/null
"$gen" "$dir/b" --crl 2>/dev/null

# Client certificates that must not be accepted for TLS client authentication (RFC 5280
# 4.2.1.12 and 4.2.1.3): an extended key usage of serverAuth only, and a key usage without
# digitalSignature.
e=$dir/eku
mkdir -p "$e"
for kind in eku ku; do
    if [ $kind = eku ]; then
        ext="keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth"
    else
        ext="keyUsage=critical,keyEncipherment\nextendedKeyUsage=clientAuth"
    fi
    printf "basicConstraints=critical,CA:FALSE\n$ext\n" >"$e/$kind.ext"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$e/$kind-key.pem"
    openssl req -new -key "$e/$kind-key.pem" -subj "/C=CN/O=nodenet/CN=mysql-client" \
        -out "$e/$kind.csr"
    openssl x509 -req -in "$e/$kind.csr" -CA "$dir/a/ca.pem" -CAkey "$dir/a/ca-key.pem" \
        -set_serial "0x$(openssl rand -hex 8 | sed 's/^./1/')" -days 30 -sha256 \
        -extfile "$e/$kind.ext" -out "$e/$kind-cert.pem" 2>/dev/null
done
