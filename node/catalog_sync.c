/* node/catalog_sync.c: the user catalog, shared by the cluster over the mesh (the design
 * is in catalog_sync_internal.h, the merge rule in mysql/mysql.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/catalog_sync_internal.h"

#define DIGEST_TIMEOUT_MS 1500
#define SNAPSHOT_TIMEOUT_MS 5000
#define MERGE_WAIT_S 30

struct nn_catalog_sync {
    nn_mysql_server *mysql;
    nn_rpc *rpc;
    char self[64];
    char **peers;
    bool *due; /* guarded by lock: pull this peer on the next round */
    size_t peer_count;
    _Atomic int64_t *agreed_unix; /* per peer: when the digests last agreed, 0 = never */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool running; /* the sync thread */
    bool stopping;
    pthread_t thread;
    /* Requests handed to the catalog thread and not answered yet: free waits for them. */
    unsigned pending;
    /* The sync thread's merge in progress */
    bool merge_done;
    int merge_result;
    size_t merge_changed;
    char merge_error[256];
};

/* ----------------------------------------------------------------- push */

typedef struct push_call {
    nn_catalog_sync *sync;
    char peer[64];
} push_call;

static void mark_due(nn_catalog_sync *sync, const char *peer) {
    pthread_mutex_lock(&sync->lock);
    for (size_t i = 0; i < sync->peer_count; i++) {
        if (strcmp(sync->peers[i], peer) == 0) {
            sync->due[i] = true;
            pthread_cond_broadcast(&sync->cond);
        }
    }
    pthread_mutex_unlock(&sync->lock);
}

static void push_done(const nn_rpc_result *result, void *arg) {
    push_call *call = arg;
    if (result->status != NN_RPC_OK) {
        /* The pull rounds repair it once the peer is reachable. */
        nn_log(NN_LOG_INFO, "node.catalog.push.failed", "peer=%s status=%s error=\"%s\"",
               call->peer, nn_rpc_status_name(result->status), result->error);
        /* A push lost while the channel stayed up gets no ready event: pull next round.
         * Not when the rpc is shutting down: those calls end in nn_rpc_free(), after the
         * sync object is gone. */
        if (result->status != NN_RPC_E_CLOSED) {
            mark_due(call->sync, call->peer);
        }
    }
    free(call);
}

/* The catalog thread, after a local commit: send the change to every peer. */
static void on_local_change(void *arg, const uint8_t *change, size_t len) {
    nn_catalog_sync *sync = arg;
    for (size_t i = 0; i < sync->peer_count; i++) {
        push_call *call = calloc(1, sizeof(*call));
        if (call == NULL) {
            continue; /* the pull repairs it */
        }
        call->sync = sync;
        snprintf(call->peer, sizeof(call->peer), "%s", sync->peers[i]);
        /* nn_rpc_call never blocks; its callback runs on a worker. */
        nn_rpc_call(sync->rpc, sync->peers[i], "catalog.apply", change, len, 0, push_done, call);
    }
}

/* ------------------------------------------------------------- services */

typedef struct served {
    nn_catalog_sync *sync;
    nn_rpc_request *req;
    char caller[64];
} served;

static served *served_new(nn_catalog_sync *sync, nn_rpc_request *req) {
    served *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->sync = sync;
    s->req = req;
    snprintf(s->caller, sizeof(s->caller), "%s", nn_rpc_request_caller(req));
    pthread_mutex_lock(&sync->lock);
    sync->pending++;
    pthread_mutex_unlock(&sync->lock);
    return s;
}

static void served_free(served *s) {
    nn_catalog_sync *sync = s->sync;
    free(s);
    pthread_mutex_lock(&sync->lock);
    sync->pending--;
    pthread_cond_broadcast(&sync->cond);
    pthread_mutex_unlock(&sync->lock);
}

/* Catalog thread: the merge of a peer's change has committed (or failed). */
static void apply_answered(void *arg, int result, size_t changed, const char *error) {
    served *s = arg;
    if (result < 0) {
        nn_log(NN_LOG_WARN, "node.catalog.apply.refused", "peer=%s error=\"%s\"", s->caller, error);
        nn_rpc_reply_error(s->req, (uint32_t)-result, "catalog: %s", error);
    } else {
        char reply[32];
        int n = snprintf(reply, sizeof(reply), "%zu", changed);
        nn_rpc_reply(s->req, reply, (size_t)n);
    }
    served_free(s);
}

