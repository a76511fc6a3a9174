#!/usr/bin/env python3
"""tests/integration/rel_more_test.py: RELIABILITY.md's certificate-reload cases (29, 30, 32),
the TLS-stripping man in the middle of case 33 and the client that never reads (34), each
against real nodenet nodes.

    rel_more_test.py --bin BUILD/bin --src SOURCE_DIR CASE   (CASE: 29 30 30rpc 32 33 34)

The MySQL-port cases (29, 30, 32, 34) reuse mysql_rel_test.py's node, raw-protocol client and
mariadb CLI, and end, as every case there, with the CLI logging in and querying. Case 33
reuses rpc_cluster_test.py's cluster and nodenet-admin, and ends with calls going through on
TLS; "30rpc" (case 30 on the mesh) likewise. Outcomes are asserted, never times; rates
and memory are printed.

Exit 0 on success, 1 on failure, 77 when a client tool (mariadb, openssl) is missing."""
import argparse
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mysql_rel_test as mr  # noqa: E402
from mysql_rel_test import check, wait_for  # noqa: E402

ARGS = None


# ------------------------------------------------------------- certificates


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), check=True, capture_output=True,
                          text=True).stdout


def cert_serial(path):
    """The certificate's serial as Python's getpeercert() spells it (upper-case hex)."""
    out = openssl("x509", "-noout", "-serial", "-in", path).strip()
    return out.split("=", 1)[1].upper()


def new_leaf(certs, out_dir, days=400):
    """A new n1 certificate and key from the same CA (gen-certs reuses the CA it finds)."""
    os.makedirs(out_dir, exist_ok=True)
    for f in ("ca.pem", "ca-key.pem"):
        shutil.copy(os.path.join(certs, f), out_dir)
    subprocess.run([os.path.join(ARGS.src, "deploy", "gen-certs"), out_dir, "--days", str(days),
                    "n1"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.join(out_dir, "n1-cert.pem"), os.path.join(out_dir, "n1-key.pem")


def dated_leaf(certs, out_dir, start, end):
    """An n1 certificate (n1's own key) valid from START to END (YYYYMMDDHHMMSSZ): gen-certs
    cannot date a start, and its negative --days needs an `openssl x509 -days` that takes
    one (OpenSSL 3.0's refuses it); `openssl ca -startdate/-enddate` does both."""
    os.makedirs(out_dir, exist_ok=True)
    db = os.path.join(out_dir, "db")
    os.makedirs(db, exist_ok=True)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "serial"), "w") as f:
        f.write("7E57\n")
    cnf = os.path.join(out_dir, "ca.cnf")
    with open(cnf, "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index.txt\nnew_certs_dir = %s\n"
                "serial = %s/serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n"
                "x509_extensions = ext\n[p]\ncommonName = supplied\n[ext]\n"
                "subjectAltName = DNS:n1,IP:127.0.0.1\nextendedKeyUsage = serverAuth,clientAuth\n"
                % (db, db, db))
    csr = os.path.join(out_dir, "n1.csr")
    openssl("req", "-new", "-key", os.path.join(certs, "n1-key.pem"), "-subj", "/CN=n1", "-out",
            csr)
    cert = os.path.join(out_dir, "n1-cert.pem")
    openssl("ca", "-batch", "-config", cnf, "-cert", os.path.join(certs, "ca.pem"), "-keyfile",
            os.path.join(certs, "ca-key.pem"), "-in", csr, "-out", cert, "-notext",
            "-startdate", start, "-enddate", end)
    return cert


def install(certs, cert_src, key_src):
    """Puts n1's certificate and key in place, each file atomically (as an operator's
    deploy would); a None source leaves that file as it is."""
    for src, name in ((cert_src, "n1-cert.pem"), (key_src, "n1-key.pem")):
        if src is None:
            continue
        dst = os.path.join(certs, name)
        shutil.copy(src, dst + ".new")
        os.replace(dst + ".new", dst)


def served_serial(node):
    """The serial of the certificate a new TLS handshake on the MySQL port sees (verified
    against the CA), from a raw SSLRequest + handshake."""
    s = mr.raw_connect(node)
    try:
        mr.greeting(s)
        t = mr.tls_upgrade(node, s)
        serial = t.getpeercert()["serialNumber"].upper()
        t.close()
        return serial
    except (OSError, ssl.SSLError) as e:
        s.close()
        return "handshake failed: %s" % e


