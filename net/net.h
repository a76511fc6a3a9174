/* net/net.h: nodenet's I/O core, the one face of net/.
 *
 * N worker threads, each owning one io_uring, its connections and its timers
 * (shared-nothing). Protocol code sees a connection as an nn_stream: it reads plaintext
 * from the stream's input, writes plaintext that is gathered and sent with one SQE per
 * flush, and never sees ciphertext: TLS is a layer (security/) pushed onto the stream.
 *
 * Also here, because every module needs them and net/ is the bottom of the graph:
 * nn_err (the error convention), logging, the monotonic clock, byte buffers, the MPSC
 * queue and the timer heap.
 *
 * Threading contract: every function taking an nn_stream, an nn_timer or an nn_loop
 * (unless said otherwise) is called on that loop's own thread, from inside a callback
 * the loop made. nn_loop_post() and nn_server_stop() may be called from any thread.
 */
#ifndef NODENET_NET_H
#define NODENET_NET_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* ------------------------------------------------------------------ errors */

/* A function that can fail takes `nn_err *err` (which may be NULL), returns a negative
 * errno-style value or NULL, and fills err with the code and a message written where the
 * reason is known. Callers prepend their context with nn_err_prefix(). */
typedef struct nn_err {
    int code;       /* positive errno-style code; 0 when no error */
    char msg[512];  /* one line, no trailing newline */
} nn_err;

/* Sets err (if non-NULL) and returns -code, so that `return nn_err_set(err, EINVAL, ...)`
 * reads naturally. */
