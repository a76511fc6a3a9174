/* net/ end to end on 127.0.0.1: a real nn_server with an echo protocol, driven by plain
 * blocking sockets from client threads in this test. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"

/* ------------------------------------------------------------ the protocols */

static _Atomic int closes_seen;
static _Atomic int deadline_closes;

static int echo_open(nn_stream *s, void *arg) {
    uint64_t *deadline_ms = arg;
    if (deadline_ms != NULL && *deadline_ms != 0) {
        nn_stream_set_deadline(s, nn_now_ns() + NN_MS(*deadline_ms));
    }
    return 0;
}

static void echo_readable(nn_stream *s) {
    size_t len;
    const uint8_t *data = nn_stream_input(s, &len);
    /* A line "UPGRADE\n" switches the stream to the XOR layer (a stand-in for TLS). */
    if (len >= 8 && memcmp(data, "UPGRADE\n", 8) == 0) {
        extern const nn_stream_layer_ops xor_layer_ops;
        nn_stream_consume(s, 8);
        nn_err err;
        CU_ASSERT_EQUAL(nn_stream_push_layer(s, &xor_layer_ops, NULL, &err), 0);
        return;
    }
    CU_ASSERT_EQUAL(nn_stream_write(s, data, len), 0);
    nn_stream_consume(s, len);
}

static void echo_close(nn_stream *s, int reason, const char *why) {
    atomic_fetch_add(&closes_seen, 1);
    if (reason == NN_CLOSE_DEADLINE) {
        atomic_fetch_add(&deadline_closes, 1);
    }
}

static void echo_refuse(nn_stream *s, void *arg) {
    nn_stream_write(s, "refused\n", 8);
}

static const nn_stream_handler echo_handler = {
    .on_open = echo_open,
    .on_readable = echo_readable,
    .on_close = echo_close,
    .on_refuse = echo_refuse,
};

/* A toy layer: XOR 0x5a both ways. It proves that bytes which arrived together with the
 * upgrade request are decoded by the layer, never read back as plaintext. */
static int xor_input(void *layer, nn_stream *s, const uint8_t *data, size_t len, nn_err *err) {
    uint8_t *out = nn_stream_layer_deliver_space(s, len);
    if (out == NULL) {
        return nn_err_set(err, ENOMEM, "xor: out of memory");
    }
    for (size_t i = 0; i < len; i++) {
        out[i] = data[i] ^ 0x5a;
    }
    nn_stream_layer_deliver_commit(s, len);
    return 0;
}

static int xor_write(void *layer, nn_stream *s, const struct iovec *iov, int n, nn_err *err) {
    for (int i = 0; i < n; i++) {
        uint8_t *out = nn_stream_layer_send_space(s, iov[i].iov_len);
        if (out == NULL) {
            return nn_err_set(err, ENOMEM, "xor: out of memory");
        }
        const uint8_t *in = iov[i].iov_base;
        for (size_t j = 0; j < iov[i].iov_len; j++) {
            out[j] = in[j] ^ 0x5a;
        }
        nn_stream_layer_send_commit(s, iov[i].iov_len);
    }
    return 0;
}

const nn_stream_layer_ops xor_layer_ops = {.name = "xor", .input = xor_input, .write = xor_write};

/* ------------------------------------------------------------ client helpers */

static int client_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static int read_exact(int fd, uint8_t *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) {
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len) {
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Waits until the peer closes: read returns 0 (or an error) within 10 s. */
static bool wait_eof(int fd) {
    uint8_t b[64];
    for (;;) {
        ssize_t n = read(fd, b, sizeof(b));
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
            return n == 0 || errno == ECONNRESET;
        }
        if (n < 0) {
            return false; /* timed out */
        }
    }
}

static bool plain_recv; /* run without the provided-buffer ring */

