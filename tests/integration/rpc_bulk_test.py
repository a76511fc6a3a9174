#!/usr/bin/python3
"""Bulk RPC payloads byte for byte, over TLS and plaintext: a node n1 and bench_rpc (a node
of its own, "bench") exchange echoes of sizes around and above the size from which a
received payload is used where it lies (rpc/frame.c, NN_RPC_PAYLOAD_IN_PLACE_MIN) instead
of being copied, several in flight so that frames follow each other in one read. Both
directions take that path: n1 for the requests, bench_rpc for the replies. bench_rpc
checks every reply byte and exits 1 on any difference or failed call.

    rpc_bulk_test.py --bin BUILD/bin --src SOURCE
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rpc_cluster_test as rct  # noqa: E402  (Cluster, certs, run_case, check)

# Below, at and above 64 KiB, an odd size, and a bulk frame.
SIZES = (1000, 65535, 65536, 65537, 300001, 1048576)


def case_bulk(tmp):
    path = os.path.join(tmp, "certs")
    subprocess.run([os.path.join(rct.ARGS.src, "deploy", "gen-certs"), path, "n1", "bench"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rct.CERTS[path] = True
    for mode in ("require", "off"):
        sub = os.path.join(tmp, mode)
        os.makedirs(sub)
        os.symlink(path, os.path.join(sub, "certs"))
        rct.CERTS[os.path.join(sub, "certs")] = True
        c = rct.Cluster(sub, names=("n1", "bench"))
        c.start("n1", mode)
        nodes = ",".join("%s=127.0.0.1:%d" % (n, c.ports[n][1]) for n in c.names)
        try:
            for size in SIZES:
                for inflight in (1, 4):
                    r = subprocess.run(
                        [os.path.join(rct.ARGS.bin, "bench_rpc"), "echo", "--nodes", nodes,
                         "--peers", "n1", "--cluster-id", "7", "--cluster-name", "demo",
                         "--tls", "require" if mode == "require" else "off", "--certs", path,
                         "--size", str(size), "--inflight", str(inflight), "--seconds", "0.5"],
                        capture_output=True, text=True, timeout=120)
                    ok = [l for l in r.stdout.splitlines() if l.startswith("ok ")]
                    rct.check(r.returncode == 0 and ok, "%s size %d x%d: exit %d: %s %s" % (
                        mode, size, inflight, r.returncode, r.stdout[-500:], r.stderr[-2000:]))
                    calls = int(ok[0].split("calls=")[1].split()[0])
                    rct.check(calls > 0, "%s size %d x%d: no call completed" % (mode, size,
                                                                                 inflight))
                    want = "cipher=TLS_" if mode == "require" else "cipher=-"
                    rct.check(want in ok[0], "%s: %s" % (mode, ok[0]))
                print("  %s size %d ok" % (mode, size), flush=True)
            rct.check(c.procs["n1"].poll() is None, "n1 exited:\n" + c.log("n1")[-3000:])
        finally:
            c.stop_all()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    rct.ARGS = ap.parse_args()
    if not os.access(os.path.join(rct.ARGS.bin, "bench_rpc"), os.X_OK):
        print("SKIP: bench_rpc is not built in %s" % rct.ARGS.bin)
        sys.exit(77)
    rct.run_case(case_bulk)


if __name__ == "__main__":
    main()
