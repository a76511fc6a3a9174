/* The node assembly: config -> security -> MySQL server -> nn_server with both listeners
 * -> RPC mesh, started and stopped in the order that lets peers and clients see a clean
 * edge, and reloaded live where the lower modules can take a change. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "node/catalog_sync_internal.h"
#include "node/node_internal.h"

/* The reload RPC runs its work here, off the workers: reading files and loading
 * certificates blocks. */
typedef struct reload_job {
    struct reload_job *next;
    nn_rpc_request *req;
} reload_job;

struct nn_node {
    char *config_path;
    nn_config boot; /* what the node was built from: ports, workers, node list */
    nn_config live; /* the last config applied (live settings) */
    nn_security *sec;
    nn_mysql_server *mysql;
    nn_server *server;
    nn_rpc *rpc;
    nn_catalog_sync *catalog_sync; /* the user catalog shared over the mesh */
    /* Event subscribers: written before start only; the count is published last
     * (release), so a certificate watcher already running sees whole entries. */
    struct {
        nn_event_fn fn;
        void *arg;
    } subs[NN_NODE_MAX_SUBSCRIBERS];
    _Atomic size_t sub_count;
    _Atomic bool *peer_ready; /* by node index, from the channel events */
    nn_rpc_node *rpc_nodes;
    int mysql_listener;
    int rpc_listener;
    int metrics_listener;
    bool started;
    bool stopped;
    pthread_mutex_t reload_lock; /* one reload at a time */

    pthread_t control;
    bool control_running;
    pthread_mutex_t jobs_lock;
    pthread_cond_t jobs_cond;
    reload_job *jobs;
    bool control_quit;

    /* operators' view: certificates as read at start and at each reload, reload counts */
    pthread_mutex_t certs_lock;
    nn_node_cert certs[NN_NODE_MAX_CERTS];
    size_t cert_count;
    int64_t cert_warned[NN_NODE_MAX_CERTS]; /* control thread: last expiry warning, unix s */
    _Atomic uint32_t cert_warn_days;
    _Atomic int live_tls; /* mysql_tls | require_secure_transport << 1 | rpc_tls << 2 */
    _Atomic uint64_t reloads_ok, reloads_failed;
    uint64_t created_ns;
};

/* ------------------------------------------------------------ certificates */

/* Reads the certificates the node uses (blocking file reads: never on a worker). A file
 * that cannot be read is left out; loading the store already said why. */
typedef struct cert_source {
    const char *role;
    const char *file;
    bool all; /* every certificate of the file (a CA bundle), else the first (the leaf) */
} cert_source;

static void certs_refresh(nn_node *node, const nn_config *cfg) {
    cert_source files[4];
    size_t nfiles = 0;
    char wallet[3][4096];
    if (cfg->security.wallet_dir != NULL) {
        snprintf(wallet[0], sizeof(wallet[0]), "%s/server-cert.pem", cfg->security.wallet_dir);
        snprintf(wallet[1], sizeof(wallet[1]), "%s/client-cert.pem", cfg->security.wallet_dir);
        snprintf(wallet[2], sizeof(wallet[2]), "%s/ca.pem", cfg->security.wallet_dir);
        files[nfiles++] = (cert_source){"server", wallet[0], false};
        files[nfiles++] = (cert_source){"client", wallet[1], false};
        files[nfiles++] = (cert_source){"ca", wallet[2], true};
    } else if (cfg->security.certificates) {
        files[nfiles++] = (cert_source){"server", cfg->security.cert_file, false};
        files[nfiles++] = (cert_source){"ca", cfg->security.ca_file, true};
    }
    if (cfg->security.admin_cert_file != NULL) {
        files[nfiles++] = (cert_source){"admin", cfg->security.admin_cert_file, false};
    }
    nn_node_cert certs[NN_NODE_MAX_CERTS];
    size_t count = 0;
    for (size_t f = 0; f < nfiles && count < NN_NODE_MAX_CERTS; f++) {
        nn_cert_info info[NN_NODE_MAX_CERTS];
        size_t n = 0;
        nn_err err = {0};
        if (nn_cert_file_info(files[f].file, info, NN_NODE_MAX_CERTS, &n, &err) < 0) {
            continue;
        }
        for (size_t i = 0; i < n && count < NN_NODE_MAX_CERTS && (files[f].all || i == 0); i++) {
            nn_node_cert *c = &certs[count++];
            snprintf(c->role, sizeof(c->role), "%s", files[f].role);
            snprintf(c->file, sizeof(c->file), "%s", files[f].file);
            c->info = info[i];
        }
    }
    pthread_mutex_lock(&node->certs_lock);
    memcpy(node->certs, certs, count * sizeof(certs[0]));
    node->cert_count = count;
    pthread_mutex_unlock(&node->certs_lock);
    atomic_store(&node->cert_warn_days, cfg->security.cert_warn_days);
    atomic_store(&node->live_tls, (cfg->security.mysql_tls ? 1 : 0) |
                                      (cfg->security.require_secure_transport ? 2 : 0) |
                                      (cfg->security.metrics_tls ? 16 : 0) |
                                      ((int)cfg->security.rpc_tls << 2));
}

