/* tests/integration/mysql_fixture_main.c: an engine embedding nodenet's MySQL server.
 *
 * Starts an nn_server with the mysql listener (plaintext by default) and a handler of its
 * own, to test the handler interface the way a database engine uses it:
 *   SELECT engine_rows   a result set with a NULL, answered at once
 *   SELECT engine_async  answered later from another thread through nn_loop_post()
 *   SELECT engine_error  an engine error
 *   anything else        delegated to nodenet's administrative handler
 *
 *   mysql_fixture DATA_DIR       prints "ready port=N" then serves until SIGTERM/SIGINT
 *
 * Environment: NN_FIXTURE_OUTPUT_LIMIT (bytes, the session output limit);
 * NN_FIXTURE_TLS_CA, NN_FIXTURE_TLS_CERT and NN_FIXTURE_TLS_KEY (PEM files, all three or
 * none) offer TLS with that certificate, as a node with mysql_tls does (the benchmark of a
 * streamed result over TLS uses it).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/mysql.h"
#include "net/net.h"
#include "security/security.h"

typedef struct async_answer {
    nn_task task;
    nn_mysql_session *ses;
} async_answer;

static atomic_int sessions_ended;
/* SELECT engine_hold parks its session here unanswered; SELECT engine_release (from
 * another connection) answers it later, typically after its client is gone. */
static _Atomic(nn_mysql_session *) held;

static void answer_on_loop(nn_task *t) {
    async_answer *a = (async_answer *)t;
    nn_mysql_session_ok(a->ses, 7, 0, "answered by the engine thread");
    free(a);
}

static void *engine_thread(void *arg) {
    async_answer *a = arg;
    /* The engine's own thread: the answer goes back to the session's loop. */
    if (nn_loop_post(nn_mysql_session_loop(a->ses), &a->task) < 0) {
        free(a);
    }
    return NULL;
}

static bool is(const char *sql, size_t len, const char *want) {
    return len == strlen(want) && strncasecmp(sql, want, len) == 0;
}

static bool starts(const char *sql, size_t len, const char *want) {
    return len >= strlen(want) && strncasecmp(sql, want, strlen(want)) == 0;
}

/* SELECT engine_stream <bytes>: rows of (id BIGINT, chunk VARCHAR) until <bytes> of chunks
 * were produced, honouring back-pressure: after NN_MYSQL_ROW_FULL the engine waits for the
 * writable callback, as an engine streaming a result larger than memory does. */
#define STREAM_CHUNK 65536
typedef struct stream_state {
    uint64_t left;
    int64_t id;
    char chunk[STREAM_CHUNK];
} stream_state;

static void stream_pump(void *arg, nn_mysql_session *ses) {
    stream_state *st = arg;
    while (st->left > 0) {
        size_t n = st->left < STREAM_CHUNK ? (size_t)st->left : STREAM_CHUNK;
        nn_mysql_value row[2] = {
            {.kind = NN_MYSQL_VALUE_INT, .i = st->id},
            {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = st->chunk, .len = n}},
        };
        int rc = nn_mysql_session_result_row_values(ses, row);
        if (rc < 0) {
            if (rc == -ECANCELED) {
                nn_mysql_session_result_end(ses); /* discarded: the client is gone */
            }
            free(st);
            return;
        }
        st->left -= n;
        st->id++;
        if (rc == NN_MYSQL_ROW_FULL && st->left > 0) {
            nn_mysql_session_on_writable(ses, stream_pump, st);
            return;
        }
    }
    free(st);
    nn_mysql_session_result_end(ses);
}

static void engine_stream(nn_mysql_session *ses, uint64_t bytes) {
    stream_state *st = malloc(sizeof(*st));
    st->left = bytes;
    st->id = 1;
    memset(st->chunk, 'x', sizeof(st->chunk));
    nn_mysql_column cols[2] = {
        {.name = "id", .type = NN_MYSQL_TYPE_LONGLONG, .flags = NN_MYSQL_FLAG_NOT_NULL},
        {.name = "chunk", .type = NN_MYSQL_TYPE_VAR_STRING, .length = STREAM_CHUNK},
    };
    nn_mysql_session_result_begin(ses, 2);
    nn_mysql_session_result_column_def(ses, &cols[0]);
    nn_mysql_session_result_column_def(ses, &cols[1]);
    stream_pump(st, ses);
}

