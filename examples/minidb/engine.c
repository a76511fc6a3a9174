/* engine.c: the engine thread, the only user of SQLite: the job queue, statements, typed
 * results read in batches and streamed under back-pressure. minidb.h says which thread
 * runs what and why; replica.c has the log and the replication. */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "engine_internal.h"

void push(minidb *mdb, job *j) {
    j->next = NULL;
    pthread_mutex_lock(&mdb->lock);
    if (mdb->tail != NULL) {
        mdb->tail->next = j;
    } else {
        mdb->head = j;
    }
    mdb->tail = j;
    pthread_cond_signal(&mdb->cond);
    pthread_mutex_unlock(&mdb->lock);
}

void job_free(job *j) {
    if (j == NULL) {
        return;
    }
    for (uint32_t i = 0; i < j->nparams; i++) {
        if (j->params[i].kind == NN_MYSQL_VALUE_BYTES) {
            free((void *)j->params[i].bytes.data);
        }
    }
    free(j->params);
    free(j->sql);
    free(j->origin);
    if (j->fetched != NULL) {
        protobuf_c_message_free_unpacked(&j->fetched->base, NULL);
    }
    free(j);
}

job *job_new(job_kind kind) {
    job *j = calloc(1, sizeof(*j));
    if (j != NULL) {
        j->kind = kind;
        j->peer = -1;
    }
    return j;
}