static nn_server *start_server(uint32_t workers, uint32_t max_conns, uint64_t *deadline_ms,
                               uint16_t *port) {
    nn_server_config sc = {.workers = workers, .max_connections = max_conns,
                           .disable_buf_ring = plain_recv};
    nn_err err;
    nn_server *srv = nn_server_new(&sc, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    nn_listener_config lc = {.name = "echo", .host = "127.0.0.1", .port = 0,
                             .handler = &echo_handler, .handler_arg = deadline_ms};
    int l = nn_server_listen(srv, &lc, &err);
    CU_ASSERT_EQUAL_FATAL(l, 0);
    *port = nn_server_listener_port(srv, l);
    CU_ASSERT_NOT_EQUAL(*port, 0);
    CU_ASSERT_EQUAL_FATAL(nn_server_start(srv, &err), 0);
    return srv;
}

static void stop_server(nn_server *srv) {
    nn_server_stop(srv, NN_SEC(2));
    nn_server_wait(srv);
    nn_server_free(srv);
}

/* ------------------------------------------------------------ the tests */

#define CLIENT_THREADS 8
#define CONNS_PER_THREAD 40
#define ROUNDS 5
#define MSG_BYTES 3000

typedef struct client_job {
    uint16_t port;
    int id;
    int failures;
    uint64_t bytes_checked;
} client_job;

static void *client_run(void *arg) {
    client_job *job = arg;
    int fds[CONNS_PER_THREAD];
    /* Open every connection first so that all of them are live at once. */
    for (int c = 0; c < CONNS_PER_THREAD; c++) {
        fds[c] = client_connect(job->port);
        if (fds[c] < 0) {
            job->failures++;
        }
    }
    uint8_t out[MSG_BYTES], in[MSG_BYTES];
    for (int r = 0; r < ROUNDS; r++) {
        for (int c = 0; c < CONNS_PER_THREAD; c++) {
            if (fds[c] < 0) {
                continue;
            }
            for (int i = 0; i < MSG_BYTES; i++) {
                out[i] = (uint8_t)(job->id * 131 + c * 17 + r * 7 + i);
            }
            /* Split the message so the server sees partial input. */
            if (write_all(fds[c], out, 1000) != 0 ||
                write_all(fds[c], out + 1000, MSG_BYTES - 1000) != 0 ||
                read_exact(fds[c], in, MSG_BYTES) != 0 || memcmp(in, out, MSG_BYTES) != 0) {
                job->failures++;
                continue;
            }
            job->bytes_checked += MSG_BYTES;
        }
    }
    for (int c = 0; c < CONNS_PER_THREAD; c++) {
        if (fds[c] >= 0) {
            close(fds[c]);
        }
    }
    return NULL;
}

static void hundreds_of_concurrent_connections_echo_every_byte_across_all_workers(void) {
    uint16_t port;
    nn_server *srv = start_server(2, 0, NULL, &port);
    pthread_t threads[CLIENT_THREADS];
    client_job jobs[CLIENT_THREADS];
    for (int t = 0; t < CLIENT_THREADS; t++) {
        jobs[t] = (client_job){.port = port, .id = t};
        pthread_create(&threads[t], NULL, client_run, &jobs[t]);
    }
    uint64_t checked = 0;
    for (int t = 0; t < CLIENT_THREADS; t++) {
        pthread_join(threads[t], NULL);
        CU_ASSERT_EQUAL(jobs[t].failures, 0);
        checked += jobs[t].bytes_checked;
    }
    CU_ASSERT_EQUAL(checked, (uint64_t)CLIENT_THREADS * CONNS_PER_THREAD * ROUNDS * MSG_BYTES);
    uint64_t total = 0;
    for (uint32_t w = 0; w < nn_server_worker_count(srv); w++) {
        nn_loop_stats st;
        nn_loop_stats_get(nn_server_loop(srv, w), &st);
        /* SO_REUSEPORT spreads 320 connections: every worker must have taken some. */
        CU_ASSERT_TRUE(st.accepted > 0);
        total += st.accepted;
    }
    CU_ASSERT_EQUAL(total, CLIENT_THREADS * CONNS_PER_THREAD);
    stop_server(srv);
}

/* The worker starts with a few receive buffers in its ring and puts more in when a receive
 * finds none (net/loop.c): a burst that needs more at once than it has is still echoed. */
#define BURST_CONNS 64

static void stall_worker(nn_task *task) {
    (void)task;
    usleep(300 * 1000); /* the clients' bytes pile up meanwhile */
}

static void a_burst_beyond_the_first_receive_buffers_is_echoed_whole(void) {
    uint16_t port;
    nn_server *srv = start_server(1, 0, NULL, &port);
    int fds[BURST_CONNS];
    uint8_t out[MSG_BYTES], in[MSG_BYTES];
    for (int c = 0; c < BURST_CONNS; c++) {
        fds[c] = client_connect(port);
        CU_ASSERT_FATAL(fds[c] >= 0);
        /* one round trip first: the connection is accepted and receiving */
        CU_ASSERT_FATAL(write_all(fds[c], "x", 1) == 0 && read_exact(fds[c], in, 1) == 0);
    }
    nn_task stall = {.fn = stall_worker};
    CU_ASSERT_EQUAL_FATAL(nn_loop_post(nn_server_loop(srv, 0), &stall), 0);
    usleep(50 * 1000);
    for (int c = 0; c < BURST_CONNS; c++) {
        memset(out, c + 1, sizeof(out));
        CU_ASSERT(write_all(fds[c], out, sizeof(out)) == 0);
    }
    for (int c = 0; c < BURST_CONNS; c++) {
        memset(out, c + 1, sizeof(out));
        CU_ASSERT(read_exact(fds[c], in, sizeof(in)) == 0 && memcmp(in, out, sizeof(in)) == 0);
        close(fds[c]);
    }
    stop_server(srv);
}

static void the_same_echo_works_on_the_plain_recv_fallback(void) {
    plain_recv = true;
    hundreds_of_concurrent_connections_echo_every_byte_across_all_workers();
    plain_recv = false;
}

static void connections_beyond_max_connections_are_refused_cleanly(void) {
    uint16_t port;
    nn_server *srv = start_server(1, 5, NULL, &port);
    int held[5];
    uint8_t b[8];
    for (int i = 0; i < 5; i++) {
        held[i] = client_connect(port);
        CU_ASSERT_TRUE_FATAL(held[i] >= 0);
        /* A round trip proves each one is accepted and served. */
        CU_ASSERT_EQUAL(write_all(held[i], "hello!!\n", 8), 0);
        CU_ASSERT_EQUAL(read_exact(held[i], b, 8), 0);
    }
    int extra = client_connect(port);
    CU_ASSERT_TRUE_FATAL(extra >= 0);
    CU_ASSERT_EQUAL(read_exact(extra, b, 8), 0);
    CU_ASSERT_EQUAL(memcmp(b, "refused\n", 8), 0);
    CU_ASSERT_TRUE(wait_eof(extra));
    close(extra);
    /* The ones already in keep being served. */
    CU_ASSERT_EQUAL(write_all(held[2], "still??\n", 8), 0);
    CU_ASSERT_EQUAL(read_exact(held[2], b, 8), 0);
    CU_ASSERT_EQUAL(memcmp(b, "still??\n", 8), 0);
    /* Once one leaves, a new one is admitted. */
    close(held[0]);
    bool admitted = false;
    for (int attempt = 0; attempt < 200 && !admitted; attempt++) {
        int fd = client_connect(port);
        CU_ASSERT_EQUAL(write_all(fd, "again!!\n", 8), 0);
        if (read_exact(fd, b, 8) == 0 && memcmp(b, "again!!\n", 8) == 0) {
            admitted = true;
        }
        close(fd);
        if (!admitted) {
            poll(NULL, 0, 10); /* the server has not yet seen the close: look again */
        }
    }
    CU_ASSERT_TRUE(admitted);
    nn_loop_stats st;
    nn_loop_stats_get(nn_server_loop(srv, 0), &st);
    CU_ASSERT_TRUE(st.refused >= 1);
    for (int i = 1; i < 5; i++) {
        close(held[i]);
    }
    stop_server(srv);
}

static void silent_client_is_cut_off_at_its_deadline(void) {
    uint16_t port;
    uint64_t deadline_ms = 200;
    atomic_store(&deadline_closes, 0);
    nn_server *srv = start_server(1, 0, &deadline_ms, &port);
    int fd = client_connect(port);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    uint64_t t0 = nn_now_ns();
    CU_ASSERT_TRUE(wait_eof(fd));
    /* Not a timing assertion: the close must come from the deadline, and well before the
     * client's own 10 s receive timeout. */
    CU_ASSERT_TRUE(nn_now_ns() - t0 < NN_SEC(9));
    close(fd);
    stop_server(srv);
    CU_ASSERT_EQUAL(atomic_load(&deadline_closes), 1);
}

static void bytes_sent_with_an_upgrade_go_to_the_layer_not_the_plaintext_parser(void) {
    uint16_t port;
    nn_server *srv = start_server(1, 0, NULL, &port);
    int fd = client_connect(port);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    /* One segment: the upgrade line and then encoded bytes. */
    uint8_t msg[8 + 5];
    memcpy(msg, "UPGRADE\n", 8);
    const char *secret = "hello";
    for (int i = 0; i < 5; i++) {
        msg[8 + i] = (uint8_t)secret[i] ^ 0x5a;
    }
    CU_ASSERT_EQUAL(write_all(fd, msg, sizeof(msg)), 0);
    uint8_t echoed[5];
    CU_ASSERT_EQUAL_FATAL(read_exact(fd, echoed, 5), 0);
    /* The echo comes back encoded: the server decoded the bytes through the layer. */
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(echoed[i] ^ 0x5a, (uint8_t)secret[i]);
    }
    close(fd);
    stop_server(srv);
}

