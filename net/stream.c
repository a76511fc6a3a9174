/* Streams: a TCP connection owned by one worker, its read and write paths, its deadline,
 * an optional layer (TLS), and the callbacks to the protocol above.
 *
 * Callbacks to the protocol run only from the top of the loop (a completion, a timer or
 * the dirty-stream pass), never from inside another of the protocol's own calls into the
 * stream, so that a protocol may close or write from any callback without re-entrancy. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/loop_internal.h"

/* How long a graceful close may spend flushing output before the stream is cut. */
#define CLOSE_FLUSH_NS NN_SEC(1)
/* Buffers larger than this are released when they empty, so an idle stream holds little. */
#define KEEP_BUFFER_BYTES 4096
#define FALLBACK_RECV_BYTES 16384

static _Atomic uint64_t next_stream_id = 1;

enum { ABORT_PENDING = 1 };

static void deadline_fired(nn_timer *t);
static void set_why(nn_stream *s, int reason, const char *why);

nn_stream *nn_stream_alloc(nn_loop *loop, int fd, const nn_stream_handler *handler,
                           void *handler_arg) {
    nn_stream *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->loop = loop;
    s->fd = fd;
    s->state = STREAM_CONNECTING;
    s->listener = -1;
    s->handler = handler;
    s->handler_arg = handler_arg;
    s->id = atomic_fetch_add_explicit(&next_stream_id, 1, memory_order_relaxed);
    s->recv_op.op.kind = OP_RECV;
    s->recv_op.s = s;
    s->send_op.op.kind = OP_SEND;
    s->send_op.s = s;
    s->connect_op.op.kind = OP_CONNECT;
    s->connect_op.s = s;
    nn_timer_init(&s->deadline, deadline_fired, s);
    s->next = loop->streams;
    if (loop->streams != NULL) {
        loop->streams->prev = s;
    }
    loop->streams = s;
    loop->live_streams++;
    atomic_fetch_add_explicit(&loop->counters.open, 1, memory_order_relaxed);
    return s;
}

/* ------------------------------------------------------------------ accessors */

void nn_stream_set_user(nn_stream *s, void *user) {
    s->user = user;
}
void *nn_stream_user(const nn_stream *s) {
    return s->user;
}
nn_loop *nn_stream_loop(const nn_stream *s) {
    return s->loop;
}
uint64_t nn_stream_id(const nn_stream *s) {
    return s->id;
}
bool nn_stream_is_outbound(const nn_stream *s) {
    return s->outbound;
}
const char *nn_stream_peer_host(const nn_stream *s) {
    return s->peer_host;
}
uint16_t nn_stream_peer_port(const nn_stream *s) {
    return s->peer_port;
}
int nn_stream_listener(const nn_stream *s) {
    return s->listener;
}
size_t nn_stream_output_pending(const nn_stream *s) {
    return s->out.len + s->sending.len;
}

void nn_stream_want_writable(nn_stream *s, size_t low_water) {
    s->want_writable = true;
    s->writable_low = low_water;
    nn_loop_mark_dirty(s->loop, s);
}

void nn_stream_want_flush(nn_stream *s) {
    if (!s->want_flush) {
        s->want_flush = true;
        nn_loop_mark_dirty(s->loop, s);
    }
}

/* ---------------------------------------------------------------- input */

const uint8_t *nn_stream_input(nn_stream *s, size_t *len) {
    if (s->view != NULL) {
        *len = s->view_len;
        return s->view;
    }
    *len = s->in.len;
    return nn_buf_begin(&s->in);
}

void nn_stream_consume(nn_stream *s, size_t n) {
    if (s->view != NULL) {
        if (n > s->view_len) {
            n = s->view_len;
        }
        s->view += n;
        s->view_len -= n;
        return;
    }
    nn_buf_consume(&s->in, n);
}

