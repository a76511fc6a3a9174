/* nodenet/nodenet.h: a nodenet node inside a database engine's process.
 *
 * A node serves MySQL clients, keeps a persistent RPC mesh to the other nodes of its
 * cluster, and encrypts both with TLS under the cluster's policy. An engine starts one from
 * a cluster config file (cluster.yaml, the same file the nodenet binary reads) or from
 * settings built in code, registers its RPC services and its MySQL handler, and calls its
 * peers from its own threads:
 *
 *     nn_err *err = nn_err_new();
 *     nn_node *node = nn_node_new("cluster.yaml", "n1", err);     // binds, serves nothing
 *     nn_node_subscribe(node, on_event, engine);                  // peers up/down, ...
 *     nn_rpc_service_register(nn_node_rpc(node), "engine.apply", apply, engine);
 *     nn_node_start(node, err);                                   // serving
 *     ...
 *     nn_node_stop(node, 5000);                                   // drain, goodbye, join
 *     nn_node_free(node);
 *
 * Every type is opaque: the library may grow any of them without breaking an embedder
 * built against an older header (compare NN_VERSION_NUMBER with nn_version()).
 *
 * Errors: a function that can fail takes an nn_err (may be NULL) and returns a negative
 * errno value or NULL; the nn_err then holds the code and a one-line message such as
 *   "cluster.yaml: security.cert_file: certs/n1-cert.pem: expired on ..."
 *
 * Threads: the library runs its own worker threads (node.workers, default one per core).
 * Callbacks (RPC handlers, call completions, events, MySQL handlers) run on those workers
 * unless said otherwise and must not block. Every nn_node_* function is for the embedder's
 * own threads, never a worker. docs/EMBEDDING.md walks through all of it.
 *
 * Signals are the embedder's: the library installs no handler. Ignore SIGPIPE (a peer
 * that vanishes mid-write must not kill the process); map SIGHUP to nn_node_reload().
 */
#ifndef NODENET_NODENET_H
#define NODENET_NODENET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nodenet/version.h>

#ifndef NN_API
#define NN_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ version */

/* The library's NN_VERSION_NUMBER and NN_VERSION_STRING, which may be newer than the
 * headers an embedder was built with (same major: compatible). */
NN_API unsigned nn_version(void);
NN_API const char *nn_version_string(void);

/* ------------------------------------------------------------------ logging */

/* The library logs one line per event to stderr (`<time> <level> <event> key=value ...`,
 * one write per line, so lines of different threads never interleave). Sets the least
 * level written: "debug", "info" (default), "warn" or "error"; -EINVAL otherwise. Any
 * thread, any time. */
NN_API int nn_set_log_level(const char *level);

/* ------------------------------------------------------------------- errors */

typedef struct nn_err nn_err;

/* A fresh, empty error (NULL only when out of memory). One per thread that calls the
 * library; reusable: each failing call overwrites it. */
NN_API nn_err *nn_err_new(void);
NN_API void nn_err_free(nn_err *err);
/* The positive errno-style code of the last failure; 0 when none. */
NN_API int nn_err_code(const nn_err *err);
/* The last failure's message; "" when none. Borrowed until the next call that fills err. */
NN_API const char *nn_err_message(const nn_err *err);

/* ----------------------------------------------------------------- settings */

/* A cluster config built in code instead of read from a file. It describes the same
 * things as cluster.yaml and is checked by the same rules when a node is made from it
 * (errors name the same keys: "nodes[1].rpc_port: ..."). Paths may contain %n (the node's
 * name); relative paths are taken against the working directory when they are set. */
typedef struct nn_node_settings nn_node_settings;

/* NULL when out of memory or cluster_name is NULL. */
NN_API nn_node_settings *nn_node_settings_new(const char *cluster_name, uint64_t cluster_id);
NN_API void nn_node_settings_free(nn_node_settings *settings);

/* Each returns 0, or -EINVAL (a NULL or malformed argument), or -ENOMEM. What they cannot
 * check alone (duplicate nodes, unreadable files) is reported by nn_node_new_from_settings. */
NN_API int nn_node_settings_add_node(nn_node_settings *settings, const char *name, const char *host,
                                     uint16_t mysql_port, uint16_t rpc_port);
/* TLS material: the cluster CA and this node's chain and key (%n allowed). */
NN_API int nn_node_settings_set_certificates(nn_node_settings *settings, const char *ca_file,
                                             const char *cert_file, const char *key_file);
/* Default: offered whenever certificates are set; plaintext logins allowed. */
NN_API int nn_node_settings_set_mysql_tls(nn_node_settings *settings, bool offer,
                                          bool require_secure_transport);
