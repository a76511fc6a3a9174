#!/usr/bin/python3
"""tests/bench/mesh_bench.py: the mesh section of tests/bench/run-all, for one cluster size.

  mesh_bench.py --bin BIN --certs DIR --work DIR --nodes N [--idle-seconds S]
                [--settle S] [--rate R] [--timeout S] [--skip-roll]

Starts N nodes n1..nN (1 worker each, rpc_tls require, the certificates of deploy/gen-certs
in DIR: n1..nN and bench) on 127.0.0.1 from a generated config, and measures, reading
every figure from the nodes themselves (their metrics endpoint, /proc):
  up_s          time from the start of the first node (all N are started back to back,
                without waiting) until every node's metrics page shows its N-1 channels to
                the other nodes ready, N(N-1) in all; up_last_s the same from the start of
                the last node;
  rss_kib_per_channel   (sum of the N nodes' RSS - N x the RSS of one node started alone
                in a one-node config) / N(N-1) channels, after the mesh is up and settled;
                anon_kib_per_channel the same of RssAnon (without the shared library
                pages each node counts again); chan_kib_per_channel the same without the
                pages of the workers' receive rings (per worker, growing with the receives
                since start up to 4 MiB, whatever the number of channels);
  idle_pct      each node's CPU (every thread's run time, /proc/PID/task/*/schedstat) over
                an idle window of S seconds, as % of one core: the mean over the nodes
                (idle_max_pct: the busiest node); nothing but heartbeats runs then;
  roll_s        a rolling restart of all N nodes, one at a time: SIGTERM, wait for the exit,
                start it again, wait until its metrics show all its channels up in both
                directions (its own to every peer and to bench, and an inbound connection
                from each of them), then the next; roll_calls / roll_failed: the echo calls
                that bench_rpc (the node "bench" of the same config) made to all N nodes at
                --rate calls/s for the whole restart, and how many failed.
Prints "ok nodes=N channels=C up_s=... ..." and exits 0 when it could measure (a failed call
is reported in roll_failed, which run-all turns into a benchmark failure); 1 when it could
not. Every process it starts is stopped by pid, also on SIGTERM.
"""
import argparse
import glob
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

PROCS = []


def say(msg):
    print("mesh_bench: " + msg, file=sys.stderr, flush=True)


def free_ports(n, taken):
    """n distinct free ports below the ephemeral range, none of them in `taken`."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    lo, hi = (10000, low - 1) if low > 12000 else (61000, 65535)
    socks, ports = [], []
    while len(ports) < n:
        p = random.randint(lo, hi)
        if p in taken:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            s.close()
            continue
        socks.append(s)
        ports.append(p)
        taken.add(p)
    for s in socks:
        s.close()
    return ports


def write_config(path, certs, nodes):
    """nodes: [(name, mysql_port, rpc_port, metrics_port or None)]."""
    with open(path, "w") as f:
        f.write("cluster: { name: bench, id: 7 }\nnodes:\n")
        for name, mp, rp, xp in nodes:
            extra = ", metrics_port: %d" % xp if xp else ""
            f.write("  - { name: %s, host: 127.0.0.1, mysql_port: %d, rpc_port: %d%s }\n"
                    % (name, mp, rp, extra))
        f.write("security:\n  ca_file: %s/ca.pem\n  cert_file: %s/%%n-cert.pem\n"
                "  key_file: %s/%%n-key.pem\n  mysql_tls: true\n  rpc_tls: require\n"
                "  tool_subjects: [\"/C=CN/O=nodenet/CN=nodenet-admin\"]\n"
                "  admin_cert_file: %s/admin-cert.pem\n  admin_key_file: %s/admin-key.pem\n"
                "node:\n  workers: 1\n  data_dir: data/%%n\n" % ((certs,) * 5))


def start(cmd, log, cwd):
    out = open(log, "ab")
    # The child dies with us even if we are killed before we can stop it.
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         cwd=cwd, preexec_fn=lambda: __import__("ctypes").CDLL(None).prctl(
                             1, signal.SIGTERM))
    out.close()
    PROCS.append(p)
    return p


def stop(p, secs=20):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(secs)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def stop_all():
    for p in list(PROCS):
        stop(p)


def page(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=3) as r:
            return r.read().decode()
    except OSError:
        return None


READY = re.compile(r'^nodenet_rpc_channel_state\{peer="([^"]+)",state="ready"\} 1$', re.M)
INBOUND = re.compile(r'^nodenet_rpc_inbound_node_connections (\d+)$', re.M)


def ready_peers(text):
    return set(READY.findall(text or ""))


def inbound(text):
    m = INBOUND.search(text or "")
    return int(m.group(1)) if m else -1


def rss_kib(pid, field="VmRSS"):
    """VmRSS counts the shared library pages a process touched (code run only once it has
    peers: the TLS client side, signature checks) in every process; RssAnon is its own
    memory alone."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# A worker's receive ring (net/loop.c: RECV_BUF_COUNT 256 x RECV_BUF_SIZE 16 KiB, one malloc,