size_t nn_node_certs_get(nn_node *node, nn_node_cert *out, size_t cap) {
    pthread_mutex_lock(&node->certs_lock);
    size_t n = node->cert_count < cap ? node->cert_count : cap;
    memcpy(out, node->certs, n * sizeof(out[0]));
    pthread_mutex_unlock(&node->certs_lock);
    return n;
}

/* On the control thread: a warning a day for each certificate within cert_warn_days of
 * its expiry (or past it), so that the log says so every day until it is renewed. */
static void certs_expiry_check(nn_node *node) {
    nn_node_cert certs[NN_NODE_MAX_CERTS];
    size_t n = nn_node_certs_get(node, certs, NN_NODE_MAX_CERTS);
    int64_t now = (int64_t)time(NULL);
    int64_t window = (int64_t)atomic_load(&node->cert_warn_days) * 86400;
    for (size_t i = 0; i < n; i++) {
        int64_t left = certs[i].info.not_after - now;
        if (left > window || now - node->cert_warned[i] < 86400) {
            continue;
        }
        node->cert_warned[i] = now;
        struct tm tm;
        time_t t = (time_t)certs[i].info.not_after;
        char until[32];
        gmtime_r(&t, &tm);
        strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
        nn_log(NN_LOG_WARN, left > 0 ? "node.cert.expiring" : "node.cert.expired",
               "node=%s role=%s subject=%s serial=%s not_after=%s days_left=%lld file=%s",
               nn_config_self(&node->boot)->name, certs[i].role, certs[i].info.subject,
               certs[i].info.serial, until, (long long)(left > 0 ? left / 86400 : 0),
               certs[i].file);
    }
}

void nn_node_stats_get(nn_node *node, nn_node_stats *out) {
    memset(out, 0, sizeof(*out));
    out->uptime_ms = (nn_now_ns() - node->created_ns) / 1000000u;
    out->reloads_ok = atomic_load(&node->reloads_ok);
    out->reloads_failed = atomic_load(&node->reloads_failed);
    out->cert_warn_days = atomic_load(&node->cert_warn_days);
    int tls = atomic_load(&node->live_tls);
    out->mysql_tls = (tls & 1) != 0;
    out->require_secure_transport = (tls & 2) != 0;
    out->rpc_tls = (nn_config_rpc_tls)((tls >> 2) & 3);
    out->metrics_tls = (tls & 16) != 0;
    out->name = nn_config_self(&node->boot)->name;
}

nn_server *nn_node_server(nn_node *node) {
    return node->server;
}

int64_t nn_node_catalog_agreement_age(nn_node *node, size_t i) {
    if (i >= node->boot.node_count || i == node->boot.self) {
        return -1;
    }
    int64_t at = nn_catalog_sync_agreed_unix(node->catalog_sync, node->boot.nodes[i].name);
    return at > 0 ? (int64_t)time(NULL) - at : -1;
}

/* ------------------------------------------------------- operator services */

/* On a worker: the metrics page (nothing in it blocks). */
static void metrics_service(nn_rpc_request *req, void *arg) {
    nn_buf page = {0};
    if (nn_node_metrics_write(arg, &page) < 0) {
        nn_buf_free(&page);
        nn_rpc_reply_error(req, ENOMEM, "out of memory");
        return;
    }
    nn_rpc_reply(req, nn_buf_begin(&page), page.len);
    nn_buf_free(&page);
}