int nn_err_set(nn_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "<context>: " to err's message. */
void nn_err_prefix(nn_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nn_err_clear(nn_err *err);

/* ----------------------------------------------------------------- logging */

typedef enum nn_log_level {
    NN_LOG_DEBUG = 0,
    NN_LOG_INFO = 1,
    NN_LOG_WARN = 2,
    NN_LOG_ERROR = 3,
} nn_log_level;

/* Writes one line to stderr: `<utc time> <level> <event> <fields>`, e.g.
 * `2026-11-23T10:00:00.123Z info mysql.login user=app host=127.0.0.1 tls=TLSv1.3`.
 * fields is printf-style "key=value key=value". Thread-safe, one write(2) per line.
 * Never pass secrets (passwords, auth strings, keys). */
void nn_log(nn_log_level level, const char *event, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));
void nn_log_set_level(nn_log_level level);
bool nn_log_enabled(nn_log_level level);
/* Parses "debug", "info", "warn", "error"; returns -EINVAL otherwise. */
int nn_log_level_parse(const char *name, nn_log_level *out);

/* A rate limit for one kind of log line that a peer can make us write at will (a denied
 * login, a bad handshake): a flood of them must not stall the workers on stderr nor bury
 * the log. One limit per call site, in static storage, shared by every thread:
 *     static nn_log_limit denied_limit = NN_LOG_LIMIT_INIT(20, 1000);
 * At most `burst` lines are written per `period_ms`; the others are counted and dropped.
 * The first line written after a period that dropped some is preceded by one summary line,
 * `log.suppressed event=<event> lines=<N>` (at the same level), so nothing is lost without
 * a trace; a flood that stops is summed up when the next line of its kind comes. */
typedef struct nn_log_limit {
    uint32_t burst;
    uint32_t period_ms;
    _Atomic uint64_t period_start_ns;
    _Atomic uint32_t written;    /* lines written in the current period */
    _Atomic uint64_t suppressed; /* lines dropped since the last summary */
} nn_log_limit;
#define NN_LOG_LIMIT_INIT(burst, period_ms) {(burst), (period_ms), 0, 0, 0}

/* nn_log through `limit`. Thread-safe (atomics only, no lock). */
void nn_log_limited(nn_log_limit *limit, nn_log_level level, const char *event,
                    const char *fields_fmt, ...) __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------- clock */

/* CLOCK_MONOTONIC in nanoseconds. Deadlines are absolute values of this clock. */
uint64_t nn_now_ns(void);
#define NN_MS(x) ((uint64_t)(x) * 1000000ull)
#define NN_SEC(x) ((uint64_t)(x) * 1000000000ull)

/* ----------------------------------------------------------------- buffers */

/* A growable byte buffer: content is data[off, off + len). An empty buffer may be
 * released with nn_buf_free() so that idle connections hold no memory. */
typedef struct nn_buf {
    uint8_t *data;
    size_t off;
    size_t len;
    size_t cap;
    /* Sticky: a reserve (append, tail) failed since the last clear or free, so the content
     * may lack bytes a writer meant to add. A packet writer checks it once before sending. */
    bool failed;
} nn_buf;

static inline uint8_t *nn_buf_begin(const nn_buf *b) {
    return b->data != NULL ? b->data + b->off : NULL; /* NULL + 0 is undefined in C */
}
/* Makes room for at least `extra` more bytes after the content; returns 0 or -ENOMEM. */
int nn_buf_reserve(nn_buf *b, size_t extra);
/* Returns a pointer to at least `want` writable bytes after the content (NULL on ENOMEM);
 * follow with nn_buf_commit() of how many were written. */
uint8_t *nn_buf_tail(nn_buf *b, size_t want);
void nn_buf_commit(nn_buf *b, size_t n);
int nn_buf_append(nn_buf *b, const void *data, size_t len);
/* Drops n bytes from the front; n <= len. */
void nn_buf_consume(nn_buf *b, size_t n);
void nn_buf_clear(nn_buf *b);
void nn_buf_free(nn_buf *b);

/* ----------------------------------------------------------- the MPSC queue */

/* An intrusive multi-producer single-consumer queue (lock-free push, wait-free pop for
 * the single consumer). Embed nn_qnode in the item. */
typedef struct nn_qnode {
    _Atomic(struct nn_qnode *) next;
} nn_qnode;

typedef struct nn_mpsc {
    _Atomic(nn_qnode *) head; /* producers swap here */
    nn_qnode *tail;           /* consumer only */
    nn_qnode stub;
} nn_mpsc;

void nn_mpsc_init(nn_mpsc *q);
/* Any thread. */
void nn_mpsc_push(nn_mpsc *q, nn_qnode *node);
/* The consumer thread only. Returns NULL when empty, or when a producer is mid-push (the
 * item shows up on a later pop; the producer's wake-up guarantees one). */
nn_qnode *nn_mpsc_pop(nn_mpsc *q);

/* ------------------------------------------------------------------ timers */

typedef struct nn_timer nn_timer;
typedef void (*nn_timer_fn)(nn_timer *timer);

/* Embed in the owning object; belongs to one loop. */
struct nn_timer {
    uint64_t deadline_ns;
    size_t heap_index; /* SIZE_MAX while not armed */
    nn_timer_fn fire;
    void *arg;
};

/* A binary min-heap of timers by deadline; the loop owns one. Exposed for unit tests. */
typedef struct nn_timer_heap {
    nn_timer **items;
    size_t len;
    size_t cap;
} nn_timer_heap;

void nn_timer_init(nn_timer *t, nn_timer_fn fire, void *arg);
static inline bool nn_timer_armed(const nn_timer *t) {
    return t->heap_index != SIZE_MAX;
}
void nn_timer_heap_init(nn_timer_heap *h);
/* Frees the heap's own storage. Timers still armed in it are left as they are (their
 * owners may already be freed) and must not be used with this heap again. */
void nn_timer_heap_free(nn_timer_heap *h);
/* Arms or re-arms t at deadline_ns. Returns 0 or -ENOMEM. */
int nn_timer_heap_arm(nn_timer_heap *h, nn_timer *t, uint64_t deadline_ns);
/* Disarms t if armed; idempotent. */
void nn_timer_heap_cancel(nn_timer_heap *h, nn_timer *t);
/* The earliest armed timer, or NULL. */
nn_timer *nn_timer_heap_peek(const nn_timer_heap *h);
/* Pops the earliest timer if its deadline <= now_ns (disarmed, not fired), else NULL. */
nn_timer *nn_timer_heap_pop_expired(nn_timer_heap *h, uint64_t now_ns);

/* ------------------------------------------------------------ loops/server */

typedef struct nn_loop nn_loop;     /* one worker thread and its io_uring */
typedef struct nn_server nn_server; /* the set of workers and their listeners */
typedef struct nn_stream nn_stream; /* one TCP connection as the protocol sees it */

/* Why a stream closed, passed to on_close. Negative errno values mean a socket error. */
enum {
    NN_CLOSE_LOCAL = 0,        /* nn_stream_close() by the protocol */
    NN_CLOSE_PEER = 1,         /* the peer closed (recv returned 0) */
    NN_CLOSE_DEADLINE = 2,     /* the stream's deadline passed */
    NN_CLOSE_SHUTDOWN = 3,     /* the server stopped */
    NN_CLOSE_LAYER = 4,        /* a layer (TLS) failed: see the why string */
    NN_CLOSE_REFUSED = 5,      /* refused at accept (max_connections) */
    NN_CLOSE_CONNECT = 6,      /* an outbound connect failed */
};

/* Events a layer reports to the protocol through on_event. */
enum {
    NN_STREAM_EV_SECURE = 1, /* the TLS handshake completed; facts are readable */
};

/* What a protocol implements. Callbacks run on the stream's loop. After on_close returns
 * the stream is freed: the protocol must drop every pointer to it. */
typedef struct nn_stream_handler {
    /* A connection was accepted (or an outbound connect completed). Set per-stream state
     * with nn_stream_set_user(). Return 0 to keep it, negative to close it. */
    int (*on_open)(nn_stream *s, void *handler_arg);
    /* New plaintext input is available: read it with nn_stream_input() and consume what
     * was used with nn_stream_consume(). What is left stays buffered; the callback runs
     * again only when more arrives. */
    void (*on_readable)(nn_stream *s);
    /* Optional: a layer event (NN_STREAM_EV_*). */
    void (*on_event)(nn_stream *s, int event);
    /* The last callback. reason is NN_CLOSE_* or a negative errno; why is a short text. */
    void (*on_close)(nn_stream *s, int reason, const char *why);
    /* Optional: the connection was accepted beyond max_connections. Write a refusal
     * (e.g. MySQL's error 1040); the stream is closed once it is flushed. on_open and
     * on_close are not called for a refused stream. */
    void (*on_refuse)(nn_stream *s, void *handler_arg);
    /* Optional: the server is stopping gracefully. Stop taking new work and call
     * nn_stream_close() once in-flight work is done. Without it the stream is closed at
     * once. Streams still open when the drain deadline passes are closed. */
    void (*on_drain)(nn_stream *s);
    /* Optional: the stream's deadline passed. Without it the stream is closed with
     * NN_CLOSE_DEADLINE. */
    void (*on_deadline)(nn_stream *s);
    /* Optional: asked for with nn_stream_want_writable(): the output pending has fallen to
     * the threshold given there (once per request). */
    void (*on_writable)(nn_stream *s);
    /* Optional: asked for with nn_stream_want_flush(): the round is ending and its output
     * is about to go to the kernel; a protocol that holds output back (to batch or
     * compress it) writes it now. Runs before a layer's flush, at most once per request. */
    void (*on_flush)(nn_stream *s);
} nn_stream_handler;

typedef struct nn_server_config {
    uint32_t workers;         /* 0 = one per online core */
    uint32_t max_connections; /* accepted streams across all workers; 0 = unlimited */
    uint32_t ring_entries;    /* 0 = 1024 */
    bool disable_buf_ring;    /* force the plain recv path (tests, old kernels) */
} nn_server_config;

typedef struct nn_listener_config {
    const char *name;   /* for logs: "mysql", "rpc" */
    const char *host;   /* numeric address, e.g. "127.0.0.1" or "0.0.0.0" */
    uint16_t port;      /* 0 = pick one: read it back with nn_server_listener_port() */
    const nn_stream_handler *handler;
    void *handler_arg;  /* borrowed; must outlive the server */
} nn_listener_config;

nn_server *nn_server_new(const nn_server_config *config, nn_err *err);
/* Binds one SO_REUSEPORT socket per worker for this listener; before nn_server_start().
 * Bind errors (EADDRINUSE, ...) are reported here. Returns the listener index or < 0. */
int nn_server_listen(nn_server *srv, const nn_listener_config *config, nn_err *err);
uint16_t nn_server_listener_port(const nn_server *srv, int listener);
/* Starts the worker threads; returns once every ring is set up and accepting. */
int nn_server_start(nn_server *srv, nn_err *err);
/* Any thread, async-signal-unsafe. Stops accepting, asks streams to drain (on_drain),
 * and closes whatever is left after drain_ns. Idempotent. */
void nn_server_stop(nn_server *srv, uint64_t drain_ns);
/* Joins the workers. Returns 0 once all have exited. */
int nn_server_wait(nn_server *srv);
/* After nn_server_wait() (or before start). */
void nn_server_free(nn_server *srv);
uint32_t nn_server_worker_count(const nn_server *srv);
/* Any thread (a reload): the limit new accepts are checked against from now on (0 =
 * unlimited). Streams already open stay, also when they are over the new limit. */
void nn_server_set_max_connections(nn_server *srv, uint32_t max_connections);
nn_loop *nn_server_loop(nn_server *srv, uint32_t index);

/* The loop that runs the calling thread, or NULL off the workers. */
nn_loop *nn_loop_current(void);
uint32_t nn_loop_index(const nn_loop *loop);
nn_server *nn_loop_server(nn_loop *loop);

/* Counters of one worker, readable from any thread (relaxed atomics). */
typedef struct nn_loop_stats {
    uint64_t accepted;   /* streams accepted by this worker */
    uint64_t refused;    /* refused over max_connections */
    uint64_t accept_errors; /* accept failures (EMFILE, ...), each followed by a pause */
    uint64_t open;       /* streams open now (accepted and outbound) */
    uint64_t bytes_in;   /* raw bytes received */
    uint64_t bytes_out;  /* raw bytes sent */
} nn_loop_stats;
void nn_loop_stats_get(nn_loop *loop, nn_loop_stats *out);

/* Work handed to a loop from any thread. Embed in the item; fn runs on the loop. The
 * task must stay valid until fn runs; fn may free it. */
typedef struct nn_task {
    nn_qnode node;
    void (*fn)(struct nn_task *task);
} nn_task;
/* Any thread. Queues the task and wakes the loop. Returns 0, or -ESHUTDOWN once the loop
 * has exited (the task will not run). */
int nn_loop_post(nn_loop *loop, nn_task *task);

/* Timers of this loop. The callback runs on the loop; it may re-arm. */
int nn_loop_timer_arm(nn_loop *loop, nn_timer *t, uint64_t deadline_ns);
void nn_loop_timer_cancel(nn_loop *loop, nn_timer *t);

/* Starts an outbound TCP connection on this loop. The handler's on_open runs when it is
 * connected, or on_close(NN_CLOSE_CONNECT or -errno) when it fails or deadline_ns passes
 * (0 = no deadline). The returned stream is valid until on_close; NULL on immediate
 * failure (err filled, no callback). */
nn_stream *nn_loop_connect(nn_loop *loop, const struct sockaddr *addr, socklen_t addrlen,
                           const nn_stream_handler *handler, void *handler_arg,
                           uint64_t deadline_ns, nn_err *err);

/* ----------------------------------------------------------------- streams */

/* The plaintext input not yet consumed. Valid until the callback returns. */
const uint8_t *nn_stream_input(nn_stream *s, size_t *len);
/* Consumes n bytes of the input (n <= the length nn_stream_input() returned). */
void nn_stream_consume(nn_stream *s, size_t n);
/* A hint from on_readable: the protocol cannot consume anything until the input holds
 * `total` bytes (a frame whose header gave its length). The input buffer is sized for them
 * at once rather than grown by doubling (a copy of the content at every step) as they
 * arrive. Without effect when total is not more than the input already holds. Returns 0,
 * or -ENOMEM (nothing changed; the input still grows as bytes arrive). */
int nn_stream_input_reserve(nn_stream *s, size_t total);
/* From on_readable: hands the protocol the storage of the input when its first n bytes are
 * a message it will use in place (a bulk RPC payload stays where it was received instead of
 * being copied out). Returns the block (malloc'd, the caller's to free) and sets *at to the
 * first of the n bytes in it and *cap to the block's size; those bytes count as consumed.
 * Whatever followed them stays the stream's input, in `spare` (a block of spare_cap bytes
 * the caller gives up, so that a bulk stream cycles two blocks instead of allocating and
 * page-faulting one per message) when it is given and large enough, else in fresh storage.
 * Returns NULL, changing nothing (the spare is still the caller's), when the input holds
 * fewer than n bytes, is a view of a receive buffer (not the stream's to give), or the
 * rest finds no memory. */
void *nn_stream_input_take(nn_stream *s, size_t n, uint8_t **at, size_t *cap, void *spare,
                           size_t spare_cap);

/* Queues plaintext for sending (copied; a layer transforms it first). Output is flushed
 * with one send SQE when the current callback round ends. Returns 0, or -EPIPE once the
 * stream is closing, -ENOMEM. */
int nn_stream_write(nn_stream *s, const void *data, size_t len);
int nn_stream_writev(nn_stream *s, const struct iovec *iov, int iovcnt);
/* Bytes queued and not yet acknowledged by the kernel (for back-pressure). */
size_t nn_stream_output_pending(const nn_stream *s);
/* Back-pressure: asks for one on_writable call once nn_stream_output_pending() is at most
 * low_water bytes (at the top of a later round, even when it already is). A new request
 * replaces the previous one. */
void nn_stream_want_writable(nn_stream *s, size_t low_water);
/* Asks for one on_flush call at the end of the current round. */
void nn_stream_want_flush(nn_stream *s);
/* Stops (paused = true) or resumes reading from the socket. While paused no receive is
 * armed, so the peer's bytes wait in the kernel and TCP flow control slows the peer down;
 * input that was already on its way may still arrive (a few receive buffers at most) and
 * is kept as input. A paused stream does not notice the peer's close until resumed or
 * until a send fails. */
void nn_stream_pause_reading(nn_stream *s, bool paused);

/* Closes gracefully: the layer's shutdown (close_notify), then queued output is flushed
 * (bounded by 1 s), then on_close(reason, why). Idempotent: later calls do nothing. */
void nn_stream_close(nn_stream *s, int reason, const char *why);

/* Sets the stream's single deadline (absolute nn_now_ns() value, 0 = none). */
void nn_stream_set_deadline(nn_stream *s, uint64_t deadline_ns);

void nn_stream_set_user(nn_stream *s, void *user);
void *nn_stream_user(const nn_stream *s);
nn_loop *nn_stream_loop(const nn_stream *s);
/* A process-unique id, e.g. MySQL's CONNECTION_ID(). */
uint64_t nn_stream_id(const nn_stream *s);
bool nn_stream_is_outbound(const nn_stream *s);
/* The peer's numeric address ("127.0.0.1") and port. */
const char *nn_stream_peer_host(const nn_stream *s);
uint16_t nn_stream_peer_port(const nn_stream *s);
/* Index of the listener that accepted this stream (-1 for outbound). */
int nn_stream_listener(const nn_stream *s);

/* ------------------------------------------------------------------ layers */

/* A layer sits between the socket and the protocol (TLS is one: security/). Raw bytes
 * from the socket go to ops->input; the layer hands plaintext up with
 * nn_stream_layer_deliver() and raw bytes down with nn_stream_layer_send(). */
typedef struct nn_stream_layer_ops {
    const char *name;
    /* Raw bytes arrived (or were already buffered when the layer was pushed). Return 0,
     * or a negative value with err filled to close the stream (NN_CLOSE_LAYER). */
    int (*input)(void *layer, nn_stream *s, const uint8_t *data, size_t len, nn_err *err);
    /* The protocol wrote plaintext. Return 0 or negative with err filled. */
    int (*write)(void *layer, nn_stream *s, const struct iovec *iov, int iovcnt, nn_err *err);
    /* Graceful close requested: queue any closing bytes with nn_stream_layer_send(). */
    void (*shutdown)(void *layer, nn_stream *s);
    /* Optional: net/ is about to hand the output to the kernel (at the end of every
     * callback round, before each send): turn whatever plaintext write() held back into raw
     * bytes with nn_stream_layer_send() now. A layer with this op may hold plaintext across
     * write() calls of one round (TLS seals many small writes into one record); it must not
     * hold more than 16 KiB, which nn_stream_output_pending() does not count. Return 0, or
     * negative with err filled to close the stream (NN_CLOSE_LAYER). */
    int (*flush)(void *layer, nn_stream *s, nn_err *err);
    /* The stream is being freed. */
    void (*free)(void *layer);
} nn_stream_layer_ops;

/* Pushes a layer onto the stream (one at most). Every input byte buffered and not yet
 * consumed by the protocol becomes the layer's input: once a protocol decides to start
 * TLS, nothing the peer sent before the handshake is ever read back as plaintext. */
int nn_stream_push_layer(nn_stream *s, const nn_stream_layer_ops *ops, void *layer, nn_err *err);
/* The stream's layer if it was pushed with these ops, else NULL. */
void *nn_stream_get0_layer(const nn_stream *s, const nn_stream_layer_ops *ops);
/* For layers: plaintext toward the protocol (copied into the stream's input). */
int nn_stream_layer_deliver(nn_stream *s, const uint8_t *data, size_t len);
/* For layers: space for up to `want` bytes of plaintext input, to write in place, then
 * nn_stream_layer_deliver_commit() with how many were written. NULL on ENOMEM. */
uint8_t *nn_stream_layer_deliver_space(nn_stream *s, size_t want);
void nn_stream_layer_deliver_commit(nn_stream *s, size_t n);
/* For layers: raw bytes toward the socket (copied into the output). */
int nn_stream_layer_send(nn_stream *s, const uint8_t *data, size_t len);
/* For layers: space for `want` raw output bytes, written in place, then commit. */
uint8_t *nn_stream_layer_send_space(nn_stream *s, size_t want);
void nn_stream_layer_send_commit(nn_stream *s, size_t n);
/* For layers: report an event (NN_STREAM_EV_*) to the protocol's on_event. */
void nn_stream_layer_event(nn_stream *s, int event);

#endif
