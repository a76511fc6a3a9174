/* tests/integration/mysql_fixture_main.c: an engine embedding nodenet's MySQL server.
 *
 * Starts an nn_server with the mysql listener (plaintext, no certificates) and a handler
 * of its own, to test the handler interface the way a database engine uses it:
 *   SELECT engine_rows   a result set with a NULL, answered at once
 *   SELECT engine_async  answered later from another thread through nn_loop_post()
 *   SELECT engine_error  an engine error
 *   anything else        delegated to nodenet's administrative handler
 *
 *   mysql_fixture DATA_DIR       prints "ready port=N" then serves until SIGTERM/SIGINT
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/mysql.h"
#include "net/net.h"

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

static const nn_mysql_handler engine = {
    .query = engine_query,
    .session_end = engine_session_end,
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
    nn_mysql_server *my = nn_mysql_server_new(&mc, NULL, &err);
    if (my == NULL) {
        fprintf(stderr, "mysql: %s\n", err.msg);
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
    return 0;
}