def sighup_and_wait(node, marks):
    """SIGHUP, then waits for one of the log events in `marks` to be written once more;
    returns the log text the reload wrote."""
    log = node.log()
    before = {m: log.count(m) for m in marks}
    node.proc.send_signal(signal.SIGHUP)
    ok = wait_for("reload outcome", lambda: any(node.log().count(m) > before[m] for m in marks),
                  20)
    return node.log()[len(log):] if ok else ""


# ----------------------------------------------------------------- case 29


def case_29(node):
    """A reload with bad certificate files is refused: the node logs the rejection, keeps the
    old certificate (same serial on a new handshake) and serves logins."""
    certs = node.certs
    old_cert = os.path.join(node.dir, "good-cert.pem")
    old_key = os.path.join(node.dir, "good-key.pem")
    shutil.copy(os.path.join(certs, "n1-cert.pem"), old_cert)
    shutil.copy(os.path.join(certs, "n1-key.pem"), old_key)
    old_serial = cert_serial(old_cert)
    check("rel_29_serves_the_old_certificate_first", served_serial(node) == old_serial)
    expired_cert = dated_leaf(certs, os.path.join(node.dir, "expired"), "20200101000000Z",
                              "20210101000000Z")
    future_cert = dated_leaf(certs, os.path.join(node.dir, "future"), "20400101000000Z",
                             "20410101000000Z")
    _, other_key = new_leaf(certs, os.path.join(node.dir, "other"))
    truncated = os.path.join(node.dir, "truncated-cert.pem")
    with open(old_cert) as f:
        pem = f.read()
    with open(truncated, "w") as f:
        f.write(pem[:len(pem) // 2])  # a copy cut off half-way: no END line
    variants = [
        # name, cert file, key file, what the rejection says
        ("expired", expired_cert, old_key, r"expired on"),
        ("not_yet_valid", future_cert, old_key, r"not valid before"),
        ("key_does_not_match", old_cert, other_key, r"does not match"),
        ("truncated_pem", truncated, old_key, r"n1-cert\.pem: .*PEM"),
        ("empty_file", os.devnull, old_key, r"n1-cert\.pem: no PEM"),
    ]
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        variants.append(("unreadable", old_cert, old_key, r"n1-cert\.pem"))
    else:
        print("    (running as root: a mode-000 file is readable; 'unreadable' is a directory"
              " in the certificate's place instead)", flush=True)
    for name, cert, key, why in variants:
        if name == "empty_file":
            open(os.path.join(certs, "n1-cert.pem.new"), "w").close()
            os.replace(os.path.join(certs, "n1-cert.pem.new"), os.path.join(certs, "n1-cert.pem"))
            install(certs, None, key)
        else:
            install(certs, cert, key)
        if name == "unreadable":
            os.chmod(os.path.join(certs, "n1-cert.pem"), 0)
        wrote = sighup_and_wait(node, (" node.reload.failed ", " node.reload "))
        m = re.search(r"node\.reload\.failed .*", wrote)
        check("rel_29_%s_reload_rejected_and_logged" % name,
              m is not None and re.search(why, m.group(0)) is not None, repr(wrote[-600:]))
        if m:
            print("    %s: %s" % (name, m.group(0)[:240]), flush=True)
        check("rel_29_%s_old_certificate_still_served" % name, served_serial(node) == old_serial)
        rc, out = mr.cli(node, "root", "rootpw", "tls", "SELECT 'in'")
        check("rel_29_%s_client_logs_in_verified" % name, rc == 0 and out == "in", out)
        install(certs, old_cert, old_key)
    if os.geteuid() == 0:
        # Root ignores file modes: a directory where the certificate should be cannot be read.
        path = os.path.join(certs, "n1-cert.pem")
        os.replace(path, path + ".kept")
        os.mkdir(path)
        wrote = sighup_and_wait(node, (" node.reload.failed ", " node.reload "))
        check("rel_29_unreadable_reload_rejected_and_logged",
              re.search(r"node\.reload\.failed .*n1-cert\.pem", wrote) is not None,
              repr(wrote[-600:]))
        check("rel_29_unreadable_old_certificate_still_served", served_serial(node) == old_serial)
        os.rmdir(path)
        os.replace(path + ".kept", path)
    # The good files back: a reload takes them again (the node did not get stuck).
    wrote = sighup_and_wait(node, (" node.reload.failed ", " node.reload "))
    check("rel_29_good_files_reload_again", " node.reload " in wrote and
          "node.reload.failed" not in wrote, repr(wrote[-600:]))


# ----------------------------------------------------------------- case 30


def resumption_attempt(node, tls_version):
    """Logs in over TLS (one version), queries, so that any ticket the node sends after the
    handshake has been read, then offers the saved session on a new connection. Returns
    (whether the first session held a ticket, whether the second handshake resumed)."""
    ctx = mr.client_context(node)
    ctx.minimum_version = ctx.maximum_version = tls_version
    s, why = mr.login(node, "load", "loadpw", tls=True, ctx=ctx)
    if s is None:
        return None, "login failed: %r" % (why,)
    mr.query(s, "SELECT 1")
    sess = s.session
    s.close()
    r = mr.raw_connect(node)
    try:
        mr.greeting(r)
        r.sendall(mr.packet(1, mr.ssl_request()))
        t = ctx.wrap_socket(r, server_hostname="n1", session=sess)
        reused = t.session_reused
        t.close()
        return sess is not None and sess.has_ticket, reused
    except (OSError, ssl.SSLError) as e:
        r.close()
        return None, "second handshake failed: %s" % e


def s_client(node, tls, sess_out=None, sess_in=None):
    args = ["openssl", "s_client", "-starttls", "mysql", "-connect",
            "127.0.0.1:%d" % node.mysql_port, "-CAfile", os.path.join(node.certs, "ca.pem"),
            "-verify_return_error", "-" + tls]
    if sess_out:
        args += ["-sess_out", sess_out]
    if sess_in:
        args += ["-sess_in", sess_in]
    # A moment of input: TLS 1.3 tickets come after the handshake, while s_client waits.
    p = subprocess.run(["sh", "-c", 'sleep 0.5 | "$@"', "sh"] + args, capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def case_30(node):
    """A successful reload: a session opened before it goes on querying after it, new
    handshakes see the new serial, and no TLS session is ever resumed on the MySQL port
    (no tickets, no session-ID cache), so no old session can skip a new CA."""
    certs = node.certs
    old_serial = cert_serial(os.path.join(certs, "n1-cert.pem"))
    before, why = mr.login(node, "load", "loadpw", tls=True)
    check("rel_30_session_opened_before_the_reload", before is not None, repr(why))
    r = mr.query(before, "SELECT 'before'")
    check("rel_30_session_queries_before", r[0] is not None and r[0][1][:1] not in (b"\xff",))
    cert, key = new_leaf(certs, os.path.join(node.dir, "rotated"))
    new_serial = cert_serial(cert)
    check("rel_30_new_certificate_has_a_new_serial", new_serial != old_serial)
    install(certs, cert, key)
    wrote = sighup_and_wait(node, (" node.reload.failed ", " node.reload "))
    check("rel_30_reload_accepted", " node.reload " in wrote and "reload.failed" not in wrote,
          repr(wrote[-600:]))
    for i in range(3):
        r = mr.query(before, "SELECT 'after %d'" % i)
        ok = r[-1] is not None and len(r) >= 4 and ("after %d" % i).encode() in r[-2][1]
        check("rel_30_old_session_goes_on_querying_%d" % i, ok, repr(r))
    before.close()
    check("rel_30_new_handshakes_see_the_new_serial", served_serial(node) == new_serial)
    rc, out = mr.cli(node, "root", "rootpw", "tls", "SELECT 'new'")
    check("rel_30_cli_login_on_the_new_certificate", rc == 0 and out == "new", out)
    # Session resumption: a client that kept its session (Python's ssl, after a query, so
    # that a TLS 1.3 ticket would have been read) offers it again: never resumed ...
    for name, v in (("tls1_2", ssl.TLSVersion.TLSv1_2), ("tls1_3", ssl.TLSVersion.TLSv1_3)):
        ticket, reused = resumption_attempt(node, v)
        print("    %s: the node issued a ticket: %s; offered again, resumed: %s" % (
            name, ticket, reused), flush=True)
        check("rel_30_%s_no_ticket_issued" % name, ticket is False, repr(ticket))
        check("rel_30_%s_saved_session_not_resumed_python" % name, reused is False, repr(reused))
    # ... and whatever openssl s_client saves from a first handshake does not resume either.
    for tls in ("tls1_2", "tls1_3"):
        sess = os.path.join(node.dir, "sess-%s.pem" % tls)
        rc, out = s_client(node, tls, sess_out=sess)
        check("rel_30_%s_handshake_verified" % tls, "Verify return code: 0 (ok)" in out,
              out[-800:])
        tickets = len(re.findall(r"TLS session ticket:", out))
        print("    %s: first handshake %s, session saved: %s, tickets shown: %d" % (
            tls, "New" if ", Cipher is" in out else "?", os.path.exists(sess), tickets),
            flush=True)
        if not os.path.exists(sess):
            check("rel_30_%s_no_session_to_resume" % tls, True)
            continue
        rc, out = s_client(node, tls, sess_in=sess)
        check("rel_30_%s_saved_session_not_resumed" % tls,
              "Reused," not in out and "New," in out, out[-800:])


# ----------------------------------------------------------------- case 32


def case_32(node):
    """Reloads at a high rate (each SIGHUP flips n1's certificate between two leaves of the
    CA, a whole directory at a time) while clients log in over verified TLS as fast as they
    can: no failed handshake or login, every handshake sees one of the two certificates,
    every reload is taken, and (checked at the end by main) no sanitizer report."""
    secs = float(os.environ.get("NODENET_REL_32_SECONDS", "12"))
    # certs -> certs-a | certs-b: a symlink flipped with rename(2), so a reload reads the
    # certificate and the key of one directory (the config names certs/...).
    a = os.path.join(node.dir, "certs-a")
    b = os.path.join(node.dir, "certs-b")
    os.rename(node.certs, a)
    new_leaf(a, b)
    for f in ("client-cert.pem", "client-key.pem", "admin-cert.pem", "admin-key.pem"):
        if os.path.exists(os.path.join(a, f)):
            shutil.copy(os.path.join(a, f), b)
    os.symlink("certs-a", node.certs)
    serials = {cert_serial(os.path.join(d, "n1-cert.pem")) for d in (a, b)}
    stop = threading.Event()
    lock = threading.Lock()
    stats = {"ok": 0, "failed": [], "foreign": []}
    reloads = [0]

    def client():
        ctx = mr.client_context(node)
        while not stop.is_set():
            s, why = mr.login(node, "load", "loadpw", tls=True, ctx=ctx)
            if s is None:
                with lock:
                    stats["failed"].append(why)
                continue
            serial = s.getpeercert()["serialNumber"].upper()
            r = mr.query(s, "SELECT 1")
            s.close()
            with lock:
                if r[-1] is None or r[0][1][:1] == b"\xff":
                    stats["failed"].append("query: %r" % (r,))
                elif serial not in serials:
                    stats["foreign"].append(serial)
                else:
                    stats["ok"] += 1

    def reloader():
        target = "certs-b"
        while not stop.is_set():
            tmp = node.certs + ".new"
            os.symlink(target, tmp)
            os.replace(tmp, node.certs)
            target = "certs-a" if target == "certs-b" else "certs-b"
            node.proc.send_signal(signal.SIGHUP)
            reloads[0] += 1
            time.sleep(0.025)  # about 40 reloads/s

    threads = [threading.Thread(target=client) for _ in range(4)]
    threads.append(threading.Thread(target=reloader))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(secs)
    stop.set()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    time.sleep(0.5)
    log = node.log()
    done = log.count(" node.reload ")
    failed = log.count(" node.reload.failed ")
    print("    %d SIGHUPs (%.0f/s), %d reloads logged, %d rejected; %d logins (%.0f/s) over "
          "verified TLS" % (reloads[0], reloads[0] / took, done, failed, stats["ok"],
                            stats["ok"] / took), flush=True)
    check("rel_32_no_failed_handshake_or_login", not stats["failed"], repr(stats["failed"][:5]))
    check("rel_32_every_handshake_saw_one_of_the_two_certificates", not stats["foreign"],
          repr(stats["foreign"][:5]))
    check("rel_32_logins_happened", stats["ok"] > 0)
    check("rel_32_reloads_happened", done > 10, "%d" % done)
    check("rel_32_no_reload_rejected", failed == 0,
          "\n".join(re.findall(r".*node\.reload\.failed.*", log)[:3]))


# ----------------------------------------------------------------- case 34


def case_34(node):
    """A logged-in client pipelines commands and never reads: once its unsent replies reach
    the session's limit (the node's default, 1 MiB) the node stops reading it; its RSS grows
    by at most that plus a constant; every other session is served. Plaintext and TLS."""
    limit = 1 << 20
    pipelined = int(os.environ.get("NODENET_REL_34_COMMANDS", "1500000"))
    quarantine = (256 << 20) if node.sanitized() else 0
    base = mr.Baseline(node)
    sql = b"SELECT 1"
    pkt = (len(sql) + 1).to_bytes(3, "little") + b"\x00\x03" + sql
    batch = pkt * 10000
    for tls in (False, True):
        kind = "tls" if tls else "plaintext"
        s, why = mr.login(node, "load", "loadpw", tls=tls)
        if not check("rel_34_%s_login" % kind, s is not None, repr(why)):
            continue
        s.settimeout(None)
        rss0 = node.rss_kb()
        sent = [0]
        peak = [rss0]

        def writer():
            try:
                while sent[0] < pipelined:
                    s.sendall(batch)
                    sent[0] += 10000
            except (OSError, ValueError, AttributeError):
                pass  # shut down under it, once the case is done
        w = threading.Thread(target=writer, daemon=True)
        w.start()
        # Stuck: no progress for 1.5 s while the writer still has commands to send.
        last = [-1, time.monotonic()]

        def stuck():
            peak[0] = max(peak[0], node.rss_kb())
            if sent[0] != last[0]:
                last[0], last[1] = sent[0], time.monotonic()
                return False
            return time.monotonic() - last[1] > 1.5
        blocked = wait_for("the writer to be blocked", stuck, 90, 0.1) and w.is_alive()
        check("rel_34_%s_node_stopped_reading" % kind, blocked,
              "sent %d of %d" % (sent[0], pipelined))
        # Every other session is served meanwhile: raw, both ways, and the CLI.
        for other_tls in (False, True):
            o, why = mr.login(node, "load", "loadpw", tls=other_tls)
            r = mr.query(o, "SELECT 'other'") if o is not None else [None]
            check("rel_34_%s_other_%s_session_served" % (kind, "tls" if other_tls else "plain"),
                  o is not None and r[-1] is not None and b"other" in r[-2][1], repr(why or r))
            if o is not None:
                o.close()
        rc, out = mr.cli(node, "root", "rootpw", "tls", "SELECT 'cli'")
        check("rel_34_%s_cli_served_meanwhile" % kind, rc == 0 and out == "cli", out)
        time.sleep(0.5)
        peak[0] = max(peak[0], node.rss_kb())
        growth = (peak[0] - rss0) * 1024
        print("    %s: %d of %d commands written before the node stopped reading; RSS %d KiB ->"
              " peak %d KiB (+%.1f MiB; bound %.0f MiB%s)" % (
                  kind, sent[0], pipelined, rss0, peak[0], growth / 2**20,
                  (limit + (16 << 20) + quarantine) / 2**20,
                  ", with ASan's quarantine" if quarantine else ""), flush=True)
        check("rel_34_%s_rss_within_limit_plus_constant" % kind,
              growth < limit + (16 << 20) + quarantine, "%d bytes" % growth)
        # Leave without reading: the node must let the session go.
        try:
            socket.socket.shutdown(s, socket.SHUT_RDWR)
        except OSError:
            pass
        w.join(30)
        s.close()
    base.settled("rel_34", rss=False)


# ----------------------------------------------------------------- case 33


class Mitm:
    """A TLS-stripping man in the middle between n1 and n2's RPC port. Modes: pass (relay
    both ways), close (answer the ClientHello by closing, as a listener with TLS off does),
    inject (answer it with plaintext RPC bytes, then close). Records each connection's first
    bytes from the dialler."""

    def __init__(self, target_port):
        self.target = target_port
        self.mode = "pass"
        self.firsts = []
        self.conns = []
        self.lock = threading.Lock()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        mode = self.mode
        c.settimeout(10)
        try:
            first = c.recv(65536)
        except OSError:
            first = b""
        with self.lock:
            self.firsts.append((mode, first[:4096]))
        if mode == "close" or not first:
            c.close()
            return
        if mode == "inject":
            body = b"\x12\x05hello\x18\x02"  # a plaintext RPC frame where TLS was expected
            try:
                c.sendall(b"NNRP\x01\x00\x00\x00" + len(body).to_bytes(4, "big") + body)
            except OSError:
                pass
            c.close()
            return
        try:
            u = socket.create_connection(("127.0.0.1", self.target), 10)
            u.sendall(first)
        except OSError:
            c.close()
            return
        c.settimeout(None)
        with self.lock:
            self.conns += [c, u]
        for src, dst in ((c, u), (u, c)):
            threading.Thread(target=self.pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def set(self, mode):
        """New connections get `mode`; relayed ones are cut, so the dialler must dial again."""
        self.mode = mode
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def seen(self):
        with self.lock:
            return list(self.firsts)


def offers_psk(record):
    """Whether a TLS record holding a ClientHello offers a session to resume (TLS 1.3's
    pre_shared_key extension, 41)."""
    try:
        if record[0] != 0x16 or record[5] != 1:
            return False
        p = 9 + 2 + 32  # record and handshake headers, version, random
        p += 1 + record[p]  # session id
        p += 2 + int.from_bytes(record[p:p + 2], "big")  # cipher suites
        p += 1 + record[p]  # compression methods
        end = p + 2 + int.from_bytes(record[p:p + 2], "big")
        p += 2
        while p + 4 <= end:
            ext = int.from_bytes(record[p:p + 2], "big")
            if ext == 41:
                return True
            p += 4 + int.from_bytes(record[p + 2:p + 4], "big")
    except IndexError:
        pass
    return False


def mesh_tools():
    """rpc_cluster_test's cluster, with n1 reaching n2 through a Mitm, and what the mesh
    cases do with it."""
    import rpc_cluster_test as rct
    rct.ARGS = ARGS
    check, wait_for = rct.check, rct.wait_for  # these fail the case at once

    class MitmCluster(rct.Cluster):
        """n1 reaches n2 through the MITM (n1's config names it as n2's rpc_port); each node
        runs with one config file, rewritten for a reload."""

        def __init__(self, tmp):
            super().__init__(tmp, names=("n1", "n2"), call_timeout_ms=2000, heartbeat_ms=300)
            self.mitm = Mitm(self.ports["n2"][1])

        def config(self, node, mode=None, admin_cert=None):
            path = super().config(node, mode, admin_cert)
            with open(path) as f:
                text = f.read()
            if node == "n1":
                text = text.replace("rpc_port: %d }" % self.ports["n2"][1],
                                    "rpc_port: %d }" % self.mitm.port)
            fixed = os.path.join(self.tmp, "%s.yaml" % node)
            with open(fixed + ".tmp", "w") as f:
                f.write(text)
            os.replace(fixed + ".tmp", fixed)
            return fixed

    def reload_to(c, mode):
        for n in ("n2", "n1"):  # the listener first, as an operator rolls a change out
            before = c.log(n).count("rpc.reconfigure")
            c.modes[n] = mode
            c.config(n)
            c.procs[n].send_signal(signal.SIGHUP)
            wait_for("%s reloaded to %s" % (n, mode),
                     lambda: c.log(n).count("rpc.reconfigure") > before)

    def drive(c, node, seconds=1):
        return c.admin(node, "drive", "--rate", "100", "--size", "64", "--seconds",
                       str(seconds), expect_ok=False)

    def drive_ok(c, what):
        for n in ("n1", "n2"):
            d = drive(c, n)
            check(d.get("failed") == 0 and d.get("sent", 0) > 0 and d["succeeded"] == d["sent"],
                  "%s: calls failed from %s: %r" % (what, n, d))

    def channels(c, want_encrypted):
        def ok():
            chans = [c.channel("n1", "n2"), c.channel("n2", "n1")]
            return all(ch["state"] == "ready" and want_encrypted in (None, ch["encrypted"])
                       for ch in chans)
        return ok

    return rct, MitmCluster, reload_to, drive, drive_ok, channels


def case_33():
    rct, MitmCluster, reload_to, drive, drive_ok, channels = mesh_tools()
    check, wait_for = rct.check, rct.wait_for

    def case(tmp):
        c = MitmCluster(tmp)
        for n in ("n2", "n1"):
            c.start(n, "off")
        # Under prefer a channel dialled while its peer was still off stays on its plaintext
        # fallback until a retry: prefer only asks that every channel carries calls.
        for mode, enc in (("off", False), ("prefer", None), ("require", True)):
            if mode != "off":
                reload_to(c, mode)
            wait_for("mesh on %s, encrypted=%s" % (mode, enc), channels(c, enc), timeout=60)
            drive_ok(c, "under " + mode)
            print("  rollout: %s -> every channel ready (n1->n2 encrypted=%s, n2->n1 "
                  "encrypted=%s), calls go through" % (
                      mode, c.channel("n1", "n2")["encrypted"],
                      c.channel("n2", "n1")["encrypted"]), flush=True)
        # Under require, the man in the middle strips TLS: first by closing on the
        # ClientHello (what prefer reads as a listener with TLS off), then by answering it
        # in plaintext. The dialler must keep dialling TLS, never carry a call in plaintext.
        fallbacks = c.log("n1").count("rpc.tls.fallback")
        for mode in ("close", "inject"):
            start = len(c.mitm.seen())
            c.mitm.set(mode)
            wait_for("n1 dials n2 through the stripping MITM (%s) 3 times" % mode,
                     lambda: len([f for f in c.mitm.seen()[start:] if f[0] == mode]) >= 3,
                     timeout=60)
            d = drive(c, "n1")
            ch = c.channel("n1", "n2")
            print("  MITM %s: n1->n2 %s encrypted=%s; a drive from n1: sent %s, ok %s, "
                  "failures %s" % (mode, ch["state"], ch["encrypted"], d.get("sent"),
                                   d.get("succeeded"), d.get("failures")), flush=True)
            check(not (ch["state"] == "ready" and not ch["encrypted"]),
                  "a plaintext channel n1->n2 under require: %r" % ch)
            firsts = [f for f in c.mitm.seen()[start:] if f[0] == mode]
            check(all(f[1][:1] == b"\x16" for f in firsts),
                  "n1 sent something else than a TLS handshake record to the MITM: %r" % firsts)
            check(not any(f[1].startswith(b"NNRP") for f in c.mitm.seen()[start:]),
                  "n1 fell back to plaintext RPC behind the MITM")
        check(c.log("n1").count("rpc.tls.fallback") == fallbacks,
              "n1 logged a TLS fallback under require")
        print("  every one of n1's %d connections to the MITM opened with a TLS record" %
              len(c.mitm.seen()), flush=True)
        # The MITM goes away (relays again): the channel comes back, on TLS.
        c.mitm.set("pass")
        wait_for("n1->n2 back on TLS", channels(c, True), timeout=60)
        drive_ok(c, "after the MITM left")
        print("  MITM gone: n1->n2 ready and encrypted again, calls go through", flush=True)
        return c

    rct.run_case(case)
    return 0


def case_30rpc():
    """Case 30 on the mesh: nothing n1 kept from before n2 reloaded a new CA lets it past that
    CA. n2's tickets belong to its certificate-store snapshot, so an old ticket would buy no
    resumption; today the RPC dialler offers none at all (its engine gets no peer key for the
    session cache), which the MITM sees in the ClientHellos and the case prints. Either way
    every redial is a full handshake against the new CA, and the channel stays down; with the
    old CA back it comes back."""
    rct, MitmCluster, reload_to, drive, drive_ok, channels = mesh_tools()
    check, wait_for = rct.check, rct.wait_for

    def redials(c, n):
        """Cuts n1's connection in the MITM; returns the ClientHellos of the next n dials."""
        start = len(c.mitm.seen())
        c.mitm.set("pass")
        wait_for("n1 dials n2 %d times" % n, lambda: len(c.mitm.seen()) - start >= n, timeout=60)
        return [f[1] for f in c.mitm.seen()[start:]]

    def case(tmp):
        c = MitmCluster(tmp)
        for n in ("n2", "n1"):
            c.start(n, "require")
        wait_for("mesh on TLS", channels(c, True), timeout=60)
        drive_ok(c, "on TLS")
        # Whether n1 kept a session of n2's to offer: a redial's ClientHello says.
        hellos = redials(c, 1)
        print("  a redial on the same CA offers a session to resume: %s" % offers_psk(
            hellos[0]), flush=True)
        wait_for("n1->n2 back", channels(c, True), timeout=60)
        # n2 moves to another CA only, one that did not sign n1's certificate (the store
        # wants n2's own certificate to chain to its CA, so n2 gets one of the new CA too).
        subprocess.run([os.path.join(ARGS.src, "deploy", "gen-certs"),
                        os.path.join(tmp, "other"), "n2"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c.cert_override["n2"] = ("other/%n-cert.pem", "other/%n-key.pem", "other/ca.pem")
        before = c.log("n2").count(" node.reload ")
        c.config("n2")
        c.procs["n2"].send_signal(signal.SIGHUP)
        wait_for("n2 reloaded", lambda: c.log("n2").count(" node.reload ") > before)
        check("node.reload.failed" not in c.log("n2"), c.log("n2")[-1500:])
        hellos = redials(c, 3)
        offered = sum(offers_psk(h) for h in hellos)
        ch = c.channel("n1", "n2")
        d = drive(c, "n1")
        print("  n2 on a new CA: n1 dialled %d times, %d offering its old ticket; n1->n2 %s; a "
              "drive from n1: sent %s, ok %s, failures %s" % (
                  len(hellos), offered, ch["state"], d.get("sent"), d.get("succeeded"),
                  d.get("failures")), flush=True)
        check(ch["state"] != "ready", "n1->n2 came up although n2 does not trust n1's CA")
        check(d.get("sent", 0) > 0 and d.get("succeeded") == 0,
              "calls from n1 reached n2 through an old ticket: %r" % d)
        # The old CA back: the channel comes back and calls go through.
        del c.cert_override["n2"]
        before = c.log("n2").count(" node.reload ")
        c.config("n2")
        c.procs["n2"].send_signal(signal.SIGHUP)
        wait_for("n2 reloaded", lambda: c.log("n2").count(" node.reload ") > before)
        wait_for("mesh back on TLS", channels(c, True), timeout=60)
        drive_ok(c, "with the old CA back")
        print("  old CA back: the mesh is up on TLS, calls go through", flush=True)
        return c

    rct.run_case(case)
    return 0


# --------------------------------------------------------------------- main


MYSQL_CASES = {"29": case_29, "30": case_30, "32": case_32, "34": case_34}


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("case", choices=sorted(list(MYSQL_CASES) + ["30rpc", "33"]))
    ARGS = ap.parse_args()
    ARGS.bin, ARGS.src = os.path.abspath(ARGS.bin), os.path.abspath(ARGS.src)
    mr.ARGS = ARGS
    if shutil.which("openssl") is None:
        print("SKIP: the openssl CLI is not installed (apt-get install openssl)")
        return 77
    if ARGS.case == "33":
        return case_33()
    if ARGS.case == "30rpc":
        return case_30rpc()
    if shutil.which("mariadb") is None:
        print("SKIP: the mariadb CLI is not installed (apt-get install mariadb-client)")
        return 77
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    node = mr.Node()
    name = "rel_" + ARGS.case
    try:
        node.start()
        mr.setup_users(node)
        mr.warm_up(node)
        MYSQL_CASES[ARGS.case](node)
        mr.well_behaved_client_still_served(node, name)
    except Exception as e:  # a case that raises has failed; the node still gets stopped
        import traceback
        traceback.print_exc()
        check(name + "_ran_to_the_end", False, repr(e))
    finally:
        node.stop()
        logs = node.all_logs()
        m = re.search(r"(ERROR|WARNING): \w+Sanitizer|runtime error:", logs)
        check(name + "_no_sanitizer_report", m is None,
              logs[m.start():m.start() + 3000] if m else "")
        if mr.FAILED:
            print("---- node log (last 40 lines) ----")
            print("\n".join(node.log().splitlines()[-40:]))
        node.cleanup()
    print("%s: %d failed" % (name, len(mr.FAILED)))
    return 1 if mr.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
