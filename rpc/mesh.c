/* rpc/mesh.c: the node's RPC mesh as a whole: config, the service registry, the outbound
 * channel to every peer, goodbye, reconfigure and shutdown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

static const char *const status_names[NN_RPC_STATUS_COUNT] = {
    "ok",     "deadline",  "peer_down", "refused", "closed",
    "remote", "no_method", "denied",    "too_big", "invalid",
};

const char *nn_rpc_status_name(nn_rpc_status status) {
    if ((unsigned)status >= NN_RPC_STATUS_COUNT) {
        return "unknown";
    }
    return status_names[status];
}

int nn_rpc_tls_mode_parse(const char *text, nn_rpc_tls_mode *out) {
    static const char *const names[] = {"off", "prefer", "require"};
    for (int i = 0; i < 3; i++) {
        if (text != NULL && strcmp(text, names[i]) == 0) {
            *out = (nn_rpc_tls_mode)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *nn_rpc_tls_mode_name(nn_rpc_tls_mode mode) {
    switch (mode) {
    case NN_RPC_TLS_OFF:
        return "off";
    case NN_RPC_TLS_PREFER:
        return "prefer";
    case NN_RPC_TLS_REQUIRE:
        return "require";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ config */

static void free_subjects(char **subjects, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(subjects[i]);
    }
    free(subjects);
}

static char **copy_subjects(const char *const *subjects, size_t n) {
    char **out = calloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; out != NULL && i < n; i++) {
        out[i] = strdup(subjects[i] ? subjects[i] : "");
        if (out[i] == NULL) {
            free_subjects(out, i);
            return NULL;
        }
    }
    return out;
}

static void apply_policy(nn_rpc *rpc, const nn_rpc_config *cfg) {
    atomic_store(&rpc->tls, (int)cfg->tls);
    atomic_store(&rpc->max_frame,
                 cfg->max_frame_bytes ? cfg->max_frame_bytes : NN_RPC_DEFAULT_MAX_FRAME);
    atomic_store(&rpc->call_timeout_ms, cfg->call_timeout_ms ? cfg->call_timeout_ms : 5000);
    atomic_store(&rpc->heartbeat_ms, cfg->heartbeat_ms ? cfg->heartbeat_ms : 1000);
    atomic_store(&rpc->connect_timeout_ms,
                 cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 3000);
    atomic_store(&rpc->max_peer_queue_bytes,
                 cfg->max_peer_queue_bytes ? cfg->max_peer_queue_bytes : 128ull << 20);
    atomic_store(&rpc->peer_stall_timeout_ms,
                 cfg->peer_stall_timeout_ms ? cfg->peer_stall_timeout_ms : 10000);
}

static int check_config(const nn_rpc_config *cfg, nn_security *sec, bool tool_mode,
                        size_t *self_index, nn_err *err) {
    if (cfg->tls != NN_RPC_TLS_OFF && cfg->tls != NN_RPC_TLS_PREFER &&
        cfg->tls != NN_RPC_TLS_REQUIRE) {
        return nn_err_set(err, EINVAL, "rpc_tls: unknown mode %d", (int)cfg->tls);
    }
    if (cfg->tls != NN_RPC_TLS_OFF && sec == NULL && !tool_mode) {
        return nn_err_set(err, EINVAL, "rpc_tls: %s needs certificates (security section)",
                          nn_rpc_tls_mode_name(cfg->tls));
    }
    if (cfg->node_count == 0 || cfg->nodes == NULL) {
        return nn_err_set(err, EINVAL, "nodes: the list is empty");
    }
    *self_index = SIZE_MAX;
    for (size_t i = 0; i < cfg->node_count; i++) {
        const nn_rpc_node *n = &cfg->nodes[i];
        if (n->name == NULL || n->name[0] == '\0' || strlen(n->name) >= 64) {
            return nn_err_set(err, EINVAL, "nodes[%zu].name: empty or longer than 63", i);
        }
        if (n->host == NULL || n->host[0] == '\0') {
            return nn_err_set(err, EINVAL, "nodes[%zu].host: missing", i);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->nodes[j].name, n->name) == 0) {
                return nn_err_set(err, EINVAL, "nodes[%zu].name: '%s' appears twice", i, n->name);
            }
        }
        if (cfg->self != NULL && strcmp(n->name, cfg->self) == 0) {
            *self_index = i;
        }
    }
    if (!tool_mode && *self_index == SIZE_MAX) {
        return nn_err_set(err, EINVAL, "node '%s' is not in the nodes list",
                          cfg->self ? cfg->self : "(null)");
    }
    return 0;
}

