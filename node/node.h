/* node/node.h: the one face of node/.
 *
 * Two things a database engine (or the nodenet binary) needs to run a node:
 *   1. the cluster config, loaded from cluster.yaml against a declared schema and checked
 *      as a whole (nn_config_*), and
 *   2. the node itself: one nn_server with the MySQL and RPC listeners, the mesh, signals
 *      left to the caller (nn_node_*).
 *
 * Errors follow net.h's nn_err convention. Config errors read
 *   "cluster.yaml: security.rpc_tls: invalid value 'maybe' (expected off, prefer or require)"
 * i.e. the file as given, the key path (sequence entries as nodes[1], counted from 0), the
 * reason, and where libcyaml knows it, the line.
 */
#ifndef NODENET_NODE_H
#define NODENET_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mysql/mysql.h"
#include "net/net.h"
#include "rpc/rpc.h"
#include "security/security.h"

/* ------------------------------------------------------------------- config */

#define NN_CONFIG_DEFAULT_MYSQL_PORT 2881 /* OceanBase's defaults */
#define NN_CONFIG_DEFAULT_RPC_PORT 2882

/* Same order and meaning as rpc.h's nn_rpc_tls_mode, kept here so that the config has no
 * dependency on rpc/. */
typedef enum nn_config_rpc_tls {
    NN_CONFIG_RPC_TLS_OFF = 0,
    NN_CONFIG_RPC_TLS_PREFER = 1,
    NN_CONFIG_RPC_TLS_REQUIRE = 2,
} nn_config_rpc_tls;

typedef struct nn_config_node {
    char *name;
    char *host; /* numeric IPv4 or IPv6 address */
    uint16_t mysql_port;
    uint16_t rpc_port;
    uint16_t metrics_port; /* GET /metrics (Prometheus text); 0 = off */
} nn_config_node;

/* A loaded, checked config. Every path is absolute (relative ones are resolved against the
 * config file's directory) and, when a node was named at load time, has %n replaced by that
 * node's name. All strings are owned by the config; free with nn_config_free(). */
typedef struct nn_config {
    char *path;         /* the config file as given */
    char *cluster_name;
    uint64_t cluster_id;
    nn_config_node *nodes;
    size_t node_count;
    /* The node named at load time (index into nodes), or SIZE_MAX when none was: then
     * paths keep their %n. */
    size_t self;

    struct {
        bool certificates;     /* ca/cert/key files or a wallet are configured */
        char *ca_file;         /* NULL when not set (wallet_dir fills these in) */
        char *cert_file;
        char *key_file;
        char *wallet_dir;      /* NULL when not set */
        bool mysql_tls;        /* default: on iff certificates are configured */
        bool require_secure_transport;
        nn_config_rpc_tls rpc_tls;
        char *tls_min_version;     /* MySQL port: "1.2" (default) or "1.3" */
        char *rpc_tls_min_version; /* RPC port and outbound RPC: "1.3" (default) or "1.2" */
        char *crl_file;            /* PEM CRL(s) of the CA(s); NULL = no revocation checking */
        char *ciphers;         /* NULL = BoringSSL's default list */
        char **tool_subjects;  /* subjects allowed to connect as RPC tool clients */
        size_t tool_subject_count;
        char *admin_cert_file; /* what nodenet-admin presents; NULL when not set */
        char *admin_key_file;
        uint32_t cert_warn_days; /* warn daily from this many days before expiry; 30 */
        bool metrics_tls;        /* GET /metrics over TLS, a client certificate of the CA
                                    required; default off */
    } security;

    struct {
        uint32_t workers;          /* 0 = one per core */
        char *data_dir;            /* default data/%n */
        uint32_t max_connections;  /* 0 = unlimited; default 10000 */
        uint64_t handshake_timeout_ms;
        uint64_t idle_timeout_ms;
        uint64_t call_timeout_ms;
        uint64_t heartbeat_ms;
        uint64_t max_peer_queue_bytes;  /* a peer's send queue; dropped beyond it */
        uint64_t peer_stall_timeout_ms; /* ... or after this long without progress */
        uint32_t max_frame_bytes;
        uint32_t max_packet_bytes;
        int log_level; /* nn_log_level; -1 when not set (the command line's, or info) */
        /* default_authentication_plugin: mysql_native_password (else caching_sha2_password) */
        bool native_password_default;
    } node;
} nn_config;

