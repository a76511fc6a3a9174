#!/usr/bin/python3
"""The mesh's heartbeat (issue 15, rpc/conn.c hb_fire): of an idle pair of nodes only one
probes every period, and a peer silent for 3 heartbeat periods is still called down from
either side. Real nodenet processes on 127.0.0.1, through rpc_cluster_test.py's cluster,
tool client and case runner.

    mesh_test.py --bin BUILD/bin --src SOURCE CASE
"""
import argparse
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rpc_cluster_test as rc  # noqa: E402
from rpc_cluster_test import Cluster, Tool, check, wait_for  # noqa: E402


def mesh_ready(c):
    for n in c.names:
        t = Tool(c.ports[n][1])
        wait_for(n + " mesh ready", lambda: all(
            ch["state"] == "ready" for ch in t.mesh()["channels"].values()), timeout=60)
        t.close()


def bytes_out(c):
    """{(node, peer): (frame bytes node sent on its channel to peer, calls that succeeded on
    it)}, from mesh.state."""
    out = {}
    for n in c.names:
        t = Tool(c.ports[n][1])
        m = t.call("mesh.state")
        for raw in m.get(2, []):
            ch = rc.pb_parse(raw)
            out[(n, rc.pb_one(ch, 1, ""))] = (rc.pb_one(ch, 11), rc.pb_one(ch, 8))
        t.close()
    return out


def case_idle_pair_one_prober(tmp):
    """Idle, each pair exchanges one probe per period: the node whose name sorts first
    probes every period, the other only keeps its own connection alive (every 5 periods);
    and the mesh stays up all the while."""
    hb = 200
    c = Cluster(tmp, names=("n1", "n2", "n3"), heartbeat_ms=hb)
    for n in c.names:
        c.start(n, "prefer")
    mesh_ready(c)
    time.sleep(2)  # the catalog's first pulls (one per channel) are over
    window = 4.0
    for _ in range(5):
        before = bytes_out(c)
        time.sleep(window)
        after = bytes_out(c)
        # Only heartbeats may be in the window: a catalog call (its pulls on a ready
        # channel, its safety net every 30 s) would add its own bytes; measure again then.
        if all(after[k][1] == before[k][1] for k in before):
            break
        print("  a call fell in the window; again", flush=True)
    else:
        check(False, "no window of %.0f s without calls in 5 tries" % window)
    grew = {k: after[k][0] - before[k][0] for k in before}
    print("  frame bytes sent in %.0f s idle: %r" % (window, sorted(grew.items())), flush=True)
    for a, b in (("n1", "n2"), ("n1", "n3"), ("n2", "n3")):
        prober, other = grew[(a, b)], grew[(b, a)]
        # The prober: one probe per period (~window/hb of them, each ~15 bytes).
        check(prober >= 10 * (window * 1000 / hb) * 0.5,
              "%s probed %s too little: %d bytes" % (a, b, prober))
        # The other side: keepalives only, a fifth as many at most (and frames of the
        # catalog's rare pulls, if one fell in the window).
        check(other * 2 < prober, "%s probed %s as much as %s did it: %d vs %d bytes"
              % (b, a, a, other, prober))
    mesh_ready(c)


def case_frozen_prober_called_down(tmp):
    """The node that does not probe (n2 of the pair n1-n2) still calls its peer down when
    the prober stops (SIGSTOP: no FIN, no RST): 3 periods of silence, from its side too;
    after SIGCONT the mesh comes back."""
    hb = 300
    c = Cluster(tmp, names=("n1", "n2"), heartbeat_ms=hb)
    for n in c.names:
        c.start(n, "prefer")
    mesh_ready(c)
    time.sleep(1)
    frozen_at = time.monotonic()
    os.kill(c.procs["n1"].pid, signal.SIGSTOP)
    try:
        pat = (r'rpc\.channel\.down node=n2 peer=n1 reason="no frame from n1 for (\d+) ms '
               r'\(heartbeat\)"')
        m = wait_for("n2 calls frozen n1 down", lambda: re.search(pat, c.log("n2")),
                     timeout=30, interval=0.02)
        noticed_ms = (time.monotonic() - frozen_at) * 1000
        print("  n2 called frozen n1 down after %.0f ms (its log: %s ms of silence)"
              % (noticed_ms, m.group(1)), flush=True)
        check(int(m.group(1)) <= 3 * hb + hb // 2 + 400, "heartbeat saw %s ms" % m.group(1))
        check(noticed_ms < 3 * hb + 3000, "down noticed after %.0f ms" % noticed_ms)
    finally:
        os.kill(c.procs["n1"].pid, signal.SIGCONT)
    mesh_ready(c)


CASES = {
    "idle_pair_one_prober": case_idle_pair_one_prober,
    "frozen_prober_called_down": case_frozen_prober_called_down,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    rc.ARGS = ap.parse_args()
    rc.run_case(CASES[rc.ARGS.case])


if __name__ == "__main__":
    main()
