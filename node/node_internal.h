/* node/node_internal.h: what node/'s files share besides node.h. Private to node/. */
#ifndef NODENET_NODE_INTERNAL_H
#define NODENET_NODE_INTERNAL_H

#include "node/node.h"

#define NN_NODE_VERSION "0.1.0"
#define NN_NODE_MAX_CERTS 16

/* One certificate a node uses, as read from its file at start and at each reload. */
typedef struct nn_node_cert {
    char role[16]; /* "server", "client", "ca", "admin" */
    char file[512];
    nn_cert_info info;
} nn_node_cert;

/* Any thread (a short lock): copies up to cap of the node's certificates. */
size_t nn_node_certs_get(nn_node *node, nn_node_cert *out, size_t cap);

/* What metrics read of the node beyond its parts' own counters. Any thread. */
typedef struct nn_node_stats {
    uint64_t uptime_ms;
    uint64_t reloads_ok, reloads_failed;
    uint32_t cert_warn_days;
    bool mysql_tls, require_secure_transport; /* as last applied */
    nn_config_rpc_tls rpc_tls;
    bool metrics_tls; /* new metrics connections speak TLS and need a client certificate */
    const char *name; /* borrowed: the boot config's */
} nn_node_stats;
void nn_node_stats_get(nn_node *node, nn_node_stats *out);
nn_server *nn_node_server(nn_node *node);
/* Seconds since the catalog digests of this node and peer `i` of the config last agreed
 * (-1 = never yet, or i is this node). */
int64_t nn_node_catalog_agreement_age(nn_node *node, size_t i);

/* metrics.c: the GET /metrics handler (handler_arg: the node). */
extern const nn_stream_handler nn_node_metrics_http;

#endif
