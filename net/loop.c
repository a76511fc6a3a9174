/* The workers: one thread, one io_uring, one timer heap and one task queue each. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "net/loop_internal.h"

/* Up to 256 buffers of 16 KiB per worker: a TLS record fits one buffer, and 4 MiB per worker
 * serves thousands of connections because a buffer goes back to the ring as soon as its
 * bytes are handed up. The ring starts with RECV_BUF_START of them and doubles when a receive
 * finds none (nn_loop_recv_buffers_grow): the kernel takes buffers in ring order, so every
 * buffer in the ring is soon written to however few are lent out at once, and an idle node's
 * heartbeats alone had made all 256 resident (1-4 MiB per worker, most of a small mesh's
 * memory per channel). */
#define RECV_BUF_COUNT 256
#define RECV_BUF_START 16
#define RECV_BUF_SIZE 16384
#define RECV_BUF_GROUP 0

static _Thread_local nn_loop *current_loop;

nn_loop *nn_loop_current(void) {
    return current_loop;
}

uint32_t nn_loop_index(const nn_loop *loop) {
    return loop->index;
}

nn_server *nn_loop_server(nn_loop *loop) {
    return loop->srv;
}

void nn_loop_stats_get(nn_loop *loop, nn_loop_stats *out) {
    out->accepted = atomic_load_explicit(&loop->counters.accepted, memory_order_relaxed);
    out->refused = atomic_load_explicit(&loop->counters.refused, memory_order_relaxed);
    out->accept_errors =
        atomic_load_explicit(&loop->counters.accept_errors, memory_order_relaxed);
    out->open = atomic_load_explicit(&loop->counters.open, memory_order_relaxed);
    out->bytes_in = atomic_load_explicit(&loop->counters.bytes_in, memory_order_relaxed);
    out->bytes_out = atomic_load_explicit(&loop->counters.bytes_out, memory_order_relaxed);
}

struct io_uring_sqe *nn_loop_sqe(nn_loop *loop) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
    while (sqe == NULL) {
        /* The submission queue is full: hand what is there to the kernel and retry. */
        io_uring_submit(&loop->ring);
        sqe = io_uring_get_sqe(&loop->ring);
    }
    return sqe;
}

void nn_loop_mark_dirty(nn_loop *loop, nn_stream *s) {
    if (!s->in_dirty_list) {
        s->in_dirty_list = true;
        s->dirty_next = loop->dirty;
        loop->dirty = s;
    }
}

int nn_loop_timer_arm(nn_loop *loop, nn_timer *t, uint64_t deadline_ns) {
    return nn_timer_heap_arm(&loop->timers, t, deadline_ns);
}

void nn_loop_timer_cancel(nn_loop *loop, nn_timer *t) {
    nn_timer_heap_cancel(&loop->timers, t);
}

/* ------------------------------------------------------------ receive buffers */

static int buf_ring_setup(nn_loop *loop) {
    size_t ring_bytes = RECV_BUF_COUNT * sizeof(struct io_uring_buf);
    void *ring_mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
                          -1, 0);
    if (ring_mem == MAP_FAILED) {
        return -errno;
    }
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)ring_mem,
        .ring_entries = RECV_BUF_COUNT,
        .bgid = RECV_BUF_GROUP,
    };
    int rc = io_uring_register_buf_ring(&loop->ring, &reg, 0);
    if (rc != 0) {
        munmap(ring_mem, ring_bytes);
        return rc;
    }
    loop->buf_ring = ring_mem;
    loop->buf_base = malloc((size_t)RECV_BUF_COUNT * RECV_BUF_SIZE);
    if (loop->buf_base == NULL) {
        io_uring_unregister_buf_ring(&loop->ring, RECV_BUF_GROUP);
        munmap(ring_mem, ring_bytes);
        loop->buf_ring = NULL;
        return -ENOMEM;
    }
    loop->buf_count = RECV_BUF_COUNT;
    loop->buf_size = RECV_BUF_SIZE;
    loop->buf_added = 0;
    io_uring_buf_ring_init(loop->buf_ring);
    nn_loop_recv_buffers_grow(loop);
    return 0;
}

