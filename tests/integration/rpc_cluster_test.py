#!/usr/bin/python3
"""Integration tests of the RPC mesh: real nodenet processes on 127.0.0.1, driven with
nodenet-admin and raw sockets. Each case has its own temp dir and free ports, waits on
readiness by bounded polling, and stops only the processes it started, by pid.

    rpc_cluster_test.py --bin BUILD/bin --src SOURCE CASE
"""
import argparse
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ARGS = None


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_for(what, fn, timeout=15.0, interval=0.05):
    """Polls fn() until it returns a truthy value; fails after timeout seconds."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    fail("timed out waiting for " + what + (" (last: %r)" % (last,) if last is not None else ""))


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


CERTS = {}


def certs(tmp, name="certs"):
    path = os.path.join(tmp, name)
    if path not in CERTS:
        subprocess.run([os.path.join(ARGS.src, "deploy", "gen-certs"), path, "n1", "n2", "n3"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        CERTS[path] = True
    return path


class Cluster:
    def __init__(self, tmp, names=("n1", "n2"), call_timeout_ms=5000, heartbeat_ms=200,
                 max_frame=67108864):
        self.tmp = tmp
        self.names = list(names)
        ports = free_ports(2 * len(names))
        self.ports = {n: (ports[2 * i], ports[2 * i + 1]) for i, n in enumerate(names)}
        self.call_timeout_ms = call_timeout_ms
        self.heartbeat_ms = heartbeat_ms
        self.max_frame = max_frame
        self.procs = {}
        self.logs = {}
        self.modes = {n: "off" for n in names}
        self.cert_override = {}
        certs(tmp)

    def config(self, node, mode=None, admin_cert=None):
        """Writes the config file `node` runs with (configs differ only in security)."""
        mode = mode or self.modes[node]
        cert = self.cert_override.get(node, ("certs/%n-cert.pem", "certs/%n-key.pem",
                                             "certs/ca.pem"))
        lines = ["cluster: { name: demo, id: 7 }", "nodes:"]
        for n in self.names:
            lines.append("  - { name: %s, host: 127.0.0.1, mysql_port: %d, rpc_port: %d }"
                         % (n, self.ports[n][0], self.ports[n][1]))
        lines += [
            "security:",
            "  ca_file: %s" % cert[2],
            "  cert_file: %s" % cert[0],
            "  key_file: %s" % cert[1],
            "  rpc_tls: %s" % mode,
            '  tool_subjects: ["/C=CN/O=nodenet/CN=nodenet-admin"]',
            "  admin_cert_file: %s" % (admin_cert or "certs/admin-cert.pem"),
            "  admin_key_file: %s" % (admin_cert or "certs/admin-cert.pem").replace(
                "-cert.pem", "-key.pem"),
            "node:",
            "  workers: 2",
            "  data_dir: data/%n",
            "  call_timeout_ms: %d" % self.call_timeout_ms,
            "  heartbeat_ms: %d" % self.heartbeat_ms,
            "  max_frame_bytes: %d" % self.max_frame,
        ]
        path = os.path.join(self.tmp, "%s-%s.yaml" % (node, mode))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, node, mode=None):
        if mode:
            self.modes[node] = mode
        log = os.path.join(self.tmp, "%s.log" % node)
        self.logs[node] = log
        start_at = os.path.getsize(log) if os.path.exists(log) else 0
        env = dict(os.environ, NODENET_ROOT_PASSWORD="rootpw")
        with open(log, "ab") as f:
            p = subprocess.Popen([os.path.join(ARGS.bin, "nodenet"), "--config",
                                  self.config(node), "--node", node], stderr=f,
                                 stdout=subprocess.DEVNULL, env=env)
        self.procs[node] = p

        def ready():
            check(p.poll() is None, "%s exited (%s) before ready:\n%s" % (node, p.returncode,
                                                                           self.log(node)[-3000:]))
            return "node.ready" in self.log(node)[start_at:]
        wait_for(node + " ready", ready)

    def log(self, node):
        with open(self.logs[node], errors="replace") as f:
            return f.read()

    def stop(self, node, sig=signal.SIGTERM):
        p = self.procs.pop(node, None)
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                fail("%s did not exit on signal %d" % (node, sig))
        return p

    def stop_all(self):
        for n in list(self.procs):
            self.stop(n, signal.SIGKILL)

    def admin(self, node, *cmd, mode=None, admin_cert=None, expect_ok=True):
        r = subprocess.run([os.path.join(ARGS.bin, "nodenet-admin"), "--config",
                            self.config(node, mode, admin_cert), "--node", node] + list(cmd) +
                           ["--json"], capture_output=True, text=True, timeout=60)
        if expect_ok and r.returncode != 0:
            fail("nodenet-admin %s on %s failed: %s %s" % (cmd, node, r.stdout, r.stderr))
        try:
            out = json.loads(r.stdout) if r.stdout.strip() else {}
        except ValueError:
            out = {"raw": r.stdout}
        out["_rc"] = r.returncode
        out["_err"] = r.stderr + r.stdout
        return out

    def channel(self, node, peer):
        for ch in self.admin(node, "mesh")["channels"]:
            if ch["peer"] == peer:
                return ch
        fail("%s has no channel to %s" % (node, peer))


def run_case(fn):
    tmp = tempfile.mkdtemp(prefix="nn-rpc-")
    cluster = None
    try:
        cluster = fn(tmp)
    finally:
        if isinstance(cluster, Cluster):
            cluster.stop_all()
    # Kept on failure (fail() exits before this) so the node logs can be read.
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASS", flush=True)


# ------------------------------------------------------------------------ cases

# dialler mode -> listener mode: None = refused, else encrypted or not
MATRIX = {
    ("off", "off"): False, ("off", "prefer"): False, ("off", "require"): None,
    ("prefer", "off"): False, ("prefer", "prefer"): True, ("prefer", "require"): True,
    ("require", "off"): None, ("require", "prefer"): True, ("require", "require"): True,
}
REFUSAL = {
    ("off", "require"): "plaintext connections are refused",
    ("require", "off"): "closed the TLS handshake",
}


def case_tls_matrix(tmp):
    """Every pair of modes: which pairs talk, and whether encrypted, in both directions."""
    for a, b in [("off", "off"), ("off", "prefer"), ("off", "require"), ("prefer", "prefer"),
                 ("prefer", "require"), ("require", "require")]:
        sub = os.path.join(tmp, a + "-" + b)
        os.makedirs(sub)
        c = Cluster(sub)
        c.start("n1", a)
        c.start("n2", b)
        try:
            for src, dst in (("n1", "n2"), ("n2", "n1")):
                want = MATRIX[(c.modes[src], c.modes[dst])]
                if want is None:
                    reason = REFUSAL[(c.modes[src], c.modes[dst])]
                    ch = wait_for("%s->%s refused with %r" % (src, dst, reason),
                                  lambda: (lambda ch: ch if reason in ch["last_error"] else None)(
                                      c.channel(src, dst)))
                    check(ch["state"] != "ready", "%s->%s should not be ready: %r" % (src, dst, ch))
                else:
                    ch = wait_for("%s->%s ready" % (src, dst),
                                  lambda: (lambda ch: ch if ch["state"] == "ready" else None)(
                                      c.channel(src, dst)))
                    check(ch["encrypted"] == want, "%s(%s)->%s(%s) encrypted=%s, want %s" % (
                        src, c.modes[src], dst, c.modes[dst], ch["encrypted"], want))
                    if want:
                        check(ch["peer_subject"].endswith("CN=" + dst), repr(ch))
            if (a, b) == ("off", "prefer"):
                check("rpc.tls.fallback" in c.log("n2"), "prefer n2 did not log its fallback")
        finally:
            c.stop_all()
        print("  %s x %s ok" % (a, b), flush=True)
    return None


def case_wrong_node_cert(tmp):
    """n2 presents n3's (valid) certificate: refused by both sides."""
    c = Cluster(tmp)
    c.cert_override["n2"] = ("certs/n3-cert.pem", "certs/n3-key.pem", "certs/ca.pem")
    c.start("n1", "require")
    c.start("n2", "require")
    ch = wait_for("n1 refuses n2", lambda: (lambda ch: ch if "certificate of n2" in ch[
        "last_error"] else None)(c.channel("n1", "n2")))
    check(ch["state"] != "ready", repr(ch))
    wait_for("n1 refuses n2's hello", lambda: "its certificate does not" in c.log("n1"))
    check(c.channel("n1", "n2")["ok"] == 0, "no call may pass")
    return c