static void svc_apply(nn_rpc_request *req, void *arg) {
    nn_catalog_sync *sync = arg;
    served *s = served_new(sync, req);
    if (s == NULL) {
        nn_rpc_reply_error(req, ENOMEM, "out of memory");
        return;
    }
    size_t len = 0;
    const uint8_t *change = nn_rpc_request_payload(req, &len);
    nn_err err;
    nn_err_clear(&err);
    if (nn_mysql_server_catalog_apply(sync->mysql, change, len, apply_answered, s, &err) < 0) {
        nn_rpc_reply_error(req, (uint32_t)err.code, "catalog: %s", err.msg);
        served_free(s);
    }
}

static void svc_digest(nn_rpc_request *req, void *arg) {
    nn_catalog_sync *sync = arg;
    nn_mysql_catalog_digest d;
    nn_mysql_server_catalog_digest(sync->mysql, &d);
    size_t len = 0;
    uint8_t *bytes = nn_mysql_catalog_digest_encode(&d, &len);
    if (bytes == NULL) {
        nn_rpc_reply_error(req, ENOMEM, "out of memory");
        return;
    }
    nn_rpc_reply(req, bytes, len);
    free(bytes);
}

/* Catalog thread: the snapshot is ready. */
static void snapshot_answered(void *arg, int result, uint8_t *bytes, size_t len) {
    served *s = arg;
    if (result < 0) {
        nn_rpc_reply_error(s->req, (uint32_t)-result, "catalog: cannot export the snapshot");
    } else {
        nn_rpc_reply(s->req, bytes, len);
    }
    free(bytes);
    served_free(s);
}

static void svc_snapshot(nn_rpc_request *req, void *arg) {
    nn_catalog_sync *sync = arg;
    served *s = served_new(sync, req);
    if (s == NULL) {
        nn_rpc_reply_error(req, ENOMEM, "out of memory");
        return;
    }
    if (nn_mysql_server_catalog_snapshot(sync->mysql, snapshot_answered, s) < 0) {
        nn_rpc_reply_error(req, ENOMEM, "out of memory");
        served_free(s);
    }
}

/* ----------------------------------------------------------------- pull */

static void merge_answered(void *arg, int result, size_t changed, const char *error) {
    nn_catalog_sync *sync = arg;
    pthread_mutex_lock(&sync->lock);
    sync->merge_result = result;
    sync->merge_changed = changed;
    snprintf(sync->merge_error, sizeof(sync->merge_error), "%s", error);
    sync->merge_done = true;
    pthread_cond_broadcast(&sync->cond);
    pthread_mutex_unlock(&sync->lock);
}