bool nn_loop_recv_buffers_grow(nn_loop *loop) {
    if (loop->buf_grew) {
        return true; /* once a round: the other receives that found none wait for its buffers */
    }
    uint32_t from = loop->buf_added;
    uint32_t add = from == 0 ? RECV_BUF_START : from;
    if (add > loop->buf_count - from) {
        add = loop->buf_count - from;
    }
    if (add == 0) {
        return false;
    }
    int mask = io_uring_buf_ring_mask(loop->buf_count);
    for (uint32_t i = 0; i < add; i++) {
        uint32_t bid = from + i;
        io_uring_buf_ring_add(loop->buf_ring, loop->buf_base + (size_t)bid * loop->buf_size,
                              loop->buf_size, (unsigned short)bid, mask, (int)i);
    }
    io_uring_buf_ring_advance(loop->buf_ring, (int)add);
    loop->buf_added = from + add;
    loop->buf_grew = true;
    return true;
}

void nn_loop_recv_buffer_return(nn_loop *loop, uint16_t bid) {
    io_uring_buf_ring_add(loop->buf_ring, loop->buf_base + (size_t)bid * loop->buf_size,
                          loop->buf_size, bid, io_uring_buf_ring_mask(loop->buf_count), 0);
    io_uring_buf_ring_advance(loop->buf_ring, 1);
}

static void buf_ring_teardown(nn_loop *loop) {
    if (loop->buf_ring != NULL) {
        io_uring_unregister_buf_ring(&loop->ring, RECV_BUF_GROUP);
        munmap(loop->buf_ring, RECV_BUF_COUNT * sizeof(struct io_uring_buf));
        loop->buf_ring = NULL;
    }
    free(loop->buf_base);
    loop->buf_base = NULL;
}

/* ---------------------------------------------------------------- tasks */

static void wake_arm(nn_loop *loop) {
    struct io_uring_sqe *sqe = nn_loop_sqe(loop);
    io_uring_prep_read(sqe, loop->wake_fd, &loop->wake_value, sizeof(loop->wake_value), 0);
    io_uring_sqe_set_data(sqe, &loop->wake_op);
}

static void tasks_run(nn_loop *loop) {
    nn_qnode *node;
    while ((node = nn_mpsc_pop(&loop->tasks)) != NULL) {
        nn_task *task = (nn_task *)node; /* node is the first member */
        task->fn(task);
    }
}

int nn_loop_post(nn_loop *loop, nn_task *task) {
    /* With the exit path below this is a store-then-load handshake on two flags: only
     * sequential consistency keeps both sides from missing each other's store. */
    atomic_fetch_add(&loop->posting, 1);
    if (atomic_load(&loop->exited)) {
        atomic_fetch_sub_explicit(&loop->posting, 1, memory_order_acq_rel);
        return -ESHUTDOWN;
    }
    nn_mpsc_push(&loop->tasks, &task->node);
    /* One eventfd write per batch of posts: the loop clears the flag before draining. */
    if (atomic_exchange_explicit(&loop->wake_pending, 1, memory_order_acq_rel) == 0) {
        uint64_t one = 1;
        ssize_t rc = write(loop->wake_fd, &one, sizeof(one));
        (void)rc;
    }
    atomic_fetch_sub_explicit(&loop->posting, 1, memory_order_acq_rel);
    return 0;
}

/* ---------------------------------------------------------------- stopping */

static void drain_deadline(nn_timer *t) {
    nn_loop *loop = t->arg;
    for (nn_stream *s = loop->streams; s != NULL; s = s->next) {
        if (s->state < STREAM_CLOSED) {
            nn_stream_abort(s, NN_CLOSE_SHUTDOWN, "server stopped");
        }
    }
}

static void stop_on_loop(nn_task *task) {
    nn_loop *loop = (nn_loop *)((char *)task - offsetof(nn_loop, stop_task));
    if (loop->stopping) {
        return;
    }
    loop->stopping = true;
    for (int i = 0; i < loop->srv->listener_count; i++) {
        nn_listener_close(loop, &loop->slots[i]);
    }
    nn_timer_init(&loop->drain_timer, drain_deadline, loop);
    nn_loop_timer_arm(loop, &loop->drain_timer, nn_now_ns() + loop->drain_ns);
    /* on_drain may close streams: walk a snapshot of the links defensively. */
    nn_stream *s = loop->streams;
    while (s != NULL) {
        nn_stream *next = s->next;
        nn_stream_drain(s);
        s = next;
    }
}

