#!/usr/bin/python3
"""Operator-facing integration tests (issue 14): TLS that heals itself, metrics, certificate
expiry. Real nodenet processes on 127.0.0.1, driven with nodenet-admin and curl; each case
has its own temp dir and free ports, waits on readiness by bounded polling, and stops only
the processes it started, by pid. Reuses rpc_cluster_test.py's cluster helpers.

    ops_test.py --bin BUILD/bin --src SOURCE CASE
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rpc_cluster_test as rt  # noqa: E402
from rpc_cluster_test import check, fail, wait_for  # noqa: E402


def rewrite_config(c, node, mode):
    """Rewrites the file `node` was started with so that it holds `mode` (for a SIGHUP)."""
    started_with = c.config(node)
    c.modes[node] = mode
    text = open(c.config(node, mode)).read()
    with open(started_with + ".tmp", "w") as f:
        f.write(text)
    os.replace(started_with + ".tmp", started_with)


def case_prefer_channel_heals_to_tls(tmp):
    """n1 (prefer) fell back to plaintext towards n2 (off). n2 reloads to prefer: n1's channel
    is back on TLS 1.3 within the heal backoff, make-before-break, with no failed call."""
    c = rt.Cluster(tmp)
    c.start("n2", "off")
    c.start("n1", "prefer")
    ch = wait_for("n1->n2 ready in plaintext", lambda: (lambda ch: ch if ch["state"] == "ready"
                                                        else None)(c.channel("n1", "n2")))
    check(not ch["encrypted"], repr(ch))
    check("rpc.tls.fallback node=n1 peer=n2" in c.log("n1"), "n1 did not log its fallback")
    # While n2 stays off, n1 keeps asking (and keeps its plaintext channel).
    wait_for("a refused TLS retry on n2", lambda: c.log("n2").count(
        "TLS ClientHello but rpc_tls is off") >= 2)
    check(c.channel("n1", "n2")["state"] == "ready", "the plaintext channel broke")
    drive = rt.drive_async(c, "n1", 200, 128, 14)
    wait_for("drive started", lambda: "rpc.drive.start node=n1" in c.log("n1"))
    rewrite_config(c, "n2", "prefer")
    c.procs["n2"].send_signal(signal.SIGHUP)
    wait_for("n2 reloaded", lambda: "node.reload node=n2" in c.log("n2"))
    # The heal backoff is at most 10 s (1 s doubling, with jitter below it).
    ch = wait_for("n1->n2 back on TLS", lambda: (lambda ch: ch if ch["encrypted"] else None)(
        c.channel("n1", "n2")), timeout=25)
    check(ch["state"] == "ready" and ch["tls_version"] == "TLSv1.3", repr(ch))
    check(re.search(r"rpc\.tls\.healed node=n1 peer=n2 tls=TLSv1\.3", c.log("n1")),
          "n1 did not log the heal")
    check(re.search(r"rpc\.channel\.up node=n1 peer=n2 tls=TLSv1\.3 .*replaced=1", c.log("n1")),
          "the heal was not make-before-break")
    res = rt.drive_result(drive)
    check(res["failed"] == 0 and res["sent"] > 0 and res["succeeded"] == res["sent"], repr(res))
    check("rpc.channel.down" not in c.log("n1"), "a channel broke on n1")
    return c


class OpsCluster(rt.Cluster):
    """A cluster whose nodes serve GET /metrics, with MySQL TLS on (the MySQL port comes
    from the same free-port pick as in rpc_cluster_test.py)."""

    def __init__(self, tmp, names=("n1", "n2"), extra_security=(), extra_node=()):
        super().__init__(tmp, names)
        self.metrics_ports = dict(zip(names, rt.free_ports(len(names))))
        self.extra_security = list(extra_security)
        self.extra_node = list(extra_node)

    def config(self, node, mode=None, admin_cert=None):
        path = super().config(node, mode, admin_cert)
        text = open(path).read()
        for n in self.names:
            text = text.replace("rpc_port: %d }" % self.ports[n][1], "rpc_port: %d, metrics_port: %d }"
                                % (self.ports[n][1], self.metrics_ports[n]))
        text = text.replace("security:\n", "security:\n  mysql_tls: on\n" + "".join(
            "  %s\n" % l for l in self.extra_security), 1)
        text = text.replace("node:\n", "node:\n" + "".join("  %s\n" % l for l in self.extra_node), 1)
        mine = path[:-5] + "-ops.yaml"
        try:
            if open(mine).read() == text:
                return mine
        except FileNotFoundError:
            pass
        with open(mine + ".tmp", "w") as f:
            f.write(text)
        os.replace(mine + ".tmp", mine)
        return mine


def curl(url, *extra):
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", url]
                       + list(extra), capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "curl %s: %s" % (url, r.stderr))
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


def metric(text, name, **labels):
    """The value of one sample; labels must match exactly the ones given (in any order)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    fail("no sample %s%r in:\n%s" % (name, labels, text[:4000]))


