/* bench_tls_setup: node-to-node TLS channel set-up through security/ on net/, the code path
 * an RPC channel takes: n2 dials n1, both present their node certificates (mutual TLS
 * against the cluster CA), and n2 checks that the listener is n1.
 *
 *   bench_tls_setup --certs DIR [--mode full|resumed] [--inflight N] [--seconds S]
 *
 * full: every connection does a full handshake (no session offered). resumed: the client
 * names the peer in the session cache (nn_tls_stream_start_client with peer_key "n1"),
 * so after the first ticket every connection resumes. Each connection waits for one byte
 * the server writes after its handshake (so the ticket, sent right after the handshake,
 * has arrived), then closes. Prints "ok handshakes=N rate=X reused=R" and exits 1 if any
 * handshake fails, the identity check fails, or (resumed) fewer than 90% resumed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/net.h"
#include "security/security.h"

typedef struct bench {
    nn_security *server_sec; /* n1 */
    nn_security *client_sec; /* n2 */
    bool resumed;
    struct sockaddr_in addr;
    uint64_t until_ns;
    _Atomic uint64_t done;
    _Atomic uint64_t reused;
    _Atomic uint64_t errors;
    _Atomic int outstanding;
    char first_error[1024];
    _Atomic int first_error_set;
} bench;

static bench b;

static void fail(const char *fmt, const char *detail) {
    atomic_fetch_add(&b.errors, 1);
    int expected = 0;
    if (atomic_compare_exchange_strong(&b.first_error_set, &expected, 1)) {
        snprintf(b.first_error, sizeof(b.first_error), fmt, detail);
    }
}

/* ----------------------------------------------------------------- server side */

static int server_open(nn_stream *s, void *arg) {
    nn_err err;
    if (nn_tls_stream_start(s, b.server_sec, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_REQUIRED, &err) !=
        0) {
        fail("server tls start: %s", err.msg);
        return -1;
    }
    return 0;
}

static void server_event(nn_stream *s, int event) {
    if (event == NN_STREAM_EV_SECURE) {
        nn_stream_write(s, "k", 1); /* the hello's stand-in; the ticket precedes it */
    }
}

static void server_readable(nn_stream *s) {
    size_t len;
    nn_stream_input(s, &len);
    nn_stream_consume(s, len);
}

static void server_close(nn_stream *s, int reason, const char *why) {
}

static const nn_stream_handler server_handler = {.on_open = server_open,
                                                 .on_readable = server_readable,
                                                 .on_event = server_event,
                                                 .on_close = server_close};

/* ----------------------------------------------------------------- client side */

static void dial(nn_loop *loop);

static int client_open(nn_stream *s, void *arg) {
    nn_err err;
    if (nn_tls_stream_start_client(s, b.client_sec, b.resumed ? "n1" : NULL, &err) != 0) {
        fail("client tls start: %s", err.msg);
        return -1;
    }
    return 0;
}

static void client_event(nn_stream *s, int event) {
    if (event != NN_STREAM_EV_SECURE) {
        return;
    }
    nn_tls_facts facts;
    nn_tls_facts_get(s, &facts);
    nn_err err;
    if (nn_security_identity_check(&facts, "n1", &err) != 0) {
        fail("identity: %s", err.msg);
        nn_stream_close(s, NN_CLOSE_LOCAL, "identity");
        return;
    }
    if (facts.session_reused) {
        atomic_fetch_add(&b.reused, 1);
    }
}

static void client_readable(nn_stream *s) {
    size_t len;
    nn_stream_input(s, &len);
    nn_stream_consume(s, len);
    if (len > 0) {
        nn_stream_set_user(s, (void *)1); /* the channel is up: counts as done */
        nn_stream_close(s, NN_CLOSE_LOCAL, "done");
    }
}

static void client_close(nn_stream *s, int reason, const char *why) {
    if (nn_stream_user(s) == (void *)1) {
        atomic_fetch_add(&b.done, 1);
    } else {
        fail("handshake did not complete: %s", why);
    }
    nn_loop *loop = nn_stream_loop(s);
    if (nn_now_ns() < b.until_ns && atomic_load(&b.errors) == 0) {
        dial(loop);
    } else {
        atomic_fetch_sub(&b.outstanding, 1);
    }
}

static const nn_stream_handler client_handler = {.on_open = client_open,
                                                 .on_readable = client_readable,
                                                 .on_event = client_event,
                                                 .on_close = client_close};

static void dial(nn_loop *loop) {
    nn_err err;
    nn_stream *s = nn_loop_connect(loop, (const struct sockaddr *)&b.addr, sizeof(b.addr),
                                   &client_handler, NULL, nn_now_ns() + NN_SEC(10), &err);
    if (s == NULL) {
        fail("connect: %s", err.msg);
        atomic_fetch_sub(&b.outstanding, 1);
    }
}

typedef struct start_task {
    nn_task task;
} start_task;