/* ---------------------------------------------------------------- the loop */

static void dispatch(nn_loop *loop, struct io_uring_cqe *cqe) {
    nn_op *op = io_uring_cqe_get_data(cqe);
    if (op == NULL) {
        return; /* a cancel request's own completion */
    }
    switch (op->kind) {
    case OP_ACCEPT:
        nn_listener_on_cqe((listen_slot *)op, cqe);
        break;
    case OP_RECV:
    case OP_SEND:
    case OP_CONNECT:
        nn_stream_on_cqe((stream_op *)op, cqe);
        break;
    case OP_WAKE:
        atomic_store_explicit(&loop->wake_pending, 0, memory_order_release);
        tasks_run(loop);
        if (!atomic_load_explicit(&loop->exited, memory_order_acquire)) {
            wake_arm(loop);
        }
        break;
    default:
        break;
    }
}

static void service_dirty(nn_loop *loop) {
    while (loop->dirty != NULL) {
        nn_stream *s = loop->dirty;
        loop->dirty = s->dirty_next;
        s->in_dirty_list = false;
        s->dirty_next = NULL;
        nn_stream_service(s);
    }
}

/* Frees closed streams whose SQEs have all completed. Only the closed list is walked, so
 * thousands of idle connections cost nothing per loop round. */
static void reap_streams(nn_loop *loop) {
    nn_stream *waiting = NULL;
    nn_stream *s = loop->closed;
    loop->closed = NULL;
    while (s != NULL) {
        nn_stream *next = s->closed_next;
        if (nn_stream_freeable(s)) {
            nn_stream_destroy(s);
        } else {
            s->closed_next = waiting;
            waiting = s;
        }
        s = next;
    }
    loop->closed = waiting;
}

static void run_timers(nn_loop *loop) {
    uint64_t now = nn_now_ns();
    nn_timer *t;
    while ((t = nn_timer_heap_pop_expired(&loop->timers, now)) != NULL) {
        t->fire(t);
    }
}

static int ring_init(nn_loop *loop) {
    uint32_t entries = loop->srv->config.ring_entries ? loop->srv->config.ring_entries : 1024;
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    /* Only this thread submits, and completions run when it waits: both let the kernel
     * skip work (6.1+). Older kernels fall back to a plain ring. */
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                   IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
    params.flags &= ~IORING_SETUP_COOP_TASKRUN; /* implied by DEFER_TASKRUN */
    int rc = io_uring_queue_init_params(entries, &loop->ring, &params);
    if (rc == -EINVAL) {
        memset(&params, 0, sizeof(params));
        rc = io_uring_queue_init_params(entries, &loop->ring, &params);
    }
    if (rc < 0) {
        return rc;
    }
    loop->ring_ready = true;
    loop->use_buf_ring = false;
    if (!loop->srv->config.disable_buf_ring && buf_ring_setup(loop) == 0) {
        loop->use_buf_ring = true;
    }
    return 0;
}

static void start_report(nn_loop *loop, int rc, const char *what) {
    nn_server *srv = loop->srv;
    pthread_mutex_lock(&srv->start_lock);
    loop->start_rc = rc;
    if (rc < 0) {
        snprintf(loop->start_err, sizeof(loop->start_err), "worker %u: %s: %s", loop->index,
                 what, strerror(-rc));
    }
    srv->ready_count++;
    pthread_cond_broadcast(&srv->start_cond);
    pthread_mutex_unlock(&srv->start_lock);
}

