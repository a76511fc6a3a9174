#!/usr/bin/python3
"""The MySQL command surface through an embedding engine (mysql_fixture_main.c), with
PyMySQL over real TCP: typed results, multi-statements, a result far larger than memory
streamed to a client that reads slowly, and a client that pipelines commands and never
reads. The node's memory is read from /proc while it works.

    mysql_surface_test.py FIXTURE_BIN
Environment: NN_STREAM_BYTES (default 1 GiB), NN_PIPELINED (default 1,000,000)."""
import datetime
import decimal
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

try:
    import pymysql
    import pymysql.cursors
    from pymysql.constants import CLIENT
except ImportError:
    print("SKIP: python3-pymysql is not installed")
    sys.exit(77)

FIXTURE = sys.argv[1]
OUTPUT_LIMIT = 1 << 20
STREAM_BYTES = int(os.environ.get("NN_STREAM_BYTES", str(1 << 30)))
PIPELINED = int(os.environ.get("NN_PIPELINED", "1000000"))
passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + name)
    else:
        failed += 1
        print("FAIL " + name + (": " + str(detail) if detail else ""))


def asan_quarantine(pid):
    """Bytes of freed memory that ASan keeps on purpose (its default quarantine, 256 MiB) when
    the node runs under it: an RSS bound allows for them."""
    with open("/proc/%d/maps" % pid) as f:
        return (256 << 20) if "libasan" in f.read() else 0


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


tmp = tempfile.mkdtemp(prefix="nn-surface.")
env = dict(os.environ, NODENET_ROOT_PASSWORD="rootpw", NN_FIXTURE_OUTPUT_LIMIT=str(OUTPUT_LIMIT))
log = open(os.path.join(tmp, "log"), "w")
proc = subprocess.Popen([FIXTURE, os.path.join(tmp, "data")], stdout=subprocess.PIPE,
                        stderr=log, env=env, text=True)