int nn_stream_input_reserve(nn_stream *s, size_t total) {
    /* In view mode `in` is empty and the view's remainder is copied into it afterwards. */
    size_t have = s->view != NULL ? s->view_len : s->in.len;
    if (total <= have) {
        return 0;
    }
    if (s->view == NULL && s->in.off > 0 && s->in.len > 0) {
        /* Slide the partial message to the front so the reservation is total, not off+total. */
        memmove(s->in.data, s->in.data + s->in.off, s->in.len);
        s->in.off = 0;
    }
    return nn_buf_reserve(&s->in, total - s->in.len);
}

void *nn_stream_input_take(nn_stream *s, size_t n, uint8_t **at, size_t *cap, void *spare,
                           size_t spare_cap) {
    if (s->view != NULL || n == 0 || s->in.len < n) {
        return NULL;
    }
    size_t left = s->in.len - n;
    nn_buf rest = {0};
    if (spare != NULL && spare_cap >= left && spare_cap > 0) {
        rest.data = spare;
        rest.cap = spare_cap;
        memcpy(rest.data, s->in.data + s->in.off + n, left);
        rest.len = left;
    } else if (nn_buf_append(&rest, s->in.data + s->in.off + n, left) != 0) {
        return NULL;
    }
    void *block = s->in.data;
    *at = s->in.data + s->in.off;
    *cap = s->in.cap;
    s->in.data = rest.data;
    s->in.off = 0;
    s->in.len = rest.len;
    s->in.cap = rest.cap;
    if (spare != NULL && rest.data != spare) {
        free(spare); /* too small for the rest: given up all the same */
    }
    return block;
}

static void trim_input(nn_stream *s) {
    /* Not while a view's remainder is still to be copied in (a reservation waits for it). */
    if (s->in.len == 0 && s->in.data != NULL && (s->view == NULL || s->view_len == 0)) {
        nn_buf_free(&s->in);
    }
}

static void dispatch_readable(nn_stream *s) {
    while (s->readable_pending && s->state == STREAM_OPEN) {
        s->readable_pending = false;
        s->handler->on_readable(s);
    }
    trim_input(s);
}

static void dispatch_events(nn_stream *s) {
    while (s->pending_events != 0 && s->state == STREAM_OPEN) {
        int ev = __builtin_ctz(s->pending_events);
        s->pending_events &= ~(1u << ev);
        if (s->handler->on_event != NULL) {
            s->handler->on_event(s, ev);
        }
    }
}

/* Raw bytes from the socket (or left over when a layer is pushed). */
static void input_raw(nn_stream *s, const uint8_t *data, size_t len) {
    if (s->layer_ops != NULL) {
        nn_err err;
        nn_err_clear(&err);
        if (s->layer_ops->input(s->layer, s, data, len, &err) < 0) {
            nn_stream_abort(s, NN_CLOSE_LAYER, err.msg[0] ? err.msg : "layer failed");
        }
        return;
    }
    if (s->in.len == 0) {
        /* The common case: hand the receive buffer up as is, copy only the remainder. */
        s->view = data;
        s->view_len = len;
        s->readable_pending = true;
        dispatch_readable(s);
        if (s->view != NULL && s->view_len > 0 && s->state == STREAM_OPEN &&
            nn_buf_append(&s->in, s->view, s->view_len) != 0) {
            nn_stream_abort(s, -ENOMEM, "out of memory");
        }
        s->view = NULL;
        s->view_len = 0;
        return;
    }
    if (nn_buf_append(&s->in, data, len) != 0) {
        nn_stream_abort(s, -ENOMEM, "out of memory");
        return;
    }
    s->readable_pending = true;
}

/* The peer sent FIN: what we still have queued is flushed (it may be the answer to the
 * peer's last request, after a half-close), then the stream closes. */
static void peer_closed(nn_stream *s) {
    if (s->state != STREAM_OPEN) {
        return;
    }
    set_why(s, NN_CLOSE_PEER, "peer closed the connection");
    s->state = STREAM_CLOSING;
    nn_loop_timer_arm(s->loop, &s->deadline, nn_now_ns() + CLOSE_FLUSH_NS);
    nn_loop_mark_dirty(s->loop, s);
}