def case_other_ca_cert(tmp):
    """n2's certificate comes from another CA: no channel either way."""
    c = Cluster(tmp)
    other = certs(tmp, "other")
    c.cert_override["n2"] = (os.path.join(other, "n2-cert.pem"),
                             os.path.join(other, "n2-key.pem"), os.path.join(other, "ca.pem"))
    c.start("n1", "require")
    c.start("n2", "require")
    # Each side's handshake fails on the other's certificate, whichever side dials.
    wait_for("n1 fails to reach n2", lambda: "rpc.channel.connect_failed node=n1 peer=n2"
             in c.log("n1"))
    wait_for("n2 fails to reach n1", lambda: "rpc.channel.connect_failed node=n2 peer=n1"
             in c.log("n2"))
    check("rpc.channel.up" not in c.log("n1") + c.log("n2"), "a channel came up across CAs")
    check(c.channel("n1", "n2")["state"] != "ready", "n1 accepted a foreign CA")
    return c


def case_tool_clients(tmp):
    """Plaintext tool refused by require; a certificate outside tool_subjects refused."""
    c = Cluster(tmp)
    c.start("n1", "require")
    r = c.admin("n1", "ping", mode="off", expect_ok=False)
    check(r["_rc"] != 0 and "plaintext connections are refused" in r["_err"], r["_err"])
    r = c.admin("n1", "ping", admin_cert="certs/client-cert.pem", expect_ok=False)
    check(r["_rc"] != 0 and "not in tool_subjects" in r["_err"], r["_err"])
    r = c.admin("n1", "status")
    check(r["admin_connection_encrypted"] is True and r["rpc_tls"] == "require", repr(r))
    return c


