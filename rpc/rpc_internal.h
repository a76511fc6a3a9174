/* rpc/rpc_internal.h: rpc/'s private structures; nothing outside rpc/ (and its unit
 * tests) includes this. */
#ifndef NODENET_RPC_INTERNAL_H
#define NODENET_RPC_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>

#include "proto/rpc.pb-c.h"
#include "rpc/rpc.h"

/* ------------------------------------------------------------------ frames */

#define NN_RPC_FRAME_MAGIC "NNRP"
#define NN_RPC_FRAME_VERSION 1u
#define NN_RPC_FRAME_HEADER 12u /* magic[4] version[1] reserved[3] length[4] (big-endian) */

/* A ProtobufCAllocator that refuses to hand out more than `limit` bytes at once, so that
 * a hostile frame cannot make protobuf-c allocate without bound. One per connection,
 * used on its loop only. */
typedef struct nn_rpc_budget {
    ProtobufCAllocator pa; /* allocator_data points at this struct */
    size_t limit;
    size_t used;
    size_t refused;     /* allocations refused so far */
    struct nn_rpc *rpc; /* blocks come from its worker pools; NULL = plain malloc */
    /* The storage of the last payload used in place, once freed: the stream's next input
     * goes in it (nn_stream_input_take), so bulk frames cycle two blocks rather than
     * allocate one each. Freed with the connection, or once it has lain unused for a
     * heartbeat period (an idle connection keeps no bulk-sized block). */
    void *spare;
    size_t spare_cap;
    uint64_t spare_ns; /* when it became the spare */
} nn_rpc_budget;

void nn_rpc_budget_init(nn_rpc_budget *b, size_t limit);
size_t nn_rpc_budget_for(uint32_t max_frame);

void nn_rpc_frame_header_write(uint8_t out[NN_RPC_FRAME_HEADER], uint32_t body_len);
/* 1 with *body_len when a valid header is complete, 0 when more bytes are needed, or
 * -EPROTO (bad magic/version) / -EMSGSIZE (over max_frame) with err filled. A bad magic
 * is reported as soon as the bytes that differ are here. */
int nn_rpc_frame_header_parse(const uint8_t *data, size_t len, uint32_t max_frame,
                              uint32_t *body_len, nn_err *err);
/* 1 with *out (free with nn_rpc_envelope_free(, b)) and *consumed when a whole frame was
 * decoded, 0 when more bytes are needed, negative with err filled when the bytes are not
 * a frame (-EPROTO), over the limit (-EMSGSIZE) or over the budget (-ENOBUFS). */
int nn_rpc_frame_decode(const uint8_t *data, size_t len, uint32_t max_frame, nn_rpc_budget *b,
                        Nnrpc__Envelope **out, size_t *consumed, nn_err *err);
void nn_rpc_envelope_free(Nnrpc__Envelope *env, nn_rpc_budget *b);
/* Payloads at least this large are left where they were received (see below). */
#define NN_RPC_PAYLOAD_IN_PLACE_MIN 65536u
/* The offset, in a complete frame of frame_len bytes, of its payload's bytes when the
 * envelope's last field is a payload (field 8) of at least `min` bytes with at least 16
 * bytes of the frame before it (*key_at: where that field's key begins); 0 otherwise (the
 * frame is decoded the usual way). */
size_t nn_rpc_frame_payload_tail(const uint8_t *frame, size_t frame_len, size_t min,
                                 size_t *key_at);
/* Decodes a complete frame of frame_len bytes whose envelope ends with its payload (see
 * nn_rpc_frame_payload_tail) without copying the payload: (*out)->payload points into the
 * frame, which lies in `block` (malloc'd, block_cap bytes, ours from here on). The 16 bytes
 * before the payload are overwritten (already decoded by then) with a note that makes
 * nn_rpc_envelope_free() give the block back (b's spare, or free); until then block_cap
 * counts against the budget, as protobuf-c's copy of the payload would (-ENOBUFS over it).
 * 1, or negative with err filled as nn_rpc_frame_decode would (-EINVAL: no payload at the
 * end); on failure the block is freed at once. */
int nn_rpc_frame_decode_in_place(uint8_t *frame, size_t frame_len, void *block, size_t block_cap,
                                 uint32_t max_frame, nn_rpc_budget *b, Nnrpc__Envelope **out,
                                 nn_err *err);