static void recv_arm(nn_stream *s) {
    if (s->recv_armed || s->read_paused || s->state != STREAM_OPEN || s->fd < 0) {
        return;
    }
    nn_loop *loop = s->loop;
    struct io_uring_sqe *sqe = nn_loop_sqe(loop);
    if (loop->use_buf_ring) {
        io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 0;
    } else {
        if (s->recv_fallback == NULL) {
            s->recv_fallback = malloc(FALLBACK_RECV_BYTES);
            if (s->recv_fallback == NULL) {
                io_uring_prep_nop(sqe);
                io_uring_sqe_set_data(sqe, NULL);
                nn_stream_abort(s, -ENOMEM, "out of memory");
                return;
            }
        }
        io_uring_prep_recv(sqe, s->fd, s->recv_fallback, FALLBACK_RECV_BYTES, 0);
    }
    io_uring_sqe_set_data(sqe, &s->recv_op);
    s->recv_armed = true;
    s->pending_ops++;
}

void nn_stream_start_reading(nn_stream *s) {
    recv_arm(s);
    nn_loop_mark_dirty(s->loop, s);
}

static void cancel_op(nn_stream *s, stream_op *op);

void nn_stream_pause_reading(nn_stream *s, bool paused) {
    if (s->read_paused == paused) {
        return;
    }
    s->read_paused = paused;
    if (paused) {
        /* A multishot receive would go on filling the input: cancel it. Its last
         * completion (without F_MORE) clears recv_armed. */
        if (s->recv_armed && s->loop->use_buf_ring && !s->recv_cancelling &&
            s->state == STREAM_OPEN) {
            s->recv_cancelling = true;
            cancel_op(s, &s->recv_op);
        }
        return;
    }
    nn_loop_mark_dirty(s->loop, s); /* the service pass re-arms the receive */
}

static void on_recv(nn_stream *s, struct io_uring_cqe *cqe) {
    nn_loop *loop = s->loop;
    bool more = loop->use_buf_ring && (cqe->flags & IORING_CQE_F_MORE);
    if (!more) {
        s->recv_armed = false;
        s->recv_cancelling = false;
        s->pending_ops--;
    }
    int res = cqe->res;
    if (res > 0) {
        const uint8_t *data = s->recv_fallback;
        bool from_ring = cqe->flags & IORING_CQE_F_BUFFER;
        uint16_t bid = 0;
        if (from_ring) {
            bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            data = loop->buf_base + (size_t)bid * loop->buf_size;
        }
        atomic_fetch_add_explicit(&loop->counters.bytes_in, (uint64_t)res, memory_order_relaxed);
        if (s->state == STREAM_OPEN) {
            input_raw(s, data, (size_t)res);
        }
        if (from_ring) {
            nn_loop_recv_buffer_return(loop, bid);
        }
        nn_stream_service(s);
    } else if (res == 0) {
        peer_closed(s);
    } else if (res == -ENOBUFS) {
        /* Every receive buffer in circulation is lent out right now: more go in if some are
         * left, and the receive is re-armed after this round of completions has returned
         * its buffers. */
        (void)nn_loop_recv_buffers_grow(loop);
        nn_loop_mark_dirty(loop, s);
    } else if (res != -ECANCELED) {
        nn_stream_abort(s, res, strerror(-res));
    }
    if (!s->recv_armed && s->state == STREAM_OPEN && res != -ENOBUFS) {
        recv_arm(s);
    }
}

/* ---------------------------------------------------------------- output */

static void send_submit(nn_stream *s) {
    if (s->send_inflight || s->fd < 0) {
        return;
    }
    if (s->sending.len == 0) {
        if (s->out.len == 0) {
            return;
        }
        /* Swap the buffers: new writes go on while the kernel owns `sending`. */
        nn_buf swap = s->sending;
        s->sending = s->out;
        s->out = swap;
    }
    struct io_uring_sqe *sqe = nn_loop_sqe(s->loop);
    io_uring_prep_send(sqe, s->fd, nn_buf_begin(&s->sending), s->sending.len, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, &s->send_op);
    s->send_inflight = true;
    s->pending_ops++;
}

