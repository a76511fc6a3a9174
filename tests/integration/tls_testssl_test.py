#!/usr/bin/python3
"""rel_20: a testssl.sh scan of a node's MySQL port (STARTTLS via the MySQL prologue) and
RPC port (raw TLS after the sniff) finds nothing at MEDIUM or above, apart from what any
private CA draws: no CRL distribution point or OCSP URI in the certificates. The cluster CA
is passed with --add-ca, so the chain of trust is checked for real (and asserted OK).

The scan runs the protocol (-p), cipher category (-s), forward secrecy (-f), server
preference (-P), server defaults and certificate (-S), vulnerability (-U) and cipher per
protocol (-E) checks; it skips client simulation and HTTP header checks, which say nothing
about a MySQL or RPC port and take most of a default run. Both ports are scanned at once.
Exits 77 when testssl (Debian's testssl.sh, deploy/install-deps) is not installed.

    tls_testssl_test.py --bin BUILD/bin --src SOURCE
"""
import argparse
import json
import os
import shutil
import random
import socket
import subprocess
import sys
import tempfile
import time

# What a node with certificates from a private CA always draws: its certificates name no
# CRL distribution point and no OCSP responder (revocation is security.crl_file, checked by
# the node itself), and no public DNS holds a CAA record for 127.0.0.1.
PRIVATE_CA_FINDINGS = {"cert_revocation", "cert_crlDistributionPoints", "cert_ocspURL",
                       "OCSP_stapling", "cert_mustStapleExtension", "DNS_CAArecord"}
SEVERE = {"MEDIUM", "HIGH", "CRITICAL"}


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def free_ports(n):
    """n distinct free ports below the kernel's ephemeral range: a port picked inside it
    can be taken as a client's source port while a node restarts on it."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    lo, hi = (10000, low - 1) if low > 12000 else (61000, 65535)
    socks, ports = [], []
    while len(ports) < n:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", random.randint(lo, hi)))
        except OSError:
            s.close()
            continue
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def scan(tmp, name, port, starttls):
    out = os.path.join(tmp, name + ".json")
    cmd = ["testssl", "--quiet", "--color", "0", "--warnings", "off", "--connect-timeout", "10",
           "--openssl-timeout", "10", "--add-ca", os.path.join(tmp, "certs", "ca.pem"),
           "--jsonfile", out, "-p", "-s", "-f", "-P", "-S", "-U", "-E"]
    if starttls:
        cmd += ["-t", starttls]
    cmd.append("127.0.0.1:%d" % port)
    log = open(os.path.join(tmp, name + ".txt"), "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp), out, log


def findings(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail("no testssl JSON in %s: %s" % (path, e))


def judge(name, items, expect):
    """Fails on a severe finding outside the private-CA set, or an expected one missing."""
    by_id = {}
    for f in items:
        by_id.setdefault(f["id"], []).append(f)
    bad = [f for f in items if f["severity"] in SEVERE and f["id"] not in PRIVATE_CA_FINDINGS]
    problems = [f for f in items if f["id"] == "scanProblem" or f["severity"] == "FATAL"]
    for f in items:
        if f["severity"] not in ("OK", "INFO", "DEBUG"):
            print("  %s: %-8s %-28s %s" % (name, f["severity"], f["id"], f["finding"][:100]))
    if bad:
        fail("%s: findings at MEDIUM or above: %s" % (name, json.dumps(bad, indent=1)))
    if problems:
        fail("%s: the scan had problems: %s" % (name, json.dumps(problems, indent=1)))
    for fid, want in expect.items():
        got = [f["severity"] + " " + f["finding"] for f in by_id.get(fid, [])]
        if not any(want in g for g in got):
            fail("%s: %s should say %r, says %r" % (name, fid, want, got))
    print("  %s: clean (%d findings, scan %s s)" % (
        name, len(items), by_id.get("scanTime", [{"finding": "?"}])[0]["finding"]), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    args = ap.parse_args()
    args.bin, args.src = os.path.abspath(args.bin), os.path.abspath(args.src)
    if shutil.which("testssl") is None:
        print("SKIP: testssl is not installed (Debian's testssl.sh; deploy/install-deps)")
        sys.exit(77)
    if shutil.which("mariadb") is None:
        print("SKIP: the mariadb CLI is not installed (deploy/install-deps)")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="nn-testssl-")
    subprocess.run([os.path.join(args.src, "deploy", "gen-certs"), os.path.join(tmp, "certs"),
                    "n1"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([os.path.join(args.src, "deploy", "gen-certs"), os.path.join(tmp, "certs"),
                    "--crl"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mysql_port, rpc_port = free_ports(2)
    with open(os.path.join(tmp, "cluster.yaml"), "w") as f:
        f.write("""cluster: { name: scan, id: 20 }