port = None
try:
    line = proc.stdout.readline()
    if not line.startswith("ready port="):
        print("fixture not ready: " + line)
        sys.exit(1)
    port = int(line.strip().split("=")[1])

    def connect(**kw):
        return pymysql.connect(host="127.0.0.1", port=port, user="root", password="rootpw",
                               **kw)

    # ---- typed results: one column of every type, converted by PyMySQL from text rows
    c = connect()
    cur = c.cursor()
    cur.execute("SELECT engine_types")
    row = cur.fetchone()
    want = (-7, -300, 70000, 18446744073709551615, 1.5, 0.1, decimal.Decimal("12345.67"),
            datetime.date(2026, 11, 29), -datetime.timedelta(days=1, hours=2, minutes=3, seconds=4),
            datetime.datetime(2026, 1, 2, 3, 4, 5, 123456),
            datetime.datetime(2026, 11, 29, 10, 20, 30), 2026, "h\u00e9llo", b"\x00\x01\x02\xff",
            '{"a": 1}', b"\x05", "red", "a,b", None)
    check("typed_text_row", row == want, "%r" % (row,))
    names = [d[0] for d in cur.description]
    check("typed_columns_named", names[0] == "c_tiny" and names[-1] == "c_null", names)
    types = [d[1] for d in cur.description]
    check("typed_column_types", types[:4] == [1, 2, 3, 8] and types[7] == 10 and types[14] == 245,
          types)

    # ---- query attributes (CLIENT_QUERY_ATTRIBUTES): handed to the engine by name
    qa = connect(client_flag=1 << 27, autocommit=None)
    qsock = qa._sock

    def lenenc(b):
        return bytes([len(b)]) + b

    sql = b"SELECT engine_query_attr"
    payload = (b"\x03" + b"\x01\x01" + b"\x00" + b"\x01" + b"\xfd\x00" + lenenc(b"trace_id") +
               lenenc(b"abc-123") + sql)
    qsock.sendall(len(payload).to_bytes(3, "little") + b"\x00" + payload)
    got = b""
    while got.count(b"abc-123") == 0 and len(got) < 4096:
        chunk = qsock.recv(4096)
        if not chunk:
            break
        got += chunk
    check("query_attribute_reaches_engine", b"abc-123" in got, got[:200])
    # An unknown statement id: 1243, and the session goes on.
    qsock.settimeout(5)
    time.sleep(0.2)
    try:
        qsock.recv(65536)  # the rest of the previous answer
    except socket.timeout:
        pass
    bad = b"\x17" + (0xDEADBEEF).to_bytes(4, "little") + b"\x00" + (1).to_bytes(4, "little")
    qsock.sendall(len(bad).to_bytes(3, "little") + b"\x00" + bad)
    reply = qsock.recv(4096)
    code = int.from_bytes(reply[5:7], "little") if len(reply) > 7 and reply[4] == 0xFF else 0
    check("unknown_statement_1243", code == 1243, reply[:80])
    qa.close()

    # ---- multi-statements through the administrative handler
    m = connect(client_flag=CLIENT.MULTI_STATEMENTS)
    mc = m.cursor()
    mc.execute("SELECT 1 AS a; SELECT 'two' AS b; SET @x = 1; SELECT 3 AS c")
    got = [mc.fetchall()]
    while mc.nextset():
        got.append(mc.fetchall())
    check("multi_statements", got == [((1,),), (("two",),), (), ((3,),)], got)
    try:
        mc.execute("SELECT 1; SELECT nosuchfunc(); SELECT 3")
        while mc.nextset():
            pass
        check("multi_statements_stop_at_error", False, "no error")
    except pymysql.err.MySQLError as e:
        check("multi_statements_stop_at_error", e.args[0] in (1064, 1235), e)
    mc.execute("SELECT 'after'")
    check("multi_session_goes_on", mc.fetchall() == (("after",),))
    m.close()

    # ---- the process list (every worker's sessions, TLS and connection attributes) and KILL
    admin = connect()
    ac = admin.cursor()
    ac.execute("CREATE USER 'pk'@'%' IDENTIFIED WITH mysql_native_password BY 'pkpw'")
    other = pymysql.connect(host="127.0.0.1", port=port, user="pk", password="pkpw")
    ac.execute("SELECT CONNECTION_ID()")
    admin_id = ac.fetchone()[0]
    oc = other.cursor()
    oc.execute("SELECT CONNECTION_ID()")
    other_id = oc.fetchone()[0]
    ac.execute("SHOW PROCESSLIST")
    cols = [d[0] for d in ac.description]
    plist = {r[0]: r for r in ac.fetchall()}
    check("processlist_columns", cols[:8] == ["Id", "User", "Host", "db", "Command", "Time",
                                             "State", "Info"] and "Tls_version" in cols, cols)
    check("processlist_lists_sessions", admin_id in plist and other_id in plist and
          plist[other_id][1] == "pk" and plist[admin_id][7] == "SHOW PROCESSLIST",
          sorted(plist))
    ac.execute("SELECT * FROM information_schema.PROCESSLIST")
    rows = {r[0]: r for r in ac.fetchall()}
    check("information_schema_processlist", other_id in rows and
          "_client_name=pymysql" in (rows[other_id][10] or ""), rows.get(other_id))
    try:
        oc.execute("KILL %d" % admin_id)
        check("kill_others_needs_privilege", False, "no error")
    except pymysql.err.MySQLError as e:
        check("kill_others_needs_privilege", e.args[0] == 1095, e)
    try:
        oc.execute("KILL 999999")
        check("kill_unknown_thread", False, "no error")
    except pymysql.err.MySQLError as e:
        check("kill_unknown_thread", e.args[0] == 1094, e)
    # KILL QUERY of a result being streamed: the client gets 1317 and its session goes on.
    victim = connect(cursorclass=pymysql.cursors.SSCursor)
    vc = victim.cursor()
    vc.execute("SELECT CONNECTION_ID()")
    victim_id = vc.fetchall()[0][0]
    vc.execute("SELECT engine_stream %d" % (1 << 30))
    vc.fetchone()
    ac.execute("KILL QUERY %d" % victim_id)
    try:
        for _ in vc:
            pass
        check("kill_query_interrupts", False, "the whole result came")
    except pymysql.err.MySQLError as e:
        check("kill_query_interrupts", e.args[0] == 1317, e)
    vc.execute("SELECT 'alive'")
    check("kill_query_session_goes_on", list(vc.fetchall()) == [("alive",)])
    victim.close()
    # A user may kill their own sessions; KILL CONNECTION ends it.
    own = pymysql.connect(host="127.0.0.1", port=port, user="pk", password="pkpw")
    own_cur = own.cursor()
    own_cur.execute("SELECT CONNECTION_ID()")
    own_id = own_cur.fetchone()[0]
    oc.execute("KILL CONNECTION %d" % own_id)
    time.sleep(0.3)
    try:
        own_cur.execute("SELECT 1")
        check("kill_connection_ends_session", False, "still served")
    except pymysql.err.MySQLError as e:
        check("kill_connection_ends_session", e.args[0] in (2006, 2013), e)
    other.close()
    admin.close()

    # ---- a result far larger than the node's memory budget, read slowly
    base = rss_kib(proc.pid)
    peak = base
    s = connect(cursorclass=pymysql.cursors.SSCursor)
    sc = s.cursor()
    sc.execute("SELECT engine_stream %d" % STREAM_BYTES)
    total = 0
    rows = 0
    last_id = 0
    ordered = True
    started = time.monotonic()
    for rid, chunk in sc:
        total += len(chunk)
        rows += 1
        if rid != last_id + 1:
            ordered = False
        last_id = rid
        if rows % 64 == 0:
            peak = max(peak, rss_kib(proc.pid))
            time.sleep(0.02)  # a slow reader: the node must wait for it, not buffer
    secs = time.monotonic() - started
    check("stream_all_bytes_in_order", total == STREAM_BYTES and ordered, (total, rows))
    growth = (peak - base) * 1024
    print("    streamed %d MiB in %.1f s (%.0f MiB/s); node RSS %d KiB -> peak %d KiB (+%.1f MiB)"
          % (total >> 20, secs, (total >> 20) / max(secs, 0.001), base, peak, growth / 2**20))
    check("stream_rss_bounded", growth < OUTPUT_LIMIT + (16 << 20) + asan_quarantine(proc.pid),
          "%d bytes" % growth)
    sc.execute("SELECT 'after stream'")
    check("stream_session_goes_on", list(sc.fetchall()) == [("after stream",)])
    s.close()

    # ---- a client that pipelines commands and never reads its replies
    p = connect()
    sock = p._sock
    sock.setblocking(True)
    query = b"SELECT 1"
    packet = (len(query) + 1).to_bytes(3, "little") + b"\x00" + b"\x03" + query
    batch = packet * 10000
    sent = [0]
    base = rss_kib(proc.pid)
    peak = [base]

    def writer():
        for _ in range(PIPELINED // 10000):
            sock.sendall(batch)
            sent[0] += 10000

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    # While the writer is stuck (the node stopped reading it), others are served.
    time.sleep(2)
    stuck = w.is_alive()
    peak[0] = max(peak[0], rss_kib(proc.pid))
    other = connect()
    oc = other.cursor()
    oc.execute("SELECT 'served'")
    check("pipelining_others_served", oc.fetchall() == (("served",),))
    other.close()
    check("pipelining_client_blocked", stuck or PIPELINED <= 100000, sent[0])
    peak[0] = max(peak[0], rss_kib(proc.pid))
    growth = (peak[0] - base) * 1024
    print("    pipelined %d of %d commands while unread; node RSS +%.1f MiB"
          % (sent[0], PIPELINED, growth / 2**20))
    check("pipelining_rss_bounded", growth < OUTPUT_LIMIT + (16 << 20) + asan_quarantine(proc.pid),
          "%d bytes" % growth)
    # Now read everything: every command got its whole answer, in order.
    expect = PIPELINED * 5  # column count, column, EOF, row, EOF
    buf = bytearray()
    packets = 0
    sock.settimeout(30)
    while packets < expect:
        data = sock.recv(1 << 20)
        if not data:
            break
        buf += data
        off = 0
        while len(buf) - off >= 4:
            n = int.from_bytes(buf[off:off + 3], "little")
            if len(buf) - off < 4 + n:
                break
            off += 4 + n
            packets += 1
        del buf[:off]
    w.join(timeout=30)
    check("pipelining_every_reply", packets == expect, "%d of %d packets" % (packets, expect))
    sock.close()
finally:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    with open(os.path.join(tmp, "log")) as f:
        text = f.read()
    if "Sanitizer" in text or "runtime error" in text:
        failed += 1
        print("FAIL sanitizer report in the fixture's log:\n" + text[-4000:])
    shutil.rmtree(tmp, ignore_errors=True)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
