/* A whole MySQL session from a hostile client, in the spirit of oss-fuzz's fuzz_mysqld: a
 * real MySQL server of nodenet (one io_uring worker, TLS offered, the administrative
 * handler) on 127.0.0.1, and each input one TCP connection whose bytes are sent in pieces
 * of the sizes the input picks (so the server reads them split as a network would), then a
 * half-close, then the client reads until the server closes. Whatever the bytes, the
 * server must answer or close, leak nothing and crash nowhere (ASan/UBSan in the fuzz
 * build, and the replay in the suite's sanitizer pass).
 *
 * Input: byte 0 seeds the piece sizes; the rest is what the client sends. The account fz
 * has mysql_native_password with an empty password, so a recorded login (an empty auth
 * response) logs in whatever the scramble: the seeds get past authentication and the
 * fuzzer works on the command phase (queries, prepared statements, cursors, long data,
 * change user, compression, KILL ...). Other seeds start TLS (SSLRequest + ClientHello). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mysql/mysql_internal.h"

static uint16_t port;
static sem_t created;
static nn_server *server;
static nn_mysql_server *mysql;
static nn_security *security;

/* At exit the server stops as a node does (drain, close every session), so that anything
 * a session still holds then is a leak the sanitizer reports, not noise. */
static void teardown(void) {
    nn_server_stop(server, NN_SEC(2));
    nn_server_wait(server);
    nn_mysql_server_free(mysql); /* its catalog thread posts to the loops: before them */
    nn_server_free(server);
    nn_security_free(security);
}

static void op_done(nn_task *task) {
    (void)task;
    sem_post(&created);
}

static void create_account(nn_mysql_server *srv, nn_catalog_op_kind kind) {
    nn_catalog_op *op = calloc(1, sizeof(*op));
    op->kind = kind;
    op->task.fn = op_done;
    snprintf(op->user, sizeof(op->user), "fz");
    snprintf(op->host, sizeof(op->host), "%%");
    snprintf(op->plugin, sizeof(op->plugin), NN_PLUGIN_NATIVE);
    op->set_auth = kind == NN_CATALOG_CREATE;
    op->set_require = kind == NN_CATALOG_CREATE;
    op->admin_value = true;
    nn_mysql_catalog_submit(srv->catalog, op);
    sem_wait(&created);
    free(op);
}

static void setup(void) {
    char dir[] = "/tmp/nn-fuzz-mysql-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/deploy/gen-certs %s/certs n1 >/dev/null 2>&1", NN_SOURCE_DIR,
             dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "fuzz_mysql_session: cannot make certificates: %s\n", cmd);
        abort();
    }
    nn_log_set_level(getenv("NN_FUZZ_VERBOSE") ? NN_LOG_DEBUG : NN_LOG_ERROR);
    char ca[256], cert[256], key[256], data[256];
    snprintf(ca, sizeof(ca), "%s/certs/ca.pem", dir);
    snprintf(cert, sizeof(cert), "%s/certs/n1-cert.pem", dir);
    snprintf(key, sizeof(key), "%s/certs/n1-key.pem", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    nn_err err;
    nn_err_clear(&err);
    nn_security_config sc = {.node_name = "n1",
                             .ca_file = ca,
                             .cert_file = cert,
                             .key_file = key,
                             .watch_interval_ms = UINT32_MAX};
    nn_security *sec = nn_security_new(&sc, &err);
    nn_mysql_config mc = {.data_dir = data,
                          .tls = true,
                          .handshake_timeout_ms = 2000,
                          .idle_timeout_ms = 2000,
                          .max_allowed_packet = 1 << 20};
    nn_mysql_server *my = sec ? nn_mysql_server_new(&mc, sec, &err) : NULL;
    if (my == NULL) {
        fprintf(stderr, "fuzz_mysql_session: %s\n", err.msg);
        abort();
    }
    sem_init(&created, 0, 0);
    create_account(my, NN_CATALOG_CREATE);
    create_account(my, NN_CATALOG_SET_ADMIN);
    nn_server_config cfg = {.workers = 1};
    nn_server *srv = nn_server_new(&cfg, &err);
    nn_listener_config lc;
    nn_mysql_server_listener(my, "127.0.0.1", 0, &lc);
    int listener = srv ? nn_server_listen(srv, &lc, &err) : -1;
    if (listener < 0 || nn_server_start(srv, &err) < 0) {
        fprintf(stderr, "fuzz_mysql_session: %s\n", err.msg);
        abort();
    }
    port = nn_server_listener_port(srv, listener);
    server = srv;
    mysql = my;
    security = sec;
    atexit(teardown);
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size) {
    if (port == 0) {
        setup();
    }
    if (size < 1) {
        return 0;
    }
    uint32_t rnd = input[0] * 2654435761u + 1;
    const uint8_t *data = input + 1;
    size_t len = size - 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        abort(); /* the server stopped accepting: that is a bug too */
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    uint8_t buf[65536];
    size_t off = 0;
    while (off < len) {
        rnd = rnd * 1103515245u + 12345u;
        size_t piece = 1 + (rnd >> 16) % 512;
        if (piece > len - off) {
            piece = len - off;
        }
        if (send(fd, data + off, piece, MSG_NOSIGNAL) < 0) {
            break; /* the server closed on us: fine */
        }
        off += piece;
        /* Drain what the server says meanwhile, so it never waits on us. */
        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
        }
    }
    shutdown(fd, SHUT_WR);
    /* The server answers what it got and closes at our half-close (or at its deadline). */
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0) {
            fprintf(stderr, "fuzz_mysql_session: the server neither answered nor closed\n");
            abort();
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            break;
        }
    }
    close(fd);
    return 0;
}