/* Appends header + packed env to out. -EMSGSIZE when over max_frame, -ENOMEM. */
int nn_rpc_frame_encode(nn_buf *out, const Nnrpc__Envelope *env, uint32_t max_frame, nn_err *err);

/* ------------------------------------------------------------------ pools */

#define NN_RPC_POOL_CLASSES 7 /* blocks of 64 .. 4096 bytes, header included */

typedef struct rpc_pool {
    nn_mpsc returns;                             /* blocks freed on other threads */
    struct rpc_block *free[NN_RPC_POOL_CLASSES]; /* the owning worker only */
    uint32_t free_count[NN_RPC_POOL_CLASSES];
    _Atomic uint64_t fresh, reused; /* blocks malloc'd / taken from a free list */
} rpc_pool;

/* Any thread. On one of rpc's workers a block comes from (and later returns to) that
 * worker's pool; elsewhere, or over 4 KiB, it is malloc'd. NULL on ENOMEM. */
void *nn_rpc_pool_alloc(struct nn_rpc *rpc, size_t size);
void *nn_rpc_pool_calloc(struct nn_rpc *rpc, size_t size);
/* Any thread: the block goes back to the pool of the worker that owns it. */
void nn_rpc_pool_free(struct nn_rpc *rpc, void *ptr);
void nn_rpc_pool_init(rpc_pool *pool);
/* After the workers stopped: frees every cached block. */
void nn_rpc_pool_destroy(rpc_pool *pool);
void nn_rpc_pool_stats(struct nn_rpc *rpc, uint64_t *fresh, uint64_t *reused);

/* -------------------------------------------------------------- call table */

typedef struct nn_rpc_call_table {
    uint64_t *keys; /* 0 = empty slot; call ids start at 1 */
    void **vals;
    size_t cap; /* power of two */
    size_t len;
} nn_rpc_call_table;

void nn_rpc_call_table_init(nn_rpc_call_table *t);
void nn_rpc_call_table_free(nn_rpc_call_table *t);
/* 0, -EEXIST, -EINVAL (id 0 or NULL), -ENOMEM. */
int nn_rpc_call_table_put(nn_rpc_call_table *t, uint64_t call_id, void *call);
void *nn_rpc_call_table_get(const nn_rpc_call_table *t, uint64_t call_id);
/* Removes and returns the call, or NULL. */
void *nn_rpc_call_table_take(nn_rpc_call_table *t, uint64_t call_id);
/* Removes and returns some call, or NULL when empty. */
void *nn_rpc_call_table_pop_any(nn_rpc_call_table *t);

/* ------------------------------------------------------------- connections */

typedef struct rpc_conn rpc_conn;
typedef struct rpc_channel rpc_channel;
typedef struct rpc_call rpc_call;

typedef enum rpc_conn_state {
    CONN_CONNECTING, /* outbound: TCP connect in progress */
    CONN_SNIFF,      /* inbound: waiting for the first bytes (TLS or a frame?) */
    CONN_TLS,        /* TLS handshake in progress */
    CONN_HELLO,      /* hello sent (outbound) or expected (inbound) */
    CONN_READY,      /* carries calls */
    CONN_DRAINING,   /* no new calls; closes once its calls are done */
    CONN_CLOSING,    /* nn_stream_close() called; on_close pending */
} rpc_conn_state;

struct rpc_conn {
    nn_rpc *rpc;
    nn_stream *stream; /* NULL once on_close ran */
    nn_loop *loop;
    rpc_conn_state state;
    bool outbound;
    bool encrypted;
    bool tls_attempt; /* outbound: this attempt started with TLS */
    bool is_tool;     /* inbound: a tool client; outbound: we are the tool */
    int refs;         /* the stream + each request not yet replied to */
    nn_rpc_budget budget;
    uint64_t last_rx_ns;
    uint64_t tls_generation; /* security generation when its TLS session started */
    uint64_t checked_generation; /* ... and when its peer certificate last passed a recheck */
    /* We refused the peer's certificate: revoked, untrusted, or not naming the peer (not a
     * timeout or a refused connect). */
    bool peer_cert_rejected;
    /* The send queue's progress (rel 27): plaintext bytes handed to the stream so far, and
     * the queue and that count when it was last seen moving (stall_since_ns 0 = empty). */
    uint64_t queued_total;
    uint64_t stall_since_ns;
    uint64_t stall_pending, stall_queued;
    bool refusal_logged;     /* a refusal with its reason is in the log already */
    bool fallback;           /* outbound plaintext after a prefer TLS attempt was closed */
    /* No copy of the TLS facts (about 2 KB per connection): they are read from the stream
     * where needed (nn_rpc_conn_facts). The names are static strings (nn_tls_names). */
    const char *tls_version;
    const char *tls_cipher;
    char peer[64];      /* node name (or the tool's address) */
    char *refusal;      /* why the peer refused us (from its error frame), or NULL */
    int refusal_status;

