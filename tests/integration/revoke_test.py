#!/usr/bin/python3
"""A compromised node (issue 14): its certificate is revoked through the CRL, and the mesh
cuts it within one reload, under traffic. Real nodenet processes on 127.0.0.1 (rpc_tls
require, MySQL TLS on, each node with a CRL file of its own), driven with nodenet-admin,
curl and the mariadb CLI; the CRL is made with deploy/gen-certs (openssl ca). Waits are
bounded polls on readiness; only the processes started here are stopped, by pid. Reuses
the cluster helpers of rpc_cluster_test.py and ops_test.py.

    revoke_test.py --bin BUILD/bin --src SOURCE CASE
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_test as ot  # noqa: E402
import rpc_cluster_test as rt  # noqa: E402
from rpc_cluster_test import check, wait_for  # noqa: E402

NAMES = ("n1", "n2", "n3")


def gen_certs(certs, *args):
    r = subprocess.run([os.path.join(rt.ARGS.src, "deploy", "gen-certs"), certs] + list(args),
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "gen-certs %s: %s" % (args, r.stderr))


def install_crl(certs, node):
    """certs/crl.pem becomes node's CRL (security.crl_file: certs/%n-crl.pem) in one rename,
    as an operator's copy to that node would land."""
    dst = os.path.join(certs, "%s-crl.pem" % node)
    shutil.copyfile(os.path.join(certs, "crl.pem"), dst + ".tmp")
    os.replace(dst + ".tmp", dst)


def scrape(c, node):
    return ot.curl("http://127.0.0.1:%d/metrics" % c.metrics_ports[node])[1]


def inbound_nodes(c, node):
    return ot.metric(scrape(c, node), "nodenet_rpc_inbound_node_connections")


def state(c, node, peer):
    return c.channel(node, peer)["state"]