/* "off" (default), "prefer" or "require". */
NN_API int nn_node_settings_set_rpc_tls(nn_node_settings *settings, const char *mode);
/* "1.2" (default) or "1.3". */
NN_API int nn_node_settings_set_tls_min_version(nn_node_settings *settings, const char *version);
/* Default data/%n. The node keeps its user catalog there, and the rendered config
 * (cluster.yaml, mode 0600) that nn_node_reload() re-reads. */
NN_API int nn_node_settings_set_data_dir(nn_node_settings *settings, const char *dir);
/* 0 (default) = one per core. */
NN_API int nn_node_settings_set_workers(nn_node_settings *settings, uint32_t workers);
/* Default deadline of an RPC call; 0 = the library's default (5000). */
NN_API int nn_node_settings_set_call_timeout_ms(nn_node_settings *settings, uint64_t ms);

/* --------------------------------------------------------------------- node */

typedef struct nn_node nn_node;

/* Loads config_path for node_name and builds the node: certificates loaded and checked,
 * data_dir created, user catalog opened, both ports bound. Nothing half-made survives a
 * failure: NULL with err saying which step and why. */
NN_API nn_node *nn_node_new(const char *config_path, const char *node_name, nn_err *err);
/* The same from settings (read now; the settings may be freed afterwards). */
NN_API nn_node *nn_node_new_from_settings(const nn_node_settings *settings, const char *node_name,
                                          nn_err *err);
/* Starts the workers and the mesh; logs `info node.ready ...`. */
NN_API int nn_node_start(nn_node *node, nn_err *err);
/* Re-reads the config and the certificates and applies what can change live (TLS policy,
 * certificates, timeouts); see cluster.yaml's documentation. summary (may be NULL) gets a
 * one-line account. Serialised; any thread but a worker. */
NN_API int nn_node_reload(nn_node *node, char *summary, size_t summary_cap, nn_err *err);
/* Graceful stop: NN_EVENT_DRAINING, goodbye to the peers, stop accepting, let calls and
 * queries in flight finish up to drain_ms, join the workers. Idempotent. */
NN_API void nn_node_stop(nn_node *node, uint64_t drain_ms);
/* After nn_node_stop() (or instead of start). NULL ok. */
NN_API void nn_node_free(nn_node *node);

/* Facts. Strings are borrowed until nn_node_free(). */
NN_API const char *nn_node_name(const nn_node *node);
NN_API const char *nn_node_cluster_name(const nn_node *node);
NN_API uint16_t nn_node_mysql_port(const nn_node *node); /* the bound port (0 = none) */
NN_API uint16_t nn_node_rpc_port(const nn_node *node);
/* The other nodes of the cluster, i in [0, nn_node_peer_count()). */
NN_API size_t nn_node_peer_count(const nn_node *node);
NN_API const char *nn_node_peer_name(const nn_node *node, size_t i);
/* true while the outbound channel to peer is ready for calls. Any thread. */
NN_API bool nn_node_peer_ready(const nn_node *node, const char *peer);

/* ------------------------------------------------------------------- events */

typedef enum nn_event_kind {
    NN_EVENT_PEER_READY = 1,    /* the channel to a peer said hello; calls flow */
    NN_EVENT_PEER_DOWN = 2,     /* it closed, failed, or the peer said goodbye */
    NN_EVENT_CERT_RELOADED = 3, /* new certificates are in use for new TLS sessions */
    NN_EVENT_DRAINING = 4,      /* nn_node_stop() began: no new work should start */
} nn_event_kind;

/* Borrowed for the duration of the callback. */
typedef struct nn_event nn_event;
NN_API nn_event_kind nn_event_get_kind(const nn_event *event);
/* PEER_*: the peer's name. Other kinds: NULL. */
NN_API const char *nn_event_peer(const nn_event *event);
/* PEER_DOWN: why, one line. Other kinds: "". */
NN_API const char *nn_event_reason(const nn_event *event);
/* CERT_RELOADED: the certificate generation now in use. Other kinds: 0. */
NN_API uint64_t nn_event_cert_generation(const nn_event *event);

/* Where each kind runs:
 *   PEER_READY, PEER_DOWN: on the worker that owns the channel. Events of one peer come in
 *     order and alternate (READY, DOWN, READY, ...); a channel replaced make-before-break
 *     (a reload) stays ready and sends none.
 *   CERT_RELOADED: on the thread that reloaded (nn_node_reload's caller, or the
 *     certificate watcher's thread when files change on disk).
 *   DRAINING: on the thread that called nn_node_stop(), before any goodbye is sent.
 * The callback must not block and must not call nn_node_* functions; nn_rpc_call() (not
 * _sync) is fine. */
typedef void (*nn_event_fn)(const nn_event *event, void *arg);

/* Before nn_node_start(). Up to 8 subscribers; -ENOSPC beyond, -EBUSY once started. */
NN_API int nn_node_subscribe(nn_node *node, nn_event_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#include <nodenet/rpc.h>
#include <nodenet/security.h>

#endif
