"""mysql/ end to end with PyMySQL (run with /usr/bin/python3 for Debian's pymysql).

usage: mysql_pymysql_test.py PORT CERT_DIR CONFIG NODE_PID NODE_LOG

Plaintext and TLS sessions, what PyMySQL sends on connect (SET AUTOCOMMIT), result sets
with NULLs, errors, and a live reconfigure: turning mysql_tls off by SIGHUP affects new
connections at once while an open TLS session keeps what it negotiated.
"""
import os
import signal
import sys
import time

import pymysql

port, certs, config, pid, log = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
port = int(port)
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + name)
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def connect(user, pw, tls, **kw):
    args = dict(host="127.0.0.1", port=port, user=user, password=pw, connect_timeout=10)
    if tls:
        args["ssl"] = {"ca": os.path.join(certs, "ca.pem")}
    args.update(kw)
    return pymysql.connect(**args)


def one(conn, sql):
    with conn.cursor() as c:
        c.execute(sql)
        return c.fetchall()


def reload_count():
    with open(log) as f:
        return sum(1 for line in f if " node.reload " in line)


def reload(mysql_tls):
    with open(config) as f:
        text = f.read()
    text = text.replace("mysql_tls: on", "mysql_tls: %s" % mysql_tls)
    text = text.replace("mysql_tls: off", "mysql_tls: %s" % mysql_tls)
    with open(config, "w") as f:
        f.write(text)
    before = reload_count()
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while reload_count() == before:  # bounded poll on the node's own report
        if time.monotonic() > deadline:
            raise SystemExit("node did not reload")
        time.sleep(0.02)


tls = connect("root", "rootpw", True, autocommit=False)
check("pymysql_tls_version", one(tls, "SHOW STATUS LIKE 'Ssl_version'") == (("Ssl_version", "TLSv1.3"),))
check("pymysql_autocommit_off", one(tls, "SELECT @@autocommit") == ((0,),))
rows = one(tls, "SELECT NULL, 1, 'x'")
check("pymysql_nulls_and_types", rows == ((None, 1, "x"),), repr(rows))
try:
    one(tls, "SELEC 1")
    check("pymysql_syntax_error", False)
except pymysql.err.ProgrammingError as e:
    check("pymysql_syntax_error", e.args[0] == 1064 and "near 'SELEC 1' at line 1" in e.args[1], repr(e.args))
check("pymysql_session_survives_error", one(tls, "SELECT 2") == ((2,),))
one(tls, "CREATE USER IF NOT EXISTS 'py'@'%' IDENTIFIED WITH mysql_native_password BY 'pypw'")
plain = connect("py", "pypw", False)
check("pymysql_plaintext", one(plain, "SELECT CURRENT_USER()") == (("py@%",),))
check("pymysql_plain_no_cipher", one(plain, "SHOW STATUS LIKE 'Ssl_cipher'") == (("Ssl_cipher", ""),))
try:
    connect("py", "wrong", False)
    check("pymysql_wrong_password", False)
except pymysql.err.OperationalError as e:
    check("pymysql_wrong_password", e.args == (1045, "Access denied for user 'py'@'127.0.0.1' (using password: YES)"), repr(e.args))

# caching_sha2_password: full auth inside TLS, then the cached fast path in plaintext.
one(tls, "CREATE USER 'pysha'@'%' IDENTIFIED BY 'shapw'")
check("pymysql_sha2_full_auth_tls", one(connect("pysha", "shapw", True), "SELECT CURRENT_USER()") == (("pysha@%",),))
check("pymysql_sha2_fast_path_plain", one(connect("pysha", "shapw", False), "SELECT CURRENT_USER()") == (("pysha@%",),))
try:
    connect("pysha", "bad", False)
    check("pymysql_sha2_wrong_password", False)
except pymysql.err.OperationalError as e:
    check("pymysql_sha2_wrong_password", e.args[0] == 1045, repr(e.args))
# Full auth without TLS: PyMySQL fetches our RSA key (needs python3-cryptography).
try:
    import cryptography  # noqa: F401
    one(tls, "CREATE USER 'pyrsa'@'%' IDENTIFIED BY 'rsapw'")
    check("pymysql_sha2_rsa_plain", one(connect("pyrsa", "rsapw", False), "SELECT CURRENT_USER()") == (("pyrsa@%",),))
except ImportError:
    print("skip pymysql_sha2_rsa_plain: python3-cryptography is not installed")

# Reconfigure: TLS off for new connections, the open TLS session keeps its TLS.
reload("off")
try:
    connect("py", "pypw", True)
    check("tls_off_new_tls_refused", False)
except pymysql.err.OperationalError:
    check("tls_off_new_tls_refused", True)
check("tls_off_new_plain_ok", one(connect("py", "pypw", False), "SELECT 1") == ((1,),))
check("open_session_keeps_tls", one(tls, "SHOW STATUS LIKE 'Ssl_version'") == (("Ssl_version", "TLSv1.3"),))
reload("on")
check("tls_on_new_tls_ok", one(connect("py", "pypw", True), "SHOW STATUS LIKE 'Ssl_version'") == (("Ssl_version", "TLSv1.3"),))
check("open_plain_session_stays_plain", one(plain, "SHOW STATUS LIKE 'Ssl_version'") == (("Ssl_version", ""),))
tls.close()
plain.close()
print("%d passed, %d failed" % (passed, failed))
sys.exit(0 if failed == 0 else 1)