def check_exposition(text):
    """The Prometheus text format's grouping: each family has one TYPE line, and every
    sample follows its own family's TYPE line without another family in between."""
    seen, family, kind = set(), None, None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            check(family not in seen, "family %s appears twice" % family)
            seen.add(family)
            continue
        if not line or line.startswith("#"):
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        base = family
        if kind == "histogram":
            check(name in (family + "_bucket", family + "_sum", family + "_count"),
                  "sample %s inside histogram %s" % (name, family))
        else:
            check(name == base, "sample %s outside its family (inside %s)" % (name, family))
        check(re.match(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
                       r"[-+]?(\d+(\.\d*)?(e[-+]?\d+)?|\+Inf|NaN)$", line), "bad sample: " + line)


def mysql(c, node, user, password, *args, sql="SELECT 1"):
    """One mariadb CLI login (TLS, the cluster CA) running sql; returns (rc, output)."""
    certs = os.path.join(c.tmp, "certs")
    r = subprocess.run(["mariadb", "-h", "127.0.0.1", "-P", str(c.ports[node][0]), "-u", user,
                        "-p" + password, "--ssl", "--ssl-ca=" + os.path.join(certs, "ca.pem"),
                        "--connect-timeout=10", "-N", "-B", "-e", sql] + list(args),
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr + r.stdout


def client_cert_args(c):
    certs = os.path.join(c.tmp, "certs")
    return ["--ssl-cert=" + os.path.join(certs, "client-cert.pem"),
            "--ssl-key=" + os.path.join(certs, "client-key.pem")]


def case_metrics_scrape_counts_what_happened(tmp):
    """curl GET /metrics: the login and RPC counters equal what the test did."""
    if subprocess.run(["which", "mariadb"], capture_output=True).returncode != 0:
        print("SKIP: no mariadb CLI")
        sys.exit(77)
    c = OpsCluster(tmp)
    c.start("n1", "require")
    c.start("n2", "require")
    wait_for("n1->n2 ready", lambda: c.channel("n1", "n2")["state"] == "ready")
    ok, out = mysql(c, "n1", "root", "rootpw",
                    sql="CREATE USER 'x509u'@'%' IDENTIFIED BY 'pw1' REQUIRE X509; "
                    "CREATE USER 'issu'@'%' IDENTIFIED BY 'pw2' REQUIRE ISSUER "
                    "'/C=CN/O=nodenet/CN=some-other-ca'")
    check(ok == 0, "CREATE USER: %s" % out)
    logins_ok = 1
    for _ in range(2):
        rc, out = mysql(c, "n1", "root", "rootpw")
        check(rc == 0, out)
        logins_ok += 1
    for _ in range(3):
        rc, out = mysql(c, "n1", "root", "wrong")
        check(rc != 0 and "Access denied" in out, out)
    rc, out = mysql(c, "n1", "nobody", "x")
    check(rc != 0, out)
    rc, out = mysql(c, "n1", "x509u", "pw1")  # no client certificate
    check(rc != 0, out)
    rc, out = mysql(c, "n1", "x509u", "pw1", *client_cert_args(c))
    check(rc == 0, out)
    logins_ok += 1
    rc, out = mysql(c, "n1", "issu", "pw2", *client_cert_args(c))  # wrong issuer
    check(rc != 0, out)

    n2_before = curl("http://127.0.0.1:%d/metrics" % c.metrics_ports["n2"])[1]
    echo_before = metric(n2_before, "nodenet_rpc_server_calls_total", method="echo", outcome="ok")
    res = c.admin("n1", "drive", "--rate", "50", "--size", "64", "--seconds", "2")
    check(res["failed"] == 0 and res["sent"] > 0, repr(res))
    peer = res["peers"][0]
    check(peer["peer"] == "n2" and peer["succeeded"] == res["sent"] and
          0 < peer["p50_us"] <= peer["p90_us"] <= peer["p99_us"] <= peer["max_us"], repr(peer))

    code, text = curl("http://127.0.0.1:%d/metrics" % c.metrics_ports["n1"])
    check(code == 200, "status %d" % code)
    check(all(l.startswith("# ") or l.startswith("nodenet_") for l in text.splitlines() if l),
          "a line not named nodenet_*")
    check_exposition(text)
    check(metric(text, "nodenet_mysql_logins_total", outcome="ok", reason="ok") == logins_ok,
          "logins ok")
    check(metric(text, "nodenet_mysql_logins_total", outcome="denied", reason="password") == 3,
          "password denials")
    check(metric(text, "nodenet_mysql_logins_total", outcome="denied", reason="no_account") == 1,
          "unknown account")
    check(metric(text, "nodenet_mysql_logins_total", outcome="denied",
                 reason="ssl_requirement") == 2, "REQUIRE denials")
    check(metric(text, "nodenet_mysql_login_denials_by_require_total", clause="x509") == 1, "x509")
    check(metric(text, "nodenet_mysql_login_denials_by_require_total", clause="issuer") == 1,
          "issuer")
    check(metric(text, "nodenet_rpc_channel_state", peer="n2", state="ready") == 1, "state")
    check(metric(text, "nodenet_connections", listener="rpc_outbound", state="ready") == 1,
          "outbound connections")
    check(metric(text, "nodenet_connections", listener="rpc", state="open") >= 1,
          "n2's channel into n1")
    check(metric(text, "nodenet_connections_accepted_total", listener="mysql") >= 9, "accepts")
    check(metric(text, "nodenet_rpc_channel_tls", peer="n2", version="TLSv1.3") == 1, "tls")
    check(metric(text, "nodenet_rpc_client_calls_total", peer="n2", outcome="ok") >= res["sent"],
          "client calls")
    check(metric(text, "nodenet_rpc_client_call_duration_seconds_count", peer="n2") >=
          res["sent"], "latency count")
    check(metric(text, "nodenet_cert_not_after_seconds", role="server",
                 subject="/C=CN/O=nodenet/CN=n1") > 0, "cert gauge")
    check(metric(text, "nodenet_rpc_tls_handshakes_total", role="client", outcome="ok") >= 1,
          "handshakes")
    n2 = curl("http://127.0.0.1:%d/metrics" % c.metrics_ports["n2"])[1]
    served = metric(n2, "nodenet_rpc_server_calls_total", method="echo", outcome="ok") - echo_before
    check(served == res["sent"], "n2 served %d echo calls, n1 sent %d" % (served, res["sent"]))
    check(metric(n2, "nodenet_rpc_server_call_duration_seconds_count", method="echo") >=
          res["sent"], "served latency")
    # Only GET /metrics, and a bounded head.
    check(curl("http://127.0.0.1:%d/other" % c.metrics_ports["n1"])[0] == 404, "404")
    check(curl("http://127.0.0.1:%d/metrics" % c.metrics_ports["n1"], "-X", "POST")[0] == 405,
          "405")
    code, _ = curl("http://127.0.0.1:%d/metrics" % c.metrics_ports["n1"], "-H",
                   "X-Big: " + "a" * 9000)
    check(code == 431, "big head: %d" % code)
    # nodenet-admin metrics prints the same page.
    r = subprocess.run([os.path.join(rt.ARGS.bin, "nodenet-admin"), "--config", c.config("n1"),
                        "--node", "n1", "metrics"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, r.stderr)
    check(metric(r.stdout, "nodenet_mysql_logins_total", outcome="ok", reason="ok") == logins_ok,
          "admin metrics")
    # status --all: the cluster at a glance (the catalog digests agree once n2 has synced).
    admin = [os.path.join(rt.ARGS.bin, "nodenet-admin"), "--config", c.config("n1"), "--all"]

    def status_all():
        r = subprocess.run(admin + ["status", "--json"], capture_output=True, text=True,
                           timeout=60)
        return (r.returncode, json.loads(r.stdout))
    rc, d = wait_for("status --all agrees", lambda: (lambda x: x if x[1]["catalog_agrees"]
                                                     else None)(status_all()))
    check(rc == 0 and [n["node"] for n in d["nodes"]] == ["n1", "n2"], repr(d))
    for n in d["nodes"]:
        check(n["reached"] and n["version"] and n["rpc_tls"] == "require" and
              n["mysql_tls"] == "on" and n["channels_ready"] == n["channels_expected"] == 1 and
              n["cert_days_left"] > 800 and n["uptime_ms"] > 0, repr(n))
    r = subprocess.run(admin + ["status"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and re.search(r"^n2 +\S+ +\S+.* require +on +\d+ 1/1 +[0-9a-f]{12} "
                                          r"agrees$", r.stdout, re.M), r.stdout)
    c.stop("n2")
    rc, d = status_all()
    check(rc == 1 and not d["nodes"][1]["reached"] and d["nodes"][0]["channels_ready"] == 0,
          repr(d))
    return c


def short_lived_cert(certs, node, seconds):
    """Re-issues node's certificate (same key, same CA) valid for `seconds` from now; returns
    its not_after as unix seconds. openssl's CLI counts in days; this needs seconds."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    load = lambda f: open(os.path.join(certs, f), "rb").read()  # noqa: E731
    ca = x509.load_pem_x509_certificate(load("ca.pem"))
    ca_key = serialization.load_pem_private_key(load("ca-key.pem"), None)
    key = serialization.load_pem_private_key(load("%s-key.pem" % node), None)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nodenet"),
                      x509.NameAttribute(NameOID.COMMON_NAME, node)])
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(seconds=60))
            .not_valid_after(now + datetime.timedelta(seconds=seconds))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(node), x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    path = os.path.join(certs, "%s-cert.pem" % node)
    with open(path + ".tmp", "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(path + ".tmp", path)
    return int((now + datetime.timedelta(seconds=seconds)).timestamp())


def case_tls_session_renewed_before_cert_expiry(tmp):
    """n2 starts with a certificate that expires in 50 s. n1's channel to n2 is renewed
    make-before-break before it expires, with nothing on disk yet (the expiry timer, half
    the time left); then n2 gets a renewed certificate on disk (no SIGHUP: its file watcher
    loads it, and its reload renews the channels as SIGHUP's does), and n1's channel picks
    it up before the old one expires, with no failed call."""
    c = rt.Cluster(tmp)
    certs = os.path.join(tmp, "certs")
    short_after = short_lived_cert(certs, "n2", 50)
    c.start("n1", "require")
    c.start("n2", "require")
    wait_for("n1->n2 ready", lambda: c.channel("n1", "n2")["state"] == "ready")
    check(short_after > 0, "short-lived certificate")
    drive = rt.drive_async(c, "n1", 100, 64, 32)
    wait_for("drive started", lambda: "rpc.drive.start node=n1" in c.log("n1"))
    ok = wait_for("n1 renews its session to n2", lambda: re.search(
        r"rpc\.channel\.replace node=n1 peer=n2 reason=\"a certificate of the TLS session "
        r"expires in", c.log("n1")), timeout=60)
    check(ok, "no renewal")
    wait_for("the renewal up", lambda: re.search(
        r"rpc\.channel\.up node=n1 peer=n2 tls=TLSv1\.3 .*replaced=1", c.log("n1")[ok.end():]))
    # The renewed certificate (same key): gen-certs re-issues from the same CA. Only now: a
    # file watcher's reload renews the channel by itself, which would leave the expiry timer
    # nothing to do.
    mark = len(c.log("n1"))
    subprocess.run([os.path.join(rt.ARGS.src, "deploy", "gen-certs"), certs, "n2"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("n1->n2 on the renewed certificate", lambda: re.search(
        r"rpc\.channel\.up node=n1 peer=n2 tls=TLSv1\.3 .*replaced=1", c.log("n1")[mark:]),
        timeout=20)
    res = rt.drive_result(drive)
    check(res["failed"] == 0 and res["sent"] > 0 and res["succeeded"] == res["sent"], repr(res))
    check("rpc.channel.cert_expired" not in c.log("n1"), "the session ran into the expiry")
    check("rpc.channel.down" not in c.log("n1"), "a channel broke on n1")
    return c


def case_cert_expiry_is_warned_and_listed(tmp):
    """n1's certificates expire in 10 days (warning window 30): n1 logs a warning, nodenet-admin
    certs flags them and exits 1; a reload to cert_warn_days 5 clears the flag (exit 0)."""
    c = OpsCluster(tmp)
    certs = os.path.join(tmp, "certs")
    subprocess.run([os.path.join(rt.ARGS.src, "deploy", "gen-certs"), certs, "--days", "10",
                    "n1"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    c.start("n1", "require")
    c.start("n2", "require")
    wait_for("n1 warns", lambda: re.search(
        r"warn node\.cert\.expiring node=n1 role=server subject=/C=CN/O=nodenet/CN=n1 "
        r"serial=[0-9A-Fa-f]+ not_after=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ days_left=(9|10) ",
        c.log("n1")))
    check(not re.search(r"node\.cert\.expiring node=n2 role=server", c.log("n2")),
          "n2's certificate is not close to expiry")
    admin = os.path.join(rt.ARGS.bin, "nodenet-admin")
    r = subprocess.run([admin, "--config", c.config("n1"), "certs"], capture_output=True,
                       text=True, timeout=60)
    print(r.stdout, flush=True)
    check(r.returncode == 1, "certs exit %d: %s" % (r.returncode, r.stderr))
    check(re.search(r"^n1 +server .* (9|10)  EXPIRES SOON$", r.stdout, re.M), r.stdout)
    check(re.search(r"^n2 +server .* ok$", r.stdout, re.M), r.stdout)
    r = subprocess.run([admin, "--config", c.config("n1"), "certs", "--json"],
                       capture_output=True, text=True, timeout=60)
    d = json.loads(r.stdout)
    rows = {(x["node"], x["role"]): x for x in d["certificates"]}
    check(d["attention"] is True and rows[("n1", "server")]["status"] == "expires_soon" and
          rows[("n2", "server")]["status"] == "ok" and rows[("n2", "ca")]["status"] == "ok",
          r.stdout)
    # The window is live: 5 days, and nothing needs attention.
    c.extra_security = ["cert_warn_days: 5"]
    for n in c.names:
        rewrite = c.config(n)
        check(os.path.exists(rewrite), rewrite)
        c.procs[n].send_signal(signal.SIGHUP)
    for n in c.names:
        wait_for(n + " reloaded", lambda: "node.reload node=%s" % n in c.log(n))
    r = subprocess.run([admin, "--config", c.config("n1"), "certs"], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, "certs after the reload: exit %d\n%s" % (r.returncode, r.stdout))
    return c


class LoginLoop(threading.Thread):
    """Logs in to n1 as `user` with the client certificate in CERTDIR, again and again, and
    records each attempt as (start, end, ok, output)."""

    def __init__(self, c, user, password):
        super().__init__(daemon=True)
        self.c, self.user, self.password = c, user, password
        self.attempts = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            rc, out = mysql(self.c, "n1", self.user, self.password, *client_cert_args(self.c))
            self.attempts.append((t0, time.monotonic(), rc == 0, out))


def reload_node(c, node):
    r = c.admin(node, "reload")
    check(r.get("ok") is True, "reload %s: %r" % (node, r))


def case_ca_rotation_under_traffic(tmp):
    """The CA is replaced on a live 3-node cluster (rpc_tls require) in the three steps of
    deploy/rotate-ca, each followed by reloads, while every node drives calls to its peers
    and a MySQL client logs in with a client certificate (REQUIRE ISSUER) in a loop: no call
    fails, no login fails but those between the ALTER USER and the new client certificate,
    every channel ends on TLS 1.3 with new-CA certificates, and the old CA is refused."""
    if subprocess.run(["which", "mariadb"], capture_output=True).returncode != 0:
        print("SKIP: no mariadb CLI")
        sys.exit(77)
    names = ("n1", "n2", "n3")
    c = OpsCluster(tmp, names=names)
    certs = os.path.join(tmp, "certs")
    rotate = [os.path.join(rt.ARGS.src, "deploy", "rotate-ca"), certs]
    old_ca, new_ca = "/C=CN/O=nodenet/CN=nodenet-ca", "/C=CN/O=nodenet/CN=nodenet-ca-2"
    for n in names:
        c.start(n, "require")
    for n in names:
        wait_for(n + " mesh up", lambda: all(ch["state"] == "ready" and ch["encrypted"]
                                             for ch in c.admin(n, "mesh")["channels"]))
    rc, out = mysql(c, "n1", "root", "rootpw", sql="CREATE USER 'app'@'%%' IDENTIFIED BY "
                    "'app-pw' REQUIRE ISSUER '%s'" % old_ca)
    check(rc == 0, out)
    rc, out = mysql(c, "n1", "app", "app-pw", *client_cert_args(c))
    check(rc == 0, "the first login: %s" % out)
    keep = os.path.join(tmp, "old-ca-client")
    os.makedirs(keep)
    for f in ("client-cert.pem", "client-key.pem", "admin-cert.pem", "admin-key.pem"):
        subprocess.run(["cp", os.path.join(certs, f), keep], check=True)

    drives = {n: rt.drive_async(c, n, 100, 128, 40) for n in names}
    for n in names:
        wait_for(n + " drive started", lambda: "rpc.drive.start node=%s" % n in c.log(n))
    logins = LoginLoop(c, "app", "app-pw")
    logins.start()
    t_start = time.monotonic()

    def step(*args):
        r = subprocess.run(rotate + list(args), capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "rotate-ca %s: %s%s" % (args, r.stdout, r.stderr))
        print("  rotate-ca %s: %s" % (" ".join(args), r.stdout.strip().splitlines()[0]),
              flush=True)
    # 1. Trust {old, new} everywhere.
    step("begin", "--ca-name", "nodenet-ca-2")
    for n in names:
        reload_node(c, n)
    # 2. New certificates, one node at a time, then the admin's.
    for n in names:
        step("issue", n)
        reload_node(c, n)
    step("issue", "--admin")
    # The client's turn: the account follows the new CA, then the certificate does. Logins
    # between the two are the ones the ALTER predicts to fail.
    t_alter = time.monotonic()
    rc, out = mysql(c, "n1", "root", "rootpw",
                    sql="ALTER USER 'app'@'%%' REQUIRE ISSUER '%s'" % new_ca)
    check(rc == 0, out)
    step("issue", "--client")
    t_switched = time.monotonic()
    # 3. The old CA leaves.
    step("finish")
    for n in names:
        reload_node(c, n)
    t_done = time.monotonic() - t_start
    for n in names:
        check(drives[n].poll() is None, "the drive on %s ended %.0f s into the rotation, before "
              "it was done (raise its seconds)" % (n, t_done))
    print("  the rotation's steps took %.1f s" % t_done, flush=True)
    # Let the loop log in a few times on the final state.
    n_before = len(logins.attempts)
    wait_for("logins after the rotation", lambda: len(logins.attempts) >= n_before + 3)
    logins.stop.set()
    logins.join(timeout=60)
    for n in names:
        res = rt.drive_result(drives[n])
        check(res["failed"] == 0 and res["sent"] > 0 and res["succeeded"] == res["sent"],
              "drive on %s: %r" % (n, res))
    print("  rotation took %.1f s; %d logins" % (time.monotonic() - t_start,
                                                 len(logins.attempts)), flush=True)
    bad = [a for a in logins.attempts if not a[2] and not (a[1] >= t_alter and a[0] <= t_switched)]
    check(not bad, "%d logins failed outside the ALTER window, e.g. %s" % (len(bad), bad[:2]))
    check(any(a[2] for a in logins.attempts if a[0] > t_switched), "no login on the new CA")
    # Every channel: TLS 1.3, the peer's certificate from the new CA.
    for n in names:
        m = subprocess.run([os.path.join(rt.ARGS.bin, "nodenet-admin"), "--config",
                            c.config(n), "--node", n, "metrics"], capture_output=True,
                           text=True, timeout=60).stdout
        for p in names:
            if p == n:
                continue
            check(metric(m, "nodenet_rpc_channel_tls", peer=p, version="TLSv1.3") == 1,
                  "%s->%s not on TLS 1.3" % (n, p))
            metric(m, "nodenet_rpc_channel_peer_cert_not_after_seconds", peer=p, issuer=new_ca)
        st = c.admin(n, "status")
        check(st["cert_issuer"] == new_ca, "%s: %r" % (n, st))
    # The old CA is refused: a MySQL login and a tool with its certificates.
    rc, out = mysql(c, "n1", "app", "app-pw", "--ssl-cert=" + os.path.join(keep, "client-cert.pem"),
                    "--ssl-key=" + os.path.join(keep, "client-key.pem"))
    check(rc != 0, "a client certificate of the old CA got in")
    old_admin = os.path.join(tmp, "old-admin.yaml")
    with open(c.config("n1")) as f, open(old_admin, "w") as g:
        g.write(f.read().replace("certs/admin-cert.pem", os.path.join(keep, "admin-cert.pem"))
                .replace("certs/admin-key.pem", os.path.join(keep, "admin-key.pem")))
    r = subprocess.run([os.path.join(rt.ARGS.bin, "nodenet-admin"), "--config", old_admin,
                        "--node", "n1", "ping"], capture_output=True, text=True, timeout=60)
    check(r.returncode != 0, "an admin certificate of the old CA got in")
    return c


def mysql_first_packet(port):
    """Connects and reads the server's first packet: (socket, payload)."""
    import socket
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = b""
    while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:3], "little"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return sock, data[4:]


def case_max_connections_and_log_level_change_live(tmp):
    """A reload lowers node.max_connections (new connections beyond it get MySQL's error 1040)
    and turns the log level to debug; another reload lifts both back. No restart."""
    if subprocess.run(["which", "mariadb"], capture_output=True).returncode != 0:
        print("SKIP: no mariadb CLI")
        sys.exit(77)
    c = OpsCluster(tmp, names=("n1",), extra_node=["max_connections: 100", "log_level: info"])
    c.start("n1", "off")
    check(" debug " not in c.log("n1"), "debug lines at log_level info")
    c.extra_node = ["max_connections: 2", "log_level: debug"]
    c.config("n1")
    mark = len(c.log("n1"))
    c.procs["n1"].send_signal(signal.SIGHUP)
    wait_for("reload", lambda: "node.reload node=n1" in c.log("n1")[mark:])
    held, refused = [], None
    for _ in range(5):
        sock, first = mysql_first_packet(c.ports["n1"][0])
        if first[:1] == b"\xff":
            refused = first
            sock.close()
            break
        check(first[:1] == b"\x0a", "not a greeting: %r" % first[:16])
        held.append(sock)
    check(refused is not None and int.from_bytes(refused[1:3], "little") == 1040,
          "no refusal past max_connections 2 (held %d): %r" % (len(held), refused))
    check(len(held) <= 2, "%d connections held under max_connections 2" % len(held))
    rc, out = mysql(c, "n1", "root", "rootpw")
    check(rc != 0 and "Too many connections" in out, out)
    check("net.refused" in c.log("n1"), "the refusal is not logged")
    for sock in held:
        sock.close()
    wait_for("debug lines", lambda: " debug mysql.conn.close " in c.log("n1")[mark:])
    c.extra_node = ["max_connections: 100", "log_level: info"]
    c.config("n1")
    mark = len(c.log("n1"))
    c.procs["n1"].send_signal(signal.SIGHUP)
    wait_for("reload", lambda: "node.reload node=n1" in c.log("n1")[mark:])
    rc, out = mysql(c, "n1", "root", "rootpw")
    check(rc == 0, "login after the limit was lifted: %s" % out)
    return c


def case_metrics_over_tls_needs_a_client_certificate(tmp):
    """security.metrics_tls: GET /metrics over TLS with a client certificate of the cluster CA;
    no certificate, a certificate of another CA, or plaintext HTTP get nothing."""
    c = OpsCluster(tmp, names=("n1",), extra_security=["metrics_tls: on"])
    certs = os.path.join(tmp, "certs")
    other = rt.certs(tmp, "other")
    c.start("n1", "off")
    url = "https://127.0.0.1:%d/metrics" % c.metrics_ports["n1"]
    ca = ["--cacert", os.path.join(certs, "ca.pem")]
    code, text = curl(url, *ca, "--cert", os.path.join(certs, "client-cert.pem"), "--key",
                      os.path.join(certs, "client-key.pem"))
    check(code == 200 and metric(text, "nodenet_tls_mode_info", rpc_tls="off") == 1, text[:300])
    for args in ([], ["--cert", os.path.join(other, "client-cert.pem"), "--key",
                      os.path.join(other, "client-key.pem")]):
        r = subprocess.run(["curl", "-sS", "--max-time", "20", url] + ca + args,
                           capture_output=True, text=True, timeout=60)
        check(r.returncode != 0 and "nodenet_" not in r.stdout, "got in with %s" % args)
    r = subprocess.run(["curl", "-sS", "--max-time", "20", url.replace("https", "http")],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode != 0 and "nodenet_" not in r.stdout, "plaintext HTTP was answered")
    return c


class HelloDropper(threading.Thread):
    """A TCP relay on 127.0.0.1 to `port` that closes its first `drops` connections cleanly
    as soon as their first bytes (a ClientHello) arrive, as a lost or cut hello would look,
    and relays every later connection both ways."""

    def __init__(self, port, drops=1):
        super().__init__(daemon=True)
        import socket
        self.target = port
        self.drops = drops
        self.dropped = 0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]

    @staticmethod
    def pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(2)
            except OSError:
                pass

    def run(self):
        import socket
        while True:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            if self.dropped < self.drops:
                conn.recv(65536)
                self.dropped += 1
                conn.close()
                continue
            up = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()


class RelayCluster(rt.Cluster):
    """dial[node][peer] = port: node's config names that port as peer's RPC port (the
    peer's own config keeps the real one), so node reaches peer through a relay."""

    def __init__(self, tmp, names=("n1", "n2")):
        super().__init__(tmp, names)
        self.dial = {}

    def config(self, node, mode=None, admin_cert=None):
        path = super().config(node, mode, admin_cert)
        if node not in self.dial:
            return path
        text = open(path).read()
        for peer, port in self.dial[node].items():
            text = text.replace("rpc_port: %d }" % self.ports[peer][1], "rpc_port: %d }" % port)
        mine = path[:-5] + "-relayed.yaml"
        with open(mine + ".tmp", "w") as f:
            f.write(text)
        os.replace(mine + ".tmp", mine)
        return mine


def case_one_lost_client_hello_does_not_leave_plaintext(tmp):
    """n1 and n2 both run prefer. n1's first ClientHello to n2 is cut (a relay closes it),
    so n1 falls back to plaintext; it tries TLS again beside it and is on TLS 1.3 within the
    heal backoff, make-before-break, with no failed call."""
    c = RelayCluster(tmp)
    c.start("n2", "prefer")
    relay = HelloDropper(c.ports["n2"][1])
    relay.start()
    c.dial["n1"] = {"n2": relay.port}  # n1 reaches n2 through the relay
    c.start("n1", "prefer")
    wait_for("the fallback", lambda: "rpc.tls.fallback node=n1 peer=n2" in c.log("n1"))
    check(relay.dropped == 1, "the relay cut %d hellos" % relay.dropped)
    drive = rt.drive_async(c, "n1", 100, 64, 4)
    ch = wait_for("n1->n2 on TLS", lambda: (lambda ch: ch if ch["encrypted"] else None)(
        c.channel("n1", "n2")), timeout=25)
    check(ch["state"] == "ready" and ch["tls_version"] == "TLSv1.3", repr(ch))
    check(re.search(r"rpc\.tls\.healed node=n1 peer=n2 tls=TLSv1\.3", c.log("n1")),
          "n1 did not log the heal")
    res = rt.drive_result(drive)
    check(res["failed"] == 0 and res["sent"] > 0 and res["succeeded"] == res["sent"], repr(res))
    return c


CASES = {
    "one_lost_client_hello_does_not_leave_plaintext":
        case_one_lost_client_hello_does_not_leave_plaintext,
    "metrics_over_tls_needs_a_client_certificate": case_metrics_over_tls_needs_a_client_certificate,
    "max_connections_and_log_level_change_live": case_max_connections_and_log_level_change_live,
    "ca_rotation_under_traffic": case_ca_rotation_under_traffic,
    "tls_session_renewed_before_cert_expiry": case_tls_session_renewed_before_cert_expiry,
    "cert_expiry_is_warned_and_listed": case_cert_expiry_is_warned_and_listed,
    "metrics_scrape_counts_what_happened": case_metrics_scrape_counts_what_happened,
    "prefer_channel_heals_to_tls": case_prefer_channel_heals_to_tls,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    rt.ARGS = ap.parse_args()
    rt.run_case(CASES[rt.ARGS.case])


if __name__ == "__main__":
    main()
