/* Private to net/: the structures behind the loop, listener and stream faces. */
#ifndef NODENET_NET_LOOP_INTERNAL_H
#define NODENET_NET_LOOP_INTERNAL_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>

#include "net/net.h"

/* Every SQE's user_data points at one of these; the kind picks the completion handler. */
typedef enum op_kind {
    OP_ACCEPT = 1,
    OP_RECV,
    OP_SEND,
    OP_CONNECT,
    OP_WAKE,
    OP_CANCEL, /* completions of cancel requests themselves carry no record */
} op_kind;

typedef struct nn_op {
    uint8_t kind;
} nn_op;

#define NN_MAX_LISTENERS 8

/* One listener's socket on one worker. */
typedef struct listen_slot {
    nn_op op; /* OP_ACCEPT */
    int fd;
    int index; /* listener index in the server */
    bool armed;
    nn_loop *loop;
    nn_timer retry; /* re-arm after EMFILE-like errors, so accept never spins */
} listen_slot;

typedef struct listener_def {
    char name[32];
    char host[64];
    uint16_t port;
    const nn_stream_handler *handler;
    void *handler_arg;
} listener_def;

typedef enum stream_state {
    STREAM_CONNECTING = 0,
    STREAM_OPEN,
    STREAM_CLOSING,  /* flushing output before the close */
    STREAM_CLOSED,   /* on_close ran; waiting for SQEs to complete before the free */
} stream_state;

typedef struct stream_op {
    nn_op op;
    nn_stream *s;
} stream_op;

struct nn_stream {
    nn_loop *loop;
    int fd;
    uint8_t state;
    bool outbound;
    bool refused;
    bool recv_armed;
    bool send_inflight;
    bool in_dirty_list;
    bool readable_pending; /* new input since on_readable last ran */
    bool close_notified;   /* on_close ran */
    bool drained;          /* on_drain ran */
    bool abort_pending;    /* close without flushing at the next service */
    bool want_writable;    /* on_writable once pending <= writable_low */
    bool want_flush;       /* on_flush at the end of this round */
    bool read_paused;      /* nn_stream_pause_reading(): arm no receive */
    bool recv_cancelling;  /* a cancel of the multishot receive is in flight */
    uint32_t pending_events; /* NN_STREAM_EV_* bits not yet given to on_event */
    int16_t listener;
    uint16_t peer_port;
    uint32_t pending_ops;  /* SQEs in flight that point at this stream */
    int close_reason;
    size_t writable_low;
    const nn_stream_handler *handler;
    void *handler_arg;
    void *user;
    uint64_t id;
    const nn_stream_layer_ops *layer_ops;
    void *layer;
    /* The input being dispatched straight from a receive buffer (no copy) while
     * on_readable runs; what is left is copied into `in` afterwards. */
    const uint8_t *view;
    size_t view_len;
    nn_buf in;      /* plaintext not yet consumed */
    nn_buf out;     /* raw bytes queued */
    nn_buf sending; /* raw bytes handed to the kernel */
    nn_timer deadline;
    stream_op recv_op;
    stream_op send_op;
    stream_op connect_op;
    struct nn_stream *next, *prev;   /* the loop's list of live streams */
    struct nn_stream *dirty_next;    /* the loop's list of streams to service */
    struct nn_stream *closed_next;   /* the loop's list of closed streams not yet freed */
    char close_why[128];
    char peer_host[INET6_ADDRSTRLEN];
    struct sockaddr_storage *connect_addr; /* while the connect SQE is in flight */
    uint8_t *recv_fallback;          /* plain-recv buffer when there is no buffer ring */
};

typedef struct nn_loop_counters {
    _Atomic uint64_t accepted;
    _Atomic uint64_t refused;
    _Atomic uint64_t accept_errors;
    _Atomic uint64_t open;
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
} nn_loop_counters;

struct nn_loop {
    nn_server *srv;
    uint32_t index;
    pthread_t thread;
    struct io_uring ring;
    bool ring_ready;
    /* Provided receive buffers shared by the loop's streams (group 0). */
    struct io_uring_buf_ring *buf_ring;
    uint8_t *buf_base;
    uint32_t buf_count; /* the ring's size: buffers that buf_base has room for */
    uint32_t buf_added; /* buffers 0..buf_added-1 are in circulation (loop.c) */
    bool buf_grew;      /* buf_added grew in this round of completions */
    uint32_t buf_size;
    bool use_buf_ring;
    /* Cross-thread work. */
    nn_mpsc tasks;
    int wake_fd;
    nn_op wake_op;
    uint64_t wake_value;
    _Atomic int wake_pending;
    _Atomic int posting;
    _Atomic int exited;
    /* Timers and streams. */
    nn_timer_heap timers;
    nn_stream *streams;
    nn_stream *dirty;
    nn_stream *closed; /* finalized streams waiting for their last SQEs */
    uint64_t live_streams; /* allocated and not yet freed */
    nn_loop_counters counters;
    listen_slot slots[NN_MAX_LISTENERS];
    bool stopping;
    nn_timer drain_timer;
    nn_task stop_task;
    uint64_t drain_ns;
    int start_rc;
    char start_err[256];
};

struct nn_server {
    nn_server_config config;
    uint32_t workers;
    nn_loop *loops;
    listener_def listeners[NN_MAX_LISTENERS];
    int listener_count;
    _Atomic uint64_t open_accepted; /* accepted streams open, against max_connections */
    _Atomic uint32_t max_connections; /* config's, then nn_server_set_max_connections() */
    _Atomic int stop_requested;
    bool started;
    pthread_mutex_t start_lock;
    pthread_cond_t start_cond;
    uint32_t ready_count;
};

/* loop.c */
struct io_uring_sqe *nn_loop_sqe(nn_loop *loop);
void nn_loop_mark_dirty(nn_loop *loop, nn_stream *s);
void nn_loop_recv_buffer_return(nn_loop *loop, uint16_t bid);
/* A receive found no buffer: put more of them in circulation, false when all are. */
bool nn_loop_recv_buffers_grow(nn_loop *loop);

/* stream.c */
nn_stream *nn_stream_alloc(nn_loop *loop, int fd, const nn_stream_handler *handler,
                           void *handler_arg);
void nn_stream_service(nn_stream *s);
void nn_stream_on_cqe(stream_op *op, struct io_uring_cqe *cqe);
void nn_stream_start_reading(nn_stream *s);
void nn_stream_abort(nn_stream *s, int reason, const char *why);
void nn_stream_drain(nn_stream *s);
bool nn_stream_freeable(const nn_stream *s);
void nn_stream_destroy(nn_stream *s);

/* listener.c */
int nn_listener_probe(const listener_def *def, nn_err *err);
int nn_listener_open(const listener_def *def, uint16_t *port_io, nn_err *err);
void nn_listener_slot_init(listen_slot *slot, nn_loop *loop, int index, int fd);
void nn_listener_arm(nn_loop *loop, listen_slot *slot);
void nn_listener_on_cqe(listen_slot *slot, struct io_uring_cqe *cqe);
void nn_listener_close(nn_loop *loop, listen_slot *slot);

#endif