/* SELECT engine_types: one row with a column of every MySQL type, typed values. */
#define TYPE_COLUMNS 19
static const nn_mysql_column type_columns[TYPE_COLUMNS] = {
    {.name = "c_tiny", .type = NN_MYSQL_TYPE_TINY},
    {.name = "c_short", .type = NN_MYSQL_TYPE_SHORT},
    {.name = "c_long", .type = NN_MYSQL_TYPE_LONG, .table = "t", .schema = "engine"},
    {.name = "c_ulonglong", .type = NN_MYSQL_TYPE_LONGLONG, .flags = NN_MYSQL_FLAG_UNSIGNED},
    {.name = "c_float", .type = NN_MYSQL_TYPE_FLOAT},
    {.name = "c_double", .type = NN_MYSQL_TYPE_DOUBLE},
    {.name = "c_decimal", .type = NN_MYSQL_TYPE_NEWDECIMAL, .decimals = 2},
    {.name = "c_date", .type = NN_MYSQL_TYPE_DATE},
    {.name = "c_time", .type = NN_MYSQL_TYPE_TIME},
    {.name = "c_datetime", .type = NN_MYSQL_TYPE_DATETIME, .decimals = 6},
    {.name = "c_timestamp", .type = NN_MYSQL_TYPE_TIMESTAMP},
    {.name = "c_year", .type = NN_MYSQL_TYPE_YEAR},
    {.name = "c_varchar", .type = NN_MYSQL_TYPE_VAR_STRING},
    {.name = "c_blob", .type = NN_MYSQL_TYPE_BLOB, .flags = NN_MYSQL_FLAG_BINARY},
    {.name = "c_json", .type = NN_MYSQL_TYPE_JSON},
    {.name = "c_bit", .type = NN_MYSQL_TYPE_BIT},
    {.name = "c_enum", .type = NN_MYSQL_TYPE_STRING, .flags = NN_MYSQL_FLAG_ENUM},
    {.name = "c_set", .type = NN_MYSQL_TYPE_STRING, .flags = NN_MYSQL_FLAG_SET},
    {.name = "c_null", .type = NN_MYSQL_TYPE_NULL},
};

static void engine_types(nn_mysql_session *ses) {
    static const uint8_t blob[4] = {0, 1, 2, 255};
    static const uint8_t bit[1] = {5};
    nn_mysql_value v[TYPE_COLUMNS] = {
        {.kind = NN_MYSQL_VALUE_INT, .i = -7},
        {.kind = NN_MYSQL_VALUE_INT, .i = -300},
        {.kind = NN_MYSQL_VALUE_INT, .i = 70000},
        {.kind = NN_MYSQL_VALUE_UINT, .u = 18446744073709551615ull},
        {.kind = NN_MYSQL_VALUE_DOUBLE, .d = 1.5},
        {.kind = NN_MYSQL_VALUE_DOUBLE, .d = 0.1},
        {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = "12345.67", .len = 8}},
        {.kind = NN_MYSQL_VALUE_TIME, .time = {.year = 2026, .month = 11, .day = 29}},
        {.kind = NN_MYSQL_VALUE_TIME,
         .time = {.days = 1, .hour = 2, .minute = 3, .second = 4, .negative = true}},
        {.kind = NN_MYSQL_VALUE_TIME,
         .time = {.year = 2026,
                  .month = 1,
                  .day = 2,
                  .hour = 3,
                  .minute = 4,
                  .second = 5,
                  .microsecond = 123456}},
        {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = "2026-11-29 10:20:30", .len = 19}},
        {.kind = NN_MYSQL_VALUE_INT, .i = 2026},
        {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = "h\xc3\xa9llo", .len = 6}},
        {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = blob, .len = 4}},
        {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = "{\"a\": 1}", .len = 8}},
        {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = bit, .len = 1}},
        {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = "red", .len = 3}},
        {.kind = NN_MYSQL_VALUE_BYTES, .bytes = {.data = "a,b", .len = 3}},
        {.kind = NN_MYSQL_VALUE_NULL},
    };
    nn_mysql_session_result_begin(ses, TYPE_COLUMNS);
    for (int i = 0; i < TYPE_COLUMNS; i++) {
        nn_mysql_session_result_column_def(ses, &type_columns[i]);
    }
    nn_mysql_session_result_row_values(ses, v);
    nn_mysql_session_result_end(ses);
}