def case_frame_limits(tmp):
    """Bad magic and oversized frames get a clear error and a close; the node keeps serving."""
    c = Cluster(tmp, max_frame=65536)
    c.start("n1", "off")
    port = c.ports["n1"][1]

    def exchange(data):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(data)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.close()
        return got
    got = exchange(b"GET / HTTP/1.1\r\n\r\n")
    check(got[:4] == b"NNRP" and b"bad magic" in got, repr(got))
    got = exchange(b"NNRP\x01\x00\x00\x00" + struct.pack(">I", 65537))
    check(b"over max_frame_bytes 65536" in got, repr(got))
    got = exchange(b"NNRP\x09\x00\x00\x00" + struct.pack(">I", 1) + b"\x00")
    check(b"version 9" in got, repr(got))
    r = c.admin("n1", "drive", "--rate", "10", "--size", "70000", "--seconds", "1",
                expect_ok=False)
    check(r["_rc"] != 0 and "payload_bytes" in r["_err"], r["_err"])
    c.admin("n1", "ping")
    return c


def drive_async(c, node, rate, size, seconds):
    return subprocess.Popen([os.path.join(ARGS.bin, "nodenet-admin"), "--config",
                             c.config(node), "--node", node, "drive", "--rate", str(rate),
                             "--size", str(size), "--seconds", str(seconds), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def drive_result(p):
    """The tallies; nodenet-admin exits 1 when any call failed, which some cases expect."""
    out, err = p.communicate(timeout=120)
    try:
        res = json.loads(out)
    except ValueError:
        fail("drive printed no result: %s %s" % (out, err))
    check(p.returncode == (0 if res.get("failed") == 0 else 1), "drive exit %s: %s %s" % (
        p.returncode, out, err))
    return res


def case_sigkill_peer(tmp):
    """A peer killed mid-traffic: its calls fail 'peer down', then the mesh recovers."""
    c = Cluster(tmp, names=("n1", "n2", "n3"), call_timeout_ms=500, heartbeat_ms=100)
    for n in c.names:
        c.start(n, "prefer")
    wait_for("n1 mesh ready", lambda: all(
        ch["state"] == "ready" for ch in c.admin("n1", "mesh")["channels"]))
    p = drive_async(c, "n1", 200, 256, 4)
    wait_for("drive started", lambda: "rpc.drive.start" in c.log("n1"))
    wait_for("traffic to n2", lambda: c.channel("n1", "n2")["ok"] > 20)
    c.stop("n2", signal.SIGKILL)
    wait_for("calls to n2 fail peer_down",
             lambda: c.channel("n1", "n2")["failed"].get("peer_down", 0) > 0)
    c.start("n2", "prefer")
    res = drive_result(p)
    check(res["failures"].get("peer_down", 0) > 0, repr(res))
    check(set(res["failures"]) <= {"peer_down", "deadline"}, repr(res))
    check(res["succeeded"] > 0 and res["sent"] == res["succeeded"] + res["failed"], repr(res))
    ch = wait_for("n1->n2 back", lambda: (lambda ch: ch if ch["state"] == "ready" else None)(
        c.channel("n1", "n2")))
    check(ch["reconnects"] >= 1, repr(ch))
    res = drive_result(drive_async(c, "n1", 100, 64, 1))
    check(res["failed"] == 0 and res["succeeded"] == res["sent"], repr(res))
    return c


def case_sigterm_peer(tmp):
    """A peer stopped with SIGTERM and restarted mid-traffic: no call fails."""
    c = Cluster(tmp, names=("n1", "n2", "n3"), call_timeout_ms=5000)
    for n in c.names:
        c.start(n, "prefer")
    wait_for("n1 mesh ready", lambda: all(
        ch["state"] == "ready" for ch in c.admin("n1", "mesh")["channels"]))
    p = drive_async(c, "n1", 200, 256, 3)
    wait_for("traffic to n2", lambda: c.channel("n1", "n2")["ok"] > 20)
    stopped = c.stop("n2", signal.SIGTERM)
    check(stopped.returncode == 0, "n2 exit status %s" % stopped.returncode)
    check("rpc.channel.goodbye node=n1 peer=n2" in c.log("n1"), "n1 saw no goodbye")
    c.start("n2", "prefer")
    res = drive_result(p)
    check(res["failed"] == 0 and res["succeeded"] == res["sent"] and res["sent"] > 0, repr(res))
    return c


def case_reconfigure(tmp):
    """SIGHUP off -> prefer: the plaintext channel is replaced by a TLS one, make-before-break."""
    c = Cluster(tmp)
    c.start("n1", "off")
    c.start("n2", "prefer")
    wait_for("n1->n2 ready", lambda: c.channel("n1", "n2")["state"] == "ready")
    check(c.channel("n1", "n2")["encrypted"] is False, "off dialler should be plaintext")
    # The node re-reads the file it was started with.
    os.replace(c.config("n1", "prefer"), c.config("n1", "off"))
    c.modes["n1"] = "prefer"
    c.procs["n1"].send_signal(signal.SIGHUP)
    ch = wait_for("n1->n2 replaced by TLS", lambda: (lambda ch: ch if ch["encrypted"] else None)(
        c.channel("n1", "n2")))
    check(ch["state"] == "ready" and sum(ch["failed"].values()) == 0, repr(ch))
    check("replaced=1" in c.log("n1"), "no make-before-break replacement logged")
    return c


CASES = {
    "reconfigure": case_reconfigure,
    "tls_matrix": case_tls_matrix,
    "wrong_node_cert": case_wrong_node_cert,
    "other_ca_cert": case_other_ca_cert,
    "tool_clients": case_tool_clients,
    "frame_limits": case_frame_limits,
    "sigkill_peer": case_sigkill_peer,
    "sigterm_peer": case_sigterm_peer,
}


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    ARGS = ap.parse_args()
    run_case(CASES[ARGS.case])


if __name__ == "__main__":
    main()