/* What a loader checks on top of the schema. */
typedef enum nn_config_purpose {
    /* A node will run from it: the named node's certificate and key (or wallet) must be
     * readable; without a node name, every node's files are checked (`--check`). */
    NN_CONFIG_FOR_NODE = 0,
    /* A tool client (nodenet-admin) will use it: the CA and the admin certificate and key
     * must be readable when rpc_tls is prefer or require; the node's own key need not be. */
    NN_CONFIG_FOR_TOOL = 1,
} nn_config_purpose;

/* Loads and checks path as the config of node_name (NULL: no node chosen; every node's
 * files are checked). On success fills *out (free it with nn_config_free) and returns 0.
 * On failure returns a negative errno value, leaves *out zeroed and fills err with the
 * first mistake: unknown key, wrong type, bad enum or boolean value, missing required key,
 * duplicate key, number out of range, duplicate node name or host:port, node_name not in
 * nodes, unreadable certificate/key/CA file, contradictory security settings. */
int nn_config_load(const char *path, const char *node_name, nn_config_purpose purpose,
                   nn_config *out, nn_err *err);
/* Frees what nn_config_load() filled; safe on a zeroed config; leaves it zeroed. */
void nn_config_free(nn_config *cfg);

/* The node named at load time; NULL when none was. */
const nn_config_node *nn_config_self(const nn_config *cfg);
/* Finds a node by name; NULL if not in the config. */
const nn_config_node *nn_config_node_find(const nn_config *cfg, const char *name);

/* What differs between a running config and a new one, for a reload (SIGHUP). live: the
 * settings a running node can take at once; restart: those it cannot, as a comma-separated
 * list of key paths ("nodes, node.workers"), "" when none. */
typedef struct nn_config_diff {
    bool mysql_changed;    /* security.mysql_tls, require_secure_transport */
    bool security_changed; /* certificate and CRL paths, TLS versions, ciphers */
    bool rpc_changed;      /* security.rpc_tls, tool_subjects */
    bool node_changed;     /* node.max_connections, node.log_level, security.cert_warn_days,
                              security.metrics_tls */
    char restart[256];
} nn_config_diff;
void nn_config_diff_get(const nn_config *old_cfg, const nn_config *new_cfg,
                        nn_config_diff *out);

/* --------------------------------------------------------------------- node */

/* One running node: the security context (when certificates are configured), the MySQL
 * server, one nn_server holding the MySQL and RPC listeners, and the RPC mesh. An engine
 * embeds it as:
 *
 *     nn_node *node = nn_node_new("cluster.yaml", "n1", &err);   // binds, serves nothing
 *     nn_rpc_service_register(nn_node_rpc(node), "engine.x", ...); // its services
 *     nn_mysql_server_set_handler(nn_node_mysql(node), &engine_sql, engine);
 *     nn_node_start(node, &err);  // workers run, mesh opens, logs node.ready
 *     ...  nn_node_reload(node, &err) on SIGHUP ...
 *     nn_node_stop(node, 5000);   // goodbye to peers, drain, join
 *     nn_node_free(node);
 *
 * Signals are the caller's (see node/main.c). Every nn_node_* function is for threads
 * other than the workers. */
typedef struct nn_node nn_node;

/* Loads config_path for node_name and builds the node: certificates loaded and checked,
 * data_dir created, user catalog opened, both ports bound. Nothing half-made survives a
 * failure: NULL with err saying which step and why. Registers "node.reload" (peers and
 * tools). */