static void on_send(nn_stream *s, struct io_uring_cqe *cqe) {
    s->send_inflight = false;
    s->pending_ops--;
    if (cqe->res < 0) {
        nn_buf_clear(&s->sending);
        if (cqe->res != -ECANCELED) {
            nn_stream_abort(s, cqe->res, strerror(-cqe->res));
        }
        return;
    }
    atomic_fetch_add_explicit(&s->loop->counters.bytes_out, (uint64_t)cqe->res,
                              memory_order_relaxed);
    nn_buf_consume(&s->sending, (size_t)cqe->res);
    if (s->sending.len == 0 && (s->sending.cap > KEEP_BUFFER_BYTES || s->out.len == 0)) {
        /* Nothing more to send: the stream may stay idle for hours, so it keeps no output
         * storage (both buffers, ~1-3 KB per idle connection otherwise). A busy stream (more
         * output already queued) keeps its small buffer for the next swap. */
        nn_buf_free(&s->sending);
        if (s->out.len == 0) {
            nn_buf_free(&s->out);
        }
    }
    if (s->state != STREAM_CLOSED) {
        nn_loop_mark_dirty(s->loop, s);
    }
}

/* Writes at least this large size the output once up front instead of letting it double
 * (and copy what it holds) as they are appended. */
#define WRITE_RESERVE_MIN 65536
/* A layer's output may exceed its input: TLS adds 22 bytes per 16 KiB record. */
#define LAYER_GROWTH(n) ((n) / 512 + 256)

int nn_stream_writev(nn_stream *s, const struct iovec *iov, int iovcnt) {
    if (s->state != STREAM_OPEN && s->state != STREAM_CONNECTING) {
        return -EPIPE;
    }
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
    }
    if (total >= WRITE_RESERVE_MIN) {
        /* Only a hint: without the room the output grows as it is appended. */
        (void)nn_buf_reserve(&s->out, s->layer_ops != NULL ? total + LAYER_GROWTH(total) : total);
    }
    if (s->layer_ops != NULL) {
        nn_err err;
        nn_err_clear(&err);
        int rc = s->layer_ops->write(s->layer, s, iov, iovcnt, &err);
        if (rc < 0) {
            nn_stream_abort(s, NN_CLOSE_LAYER, err.msg[0] ? err.msg : "layer write failed");
            return rc;
        }
    } else {
        for (int i = 0; i < iovcnt; i++) {
            if (nn_buf_append(&s->out, iov[i].iov_base, iov[i].iov_len) != 0) {
                nn_stream_abort(s, -ENOMEM, "out of memory");
                return -ENOMEM;
            }
        }
    }
    nn_loop_mark_dirty(s->loop, s);
    return 0;
}

int nn_stream_write(nn_stream *s, const void *data, size_t len) {
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    return nn_stream_writev(s, &iov, 1);
}

/* ---------------------------------------------------------------- layers */

int nn_stream_push_layer(nn_stream *s, const nn_stream_layer_ops *ops, void *layer, nn_err *err) {
    if (s->layer_ops != NULL) {
        return nn_err_set(err, EBUSY, "stream already has a %s layer", s->layer_ops->name);
    }
    if (s->state != STREAM_OPEN && s->state != STREAM_CONNECTING) {
        return nn_err_set(err, EPIPE, "stream is closing");
    }
    s->layer_ops = ops;
    s->layer = layer;
    /* Whatever the peer sent and the protocol did not consume is layer input now, never
     * plaintext (the class of CVE-2021-23214). */
    nn_buf leftover = s->in;
    memset(&s->in, 0, sizeof(s->in));
    const uint8_t *view = s->view;
    size_t view_len = s->view_len;
    s->view = NULL;
    s->view_len = 0;
    int rc = 0;
    if (view != NULL && view_len > 0) {
        rc = ops->input(layer, s, view, view_len, err);
    }
    if (rc == 0 && leftover.len > 0) {
        rc = ops->input(layer, s, nn_buf_begin(&leftover), leftover.len, err);
    }
    nn_buf_free(&leftover);
    if (rc < 0) {
        nn_stream_abort(s, NN_CLOSE_LAYER, err != NULL ? err->msg : "layer failed");
        return rc;
    }
    nn_loop_mark_dirty(s->loop, s);
    return 0;
}

