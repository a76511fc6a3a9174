"""Random statements of the admin handler's grammar against a node, through PyMySQL.

usage: /usr/bin/python3 drivers_sql_random.py   (environment as drivers_test.sh sets it)

Statements are built from the grammar's pieces (literals of every type, variables, operators,
calls with right and wrong arities, nesting, SET of several variables, SHOW ... WHERE) with a
fixed seed, so a failure reproduces. Each must be answered, with a result or one of the
errors the handler gives for what it does not answer; the session must never drop. Under a
sanitizer build the node's own report fails the test (drivers_test.sh's finish).
"""
import os
import random
import sys

import pymysql

env = os.environ
certs = env["NN_CERTS"]
rng = random.Random(int(env.get("NN_SQL_SEED", "11")))
count = int(env.get("NN_SQL_COUNT", "4000"))

# What the admin handler may answer instead of a result: syntax (1064), not supported (1235),
# unknown column (1054), out of range (1690), wrong arity (1582), bad values for variables
# (1231, 1232, 1115, 1273, 1253), unknown variable (1193), privileges (1227), too big (1301),
# empty query (1065), prepared-statement text (1210).
EXPECTED = {1064, 1235, 1054, 1690, 1582, 1231, 1232, 1115, 1273, 1253, 1193, 1227, 1301, 1065,
            1105}

LITERALS = ["0", "1", "-1", "42", "9223372036854775807", "-9223372036854775808",
            "18446744073709551615", "99999999999999999999999999999999999999999", "2.5", "-0.001",
            "1e308", "1e-308", "1.5e3", "0.000000000000000000000000000001", "'abc'", "''",
            "'12abc'", "'1e999'", "'\\n\\'x'", "NULL", "TRUE", "FALSE", "@x", "@never",
            "@@autocommit", "@@session.sql_mode", "@@global.max_allowed_packet",
            "@@character_set_results", "@@nosuchvar", "nocolumn", "CURRENT_USER", "NOW()",
            "CONNECTION_ID()", "DATABASE()", "VERSION()", "CURDATE()", "UNIX_TIMESTAMP()"]
BINARY = ["+", "-", "*", "/", "DIV", "MOD", "%", "=", "<=>", "<>", "!=", "<", "<=", ">", ">=",
          "AND", "OR", "XOR", "&&", "||", "LIKE", "NOT LIKE"]
FUNCS = ["concat", "concat_ws", "ifnull", "coalesce", "nullif", "if", "lower", "upper",
         "length", "char_length", "abs", "isnull", "nosuchfunc"]
SYSVARS = ["autocommit", "sql_mode", "time_zone", "character_set_results", "collation_connection",
           "wait_timeout", "transaction_isolation", "session_track_schema", "nosuchvar"]


def expr(depth=0):
    r = rng.random()
    if depth > 6 or r < 0.35:
        return rng.choice(LITERALS)
    if r < 0.6:
        return "%s %s %s" % (expr(depth + 1), rng.choice(BINARY), expr(depth + 1))
    if r < 0.7:
        return "(%s)" % expr(depth + 1)
    if r < 0.78:
        return rng.choice(["-", "NOT ", "!", "~"]) + expr(depth + 1)
    if r < 0.85:
        return "%s IS %sNULL" % (expr(depth + 1), rng.choice(["", "NOT "]))
    if r < 0.9:
        items = ", ".join(expr(depth + 1) for _ in range(rng.randint(1, 4)))
        return "%s %sIN (%s)" % (expr(depth + 1), rng.choice(["", "NOT "]), items)
    args = ", ".join(expr(depth + 1) for _ in range(rng.randint(0, 4)))
    return "%s(%s)" % (rng.choice(FUNCS), args)


def statement():
    r = rng.random()
    if r < 0.55:
        items = ", ".join(expr() + rng.choice(["", " AS a", " b"]) for _ in range(rng.randint(1, 4)))
        tail = rng.choice(["", " FROM DUAL", " WHERE " + expr(), " LIMIT 1", " LIMIT 0"])
        return "SELECT " + items + tail
    if r < 0.75:
        parts = []
        for _ in range(rng.randint(1, 3)):
            k = rng.random()
            if k < 0.4:
                parts.append("%s = %s" % (rng.choice(SYSVARS), expr(3)))
            elif k < 0.7:
                parts.append("@%s := %s" % (rng.choice("xyz"), expr(3)))
            elif k < 0.85:
                parts.append("NAMES %s" % rng.choice(["utf8mb4", "utf8", "latin1", "binary", "nosuch",
                                                      "utf8mb4 COLLATE utf8mb4_bin",
                                                      "utf8mb4 COLLATE latin1_bin"]))
            else:
                parts.append("%s = %s" % (rng.choice(SYSVARS), rng.choice(["ON", "OFF", "DEFAULT",
                                                                          "NULL", "''", "utf8mb4"])))
        return "SET " + ", ".join(parts)
    if r < 0.9:
        what = rng.choice(["VARIABLES", "SESSION STATUS", "COLLATION", "CHARACTER SET"])
        return "SHOW %s %s" % (what, rng.choice(["", "LIKE '%s'" % rng.choice(["%a%", "utf8%", "_"]),
                                                  "WHERE " + expr(3)]))
    # truncations and junk: the parser's error paths
    s = statement()
    cut = rng.randint(0, len(s))
    return s[:cut] + rng.choice(["", "(", "'", "?", ")", ",", " AND", "@@", "/*"])


def main():
    conn = pymysql.connect(host="127.0.0.1", port=int(env["NN_PORT"]), user=env["NN_USER"],
                           password=env["NN_PASSWORD"], connect_timeout=10,
                           ssl_ca=os.path.join(certs, "ca.pem"),
                           ssl_cert=os.path.join(certs, "client-cert.pem"),
                           ssl_key=os.path.join(certs, "client-key.pem"),
                           ssl_verify_cert=True, ssl_verify_identity=True)
    answered = errors = 0
    unexpected = []
    for i in range(count):
        sql = statement()
        try:
            with conn.cursor() as c:
                c.execute(sql)
                c.fetchall()
            answered += 1
        except pymysql.err.OperationalError as e:
            if e.args[0] in (2006, 2013, 2014):
                print("FAIL the session dropped at statement %d: %r (%s)" % (i, sql, e))
                return 1
            errors += 1
            if e.args[0] not in EXPECTED:
                unexpected.append((sql, e.args))
        except pymysql.err.MySQLError as e:
            errors += 1
            if e.args[0] not in EXPECTED:
                unexpected.append((sql, e.args))
    with conn.cursor() as c:
        c.execute("SELECT 'still here'")
        alive = c.fetchall() == (("still here",),)
    conn.close()
    print("%d statements: %d answered, %d errors" % (count, answered, errors))
    for sql, args in unexpected[:10]:
        print("FAIL unexpected error %r for %r" % (args, sql))
    ok = alive and not unexpected and answered > count // 10
    print(("ok   " if ok else "FAIL ") + "random_statements_are_all_answered")
    return 0 if ok else 1


sys.exit(main())