class HeldSession:
    """One mariadb CLI session over TLS, opened now and kept: queries go through its stdin
    and each answer is read back (unbuffered batch mode), so that the test can tell that a
    session from before a reload still works after it."""

    def __init__(self, c, node):
        certs = os.path.join(c.tmp, "certs")
        self.p = subprocess.Popen(
            ["mariadb", "-h", "127.0.0.1", "-P", str(c.ports[node][0]), "-u", "root",
             "-prootpw", "--ssl", "--ssl-ca=" + os.path.join(certs, "ca.pem"),
             "--connect-timeout=10", "-N", "-B", "--unbuffered"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ask(self, sql):
        self.p.stdin.write(sql + ";\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()  # bounded: the case's ctest TIMEOUT stops a hang
        check(line != "", "the held MySQL session ended: %s" % self.p.stderr.read()[-2000:]
              if self.p.poll() is not None else "the held MySQL session ended")
        return line.strip()

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


def start_all(c):
    """Every node with rpc_tls require, and each one's channels up on TLS."""
    for n in NAMES:
        c.start(n, "require")
    for n in NAMES:
        wait_for(n + " mesh up", lambda: all(ch["state"] == "ready" and ch["encrypted"]
                                             for ch in c.admin(n, "mesh")["channels"]),
                 timeout=30)


def start_drives(c, seconds):
    """Every node drives calls to its peers (nodenet-admin drive) for `seconds`."""
    drives = {n: rt.drive_async(c, n, 100, 128, seconds) for n in NAMES}
    for n in NAMES:
        wait_for(n + " drive started", lambda: "rpc.drive.start node=%s" % n in c.log(n))
    return drives


def start_cluster(tmp):
    if shutil.which("mariadb") is None:
        print("SKIP: no mariadb CLI (apt-get install mariadb-client)")
        sys.exit(77)
    c = ot.OpsCluster(tmp, names=NAMES, extra_security=["crl_file: certs/%n-crl.pem"])
    certs = os.path.join(tmp, "certs")
    gen_certs(certs, "--crl")  # an empty CRL, fresh for 30 days
    for n in NAMES:
        install_crl(certs, n)
    start_all(c)
    return c, certs


def revoke_n3(c, certs):
    """Once calls flow to and from n3, n3's certificate goes into the CRL (certs/crl.pem);
    returns each node's log length before, to look only at what follows."""
    for a, b in (("n1", "n3"), ("n2", "n3"), ("n3", "n1"), ("n3", "n2")):
        wait_for("calls %s -> %s" % (a, b), lambda: c.channel(a, b)["ok"] >= 100, timeout=30)
    marks = {n: len(c.log(n)) for n in NAMES}
    gen_certs(certs, "--revoke", os.path.join(certs, "n3-cert.pem"))
    return marks


def check_cut(c, marks, t_reload):
    """n1 and n2 have no channel with n3 either way, and say why; n3's attempts to come
    back are refused with the revocation as the reason."""
    for n in ("n1", "n2"):
        # Bounded: the cut needs no traffic and no timeout, only the reload's tasks.
        wait_for("%s -> n3 cut" % n, lambda: state(c, n, "n3") != "ready", timeout=10)
        wait_for("n3 -> %s cut" % n, lambda: state(c, "n3", n) != "ready", timeout=10)
        log = c.log(n)[marks[n]:]
        check(re.search(r'rpc\.channel\.cut node=%s peer=n3 reason="[^"]*certificate revoked' % n,
                        log), "%s did not log the cut of its channel to n3:\n%s" % (n, log[-3000:]))
        check(re.search(r'rpc\.inbound\.cut node=%s peer=n3 reason="its certificate '
                        r'\(/C=CN/O=nodenet/CN=n3\) is no longer accepted after a reload: '
                        r'certificate verify failed: certificate revoked' % n, log),
              "%s did not log the cut of n3's channel into it:\n%s" % (n, log[-3000:]))
        # n2's or n1's own channel in may be renewing beside its old one for a moment.
        wait_for("%s holds only the other healthy node's channel in" % n,
                 lambda: inbound_nodes(c, n) == 1, timeout=20)
    print("  cut within %.1f s of the first reload" % (time.monotonic() - t_reload), flush=True)
    # The clear error on the node side and for a caller.
    for n in ("n1", "n2"):
        ch = c.channel(n, "n3")
        check("certificate revoked" in ch["last_error"], "%s -> n3: %r" % (n, ch))
        check(ot.metric(scrape(c, n), "nodenet_rpc_channel_state", peer="n3", state="ready") == 0,
              "%s's metrics show n3 ready" % n)
    # n3 keeps trying and is refused each time, with the reason in both logs.
    for n in ("n1", "n2"):
        # Refused in the handshake, before any hello: the listener knows n3 by its address.
        wait_for("n3 refused by %s after the cut" % n, lambda: len(re.findall(
            r'rpc\.refuse node=%s peer=127\.0\.0\.1:\d+ reason="TLS handshake failed: tls: '
            r'certificate verify failed: certificate revoked"' % n,
            c.log(n)[marks[n]:])) >= 2, timeout=20)
        wait_for("n3 told by %s" % n, lambda: any(
            "node=n3 peer=%s " % n in line and "alert certificate revoked" in line
            for line in c.log("n3")[marks["n3"]:].splitlines()), timeout=20)
        check(state(c, "n3", n) != "ready" and state(c, n, "n3") != "ready",
              "n3 came back to %s" % n)
        check("rpc.accept node=%s peer=n3 " % n not in c.log(n)[marks[n]:],
              "%s accepted n3 again" % n)
        check(inbound_nodes(c, n) == 1, "%s took n3 in again" % n)


def check_drives(c, drives):
    results = {n: rt.drive_result(p) for n, p in drives.items()}
    peers = {n: {p["peer"]: p for p in r["peers"]} for n, r in results.items()}
    for a, b in (("n1", "n2"), ("n2", "n1")):
        p = peers[a][b]
        check(p["sent"] > 0 and p["succeeded"] == p["sent"] and not p["failures"],
              "%s -> %s failed calls: %r" % (a, b, p))
    for n in ("n1", "n2"):
        p = peers[n]["n3"]
        check(p["succeeded"] > 0 and p["succeeded"] < p["sent"],
              "%s -> n3 should have worked before the cut and failed after: %r" % (n, p))
        check(set(p["failures"]) <= {"refused", "peer_down"}, "%s -> n3: %r" % (n, p))
    print("  drives: " + "; ".join("%s->%s %d/%d" % (a, b, peers[a][b]["succeeded"],
                                                     peers[a][b]["sent"])
                                   for a in NAMES for b in NAMES if a != b), flush=True)


def check_after_cut_calls(c):
    """A short drive from n1 after the cut: every call to n3 fails at once, refused, and
    every call to n2 succeeds."""
    r = c.admin("n1", "drive", "--rate", "50", "--size", "64", "--seconds", "1",
                expect_ok=False)
    peers = {p["peer"]: p for p in r["peers"]}
    check(peers["n2"]["succeeded"] == peers["n2"]["sent"] > 0, repr(r))
    check(peers["n3"]["succeeded"] == 0 and peers["n3"]["sent"] > 0 and
          peers["n3"]["failures"] == {"refused": peers["n3"]["sent"]}, repr(r))


def case_compromised_node_cut_by_one_reload(tmp):
    """3 nodes, every node driving calls to its peers the whole time and a MySQL session
    held open on n1. n3's certificate is revoked in the CRL, the new CRL is installed on n1
    and n2, and each is reloaded once (nodenet-admin reload): n1 and n2 keep no channel with
    n3 either way, n1<->n2 fail no call, calls to n3 fail with the revocation as the
    reason, n3's attempts to come back are refused and logged as revoked, and MySQL on n1
    is unaffected (the held session and a new login)."""
    c, certs = start_cluster(tmp)
    held = HeldSession(c, "n1")
    check(held.ask("SELECT 'before'") == "before", "the held MySQL session")
    drives = start_drives(c, 30)
    t_start = time.monotonic()
    marks = revoke_n3(c, certs)
    t_reload = time.monotonic()
    for n in ("n1", "n2"):
        install_crl(certs, n)
        ot.reload_node(c, n)
    check_cut(c, marks, t_reload)
    check_after_cut_calls(c)
    # MySQL: its TLS settings take effect for new connections; sessions stay as they are.
    check(held.ask("SELECT 'after'") == "after", "the held MySQL session after the reload")
    held.close()
    rc, out = ot.mysql(c, "n1", "root", "rootpw")
    check(rc == 0, "a MySQL login to n1 after the cut: %s" % out)
    for n in NAMES:
        check(drives[n].poll() is None, "the drive on %s ended %.0f s in, before the checks "
              "were done (raise its seconds)" % (n, time.monotonic() - t_start))
    check_drives(c, drives)
    return c


def case_compromised_node_cut_by_the_file_watcher(tmp):
    """The same revocation with no reload command: the new CRL lands on n1 and n2, their
    certificate file watchers reload it, and the mesh is cut as by SIGHUP."""
    c, certs = start_cluster(tmp)
    drives = start_drives(c, 20)
    marks = revoke_n3(c, certs)
    t_install = time.monotonic()
    for n in ("n1", "n2"):
        install_crl(certs, n)
    # The watcher looks every 2 s; check_cut's waits cover that.
    check_cut(c, marks, t_install)
    for n in ("n1", "n2"):
        check("node.reload node=%s" % n not in c.log(n)[marks[n]:], "a reload command ran")
    check_after_cut_calls(c)
    check_drives(c, drives)
    return c


def case_untrusted_peer_cut_when_its_replacement_is_refused(tmp):
    """n3's certificate comes from a second CA that every node trusts beside the first. n1
    and n2 drop the second CA and reload, under traffic. Not a revocation, so no immediate
    cut: n1's channel to n3 is replaced as after any reload, the replacement is refused on
    n3's certificate, and that takes the old channel down with it (it is no better); n3's
    channel into n1 is asked to renew, cannot (n1 refuses it), and is closed one call
    timeout later. n1<->n2 fail no call."""
    c = rt.Cluster(tmp, names=NAMES)
    certs = os.path.join(tmp, "certs")
    other = rt.certs(tmp, "other")
    both = open(os.path.join(certs, "ca.pem")).read() + open(os.path.join(other, "ca.pem")).read()
    for n in NAMES:
        with open(os.path.join(certs, "trust-%s.pem" % n), "w") as f:
            f.write(both)
        c.cert_override[n] = ("certs/%n-cert.pem", "certs/%n-key.pem", "certs/trust-%n.pem")
    c.cert_override["n3"] = ("other/%n-cert.pem", "other/%n-key.pem", "certs/trust-%n.pem")
    start_all(c)
    drives = start_drives(c, 20)
    marks = {n: len(c.log(n)) for n in NAMES}
    for n in ("n1", "n2"):
        path = os.path.join(certs, "trust-%s.pem" % n)
        shutil.copyfile(os.path.join(certs, "ca.pem"), path + ".tmp")
        os.replace(path + ".tmp", path)
        ot.reload_node(c, n)
    for n in ("n1", "n2"):
        wait_for("%s -> n3 cut" % n, lambda: state(c, n, "n3") != "ready", timeout=10)
        log = c.log(n)[marks[n]:]
        check(re.search(r'rpc\.channel\.cut node=%s peer=n3 reason="TLS handshake with n3 '
                        r'failed: tls: certificate verify failed: unable to get local issuer '
                        r'certificate"' % n, log), "%s: no cut after the refused replacement:\n%s"
              % (n, log[-3000:]))
        check("rpc.inbound.untrusted node=%s peer=n3 " % n in log, "%s: no renew of n3" % n)
        # One call timeout (5 s) after the reload at most, and the bound of the wait.
        wait_for("n3 -> %s closed" % n, lambda: state(c, "n3", n) != "ready", timeout=15)
        wait_for("%s says why it closed n3's channel" % n, lambda: re.search(
            r'rpc\.inbound\.cut node=%s peer=n3 reason="its certificate no longer verifies '
            r'after a reload, and it was not replaced within a call timeout"' % n,
            c.log(n)[marks[n]:]))
    results = {n: rt.drive_result(p) for n, p in drives.items()}
    for a, b in (("n1", "n2"), ("n2", "n1")):
        p = {x["peer"]: x for x in results[a]["peers"]}[b]
        check(p["sent"] > 0 and p["succeeded"] == p["sent"] and not p["failures"],
              "%s -> %s failed calls: %r" % (a, b, p))
    return c


def case_admin_tolerates_a_stale_crl(tmp):
    """A stale CRL lands on n1: n1 refuses it (fails closed, keeps its store) and says so;
    nodenet-admin, which loads the same crl_file, warns and still connects, so that the
    operator can read that status. A fresh CRL clears it."""
    c = ot.OpsCluster(tmp, names=("n1", "n2"), extra_security=["crl_file: certs/%n-crl.pem"])
    certs = os.path.join(tmp, "certs")
    gen_certs(certs, "--crl")
    for n in ("n1", "n2"):
        install_crl(certs, n)
        c.start(n, "require")
    gen_certs(certs, "--crl", "--crl-days", "-1")
    install_crl(certs, "n1")
    st = wait_for("n1 refuses the stale CRL", lambda: (
        lambda st: st if "is stale" in st.get("cert_reload_error", "") else None)(
            c.admin("n1", "status")), timeout=30)
    check("admin certificate" not in st["_err"] and
          re.search(r"nodenet-admin: warning: security\.crl_file: .*is stale.*going on without "
                    r"checking revocation", st["_err"]), "no warning from the tool: %r" % st)
    r = c.admin("n1", "drive", "--rate", "50", "--size", "64", "--seconds", "1")
    check(r["failed"] == 0 and r["sent"] > 0, repr(r))
    gen_certs(certs, "--crl")
    install_crl(certs, "n1")
    st = wait_for("a fresh CRL clears the status", lambda: (
        lambda st: st if st["cert_reload_error"] == "" else None)(c.admin("n1", "status")),
        timeout=30)
    check("warning" not in st["_err"], "a warning with a fresh CRL: %r" % st["_err"])
    return c


CASES = {
    "untrusted_peer_cut_when_its_replacement_is_refused":
        case_untrusted_peer_cut_when_its_replacement_is_refused,
    "admin_tolerates_a_stale_crl": case_admin_tolerates_a_stale_crl,
    "compromised_node_cut_by_one_reload": case_compromised_node_cut_by_one_reload,
    "compromised_node_cut_by_the_file_watcher": case_compromised_node_cut_by_the_file_watcher,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    rt.ARGS = ap.parse_args()
    if shutil.which("openssl") is None:  # gen-certs makes the CRLs with openssl ca
        print("SKIP: the openssl CLI is needed (apt-get install openssl)")
        sys.exit(77)
    rt.run_case(CASES[rt.ARGS.case])


if __name__ == "__main__":
    main()
