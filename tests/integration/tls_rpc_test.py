#!/usr/bin/python3
"""TLS hardening and revocation on the RPC port (issue 13; RELIABILITY.md rel_09 and rel_22,
and a revoked node): real nodenet processes on 127.0.0.1 and Debian's openssl s_client, with
the cluster helpers of rpc_cluster_test.py. The RPC port sniffs the first bytes, so s_client
speaks raw TLS to it. After each bad case the mesh still carries calls.

    tls_rpc_test.py --bin BUILD/bin --src SOURCE CASE
"""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rpc_cluster_test as rct  # noqa: E402
from rpc_cluster_test import Cluster, check, fail, wait_for  # noqa: E402


class CrlCluster(Cluster):
    """A Cluster whose listed nodes load security.crl_file (certs/crl.pem)."""

    def __init__(self, tmp, crl_nodes, **kw):
        super().__init__(tmp, **kw)
        self.crl_nodes = set(crl_nodes)

    def config(self, node, mode=None, admin_cert=None):
        path = super().config(node, mode, admin_cert)
        with open(path) as f:
            text = f.read()
        want = node in self.crl_nodes
        line = "  crl_file: certs/crl.pem\n"
        if want and line not in text:
            text = text.replace("  rpc_tls:", line + "  rpc_tls:", 1)
        elif not want:
            text = text.replace(line, "")
        # Same care as the base class: atomically, only when it changes.
        with open(path) as f:
            if f.read() == text:
                return path
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        return path


