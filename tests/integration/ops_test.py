#!/usr/bin/python3
"""Operator-facing integration tests (issue 14): TLS that heals itself, metrics, certificate
expiry. Real nodenet processes on 127.0.0.1, driven with nodenet-admin and curl; each case
has its own temp dir and free ports, waits on readiness by bounded polling, and stops only
the processes it started, by pid. Reuses rpc_cluster_test.py's cluster helpers.

    ops_test.py --bin BUILD/bin --src SOURCE CASE
"""
import argparse
import os
import re
import signal
import sys

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


CASES = {
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
