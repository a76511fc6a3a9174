/* session.c: minidb's MySQL handler. Runs on nodenet's workers, so it only decides who
 * answers: the administrative handler (users, SHOW STATUS, SELECT @@...), at once, or the
 * engine thread, later (engine.c). */
#include <stdlib.h>
#include <string.h>

#include "minidb.h"

static void on_query(void *arg, nn_mysql_session *ses, const char *sql, size_t len) {
    minidb_kind kind = minidb_classify(sql, len);
    if (kind == MINIDB_ADMIN) {
        nn_mysql_admin_query(ses, sql, len);
    } else if (kind == MINIDB_EMPTY) {
        nn_mysql_session_ok(ses, 0, 0, NULL);
    } else {
        minidb_submit_query(arg, ses, sql, len, kind);
    }
}

static void on_prepare(void *arg, nn_mysql_session *ses, nn_mysql_stmt *stmt, const char *sql,
                       size_t len) {
    minidb_kind kind = minidb_classify(sql, len);
    if (kind == MINIDB_ADMIN || kind == MINIDB_EMPTY) {
        nn_mysql_admin_prepare(ses, stmt, sql, len);
        return;
    }
    /* Set now, on the worker that owns the statement: the engine thread only reads it. */
    minidb_stmt *ms = malloc(sizeof(*ms) + len + 1);
    if (ms == NULL) {
        nn_mysql_session_error(ses, 1037, "HY001", "minidb: out of memory");
        return;
    }
    ms->kind = kind;
    ms->len = len;
    memcpy(ms->sql, sql, len);
    ms->sql[len] = '\0';
    nn_mysql_stmt_set_user_data(stmt, ms);
    minidb_submit_prepare(arg, ses, stmt, sql, len, kind);
}

static void on_execute(void *arg, nn_mysql_session *ses, nn_mysql_stmt *stmt,
                       const nn_mysql_value *params, uint32_t count) {
    minidb_stmt *ms = nn_mysql_stmt_user_data(stmt);
    if (ms == NULL) {
        nn_mysql_admin_execute(ses, stmt, params, count);
        return;
    }
    minidb_submit_execute(arg, ses, ms->sql, ms->len, ms->kind, params, count);
}

static void on_stmt_close(void *arg, nn_mysql_session *ses, nn_mysql_stmt *stmt) {
    (void)arg;
    (void)ses;
    free(nn_mysql_stmt_user_data(stmt));
    nn_mysql_stmt_set_user_data(stmt, NULL);
}

const nn_mysql_handler minidb_mysql_handler = {
    .version = NN_MYSQL_HANDLER_VERSION,
    .query = on_query,
    .prepare = on_prepare,
    .execute = on_execute,
    .stmt_close = on_stmt_close,
    /* init_db, session_end, session_reset: the defaults. A database is a namespace that
     * CREATE DATABASE records; USE of any name is accepted as the administrative handler
     * does. */
};
