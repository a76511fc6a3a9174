/* tests/integration/mysql_stmt_test.c: prepared statements, the binary protocol, cursors,
 * long data, change user and reset, driven by libmariadb's mysql_stmt_* against the engine
 * fixture (mysql_fixture_main.c). Its own program: libmariadb links OpenSSL 3, so this
 * never links a nodenet library.
 *
 *   mysql_stmt_test PORT ROOT_PASSWORD
 */
#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed;
static int failed;

#define CHECK(name, cond)                                                                          \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
            printf("ok   %s\n", name);                                                             \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL %s (%s:%d)\n", name, __FILE__, __LINE__);                                 \
        }                                                                                          \
    } while (0)

static unsigned port;
static const char *root_pw;

static MYSQL *connect_as(const char *user, const char *pw) {
    MYSQL *m = mysql_init(NULL);
    my_bool off = 0;
    mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &off);
    unsigned proto = MYSQL_PROTOCOL_TCP;
    mysql_options(m, MYSQL_OPT_PROTOCOL, &proto);
    if (mysql_real_connect(m, "127.0.0.1", user, pw, NULL, port, NULL, 0) == NULL) {
        printf("    connect %s: %s\n", user, mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

static void typed_binary_row(MYSQL *m) {
    MYSQL_STMT *st = mysql_stmt_init(m);
    const char *sql = "SELECT engine_types";
    CHECK("types_prepare", mysql_stmt_prepare(st, sql, strlen(sql)) == 0);
    CHECK("types_field_count", mysql_stmt_field_count(st) == 19);
    CHECK("types_execute", mysql_stmt_execute(st) == 0);
    signed char tiny = 0;
    short sh = 0;
    int lng = 0;
    unsigned long long ull = 0;
    float fl = 0;
    double db = 0;
    char dec[32] = {0};
    MYSQL_TIME date, tm, dt, ts;
    short year = 0;
    char str[32] = {0};
    unsigned char blob[8] = {0};
    unsigned long lens[19] = {0};
    my_bool nulls[19] = {0};
    MYSQL_BIND b[19];
    memset(b, 0, sizeof(b));
    b[0].buffer_type = MYSQL_TYPE_TINY, b[0].buffer = &tiny;
    b[1].buffer_type = MYSQL_TYPE_SHORT, b[1].buffer = &sh;
    b[2].buffer_type = MYSQL_TYPE_LONG, b[2].buffer = &lng;
    b[3].buffer_type = MYSQL_TYPE_LONGLONG, b[3].buffer = &ull, b[3].is_unsigned = 1;
    b[4].buffer_type = MYSQL_TYPE_FLOAT, b[4].buffer = &fl;
    b[5].buffer_type = MYSQL_TYPE_DOUBLE, b[5].buffer = &db;
    b[6].buffer_type = MYSQL_TYPE_STRING, b[6].buffer = dec, b[6].buffer_length = sizeof(dec);
    b[7].buffer_type = MYSQL_TYPE_DATE, b[7].buffer = &date;
    b[8].buffer_type = MYSQL_TYPE_TIME, b[8].buffer = &tm;
    b[9].buffer_type = MYSQL_TYPE_DATETIME, b[9].buffer = &dt;
    b[10].buffer_type = MYSQL_TYPE_TIMESTAMP, b[10].buffer = &ts;
    b[11].buffer_type = MYSQL_TYPE_SHORT, b[11].buffer = &year;
    b[12].buffer_type = MYSQL_TYPE_STRING, b[12].buffer = str, b[12].buffer_length = sizeof(str);
    b[13].buffer_type = MYSQL_TYPE_BLOB, b[13].buffer = blob, b[13].buffer_length = sizeof(blob);
    static char rest[5][32];
    for (int i = 14; i < 19; i++) {
        b[i].buffer_type = MYSQL_TYPE_STRING;
        b[i].buffer = rest[i - 14];
        b[i].buffer_length = sizeof(rest[0]);
    }
    for (int i = 0; i < 19; i++) {
        b[i].length = &lens[i];
        b[i].is_null = &nulls[i];
    }
    CHECK("types_bind", mysql_stmt_bind_result(st, b) == 0);
    int rc = mysql_stmt_fetch(st);
    CHECK("types_fetch", rc == 0 || rc == MYSQL_DATA_TRUNCATED);
    CHECK("types_integers",
          tiny == -7 && sh == -300 && lng == 70000 && ull == 18446744073709551615ull);
    CHECK("types_floats", fl == 1.5f && db == 0.1);
    CHECK("types_decimal", strcmp(dec, "12345.67") == 0);
    CHECK("types_date", date.year == 2026 && date.month == 11 && date.day == 29);
    CHECK("types_time", tm.neg && tm.hour == 26 && tm.minute == 3 && tm.second == 4);
    CHECK("types_datetime",
          dt.year == 2026 && dt.month == 1 && dt.second == 5 && dt.second_part == 123456);
    CHECK("types_timestamp_from_text",
          ts.year == 2026 && ts.day == 29 && ts.hour == 10 && ts.second == 30);
    CHECK("types_year", year == 2026);
    CHECK("types_varchar", lens[12] == 6 && memcmp(str, "h\xc3\xa9llo", 6) == 0);
    CHECK("types_blob", lens[13] == 4 && blob[0] == 0 && blob[3] == 255);
    CHECK("types_json_enum_set", strcmp(rest[0], "{\"a\": 1}") == 0 &&
                                     strcmp(rest[2], "red") == 0 && strcmp(rest[3], "a,b") == 0);
    CHECK("types_null", nulls[18] && !nulls[17]);
    CHECK("types_one_row", mysql_stmt_fetch(st) == MYSQL_NO_DATA);
    mysql_stmt_close(st);
}

static void params_round_trip(MYSQL *m) {
    MYSQL_STMT *st = mysql_stmt_init(m);
    const char *sql = "SELECT ? AS i, ? AS d, ? AS s, ? AS n";
    CHECK("params_prepare", mysql_stmt_prepare(st, sql, strlen(sql)) == 0);
    CHECK("params_count", mysql_stmt_param_count(st) == 4);
    long long i = -1234567890123ll;
    double d = 2.5;
    char s[] = "it's \\ \"quoted\"";
    unsigned long slen = strlen(s);
    my_bool is_null = 1;
    MYSQL_BIND p[4];
    memset(p, 0, sizeof(p));
    p[0].buffer_type = MYSQL_TYPE_LONGLONG, p[0].buffer = &i;
    p[1].buffer_type = MYSQL_TYPE_DOUBLE, p[1].buffer = &d;
    p[2].buffer_type = MYSQL_TYPE_STRING, p[2].buffer = s, p[2].length = &slen;
    p[3].buffer_type = MYSQL_TYPE_NULL, p[3].is_null = &is_null;
    CHECK("params_bind", mysql_stmt_bind_param(st, p) == 0);
    CHECK("params_execute", mysql_stmt_execute(st) == 0);
    char out[4][64];
    unsigned long lens[4];
    my_bool nulls[4];
    MYSQL_BIND r[4];
    memset(r, 0, sizeof(r));
    for (int k = 0; k < 4; k++) {
        r[k].buffer_type = MYSQL_TYPE_STRING;
        r[k].buffer = out[k];
        r[k].buffer_length = sizeof(out[k]);
        r[k].length = &lens[k];
        r[k].is_null = &nulls[k];
    }
    mysql_stmt_bind_result(st, r);
    CHECK("params_fetch", mysql_stmt_fetch(st) == 0);
    CHECK("params_values", strcmp(out[0], "-1234567890123") == 0 && strcmp(out[1], "2.5") == 0 &&
                               strcmp(out[2], s) == 0 && nulls[3]);
    mysql_stmt_free_result(st);
    /* Re-executed with new values and the types not re-sent. */
    i = 42;
    CHECK("params_reexecute", mysql_stmt_execute(st) == 0);
    mysql_stmt_bind_result(st, r);
    CHECK("params_reexecute_value", mysql_stmt_fetch(st) == 0 && strcmp(out[0], "42") == 0);
    mysql_stmt_free_result(st);

    /* Long data: a parameter sent in pieces with COM_STMT_SEND_LONG_DATA. */
    MYSQL_STMT *ld = mysql_stmt_init(m);
    const char *lsql = "SELECT ? AS joined";
    mysql_stmt_prepare(ld, lsql, strlen(lsql));
    MYSQL_BIND lp;
    memset(&lp, 0, sizeof(lp));
    lp.buffer_type = MYSQL_TYPE_STRING;
    mysql_stmt_bind_param(ld, &lp);
    CHECK("long_data_piece_1", mysql_stmt_send_long_data(ld, 0, "long ", 5) == 0);
    CHECK("long_data_piece_2", mysql_stmt_send_long_data(ld, 0, "data", 4) == 0);
    CHECK("long_data_execute", mysql_stmt_execute(ld) == 0);
    char joined[64] = {0};
    unsigned long jl = 0;
    MYSQL_BIND lr;
    memset(&lr, 0, sizeof(lr));
    lr.buffer_type = MYSQL_TYPE_STRING, lr.buffer = joined, lr.buffer_length = sizeof(joined);
    lr.length = &jl;
    mysql_stmt_bind_result(ld, &lr);
    CHECK("long_data_joined", mysql_stmt_fetch(ld) == 0 && strcmp(joined, "long data") == 0);
    mysql_stmt_close(ld);
    mysql_stmt_close(st);
}

static void cursor_fetch(MYSQL *m) {
    /* The rows of a text query, for comparison. */
    mysql_query(m, "SHOW VARIABLES");
    MYSQL_RES *res = mysql_store_result(m);
    unsigned long long want = res ? mysql_num_rows(res) : 0;
    mysql_free_result(res);
    MYSQL_STMT *st = mysql_stmt_init(m);
    unsigned long type = CURSOR_TYPE_READ_ONLY;
    unsigned long prefetch = 3; /* COM_STMT_FETCH in batches of 3 rows */
    mysql_stmt_attr_set(st, STMT_ATTR_CURSOR_TYPE, &type);
    mysql_stmt_attr_set(st, STMT_ATTR_PREFETCH_ROWS, &prefetch);
    const char *sql = "SHOW VARIABLES";
    CHECK("cursor_prepare", mysql_stmt_prepare(st, sql, strlen(sql)) == 0);
    CHECK("cursor_execute", mysql_stmt_execute(st) == 0);
    char name[128], value[512];
    MYSQL_BIND r[2];
    memset(r, 0, sizeof(r));
    r[0].buffer_type = MYSQL_TYPE_STRING, r[0].buffer = name, r[0].buffer_length = sizeof(name);
    r[1].buffer_type = MYSQL_TYPE_STRING, r[1].buffer = value, r[1].buffer_length = sizeof(value);
    mysql_stmt_bind_result(st, r);
    unsigned long long got = 0;
    int rc;
    while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
        got++;
    }
    printf("    cursor: %llu rows fetched, %llu from the text query\n", got, want);
    CHECK("cursor_all_rows", want > 3 && got == want && rc == MYSQL_NO_DATA);
    /* Another statement in between fetches of a cursor works (the cursor is kept). */
    CHECK("cursor_reexecute", mysql_stmt_execute(st) == 0);
    mysql_stmt_bind_result(st, r);
    CHECK("cursor_first_row_again", mysql_stmt_fetch(st) == 0);
    CHECK("cursor_interleaved_query", mysql_query(m, "SELECT 1") == 0);
    mysql_free_result(mysql_store_result(m));
    CHECK("cursor_next_row_after_query", mysql_stmt_fetch(st) == 0);
    CHECK("cursor_reset", mysql_stmt_reset(st) == 0);
    mysql_stmt_close(st);
}

static void errors(MYSQL *m) {
    MYSQL_STMT *st = mysql_stmt_init(m);
    const char *bad = "SELEKT ?";
    CHECK("prepare_syntax_error_1064",
          mysql_stmt_prepare(st, bad, strlen(bad)) != 0 && mysql_stmt_errno(st) == 1064);
    mysql_stmt_close(st);
    /* More statements than a session may hold: 1461, and the session goes on. */
    MYSQL_STMT *many[1100];
    int made = 0;
    unsigned err = 0;
    for (; made < 1100; made++) {
        many[made] = mysql_stmt_init(m);
        if (mysql_stmt_prepare(many[made], "SELECT 1", 8) != 0) {
            err = mysql_stmt_errno(many[made]);
            made++;
            break;
        }
    }
    printf("    %d statements prepared before error %u\n", made - 1, err);
    CHECK("max_prepared_stmts_1461", err == 1461 && made - 1 == 1024);
    for (int k = 0; k < made; k++) {
        mysql_stmt_close(many[k]);
    }
    CHECK("session_after_1461", mysql_query(m, "SELECT 1") == 0);
    mysql_free_result(mysql_store_result(m));
}

static void change_user_and_reset(MYSQL *m) {
    mysql_query(m, "DROP USER IF EXISTS 'cu'@'%', 'cux'@'%'");
    CHECK("create_users",
          mysql_query(m, "CREATE USER 'cu'@'%' IDENTIFIED WITH mysql_native_password BY 'cupw'") ==
                  0 &&
              mysql_query(m, "CREATE USER 'cux'@'%' IDENTIFIED WITH mysql_native_password BY "
                             "'cuxpw' REQUIRE X509") == 0);
    MYSQL *c = connect_as("root", root_pw);
    if (c == NULL) {
        CHECK("change_user_connect", 0);
        return;
    }
    mysql_query(c, "SET @@session.wait_timeout = 77");
    CHECK("change_user_ok", mysql_change_user(c, "cu", "cupw", NULL) == 0);
    CHECK("change_user_current", mysql_query(c, "SELECT CURRENT_USER()") == 0);
    MYSQL_RES *res = mysql_store_result(c);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    CHECK("change_user_is_new_account", row != NULL && strcmp(row[0], "cu@%") == 0);
    mysql_free_result(res);
    CHECK("change_user_wrong_password",
          mysql_change_user(c, "cu", "nope", NULL) != 0 && mysql_errno(c) == 1045);
    mysql_close(c);
    /* REQUIRE X509 from a session without a client certificate: 1045, session ended. */
    c = connect_as("root", root_pw);
    if (c != NULL) {
        int rc = mysql_change_user(c, "cux", "cuxpw", NULL);
        CHECK("change_user_x509_refused_1045", rc != 0 && mysql_errno(c) == 1045);
        CHECK("change_user_x509_session_ended", mysql_query(c, "SELECT 1") != 0);
        mysql_close(c);
    }
    /* COM_RESET_CONNECTION: session variables back to their defaults. */
    c = connect_as("root", root_pw);
    if (c != NULL) {
        mysql_query(c, "SET @@session.wait_timeout = 77");
        CHECK("reset_connection", mysql_reset_connection(c) == 0);
        mysql_query(c, "SELECT @@session.wait_timeout");
        res = mysql_store_result(c);
        row = res ? mysql_fetch_row(res) : NULL;
        CHECK("reset_clears_variables", row != NULL && strcmp(row[0], "77") != 0);
        mysql_free_result(res);
        mysql_close(c);
    }
}

/* CLIENT_SESSION_TRACK: a change of schema and of a tracked variable come back in the OK. */
static void session_tracking(MYSQL *m) {
    const char *data = NULL;
    size_t len = 0;
    CHECK("track_use", mysql_query(m, "USE trackdb") == 0);
    CHECK("track_schema",
          mysql_session_track_get_first(m, SESSION_TRACK_SCHEMA, &data, &len) == 0 && len == 7 &&
              memcmp(data, "trackdb", 7) == 0);
    CHECK("track_set", mysql_query(m, "SET time_zone = '+01:00'") == 0);
    bool seen = false;
    if (mysql_session_track_get_first(m, SESSION_TRACK_SYSTEM_VARIABLES, &data, &len) == 0) {
        do {
            if (len == 9 && memcmp(data, "time_zone", 9) == 0) {
                seen = true;
            }
        } while (mysql_session_track_get_next(m, SESSION_TRACK_SYSTEM_VARIABLES, &data, &len) == 0);
    }
    CHECK("track_system_variable", seen);
    CHECK("track_untracked_not_reported",
          mysql_query(m, "SET sql_select_limit = 5") == 0 &&
              mysql_session_track_get_first(m, SESSION_TRACK_SYSTEM_VARIABLES, &data, &len) != 0);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT ROOT_PASSWORD\n", argv[0]);
        return 2;
    }
    port = (unsigned)atoi(argv[1]);
    root_pw = argv[2];
    MYSQL *m = connect_as("root", root_pw);
    if (m == NULL) {
        return 1;
    }
    typed_binary_row(m);
    params_round_trip(m);
    cursor_fetch(m);
    errors(m);
    change_user_and_reset(m);
    session_tracking(m);
    mysql_close(m);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
