/* engine.c: the engine thread (the only user of SQLite), the statement log, replication to
 * the peers and catch-up from them. minidb.h says which thread runs what and why. */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sqlite3.h>

#include "minidb.h"
#include "minidb.pb-c.h"

/* A result is read from SQLite in batches of at most this many rows or bytes, then sent by
 * the session's worker; the next batch is read only when the worker asks for it (after the
 * client drained the output), so a large result never sits whole in memory. */
#define BATCH_ROWS 256
#define BATCH_BYTES (256 * 1024)
/* Entries per catch-up call: bounded so a reply stays well under the RPC frame limit. */
#define FETCH_MAX 500

typedef enum job_kind {
    JOB_QUERY,   /* a client's statement (COM_QUERY or COM_STMT_EXECUTE) */
    JOB_PREPARE, /* COM_STMT_PREPARE */
    JOB_RESUME,  /* read the next batch of a cursor */
    JOB_CLOSE,   /* a cursor is finished: finalize it */
    JOB_APPLY,   /* a peer's write (minidb.Replica.Apply) */
    JOB_FETCH,   /* a peer catching up (minidb.Replica.Fetch) */
    JOB_SYNC,    /* catch up from a peer whose channel became ready */
    JOB_ENTRIES, /* a Fetch reply came back */
    JOB_DOWN,    /* a peer's channel went down: its start time is unknown again */
} job_kind;

typedef struct cursor cursor;

typedef struct job {
    struct job *next;
    job_kind kind;
    nn_mysql_session *ses;
    nn_mysql_stmt *stmt;
    minidb_kind qkind;
    char *sql; /* NUL-terminated copy */
    nn_mysql_value *params;
    uint32_t nparams;
    cursor *cur;
    uint64_t seq; /* APPLY: the entry; FETCH: after */
    uint32_t max; /* FETCH */
    char *origin;
    void (*closure)(const ProtobufCMessage *reply, void *data);
    void *closure_data;
    int peer; /* SYNC, ENTRIES */
    Minidb__FetchReply *fetched;
} job;

struct minidb {
    Minidb__Replica_Service service; /* first: invoke() gets it back as the minidb */
    nn_node *node;
    nn_rpc *rpc;
    sqlite3 *db;
    char method_apply[128];
    char method_fetch[128];
    char method_forward[128];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job *head, *tail;
    bool stop;
    /* The engine thread's own state. */
    uint64_t last_seq;
    size_t npeers;
    bool *want_sync;
    uint64_t started_ns;    /* this process */
    uint64_t *peer_started; /* each peer's, from its last Fetch reply; 0 = unknown */
    bool syncing;
    bool synced_once; /* a peer's log was read since this process started */
    job *pending;     /* Apply jobs that came before their predecessors, by seq */
    job *deferred;    /* client writes that came while catching up, in order */
};