    /* outbound */
    rpc_channel *chan;
    nn_rpc_call_table calls;
    uint64_t next_call_id;
    nn_timer hb_timer;
    bool hb_outstanding;
    bool hb_prober;       /* this node probes the pair's idle link (conn.c: hb_fire) */
    uint64_t hb_sent_ns;  /* when the outstanding probe went out */
    bool renew_requested; /* the listener asked for a replacement (FLAG_RENEW) */

    /* inbound */
    char *caller;     /* node name, or the tool's certificate subject; NULL before the hello */
    size_t requests;  /* requests being handled */
    uint64_t last_call_id; /* call ids of requests rise on a connection (rpc.h) */
    bool goodbye_sent;
    bool renew_sent;
    uint64_t plaintext_until_ns; /* rpc_tls became require: closed at this time, 0 = never */
    bool untrusted_drain;        /* ... or rather: a reload stopped trusting its certificate */
    bool counted_node;           /* counted in rpc->inbound_nodes */
    rpc_channel *from_chan;      /* a peer node's connection: our channel to that node, whose
                                  * heard_ns its frames refresh */
    uint64_t heard_pub_ns;       /* when this connection last refreshed it */
    rpc_conn *next_in, *prev_in; /* the loop's inbound list */
};

/* ----------------------------------------------------------------- channels */

/* Latency histograms (metrics.c): counts per bucket (not cumulative), upper bounds in
 * microseconds, the last bucket is +Inf. One writer per histogram (its loop). */
#define NN_RPC_LAT_BUCKETS 15
typedef struct rpc_latency {
    _Atomic uint64_t bucket[NN_RPC_LAT_BUCKETS];
    _Atomic uint64_t sum_us;
} rpc_latency;
void nn_rpc_latency_record(rpc_latency *h, uint64_t ns);

typedef enum rpc_chan_state {
    CHAN_IDLE = 0,
    CHAN_CONNECTING = 1,
    CHAN_READY = 2,
    CHAN_DRAINING = 3, /* the peer said goodbye; waiting to reconnect */
    CHAN_DOWN = 4,     /* backing off before the next attempt */
    CHAN_CLOSED = 5,
} rpc_chan_state;

struct rpc_call {
    nn_task task;
    rpc_call *next, *prev; /* the channel's waiting list */
    nn_rpc *rpc;
    rpc_channel *chan;
    rpc_conn *conn; /* sent on; NULL while waiting */
    uint64_t call_id;
    uint64_t deadline_ns;
    uint64_t timeout_ms;
    nn_timer timer;
    nn_rpc_call_fn cb;
    void *arg;
    bool waiting;
    char *method;
    uint8_t *payload;
    size_t len;
};

struct rpc_channel {
    nn_rpc *rpc;
    size_t index;
    char peer[64];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    nn_loop *loop;
    bool is_tool;

    /* loop-only state */
    rpc_conn *active;  /* READY, carries new calls */
    rpc_conn *pending; /* connecting (a replacement when active is set) */
    rpc_call waiting;  /* sentinel of calls not yet sent */
    size_t waiting_count;
    nn_timer retry_timer;
    uint64_t backoff_ms;
    bool tls_fallback;   /* prefer: the next attempt is plaintext */
    nn_timer heal_timer; /* prefer in plaintext: when to try TLS again */
    uint64_t heal_backoff_ms;
    nn_timer expiry_timer; /* renews the TLS session before a certificate expires */
    bool closed;
    bool ever_up;
    /* The last attempt, or a reload, refused the peer's certificate: calls fail at once
     * instead of waiting for a channel. */
    bool cert_rejected;
    uint64_t tls_generation; /* security generation of the active TLS session */
    int last_status;         /* nn_rpc_status the waiting calls end with */
    char last_error[1024];

    /* When a frame from this peer last arrived on one of its connections to us (inbound,
     * any worker): liveness for the heartbeat of our own connection to it (conn.c). */
    _Atomic uint64_t heard_ns;
    /* A node hello from this peer arrived: retry a backed-off channel now (channel.c). */
    nn_task kick_task;
    atomic_bool kick_posted;