void *nn_stream_get0_layer(const nn_stream *s, const nn_stream_layer_ops *ops) {
    return s->layer_ops == ops ? s->layer : NULL;
}

int nn_stream_layer_deliver(nn_stream *s, const uint8_t *data, size_t len) {
    if (nn_buf_append(&s->in, data, len) != 0) {
        return -ENOMEM;
    }
    s->readable_pending = true;
    nn_loop_mark_dirty(s->loop, s);
    return 0;
}

uint8_t *nn_stream_layer_deliver_space(nn_stream *s, size_t want) {
    return nn_buf_tail(&s->in, want);
}

void nn_stream_layer_deliver_commit(nn_stream *s, size_t n) {
    if (n == 0) {
        return;
    }
    nn_buf_commit(&s->in, n);
    s->readable_pending = true;
    nn_loop_mark_dirty(s->loop, s);
}

int nn_stream_layer_send(nn_stream *s, const uint8_t *data, size_t len) {
    if (nn_buf_append(&s->out, data, len) != 0) {
        return -ENOMEM;
    }
    nn_loop_mark_dirty(s->loop, s);
    return 0;
}

uint8_t *nn_stream_layer_send_space(nn_stream *s, size_t want) {
    return nn_buf_tail(&s->out, want);
}

void nn_stream_layer_send_commit(nn_stream *s, size_t n) {
    nn_buf_commit(&s->out, n);
    nn_loop_mark_dirty(s->loop, s);
}

void nn_stream_layer_event(nn_stream *s, int event) {
    if (event > 0 && event < 32) {
        s->pending_events |= 1u << event;
        nn_loop_mark_dirty(s->loop, s);
    }
}

/* ---------------------------------------------------------------- closing */

static void set_why(nn_stream *s, int reason, const char *why) {
    s->close_reason = reason;
    /* Longer reasons are cut on purpose: the stream keeps a short one for on_close. */
    size_t n = why != NULL ? strlen(why) : 0;
    if (n > sizeof(s->close_why) - 1) {
        n = sizeof(s->close_why) - 1;
    }
    memcpy(s->close_why, why != NULL ? why : "", n);
    s->close_why[n] = '\0';
}

void nn_stream_close(nn_stream *s, int reason, const char *why) {
    if (s->state == STREAM_CLOSING || s->state == STREAM_CLOSED) {
        return;
    }
    if (s->state == STREAM_CONNECTING) {
        nn_stream_abort(s, reason, why);
        return;
    }
    set_why(s, reason, why);
    s->state = STREAM_CLOSING;
    if (s->layer_ops != NULL && s->layer_ops->shutdown != NULL) {
        s->layer_ops->shutdown(s->layer, s);
    }
    nn_loop_timer_arm(s->loop, &s->deadline, nn_now_ns() + CLOSE_FLUSH_NS);
    nn_loop_mark_dirty(s->loop, s);
}

void nn_stream_abort(nn_stream *s, int reason, const char *why) {
    if (s->state == STREAM_CLOSED || s->abort_pending) {
        return;
    }
    if (s->state != STREAM_CLOSING) {
        set_why(s, reason, why);
    }
    s->state = STREAM_CLOSING;
    s->abort_pending = true;
    nn_buf_clear(&s->out);
    nn_loop_mark_dirty(s->loop, s);
}

static void cancel_op(nn_stream *s, stream_op *op) {
    struct io_uring_sqe *sqe = nn_loop_sqe(s->loop);
    io_uring_prep_cancel(sqe, op, 0);
    io_uring_sqe_set_data(sqe, NULL);
}

/* The stream is done: stop its I/O, tell the protocol, release what it holds. The memory
 * itself goes once no SQE points at it any more (nn_stream_freeable). */
