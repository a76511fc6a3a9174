/* replica.c: the statement log and its replication. One writer applies each write with its
 * log row and sends the entry to every live peer; the others forward their writes to it; a
 * node that comes back fetches what it missed. minidb.h has the rules and their limits. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine_internal.h"

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
    /* Without parameters a write may be more than one statement: translate.c adds a
     * trigger to a CREATE TABLE with AUTO_INCREMENT. They run, and replicate, together. */
    const char *rest = NULL;
    if (nparams == 0) {
        if (sqlite3_prepare_v2(mdb->db, sql, -1, &st, &rest) != SQLITE_OK || st == NULL) {
            *why = strdup(st == NULL && sqlite3_errcode(mdb->db) == SQLITE_OK
                              ? "empty statement"
                              : sqlite3_errmsg(mdb->db));
            exec(mdb, "ROLLBACK");
            return -1;
        }
    } else if (prepare_one(mdb, sql, &st, &msg) < 0) {
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
    if (rest != NULL && rest[strspn(rest, " \t\n;")] != '\0' && exec(mdb, rest) != SQLITE_OK) {
        *why = strdup(sqlite3_errmsg(mdb->db));
        sqlite3_finalize(st);
        exec(mdb, "ROLLBACK");
        return -1;
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

/* A live peer whose start time this node does not know: its catch-up call failed (or is
 * yet to be made), so whether it is the writer is unknown. */
static bool start_unknown(const minidb *mdb, size_t i) {
    return mdb->peer_started[i] == 0 &&
           nn_node_peer_ready(mdb->node, nn_node_peer_name(mdb->node, i));
}

/* A node that just started may be behind: it takes writes once it has read a peer's log
 * (or when no peer is there), so that its next seq is not one the cluster already used. */
bool catching_up(const minidb *mdb) {
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
        /* A live peer whose start time we do not know (its catch-up call failed) may be
         * the writer: writing now could give two nodes the same seq. replica_tick asks it
         * again. */
        if (start_unknown(mdb, i)) {
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

void run_write(minidb *mdb, job *j, const char *sql) {
    const char *to = writer(mdb);
    if (to != NULL && j->ses != NULL) {
        forward_write(mdb, j, sql, to);
        return;
    }
    /* A write forwarded here by a node that sees this one as the writer while this one sees
     * another would take a seq the writer takes too: refused (the client gets an error). */
    if (to != NULL || atomic_load(&mdb->draining)) {
        /* A CI run once saw a stopping node write as the writer next to the real one (both
         * took the same seq). The client retries on another node. */
        if (j->ses != NULL) {
            post_error(j->ses, 1053, "minidb: this node is shutting down; write on another node");
        } else {
            j->closure(NULL, j->closure_data);
        }
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

void start_sync(minidb *mdb);

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

bool run_apply(minidb *mdb, job *j) {
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

void run_fetch(minidb *mdb, job *j, uint32_t max) {
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
void start_sync(minidb *mdb) {
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

void run_entries(minidb *mdb, job *j) {
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
    if (kind == NN_EVENT_DRAINING) {
        atomic_store(&mdb->draining, true);
        return;
    }
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

/* Anti-entropy, cheap: an Apply can be lost without an error the writer sees (the peer's
 * channel went down and up between two writes), and then nothing else would make this node
 * ask. A Fetch that finds nothing new costs one small round trip. */
void replica_tick(minidb *mdb) {
    const char *w = writer(mdb);
    int p = w != NULL ? peer_index(mdb, w) : -1;
    if (p >= 0 && !mdb->syncing) {
        mdb->want_sync[p] = true;
    }
    /* A catch-up call that failed left a live peer's start time unknown, and writes wait
     * for it (catching_up): ask again, once a tick. */
    for (size_t i = 0; i < mdb->npeers; i++) {
        if (start_unknown(mdb, i)) {
            mdb->want_sync[i] = true;
        }
    }
    start_sync(mdb);
}

void replica_init(minidb *mdb) {
    Minidb__Replica_Service service = MINIDB__REPLICA__INIT(replica_);
    mdb->service = service;
}
