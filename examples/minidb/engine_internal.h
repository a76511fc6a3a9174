/* engine_internal.h: what engine.c (the engine thread, SQLite, results) and replica.c (the
 * statement log, replication, catch-up, the Replica service) share. Everything here is
 * touched on the engine thread only, unless a comment says otherwise. */
#ifndef MINIDB_ENGINE_INTERNAL_H
#define MINIDB_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

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
    /* The node is stopping (NN_EVENT_DRAINING): its peers already count it gone and may
     * elect another writer, so it takes no write as the writer any more. */
    _Atomic bool draining;
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

/* Who waits for a write: a client session here, or (ses NULL) the node that forwarded it. */
typedef struct target {
    nn_mysql_session *ses;
    void (*closure)(const ProtobufCMessage *reply, void *data);
    void *closure_data;
} target;

/* engine.c */
void push(minidb *mdb, job *j); /* any thread */
job *job_new(job_kind kind);    /* any thread */
void job_free(job *j);
int peer_index(const minidb *mdb, const char *name);
void answer_free(answer *a);
void post(nn_mysql_session *ses, answer *a);
void deliver(const target *t, answer *a);
void error_from_sqlite(answer *a, const char *msg);
void post_error(nn_mysql_session *ses, uint16_t code, const char *msg);
void post_sqlite_error(nn_mysql_session *ses, const char *msg);
int exec(minidb *mdb, const char *sql);
int prepare_one(minidb *mdb, const char *sql, sqlite3_stmt **st, const char **why);
void bind_params(sqlite3_stmt *st, const nn_mysql_value *params, uint32_t count);
/* Returns true when the job was kept for later (a write while catching up). */
bool run_query(minidb *mdb, job *j);

/* replica.c */
void replica_init(minidb *mdb); /* fills mdb->service */
bool catching_up(const minidb *mdb);
void run_write(minidb *mdb, job *j, const char *sql);
bool run_apply(minidb *mdb, job *j); /* true: kept until its predecessors come */
void run_fetch(minidb *mdb, job *j, uint32_t max);
void start_sync(minidb *mdb);
void run_entries(minidb *mdb, job *j);
/* Once a second: a node that is not the writer fetches from it. */
void replica_tick(minidb *mdb);

#endif