static void engine_query(void *arg, nn_mysql_session *ses, const char *sql, size_t len) {
    if (is(sql, len, "SELECT engine_rows")) {
        nn_mysql_session_result_begin(ses, 2);
        nn_mysql_session_result_column(ses, "id", NN_MYSQL_TYPE_LONGLONG);
        nn_mysql_session_result_column(ses, "name", NN_MYSQL_TYPE_VAR_STRING);
        const char *rows[3][2] = {{"1", "a"}, {"2", NULL}, {"3", "c"}};
        for (int i = 0; i < 3; i++) {
            nn_mysql_session_result_row(ses, rows[i], NULL);
        }
        nn_mysql_session_result_end(ses);
    } else if (is(sql, len, "SELECT engine_async")) {
        async_answer *a = calloc(1, sizeof(*a));
        a->task.fn = answer_on_loop;
        a->ses = ses;
        pthread_t t;
        pthread_create(&t, NULL, engine_thread, a);
        pthread_detach(t);
    } else if (is(sql, len, "SELECT engine_hold")) {
        atomic_store(&held, ses);
    } else if (is(sql, len, "SELECT engine_held")) {
        const char *row[1] = {atomic_load(&held) ? "1" : "0"};
        nn_mysql_session_result_begin(ses, 1);
        nn_mysql_session_result_column(ses, "held", NN_MYSQL_TYPE_LONGLONG);
        nn_mysql_session_result_row(ses, row, NULL);
        nn_mysql_session_result_end(ses);
    } else if (is(sql, len, "SELECT engine_release")) {
        nn_mysql_session *h = atomic_exchange(&held, NULL);
        if (h != NULL) {
            async_answer *a = calloc(1, sizeof(*a));
            a->task.fn = answer_on_loop;
            a->ses = h;
            nn_loop_post(nn_mysql_session_loop(h), &a->task);
        }
        nn_mysql_session_ok(ses, h != NULL, 0, NULL);
    } else if (starts(sql, len, "SELECT engine_stream ")) {
        char num[32] = {0};
        size_t n = len - strlen("SELECT engine_stream ");
        memcpy(num, sql + strlen("SELECT engine_stream "),
               n < sizeof(num) - 1 ? n : sizeof(num) - 1);
        engine_stream(ses, strtoull(num, NULL, 10));
    } else if (is(sql, len, "SELECT engine_types")) {
        engine_types(ses);
    } else if (is(sql, len, "SELECT engine_query_attr")) {
        /* The query attribute trace_id the client sent with this query, or NULL. */
        const nn_mysql_value *v = nn_mysql_session_query_attr(ses, "trace_id");
        nn_mysql_value row[1] = {{.kind = NN_MYSQL_VALUE_NULL}};
        if (v != NULL) {
            row[0] = *v;
        }
        nn_mysql_session_result_begin(ses, 1);
        nn_mysql_session_result_column(ses, "trace_id", NN_MYSQL_TYPE_VAR_STRING);
        nn_mysql_session_result_row_values(ses, row);
        nn_mysql_session_result_end(ses);
    } else if (is(sql, len, "SELECT engine_error")) {
        nn_mysql_session_error(ses, 1146, "42S02", "Table 'engine.t' doesn't exist");
    } else if (is(sql, len, "SELECT engine_sessions_ended")) {
        char n[32];
        snprintf(n, sizeof(n), "%d", atomic_load(&sessions_ended));
        nn_mysql_session_result_begin(ses, 1);
        nn_mysql_session_result_column(ses, "ended", NN_MYSQL_TYPE_LONGLONG);
        const char *row[1] = {n};
        nn_mysql_session_result_row(ses, row, NULL);
        nn_mysql_session_result_end(ses);
    } else {
        nn_mysql_admin_query(ses, sql, len);
    }
}