static void *loop_main(void *arg) {
    nn_loop *loop = arg;
    current_loop = loop;
    int rc = ring_init(loop);
    if (rc < 0) {
        start_report(loop, rc, "io_uring setup");
        return NULL;
    }
    wake_arm(loop);
    for (int i = 0; i < loop->srv->listener_count; i++) {
        nn_listener_arm(loop, &loop->slots[i]);
    }
    io_uring_submit(&loop->ring);
    start_report(loop, 0, NULL);

    for (;;) {
        tasks_run(loop);
        service_dirty(loop);
        reap_streams(loop);
        if (loop->stopping && loop->live_streams == 0) {
            break;
        }
        struct __kernel_timespec ts;
        struct __kernel_timespec *tsp = NULL;
        nn_timer *next = nn_timer_heap_peek(&loop->timers);
        if (next != NULL) {
            uint64_t now = nn_now_ns();
            uint64_t wait = next->deadline_ns > now ? next->deadline_ns - now : 0;
            ts.tv_sec = (long long)(wait / 1000000000ull);
            ts.tv_nsec = (long long)(wait % 1000000000ull);
            tsp = &ts;
        }
        struct io_uring_cqe *cqe = NULL;
        rc = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, tsp, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) {
            nn_log(NN_LOG_ERROR, "net.loop", "worker=%u error=\"%s\"", loop->index,
                   strerror(-rc));
        }
        unsigned head;
        unsigned seen = 0;
        loop->buf_grew = false;
        io_uring_for_each_cqe(&loop->ring, head, cqe) {
            dispatch(loop, cqe);
            seen++;
        }
        io_uring_cq_advance(&loop->ring, seen);
        run_timers(loop);
    }

    /* Late posts get -ESHUTDOWN; the ones that raced in still run, so that no task
     * (and no caller waiting on one) is lost. */
    atomic_store(&loop->exited, 1);
    while (atomic_load(&loop->posting) != 0) {
    }
    tasks_run(loop);
    return NULL;
}

/* ---------------------------------------------------------------- server */

nn_server *nn_server_new(const nn_server_config *config, nn_err *err) {
    nn_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    srv->config = *config;
    atomic_init(&srv->max_connections, config->max_connections);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    srv->workers = config->workers ? config->workers : (uint32_t)(cores > 0 ? cores : 1);
    srv->loops = calloc(srv->workers, sizeof(nn_loop));
    if (srv->loops == NULL) {
        free(srv);
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&srv->start_lock, NULL);
    pthread_cond_init(&srv->start_cond, NULL);
    for (uint32_t i = 0; i < srv->workers; i++) {
        nn_loop *loop = &srv->loops[i];
        loop->srv = srv;
        loop->index = i;
        loop->wake_op.kind = OP_WAKE;
        loop->stop_task.fn = stop_on_loop;
        nn_mpsc_init(&loop->tasks);
        nn_timer_heap_init(&loop->timers);
        loop->wake_fd = eventfd(0, EFD_CLOEXEC);
        if (loop->wake_fd < 0) {
            int e = errno;
            srv->workers = i;
            nn_server_free(srv);
            nn_err_set(err, e, "eventfd: %s", strerror(e));
            return NULL;
        }
        for (int l = 0; l < NN_MAX_LISTENERS; l++) {
            loop->slots[l].fd = -1;
        }
    }
    return srv;
}

int nn_server_listen(nn_server *srv, const nn_listener_config *config, nn_err *err) {
    if (srv->started) {
        return nn_err_set(err, EBUSY, "listeners must be added before the server starts");
    }
    if (srv->listener_count == NN_MAX_LISTENERS) {
        return nn_err_set(err, ENOSPC, "too many listeners (at most %d)", NN_MAX_LISTENERS);
    }
    int index = srv->listener_count;
    listener_def *def = &srv->listeners[index];
    snprintf(def->name, sizeof(def->name), "%s", config->name ? config->name : "listener");
    snprintf(def->host, sizeof(def->host), "%s", config->host ? config->host : "0.0.0.0");
    def->port = config->port;
    def->handler = config->handler;
    def->handler_arg = config->handler_arg;
    if (def->port != 0) {
        /* SO_REUSEPORT would let us share a port that another process of this user
         * already listens on, silently taking half its connections: refuse instead. */
        int rc = nn_listener_probe(def, err);
        if (rc < 0) {
            nn_err_prefix(err, "%s listener on %s:%u", def->name, def->host, config->port);
            return rc;
        }
    }
    for (uint32_t i = 0; i < srv->workers; i++) {
        listen_slot *slot = &srv->loops[i].slots[index];
        int fd = nn_listener_open(def, &def->port, err);
        if (fd < 0) {
            for (uint32_t j = 0; j < i; j++) {
                close(srv->loops[j].slots[index].fd);
                srv->loops[j].slots[index].fd = -1;
            }
            nn_err_prefix(err, "%s listener on %s:%u", def->name, def->host, config->port);
            return fd;
        }
        nn_listener_slot_init(slot, &srv->loops[i], index, fd);
    }
    srv->listener_count++;
    return index;
}