/* Sync thread: merges bytes and waits (bounded) for the commit. */
static void merge_snapshot(nn_catalog_sync *sync, const char *peer, const uint8_t *bytes,
                           size_t len) {
    nn_err err;
    nn_err_clear(&err);
    pthread_mutex_lock(&sync->lock);
    sync->merge_done = false;
    pthread_mutex_unlock(&sync->lock);
    if (nn_mysql_server_catalog_apply(sync->mysql, bytes, len, merge_answered, sync, &err) < 0) {
        nn_log(NN_LOG_WARN, "node.catalog.sync.failed", "peer=%s error=\"%s\"", peer, err.msg);
        return;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += MERGE_WAIT_S;
    pthread_mutex_lock(&sync->lock);
    /* The merge always completes (the catalog thread runs every queued op before it
     * exits), so waiting past the deadline only delays the log line. */
    while (!sync->merge_done) {
        if (pthread_cond_timedwait(&sync->cond, &sync->lock, &deadline) != 0) {
            deadline.tv_sec += MERGE_WAIT_S;
            nn_log(NN_LOG_WARN, "node.catalog.sync.slow", "peer=%s", peer);
        }
    }
    int result = sync->merge_result;
    size_t changed = sync->merge_changed;
    char error[256];
    snprintf(error, sizeof(error), "%s", sync->merge_error);
    pthread_mutex_unlock(&sync->lock);
    if (result < 0) {
        nn_log(NN_LOG_WARN, "node.catalog.sync.failed", "peer=%s error=\"%s\"", peer, error);
    } else if (changed > 0) {
        nn_log(NN_LOG_INFO, "node.catalog.sync", "peer=%s rows=%zu", peer, changed);
    }
}

/* One pull from one peer: digest first, the snapshot only when they differ. */
static void pull_peer(nn_catalog_sync *sync, const char *peer) {
    uint8_t *reply = NULL;
    size_t reply_len = 0;
    nn_err err;
    nn_err_clear(&err);
    nn_rpc_status st = nn_rpc_call_sync(sync->rpc, peer, "catalog.digest", NULL, 0,
                                        DIGEST_TIMEOUT_MS, &reply, &reply_len, &err);
    if (st != NN_RPC_OK) {
        nn_log(NN_LOG_DEBUG, "node.catalog.digest.failed", "peer=%s status=%s error=\"%s\"", peer,
               nn_rpc_status_name(st), err.msg);
        return;
    }
    nn_mysql_catalog_digest theirs;
    int rc = nn_mysql_catalog_digest_decode(reply, reply_len, &theirs);
    free(reply);
    if (rc < 0) {
        nn_log(NN_LOG_WARN, "node.catalog.digest.failed", "peer=%s error=\"bad digest\"", peer);
        return;
    }
    nn_mysql_catalog_digest ours;
    nn_mysql_server_catalog_digest(sync->mysql, &ours);
    if (memcmp(ours.sha256, theirs.sha256, sizeof(ours.sha256)) == 0) {
        for (size_t i = 0; i < sync->peer_count; i++) {
            if (strcmp(sync->peers[i], peer) == 0) {
                atomic_store(&sync->agreed_unix[i], (int64_t)time(NULL));
            }
        }
        return;
    }
    reply = NULL;
    st = nn_rpc_call_sync(sync->rpc, peer, "catalog.snapshot", NULL, 0, SNAPSHOT_TIMEOUT_MS, &reply,
                          &reply_len, &err);
    if (st != NN_RPC_OK) {
        nn_log(NN_LOG_INFO, "node.catalog.snapshot.failed", "peer=%s status=%s error=\"%s\"", peer,
               nn_rpc_status_name(st), err.msg);
        return;
    }
    merge_snapshot(sync, peer, reply, reply_len);
    free(reply);
}

static bool stop_requested(nn_catalog_sync *sync) {
    pthread_mutex_lock(&sync->lock);
    bool stopping = sync->stopping;
    pthread_mutex_unlock(&sync->lock);
    return stopping;
}

/* Waits for a peer to be due, or for the safety-net period to pass (then every peer is). */
static bool wait_due(nn_catalog_sync *sync, bool *due_now) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += NN_CATALOG_SAFETY_MS / 1000;
    deadline.tv_nsec += (long)(NN_CATALOG_SAFETY_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&sync->lock);
    bool any = false;
    for (;;) {
        for (size_t i = 0; i < sync->peer_count; i++) {
            any = any || sync->due[i];
        }
        if (any || sync->stopping) {
            break;
        }
        if (pthread_cond_timedwait(&sync->cond, &sync->lock, &deadline) != 0) {
            for (size_t i = 0; i < sync->peer_count; i++) {
                sync->due[i] = true;
            }
            any = true;
            break;
        }
    }
    for (size_t i = 0; i < sync->peer_count; i++) {
        due_now[i] = sync->due[i];
        sync->due[i] = false;
    }
    bool stopping = sync->stopping;
    pthread_mutex_unlock(&sync->lock);
    return !stopping;
}

static void *sync_main(void *arg) {
    nn_catalog_sync *sync = arg;
    bool *due_now = calloc(sync->peer_count, sizeof(*due_now));
    if (due_now == NULL) {
        nn_log(NN_LOG_ERROR, "node.catalog.sync.failed", "error=\"out of memory\"");
        return NULL;
    }
    while (wait_due(sync, due_now)) {
        for (size_t i = 0; i < sync->peer_count && !stop_requested(sync); i++) {
            if (due_now[i]) {
                pull_peer(sync, sync->peers[i]);
            }
        }
    }
    free(due_now);
    return NULL;
}

void nn_catalog_sync_peer_ready(nn_catalog_sync *sync, const char *peer) {
    if (sync != NULL) {
        mark_due(sync, peer);
    }
}

/* ------------------------------------------------------------ lifecycle */

