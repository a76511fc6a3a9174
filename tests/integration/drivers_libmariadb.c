/* tests/integration/drivers_libmariadb.c: libmariadb (mysql_query and mysql_stmt_*) against a
 * bare node, for tests/integration/drivers_test.sh. Its own executable: it links libmariadb
 * (and so OpenSSL 3), never a nodenet library.
 *
 * Environment: NN_PORT, NN_CERTS (ca.pem, client-cert.pem, client-key.pem), NN_OTHER_CA,
 * NN_USER / NN_PASSWORD (a REQUIRE X509 account), NN_MODE (text | prepared).
 * Prints "ok NAME" / "FAIL NAME"; exits 1 on a failure. */
#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed;

static void check(const char *name, bool cond, const char *detail) {
    printf("%s %s%s%s\n", cond ? "ok  " : "FAIL", name, detail ? ": " : "", detail ? detail : "");
    if (!cond) {
        failed++;
    }
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (v == NULL) {
        fprintf(stderr, "%s is not set\n", name);
        exit(2);
    }
    return v;
}

static MYSQL *connect_x509(const char *ca) {
    char cert[512];
    char key[512];
    snprintf(cert, sizeof(cert), "%s/client-cert.pem", env("NN_CERTS"));
    snprintf(key, sizeof(key), "%s/client-key.pem", env("NN_CERTS"));
    MYSQL *m = mysql_init(NULL);
    my_bool verify = 1;
    unsigned timeout = 10;
    mysql_optionsv(m, MYSQL_OPT_SSL_CA, ca);
    mysql_optionsv(m, MYSQL_OPT_SSL_CERT, cert);
    mysql_optionsv(m, MYSQL_OPT_SSL_KEY, key);
    mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    if (!mysql_real_connect(m, "127.0.0.1", env("NN_USER"), env("NN_PASSWORD"), NULL,
                            (unsigned)atoi(env("NN_PORT")), NULL, 0)) {
        printf("    connect: %u %s\n", mysql_errno(m), mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* Runs sql and returns the first row's column col (static copy), or NULL; *type gets the
 * column's type. */
static const char *first_value(MYSQL *m, const char *sql, unsigned col,
                               enum enum_field_types *type) {
    static char value[512];
    if (mysql_query(m, sql) != 0) {
        printf("    %s: %u %s\n", sql, mysql_errno(m), mysql_error(m));
        return NULL;
    }
    MYSQL_RES *res = mysql_store_result(m);
    if (res == NULL) {
        return NULL;
    }
    MYSQL_ROW row = mysql_fetch_row(res);
    const char *out = NULL;
    if (row != NULL && col < mysql_num_fields(res) && row[col] != NULL) {
        snprintf(value, sizeof(value), "%s", row[col]);
        out = value;
        if (type != NULL) {
            *type = mysql_fetch_field_direct(res, col)->type;
        }
    }
    mysql_free_result(res);
    return out;
}

static bool equals(const char *got, const char *want) {
    return got != NULL && strcmp(got, want) == 0;
}

static void answer_cases_run(MYSQL *m);

static void text_cases(MYSQL *m) {
    enum enum_field_types type = MYSQL_TYPE_NULL;
    const char *v = first_value(m, "SELECT CURRENT_USER()", 0, NULL);
    check("current_user_is_the_x509_account", equals(v, "drv@%"), v);
    v = first_value(m, "SELECT 1+1", 0, &type);
    check("arithmetic_on_literals", equals(v, "2") && type == MYSQL_TYPE_LONGLONG, v);
    v = first_value(m, "SELECT 7 DIV 2, 7/2", 1, &type);
    check("division_is_decimal", equals(v, "3.5000") && type == MYSQL_TYPE_NEWDECIMAL, v);
    v = first_value(m, "SHOW STATUS LIKE 'Ssl_version'", 1, NULL);
    check("session_is_tls", v != NULL && strncmp(v, "TLSv1.", 6) == 0, v);
    v = first_value(m, "SELECT @@session.autocommit AS ac, @@global.max_allowed_packet AS map", 1,
                    NULL);
    check("session_and_global_variables", v != NULL && atol(v) > 0, v);
    v = first_value(m, "SHOW COLLATION LIKE 'utf8mb4_0900_ai_ci'", 2, NULL);
    check("show_collation", equals(v, "255"), v);
    check(
        "set_names_collate",
        mysql_query(m, "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci") == 0 &&
            equals(first_value(m, "SELECT @@collation_connection", 0, NULL), "utf8mb4_unicode_ci"),
        mysql_error(m));
    check("set_character_set_results_null",
          mysql_query(m, "SET character_set_results = NULL") == 0 &&
              first_value(m, "SELECT 1, @@character_set_results", 1, NULL) == NULL,
          mysql_error(m));
    check("mysql_set_character_set", mysql_set_character_set(m, "utf8mb4") == 0, mysql_error(m));
    answer_cases_run(m);
}

/* The admin handler's answers, typed: what a client reads for each (value, column type) or
 * which error. want == NULL means SQL NULL. */
typedef struct answer_case {
    const char *sql;
    unsigned col;
    const char *want;
    enum enum_field_types type; /* MYSQL_TYPE_GEOMETRY: any */
    unsigned error;             /* nonzero: the statement must fail with it */
} answer_case;

static const answer_case answer_cases[] = {
    {"SELECT 1+1", 0, "2", MYSQL_TYPE_LONGLONG, 0},
    {"SELECT 7/2", 0, "3.5000", MYSQL_TYPE_NEWDECIMAL, 0},
    {"SELECT 1/3", 0, "0.3333", MYSQL_TYPE_NEWDECIMAL, 0},
    {"SELECT 1.5+1", 0, "2.5", MYSQL_TYPE_NEWDECIMAL, 0},
    {"SELECT 2.5*2", 0, "5.0", MYSQL_TYPE_NEWDECIMAL, 0},
    {"SELECT 1e0+1", 0, "2", MYSQL_TYPE_DOUBLE, 0},
    {"SELECT '3' + 4", 0, "7", MYSQL_TYPE_DOUBLE, 0},
    {"SELECT 10 MOD 3, -7 DIV 2", 1, "-3", MYSQL_TYPE_LONGLONG, 0},
    {"SELECT 1/0", 0, NULL, MYSQL_TYPE_GEOMETRY, 0},
    {"SELECT 9223372036854775807 + 1", 0, NULL, MYSQL_TYPE_GEOMETRY, 1690},
    {"SELECT 18446744073709551615", 0, "18446744073709551615", MYSQL_TYPE_LONGLONG, 0},
    {"SELECT 1 = 1, 'a' = 'A ', 2 < 1", 1, "1", MYSQL_TYPE_LONGLONG, 0},
    {"SELECT NULL IS NULL, NULL = 1", 1, NULL, MYSQL_TYPE_GEOMETRY, 0},
    {"SELECT concat('a', 1, 2.50)", 0, "a12.50", MYSQL_TYPE_VAR_STRING, 0},
    {"SELECT concat('a', NULL)", 0, NULL, MYSQL_TYPE_GEOMETRY, 0},
    {"SELECT concat_ws(',', 'a', NULL, 'b')", 0, "a,b", MYSQL_TYPE_VAR_STRING, 0},
    {"SELECT coalesce(NULL, NULL, 3), ifnull(NULL, 'x')", 1, "x", MYSQL_TYPE_VAR_STRING, 0},
    {"SELECT upper('abc'), length('h\xc3\xa9'), char_length('h\xc3\xa9')", 0, "ABC",
     MYSQL_TYPE_VAR_STRING, 0},
    {"SELECT if(1 > 2, 'y', 'n'), 3 IN (1, 2, 3), 'abc' LIKE 'A%'", 2, "1", MYSQL_TYPE_LONGLONG, 0},
    {"SELECT CONNECTION_ID() > 0 AND USER() = 'drv@127.0.0.1'", 0, "1", MYSQL_TYPE_LONGLONG, 0},
    {"SELECT @@sql_select_limit", 0, "18446744073709551615", MYSQL_TYPE_LONGLONG, 0},
    {"SELECT @never_set", 0, NULL, MYSQL_TYPE_GEOMETRY, 0},
    {"SET @x = 5, @s := concat('s', @x)", 0, NULL, MYSQL_TYPE_GEOMETRY, 0},
    {"SELECT @x + 1, @s", 0, "6", MYSQL_TYPE_LONGLONG, 0},
    {"SELECT 'a' AS x FROM DUAL WHERE 1 = 0", 0, NULL, MYSQL_TYPE_GEOMETRY, 0},
    {"SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE", 0, NULL, MYSQL_TYPE_GEOMETRY, 0},
    {"SELECT @@transaction_isolation, @@tx_isolation", 1, "SERIALIZABLE", MYSQL_TYPE_VAR_STRING, 0},
    {"SET sql_mode = concat(@@sql_mode, ',strict_trans_tables'), autocommit = OFF", 0, NULL,
     MYSQL_TYPE_GEOMETRY, 0},
    {"SELECT @@sql_mode = 'ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
     "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', @@autocommit",
     0, "1", MYSQL_TYPE_LONGLONG, 0},
    {"SHOW VARIABLES WHERE Variable_name IN ('autocommit', 'nothing')", 1, "OFF",
     MYSQL_TYPE_VAR_STRING, 0},
    {"SHOW COLLATION WHERE Id = 33 OR Id = 255", 0, "utf8mb3_general_ci", MYSQL_TYPE_VAR_STRING, 0},
    {"SHOW CHARACTER SET LIKE 'latin1'", 2, "latin1_swedish_ci", MYSQL_TYPE_VAR_STRING, 0},
    /* past 38 digits a decimal becomes a double, never an overflow */
    {"SELECT 12345678901234567890123456789012345678 + 0.000000000000000000000000000001", 0, "*",
     MYSQL_TYPE_DOUBLE, 0},
    {"SELECT 99999999999999999999999999999999999999999 * 10", 0, "*", MYSQL_TYPE_DOUBLE, 0},
    {"SELECT 123456789012345678901234567890.5 / 0.0000001", 0, "*", MYSQL_TYPE_GEOMETRY, 0},
    {"SELECT ~0, -9223372036854775807 - 1", 0, "18446744073709551615", MYSQL_TYPE_LONGLONG, 0},
    {"SELECT '1e999' DIV 1", 0, NULL, MYSQL_TYPE_GEOMETRY, 1690},
    /* what MariaDB Connector/J adds when the server tracks session state */
    {"set autocommit=1, session_track_schema=1, "
     "session_track_system_variables='auto_increment_increment' ",
     0, NULL, MYSQL_TYPE_GEOMETRY, 0},
    {"SELECT @@session_track_schema, @@session_track_system_variables", 1,
     "auto_increment_increment", MYSQL_TYPE_VAR_STRING, 0},
    {"SAVEPOINT s1", 0, NULL, MYSQL_TYPE_GEOMETRY, 0},
    {"ROLLBACK TO SAVEPOINT s1", 0, NULL, MYSQL_TYPE_GEOMETRY, 0},
    {"DO 1 + 1", 0, NULL, MYSQL_TYPE_GEOMETRY, 0},
    {"DO nosuchfunc()", 0, NULL, MYSQL_TYPE_GEOMETRY, 1235},
    {"SELECT nosuchfunc(1)", 0, NULL, MYSQL_TYPE_GEOMETRY, 1235},
    {"SELECT 1 FROM t", 0, NULL, MYSQL_TYPE_GEOMETRY, 1235},
    {"SHOW ENGINES", 0, NULL, MYSQL_TYPE_GEOMETRY, 1235},
    {"SELECT nocolumn", 0, NULL, MYSQL_TYPE_GEOMETRY, 1054},
    {"SET NAMES nosuch", 0, NULL, MYSQL_TYPE_GEOMETRY, 1115},
    {"SET NAMES utf8mb4 COLLATE latin1_bin", 0, NULL, MYSQL_TYPE_GEOMETRY, 1253},
    {"SET autocommit = 5", 0, NULL, MYSQL_TYPE_GEOMETRY, 1231},
    {"SET wait_timeout = 'long'", 0, NULL, MYSQL_TYPE_GEOMETRY, 1232},
    {"SET sql_mode = NULL", 0, NULL, MYSQL_TYPE_GEOMETRY, 1231},
    {"SET GLOBAL autocommit = 1", 0, NULL, MYSQL_TYPE_GEOMETRY, 1227},
    {"SET nosuchvar = 1", 0, NULL, MYSQL_TYPE_GEOMETRY, 1193},
};

static void answer_cases_run(MYSQL *m) {
    for (size_t i = 0; i < sizeof(answer_cases) / sizeof(answer_cases[0]); i++) {
        const answer_case *t = &answer_cases[i];
        char detail[600];
        int rc = mysql_query(m, t->sql);
        if (t->error != 0) {
            snprintf(detail, sizeof(detail), "%s: got %u %s", t->sql, mysql_errno(m),
                     mysql_error(m));
            check("admin_error", rc != 0 && mysql_errno(m) == t->error, detail);
            continue;
        }
        if (rc != 0) {
            snprintf(detail, sizeof(detail), "%s: %u %s", t->sql, mysql_errno(m), mysql_error(m));
            check("admin_answer", false, detail);
            continue;
        }
        MYSQL_RES *res = mysql_store_result(m);
        if (res == NULL) {
            check("admin_ok", mysql_field_count(m) == 0, t->sql); /* SET: an OK */
            continue;
        }
        MYSQL_ROW row = mysql_fetch_row(res);
        const char *got = row != NULL && t->col < mysql_num_fields(res) ? row[t->col] : NULL;
        enum enum_field_types type = mysql_fetch_field_direct(res, t->col)->type;
        bool ok = t->want == NULL
                      ? got == NULL
                      : got != NULL && (strcmp(t->want, "*") == 0 || strcmp(got, t->want) == 0);
        ok = ok && (t->type == MYSQL_TYPE_GEOMETRY || type == t->type);
        snprintf(detail, sizeof(detail), "%s: got %s (type %d)", t->sql, got ? got : "NULL",
                 (int)type);
        check("admin_answer", ok, detail);
        mysql_free_result(res);
    }
}

static void prepared_cases(MYSQL *m) {
    MYSQL_STMT *st = mysql_stmt_init(m);
    const char *sql = "SELECT ? + 1 AS n, ? AS s";
    if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        check("stmt_prepare", false, mysql_stmt_error(st));
        mysql_stmt_close(st);
        return;
    }
    check("stmt_prepare", true, NULL);
    check("stmt_param_count", mysql_stmt_param_count(st) == 2, NULL);
    for (long long round = 0; round < 2; round++) {
        long long n = 41 + round * 100;
        char s[32];
        snprintf(s, sizeof(s), "hello %lld", round);
        unsigned long s_len = strlen(s);
        MYSQL_BIND in[2];
        memset(in, 0, sizeof(in));
        in[0].buffer_type = MYSQL_TYPE_LONGLONG;
        in[0].buffer = &n;
        in[1].buffer_type = MYSQL_TYPE_STRING;
        in[1].buffer = s;
        in[1].buffer_length = s_len;
        in[1].length = &s_len;
        check("stmt_bind_param", mysql_stmt_bind_param(st, in) == 0, mysql_stmt_error(st));
        check("stmt_execute", mysql_stmt_execute(st) == 0, mysql_stmt_error(st));
        long long got_n = 0;
        char got_s[64] = "";
        unsigned long got_len = 0;
        my_bool null_n = 0;
        my_bool null_s = 0;
        MYSQL_BIND out[2];
        memset(out, 0, sizeof(out));
        out[0].buffer_type = MYSQL_TYPE_LONGLONG;
        out[0].buffer = &got_n;
        out[0].is_null = &null_n;
        out[1].buffer_type = MYSQL_TYPE_STRING;
        out[1].buffer = got_s;
        out[1].buffer_length = sizeof(got_s) - 1;
        out[1].length = &got_len;
        out[1].is_null = &null_s;
        check("stmt_bind_result", mysql_stmt_bind_result(st, out) == 0, mysql_stmt_error(st));
        int rc = mysql_stmt_fetch(st);
        got_s[got_len < sizeof(got_s) ? got_len : sizeof(got_s) - 1] = '\0';
        check("stmt_fetch_row", rc == 0 && !null_n && got_n == n + 1 && strcmp(got_s, s) == 0,
              got_s);
        check("stmt_one_row", mysql_stmt_fetch(st) == MYSQL_NO_DATA, NULL);
        mysql_stmt_free_result(st);
    }
    mysql_stmt_close(st);

    /* NULL parameters, and a statement without parameters. */
    st = mysql_stmt_init(m);
    sql = "SELECT ? IS NULL, @@version_comment";
    check("stmt_prepare_null", mysql_stmt_prepare(st, sql, strlen(sql)) == 0, mysql_stmt_error(st));
    MYSQL_BIND in;
    memset(&in, 0, sizeof(in));
    in.buffer_type = MYSQL_TYPE_NULL;
    mysql_stmt_bind_param(st, &in);
    check("stmt_execute_null", mysql_stmt_execute(st) == 0, mysql_stmt_error(st));
    check("stmt_store_result", mysql_stmt_store_result(st) == 0, mysql_stmt_error(st));
    check("stmt_null_rows", mysql_stmt_num_rows(st) == 1, NULL);
    mysql_stmt_close(st);
}

int main(void) {
    char ca[512];
    snprintf(ca, sizeof(ca), "%s/ca.pem", env("NN_CERTS"));
    MYSQL *wrong = connect_x509(env("NN_OTHER_CA"));
    check("server_certificate_is_verified", wrong == NULL, "connected with another CA");
    if (wrong != NULL) {
        mysql_close(wrong);
    }
    MYSQL *m = connect_x509(ca);
    check("x509_login_over_verified_tls", m != NULL, NULL);
    if (m == NULL) {
        return 1;
    }
    if (strcmp(env("NN_MODE"), "prepared") == 0) {
        prepared_cases(m);
    } else {
        text_cases(m);
    }
    mysql_close(m);
    return failed ? 1 : 0;
}
