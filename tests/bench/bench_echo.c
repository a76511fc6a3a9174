/* Echo through nodenet's io_uring loop against a blocking-socket reference server (one
 * thread per connection), with the same client, side by side in one run.
 *
 *   bench_echo [--quick] [--seconds S]
 *
 * Prints figures and their ratios; asserts nothing about speed. Exits non-zero only when
 * an echo came back wrong or a connection failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"

/* ------------------------------------------------------------ nodenet echo */

static int echo_open(nn_stream *s, void *arg) {
    return 0;
}

static void echo_readable(nn_stream *s) {
    size_t len;
    const uint8_t *data = nn_stream_input(s, &len);
    nn_stream_write(s, data, len);
    nn_stream_consume(s, len);
}

static void echo_close(nn_stream *s, int reason, const char *why) {
}

static const nn_stream_handler echo_handler = {
    .on_open = echo_open, .on_readable = echo_readable, .on_close = echo_close};

/* ------------------------------------------------------------ reference server */

typedef struct ref_server {
    int fd;
    uint16_t port;
    pthread_t thread;
} ref_server;

static void *ref_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w <= 0) {
                close(fd);
                return NULL;
            }
            off += w;
        }
    }
    close(fd);
    return NULL;
}

static void *ref_accept(void *arg) {
    ref_server *r = arg;
    for (;;) {
        int fd = accept(r->fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            return NULL;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_t t;
        pthread_create(&t, NULL, ref_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}

static int ref_start(ref_server *r) {
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(r->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(r->fd, 1024) != 0) {
        return -1;
    }
    socklen_t len = sizeof(a);
    getsockname(r->fd, (struct sockaddr *)&a, &len);
    r->port = ntohs(a.sin_port);
    return pthread_create(&r->thread, NULL, ref_accept, r);
}

/* ------------------------------------------------------------ the client */

static int dial(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

typedef struct job {
    uint16_t port;
    size_t size;
    uint64_t until_ns;
    uint64_t ops;
    uint64_t bytes;
    int errors;
} job;

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

static void *pingpong(void *arg) {
    job *j = arg;
    int fd = dial(j->port);
    if (fd < 0) {
        j->errors++;
        return NULL;
    }
    uint8_t out[1024], in[1024];
    memset(out, 'p', j->size);
    while (nn_now_ns() < j->until_ns) {
        if (write(fd, out, j->size) != (ssize_t)j->size || read_exact(fd, in, j->size) != 0 ||
            memcmp(in, out, j->size) != 0) {
            j->errors++;
            break;
        }
        j->ops++;
    }
    close(fd);
    return NULL;
}

typedef struct stream_reader {
    int fd;
    _Atomic uint64_t expect;
    int errors;
} stream_reader;

static void *stream_read(void *arg) {
    stream_reader *r = arg;
    uint8_t buf[65536];
    uint64_t got = 0;
    while (got < atomic_load(&r->expect)) {
        ssize_t n = read(r->fd, buf, sizeof(buf));
        if (n <= 0) {
            r->errors++;
            return NULL;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != (uint8_t)((got + (uint64_t)i) % 251)) {
                r->errors++;
                return NULL;
            }
        }
        got += (uint64_t)n;
    }
    return NULL;
}

/* One connection streams as fast as it can; a second thread reads and checks the echo. */
static void streaming(job *j) {
    int fd = dial(j->port);
    if (fd < 0) {
        j->errors++;
        return;
    }
    uint8_t chunk[65536];
    uint64_t sent = 0;
    /* Write until the time is up, then tell the reader exactly how much to expect. */
    stream_reader r = {.fd = fd, .expect = UINT64_MAX};
    pthread_t t;
    pthread_create(&t, NULL, stream_read, &r);
    while (nn_now_ns() < j->until_ns) {
        for (size_t i = 0; i < sizeof(chunk); i++) {
            chunk[i] = (uint8_t)((sent + i) % 251);
        }
        ssize_t w = write(fd, chunk, sizeof(chunk));
        if (w <= 0) {
            j->errors++;
            break;
        }
        sent += (uint64_t)w; /* a short write: the next chunk's pattern starts at `sent` */
    }
    atomic_store(&r.expect, sent);
    shutdown(fd, SHUT_WR);
    pthread_join(t, NULL);
    j->errors += r.errors;
    j->bytes = sent;
    close(fd);
}

typedef struct figure {
    double nodenet;
    double reference;
} figure;

static double run_pingpong(uint16_t port, int conns, size_t size, double seconds, int *errors) {
    pthread_t threads[64];
    job jobs[64];
    uint64_t t0 = nn_now_ns();
    uint64_t until = t0 + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < conns; i++) {
        jobs[i] = (job){.port = port, .size = size, .until_ns = until};
        pthread_create(&threads[i], NULL, pingpong, &jobs[i]);
    }
    uint64_t ops = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(threads[i], NULL);
        ops += jobs[i].ops;
        *errors += jobs[i].errors;
    }
    return (double)ops / ((double)(nn_now_ns() - t0) / 1e9);
}

static double run_streaming(uint16_t port, double seconds, int *errors) {
    uint64_t t0 = nn_now_ns();
    job j = {.port = port, .until_ns = t0 + (uint64_t)(seconds * 1e9)};
    streaming(&j);
    *errors += j.errors;
    return (double)j.bytes / ((double)(nn_now_ns() - t0) / 1e9) / (1024.0 * 1024.0);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    double seconds = 2.0;
    int runs = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            seconds = 0.3;
            runs = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        }
    }
    nn_log_set_level(NN_LOG_ERROR);
    nn_server_config sc = {.workers = 0};
    nn_err err;
    nn_server *srv = nn_server_new(&sc, &err);
    nn_listener_config lc = {.name = "echo", .host = "127.0.0.1", .handler = &echo_handler};
    int l = srv != NULL ? nn_server_listen(srv, &lc, &err) : -1;
    if (l < 0 || nn_server_start(srv, &err) != 0) {
        fprintf(stderr, "bench_echo: %s\n", err.msg);
        return 1;
    }
    uint16_t nn_port = nn_server_listener_port(srv, l);
    ref_server ref;
    if (ref_start(&ref) != 0) {
        fprintf(stderr, "bench_echo: reference server: %s\n", strerror(errno));
        return 1;
    }

    struct {
        const char *name;
        const char *unit;
        int conns;
        size_t size;
        bool stream;
    } cases[] = {
        {"echo ping-pong 64 B, 1 conn", "round trips/s", 1, 64, false},
        {"echo ping-pong 64 B, 16 conns", "round trips/s", 16, 64, false},
        {"echo ping-pong 1 KiB, 16 conns", "round trips/s", 16, 1024, false},
        {"echo streaming 64 KiB writes, 1 conn", "MiB/s", 1, 0, true},
    };
    int errors = 0;
    printf("nodenet echo benchmark: %ld cores, %d run(s) of %.1f s each, median [min..max]\n",
           sysconf(_SC_NPROCESSORS_ONLN), runs, seconds);
    printf("reference: blocking sockets, one thread per connection, same client\n\n");
    printf("%-40s %-14s %26s %26s %7s\n", "benchmark", "unit", "nodenet", "reference",
           "ratio");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        double a[8], b[8];
        for (int r = 0; r < runs; r++) {
            if (cases[c].stream) {
                a[r] = run_streaming(nn_port, seconds, &errors);
                b[r] = run_streaming(ref.port, seconds, &errors);
            } else {
                a[r] = run_pingpong(nn_port, cases[c].conns, cases[c].size, seconds, &errors);
                b[r] = run_pingpong(ref.port, cases[c].conns, cases[c].size, seconds, &errors);
            }
        }
        qsort(a, (size_t)runs, sizeof(double), cmp_double);
        qsort(b, (size_t)runs, sizeof(double), cmp_double);
        double ma = a[runs / 2], mb = b[runs / 2];
        char fa[64], fb[64];
        snprintf(fa, sizeof(fa), "%.0f [%.0f..%.0f]", ma, a[0], a[runs - 1]);
        snprintf(fb, sizeof(fb), "%.0f [%.0f..%.0f]", mb, b[0], b[runs - 1]);
        printf("%-40s %-14s %26s %26s %6.2fx\n", cases[c].name, cases[c].unit, fa, fb,
               mb > 0 ? ma / mb : 0.0);
    }
    nn_server_stop(srv, NN_SEC(1));
    nn_server_wait(srv);
    nn_server_free(srv);
    shutdown(ref.fd, SHUT_RDWR);
    close(ref.fd);
    pthread_join(ref.thread, NULL);
    if (errors > 0) {
        printf("\n%d errors: some echo came back wrong or a connection failed\n", errors);
        return 1;
    }
    return 0;
}