static void push(minidb *mdb, job *j) {
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

static void job_free(job *j) {
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

static job *job_new(job_kind kind) {
    job *j = calloc(1, sizeof(*j));
    if (j != NULL) {
        j->kind = kind;
        j->peer = -1;
    }
    return j;
}

static int peer_index(const minidb *mdb, const char *name) {
    for (size_t i = 0; i < mdb->npeers; i++) {
        if (strcmp(nn_node_peer_name(mdb->node, i), name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* ------------------------------------------------------------- answers */

/* One answer for a session, built on the engine thread and sent on the session's worker. */
typedef struct answer {
    enum { A_OK, A_ERROR, A_PREPARED } kind;
    nn_mysql_stmt *stmt;
    uint32_t params, ncols;
    nn_mysql_column *cols;
    char **names;
    uint64_t affected, last_id;
    uint16_t code;
    char state[6];
    char msg[512];
} answer;

static void answer_free(answer *a) {
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

/* Who waits for a write: a client session here, or (ses NULL) the node that forwarded it. */
typedef struct target {
    nn_mysql_session *ses;
    void (*closure)(const ProtobufCMessage *reply, void *data);
    void *closure_data;
} target;

static void post(nn_mysql_session *ses, answer *a) {
    if (nn_mysql_session_run(ses, answer_send, a) < 0) {
        answer_free(a); /* the worker is gone: nobody is waiting */
    }
}

static void deliver(const target *t, answer *a) {
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
static void error_from_sqlite(answer *a, const char *msg) {
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

static void post_error(nn_mysql_session *ses, uint16_t code, const char *msg) {
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

static void post_sqlite_error(nn_mysql_session *ses, const char *msg) {
    answer *a = calloc(1, sizeof(*a));
    if (a != NULL) {
        error_from_sqlite(a, msg);
        post(ses, a);
    }
}

/* -------------------------------------------------------------- SQLite */

static bool is_database(void *arg, const char *name) {
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

static int exec(minidb *mdb, const char *sql) {
    return sqlite3_exec(mdb->db, sql, NULL, NULL, NULL);
}

/* Prepares exactly one statement: a second one in the same text would be run by no one. */
static int prepare_one(minidb *mdb, const char *sql, sqlite3_stmt **st, const char **why) {
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

static void bind_params(sqlite3_stmt *st, const nn_mysql_value *params, uint32_t count) {
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

/* -------------------------------------------------------------- writing */

/* Applies sql (with params) and its log entry in one transaction. On success *logged is the
 * statement as replayed elsewhere (parameters inlined). */
static int apply_logged(minidb *mdb, const char *sql, const nn_mysql_value *params,
                        uint32_t nparams, uint64_t seq, const char *origin, uint64_t *affected,
                        uint64_t *last_id, char **logged, char **why) {
    sqlite3_stmt *st = NULL;
    const char *msg = NULL;
    *why = NULL;
    if (exec(mdb, "BEGIN IMMEDIATE") != SQLITE_OK) {
        *why = strdup(sqlite3_errmsg(mdb->db));
        return -1;
    }
    if (prepare_one(mdb, sql, &st, &msg) < 0) {
        *why = strdup(msg);
        exec(mdb, "ROLLBACK");
        return -1;
    }
    bind_params(st, params, nparams);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) {
        *why = strdup(sqlite3_errmsg(mdb->db));
        sqlite3_finalize(st);
        exec(mdb, "ROLLBACK");
        return -1;
    }
    if (affected != NULL) {
        *affected = (uint64_t)sqlite3_changes64(mdb->db);
        const char *p = sql + strspn(sql, " \t\n");
        bool inserts = strncasecmp(p, "INSERT", 6) == 0 || strncasecmp(p, "REPLACE", 7) == 0;
        *last_id = inserts ? (uint64_t)sqlite3_last_insert_rowid(mdb->db) : 0;
    }
    char *text = nparams > 0 ? sqlite3_expanded_sql(st) : sqlite3_mprintf("%s", sql);
    sqlite3_finalize(st);
    sqlite3_stmt *log = NULL;
    rc = sqlite3_prepare_v2(mdb->db, "INSERT INTO minidb_log(seq, origin, sql) VALUES(?, ?, ?)", -1,
                            &log, NULL);
    if (rc == SQLITE_OK && text != NULL) {
        sqlite3_bind_int64(log, 1, (int64_t)seq);
        sqlite3_bind_text(log, 2, origin, -1, SQLITE_STATIC);
        sqlite3_bind_text(log, 3, text, -1, SQLITE_STATIC);
        rc = sqlite3_step(log) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(log);
    if (rc != SQLITE_OK || text == NULL || exec(mdb, "COMMIT") != SQLITE_OK) {
        *why = strdup(text == NULL ? "out of memory" : sqlite3_errmsg(mdb->db));
        exec(mdb, "ROLLBACK");
        sqlite3_free(text);
        return -1;
    }
    mdb->last_seq = seq;
    if (logged != NULL) {
        *logged = strdup(text);
    }
    sqlite3_free(text);
    return 0;
}

/* A client's write waiting for its peers. */
typedef struct write_op {
    atomic_int waiting;
    target to;
    uint64_t seq;
    answer *ok;
    pthread_mutex_t lock;
    char failure[256]; /* the first peer that did not confirm, and why */
} write_op;

static void write_finish(write_op *op) {
    answer *a = op->ok;
    if (op->failure[0] != '\0') {
        /* Applied here and logged: the peer catches up later. But the client was promised
         * every live peer, so it is not an OK. */
        a->kind = A_ERROR;
        a->code = 1180;
        snprintf(a->state, sizeof(a->state), "HY000");
        snprintf(a->msg, sizeof(a->msg), "minidb: write %" PRIu64 " applied here but %s", op->seq,
                 op->failure);
    }
    deliver(&op->to, a);
    pthread_mutex_destroy(&op->lock);
    free(op);
}

/* A worker: one peer answered Apply. */
static void on_applied(const nn_rpc_result *result, void *arg) {
    write_op *op = arg;
    nn_rpc_status st = nn_rpc_result_status(result);
    /* A peer that went down meanwhile is no longer live: it catches up when it returns. */
    if (st != NN_RPC_OK && st != NN_RPC_E_PEER_DOWN) {
        pthread_mutex_lock(&op->lock);
        if (op->failure[0] == '\0') {
            snprintf(op->failure, sizeof(op->failure), "a peer did not apply it: %s: %s",
                     nn_rpc_status_name(st), nn_rpc_result_error(result));
        }
        pthread_mutex_unlock(&op->lock);
    }
    if (atomic_fetch_sub(&op->waiting, 1) == 1) {
        write_finish(op);
    }
}

/* A node that just started may be behind: it takes writes once it has read a peer's log
 * (or when no peer is there), so that its next seq is not one the cluster already used. */
static bool catching_up(const minidb *mdb) {
    if (mdb->syncing) {
        return true;
    }
    for (size_t i = 0; !mdb->synced_once && i < mdb->npeers; i++) {
        if (nn_node_peer_ready(mdb->node, nn_node_peer_name(mdb->node, i))) {
            return true; /* a peer to read from is there (alone, a node takes writes) */
        }
    }
    for (size_t i = 0; i < mdb->npeers; i++) {
        if (mdb->want_sync[i]) {
            return true;
        }
    }
    return false;
}

/* The writer: among this node and the live peers whose start time it knows, the one that
 * has run longest (then the lowest name); NULL when it is this one. One writer at a time is
 * what keeps the log a single sequence. A node that comes back has the latest start, so it
 * does not take over from the writer that went on without it; and it knows the others'
 * start times only once it has caught up from them, before which it takes no write. */
static const char *writer(const minidb *mdb) {
    const char *best = nn_node_name(mdb->node);
    uint64_t best_started = mdb->started_ns;
    for (size_t i = 0; i < mdb->npeers; i++) {
        const char *peer = nn_node_peer_name(mdb->node, i);
        uint64_t started = mdb->peer_started[i];
        if (started == 0 || !nn_node_peer_ready(mdb->node, peer)) {
            continue;
        }
        if (started < best_started || (started == best_started && strcmp(peer, best) < 0)) {
            best = peer;
            best_started = started;
        }
    }
    return best == nn_node_name(mdb->node) ? NULL : best;
}

/* A worker: the writer answered a forwarded write. */
static void on_forwarded(const nn_rpc_result *result, void *arg) {
    nn_mysql_session *ses = arg;
    answer *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return;
    }
    Minidb__ForwardReply *r =
        (Minidb__ForwardReply *)nn_rpc_result_unpack(result, &minidb__forward_reply__descriptor);
    if (r == NULL) {
        /* Not known whether the writer applied it: the client must check, as after a lost
         * connection. */
        a->kind = A_ERROR;
        a->code = 1180;
        snprintf(a->state, sizeof(a->state), "HY000");
        snprintf(a->msg, sizeof(a->msg), "minidb: the writer did not answer: %s: %s",
                 nn_rpc_status_name(nn_rpc_result_status(result)), nn_rpc_result_error(result));
    } else if (r->code != 0) {
        a->kind = A_ERROR;
        a->code = (uint16_t)r->code;
        snprintf(a->state, sizeof(a->state), "%s", r->state);
        snprintf(a->msg, sizeof(a->msg), "%s", r->message);
    } else {
        a->kind = A_OK;
        a->affected = r->affected;
        a->last_id = r->last_id;
    }
    if (r != NULL) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    post(ses, a);
}

/* A client's write on a node that is not the writer: sent to the writer as one statement
 * with its parameters inlined. */
static void forward_write(minidb *mdb, job *j, const char *sql, const char *to) {
    char *text = NULL;
    if (j->nparams > 0) {
        sqlite3_stmt *st = NULL;
        const char *why = NULL;
        if (prepare_one(mdb, sql, &st, &why) < 0) {
            post_sqlite_error(j->ses, why);
            return;
        }
        bind_params(st, j->params, j->nparams);
        text = sqlite3_expanded_sql(st);
        sqlite3_finalize(st);
    } else {
        text = sqlite3_mprintf("%s", sql);
    }
    if (text == NULL) {
        post_error(j->ses, 1037, "minidb: out of memory");
        return;
    }
    Minidb__ForwardRequest req = MINIDB__FORWARD_REQUEST__INIT;
    req.sql = text;
    nn_rpc_call_message(mdb->rpc, to, mdb->method_forward, &req.base, 0, on_forwarded, j->ses);
    sqlite3_free(text);
}

static void run_write(minidb *mdb, job *j, const char *sql) {
    const char *to = j->ses != NULL ? writer(mdb) : NULL; /* forwarded writes run here */
    if (to != NULL) {
        forward_write(mdb, j, sql, to);
        return;
    }
    target t = {j->ses, j->closure, j->closure_data};
    answer *a = calloc(1, sizeof(*a));
    write_op *op = calloc(1, sizeof(*op));
    if (a == NULL || op == NULL) {
        free(a);
        free(op);
        if (j->ses != NULL) {
            post_error(j->ses, 1037, "minidb: out of memory");
        } else {
            j->closure(NULL, j->closure_data);
        }
        return;
    }
    char *logged = NULL, *why = NULL;
    uint64_t seq = mdb->last_seq + 1;
    if (apply_logged(mdb, sql, j->params, j->nparams, seq, nn_node_name(mdb->node), &a->affected,
                     &a->last_id, &logged, &why) < 0) {
        error_from_sqlite(a, why != NULL ? why : "failed");
        free(why);
        free(op);
        deliver(&t, a);
        return;
    }
    a->kind = A_OK;
    op->ok = a;
    op->to = t;
    op->seq = seq;
    pthread_mutex_init(&op->lock, NULL);
    atomic_init(&op->waiting, 1);
    Minidb__Entry entry = MINIDB__ENTRY__INIT;
    entry.seq = seq;
    entry.origin = (char *)nn_node_name(mdb->node);
    entry.sql = logged;
    Minidb__ApplyRequest req = MINIDB__APPLY_REQUEST__INIT;
    req.entry = &entry;
    for (size_t i = 0; i < mdb->npeers; i++) {
        const char *peer = nn_node_peer_name(mdb->node, i);
        if (!nn_node_peer_ready(mdb->node, peer)) {
            continue; /* not live: it fetches this entry when its channel comes back */
        }
        atomic_fetch_add(&op->waiting, 1);
        nn_rpc_call_message(mdb->rpc, peer, mdb->method_apply, &req.base, 0, on_applied, op);
    }
    free(logged);
    if (atomic_fetch_sub(&op->waiting, 1) == 1) {
        write_finish(op);
    }
}

/* Returns true when the job was kept for later. */
static bool run_query(minidb *mdb, job *j) {
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

/* -------------------------------------------------------- replication */

typedef enum applied { APPLIED, ALREADY, GAP, CONFLICT } applied;

static applied apply_entry(minidb *mdb, uint64_t seq, const char *origin, const char *sql,
                           char **why) {
    *why = NULL;
    if (seq <= mdb->last_seq) {
        /* Already here: fine if it is the same write, a conflict if another node gave the
         * same seq to a different one. */
        sqlite3_stmt *st = NULL;
        applied r = CONFLICT;
        if (sqlite3_prepare_v2(mdb->db, "SELECT origin FROM minidb_log WHERE seq = ?", -1, &st,
                               NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, (int64_t)seq);
            if (sqlite3_step(st) == SQLITE_ROW &&
                strcmp((const char *)sqlite3_column_text(st, 0), origin) == 0) {
                r = ALREADY;
            }
        }
        sqlite3_finalize(st);
        if (r == CONFLICT) {
            fprintf(stderr, "minidb: entry %" PRIu64 " from %s conflicts with ours\n", seq, origin);
        }
        return r;
    }
    if (seq > mdb->last_seq + 1) {
        return GAP;
    }
    if (apply_logged(mdb, sql, NULL, 0, seq, origin, NULL, NULL, NULL, why) < 0) {
        /* The write succeeded where it was taken: log it anyway so that the sequence goes
         * on, and say so loudly. */
        fprintf(stderr, "minidb: entry %" PRIu64 " from %s failed here: %s\n", seq, origin,
                *why != NULL ? *why : "?");
        char *ignored = NULL;
        apply_logged(mdb, "SELECT 1", NULL, 0, seq, origin, NULL, NULL, NULL, &ignored);
        free(ignored);
        return CONFLICT;
    }
    return APPLIED;
}

static void reply_apply(minidb *mdb, job *j, bool ok) {
    Minidb__ApplyReply reply = MINIDB__APPLY_REPLY__INIT;
    reply.last_seq = mdb->last_seq;
    j->closure(ok ? &reply.base : NULL, j->closure_data);
}

static void start_sync(minidb *mdb);

/* Apply jobs that waited for their predecessors, now in order. */
static void drain_pending(minidb *mdb) {
    while (mdb->pending != NULL && mdb->pending->seq <= mdb->last_seq + 1) {
        job *j = mdb->pending;
        mdb->pending = j->next;
        char *why = NULL;
        applied r = apply_entry(mdb, j->seq, j->origin, j->sql, &why);
        free(why);
        reply_apply(mdb, j, r == APPLIED || r == ALREADY);
        job_free(j);
    }
    if (!catching_up(mdb)) {
        /* Nothing more to fetch: what still has a gap will not be filled. */
        while (mdb->pending != NULL) {
            job *j = mdb->pending;
            mdb->pending = j->next;
            reply_apply(mdb, j, false);
            job_free(j);
        }
    }
}

static bool run_apply(minidb *mdb, job *j) {
    char *why = NULL;
    applied r = apply_entry(mdb, j->seq, j->origin, j->sql, &why);
    free(why);
    if (r == GAP) {
        /* Earlier entries are missing: fetch them from the writer, answer this one after. */
        job **at = &mdb->pending;
        while (*at != NULL && (*at)->seq < j->seq) {
            at = &(*at)->next;
        }
        j->next = *at;
        *at = j;
        int p = peer_index(mdb, j->origin);
        if (p >= 0) {
            mdb->want_sync[p] = true;
        }
        start_sync(mdb);
        return true; /* kept */
    }
    reply_apply(mdb, j, r == APPLIED || r == ALREADY);
    drain_pending(mdb);
    return false;
}

static void run_fetch(minidb *mdb, job *j, uint32_t max) {
    Minidb__FetchReply reply = MINIDB__FETCH_REPLY__INIT;
    Minidb__Entry *entries = calloc(max, sizeof(*entries));
    Minidb__Entry **ptrs = calloc(max, sizeof(*ptrs));
    sqlite3_stmt *st = NULL;
    if (entries != NULL && ptrs != NULL &&
        sqlite3_prepare_v2(mdb->db,
                           "SELECT seq, origin, sql FROM minidb_log WHERE seq > ? ORDER BY seq "
                           "LIMIT ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (int64_t)j->seq);
        sqlite3_bind_int(st, 2, (int)max);
        while (reply.n_entries < max && sqlite3_step(st) == SQLITE_ROW) {
            Minidb__Entry *e = &entries[reply.n_entries];
            minidb__entry__init(e);
            e->seq = (uint64_t)sqlite3_column_int64(st, 0);
            e->origin = strdup((const char *)sqlite3_column_text(st, 1));
            e->sql = strdup((const char *)sqlite3_column_text(st, 2));
            ptrs[reply.n_entries++] = e;
        }
    }
    sqlite3_finalize(st);
    reply.entries = ptrs;
    reply.last_seq = mdb->last_seq;
    reply.started_ns = mdb->started_ns;
    j->closure(entries != NULL && ptrs != NULL ? &reply.base : NULL, j->closure_data);
    for (size_t i = 0; i < reply.n_entries; i++) {
        free(entries[i].origin);
        free(entries[i].sql);
    }
    free(entries);
    free(ptrs);
}

typedef struct sync_call {
    minidb *mdb;
    int peer;
} sync_call;

/* A worker: the Fetch reply goes back to the engine thread. */
static void on_fetched(const nn_rpc_result *result, void *arg) {
    sync_call *call = arg;
    job *j = job_new(JOB_ENTRIES);
    if (j != NULL) {
        j->peer = call->peer;
        j->fetched =
            (Minidb__FetchReply *)nn_rpc_result_unpack(result, &minidb__fetch_reply__descriptor);
        push(call->mdb, j);
    }
    free(call);
}

/* One catch-up call at a time, to the next peer that asked for one. */
static void start_sync(minidb *mdb) {
    if (mdb->syncing) {
        return;
    }
    for (size_t i = 0; i < mdb->npeers; i++) {
        if (!mdb->want_sync[i]) {
            continue;
        }
        mdb->want_sync[i] = false;
        sync_call *call = malloc(sizeof(*call));
        if (call == NULL) {
            return;
        }
        call->mdb = mdb;
        call->peer = (int)i;
        mdb->syncing = true;
        Minidb__FetchRequest req = MINIDB__FETCH_REQUEST__INIT;
        req.after_seq = mdb->last_seq;
        req.max = FETCH_MAX;
        nn_rpc_call_message(mdb->rpc, nn_node_peer_name(mdb->node, i), mdb->method_fetch, &req.base,
                            0, on_fetched, call);
        return;
    }
}

static void run_entries(minidb *mdb, job *j) {
    mdb->syncing = false;
    uint64_t before = mdb->last_seq;
    if (j->fetched != NULL) {
        mdb->synced_once = true;
        if (j->peer >= 0) {
            mdb->peer_started[j->peer] = j->fetched->started_ns;
        }
        for (size_t i = 0; i < j->fetched->n_entries; i++) {
            Minidb__Entry *e = j->fetched->entries[i];
            char *why = NULL;
            applied r = apply_entry(mdb, e->seq, e->origin, e->sql, &why);
            free(why);
            if (r == GAP) {
                break;
            }
        }
        if (j->fetched->n_entries == FETCH_MAX && j->peer >= 0) {
            mdb->want_sync[j->peer] = true; /* more where these came from */
        }
        if (mdb->last_seq > before) {
            fprintf(stderr, "minidb: caught up from %s: seq %" PRIu64 " -> %" PRIu64 "\n",
                    nn_node_peer_name(mdb->node, (size_t)j->peer), before, mdb->last_seq);
        }
    }
    start_sync(mdb);
    drain_pending(mdb);
    while (!catching_up(mdb) && mdb->deferred != NULL) {
        job *w = mdb->deferred;
        mdb->deferred = w->next;
        run_query(mdb, w);
        job_free(w);
    }
}

/* ------------------------------------------------------ Replica service */

/* Workers: copy the request into a job (the input is freed when invoke returns). */
static void replica_apply(Minidb__Replica_Service *service, const Minidb__ApplyRequest *input,
                          Minidb__ApplyReply_Closure closure, void *closure_data) {
    minidb *mdb = (minidb *)service;
    job *j = job_new(JOB_APPLY);
    if (j == NULL || input->entry == NULL || (j->sql = strdup(input->entry->sql)) == NULL ||
        (j->origin = strdup(input->entry->origin)) == NULL) {
        job_free(j);
        closure(NULL, closure_data);
        return;
    }
    j->seq = input->entry->seq;
    j->closure = (void (*)(const ProtobufCMessage *, void *))closure;
    j->closure_data = closure_data;
    push(mdb, j);
}

static void replica_fetch(Minidb__Replica_Service *service, const Minidb__FetchRequest *input,
                          Minidb__FetchReply_Closure closure, void *closure_data) {
    minidb *mdb = (minidb *)service;
    job *j = job_new(JOB_FETCH);
    if (j == NULL) {
        closure(NULL, closure_data);
        return;
    }
    j->seq = input->after_seq;
    j->max = input->max > 0 && input->max < FETCH_MAX ? input->max : FETCH_MAX;
    j->closure = (void (*)(const ProtobufCMessage *, void *))closure;
    j->closure_data = closure_data;
    push(mdb, j);
}

static void replica_forward(Minidb__Replica_Service *service, const Minidb__ForwardRequest *input,
                            Minidb__ForwardReply_Closure closure, void *closure_data) {
    minidb *mdb = (minidb *)service;
    job *j = job_new(JOB_QUERY);
    if (j == NULL || (j->sql = strdup(input->sql)) == NULL) {
        job_free(j);
        closure(NULL, closure_data);
        return;
    }
    j->qkind = MINIDB_WRITE;
    j->closure = (void (*)(const ProtobufCMessage *, void *))closure;
    j->closure_data = closure_data;
    push(mdb, j);
}

void minidb_on_event(const nn_event *event, void *arg) {
    minidb *mdb = arg;
    nn_event_kind kind = nn_event_get_kind(event);
    if (kind != NN_EVENT_PEER_READY && kind != NN_EVENT_PEER_DOWN) {
        return;
    }
    int p = peer_index(mdb, nn_event_peer(event));
    job *j = p >= 0 ? job_new(kind == NN_EVENT_PEER_READY ? JOB_SYNC : JOB_DOWN) : NULL;
    if (j != NULL) {
        j->peer = p;
        push(mdb, j);
    }
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

static void *engine_main(void *arg) {
    minidb *mdb = arg;
    for (;;) {
        pthread_mutex_lock(&mdb->lock);
        while (mdb->head == NULL && !mdb->stop) {
            pthread_cond_wait(&mdb->cond, &mdb->lock);
        }
        job *j = mdb->head;
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
    Minidb__Replica_Service service = MINIDB__REPLICA__INIT(replica_);
    mdb->service = service;
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
