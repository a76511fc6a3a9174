/* rpc/rpc.h: the one face of rpc/, nodenet's inter-node RPC mesh.
 *
 * A node keeps one persistent outbound channel to every other node of its config and
 * serves the peers' channels (and tool clients such as nodenet-admin) on the RPC listener
 * of every worker. Frames are a 12-byte header (magic "NNRP", version, length) plus a
 * protobuf-c Envelope (proto/rpc.proto). Every call ends in exactly one outcome: a reply
 * or a clear error; none is dropped and none outlives its deadline.
 *
 * TLS modes (rpc_tls) and what two nodes speak, dialler (rows) x listener (columns):
 *
 *              off            prefer          require
 *   off        plaintext      plaintext       refused: "tls required"
 *   prefer     plaintext (1)  TLS             TLS
 *   require    refused (2)    TLS             TLS
 *
 *   (1) the listener sniffs a TLS ClientHello and, with rpc_tls off, closes at once without
 *       a byte; a prefer dialler whose TLS handshake is closed that way (clean EOF, no TLS
 *       alert) retries in plaintext at once and logs rpc.tls.fallback. It keeps trying TLS
 *       beside the plaintext channel (1 s doubling to 10 s) and moves over make-before-break
 *       once the listener takes it (rpc.tls.healed). Any other TLS failure (bad
 *       certificate, wrong node, alert) is never a reason to fall back.
 *   (2) the require dialler sees the same close and reports "peer closed the TLS
 *       handshake (peer has rpc_tls off?)"; it retries with backoff.
 *   A listener serves TLS and plaintext on one port (nn_tls_sniff on the first bytes), so
 *   a cluster moves off -> prefer -> require one restart at a time and no two live nodes
 *   ever stop talking. Prefer is downgradable by an active attacker by design; require
 *   is not.
 *
 * With TLS both sides present certificates chained to the cluster CA. The dialler checks
 * that the listener's certificate names the node it dialled; the listener checks that the
 * certificate names a configured node whose host is the connection's source address and
 * that the hello's node name is that node. Tool clients present a certificate whose
 * subject is in tool_subjects (or plaintext where rpc_tls is not require) and may call
 * only services registered for tools.
 *
 * What a connection does with a frame it cannot use (rel 24-26):
 *   - a bad magic, a frame version other than 1, a length of 0 or over max_frame_bytes,
 *     or a body that is not an Envelope: an error frame with the reason (call id 0), a
 *     log line (rpc.protocol_error) and a close; nothing is allocated for the declared
 *     length, and protobuf-c decodes within the connection's budget;
 *   - a hello that does not decode, with another protocol version, cluster or node, or a
 *     certificate that does not name the node the hello claims: refused and closed;
 *   - a request for an unknown method: NN_RPC_E_NO_METHOD; a call id not above the last
 *     one on the connection (stale or duplicate): NN_RPC_E_INVALID, and it is not run;
 *     call ids rise on a connection, 0 only for frames that answer nothing;
 *   - a frame that is neither request nor response (unknown flags) at a listener, or a
 *     response at a dialler whose call id matches no call in flight (its deadline passed,
 *     or a duplicate): dropped, the connection goes on.
 * Calls are never retried by rpc/: a call that fails NN_RPC_E_PEER_DOWN or DEADLINE may
 * or may not have run on the peer, but it never runs twice.
 *
 * Threads: nn_rpc_call*, nn_rpc_reply* and the tool client may be used from any thread.
 * Callbacks and handlers run on worker threads; they must not block.
 */
#ifndef NODENET_RPC_H
#define NODENET_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"
#include "security/security.h"

#define NN_RPC_PROTOCOL_VERSION 1u
#define NN_RPC_DEFAULT_MAX_FRAME (64u * 1024u * 1024u)

typedef enum { NN_RPC_TLS_OFF, NN_RPC_TLS_PREFER, NN_RPC_TLS_REQUIRE } nn_rpc_tls_mode;

/* Parses exactly "off", "prefer" or "require"; -EINVAL otherwise. */
int nn_rpc_tls_mode_parse(const char *text, nn_rpc_tls_mode *out);
const char *nn_rpc_tls_mode_name(nn_rpc_tls_mode mode);