/* The node's certificates, one per line: role, file, subject, issuer, serial, not_before,
 * not_after, warn_days, separated by tabs (what nodenet-admin certs prints). */
static void certs_service(nn_rpc_request *req, void *arg) {
    nn_node *node = arg;
    nn_node_cert certs[NN_NODE_MAX_CERTS];
    size_t n = nn_node_certs_get(node, certs, NN_NODE_MAX_CERTS);
    nn_buf out = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char line[2400];
        int len =
            snprintf(line, sizeof(line), "%s\t%s\t%s\t%s\t%s\t%lld\t%lld\t%u\n", certs[i].role,
                     certs[i].file, certs[i].info.subject, certs[i].info.issuer,
                     certs[i].info.serial, (long long)certs[i].info.not_before,
                     (long long)certs[i].info.not_after, atomic_load(&node->cert_warn_days));
        rc = len > 0 && (size_t)len < sizeof(line) ? nn_buf_append(&out, line, (size_t)len)
                                                   : -EINVAL;
    }
    if (rc < 0) {
        nn_buf_free(&out);
        nn_rpc_reply_error(req, ENOMEM, "out of memory");
        return;
    }
    nn_rpc_reply(req, nn_buf_begin(&out), out.len);
    nn_buf_free(&out);
}

static void security_config_fill(const nn_config *cfg, const char *node_name,
                                 uint32_t watch_interval_ms, nn_security_config *out) {
    memset(out, 0, sizeof(*out));
    out->node_name = node_name;
    out->ca_file = cfg->security.ca_file;
    out->cert_file = cfg->security.cert_file;
    out->key_file = cfg->security.key_file;
    out->wallet_dir = cfg->security.wallet_dir;
    out->min_version = cfg->security.tls_min_version;
    out->rpc_min_version = cfg->security.rpc_tls_min_version;
    out->crl_file = cfg->security.crl_file;
    out->ciphers = cfg->security.ciphers;
    out->watch_interval_ms = watch_interval_ms;
}

static void mysql_config_fill(const nn_config *cfg, nn_mysql_config *out) {
    memset(out, 0, sizeof(*out));
    out->data_dir = cfg->node.data_dir;
    out->tls = cfg->security.mysql_tls;
    out->require_secure_transport = cfg->security.require_secure_transport;
    out->max_allowed_packet = cfg->node.max_packet_bytes;
    out->handshake_timeout_ms = cfg->node.handshake_timeout_ms;
    out->idle_timeout_ms = cfg->node.idle_timeout_ms;
    out->native_password_default = cfg->node.native_password_default;
}

/* The cluster's shape always comes from the boot config (the mesh cannot change it live);
 * policy and timeouts from the config being applied. */
static void rpc_config_fill(const nn_node *node, const nn_config *policy, nn_rpc_config *out) {
    memset(out, 0, sizeof(*out));
    out->cluster_id = node->boot.cluster_id;
    out->cluster_name = node->boot.cluster_name;
    out->self = nn_config_self(&node->boot)->name;
    out->nodes = node->rpc_nodes;
    out->node_count = node->boot.node_count;
    out->tls = (nn_rpc_tls_mode)policy->security.rpc_tls;
    out->tool_subjects = (const char *const *)policy->security.tool_subjects;
    out->tool_subject_count = policy->security.tool_subject_count;
    out->max_frame_bytes = policy->node.max_frame_bytes;
    out->call_timeout_ms = policy->node.call_timeout_ms;
    out->heartbeat_ms = policy->node.heartbeat_ms;
    out->max_peer_queue_bytes = policy->node.max_peer_queue_bytes;
    out->peer_stall_timeout_ms = policy->node.peer_stall_timeout_ms;
}

int nn_node_dir_make(const char *path, nn_err *err) {
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf)) {
        return nn_err_set(err, ENAMETOOLONG, "%s: path too long", path);
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') {
            continue;
        }
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            return nn_err_set(err, errno, "%s: %s", buf, strerror(errno));
        }
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return nn_err_set(err, ENOTDIR, "%s: not a directory", path);
    }
    return 0;
}

/* ------------------------------------------------------------- reload RPC */