static void start_fn(nn_task *t) {
    dial(nn_loop_current());
    free(t);
}

/* ------------------------------------------------------------------------ main */

static nn_security *load(const char *certs, const char *node, nn_err *err) {
    char ca[1024], cert[1024], key[1024];
    snprintf(ca, sizeof(ca), "%s/ca.pem", certs);
    snprintf(cert, sizeof(cert), "%s/%s-cert.pem", certs, node);
    snprintf(key, sizeof(key), "%s/%s-key.pem", certs, node);
    nn_security_config c = {.node_name = node,
                            .ca_file = ca,
                            .cert_file = cert,
                            .key_file = key,
                            .watch_interval_ms = UINT32_MAX};
    return nn_security_new(&c, err);
}

int main(int argc, char **argv) {
    const char *certs = NULL;
    int inflight = 4;
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--certs") == 0 && i + 1 < argc) {
            certs = argv[++i];
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            if (strcmp(m, "full") == 0) {
                b.resumed = false;
            } else if (strcmp(m, "resumed") == 0) {
                b.resumed = true;
            } else {
                fprintf(stderr, "bench_tls_setup: --mode must be full or resumed\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--inflight") == 0 && i + 1 < argc) {
            inflight = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_tls_setup --certs DIR [--mode full|resumed] "
                            "[--inflight N] [--seconds S]\n");
            return 2;
        }
    }
    if (certs == NULL || inflight < 1 || inflight > 1024 || seconds <= 0) {
        fprintf(stderr, "bench_tls_setup: --certs is required; --inflight 1..1024; "
                        "--seconds > 0\n");
        return 2;
    }
    nn_log_set_level(NN_LOG_ERROR);
    nn_err err;
    b.server_sec = load(certs, "n1", &err);
    if (b.server_sec == NULL) {
        fprintf(stderr, "bench_tls_setup: n1: %s\n", err.msg);
        return 1;
    }
    b.client_sec = load(certs, "n2", &err);
    if (b.client_sec == NULL) {
        fprintf(stderr, "bench_tls_setup: n2: %s\n", err.msg);
        nn_security_free(b.server_sec);
        return 1;
    }
    nn_server_config sc = {.workers = 0};
    nn_server *srv = nn_server_new(&sc, &err);
    nn_listener_config lc = {.name = "tls", .host = "127.0.0.1", .handler = &server_handler};
    int l = srv != NULL ? nn_server_listen(srv, &lc, &err) : -1;
    if (l < 0 || nn_server_start(srv, &err) != 0) {
        fprintf(stderr, "bench_tls_setup: %s\n", err.msg);
        return 1;
    }
    b.addr = (struct sockaddr_in){.sin_family = AF_INET,
                                  .sin_port = htons(nn_server_listener_port(srv, l))};
    inet_pton(AF_INET, "127.0.0.1", &b.addr.sin_addr);

    uint64_t t0 = nn_now_ns();
    b.until_ns = t0 + (uint64_t)(seconds * 1e9);
    atomic_store(&b.outstanding, inflight);
    uint32_t workers = nn_server_worker_count(srv);
    for (int i = 0; i < inflight; i++) {
        start_task *t = calloc(1, sizeof(*t));
        t->task.fn = start_fn;
        if (nn_loop_post(nn_server_loop(srv, (uint32_t)i % workers), &t->task) != 0) {
            free(t);
            atomic_fetch_sub(&b.outstanding, 1);
            fail("%s", "loop refused the start task");
        }
    }
    /* Every dialler chain ends by itself once the time is up; poll for that, bounded. */
    uint64_t give_up = b.until_ns + NN_SEC(15);
    while (atomic_load(&b.outstanding) > 0 && nn_now_ns() < give_up) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    double elapsed = (double)(nn_now_ns() - t0) / 1e9;
    bool hung = atomic_load(&b.outstanding) > 0;
    nn_server_stop(srv, NN_SEC(1));
    nn_server_wait(srv);
    nn_server_free(srv);
    nn_security_free(b.client_sec);
    nn_security_free(b.server_sec);

    uint64_t done = atomic_load(&b.done), reused = atomic_load(&b.reused);
    if (hung) {
        fail("%s", "connections still open 15 s after the end");
    }
    if (atomic_load(&b.errors) == 0 && b.resumed && reused * 10 < done * 9) {
        fprintf(stderr, "bench_tls_setup: only %llu of %llu handshakes resumed\n",
                (unsigned long long)reused, (unsigned long long)done);
        return 1;
    }
    if (atomic_load(&b.errors) > 0 || done == 0) {
        fprintf(stderr, "bench_tls_setup: %llu errors, first: %s\n",
                (unsigned long long)atomic_load(&b.errors),
                b.first_error[0] ? b.first_error : "no handshake completed");
        return 1;
    }
    printf("ok handshakes=%llu rate=%.1f reused=%llu\n", (unsigned long long)done,
           (double)done / elapsed, (unsigned long long)reused);
    return 0;
}