typedef struct nn_rpc_node {
    const char *name;
    const char *host; /* numeric address, e.g. "127.0.0.1" */
    uint16_t rpc_port;
} nn_rpc_node;

typedef struct nn_rpc_config {
    uint64_t cluster_id;
    const char *cluster_name;
    const char *self; /* this node's name; must be one of nodes */
    const nn_rpc_node *nodes;
    size_t node_count;
    nn_rpc_tls_mode tls;
    const char *const *tool_subjects; /* "/C=CN/O=nodenet/CN=nodenet-admin" form */
    size_t tool_subject_count;
    uint32_t max_frame_bytes;   /* 0 = 64 MiB */
    uint64_t call_timeout_ms;   /* default deadline of a call; 0 = 5000 */
    /* Idle probe period; a peer silent 3x this is down; 0 = 1000. A frame from the peer on
     * either of the pair's two connections counts, so a link with traffic is not probed,
     * and of an idle pair only one node probes each period (rpc/conn.c, issue 15). */
    uint64_t heartbeat_ms;
    uint64_t connect_timeout_ms; /* TCP + TLS + hello; 0 = 3000 */
    /* A peer that stops reading (rel 27): the connection is dropped once its send queue
     * holds more than max_peer_queue_bytes (a single frame may exceed it when the queue was
     * empty), or once bytes have waited peer_stall_timeout_ms without the kernel taking
     * any. Every call in flight on it ends NN_RPC_E_PEER_DOWN with the reason; the channel
     * reconnects with backoff. The byte bound counts what was queued in the current loop
     * round too (nothing is sent before the round ends): keep it above the largest burst
     * of calls the engine makes to one peer at once. 0 = 128 MiB and 10000 ms. */
    uint64_t max_peer_queue_bytes;
    uint64_t peer_stall_timeout_ms;
} nn_rpc_config;

typedef struct nn_rpc nn_rpc;

/* Every outcome of a call. Values travel on the wire (Envelope.error_code). */
typedef enum nn_rpc_status {
    NN_RPC_OK = 0,
    NN_RPC_E_DEADLINE = 1,  /* the deadline passed before a reply */
    NN_RPC_E_PEER_DOWN = 2, /* no channel to the peer within the deadline, or it died */
    NN_RPC_E_REFUSED = 3,   /* the peer refused us (hello, TLS policy, identity) */
    NN_RPC_E_CLOSED = 4,    /* the local rpc was shut down */
    NN_RPC_E_REMOTE = 5,    /* the remote handler replied with an error */
    NN_RPC_E_NO_METHOD = 6, /* no such service on the peer */
    NN_RPC_E_DENIED = 7,    /* the caller may not call that service */
    NN_RPC_E_TOO_BIG = 8,   /* request or reply over max_frame_bytes */
    NN_RPC_E_INVALID = 9,   /* bad argument (unknown peer, ...) */
} nn_rpc_status;
#define NN_RPC_STATUS_COUNT 10
const char *nn_rpc_status_name(nn_rpc_status status); /* "ok", "deadline", "peer_down", ... */

/* What a callback gets. Pointers are valid during the callback only. */
typedef struct nn_rpc_result {
    nn_rpc_status status;
    uint32_t remote_code; /* the handler's code when status is NN_RPC_E_REMOTE */
    const char *error;    /* "" on success */
    const uint8_t *payload;
    size_t payload_len;
    uint64_t latency_ns; /* from nn_rpc_call() to this outcome; 0 when it failed at once */
} nn_rpc_result;

typedef void (*nn_rpc_call_fn)(const nn_rpc_result *result, void *arg);

/* --------------------------------------------------------------- lifecycle */

/* Validates cfg (copied) and prepares channels; opens nothing yet. sec may be NULL only
 * when cfg->tls is off. srv and sec are borrowed and must outlive the rpc. */