    /* published for mesh.state (any thread) */
    _Atomic int state;
    _Atomic uint64_t ok, reconnects, bytes_in, bytes_out, in_flight;
    _Atomic uint64_t heals, heal_attempts, expiry_renewals;
    rpc_latency latency; /* calls that got a reply (ok or a remote error) */
    _Atomic uint64_t failed[NN_RPC_STATUS_COUNT];
    _Atomic uint64_t served; /* requests from this peer that this node ran (inbound) */
    pthread_mutex_t info_lock;
    bool info_encrypted;
    int64_t info_peer_not_before, info_peer_not_after, info_local_not_after;
    uint64_t info_generation;
    char info_version[16];
    char info_cipher[64];
    /* The peer certificate's subject and issuer and the last error, each NUL-terminated,
     * allocated to size (they were 2 KB of arrays in every channel, mostly empty); NULL: all
     * empty. Read under info_lock with the nn_rpc_channel_info_* accessors. */
    char *info_text;

    /* tool client: signalled when the first attempt ends */
    pthread_mutex_t wait_lock;
    pthread_cond_t wait_cond;
    int first_outcome; /* 0 pending, 1 ready, -1 failed */
};

/* ------------------------------------------------------------------- rpc */

/* What one worker counted for one service (served calls). */
typedef struct rpc_service_stats {
    _Atomic uint64_t outcome[NN_RPC_STATUS_COUNT];
    rpc_latency latency;
} rpc_service_stats;

typedef struct rpc_service {
    char *method;
    unsigned flags;
    nn_rpc_handler handler;
    void *arg;
    rpc_service_stats *stats; /* one per worker */
} rpc_service;

typedef struct rpc_loop_state {
    rpc_conn inbound; /* sentinel of this loop's inbound connections */
    rpc_pool pool;    /* calls, requests and decoded frames made on this loop */
    _Atomic uint64_t tls_handshakes[2][2]; /* [server, client][failed, ok] */
    _Atomic uint64_t inbound_accepted, inbound_closed; /* RPC listener connections */
} rpc_loop_state;

struct nn_rpc {
    nn_server *srv;
    nn_security *sec;
    /* copied config */
    uint64_t cluster_id;
    char *cluster_name;
    char *self;
    nn_rpc_node *nodes;
    size_t node_count;
    size_t self_index;
    bool tool_mode; /* a tool client's private rpc */

    /* policy that nn_rpc_reconfigure() changes (any thread reads) */
    _Atomic int tls;
    _Atomic uint32_t max_frame;
    _Atomic uint64_t call_timeout_ms, heartbeat_ms, connect_timeout_ms;
    _Atomic uint64_t max_peer_queue_bytes, peer_stall_timeout_ms;
    pthread_mutex_t subjects_lock;
    char **tool_subjects;
    size_t tool_subject_count;

    rpc_service *services;
    size_t service_count;

    rpc_channel *chans; /* one per node; chans[self_index] unused */
    size_t chan_count;
    rpc_loop_state *loops;
    uint32_t loop_count;

    uint64_t started_ns;
    _Atomic bool started;
    _Atomic bool stopping;
    _Atomic uint64_t inbound_nodes;
    pthread_mutex_t drain_lock;
    pthread_cond_t drain_cond;
    _Atomic uint64_t next_trace;

    nn_rpc_channel_fn on_channel; /* set before start; read on the channels' workers */
    void *on_channel_arg;
};

struct nn_rpc_request {
    nn_task task;
    nn_rpc *rpc;
    rpc_conn *conn;
    Nnrpc__Envelope *env;
    const rpc_service *svc; /* for its counters */
    uint64_t start_ns;
    uint64_t deadline_ns;
    bool tool;
    /* a reply made off the loop, carried there */
    uint8_t *reply;
    size_t reply_len;
    uint32_t status;
    uint32_t remote_code;
    char *error;
};

/* conn.c */
extern const nn_stream_handler nn_rpc_stream_handler;
int nn_rpc_conn_send(rpc_conn *c, Nnrpc__Envelope *env, nn_err *err);
void nn_rpc_conn_close(rpc_conn *c, const char *why);
/* The TLS facts of c's session, read now (on c's loop); zero without TLS or a stream. */
void nn_rpc_conn_facts(const rpc_conn *c, nn_tls_facts *out);
void nn_rpc_conn_send_goodbye(rpc_conn *c);
/* A plaintext inbound connection under rpc_tls=require: closed at until_ns at the latest
 * (its owner was told goodbye and moves its calls to a TLS connection before then). */