nn_rpc *nn_rpc_new_internal(const nn_rpc_config *cfg, nn_server *srv, nn_security *sec,
                            bool tool_mode, nn_err *err) {
    size_t self_index = SIZE_MAX;
    if (check_config(cfg, sec, tool_mode, &self_index, err) < 0) {
        return NULL;
    }
    nn_rpc *rpc = calloc(1, sizeof(*rpc));
    if (rpc == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    rpc->srv = srv;
    /* Set before any worker can read it (node.info runs on workers). */
    rpc->started_ns = nn_now_ns();
    rpc->sec = sec;
    rpc->tool_mode = tool_mode;
    rpc->cluster_id = cfg->cluster_id;
    rpc->cluster_name = strdup(cfg->cluster_name ? cfg->cluster_name : "");
    rpc->self = strdup(cfg->self ? cfg->self : "");
    rpc->self_index = self_index;
    rpc->node_count = cfg->node_count;
    rpc->nodes = calloc(cfg->node_count, sizeof(*rpc->nodes));
    rpc->tool_subjects = copy_subjects(cfg->tool_subjects, cfg->tool_subject_count);
    rpc->tool_subject_count = cfg->tool_subject_count;
    rpc->loop_count = nn_server_worker_count(srv);
    rpc->loops = calloc(rpc->loop_count ? rpc->loop_count : 1, sizeof(*rpc->loops));
    rpc->chans = calloc(cfg->node_count, sizeof(*rpc->chans));
    pthread_mutex_init(&rpc->subjects_lock, NULL);
    pthread_mutex_init(&rpc->drain_lock, NULL);
    pthread_cond_init(&rpc->drain_cond, NULL);
    atomic_store(&rpc->next_trace, 1);
    rpc->chan_count = cfg->node_count;
    for (uint32_t i = 0; rpc->loops != NULL && i < rpc->loop_count; i++) {
        rpc_conn *head = &rpc->loops[i].inbound;
        head->next_in = head->prev_in = head;
        nn_rpc_pool_init(&rpc->loops[i].pool);
    }
    if (rpc->cluster_name == NULL || rpc->self == NULL || rpc->nodes == NULL ||
        rpc->tool_subjects == NULL || rpc->loops == NULL || rpc->chans == NULL) {
        nn_rpc_free(rpc);
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->node_count; i++) {
        rpc->nodes[i].name = strdup(cfg->nodes[i].name);
        rpc->nodes[i].host = strdup(cfg->nodes[i].host);
        rpc->nodes[i].rpc_port = cfg->nodes[i].rpc_port;
        if (rpc->nodes[i].name == NULL || rpc->nodes[i].host == NULL) {
            nn_rpc_free(rpc);
            nn_err_set(err, ENOMEM, "out of memory");
            return NULL;
        }
    }
    apply_policy(rpc, cfg);
    for (size_t i = 0; i < cfg->node_count; i++) {
        if (i != self_index) {
            nn_rpc_channel_init(&rpc->chans[i], rpc, i, &rpc->nodes[i]);
        }
    }
    if (!tool_mode && nn_rpc_services_register_builtin(rpc, err) < 0) {
        nn_rpc_free(rpc);
        return NULL;
    }
    return rpc;
}

nn_rpc *nn_rpc_new(const nn_rpc_config *cfg, nn_server *srv, nn_security *sec, nn_err *err) {
    return nn_rpc_new_internal(cfg, srv, sec, false, err);
}

const nn_rpc_node *nn_rpc_node_find(const nn_rpc *rpc, const char *name) {
    for (size_t i = 0; name != NULL && i < rpc->node_count; i++) {
        if (strcmp(rpc->nodes[i].name, name) == 0) {
            return &rpc->nodes[i];
        }
    }
    return NULL;
}

bool nn_rpc_tool_subject_allowed(nn_rpc *rpc, const char *subject) {
    /* The lock only keeps a reconfigure from freeing the list under the check. */
    pthread_mutex_lock(&rpc->subjects_lock);
    bool ok = nn_security_subject_allowed(subject, (const char *const *)rpc->tool_subjects,
                                          rpc->tool_subject_count);
    pthread_mutex_unlock(&rpc->subjects_lock);
    return ok;
}

int nn_rpc_listener(nn_rpc *rpc, const char *host, uint16_t port, nn_listener_config *out) {
    memset(out, 0, sizeof(*out));
    out->name = "rpc";
    out->host = host;
    out->port = port;
    out->handler = &nn_rpc_stream_handler;
    out->handler_arg = rpc;
    return 0;
}

/* --------------------------------------------------------------- services */

int nn_rpc_service_register_ex(nn_rpc *rpc, const char *method, unsigned flags,
                               nn_rpc_handler handler, void *arg) {
    if (method == NULL || method[0] == '\0' || handler == NULL || strcmp(method, "hello") == 0) {
        return -EINVAL;
    }
    if (atomic_load(&rpc->started)) {
        return -EBUSY; /* the registry is read without locks once the mesh runs */
    }
    if (nn_rpc_service_find(rpc, method) != NULL) {
        return -EEXIST;
    }
    rpc_service *grown = realloc(rpc->services, (rpc->service_count + 1) * sizeof(*grown));
    if (grown == NULL) {
        return -ENOMEM;
    }
    rpc->services = grown;
    char *name = strdup(method);
    rpc_service_stats *stats = calloc(rpc->loop_count ? rpc->loop_count : 1, sizeof(*stats));
    if (name == NULL || stats == NULL) {
        free(name);
        free(stats);
        return -ENOMEM;
    }
    rpc->services[rpc->service_count++] = (rpc_service){
        .method = name, .flags = flags, .handler = handler, .arg = arg, .stats = stats};
    return 0;
}

int nn_rpc_service_register(nn_rpc *rpc, const char *method, nn_rpc_handler handler, void *arg) {
    return nn_rpc_service_register_ex(rpc, method, NN_RPC_SERVICE_PEERS, handler, arg);
}

const rpc_service *nn_rpc_service_find(const nn_rpc *rpc, const char *method) {
    for (size_t i = 0; i < rpc->service_count; i++) {
        if (strcmp(rpc->services[i].method, method) == 0) {
            return &rpc->services[i];
        }
    }
    return NULL;
}

/* -------------------------------------------------------------- lifecycle */

typedef struct chan_task {
    nn_task task;
    rpc_channel *ch;
    void (*fn)(rpc_channel *ch);
} chan_task;

static void chan_task_run(nn_task *task) {
    chan_task *t = (chan_task *)task;
    t->fn(t->ch);
    free(t);
}

static void post_to_channels(nn_rpc *rpc, void (*fn)(rpc_channel *ch)) {
    for (size_t i = 0; i < rpc->chan_count; i++) {
        rpc_channel *ch = &rpc->chans[i];
        if (ch->loop == NULL) {
            continue;
        }
        chan_task *t = calloc(1, sizeof(*t));
        if (t == NULL) {
            continue;
        }
        t->task.fn = chan_task_run;
        t->ch = ch;
        t->fn = fn;
        if (nn_loop_post(ch->loop, &t->task) < 0) {
            free(t);
        }
    }
}

int nn_rpc_start(nn_rpc *rpc, nn_err *err) {
    if (atomic_exchange(&rpc->started, true)) {
        return nn_err_set(err, EALREADY, "rpc already started");
    }
    post_to_channels(rpc, nn_rpc_channel_start);
    nn_log(NN_LOG_INFO, "rpc.start", "node=%s peers=%zu rpc_tls=%s", rpc->self, rpc->node_count - 1,
           nn_rpc_tls_mode_name((nn_rpc_tls_mode)atomic_load(&rpc->tls)));
    return 0;
}

typedef struct loop_task {
    nn_task task;
    nn_rpc *rpc;
    rpc_conn *head;
    void (*fn)(nn_rpc *rpc, rpc_conn *head);
} loop_task;

static void loop_task_run(nn_task *task) {
    loop_task *t = (loop_task *)task;
    t->fn(t->rpc, t->head);
    free(t);
}

static void post_to_loops(nn_rpc *rpc, void (*fn)(nn_rpc *rpc, rpc_conn *head)) {
    for (uint32_t i = 0; i < rpc->loop_count; i++) {
        loop_task *t = calloc(1, sizeof(*t));
        if (t == NULL) {
            continue;
        }
        t->task.fn = loop_task_run;
        t->rpc = rpc;
        t->head = &rpc->loops[i].inbound;
        t->fn = fn;
        if (nn_loop_post(nn_server_loop(rpc->srv, i), &t->task) < 0) {
            free(t);
        }
    }
}

static void goodbye_inbound(nn_rpc *rpc, rpc_conn *head) {
    (void)rpc;
    for (rpc_conn *c = head->next_in; c != head; c = c->next_in) {
        if (c->counted_node && c->state == CONN_READY) {
            nn_rpc_conn_send_goodbye(c);
        }
    }
}

/* After a reconfigure or a reload, on each worker: inbound connections whose peer
 * certificate the new CRL revokes are closed at once, nodes and tools alike (one that is
 * only no longer trusted is given a call timeout to move: nn_rpc_conn_inbound_recheck);
 * inbound node connections that no longer meet the policy or that run on certificates from
 * before a reload are handed back to their owners, who replace them. */
static void reevaluate_inbound(nn_rpc *rpc, rpc_conn *head) {
    bool require = (nn_rpc_tls_mode)atomic_load(&rpc->tls) == NN_RPC_TLS_REQUIRE;
    uint64_t generation = rpc->sec != NULL ? nn_security_generation(rpc->sec) : 0;
    uint64_t drain_until = nn_now_ns() + NN_MS(atomic_load(&rpc->call_timeout_ms));
    for (rpc_conn *c = head->next_in; c != head; c = c->next_in) {
        /* Closing is deferred (on_close unlinks later), so the walk goes on safely. */
        if ((c->state == CONN_HELLO || c->state == CONN_READY || c->state == CONN_DRAINING) &&
            !nn_rpc_conn_inbound_recheck(c)) {
            continue;
        }
        if (require && !c->encrypted && c->state == CONN_READY && !c->counted_node) {
            /* A plaintext tool: nothing to move, it reconnects with TLS if it can. */
            nn_rpc_conn_close(c, "plaintext connections are refused (rpc_tls=require)");
            continue;
        }
        if (!c->counted_node || c->state != CONN_READY) {
            continue;
        }
        if (require && !c->encrypted) {
            /* Its owner reconnects, and the new connection meets rpc_tls=require; the
             * plaintext one serves what is in flight for one call timeout at most. */
            nn_rpc_conn_send_goodbye(c);
            nn_rpc_conn_limit_plaintext(c, drain_until);
        } else if (c->encrypted && c->tls_generation != generation) {
            /* Make-before-break on the owner's side: it dials anew (and sees our new
             * certificate), moves its calls over, then retires this connection. */
            nn_log(NN_LOG_INFO, "rpc.renew", "node=%s peer=%s reason=\"certificates reloaded\"",
                   rpc->self, c->peer);
            nn_rpc_conn_send_renew(c);
        }
    }
}

void nn_rpc_goodbye(nn_rpc *rpc) {
    if (atomic_exchange(&rpc->stopping, true) || !atomic_load(&rpc->started)) {
        return;
    }
    nn_log(NN_LOG_INFO, "rpc.goodbye", "node=%s inbound_peers=%llu", rpc->self,
           (unsigned long long)atomic_load(&rpc->inbound_nodes));
    post_to_loops(rpc, goodbye_inbound);
    /* Peers finish their calls to us and close; bounded by one call timeout. */
    uint64_t deadline = nn_now_ns() + NN_MS(atomic_load(&rpc->call_timeout_ms));
    pthread_mutex_lock(&rpc->drain_lock);
    while (atomic_load(&rpc->inbound_nodes) > 0 && nn_now_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&rpc->drain_cond, &rpc->drain_lock, &ts);
    }
    pthread_mutex_unlock(&rpc->drain_lock);
    nn_log(NN_LOG_INFO, "rpc.goodbye.done", "node=%s inbound_peers_left=%llu", rpc->self,
           (unsigned long long)atomic_load(&rpc->inbound_nodes));
}