nn_rpc *nn_rpc_new(const nn_rpc_config *cfg, nn_server *srv, nn_security *sec, nn_err *err);
/* Fills what nn_server_listen() takes for the RPC port (handler_arg is rpc). */
int nn_rpc_listener(nn_rpc *rpc, const char *host, uint16_t port, nn_listener_config *out);
/* After nn_server_start(): opens the outbound channel to every other node. */
int nn_rpc_start(nn_rpc *rpc, nn_err *err);
/* Any thread (SIGHUP). Takes the new tls mode, tool subjects, timeouts and frame limit;
 * the node list and self must be unchanged (-EINVAL otherwise). Channels that no longer
 * meet the policy, or whose TLS session predates a certificate reload, are replaced
 * make-before-break: the new connection says hello before the old one is retired, and
 * calls in flight on the old one finish there. (TLS sessions are also renewed this way
 * before a certificate of either side expires, without a reconfigure.) Inbound connections
 * that no longer meet the policy are sent a goodbye, so their owner reconnects under the
 * new policy.
 *
 * A peer whose certificate the new CRL revokes is cut instead, in both directions: its
 * outbound channel closes and goes down with the reason (calls to it fail at once,
 * NN_RPC_E_REFUSED, until it presents an accepted certificate), its inbound connections
 * (and a tool's) are told why and closed. The same happens to the outbound channel when
 * its replacement is refused on the peer's certificate (no longer under a trusted CA, not
 * naming the peer). An inbound node connection that is only no longer trusted is renewed
 * and closed one call timeout later if its owner did not move; a tool's finishes. */
int nn_rpc_reconfigure(nn_rpc *rpc, const nn_rpc_config *cfg, nn_err *err);
/* Any thread, after the security context reloaded by itself (its file watcher): channels
 * and inbound connections are rechecked, cut and renewed as by nn_rpc_reconfigure(). A
 * no-op before nn_rpc_start() and once stopping. Must not be called after nn_rpc_free(). */
void nn_rpc_certs_reloaded(nn_rpc *rpc);
/* Any thread but a worker (SIGTERM). Tells every connected peer goodbye (they send no new
 * calls and reconnect later), refuses new hellos, and waits (bounded by call_timeout_ms)
 * until the peers have drained and closed their channels. Call before nn_server_stop(). */
void nn_rpc_goodbye(nn_rpc *rpc);
/* Before nn_rpc_start(). fn(arg, peer, ready, reason) runs on the channel's worker each
 * time the outbound channel to peer becomes ready (hello done) or stops being ready
 * (closed, failed, goodbye; reason says which). A make-before-break replacement is no
 * edge. It must not block. */
typedef void (*nn_rpc_channel_fn)(void *arg, const char *peer, bool ready, const char *reason);
void nn_rpc_set_channel_listener(nn_rpc *rpc, nn_rpc_channel_fn fn, void *arg);
/* After nn_server_wait(). Pending calls have already ended (CLOSED) by then. */
void nn_rpc_free(nn_rpc *rpc);

/* ------------------------------------------------------------------- calls */

/* Any thread. Calls `method` on node `peer` with the payload (copied). timeout_ms 0 =
 * call_timeout_ms. cb runs exactly once, on a worker thread, possibly before this returns
 * (e.g. NN_RPC_E_INVALID for an unknown peer). Returns 0, or negative when cb was already
 * run with the error. */
int nn_rpc_call(nn_rpc *rpc, const char *peer, const char *method, const void *payload,
                size_t len, uint64_t timeout_ms, nn_rpc_call_fn cb, void *arg);

/* A blocking call for non-worker threads (-EDEADLK on a worker). On NN_RPC_OK *out is a
 * malloc'd copy of the reply (free() it; NULL when empty). Returns the status; err says
 * why on failure. */
nn_rpc_status nn_rpc_call_sync(nn_rpc *rpc, const char *peer, const char *method,
                               const void *payload, size_t len, uint64_t timeout_ms,
                               uint8_t **out, size_t *out_len, nn_err *err);

/* ---------------------------------------------------------------- services */

typedef struct nn_rpc_request nn_rpc_request;

/* Runs on the worker that received the call. It must end the request exactly once with
 * nn_rpc_reply() or nn_rpc_reply_error(), now or later, from any thread. */