void nn_rpc_conn_limit_plaintext(rpc_conn *c, uint64_t until_ns);
void nn_rpc_conn_send_renew(rpc_conn *c);
/* After a reload: 0 when c's peer certificate still verifies against the current store
 * (or c has no TLS session, or it was checked at this generation already); otherwise err
 * says why and -EKEYREVOKED when the new CRL revokes it, -EACCES when it fails for another
 * reason (no longer under a trusted CA: the last step of a CA rotation). */
int nn_rpc_conn_recheck(rpc_conn *c, nn_err *err);
/* Our side refuses the peer's certificate now (revoked, untrusted, not naming the peer):
 * records why (c's calls in flight and its channel end with it) and closes c. */
void nn_rpc_conn_refuse_peer_cert(rpc_conn *c, const char *why);
/* Inbound, after a reload: rechecks c (above). Revoked, or still in its handshake or hello:
 * tells the peer why, closes c and returns false. Untrusted otherwise (not an emergency):
 * a node's connection is closed one call timeout from now unless its owner moved off it
 * first (it is sent a renew), a tool's is left to finish its command; returns true. */
bool nn_rpc_conn_inbound_recheck(rpc_conn *c);
rpc_conn *nn_rpc_conn_connect(rpc_channel *ch, bool tls, nn_err *err);

/* channel.c */
void nn_rpc_channel_init(rpc_channel *ch, nn_rpc *rpc, size_t index, const nn_rpc_node *node);
void nn_rpc_channel_destroy(rpc_channel *ch);
void nn_rpc_channel_start(rpc_channel *ch); /* on ch->loop */
void nn_rpc_channel_conn_ready(rpc_channel *ch, rpc_conn *c);
void nn_rpc_channel_conn_closed(rpc_channel *ch, rpc_conn *c, int status, const char *why,
                                bool fallback);
void nn_rpc_channel_goodbye(rpc_channel *ch, rpc_conn *c);
void nn_rpc_channel_response(rpc_conn *c, Nnrpc__Envelope *env);
void nn_rpc_channel_reevaluate(rpc_channel *ch); /* after reconfigure, on ch->loop */
/* The listener asked for c to be replaced: connect anew, move over, then retire c. */
void nn_rpc_channel_renew(rpc_channel *ch, rpc_conn *c);
void nn_rpc_channel_fail_all(rpc_channel *ch, int status, const char *why); /* no loop */
void nn_rpc_call_complete(rpc_call *call, int status, uint32_t remote_code, const char *error,
                          const uint8_t *payload, size_t len);
void nn_rpc_channel_set_info(rpc_channel *ch, const rpc_conn *c);
/* ch->info_text's parts, never NULL; the caller holds ch->info_lock. */
const char *nn_rpc_channel_info_subject(const rpc_channel *ch);
const char *nn_rpc_channel_info_issuer(const rpc_channel *ch);
const char *nn_rpc_channel_info_error(const rpc_channel *ch);
void nn_rpc_channel_count_failure(rpc_channel *ch, int status);
/* Any thread: the peer said hello on a connection of its own, so it is up; a channel that
 * waits out a reconnect backoff tries at once. */
void nn_rpc_channel_peer_seen(rpc_channel *ch);

/* mesh.c */
const rpc_service *nn_rpc_service_find(const nn_rpc *rpc, const char *method);
bool nn_rpc_tool_subject_allowed(nn_rpc *rpc, const char *subject);
const nn_rpc_node *nn_rpc_node_find(const nn_rpc *rpc, const char *name);
nn_rpc *nn_rpc_new_internal(const nn_rpc_config *cfg, nn_server *srv, nn_security *sec,
                            bool tool_mode, nn_err *err);
void nn_rpc_request_dispatch(rpc_conn *c, Nnrpc__Envelope *env);

/* metrics.c: a TLS handshake on c ended (ok or failed), counted on c's loop. */
void nn_rpc_count_tls_handshake(rpc_conn *c, bool ok);
/* A served request ended with status, on its connection's loop. */
void nn_rpc_count_request(nn_rpc_request *req, uint32_t status);

/* services.c */
int nn_rpc_services_register_builtin(nn_rpc *rpc, nn_err *err);

#endif