int nn_rpc_reconfigure(nn_rpc *rpc, const nn_rpc_config *cfg, nn_err *err) {
    size_t self_index = SIZE_MAX;
    if (check_config(cfg, rpc->sec, rpc->tool_mode, &self_index, err) < 0) {
        return -EINVAL;
    }
    if (self_index != rpc->self_index || cfg->node_count != rpc->node_count) {
        return nn_err_set(err, EINVAL, "the node list changed: restart the node to apply it");
    }
    for (size_t i = 0; i < cfg->node_count; i++) {
        if (strcmp(cfg->nodes[i].name, rpc->nodes[i].name) != 0 ||
            strcmp(cfg->nodes[i].host, rpc->nodes[i].host) != 0 ||
            cfg->nodes[i].rpc_port != rpc->nodes[i].rpc_port) {
            return nn_err_set(err, EINVAL, "nodes[%zu] changed: restart the node to apply it", i);
        }
    }
    char **subjects = copy_subjects(cfg->tool_subjects, cfg->tool_subject_count);
    if (subjects == NULL) {
        return nn_err_set(err, ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&rpc->subjects_lock);
    char **old = rpc->tool_subjects;
    size_t old_n = rpc->tool_subject_count;
    rpc->tool_subjects = subjects;
    rpc->tool_subject_count = cfg->tool_subject_count;
    pthread_mutex_unlock(&rpc->subjects_lock);
    free_subjects(old, old_n);
    apply_policy(rpc, cfg);
    nn_log(NN_LOG_INFO, "rpc.reconfigure", "node=%s rpc_tls=%s", rpc->self,
           nn_rpc_tls_mode_name(cfg->tls));
    if (atomic_load(&rpc->started)) {
        post_to_channels(rpc, nn_rpc_channel_reevaluate);
        post_to_loops(rpc, reevaluate_inbound);
    }
    return 0;
}

void nn_rpc_certs_reloaded(nn_rpc *rpc) {
    if (rpc == NULL || !atomic_load(&rpc->started) || atomic_load(&rpc->stopping)) {
        return;
    }
    /* What nn_rpc_reconfigure does after a reload, for reloads the file watcher makes. */
    post_to_channels(rpc, nn_rpc_channel_reevaluate);
    post_to_loops(rpc, reevaluate_inbound);
}

void nn_rpc_free(nn_rpc *rpc) {
    if (rpc == NULL) {
        return;
    }
    for (size_t i = 0; rpc->chans != NULL && i < rpc->chan_count; i++) {
        if (rpc->chans[i].loop != NULL) {
            nn_rpc_channel_fail_all(&rpc->chans[i], NN_RPC_E_CLOSED, "rpc is shut down");
            nn_rpc_channel_destroy(&rpc->chans[i]);
        }
    }
    /* Last: failing the waiting calls above returned their blocks to these pools. */
    for (uint32_t i = 0; rpc->loops != NULL && i < rpc->loop_count; i++) {
        nn_rpc_pool_destroy(&rpc->loops[i].pool);
    }
    for (size_t i = 0; i < rpc->service_count; i++) {
        free(rpc->services[i].method);
        free(rpc->services[i].stats);
    }
    free(rpc->services);
    for (size_t i = 0; rpc->nodes != NULL && i < rpc->node_count; i++) {
        free((char *)rpc->nodes[i].name);
        free((char *)rpc->nodes[i].host);
    }
    free(rpc->nodes);
    if (rpc->tool_subjects != NULL) {
        free_subjects(rpc->tool_subjects, rpc->tool_subject_count);
    }
    free(rpc->chans);
    free(rpc->loops);
    free(rpc->cluster_name);
    free(rpc->self);
    pthread_mutex_destroy(&rpc->subjects_lock);
    pthread_mutex_destroy(&rpc->drain_lock);
    pthread_cond_destroy(&rpc->drain_cond);
    free(rpc);
}