/* Outbound connections and cross-thread posts. */
typedef struct outbound_probe {
    nn_task task;
    uint16_t port;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    bool ran_on_loop;
    int close_reason;
    char reply[5];
} outbound_probe;

static int probe_open(nn_stream *s, void *arg) {
    nn_stream_write(s, "ping!", 5);
    return 0;
}

static void probe_readable(nn_stream *s) {
    outbound_probe *p = nn_stream_user(s);
    size_t len;
    const uint8_t *data = nn_stream_input(s, &len);
    if (len >= 5) {
        memcpy(p->reply, data, 5);
        nn_stream_consume(s, len);
        nn_stream_close(s, NN_CLOSE_LOCAL, "done");
    }
}

static void probe_close(nn_stream *s, int reason, const char *why) {
    outbound_probe *p = nn_stream_user(s);
    pthread_mutex_lock(&p->lock);
    p->close_reason = reason;
    p->done = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static const nn_stream_handler probe_handler = {
    .on_open = probe_open, .on_readable = probe_readable, .on_close = probe_close};

static void probe_start(nn_task *task) {
    outbound_probe *p = (outbound_probe *)task;
    p->ran_on_loop = nn_loop_current() != NULL;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    nn_err err;
    nn_stream *s = nn_loop_connect(nn_loop_current(), (struct sockaddr *)&a, sizeof(a),
                                   &probe_handler, p, nn_now_ns() + NN_SEC(5), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    nn_stream_set_user(s, p);
}

static void probe_run(nn_server *srv, outbound_probe *p, uint16_t port) {
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->port = port;
    p->task.fn = probe_start;
    CU_ASSERT_EQUAL(nn_loop_post(nn_server_loop(srv, 1), &p->task), 0);
    pthread_mutex_lock(&p->lock);
    while (!p->done) {
        pthread_cond_wait(&p->cond, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
}

static void posted_task_connects_out_and_a_refused_connect_is_reported(void) {
    uint16_t port;
    nn_server *srv = start_server(2, 0, NULL, &port);
    outbound_probe p;
    probe_run(srv, &p, port);
    CU_ASSERT_TRUE(p.ran_on_loop);
    CU_ASSERT_EQUAL(p.close_reason, NN_CLOSE_LOCAL);
    CU_ASSERT_EQUAL(memcmp(p.reply, "ping!", 5), 0);
    /* A port nobody listens on: find one by binding and closing. */
    int tmp = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bind(tmp, (struct sockaddr *)&a, sizeof(a));
    socklen_t alen = sizeof(a);
    getsockname(tmp, (struct sockaddr *)&a, &alen);
    close(tmp);
    probe_run(srv, &p, ntohs(a.sin_port));
    CU_ASSERT_EQUAL(p.close_reason, NN_CLOSE_CONNECT);
    stop_server(srv);
}

static void stop_closes_open_connections_and_refuses_late_posts(void) {
    uint16_t port;
    atomic_store(&closes_seen, 0);
    nn_server *srv = start_server(2, 0, NULL, &port);
    int fds[10];
    for (int i = 0; i < 10; i++) {
        fds[i] = client_connect(port);
        uint8_t b[4];
        CU_ASSERT_EQUAL(write_all(fds[i], "abcd", 4), 0);
        CU_ASSERT_EQUAL(read_exact(fds[i], b, 4), 0);
    }
    nn_server_stop(srv, NN_SEC(2));
    nn_server_wait(srv);
    CU_ASSERT_EQUAL(atomic_load(&closes_seen), 10);
    for (int i = 0; i < 10; i++) {
        CU_ASSERT_TRUE(wait_eof(fds[i]));
        close(fds[i]);
    }
    nn_task late = {.fn = NULL};
    CU_ASSERT_EQUAL(nn_loop_post(nn_server_loop(srv, 0), &late), -ESHUTDOWN);
    /* The port is no longer served. */
    CU_ASSERT_TRUE(client_connect(port) < 0);
    nn_server_free(srv);
}

static void out_of_descriptors_pauses_accept_instead_of_spinning(void) {
    /* io_uring reads the descriptor limit when the accept is armed: lower it first. */
    struct rlimit old;
    getrlimit(RLIMIT_NOFILE, &old);
    struct rlimit low = old;
    low.rlim_cur = 256;
    CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_NOFILE, &low), 0);
    uint16_t port;
    nn_server *srv = start_server(1, 0, NULL, &port);
    /* Fill the descriptor table, then free one slot for the client's own socket: the
     * server's accept (same process) finds none left. */
    int fillers[256];
    int filled = 0;
    for (; filled < 256; filled++) {
        fillers[filled] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fillers[filled] < 0) {
            break;
        }
    }
    CU_ASSERT_TRUE_FATAL(filled > 1);
    close(fillers[--filled]);
    int fd = client_connect(port); /* the kernel completes the handshake into the backlog */
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write_all(fd, "wait", 4), 0);
    /* Let the worker hit EMFILE for a while: poll() here is the observation window. */
    poll(NULL, 0, 500);
    nn_loop_stats st;
    nn_loop_stats_get(nn_server_loop(srv, 0), &st);
    CU_ASSERT_TRUE(st.accept_errors >= 1);
    /* Paced retries (one per 100 ms), not a spin: a spinning accept fails thousands of
     * times in half a second. */
    CU_ASSERT_TRUE(st.accept_errors <= 20);
    for (int i = 0; i < filled; i++) {
        close(fillers[i]);
    }
    setrlimit(RLIMIT_NOFILE, &old);
    /* Descriptors are back: the waiting connection is accepted and served. */
    uint8_t b[4];
    CU_ASSERT_EQUAL(read_exact(fd, b, 4), 0);
    CU_ASSERT_EQUAL(memcmp(b, "wait", 4), 0);
    close(fd);
    stop_server(srv);
}