nn_catalog_sync *nn_catalog_sync_new(nn_mysql_server *mysql, nn_rpc *rpc, const nn_config *cfg,
                                     nn_err *err) {
    nn_catalog_sync *sync = calloc(1, sizeof(*sync));
    if (sync == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    sync->mysql = mysql;
    sync->rpc = rpc;
    pthread_mutex_init(&sync->lock, NULL);
    pthread_cond_init(&sync->cond, NULL);
    const nn_config_node *self = nn_config_self(cfg);
    snprintf(sync->self, sizeof(sync->self), "%s", self->name);
    sync->peers = calloc(cfg->node_count ? cfg->node_count : 1, sizeof(*sync->peers));
    sync->agreed_unix = calloc(cfg->node_count ? cfg->node_count : 1, sizeof(*sync->agreed_unix));
    if (sync->peers == NULL || sync->agreed_unix == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        nn_catalog_sync_free(sync);
        return NULL;
    }
    for (size_t i = 0; i < cfg->node_count; i++) {
        if (strcmp(cfg->nodes[i].name, self->name) == 0) {
            continue;
        }
        sync->peers[sync->peer_count] = strdup(cfg->nodes[i].name);
        if (sync->peers[sync->peer_count] == NULL) {
            nn_err_set(err, ENOMEM, "out of memory");
            nn_catalog_sync_free(sync);
            return NULL;
        }
        sync->peer_count++;
    }
    sync->due = calloc(sync->peer_count ? sync->peer_count : 1, sizeof(*sync->due));
    if (sync->due == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        nn_catalog_sync_free(sync);
        return NULL;
    }
    static const struct {
        const char *method;
        nn_rpc_handler handler;
    } services[] = {
        {"catalog.apply", svc_apply},
        {"catalog.digest", svc_digest},
        {"catalog.snapshot", svc_snapshot},
    };
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
        /* Peers only: a tool client must not write the catalog behind SQL's back. */
        if (nn_rpc_service_register(rpc, services[i].method, services[i].handler, sync) < 0) {
            nn_err_set(err, EEXIST, "rpc: cannot register %s", services[i].method);
            nn_catalog_sync_free(sync);
            return NULL;
        }
    }
    nn_mysql_server_set_catalog_listener(mysql, sync->self, on_local_change, sync);
    return sync;
}

int nn_catalog_sync_start(nn_catalog_sync *sync, nn_err *err) {
    if (sync->peer_count == 0) {
        return 0; /* a one-node cluster has no one to sync with */
    }
    if (pthread_create(&sync->thread, NULL, sync_main, sync) != 0) {
        return nn_err_set(err, EAGAIN, "cannot start the catalog sync thread");
    }
    sync->running = true;
    return 0;
}

void nn_catalog_sync_stop(nn_catalog_sync *sync) {
    if (sync == NULL) {
        return;
    }
    /* No push starts after this returns (mysql/ waits for a call in progress). */
    nn_mysql_server_set_catalog_listener(sync->mysql, sync->self, NULL, NULL);
    pthread_mutex_lock(&sync->lock);
    sync->stopping = true;
    pthread_cond_broadcast(&sync->cond);
    pthread_mutex_unlock(&sync->lock);
    if (sync->running) {
        pthread_join(sync->thread, NULL);
        sync->running = false;
    }
}

void nn_catalog_sync_free(nn_catalog_sync *sync) {
    if (sync == NULL) {
        return;
    }
    nn_catalog_sync_stop(sync);
    /* The catalog thread answers every request it was given; their replies must be sent
     * before the rpc goes away. */
    pthread_mutex_lock(&sync->lock);
    while (sync->pending > 0) {
        pthread_cond_wait(&sync->cond, &sync->lock);
    }
    pthread_mutex_unlock(&sync->lock);
    free(sync->due);
    for (size_t i = 0; i < sync->peer_count; i++) {
        free(sync->peers[i]);
    }
    free(sync->peers);
    free(sync->agreed_unix);
    pthread_mutex_destroy(&sync->lock);
    pthread_cond_destroy(&sync->cond);
    free(sync);
}

int64_t nn_catalog_sync_agreed_unix(nn_catalog_sync *sync, const char *peer) {
    for (size_t i = 0; sync != NULL && i < sync->peer_count; i++) {
        if (strcmp(sync->peers[i], peer) == 0) {
            return atomic_load(&sync->agreed_unix[i]);
        }
    }
    return 0;
}