nn_node *nn_node_new(const char *config_path, const char *node_name, nn_err *err);
/* Starts the workers and the mesh; logs `info node.ready node=.. mysql_port=.. rpc_port=..`. */
int nn_node_start(nn_node *node, nn_err *err);
/* Re-reads the config file and the certificates. Applied live: security.mysql_tls and
 * require_secure_transport (new MySQL connections), certificates, tls_min_version and
 * ciphers (new TLS sessions), rpc_tls, tool_subjects and RPC timeouts (channels replaced
 * make-before-break), node.max_connections (new accepts), node.log_level and
 * security.cert_warn_days. Logged as needing a restart and otherwise ignored: cluster,
 * nodes, node.workers, node.data_dir. A config or certificate that fails
 * to load changes nothing and err says why. On success *summary (may be NULL) gets a
 * one-line account ("reloaded; needs a restart: nodes"). Serialised; any non-worker
 * thread. */
int nn_node_reload(nn_node *node, char *summary, size_t summary_cap, nn_err *err);
/* Graceful stop: goodbye to the peers, stop accepting, let streams drain up to drain_ms,
 * join the workers. Idempotent. */
void nn_node_stop(nn_node *node, uint64_t drain_ms);
/* After nn_node_stop() (or instead of start). */
void nn_node_free(nn_node *node);

/* Borrowed parts, for engines: valid until nn_node_free(). */
const nn_config *nn_node_config(const nn_node *node); /* the config the node started with */
nn_rpc *nn_node_rpc(nn_node *node);
nn_mysql_server *nn_node_mysql(nn_node *node);
nn_security *nn_node_security(nn_node *node); /* NULL without certificates */
uint16_t nn_node_mysql_port(const nn_node *node);
uint16_t nn_node_rpc_port(const nn_node *node);

/* Any thread, never blocks (the metrics endpoint calls it on a worker): appends the node's
 * metrics in Prometheus text format to out: connections, MySQL logins by outcome and
 * reason, RPC calls and channels (nn_rpc_metrics_write), catalog, certificates, reloads.
 * Every name starts with nodenet_. Returns 0 or -ENOMEM. */
int nn_node_metrics_write(nn_node *node, nn_buf *out);

/* mkdir -p with 0700 leaves (a data directory holds the catalog's password hashes), then
 * checks that path is a directory. Returns 0 or negative with err naming the path. */
int nn_node_dir_make(const char *path, nn_err *err);

/* `nodenet --check`: loads the config (for node_name, or every node when NULL) and loads
 * each node's certificates as the node would (key matches, chain verifies, not expired).
 * Returns 0 or negative with err naming the first problem. */
int nn_node_check(const char *config_path, const char *node_name, nn_err *err);

/* ------------------------------------------------------------------- events */

/* What an embedder hears without polling (include/nodenet/nodenet.h documents the threads
 * each kind runs on; the values are the public header's). */
typedef enum nn_event_kind {
    NN_EVENT_PEER_READY = 1,
    NN_EVENT_PEER_DOWN = 2,
    NN_EVENT_CERT_RELOADED = 3,
    NN_EVENT_DRAINING = 4,
} nn_event_kind;

typedef struct nn_event {
    nn_event_kind kind;
    const char *peer;    /* PEER_*: the peer's name; NULL otherwise */
    const char *reason;  /* PEER_DOWN: why; "" otherwise */
    uint64_t generation; /* CERT_RELOADED: the new certificate generation; 0 otherwise */
} nn_event;

typedef void (*nn_event_fn)(const nn_event *event, void *arg);

#define NN_NODE_MAX_SUBSCRIBERS 8
/* Before nn_node_start(): -EBUSY after, -ENOSPC past NN_NODE_MAX_SUBSCRIBERS. */
int nn_node_subscribe(nn_node *node, nn_event_fn fn, void *arg);
/* Any thread: the outbound channel to peer is ready (false for self or an unknown name). */
bool nn_node_peer_ready(const nn_node *node, const char *peer);

#endif