int peer_index(const minidb *mdb, const char *name) {
    for (size_t i = 0; i < mdb->npeers; i++) {
        if (strcmp(nn_node_peer_name(mdb->node, i), name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* ------------------------------------------------------------- answers */

void answer_free(answer *a) {
    for (uint32_t i = 0; a->names != NULL && i < a->ncols; i++) {
        free(a->names[i]);
    }
    free(a->names);
    free(a->cols);
    free(a);
}

static void answer_send(void *arg, nn_mysql_session *ses) {
    answer *a = arg;
    switch (a->kind) {
    case A_OK:
        nn_mysql_session_ok(ses, a->affected, a->last_id, NULL);
        break;
    case A_ERROR:
        nn_mysql_session_error(ses, a->code, a->state, "%s", a->msg);
        break;
    case A_PREPARED:
        nn_mysql_stmt_prepared(a->stmt, a->params, a->ncols, a->cols);
        break;
    }
    answer_free(a);
}

void post(nn_mysql_session *ses, answer *a) {
    if (nn_mysql_session_run(ses, answer_send, a) < 0) {
        answer_free(a); /* the worker is gone: nobody is waiting */
    }
}

void deliver(const target *t, answer *a) {
    if (t->ses != NULL) {
        post(t->ses, a);
        return;
    }
    Minidb__ForwardReply reply = MINIDB__FORWARD_REPLY__INIT;
    reply.affected = a->affected;
    reply.last_id = a->last_id;
    reply.code = a->kind == A_ERROR ? a->code : 0;
    reply.state = a->state;
    reply.message = a->msg;
    t->closure(&reply.base, t->closure_data);
    answer_free(a);
}

/* SQLite's error as MySQL's nearest one, so that tools react as they would to MySQL. */
void error_from_sqlite(answer *a, const char *msg) {
    a->kind = A_ERROR;
    a->code = 1105;
    const char *state = "HY000";
    if (strstr(msg, "minidb_databases.name") != NULL) {
        a->code = 1007;
    } else if (strstr(msg, "UNIQUE constraint") != NULL) {
        a->code = 1062, state = "23000";
    } else if (strstr(msg, "NOT NULL constraint") != NULL) {
        a->code = 1048, state = "23000";
    } else if (strstr(msg, "no such table") != NULL) {
        a->code = 1146, state = "42S02";
    } else if (strstr(msg, "already exists") != NULL) {
        a->code = 1050, state = "42S01";
    } else if (strstr(msg, "no such column") != NULL) {
        a->code = 1054, state = "42S22";
    } else if (strstr(msg, "syntax error") != NULL || strstr(msg, "incomplete input") != NULL) {
        a->code = 1064, state = "42000";
    }
    snprintf(a->state, sizeof(a->state), "%s", state);
    snprintf(a->msg, sizeof(a->msg), "minidb: %s", msg);
}

void post_error(nn_mysql_session *ses, uint16_t code, const char *msg) {
    answer *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return; /* the session then waits for its client to give up: out of memory */
    }
    a->kind = A_ERROR;
    a->code = code;
    snprintf(a->state, sizeof(a->state), "HY000");
    snprintf(a->msg, sizeof(a->msg), "%s", msg);
    post(ses, a);
}

void post_sqlite_error(nn_mysql_session *ses, const char *msg) {
    answer *a = calloc(1, sizeof(*a));
    if (a != NULL) {
        error_from_sqlite(a, msg);
        post(ses, a);
    }
}

/* -------------------------------------------------------------- SQLite */

bool is_database(void *arg, const char *name) {
    minidb *mdb = arg;
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(mdb->db, "SELECT 1 FROM minidb_databases WHERE name = ?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

int exec(minidb *mdb, const char *sql) {
    return sqlite3_exec(mdb->db, sql, NULL, NULL, NULL);
}

/* Prepares exactly one statement: a second one in the same text would be run by no one. */
int prepare_one(minidb *mdb, const char *sql, sqlite3_stmt **st, const char **why) {
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(mdb->db, sql, -1, st, &tail);
    if (rc != SQLITE_OK) {
        *why = sqlite3_errmsg(mdb->db);
        return -1;
    }
    while (tail != NULL && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';')) {
        tail++;
    }
    if (*st == NULL || (tail != NULL && *tail != '\0')) {
        sqlite3_finalize(*st);
        *st = NULL;
        *why = "one statement per query";
        return -1;
    }
    return 0;
}

void bind_params(sqlite3_stmt *st, const nn_mysql_value *params, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        const nn_mysql_value *v = &params[i];
        int at = (int)i + 1;
        char text[64];
        switch (v->kind) {
        case NN_MYSQL_VALUE_NULL:
            sqlite3_bind_null(st, at);
            break;
        case NN_MYSQL_VALUE_INT:
            sqlite3_bind_int64(st, at, v->i);
            break;
        case NN_MYSQL_VALUE_UINT:
            if (v->u <= INT64_MAX) {
                sqlite3_bind_int64(st, at, (int64_t)v->u);
            } else {
                snprintf(text, sizeof(text), "%" PRIu64, v->u);
                sqlite3_bind_text(st, at, text, -1, SQLITE_TRANSIENT);
            }
            break;
        case NN_MYSQL_VALUE_DOUBLE:
            sqlite3_bind_double(st, at, v->d);
            break;
        case NN_MYSQL_VALUE_BYTES:
            if (v->type == NN_MYSQL_TYPE_BLOB || v->type == NN_MYSQL_TYPE_TINY_BLOB ||
                v->type == NN_MYSQL_TYPE_MEDIUM_BLOB || v->type == NN_MYSQL_TYPE_LONG_BLOB) {
                sqlite3_bind_blob64(st, at, v->bytes.data, v->bytes.len, SQLITE_STATIC);
            } else {
                sqlite3_bind_text64(st, at, v->bytes.data, v->bytes.len, SQLITE_STATIC,
                                    SQLITE_UTF8);
            }
            break;
        case NN_MYSQL_VALUE_TIME: {
            /* Dates are kept as MySQL prints them, which also sorts right. */
            const nn_mysql_time *t = &v->time;
            if (v->type == NN_MYSQL_TYPE_DATE) {
                snprintf(text, sizeof(text), "%04u-%02u-%02u", t->year, t->month, t->day);
            } else if (v->type == NN_MYSQL_TYPE_TIME) {
                snprintf(text, sizeof(text), "%s%02u:%02u:%02u", t->negative ? "-" : "",
                         t->days * 24 + t->hour, t->minute, t->second);
            } else {
                snprintf(text, sizeof(text), "%04u-%02u-%02u %02u:%02u:%02u", t->year, t->month,
                         t->day, t->hour, t->minute, t->second);
            }
            sqlite3_bind_text(st, at, text, -1, SQLITE_TRANSIENT);
            break;
        }
        }
    }
}

/* A column's MySQL type: from its declared type (SQLite's affinity rules), else from the
 * first row's value. Dates stay text: SQLite keeps them as text. */
static nn_mysql_type column_type(sqlite3_stmt *st, int i, bool have_row) {
    const char *decl = sqlite3_column_decltype(st, i);
    if (decl != NULL) {
        if (strcasestr(decl, "INT") != NULL) {
            return NN_MYSQL_TYPE_LONGLONG;
        }
        if (strcasestr(decl, "CHAR") != NULL || strcasestr(decl, "CLOB") != NULL ||
            strcasestr(decl, "TEXT") != NULL) {
            return NN_MYSQL_TYPE_VAR_STRING;
        }
        if (strcasestr(decl, "BLOB") != NULL || strcasestr(decl, "BINARY") != NULL) {
            return NN_MYSQL_TYPE_BLOB;
        }
        if (strcasestr(decl, "REAL") != NULL || strcasestr(decl, "FLOA") != NULL ||
            strcasestr(decl, "DOUB") != NULL) {
            return NN_MYSQL_TYPE_DOUBLE;
        }
        return NN_MYSQL_TYPE_VAR_STRING;
    }
    switch (have_row ? sqlite3_column_type(st, i) : SQLITE_NULL) {
    case SQLITE_INTEGER:
        return NN_MYSQL_TYPE_LONGLONG;
    case SQLITE_FLOAT:
        return NN_MYSQL_TYPE_DOUBLE;
    case SQLITE_BLOB:
        return NN_MYSQL_TYPE_BLOB;
    default:
        return NN_MYSQL_TYPE_VAR_STRING;
    }
}

static int describe(sqlite3_stmt *st, bool have_row, uint32_t *ncols, nn_mysql_column **cols,
                    char ***names) {
    uint32_t n = (uint32_t)sqlite3_column_count(st);
    *ncols = n;
    *cols = calloc(n ? n : 1, sizeof(**cols));
    *names = calloc(n ? n : 1, sizeof(**names));
    if (*cols == NULL || *names == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, (int)i);
        (*names)[i] = strdup(name != NULL ? name : "?");
        if ((*names)[i] == NULL) {
            return -1;
        }
        (*cols)[i].name = (*names)[i];
        (*cols)[i].type = column_type(st, (int)i, have_row);
        if ((*cols)[i].type == NN_MYSQL_TYPE_VAR_STRING) {
            (*cols)[i].length = 65535;
        }
    }
    return 0;
}

/* -------------------------------------------------------------- reading */

struct cursor {
    minidb *mdb;
    nn_mysql_session *ses;
    sqlite3_stmt *st;
    uint32_t ncols;
    nn_mysql_column *cols;
    char **names;
    bool header_sent;
    bool done;
    char *error; /* SQLite failed midway */
    /* The current batch: rows * ncols values, their bytes in arena. */
    nn_mysql_value *cells;
    size_t rows, next, cap_rows;
    char *arena;
    size_t arena_len, arena_cap;
};

static void cursor_free(cursor *c) {
    sqlite3_finalize(c->st);
    for (uint32_t i = 0; c->names != NULL && i < c->ncols; i++) {
        free(c->names[i]);
    }
    free(c->names);
    free(c->cols);
    free(c->cells);
    free(c->arena);
    free(c->error);
    free(c);
}

static void emit(void *arg, nn_mysql_session *ses);

/* Engine thread: reads the next batch and hands it to the session's worker. */
static void fill(cursor *c) {
    c->rows = c->next = c->arena_len = 0;
    bool oom = false;
    while (!c->done && c->rows < BATCH_ROWS && c->arena_len < BATCH_BYTES && !oom) {
        int rc = sqlite3_step(c->st);
        if (rc == SQLITE_DONE) {
            c->done = true;
            break;
        }
        if (rc != SQLITE_ROW) {
            c->done = true;
            c->error = strdup(sqlite3_errmsg(c->mdb->db));
            break;
        }
        if (c->cols == NULL && describe(c->st, true, &c->ncols, &c->cols, &c->names) < 0) {
            oom = true;
            break;
        }
        if (c->rows == c->cap_rows) {
            size_t cap = c->cap_rows ? c->cap_rows * 2 : 16;
            nn_mysql_value *cells = realloc(c->cells, cap * c->ncols * sizeof(*cells));
            if (cells == NULL) {
                oom = true;
                break;
            }
            c->cells = cells;
            c->cap_rows = cap;
        }
        nn_mysql_value *row = &c->cells[c->rows * c->ncols];
        for (uint32_t i = 0; i < c->ncols; i++) {
            nn_mysql_value *v = &row[i];
            memset(v, 0, sizeof(*v));
            switch (sqlite3_column_type(c->st, (int)i)) {
            case SQLITE_INTEGER:
                v->kind = NN_MYSQL_VALUE_INT;
                v->i = sqlite3_column_int64(c->st, (int)i);
                break;
            case SQLITE_FLOAT:
                v->kind = NN_MYSQL_VALUE_DOUBLE;
                v->d = sqlite3_column_double(c->st, (int)i);
                break;
            case SQLITE_NULL:
                v->kind = NN_MYSQL_VALUE_NULL;
                break;
            default: {
                const void *data = sqlite3_column_blob(c->st, (int)i);
                size_t len = (size_t)sqlite3_column_bytes(c->st, (int)i);
                if (c->arena_len + len > c->arena_cap) {
                    size_t cap = (c->arena_len + len) * 2 + 4096;
                    char *arena = realloc(c->arena, cap);
                    if (arena == NULL) {
                        oom = true;
                        break;
                    }
                    c->arena = arena;
                    c->arena_cap = cap;
                }
                if (len > 0) {
                    memcpy(c->arena + c->arena_len, data, len);
                }
                /* An offset until the batch is complete: the arena may still move. */
                v->kind = NN_MYSQL_VALUE_BYTES;
                v->bytes.data = (const void *)(uintptr_t)c->arena_len;
                v->bytes.len = len;
                c->arena_len += len;
                break;
            }
            }
        }
        c->rows++;
    }
    if (oom) {
        c->done = true;
        free(c->error);
        c->error = strdup("out of memory");
    }
    if (c->cols == NULL && describe(c->st, false, &c->ncols, &c->cols, &c->names) < 0) {
        c->done = true;
    }
    for (size_t r = 0; r < c->rows * c->ncols; r++) {
        if (c->cells[r].kind == NN_MYSQL_VALUE_BYTES) {
            c->cells[r].bytes.data = c->arena + (uintptr_t)c->cells[r].bytes.data;
        }
    }
    if (nn_mysql_session_run(c->ses, emit, c) < 0) {
        cursor_free(c);
    }
}

static void cursor_done(cursor *c) {
    job *j = job_new(JOB_CLOSE);
    if (j == NULL) {
        return; /* leaks one cursor rather than finalize on a worker */
    }
    j->cur = c;
    push(c->mdb, j);
}

/* The session's worker: sends the batch, stops at back-pressure, asks for the next one. */
static void emit(void *arg, nn_mysql_session *ses) {
    cursor *c = arg;
    if (!c->header_sent) {
        if (c->error != NULL && c->rows == 0) {
            nn_mysql_session_error(ses, 1105, "HY000", "minidb: %s", c->error);
            cursor_done(c);
            return;
        }
        if (c->ncols == 0) {
            nn_mysql_session_ok(ses, 0, 0, NULL); /* a statement that returns no rows */
            cursor_done(c);
            return;
        }
        char tables_in[160];
        nn_mysql_session_result_begin(ses, c->ncols);
        for (uint32_t i = 0; i < c->ncols; i++) {
            nn_mysql_column col = c->cols[i];
            if (c->ncols == 1 && strcmp(col.name, "Tables") == 0) {
                /* SHOW TABLES' column, as MySQL names it. */
                snprintf(tables_in, sizeof(tables_in), "Tables_in_%s",
                         nn_mysql_session_database(ses));
                col.name = tables_in;
            }
            nn_mysql_session_result_column_def(ses, &col);
        }
        c->header_sent = true;
    }
    while (c->next < c->rows) {
        int rc = nn_mysql_session_result_row_values(ses, &c->cells[c->next * c->ncols]);
        c->next++;
        if (rc < 0) {
            if (rc == -ECANCELED) {
                nn_mysql_session_result_end(ses); /* discarded: the client is gone */
            }
            cursor_done(c);
            return;
        }
        if (rc == NN_MYSQL_ROW_FULL) {
            nn_mysql_session_on_writable(ses, emit, c);
            return;
        }
    }
    if (!c->done) {
        job *j = job_new(JOB_RESUME);
        if (j != NULL) {
            j->cur = c;
            push(c->mdb, j);
            return;
        }
        c->error = strdup("out of memory");
    }
    if (c->error != NULL) {
        nn_mysql_session_error(ses, 1105, "HY000", "minidb: %s", c->error);
    } else {
        nn_mysql_session_result_end(ses);
    }
    cursor_done(c);
}

static void run_read(minidb *mdb, job *j, const char *sql) {
    sqlite3_stmt *st = NULL;
    const char *why = NULL;
    if (prepare_one(mdb, sql, &st, &why) < 0) {
        post_sqlite_error(j->ses, why);
        return;
    }
    bind_params(st, j->params, j->nparams);
    cursor *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        sqlite3_finalize(st);
        post_error(j->ses, 1037, "minidb: out of memory");
        return;
    }
    c->mdb = mdb;
    c->ses = j->ses;
    c->st = st;
    fill(c);
}

/* Returns true when the job was kept for later. */
bool run_query(minidb *mdb, job *j) {
    if (j->qkind == MINIDB_WRITE && catching_up(mdb)) {
        /* A write now would take a seq a peer may already hold: it waits (in order) until
         * the catch-up is over, which a call's deadline bounds. */
        job **at = &mdb->deferred;
        while (*at != NULL) {
            at = &(*at)->next;
        }
        j->next = NULL;
        *at = j;
        return true;
    }
    /* A forwarded write was translated by the node that took it. */
    char *sql = j->ses != NULL ? minidb_translate(j->sql, strlen(j->sql), is_database, mdb)
                               : strdup(j->sql);
    if (sql == NULL) {
        if (j->ses != NULL) {
            post_error(j->ses, 1037, "minidb: out of memory");
        } else {
            j->closure(NULL, j->closure_data);
        }
        return false;
    }
    if (j->qkind == MINIDB_WRITE) {
        run_write(mdb, j, sql);
    } else {
        run_read(mdb, j, sql);
    }
    free(sql);
    return false;
}

static void run_prepare(minidb *mdb, job *j) {
    char *sql = minidb_translate(j->sql, strlen(j->sql), is_database, mdb);
    sqlite3_stmt *st = NULL;
    const char *why = "out of memory";
    answer *a = calloc(1, sizeof(*a));
    if (sql == NULL || a == NULL || prepare_one(mdb, sql, &st, &why) < 0) {
        free(a);
        post_sqlite_error(j->ses, why);
        free(sql);
        return;
    }
    a->kind = A_PREPARED;
    a->stmt = j->stmt;
    a->params = (uint32_t)sqlite3_bind_parameter_count(st);
    if (describe(st, false, &a->ncols, &a->cols, &a->names) < 0) {
        answer_free(a);
        post_error(j->ses, 1037, "minidb: out of memory");
    } else {
        post(j->ses, a);
    }
    sqlite3_finalize(st);
    free(sql);
}

/* ------------------------------------------------------- session side */

static job *client_job(job_kind kind, nn_mysql_session *ses, const char *sql, size_t len,
                       minidb_kind qkind) {
    job *j = job_new(kind);
    if (j == NULL || (j->sql = malloc(len + 1)) == NULL) {
        job_free(j);
        nn_mysql_session_error(ses, 1037, "HY001", "minidb: out of memory");
        return NULL;
    }
    memcpy(j->sql, sql, len);
    j->sql[len] = '\0';
    j->ses = ses;
    j->qkind = qkind;
    return j;
}

void minidb_submit_query(minidb *mdb, nn_mysql_session *ses, const char *sql, size_t len,
                         minidb_kind kind) {
    job *j = client_job(JOB_QUERY, ses, sql, len, kind);
    if (j != NULL) {
        push(mdb, j);
    }
}

void minidb_submit_prepare(minidb *mdb, nn_mysql_session *ses, nn_mysql_stmt *stmt, const char *sql,
                           size_t len, minidb_kind kind) {
    job *j = client_job(JOB_PREPARE, ses, sql, len, kind);
    if (j != NULL) {
        j->stmt = stmt;
        push(mdb, j);
    }
}

void minidb_submit_execute(minidb *mdb, nn_mysql_session *ses, const char *sql, size_t len,
                           minidb_kind kind, const nn_mysql_value *params, uint32_t count) {
    job *j = client_job(JOB_QUERY, ses, sql, len, kind);
    if (j == NULL) {
        return;
    }
    /* The values are borrowed for the callback only. */
    j->params = calloc(count ? count : 1, sizeof(*j->params));
    bool oom = j->params == NULL;
    for (uint32_t i = 0; !oom && i < count; i++) {
        j->params[i] = params[i];
        j->nparams = i + 1;
        if (params[i].kind == NN_MYSQL_VALUE_BYTES) {
            void *copy = malloc(params[i].bytes.len + 1);
            oom = copy == NULL;
            if (copy != NULL && params[i].bytes.len > 0) {
                memcpy(copy, params[i].bytes.data, params[i].bytes.len);
            }
            j->params[i].bytes.data = copy;
        }
    }
    if (oom) {
        job_free(j);
        nn_mysql_session_error(ses, 1037, "HY001", "minidb: out of memory");
        return;
    }
    push(mdb, j);
}

/* ------------------------------------------------------- engine thread */

/* How often a node that is not the writer reads the writer's log for what did not reach it
 * (an Apply lost with a channel that went down and up, see replica_tick). */
#define TICK_NS 1000000000ull

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *engine_main(void *arg) {
    minidb *mdb = arg;
    uint64_t next_tick = now_ns() + TICK_NS;
    for (;;) {
        pthread_mutex_lock(&mdb->lock);
        while (mdb->head == NULL && !mdb->stop && now_ns() < next_tick) {
            struct timespec until = {(time_t)(next_tick / 1000000000ull),
                                     (long)(next_tick % 1000000000ull)};
            pthread_cond_timedwait(&mdb->cond, &mdb->lock, &until);
        }
        job *j = mdb->head;
        if (j == NULL && !mdb->stop) {
            pthread_mutex_unlock(&mdb->lock);
            next_tick = now_ns() + TICK_NS;
            replica_tick(mdb);
            continue;
        }
        if (j == NULL) {
            pthread_mutex_unlock(&mdb->lock);
            return NULL;
        }
        mdb->head = j->next;
        if (mdb->head == NULL) {
            mdb->tail = NULL;
        }
        pthread_mutex_unlock(&mdb->lock);
        bool kept = false;
        switch (j->kind) {
        case JOB_QUERY:
            kept = run_query(mdb, j);
            break;
        case JOB_PREPARE:
            run_prepare(mdb, j);
            break;
        case JOB_RESUME:
            fill(j->cur);
            break;
        case JOB_CLOSE:
            cursor_free(j->cur);
            break;
        case JOB_APPLY:
            kept = run_apply(mdb, j);
            break;
        case JOB_FETCH:
            run_fetch(mdb, j, j->max);
            break;
        case JOB_SYNC:
            mdb->want_sync[j->peer] = true;
            start_sync(mdb);
            break;
        case JOB_ENTRIES:
            run_entries(mdb, j);
            break;
        case JOB_DOWN:
            mdb->peer_started[j->peer] = 0;
            break;
        }
        if (!kept) {
            job_free(j);
        }
    }
}

static const char schema[] =
    "PRAGMA journal_mode = WAL;"
    /* NORMAL: a commit survives the process being killed (not a power cut), which is what
     * the SIGKILL test checks and what a replicated example needs. */
    "PRAGMA synchronous = NORMAL;"
    "CREATE TABLE IF NOT EXISTS minidb_log(seq INTEGER PRIMARY KEY, origin TEXT NOT NULL,"
    " sql TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS minidb_databases(name TEXT PRIMARY KEY);";

minidb *minidb_new(nn_node *node, const char *data_dir) {
    minidb *mdb = calloc(1, sizeof(*mdb));
    char *path = NULL;
    if (mdb == NULL || asprintf(&path, "%s/minidb.sqlite", data_dir) < 0) {
        free(mdb);
        return NULL;
    }
    replica_init(mdb);
    mdb->node = node;
    mdb->rpc = nn_node_rpc(node);
    mdb->npeers = nn_node_peer_count(node);
    mdb->want_sync = calloc(mdb->npeers + 1, sizeof(bool));
    mdb->peer_started = calloc(mdb->npeers + 1, sizeof(uint64_t));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    mdb->started_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    pthread_mutex_init(&mdb->lock, NULL);
    pthread_cond_init(&mdb->cond, NULL);
    char *err = NULL;
    if (sqlite3_open(path, &mdb->db) != SQLITE_OK ||
        sqlite3_exec(mdb->db, schema, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "minidb: %s: %s\n", path, err != NULL ? err : sqlite3_errmsg(mdb->db));
        sqlite3_free(err);
        goto fail;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(mdb->db, "SELECT coalesce(max(seq), 0) FROM minidb_log", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        mdb->last_seq = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    nn_rpc_protobuf_method_name(&minidb__replica__descriptor, 0, mdb->method_apply,
                                sizeof(mdb->method_apply));
    nn_rpc_protobuf_method_name(&minidb__replica__descriptor, 1, mdb->method_fetch,
                                sizeof(mdb->method_fetch));
    nn_rpc_protobuf_method_name(&minidb__replica__descriptor, 2, mdb->method_forward,
                                sizeof(mdb->method_forward));
    if (nn_rpc_service_register_protobuf(mdb->rpc, &mdb->service.base) < 0) {
        fprintf(stderr, "minidb: cannot register the Replica service\n");
        goto fail;
    }
    if (pthread_create(&mdb->thread, NULL, engine_main, mdb) != 0) {
        fprintf(stderr, "minidb: cannot start the engine thread\n");
        goto fail;
    }
    fprintf(stderr, "minidb: %s opened at seq %" PRIu64 "\n", path, mdb->last_seq);
    free(path);
    return mdb;
fail:
    sqlite3_close(mdb->db);
    free(mdb->want_sync);
    free(mdb->peer_started);
    free(mdb);
    free(path);
    return NULL;
}

void minidb_free(minidb *mdb) {
    if (mdb == NULL) {
        return;
    }
    pthread_mutex_lock(&mdb->lock);
    mdb->stop = true;
    pthread_cond_signal(&mdb->cond);
    pthread_mutex_unlock(&mdb->lock);
    pthread_join(mdb->thread, NULL);
    for (job **list = &mdb->pending; list != NULL;
         list = list == &mdb->pending ? &mdb->deferred : NULL) {
        while (*list != NULL) {
            job *j = *list;
            *list = j->next;
            job_free(j);
        }
    }
    sqlite3_close_v2(mdb->db);
    free(mdb->want_sync);
    free(mdb->peer_started);
    pthread_mutex_destroy(&mdb->lock);
    pthread_cond_destroy(&mdb->cond);
    free(mdb);
}