static void reload_answer(nn_node *node, nn_rpc_request *req) {
    char summary[512];
    nn_err err = {0};
    if (nn_node_reload(node, summary, sizeof(summary), &err) < 0) {
        nn_rpc_reply_error(req, 1, "%s", err.msg);
        return;
    }
    nn_rpc_reply(req, summary, strlen(summary));
}

/* How often the control thread looks at certificate expiry (a warning is logged once a
 * day per certificate). */
#define CERT_CHECK_MS 60000

static void *control_main(void *arg) {
    nn_node *node = arg;
    pthread_mutex_lock(&node->jobs_lock);
    uint64_t next_check = 0;
    for (;;) {
        while (node->jobs == NULL && !node->control_quit) {
            if (nn_now_ns() >= next_check) {
                pthread_mutex_unlock(&node->jobs_lock);
                certs_expiry_check(node);
                pthread_mutex_lock(&node->jobs_lock);
                next_check = nn_now_ns() + NN_MS(CERT_CHECK_MS);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += CERT_CHECK_MS / 1000;
            pthread_cond_timedwait(&node->jobs_cond, &node->jobs_lock, &ts);
        }
        reload_job *job = node->jobs;
        if (job == NULL) {
            break;
        }
        node->jobs = job->next;
        pthread_mutex_unlock(&node->jobs_lock);
        reload_answer(node, job->req);
        free(job);
        pthread_mutex_lock(&node->jobs_lock);
    }
    pthread_mutex_unlock(&node->jobs_lock);
    return NULL;
}

/* Runs on a worker: hand the request to the control thread. */
static void reload_service(nn_rpc_request *req, void *arg) {
    nn_node *node = arg;
    reload_job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        nn_rpc_reply_error(req, 12, "out of memory");
        return;
    }
    job->req = req;
    pthread_mutex_lock(&node->jobs_lock);
    if (node->control_quit) {
        pthread_mutex_unlock(&node->jobs_lock);
        free(job);
        nn_rpc_reply_error(req, 1, "the node is stopping");
        return;
    }
    reload_job **tail = &node->jobs;
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = job;
    pthread_cond_signal(&node->jobs_cond);
    pthread_mutex_unlock(&node->jobs_lock);
}

static void control_stop(nn_node *node) {
    if (!node->control_running) {
        return;
    }
    pthread_mutex_lock(&node->jobs_lock);
    node->control_quit = true;
    pthread_cond_signal(&node->jobs_cond);
    pthread_mutex_unlock(&node->jobs_lock);
    pthread_join(node->control, NULL);
    node->control_running = false;
    /* Jobs queued after the thread left (none should be: it drains before quitting). */
    while (node->jobs != NULL) {
        reload_job *job = node->jobs;
        node->jobs = job->next;
        nn_rpc_reply_error(job->req, 1, "the node is stopping");
        free(job);
    }
}

/* ---------------------------------------------------------------- events */

static void event_emit(nn_node *node, const nn_event *event) {
    size_t n = atomic_load_explicit(&node->sub_count, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        node->subs[i].fn(event, node->subs[i].arg);
    }
}

/* On the channel's worker. */
static void on_channel(void *arg, const char *peer, bool ready, const char *reason) {
    nn_node *node = arg;
    for (size_t i = 0; i < node->boot.node_count; i++) {
        if (strcmp(node->boot.nodes[i].name, peer) == 0) {
            atomic_store(&node->peer_ready[i], ready);
        }
    }
    if (ready) {
        nn_catalog_sync_peer_ready(node->catalog_sync, peer);
    }
    nn_event event = {
        .kind = ready ? NN_EVENT_PEER_READY : NN_EVENT_PEER_DOWN,
        .peer = peer,
        .reason = ready ? "" : reason,
    };
    event_emit(node, &event);
}

/* On the reloading thread (nn_node_reload's caller or the certificate watcher). */
static void on_cert_reload(void *arg, uint64_t generation) {
    nn_node *node = arg;
    /* A reload the file watcher made renews and rechecks the RPC mesh as SIGHUP does (a
     * CRL that revokes a peer cuts it); after SIGHUP's own reload this only repeats what
     * its reconfigure does, which is idempotent. */
    nn_rpc_certs_reloaded(node->rpc);
    nn_event event = {.kind = NN_EVENT_CERT_RELOADED, .reason = "", .generation = generation};
    event_emit(node, &event);
}