static void listening_on_a_taken_port_fails_with_a_clear_error(void) {
    /* Another program holds a port without SO_REUSEPORT. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    CU_ASSERT_EQUAL_FATAL(listen(fd, 1), 0);
    socklen_t alen = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    nn_server_config sc = {.workers = 2};
    nn_err err;
    nn_server *srv = nn_server_new(&sc, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    nn_listener_config lc = {.name = "echo", .host = "127.0.0.1", .port = ntohs(a.sin_port),
                             .handler = &echo_handler};
    CU_ASSERT_EQUAL(nn_server_listen(srv, &lc, &err), -EADDRINUSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "echo listener on 127.0.0.1:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bind: Address already in use"));
    close(fd);
    /* Another process's SO_REUSEPORT listener is refused too, not silently shared. */
    uint16_t port;
    nn_server *first = start_server(1, 0, NULL, &port);
    lc.port = port;
    CU_ASSERT_EQUAL(nn_server_listen(srv, &lc, &err), -EADDRINUSE);
    stop_server(first);
    lc.host = "not-an-ip";
    CU_ASSERT_EQUAL(nn_server_listen(srv, &lc, &err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'not-an-ip' is not a numeric"));
    nn_server_free(srv);
}

int main(void) {
    nn_log_set_level(NN_LOG_ERROR);
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("net_echo", NULL, NULL);
    CU_add_test(s, "hundreds_of_concurrent_connections_echo_every_byte_across_all_workers",
                hundreds_of_concurrent_connections_echo_every_byte_across_all_workers);
    CU_add_test(s, "a_burst_beyond_the_first_receive_buffers_is_echoed_whole",
                a_burst_beyond_the_first_receive_buffers_is_echoed_whole);
    CU_add_test(s, "the_same_echo_works_on_the_plain_recv_fallback",
                the_same_echo_works_on_the_plain_recv_fallback);
    CU_add_test(s, "connections_beyond_max_connections_are_refused_cleanly",
                connections_beyond_max_connections_are_refused_cleanly);
    CU_add_test(s, "silent_client_is_cut_off_at_its_deadline",
                silent_client_is_cut_off_at_its_deadline);
    CU_add_test(s, "bytes_sent_with_an_upgrade_go_to_the_layer_not_the_plaintext_parser",
                bytes_sent_with_an_upgrade_go_to_the_layer_not_the_plaintext_parser);
    CU_add_test(s, "posted_task_connects_out_and_a_refused_connect_is_reported",
                posted_task_connects_out_and_a_refused_connect_is_reported);
    CU_add_test(s, "stop_closes_open_connections_and_refuses_late_posts",
                stop_closes_open_connections_and_refuses_late_posts);
    CU_add_test(s, "out_of_descriptors_pauses_accept_instead_of_spinning",
                out_of_descriptors_pauses_accept_instead_of_spinning);
    CU_add_test(s, "listening_on_a_taken_port_fails_with_a_clear_error",
                listening_on_a_taken_port_fails_with_a_clear_error);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