def s_client(port, *args):
    """openssl s_client to the RPC port; stdin stays open so that an alert sent after the
    client's side of a TLS 1.3 handshake completes is still read. Returns its output."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        fail("s_client %s was not refused: the node kept the session open" % (args,))
    out = p.stdout.read()
    p.stdin.close()
    p.stdout.close()
    return out


def mesh_carries_calls(c, node):
    """Every channel of `node` ready, and a burst of calls through all of them succeeds."""
    wait_for(node + " mesh ready", lambda: all(
        ch["state"] == "ready" and ch["encrypted"] for ch in c.admin(node, "mesh")["channels"]),
        timeout=60)
    r = c.admin(node, "drive", "--rate", "100", "--size", "128", "--seconds", "1")
    check(r.get("failed") == 0 and r.get("sent", 0) > 0 and r.get("succeeded") == r.get("sent"),
          "calls failed: %r" % (r,))


def case_rel_09_rpc_port_tls13_only(tmp):
    """TLS 1.2 (any suite), 1.1 and 1.0 are refused with an alert on the RPC port."""
    c = Cluster(tmp)
    c.start("n1", "require")
    c.start("n2", "require")
    port = c.ports["n1"][1]
    certs = os.path.join(tmp, "certs")
    for v in ("-tls1_2", "-tls1_1", "-tls1"):
        out = s_client(port, v, "-cipher", "DEFAULT:@SECLEVEL=0", "-CAfile",
                       os.path.join(certs, "ca.pem"), "-cert", os.path.join(certs, "n2-cert.pem"),
                       "-key", os.path.join(certs, "n2-key.pem"))
        check("alert protocol version" in out, "%s: %s" % (v, out[-2000:]))
        check("Cipher is (NONE)" in out, "%s got a session: %s" % (v, out[-2000:]))
    check('why="tls: unsupported protocol"' in c.log("n1"), "n1 did not log why")
    mesh_carries_calls(c, "n1")
    return c


def case_rel_22_other_cluster_ca_refused(tmp):
    """A certificate of another cluster's CA (same subject, n2) on the RPC port: an alert,
    the connection is refused, and the mesh carries calls as before. No certificate at all:
    refused too."""
    c = Cluster(tmp)
    c.start("n1", "require")
    c.start("n2", "require")
    mesh_carries_calls(c, "n1")
    port = c.ports["n1"][1]
    certs = os.path.join(tmp, "certs")
    other = rct.certs(tmp, "other")
    out = s_client(port, "-CAfile", os.path.join(certs, "ca.pem"),
                   "-cert", os.path.join(other, "n2-cert.pem"),
                   "-key", os.path.join(other, "n2-key.pem"))
    check("alert unknown ca" in out, out[-2000:])
    wait_for("n1 logs the refusal", lambda: "unable to get local issuer certificate" in
             c.log("n1"))
    out = s_client(port, "-CAfile", os.path.join(certs, "ca.pem"))
    check("alert certificate required" in out, out[-2000:])
    mesh_carries_calls(c, "n1")
    mesh_carries_calls(c, "n2")
    return c


def case_revoked_node_refused_on_mesh(tmp):
    """n3's certificate is revoked in the CRL n1 and n2 load (n3 itself has no CRL): no
    channel between n3 and the others in either direction, n1 and n2 say why, n1-n2 still
    carry calls; and n3 with the CRL does not start."""
    c = CrlCluster(tmp, crl_nodes=("n1", "n2"), names=("n1", "n2", "n3"))
    certs = os.path.join(tmp, "certs")
    subprocess.run([os.path.join(rct.ARGS.src, "deploy", "gen-certs"), certs, "--revoke",
                    os.path.join(certs, "n3-cert.pem")], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    for n in c.names:
        c.start(n, "require")
    for src, dst in (("n1", "n3"), ("n2", "n3")):
        # src dials n3 and refuses n3's server certificate itself
        ch = wait_for("%s refuses n3" % src, lambda: (
            lambda ch: ch if "certificate revoked" in ch["last_error"] else None)(
                c.channel(src, dst)), timeout=60)
        check(ch["state"] != "ready", repr(ch))
    # n3 dials n1: n1's server refuses n3's client certificate and logs why
    wait_for("n1 logs n3 revoked", lambda: 'why="tls: certificate verify failed: certificate '
             'revoked"' in c.log("n1"), timeout=60)
    wait_for("n3 told by n1", lambda: any(
        "node=n3 peer=n1 " in l and "alert certificate revoked" in l
        for l in c.log("n3").splitlines()), timeout=60)
    check(c.channel("n3", "n1")["state"] != "ready", "n3 got a channel to n1")
    check("rpc.channel.up node=n1 peer=n3" not in c.log("n1"), "n1 -> n3 came up")
    wait_for("n1-n2 ready", lambda: c.channel("n1", "n2")["state"] == "ready" and
             c.channel("n2", "n1")["state"] == "ready", timeout=60)
    c.stop("n3")
    # The revoked node itself, given the CRL, refuses to start, and says why.
    c.crl_nodes.add("n3")
    r = subprocess.run([os.path.join(rct.ARGS.bin, "nodenet"), "--config", c.config("n3"),
                        "--node", "n3"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, NODENET_ROOT_PASSWORD="rootpw"))
    check(r.returncode != 0, "n3 started with a revoked certificate")
    check("security.cert_file" in r.stderr and "certificate revoked" in r.stderr, r.stderr)
    wait_for("n1 mesh to n2 still carries calls", lambda: c.admin(
        "n1", "ping")["_rc"] == 0)
    return c


def case_stale_crl_reload_status(tmp):
    """rel_17 on a running node: a stale CRL written over the good one is refused by the
    file watcher, the node keeps its old store (revoked certificates stay refused) and its
    status says why; a fresh CRL clears it."""
    c = CrlCluster(tmp, crl_nodes=("n1",), names=("n1", "n2"))
    certs = os.path.join(tmp, "certs")
    gen = os.path.join(rct.ARGS.src, "deploy", "gen-certs")
    subprocess.run([gen, certs, "--revoke", os.path.join(certs, "n3-cert.pem")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    c.start("n1", "require")
    c.start("n2", "require")
    mesh_carries_calls(c, "n1")
    st = c.admin("n1", "status")
    check(st["cert_reload_error"] == "" and st["crl_next_update"] > 0, repr(st))
    # The tool itself would refuse to work with a stale CRL: it runs without one here.
    c.crl_nodes.discard("n1")
    subprocess.run([gen, certs, "--crl", "--crl-days", "-1"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    st = wait_for("n1 status shows the refused reload", lambda: (
        lambda st: st if "is stale" in st["cert_reload_error"] else None)(
            c.admin("n1", "status")), timeout=30)
    check("security.crl_file" in st["cert_reload_error"], repr(st))
    check("security.reload_failed" in c.log("n1"), "no log line")
    # The old store is in use: n3 (revoked) is still refused.
    other = os.path.join(tmp, "certs")
    out = s_client(c.ports["n1"][1], "-CAfile", os.path.join(other, "ca.pem"),
                   "-cert", os.path.join(other, "n3-cert.pem"),
                   "-key", os.path.join(other, "n3-key.pem"))
    check("alert certificate revoked" in out, out[-2000:])
    mesh_carries_calls(c, "n1")
    subprocess.run([gen, certs, "--crl"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wait_for("a fresh CRL clears the status", lambda: c.admin(
        "n1", "status")["cert_reload_error"] == "", timeout=30)
    return c


CASES = {
    "stale_crl_reload_status": case_stale_crl_reload_status,
    "rel_09_rpc_port_tls13_only": case_rel_09_rpc_port_tls13_only,
    "rel_22_other_cluster_ca_refused": case_rel_22_other_cluster_ca_refused,
    "revoked_node_refused_on_mesh": case_revoked_node_refused_on_mesh,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    rct.ARGS = ap.parse_args()
    if shutil.which("openssl") is None:
        print("SKIP: the openssl CLI is needed (apt-get install openssl)")
        sys.exit(77)
    rct.run_case(CASES[rct.ARGS.case])


if __name__ == "__main__":
    main()