int nn_node_subscribe(nn_node *node, nn_event_fn fn, void *arg) {
    if (node == NULL || fn == NULL) {
        return -EINVAL;
    }
    if (node->started) {
        return -EBUSY;
    }
    size_t n = atomic_load(&node->sub_count);
    if (n >= NN_NODE_MAX_SUBSCRIBERS) {
        return -ENOSPC;
    }
    node->subs[n].fn = fn;
    node->subs[n].arg = arg;
    atomic_store_explicit(&node->sub_count, n + 1, memory_order_release);
    return 0;
}

bool nn_node_peer_ready(const nn_node *node, const char *peer) {
    for (size_t i = 0; peer != NULL && i < node->boot.node_count; i++) {
        if (strcmp(node->boot.nodes[i].name, peer) == 0) {
            return atomic_load(&node->peer_ready[i]);
        }
    }
    return false;
}

/* ------------------------------------------------------------ lifecycle */

/* Defined only inside libnodenet (lib/boringssl_dl.c), where BoringSSL is loaded at run
 * time and may be missing; the binaries link it and leave this NULL. */
int nn_boringssl_ready(nn_err *err) __attribute__((weak));

nn_node *nn_node_new(const char *config_path, const char *node_name, nn_err *err) {
    if (config_path == NULL || node_name == NULL) {
        nn_err_set(err, EINVAL, "a config file and a node name are needed");
        return NULL;
    }
    if (nn_boringssl_ready != NULL && nn_boringssl_ready(err) < 0) {
        return NULL;
    }
    nn_node *node = calloc(1, sizeof(*node));
    if (node == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    node->mysql_listener = -1;
    node->rpc_listener = -1;
    node->metrics_listener = -1;
    node->created_ns = nn_now_ns();
    pthread_mutex_init(&node->certs_lock, NULL);
    node->boot.self = SIZE_MAX;
    node->live.self = SIZE_MAX;
    pthread_mutex_init(&node->reload_lock, NULL);
    pthread_mutex_init(&node->jobs_lock, NULL);
    pthread_cond_init(&node->jobs_cond, NULL);
    node->config_path = strdup(config_path);
    if (node->config_path == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    if (nn_config_load(config_path, node_name, NN_CONFIG_FOR_NODE, &node->boot, err) < 0 ||
        nn_config_load(config_path, node_name, NN_CONFIG_FOR_NODE, &node->live, err) < 0) {
        goto fail;
    }
    const nn_config *cfg = &node->boot;
    const nn_config_node *self = nn_config_self(cfg);
    if (cfg->node.log_level >= 0) {
        nn_log_set_level((nn_log_level)cfg->node.log_level);
    }

    if (cfg->security.certificates) {
        nn_security_config sc;
        security_config_fill(cfg, self->name, 0, &sc);
        node->sec = nn_security_new(&sc, err);
        if (node->sec == NULL) {
            nn_err_prefix(err, "%s: security", config_path);
            goto fail;
        }
        nn_security_set_reload_listener(node->sec, on_cert_reload, node);
    }

    if (nn_node_dir_make(cfg->node.data_dir, err) < 0) {
        nn_err_prefix(err, "%s: node.data_dir", config_path);
        goto fail;
    }
    nn_mysql_config mc;
    mysql_config_fill(cfg, &mc);
    node->mysql = nn_mysql_server_new(&mc, node->sec, err);
    if (node->mysql == NULL) {
        nn_err_prefix(err, "mysql");
        goto fail;
    }

    nn_server_config srv_cfg = {
        .workers = cfg->node.workers,
        .max_connections = cfg->node.max_connections,
    };
    node->server = nn_server_new(&srv_cfg, err);
    if (node->server == NULL) {
        nn_err_prefix(err, "server");
        goto fail;
    }

    node->rpc_nodes = calloc(cfg->node_count, sizeof(*node->rpc_nodes));
    node->peer_ready = calloc(cfg->node_count, sizeof(*node->peer_ready));
    if (node->rpc_nodes == NULL || node->peer_ready == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->node_count; i++) {
        node->rpc_nodes[i].name = cfg->nodes[i].name;
        node->rpc_nodes[i].host = cfg->nodes[i].host;
        node->rpc_nodes[i].rpc_port = cfg->nodes[i].rpc_port;
    }
    nn_rpc_config rc;
    rpc_config_fill(node, cfg, &rc);
    node->rpc = nn_rpc_new(&rc, node->server, node->sec, err);
    if (node->rpc == NULL) {
        nn_err_prefix(err, "rpc");
        goto fail;
    }
    nn_rpc_set_channel_listener(node->rpc, on_channel, node);
    if (nn_rpc_service_register_ex(node->rpc, "node.reload",
                                   NN_RPC_SERVICE_PEERS | NN_RPC_SERVICE_TOOLS, reload_service,
                                   node) < 0) {
        nn_err_set(err, EEXIST, "rpc: cannot register node.reload");
        goto fail;
    }
    if (nn_rpc_service_register_ex(node->rpc, "node.metrics", NN_RPC_SERVICE_TOOLS, metrics_service,
                                   node) < 0 ||
        nn_rpc_service_register_ex(node->rpc, "node.certs", NN_RPC_SERVICE_TOOLS, certs_service,
                                   node) < 0) {
        nn_err_set(err, EEXIST, "rpc: cannot register node.metrics / node.certs");
        goto fail;
    }
    certs_refresh(node, cfg);
    node->catalog_sync = nn_catalog_sync_new(node->mysql, node->rpc, cfg, err);
    if (node->catalog_sync == NULL) {
        goto fail;
    }

    nn_listener_config lc;
    nn_mysql_server_listener(node->mysql, self->host, self->mysql_port, &lc);
    node->mysql_listener = nn_server_listen(node->server, &lc, err);
    if (node->mysql_listener < 0) {
        nn_err_prefix(err, "mysql listener %s:%u", self->host, self->mysql_port);
        goto fail;
    }
    if (nn_rpc_listener(node->rpc, self->host, self->rpc_port, &lc) < 0) {
        nn_err_set(err, EINVAL, "rpc listener %s:%u: refused", self->host, self->rpc_port);
        goto fail;
    }
    node->rpc_listener = nn_server_listen(node->server, &lc, err);
    if (node->rpc_listener < 0) {
        nn_err_prefix(err, "rpc listener %s:%u", self->host, self->rpc_port);
        goto fail;
    }
    if (self->metrics_port != 0) {
        nn_listener_config mlc = {
            .name = "metrics",
            .host = self->host,
            .port = self->metrics_port,
            .handler = &nn_node_metrics_http,
            .handler_arg = node,
        };
        node->metrics_listener = nn_server_listen(node->server, &mlc, err);
        if (node->metrics_listener < 0) {
            nn_err_prefix(err, "metrics listener %s:%u", self->host, self->metrics_port);
            goto fail;
        }
    }
    return node;

fail:
    nn_node_free(node);
    return NULL;
}

int nn_node_start(nn_node *node, nn_err *err) {
    if (node->started) {
        return nn_err_set(err, EALREADY, "node already started");
    }
    if (pthread_create(&node->control, NULL, control_main, node) != 0) {
        return nn_err_set(err, EAGAIN, "cannot start the control thread");
    }
    node->control_running = true;
    int rc = nn_server_start(node->server, err);
    if (rc < 0) {
        nn_err_prefix(err, "server");
        return rc;
    }
    node->started = true;
    rc = nn_rpc_start(node->rpc, err);
    if (rc < 0) {
        nn_err_prefix(err, "rpc");
        return rc;
    }
    rc = nn_catalog_sync_start(node->catalog_sync, err);
    if (rc < 0) {
        return rc;
    }
    const nn_config_node *self = nn_config_self(&node->boot);
    nn_log(NN_LOG_INFO, "node.ready",
           "node=%s cluster=%s mysql_port=%u rpc_port=%u workers=%u mysql_tls=%s rpc_tls=%s",
           self->name, node->boot.cluster_name, nn_node_mysql_port(node), nn_node_rpc_port(node),
           nn_server_worker_count(node->server), node->boot.security.mysql_tls ? "on" : "off",
           nn_rpc_tls_mode_name((nn_rpc_tls_mode)node->boot.security.rpc_tls));
    return 0;
}

void nn_node_stop(nn_node *node, uint64_t drain_ms) {
    if (node->stopped) {
        return;
    }
    node->stopped = true;
    const nn_config_node *self = nn_config_self(&node->boot);
    nn_log(NN_LOG_INFO, "node.stopping", "node=%s drain_ms=%llu", self->name,
           (unsigned long long)drain_ms);
    nn_event draining = {.kind = NN_EVENT_DRAINING, .reason = ""};
    event_emit(node, &draining);
    control_stop(node);
    nn_catalog_sync_stop(node->catalog_sync);
    if (node->started) {
        nn_rpc_goodbye(node->rpc);
        nn_server_stop(node->server, NN_MS(drain_ms));
        nn_server_wait(node->server);
    }
    nn_log(NN_LOG_INFO, "node.stopped", "node=%s", self->name);
}

void nn_node_free(nn_node *node) {
    if (node == NULL) {
        return;
    }
    if (node->started && !node->stopped) {
        nn_node_stop(node, 0);
    }
    control_stop(node);
    if (node->sec != NULL) {
        /* The watcher outlives the rpc freed below; its reloads no longer reach it. */
        nn_security_set_reload_listener(node->sec, NULL, NULL);
    }
    nn_catalog_sync_free(node->catalog_sync);
    /* The server first: its timer heaps still list timers that live inside the rpc (a
     * channel's reconnect timer armed when its peer went away), and freeing a heap marks
     * each of them unarmed. nn_rpc_free() touches no loop, so it may come after. */
    if (node->server != NULL) {
        nn_server_free(node->server);
    }
    if (node->rpc != NULL) {
        nn_rpc_free(node->rpc);
    }
    if (node->mysql != NULL) {
        nn_mysql_server_free(node->mysql);
    }
    if (node->sec != NULL) {
        nn_security_free(node->sec);
    }
    free(node->rpc_nodes);
    free(node->peer_ready);
    nn_config_free(&node->boot);
    nn_config_free(&node->live);
    free(node->config_path);
    pthread_mutex_destroy(&node->reload_lock);
    pthread_mutex_destroy(&node->certs_lock);
    pthread_mutex_destroy(&node->jobs_lock);
    pthread_cond_destroy(&node->jobs_cond);
    free(node);
}

/* -------------------------------------------------------------- reload */

static int reload_locked(nn_node *node, char *summary, size_t summary_cap, nn_err *err) {
    const nn_config_node *self = nn_config_self(&node->boot);
    nn_config next;
    int rc = nn_config_load(node->config_path, self->name, NN_CONFIG_FOR_NODE, &next, err);
    if (rc < 0) {
        return rc;
    }
    nn_config_diff live_diff;
    nn_config_diff boot_diff;
    nn_config_diff_get(&node->live, &next, &live_diff);
    nn_config_diff_get(&node->boot, &next, &boot_diff);
    char restart[320];
    snprintf(restart, sizeof(restart), "%s", boot_diff.restart);
    if (next.security.certificates != node->boot.security.certificates) {
        /* mysql and rpc hold the security context from the start; it cannot appear or
         * vanish under them. */
        nn_config_free(&next);
        return nn_err_set(err, EINVAL,
                          "%s: security: certificates were %s; that needs a restart, nothing "
                          "was changed",
                          node->config_path, node->sec != NULL ? "removed" : "added");
    }

    /* Certificates first: if they do not load, nothing else changes. Re-read even when the
     * paths are the same, since SIGHUP is how an operator says "the files changed". */
    if (node->sec != NULL) {
        nn_security_config sc;
        security_config_fill(&next, self->name, 0, &sc);
        rc = nn_security_reload(node->sec, &sc, err);
        if (rc < 0) {
            nn_err_prefix(err, "%s: security", node->config_path);
            nn_config_free(&next);
            return rc;
        }
    }
    nn_mysql_config mc;
    mysql_config_fill(&next, &mc);
    mc.data_dir = node->boot.node.data_dir;
    rc = nn_mysql_server_reconfigure(node->mysql, &mc, err);
    if (rc < 0) {
        nn_err_prefix(err, "mysql");
        nn_config_free(&next);
        return rc;
    }
    nn_rpc_config rpc_cfg;
    rpc_config_fill(node, &next, &rpc_cfg);
    rc = nn_rpc_reconfigure(node->rpc, &rpc_cfg, err);
    if (rc < 0) {
        nn_err_prefix(err, "rpc");
        nn_config_free(&next);
        return rc;
    }

    /* Live node settings: the connection limit for new accepts, the log level. */
    nn_server_set_max_connections(node->server, next.node.max_connections);
    if (next.node.log_level >= 0) {
        nn_log_set_level((nn_log_level)next.node.log_level);
    }
    certs_refresh(node, &next);
    nn_log(NN_LOG_INFO, "node.reload",
           "node=%s mysql_tls=%s require_secure_transport=%s rpc_tls=%s cert_generation=%llu "
           "max_connections=%u",
           self->name, next.security.mysql_tls ? "on" : "off",
           next.security.require_secure_transport ? "on" : "off",
           nn_rpc_tls_mode_name((nn_rpc_tls_mode)next.security.rpc_tls),
           (unsigned long long)(node->sec != NULL ? nn_security_generation(node->sec) : 0),
           next.node.max_connections);
    if (restart[0] != '\0') {
        nn_log(NN_LOG_WARN, "node.reload.needs_restart", "node=%s keys=\"%s\"", self->name,
               restart);
    }
    if (summary != NULL && summary_cap > 0) {
        snprintf(summary, summary_cap,
                 "reloaded: mysql_tls=%s require_secure_transport=%s "
                 "rpc_tls=%s max_connections=%u%s%s",
                 next.security.mysql_tls ? "on" : "off",
                 next.security.require_secure_transport ? "on" : "off",
                 nn_rpc_tls_mode_name((nn_rpc_tls_mode)next.security.rpc_tls),
                 next.node.max_connections, restart[0] != '\0' ? "; needs a restart: " : "",
                 restart);
    }
    (void)live_diff;
    nn_config_free(&node->live);
    node->live = next;
    return 0;
}

int nn_node_reload(nn_node *node, char *summary, size_t summary_cap, nn_err *err) {
    pthread_mutex_lock(&node->reload_lock);
    int rc = reload_locked(node, summary, summary_cap, err);
    atomic_fetch_add(rc < 0 ? &node->reloads_failed : &node->reloads_ok, 1);
    pthread_mutex_unlock(&node->reload_lock);
    const nn_config_node *self = nn_config_self(&node->boot);
    if (rc < 0) {
        nn_log(NN_LOG_WARN, "node.reload.failed", "node=%s kept=running-config reason=\"%s\"",
               self->name, err != NULL ? err->msg : "");
    }
    return rc;
}

/* ------------------------------------------------------------ accessors */

const nn_config *nn_node_config(const nn_node *node) {
    return &node->boot;
}

nn_rpc *nn_node_rpc(nn_node *node) {
    return node->rpc;
}

nn_mysql_server *nn_node_mysql(nn_node *node) {
    return node->mysql;
}

nn_security *nn_node_security(nn_node *node) {
    return node->sec;
}

uint16_t nn_node_mysql_port(const nn_node *node) {
    return node->mysql_listener >= 0 ? nn_server_listener_port(node->server, node->mysql_listener)
                                     : 0;
}

uint16_t nn_node_rpc_port(const nn_node *node) {
    return node->rpc_listener >= 0 ? nn_server_listener_port(node->server, node->rpc_listener) : 0;
}

/* ---------------------------------------------------------------- check */

static int check_one(const char *path, const char *name, nn_err *err) {
    nn_config cfg;
    int rc = nn_config_load(path, name, NN_CONFIG_FOR_NODE, &cfg, err);
    if (rc < 0) {
        return rc;
    }
    if (cfg.security.certificates) {
        nn_security_config sc;
        /* UINT32_MAX: no file watcher for a one-shot check. */
        security_config_fill(&cfg, name, UINT32_MAX, &sc);
        nn_security *sec = nn_security_new(&sc, err);
        if (sec == NULL) {
            nn_err_prefix(err, "%s: security (node %s)", path, name);
            rc = -EINVAL;
        } else {
            nn_security_free(sec);
        }
    }
    nn_config_free(&cfg);
    return rc;
}

int nn_node_check(const char *config_path, const char *node_name, nn_err *err) {
    if (node_name != NULL) {
        return check_one(config_path, node_name, err);
    }
    nn_config all;
    int rc = nn_config_load(config_path, NULL, NN_CONFIG_FOR_NODE, &all, err);
    for (size_t i = 0; rc == 0 && i < all.node_count; i++) {
        rc = check_one(config_path, all.nodes[i].name, err);
    }
    nn_config_free(&all);
    return rc;
}
