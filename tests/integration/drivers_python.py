"""PyMySQL or mysqlclient (MySQLdb) against a bare node, for drivers_test.sh.

usage: /usr/bin/python3 drivers_python.py pymysql|mysqlclient

Environment: NN_PORT, NN_CERTS, NN_OTHER_CA, NN_USER, NN_PASSWORD (a REQUIRE X509 account).
Neither driver has server-side prepared statements: cursor.execute(sql, args) quotes the
arguments into the text (the "format" paramstyle), so this is the text protocol with the
drivers' parameters. Prints "ok NAME" / "FAIL NAME"; exits 1 on a failure.
"""
import decimal
import os
import sys
import tempfile

driver = sys.argv[1]
env = os.environ
certs = env["NN_CERTS"]
failed = 0


def check(name, cond, detail=""):
    global failed
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else " " + repr(detail)))
    if not cond:
        failed += 1


def connect(ca):
    kw = dict(host="127.0.0.1", port=int(env["NN_PORT"]), user=env["NN_USER"],
              connect_timeout=10)
    if driver == "pymysql":
        import pymysql
        return pymysql.connect(password=env["NN_PASSWORD"], ssl_ca=ca,
                               ssl_cert=os.path.join(certs, "client-cert.pem"),
                               ssl_key=os.path.join(certs, "client-key.pem"),
                               ssl_verify_cert=True, ssl_verify_identity=True, **kw)
    import MySQLdb
    # mysqlclient 1.4 has no argument for server-certificate verification: libmariadb
    # reads it from an option file.
    with tempfile.NamedTemporaryFile("w", suffix=".cnf", delete=False) as f:
        f.write("[client]\nssl-ca=%s\nssl-cert=%s\nssl-key=%s\nssl-verify-server-cert\n" % (
            ca, os.path.join(certs, "client-cert.pem"), os.path.join(certs, "client-key.pem")))
        cnf = f.name
    try:
        return MySQLdb.connect(passwd=env["NN_PASSWORD"], read_default_file=cnf,
                               read_default_group="client", **kw)
    finally:
        os.unlink(cnf)


def rows(conn, sql, args=None):
    c = conn.cursor()
    c.execute(sql, args)
    out = c.fetchall()
    c.close()
    return out


try:
    connect(env["NN_OTHER_CA"]).close()
    check("server_certificate_is_verified", False, "connected with another CA")
except Exception as e:  # the driver's own error class
    check("server_certificate_is_verified", True)
    print("    refused as expected: %s" % (e,))

conn = connect(os.path.join(certs, "ca.pem"))
check("x509_login_over_verified_tls", True)
r = rows(conn, "SHOW STATUS LIKE 'Ssl_version'")
check("session_is_tls", len(r) == 1 and str(r[0][1]).startswith("TLSv1."), r)
r = rows(conn, "SELECT CURRENT_USER()")
check("current_user_is_the_x509_account", r[0][0] == "drv@%", r)
r = rows(conn, "SELECT 1+1, 7/2, 2.5*2, 1e0+1")
check("arithmetic_types", r[0][0] == 2 and r[0][1] == decimal.Decimal("3.5000")
      and r[0][2] == decimal.Decimal("5.0") and r[0][3] == 2.0, r)
r = rows(conn, "SELECT %s + 1 AS n, %s AS s, %s AS z", (41, "it's", None))
check("client_side_parameters", r == ((42, "it's", None),), r)
r = rows(conn, "SELECT @@session.autocommit, @@global.max_allowed_packet AS m, VERSION()")
check("session_and_global_variables", r[0][1] > 0 and "nodenet" in r[0][2], r)
r = rows(conn, "SHOW CHARACTER SET LIKE 'utf8mb4'")
check("show_character_set", len(r) == 1 and r[0][0] == "utf8mb4" and r[0][3] == 4, r)
conn.autocommit(True)
conn.autocommit(False)
r = rows(conn, "SELECT @@autocommit")
check("autocommit_off", r[0][0] == 0, r)
conn.commit()
conn.rollback()
conn.begin()
conn.commit()
conn.ping()
check("ping_begin_commit_rollback", True)
conn.select_db("appdb")
r = rows(conn, "SELECT DATABASE()")
check("select_db", r[0][0] == "appdb", r)
if driver == "mysqlclient":
    conn.set_character_set("utf8mb4")
    check("set_character_set", conn.character_set_name() == "utf8mb4", conn.character_set_name())
conn.close()
print("%s done" % driver)
sys.exit(1 if failed else 0)