nodes:
  - { name: n1, host: 127.0.0.1, mysql_port: %d, rpc_port: %d }
security:
  ca_file: certs/ca.pem
  cert_file: certs/%%n-cert.pem
  key_file: certs/%%n-key.pem
  crl_file: certs/crl.pem
  mysql_tls: on
  rpc_tls: require
  tool_subjects: ["/C=CN/O=nodenet/CN=nodenet-admin"]
  admin_cert_file: certs/admin-cert.pem
  admin_key_file: certs/admin-key.pem
node: { workers: 2, data_dir: data/%%n, handshake_timeout_ms: 10000 }
""" % (mysql_port, rpc_port))
    log_path = os.path.join(tmp, "n1.log")
    node = subprocess.Popen([os.path.join(args.bin, "nodenet"), "--config",
                             os.path.join(tmp, "cluster.yaml"), "--node", "n1"],
                            stdout=subprocess.DEVNULL, stderr=open(log_path, "w"),
                            env=dict(os.environ, NODENET_ROOT_PASSWORD="rootpw"), cwd=tmp)
    ok = False
    try:
        # Readiness from this process: its fresh log says node.ready and both ports accept.
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if node.poll() is not None:
                fail("the node exited: " + open(log_path).read()[-3000:])
            with open(log_path) as f:
                if "node.ready" in f.read() and port_open(mysql_port) and port_open(rpc_port):
                    break
            time.sleep(0.05)
        else:
            fail("the node did not become ready")
        runs = [scan(tmp, "mysql", mysql_port, "mysql"), scan(tmp, "rpc", rpc_port, None)]
        for p, _, log in runs:
            try:
                p.wait(timeout=900)
            except subprocess.TimeoutExpired:
                p.kill()
                fail("testssl did not finish in 900 s")
            log.close()
        judge("mysql port", findings(runs[0][1]), {
            "cert_chain_of_trust": "OK passed",
            "SSLv3": "not offered", "TLS1": "not offered", "TLS1_1": "not offered",
            "TLS1_2": "OK offered", "TLS1_3": "OK offered",
            "cipherlist_AVERAGE": "not offered",  # testssl 3.0's id for the CBC suites
            "cipherlist_3DES_IDEA": "not offered", "cipher_order": "OK server",
            "LUCKY13": "OK not vulnerable", "secure_client_renego": "OK not vulnerable",
        })
        judge("rpc port", findings(runs[1][1]), {
            "cert_chain_of_trust": "OK passed",
            "SSLv3": "not offered", "TLS1": "not offered", "TLS1_1": "not offered",
            "TLS1_2": "not offered", "TLS1_3": "OK offered",
        })
        # After the scan (thousands of handshakes, many refused) the node serves as before.
        r = subprocess.run(["mariadb", "-h", "127.0.0.1", "-P", str(mysql_port), "-u", "root",
                            "-prootpw", "--ssl", "--ssl-ca", os.path.join(tmp, "certs", "ca.pem"),
                            "--ssl-verify-server-cert", "-N", "-B", "-e", "SELECT CURRENT_USER()"],
                           capture_output=True, text=True, timeout=60)
        if r.stdout.strip() != "root@%":
            fail("a good MySQL client after the scan: %s %s" % (r.stdout, r.stderr))
        r = subprocess.run([os.path.join(args.bin, "nodenet-admin"), "--config",
                            os.path.join(tmp, "cluster.yaml"), "--node", "n1", "status", "--json"],
                           capture_output=True, text=True, timeout=60, cwd=tmp)
        if r.returncode != 0 or '"admin_connection_encrypted":true' not in r.stdout:
            fail("a good RPC tool client after the scan: %s %s" % (r.stdout, r.stderr))
        ok = True
    finally:
        if node.poll() is None:
            node.terminate()
            try:
                node.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp, flush=True)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