static void finalize(nn_stream *s) {
    nn_loop *loop = s->loop;
    s->state = STREAM_CLOSED;
    s->closed_next = loop->closed;
    loop->closed = s;
    nn_loop_timer_cancel(loop, &s->deadline);
    if (s->recv_armed) {
        cancel_op(s, &s->recv_op);
    }
    if (s->connect_addr != NULL) {
        cancel_op(s, &s->connect_op);
    }
    if (s->fd >= 0) {
        /* Wakes any receive still armed and sends FIN (or RST after an abort). */
        shutdown(s->fd, SHUT_RDWR);
    }
    if (!s->refused && !s->close_notified && s->handler->on_close != NULL) {
        s->close_notified = true;
        s->handler->on_close(s, s->close_reason, s->close_why);
    }
    s->close_notified = true;
    atomic_fetch_sub_explicit(&loop->counters.open, 1, memory_order_relaxed);
    if (s->listener >= 0) {
        atomic_fetch_sub_explicit(&loop->srv->open_accepted, 1, memory_order_acq_rel);
    }
    nn_buf_free(&s->in);
    nn_buf_free(&s->out);
}

/* The round's writes are done: a layer that held plaintext back (TLS, to seal many small
 * writes into one record) turns it into output now, before it is sent. */
static void layer_flush(nn_stream *s) {
    if (s->layer_ops == NULL || s->layer_ops->flush == NULL) {
        return;
    }
    nn_err err;
    nn_err_clear(&err);
    if (s->layer_ops->flush(s->layer, s, &err) < 0) {
        nn_stream_abort(s, NN_CLOSE_LAYER, err.msg[0] ? err.msg : "layer flush failed");
    }
}

void nn_stream_service(nn_stream *s) {
    if (s->state == STREAM_CLOSED) {
        return;
    }
    if (s->state == STREAM_OPEN) {
        dispatch_events(s);
        dispatch_readable(s);
        if (s->want_writable && s->state == STREAM_OPEN &&
            nn_stream_output_pending(s) <= s->writable_low) {
            s->want_writable = false;
            if (s->handler->on_writable != NULL) {
                s->handler->on_writable(s);
            }
        }
        if (s->want_flush && s->state == STREAM_OPEN) {
            s->want_flush = false;
            if (s->handler->on_flush != NULL) {
                s->handler->on_flush(s);
            }
        }
        if (!s->recv_armed && s->state == STREAM_OPEN) {
            recv_arm(s);
        }
    }
    if (s->state == STREAM_OPEN || (s->state == STREAM_CLOSING && !s->abort_pending)) {
        layer_flush(s);
    }
    if (s->state == STREAM_OPEN || (s->state == STREAM_CLOSING && !s->abort_pending)) {
        send_submit(s);
    }
    if (s->state == STREAM_CLOSING &&
        (s->abort_pending || (!s->send_inflight && s->out.len == 0 && s->sending.len == 0))) {
        finalize(s);
    }
}

static void deadline_fired(nn_timer *t) {
    nn_stream *s = t->arg;
    if (s->state == STREAM_CONNECTING) {
        nn_stream_abort(s, NN_CLOSE_CONNECT, "connect timed out");
    } else if (s->state == STREAM_CLOSING) {
        nn_stream_abort(s, s->close_reason, "output not flushed within the close bound");
    } else if (s->state == STREAM_OPEN && s->handler->on_deadline != NULL) {
        s->handler->on_deadline(s);
        nn_loop_mark_dirty(s->loop, s);
    } else {
        nn_stream_abort(s, NN_CLOSE_DEADLINE, "deadline passed");
    }
}

void nn_stream_set_deadline(nn_stream *s, uint64_t deadline_ns) {
    if (s->state == STREAM_CLOSING || s->state == STREAM_CLOSED) {
        return;
    }
    if (deadline_ns == 0) {
        nn_loop_timer_cancel(s->loop, &s->deadline);
    } else {
        nn_loop_timer_arm(s->loop, &s->deadline, deadline_ns);
    }
}

