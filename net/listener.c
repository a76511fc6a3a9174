/* Listening sockets: one SO_REUSEPORT socket per worker and listener, each with one
 * multishot accept armed, so the kernel spreads connections across the workers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/loop_internal.h"

/* After EMFILE/ENFILE/ENOMEM the accept is re-armed this much later, not at once: a
 * process out of descriptors would otherwise spin on the same failing accept. */
#define ACCEPT_RETRY_NS NN_MS(100)

static int parse_addr(const char *host, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *len) {
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        *len = sizeof(*in4);
        return 0;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof(*in6);
        return 0;
    }
    return -EINVAL;
}

/* A TCP socket for host:port with SO_REUSEADDR set, and the parsed address. */
static int socket_for(const char *host, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *len, nn_err *err) {
    if (parse_addr(host, port, ss, len) != 0) {
        return nn_err_set(err, EINVAL, "'%s' is not a numeric IPv4 or IPv6 address", host);
    }
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return nn_err_set(err, errno, "socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    return fd;
}

int nn_listener_probe(const listener_def *def, nn_err *err) {
    struct sockaddr_storage ss;
    socklen_t len;
    /* SO_REUSEADDR without SO_REUSEPORT: connections in TIME_WAIT do not count, a
     * listening socket does. */
    int fd = socket_for(def->host, def->port, &ss, &len, err);
    if (fd < 0) {
        return fd;
    }
    int rc = 0;
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        rc = nn_err_set(err, errno, "bind: %s", strerror(errno));
    }
    close(fd);
    return rc;
}

int nn_listener_open(const listener_def *def, uint16_t *port_io, nn_err *err) {
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = socket_for(def->host, *port_io, &ss, &len, err);
    if (fd < 0) {
        return fd;
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        int e = errno;
        close(fd);
        return nn_err_set(err, e, "SO_REUSEPORT: %s", strerror(e));
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        return nn_err_set(err, e, "bind: %s", strerror(e));
    }
    if (listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        return nn_err_set(err, e, "listen: %s", strerror(e));
    }
    if (*port_io == 0) {
        /* The first socket picked a port: the other workers bind that same one. */
        struct sockaddr_storage bound;
        socklen_t blen = sizeof(bound);
        getsockname(fd, (struct sockaddr *)&bound, &blen);
        *port_io = ntohs(bound.ss_family == AF_INET6
                             ? ((struct sockaddr_in6 *)&bound)->sin6_port
                             : ((struct sockaddr_in *)&bound)->sin_port);
    }
    return fd;
}

static void accept_retry(nn_timer *t);

void nn_listener_slot_init(listen_slot *slot, nn_loop *loop, int index, int fd) {
    slot->op.kind = OP_ACCEPT;
    slot->fd = fd;
    slot->index = index;
    slot->loop = loop;
    slot->armed = false;
    nn_timer_init(&slot->retry, accept_retry, slot);
}

void nn_listener_arm(nn_loop *loop, listen_slot *slot) {
    if (slot->fd < 0 || slot->armed || loop->stopping) {
        return;
    }
    struct io_uring_sqe *sqe = nn_loop_sqe(loop);
    io_uring_prep_multishot_accept(sqe, slot->fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, &slot->op);
    slot->armed = true;
}

static void accept_retry(nn_timer *t) {
    listen_slot *slot = t->arg;
    nn_listener_arm(slot->loop, slot);
}

static void peer_fill(nn_stream *s) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(s->fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(s->peer_host, sizeof(s->peer_host), "?");
        return;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, s->peer_host, sizeof(s->peer_host));
        s->peer_port = ntohs(in6->sin6_port);
    } else {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in4->sin_addr, s->peer_host, sizeof(s->peer_host));
        s->peer_port = ntohs(in4->sin_port);
    }
}

static void accepted(nn_loop *loop, listen_slot *slot, int fd) {
    nn_server *srv = loop->srv;
    const listener_def *def = &srv->listeners[slot->index];
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    nn_stream *s = nn_stream_alloc(loop, fd, def->handler, def->handler_arg);
    if (s == NULL) {
        close(fd);
        return;
    }
    s->listener = (int16_t)slot->index;
    peer_fill(s);
    uint64_t limit = atomic_load_explicit(&srv->max_connections, memory_order_relaxed);
    uint64_t open = atomic_fetch_add_explicit(&srv->open_accepted, 1, memory_order_acq_rel) + 1;
    if (limit != 0 && open > limit) {
        atomic_fetch_add_explicit(&loop->counters.refused, 1, memory_order_relaxed);
        s->refused = true;
        s->state = STREAM_OPEN;
        nn_log(NN_LOG_WARN, "net.refused", "listener=%s peer=%s:%u reason=max_connections limit=%lu",
               def->name, s->peer_host, s->peer_port, (unsigned long)limit);
        if (def->handler->on_refuse != NULL) {
            def->handler->on_refuse(s, def->handler_arg);
        }
        nn_stream_close(s, NN_CLOSE_REFUSED, "max_connections reached");
        return;
    }
    atomic_fetch_add_explicit(&loop->counters.accepted, 1, memory_order_relaxed);
    s->state = STREAM_OPEN;
    if (def->handler->on_open(s, def->handler_arg) != 0) {
        s->refused = true; /* the protocol kept no state: no on_close */
        nn_stream_close(s, NN_CLOSE_LOCAL, "refused by the protocol");
        return;
    }
    nn_stream_start_reading(s);
}

void nn_listener_on_cqe(listen_slot *slot, struct io_uring_cqe *cqe) {
    nn_loop *loop = slot->loop;
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        slot->armed = false;
    }
    if (cqe->res >= 0) {
        if (loop->stopping) {
            close(cqe->res);
            return;
        }
        accepted(loop, slot, cqe->res);
    } else if (cqe->res != -ECANCELED) {
        int e = -cqe->res;
        atomic_fetch_add_explicit(&loop->counters.accept_errors, 1, memory_order_relaxed);
        if (e == EMFILE || e == ENFILE || e == ENOMEM || e == ENOBUFS) {
            nn_log(NN_LOG_WARN, "net.accept", "listener=%s error=\"%s\" retry_ms=100",
                   loop->srv->listeners[slot->index].name, strerror(e));
            if (slot->armed) {
                /* Multishot accept stays armed after an error on some kernels: cancel it
                 * so that the retry timer paces the next attempt. */
                struct io_uring_sqe *sqe = nn_loop_sqe(loop);
                io_uring_prep_cancel(sqe, &slot->op, 0);
                io_uring_sqe_set_data(sqe, NULL);
            }
            nn_loop_timer_arm(loop, &slot->retry, nn_now_ns() + ACCEPT_RETRY_NS);
            return;
        }
    }
    if (!slot->armed && !loop->stopping && !nn_timer_armed(&slot->retry)) {
        nn_listener_arm(loop, slot);
    }
}

void nn_listener_close(nn_loop *loop, listen_slot *slot) {
    if (slot->fd < 0) {
        return;
    }
    if (slot->armed) {
        struct io_uring_sqe *sqe = nn_loop_sqe(loop);
        io_uring_prep_cancel(sqe, &slot->op, 0);
        io_uring_sqe_set_data(sqe, NULL);
    }
    nn_loop_timer_cancel(loop, &slot->retry);
    /* shutdown() makes the kernel stop queueing connections for this socket at once. */
    shutdown(slot->fd, SHUT_RDWR);
}