uint16_t nn_server_listener_port(const nn_server *srv, int listener) {
    if (listener < 0 || listener >= srv->listener_count) {
        return 0;
    }
    return srv->listeners[listener].port;
}

uint32_t nn_server_worker_count(const nn_server *srv) {
    return srv->workers;
}

nn_loop *nn_server_loop(nn_server *srv, uint32_t index) {
    return index < srv->workers ? &srv->loops[index] : NULL;
}

int nn_server_start(nn_server *srv, nn_err *err) {
    if (srv->started) {
        return nn_err_set(err, EBUSY, "server already started");
    }
    srv->started = true;
    uint32_t spawned = 0;
    for (; spawned < srv->workers; spawned++) {
        nn_loop *loop = &srv->loops[spawned];
        int rc = pthread_create(&loop->thread, NULL, loop_main, loop);
        if (rc != 0) {
            loop->thread = 0; /* unspecified after a failure: nothing to join */
            break;
        }
    }
    pthread_mutex_lock(&srv->start_lock);
    while (srv->ready_count < spawned) {
        pthread_cond_wait(&srv->start_cond, &srv->start_lock);
    }
    pthread_mutex_unlock(&srv->start_lock);
    int failed = spawned < srv->workers ? -EAGAIN : 0;
    const char *why = "cannot create worker thread";
    for (uint32_t i = 0; i < spawned; i++) {
        if (srv->loops[i].start_rc < 0) {
            failed = srv->loops[i].start_rc;
            why = srv->loops[i].start_err;
        }
    }
    if (failed < 0) {
        /* A half-started server is not left running: stop the workers that came up. Loops
         * that never ran have no thread to join (thread == 0) and are freed as usual. */
        nn_server_stop(srv, 0);
        nn_server_wait(srv);
        return nn_err_set(err, -failed, "%s", why);
    }
    return 0;
}

void nn_server_stop(nn_server *srv, uint64_t drain_ns) {
    if (atomic_exchange(&srv->stop_requested, 1) != 0) {
        return;
    }
    for (uint32_t i = 0; i < srv->workers; i++) {
        nn_loop *loop = &srv->loops[i];
        loop->drain_ns = drain_ns;
        if (loop->ring_ready) {
            nn_loop_post(loop, &loop->stop_task);
        }
    }
}

int nn_server_wait(nn_server *srv) {
    for (uint32_t i = 0; i < srv->workers; i++) {
        nn_loop *loop = &srv->loops[i];
        if (loop->thread != 0) {
            pthread_join(loop->thread, NULL);
            loop->thread = 0;
        }
    }
    return 0;
}

void nn_server_free(nn_server *srv) {
    if (srv == NULL) {
        return;
    }
    for (uint32_t i = 0; i < srv->workers; i++) {
        nn_loop *loop = &srv->loops[i];
        for (int l = 0; l < NN_MAX_LISTENERS; l++) {
            if (loop->slots[l].fd >= 0) {
                close(loop->slots[l].fd);
            }
        }
        if (loop->ring_ready) {
            buf_ring_teardown(loop);
            io_uring_queue_exit(&loop->ring);
        }
        if (loop->wake_fd >= 0) {
            close(loop->wake_fd);
        }
        nn_timer_heap_free(&loop->timers);
    }
    pthread_mutex_destroy(&srv->start_lock);
    pthread_cond_destroy(&srv->start_cond);
    free(srv->loops);
    free(srv);
}

void nn_server_set_max_connections(nn_server *srv, uint32_t max_connections) {
    atomic_store_explicit(&srv->max_connections, max_connections, memory_order_relaxed);
}