static void engine_session_end(void *arg, nn_mysql_session *ses) {
    atomic_fetch_add(&sessions_ended, 1);
}

/* Prepared statements: the engine's own (engine_types, engine_stream) get its typed result
 * through the same API, in binary rows; the rest goes to the administrative handler. */
static void engine_prepare(void *arg, nn_mysql_session *ses, nn_mysql_stmt *stmt, const char *sql,
                           size_t len) {
    if (is(sql, len, "SELECT engine_types")) {
        nn_mysql_stmt_prepared(stmt, 0, TYPE_COLUMNS, type_columns);
    } else {
        nn_mysql_admin_prepare(ses, stmt, sql, len);
    }
}

static void engine_execute(void *arg, nn_mysql_session *ses, nn_mysql_stmt *stmt,
                           const nn_mysql_value *params, uint32_t count) {
    size_t len = 0;
    const char *sql = nn_mysql_stmt_sql(stmt, &len);
    if (is(sql, len, "SELECT engine_types")) {
        engine_types(ses);
    } else {
        nn_mysql_admin_execute(ses, stmt, params, count);
    }
}

static const nn_mysql_handler engine = {
    .version = NN_MYSQL_HANDLER_VERSION,
    .query = engine_query,
    .session_end = engine_session_end,
    .prepare = engine_prepare,
    .execute = engine_execute,
};

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    nn_err err;
    nn_err_clear(&err);
    nn_mysql_config mc = {.data_dir = argv[1], .tls = false, .handshake_timeout_ms = 5000};
    const char *limit = getenv("NN_FIXTURE_OUTPUT_LIMIT");
    if (limit != NULL) {
        mc.output_limit_bytes = (uint32_t)strtoul(limit, NULL, 10);
    }
    nn_security *sec = NULL;
    const char *ca = getenv("NN_FIXTURE_TLS_CA");
    const char *cert = getenv("NN_FIXTURE_TLS_CERT");
    const char *key = getenv("NN_FIXTURE_TLS_KEY");
    if (ca != NULL || cert != NULL || key != NULL) {
        if (ca == NULL || cert == NULL || key == NULL) {
            fprintf(stderr, "tls: NN_FIXTURE_TLS_CA, _CERT and _KEY go together\n");
            return 2;
        }
        /* A benchmark run is short: no file watcher thread beside the workers. */
        nn_security_config tc = {
            .ca_file = ca, .cert_file = cert, .key_file = key, .watch_interval_ms = UINT32_MAX};
        sec = nn_security_new(&tc, &err);
        if (sec == NULL) {
            fprintf(stderr, "tls: %s\n", err.msg);
            return 1;
        }
        mc.tls = true;
    }
    nn_mysql_server *my = nn_mysql_server_new(&mc, sec, &err);
    if (my == NULL) {
        fprintf(stderr, "mysql: %s\n", err.msg);
        nn_security_free(sec);
        return 1;
    }
    nn_mysql_server_set_handler(my, &engine, NULL);
    nn_server_config sc = {.workers = 2};
    nn_server *srv = nn_server_new(&sc, &err);
    nn_listener_config lc;
    nn_mysql_server_listener(my, "127.0.0.1", 0, &lc);
    int listener = srv ? nn_server_listen(srv, &lc, &err) : -1;
    if (listener < 0 || nn_server_start(srv, &err) < 0) {
        fprintf(stderr, "server: %s\n", err.msg);
        return 1;
    }
    printf("ready port=%u\n", nn_server_listener_port(srv, listener));
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    nn_server_stop(srv, NN_SEC(2));
    nn_server_wait(srv);
    nn_server_free(srv);
    nn_mysql_server_free(my);
    nn_security_free(sec);
    return 0;
}