# so its own mapping with malloc's page in front). The kernel fills its buffers in ring order,
# so every receive touches the next buffer's first page(s) whatever the connection: its RSS
# grows with the number of receives since start (up to 4 MiB per worker), not with channels.
RECV_RING_KIB = 256 * 16 + 4


def ring_kib(pid):
    """The RSS of pid's receive rings: anonymous mappings of exactly RECV_RING_KIB."""
    total, size, anon = 0, None, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", head[0]):
                anon = len(head) < 6  # no path: anonymous
            elif head[0] == "Size:":
                size = int(head[1])
            elif head[0] == "Rss:" and anon and size == RECV_RING_KIB:
                total += int(head[1])
    return total


def cpu_ns(pid):
    """Run time of every thread of pid, in ns (finer than utime+stime's clock ticks)."""
    total = 0
    for f in glob.glob("/proc/%d/task/*/schedstat" % pid):
        try:
            total += int(open(f).read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def wait_metrics(port, proc, secs):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if page(port) is not None:
            return True
        time.sleep(0.05)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--nodes", type=int, required=True)
    ap.add_argument("--idle-seconds", type=float, default=10)
    ap.add_argument("--settle", type=float, default=3)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--skip-roll", action="store_true")
    a = ap.parse_args()
    n = a.nodes
    a.bin = os.path.abspath(a.bin)
    a.certs = os.path.abspath(a.certs)
    nodenet = os.path.join(a.bin, "nodenet")
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    taken = set()
    names = ["n%d" % i for i in range(1, n + 1)]

    # One node alone: the RSS every node has before it has any channel.
    alone_dir = os.path.join(work, "alone")
    os.makedirs(alone_dir, exist_ok=True)
    mp, rp, xp = free_ports(3, taken)
    write_config(os.path.join(alone_dir, "cluster.yaml"), a.certs, [("n1", mp, rp, xp)])
    p = start([nodenet, "--config", "cluster.yaml", "--node", "n1", "--log-level", "warn"],
              os.path.join(alone_dir, "n1.log"), alone_dir)
    if not wait_metrics(xp, p, a.timeout):
        say("the lone node did not start: see %s/n1.log" % alone_dir)
        return 1
    time.sleep(a.settle)
    alone_rss = rss_kib(p.pid)
    alone_anon = rss_kib(p.pid, "RssAnon")
    alone_ring = ring_kib(p.pid)
    stop(p)

    # The cluster, plus bench (the traffic of the rolling restart; not running until then).
    ports = free_ports(3 * n + 2, taken)
    spec = [(names[i], ports[3 * i], ports[3 * i + 1], ports[3 * i + 2]) for i in range(n)]
    bench_port = ports[3 * n + 1]
    spec.append(("bench", ports[3 * n], bench_port, None))
    cfg = os.path.join(work, "cluster.yaml")
    write_config(cfg, a.certs, spec)
    metrics_port = {s[0]: s[3] for s in spec[:n]}
    procs = {}
    t0 = time.monotonic()
    for name in names:
        procs[name] = start([nodenet, "--config", cfg, "--node", name, "--log-level", "warn"],
                            os.path.join(work, name + ".log"), work)
    t_last = time.monotonic()
    launch_s = t_last - t0

    # Readiness from each node's metrics page: a node is complete once its N-1 channels to
    # the other nodes are ready (its channel to bench cannot be: bench is not running).
    done_at = {}
    deadline = t0 + a.timeout
    while len(done_at) < n and time.monotonic() < deadline:
        for name in names:
            if name in done_at:
                continue
            if procs[name].poll() is not None:
                say("%s exited during start: see %s/%s.log" % (name, work, name))
                return 1
            peers = ready_peers(page(metrics_port[name])) - {"bench"}
            if len(peers) == n - 1:
                done_at[name] = time.monotonic()
        time.sleep(0.02)
    if len(done_at) < n:
        missing = [x for x in names if x not in done_at]
        say("channels not all up within %.0f s: %s" % (a.timeout, ", ".join(missing[:8])))
        return 1
    t_up = max(done_at.values())
    up_s, up_last_s = t_up - t0, t_up - t_last
    say("%d nodes: %d channels up %.2f s after the first start (%.2f s after the last; "
        "the %d starts took %.2f s)" % (n, n * (n - 1), up_s, up_last_s, n, launch_s))

    # Settle, then memory and an idle window (no traffic, no scrapes during it).
    time.sleep(a.settle)
    total_rss = sum(rss_kib(procs[x].pid) for x in names)
    rss_per_channel = (total_rss - n * alone_rss) / (n * (n - 1))
    total_anon = sum(rss_kib(procs[x].pid, "RssAnon") for x in names)
    anon_per_channel = (total_anon - n * alone_anon) / (n * (n - 1))
    # The same without the receive rings' pages (a per-worker cost that grows with receives
    # since start, up to 4 MiB, not with channels): what the channels themselves hold.
    total_ring = sum(ring_kib(procs[x].pid) for x in names)
    chan_per_channel = anon_per_channel - (total_ring - n * alone_ring) / (n * (n - 1))
    c0 = {x: cpu_ns(procs[x].pid) for x in names}
    w0 = time.monotonic()
    time.sleep(a.idle_seconds)
    c1 = {x: cpu_ns(procs[x].pid) for x in names}
    window = time.monotonic() - w0
    pct = {x: (c1[x] - c0[x]) / (window * 1e9) * 100 for x in names}
    idle_mean = sum(pct.values()) / n
    idle_max = max(pct.values())
    say("RSS %d KiB in all (alone %d KiB each): %.1f KiB per channel (anonymous: %.1f, "
        "without the receive rings: %.1f; the rings: %d KiB per node); idle CPU per node %.3f%% of a core (max %.3f%%, all together %.2f%%) over %.1f s"
        % (total_rss, alone_rss, rss_per_channel, anon_per_channel, chan_per_channel,
           total_ring // n, idle_mean, idle_max,
           sum(pct.values()), window))

    roll_s, roll_calls, roll_failed, roll_max_node_s = -1.0, 0, 0, -1.0
    first_error = "-"
    if not a.skip_roll:
        stop_file = os.path.join(work, "traffic.stop")
        nodes_arg = ",".join("%s=127.0.0.1:%d" % (s[0], s[2]) for s in spec)
        traffic_log = os.path.join(work, "traffic.log")
        tr = subprocess.Popen(
            [os.path.join(a.bin, "bench_rpc"), "echo", "--nodes", nodes_arg, "--peers",
             ",".join(names), "--cluster-id", "7", "--tls", "require", "--certs", a.certs,
             "--size", "64", "--inflight", "256", "--until-file", stop_file, "--rate",
             str(a.rate)], stdout=subprocess.PIPE, stderr=open(traffic_log, "ab"),
            stdin=subprocess.DEVNULL, text=True,
            preexec_fn=lambda: __import__("ctypes").CDLL(None).prctl(1, signal.SIGTERM))
        PROCS.append(tr)
        line = tr.stdout.readline().strip()
        if line != "running":
            say("bench_rpc did not start its traffic: see %s" % traffic_log)
            return 1
        # bench's own channels count from here: each node has n channels each way.
        r0 = time.monotonic()
        per_node = []
        for name in names:
            s0 = time.monotonic()
            stop(procs[name], a.timeout)
            procs[name] = start([nodenet, "--config", cfg, "--node", name, "--log-level",
                                 "warn"], os.path.join(work, name + ".log"), work)
            end = time.monotonic() + a.timeout
            back = False
            while time.monotonic() < end:
                if procs[name].poll() is not None:
                    break
                text = page(metrics_port[name])
                if text is not None and len(ready_peers(text)) == n and inbound(text) >= n:
                    back = True
                    break
                time.sleep(0.02)
            if not back:
                say("%s did not come back with all its channels within %.0f s" % (name, a.timeout))
                open(stop_file, "w").close()
                return 1
            per_node.append(time.monotonic() - s0)
        roll_s = time.monotonic() - r0
        roll_max_node_s = max(per_node)
        open(stop_file, "w").close()
        out, _ = tr.communicate(timeout=60)
        PROCS.remove(tr)
        m = re.search(r"^ok calls=(\d+) failed=(\d+) .* first_error=(.*)$", out, re.M)
        if not m:
            say("bench_rpc printed no result: see %s" % traffic_log)
            return 1
        roll_calls, roll_failed, first_error = int(m.group(1)), int(m.group(2)), m.group(3)
        say("rolling restart of %d nodes: %.2f s (slowest node %.2f s), %d calls, %d failed%s"
            % (n, roll_s, roll_max_node_s, roll_calls, roll_failed,
               "" if roll_failed == 0 else " (first: %s)" % first_error))

    print("ok nodes=%d channels=%d up_s=%.3f up_last_s=%.3f launch_s=%.3f "
          "rss_kib_per_channel=%.2f anon_kib_per_channel=%.2f chan_kib_per_channel=%.2f "
          "alone_rss_kib=%d "
          "idle_pct=%.4f idle_max_pct=%.4f "
          "idle_window_s=%.1f roll_s=%.3f roll_max_node_s=%.3f roll_calls=%d roll_failed=%d"
          % (n, n * (n - 1), up_s, up_last_s, launch_s, rss_per_channel, anon_per_channel,
             chan_per_channel, alone_rss, idle_mean,
             idle_max, window, roll_s, roll_max_node_s, roll_calls, roll_failed), flush=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        rc = main()
    finally:
        stop_all()
    sys.exit(rc)