typedef void (*nn_rpc_handler)(nn_rpc_request *req, void *arg);

enum {
    NN_RPC_SERVICE_PEERS = 1, /* nodes of the cluster may call it */
    NN_RPC_SERVICE_TOOLS = 2, /* tool clients (nodenet-admin) may call it */
};

/* Before nn_rpc_start(). Registers a service for peers only. -EEXIST if taken. */
int nn_rpc_service_register(nn_rpc *rpc, const char *method, nn_rpc_handler handler, void *arg);
/* The same with NN_RPC_SERVICE_* flags (e.g. node.reload: PEERS | TOOLS). */
int nn_rpc_service_register_ex(nn_rpc *rpc, const char *method, unsigned flags,
                               nn_rpc_handler handler, void *arg);

/* Borrowed until the reply. */
const uint8_t *nn_rpc_request_payload(const nn_rpc_request *req, size_t *len);
const char *nn_rpc_request_method(const nn_rpc_request *req);
/* The calling node's name, or the tool's certificate subject ("" for a plaintext tool). */
const char *nn_rpc_request_caller(const nn_rpc_request *req);
bool nn_rpc_request_from_tool(const nn_rpc_request *req);
uint64_t nn_rpc_request_deadline_ns(const nn_rpc_request *req);
nn_rpc *nn_rpc_request_rpc(const nn_rpc_request *req);

/* Any thread. Ends the request (data copied); frees req. */
void nn_rpc_reply(nn_rpc_request *req, const void *data, size_t len);
void nn_rpc_reply_error(nn_rpc_request *req, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------- tool client */

typedef struct nn_rpc_tool_config {
    const char *host; /* numeric */
    uint16_t port;
    nn_security *sec; /* borrowed; NULL = plaintext. Its cert is the client certificate */
    const char *expect_node; /* with TLS: the name the node's certificate must carry;
                                NULL = any certificate of the CA */
    uint64_t cluster_id;       /* 0 = any */
    uint64_t connect_timeout_ms; /* 0 = 3000 */
    uint32_t max_frame_bytes;  /* 0 = 64 MiB */
} nn_rpc_tool_config;

typedef struct nn_rpc_tool nn_rpc_tool;

/* Blocking: connects, (TLS,) says hello. Fails with a clear err when the node is down,
 * refuses the certificate, or refuses the tool. Not on a worker thread. */
nn_rpc_tool *nn_rpc_tool_connect(const nn_rpc_tool_config *cfg, nn_err *err);
/* Blocking call; same contract as nn_rpc_call_sync. */
nn_rpc_status nn_rpc_tool_call(nn_rpc_tool *tool, const char *method, const void *payload,
                               size_t len, uint64_t timeout_ms, uint8_t **out, size_t *out_len,
                               nn_err *err);
/* TLS facts of the tool's connection (after connect). */
int nn_rpc_tool_facts(nn_rpc_tool *tool, nn_tls_facts *out);
void nn_rpc_tool_close(nn_rpc_tool *tool);

/* ----------------------------------------------------------------- metrics */

/* Any thread: appends the mesh's counters in Prometheus text format to out (names start
 * with nodenet_rpc_): channel state, TLS version, reconnects, heals and bytes per peer;
 * calls made by peer and outcome and calls served by method and outcome, each with a
 * latency histogram; TLS handshakes by role and outcome. Reads relaxed per-worker
 * counters; takes only each channel's info lock for a moment. Returns 0 or -ENOMEM. */
int nn_rpc_metrics_write(nn_rpc *rpc, nn_buf *out);

/* Any thread: the RPC side's connections, for the node's nodenet_connections family. */
typedef struct nn_rpc_conn_counts {
    uint64_t inbound_accepted; /* accepted on the RPC listener (nodes and tools) */
    uint64_t inbound_open;
    uint64_t outbound;       /* channels to the other nodes */
    uint64_t outbound_ready; /* ... of which carry calls now */
} nn_rpc_conn_counts;
void nn_rpc_conn_counts_get(nn_rpc *rpc, nn_rpc_conn_counts *out);

#endif