void nn_stream_drain(nn_stream *s) {
    if (s->state == STREAM_CONNECTING) {
        nn_stream_abort(s, NN_CLOSE_SHUTDOWN, "server stopped");
        return;
    }
    if (s->state != STREAM_OPEN || s->drained) {
        return;
    }
    s->drained = true;
    if (s->handler->on_drain != NULL) {
        s->handler->on_drain(s);
        nn_loop_mark_dirty(s->loop, s);
    } else {
        nn_stream_close(s, NN_CLOSE_SHUTDOWN, "server stopped");
    }
}

bool nn_stream_freeable(const nn_stream *s) {
    return s->state == STREAM_CLOSED && s->pending_ops == 0;
}

void nn_stream_destroy(nn_stream *s) {
    nn_loop *loop = s->loop;
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        loop->streams = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    if (s->layer_ops != NULL && s->layer_ops->free != NULL) {
        s->layer_ops->free(s->layer);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    nn_buf_free(&s->in);
    nn_buf_free(&s->out);
    nn_buf_free(&s->sending);
    free(s->recv_fallback);
    loop->live_streams--;
    free(s);
}

/* ---------------------------------------------------------------- connect */

static void on_connect(nn_stream *s, struct io_uring_cqe *cqe) {
    s->pending_ops--;
    free(s->connect_addr);
    s->connect_addr = NULL;
    if (s->state != STREAM_CONNECTING) {
        return;
    }
    if (cqe->res < 0) {
        char why[96];
        snprintf(why, sizeof(why), "connect to %s:%u: %s", s->peer_host, s->peer_port,
                 cqe->res == -ECANCELED ? "timed out" : strerror(-cqe->res));
        nn_stream_abort(s, NN_CLOSE_CONNECT, why);
        return;
    }
    s->state = STREAM_OPEN;
    if (s->handler->on_open(s, s->handler_arg) != 0) {
        s->refused = true; /* the protocol kept no state: no on_close */
        nn_stream_close(s, NN_CLOSE_LOCAL, "refused by the protocol");
        return;
    }
    recv_arm(s);
    nn_loop_mark_dirty(s->loop, s);
}

nn_stream *nn_loop_connect(nn_loop *loop, const struct sockaddr *addr, socklen_t addrlen,
                           const nn_stream_handler *handler, void *handler_arg,
                           uint64_t deadline_ns, nn_err *err) {
    if (addrlen > sizeof(struct sockaddr_storage)) {
        nn_err_set(err, EINVAL, "address too long");
        return NULL;
    }
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        nn_err_set(err, errno, "socket: %s", strerror(errno));
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_storage *copy = malloc(sizeof(*copy));
    nn_stream *s = copy != NULL ? nn_stream_alloc(loop, fd, handler, handler_arg) : NULL;
    if (s == NULL) {
        free(copy);
        close(fd);
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(copy, addr, addrlen);
    s->connect_addr = copy;
    s->outbound = true;
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, s->peer_host, sizeof(s->peer_host));
        s->peer_port = ntohs(in6->sin6_port);
    } else {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &in4->sin_addr, s->peer_host, sizeof(s->peer_host));
        s->peer_port = ntohs(in4->sin_port);
    }
    struct io_uring_sqe *sqe = nn_loop_sqe(loop);
    io_uring_prep_connect(sqe, fd, (struct sockaddr *)copy, addrlen);
    io_uring_sqe_set_data(sqe, &s->connect_op);
    s->pending_ops++;
    if (deadline_ns != 0) {
        nn_loop_timer_arm(loop, &s->deadline, deadline_ns);
    }
    return s;
}

void nn_stream_on_cqe(stream_op *op, struct io_uring_cqe *cqe) {
    nn_stream *s = op->s;
    switch (op->op.kind) {
    case OP_RECV:
        on_recv(s, cqe);
        break;
    case OP_SEND:
        on_send(s, cqe);
        break;
    case OP_CONNECT:
        on_connect(s, cqe);
        break;
    default:
        break;
    }
}
