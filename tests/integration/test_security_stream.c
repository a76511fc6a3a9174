/* security/'s TLS layer on real net/ streams over 127.0.0.1: a plaintext prologue, then
 * TLS (the MySQL shape), with the client's ClientHello sent in the same segment as the
 * prologue; facts, node identity, session resumption, and refusal of a foreign CA. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "security/security.h"

static char pki[256];
static nn_security *server_sec; /* n1, CA A */
static nn_security *client_sec; /* n2, CA A */
static nn_security *foreign_sec; /* n1 of CA B */

/* ------------------------------------------------------------ the server */

typedef struct server_conn {
    bool secure;
    nn_tls_facts facts;
} server_conn;

static _Atomic int server_secure_count;
static _Atomic int server_layer_failures;
static char server_last_why[128];
static pthread_mutex_t why_lock = PTHREAD_MUTEX_INITIALIZER;

static int srv_open(nn_stream *s, void *arg) {
    nn_stream_set_user(s, calloc(1, sizeof(server_conn)));
    nn_stream_set_deadline(s, nn_now_ns() + NN_SEC(10));
    return 0;
}

static void srv_readable(nn_stream *s) {
    server_conn *c = nn_stream_user(s);
    size_t len;
    const uint8_t *data = nn_stream_input(s, &len);
    if (!c->secure) {
        /* The prologue: "STARTTLS\n", then everything else is TLS. */
        if (len < 9) {
            return;
        }
        if (memcmp(data, "STARTTLS\n", 9) != 0) {
            nn_stream_close(s, NN_CLOSE_LOCAL, "bad prologue");
            return;
        }
        nn_stream_consume(s, 9);
        c->secure = true;
        nn_err err;
        CU_ASSERT_EQUAL(nn_tls_stream_start(s, server_sec, NN_TLS_RPC_SERVER,
                                            NN_TLS_PEER_CERT_OPTIONAL, &err),
                        0);
        return;
    }
    nn_stream_write(s, data, len);
    nn_stream_consume(s, len);
}

static void srv_event(nn_stream *s, int ev) {
    server_conn *c = nn_stream_user(s);
    if (ev == NN_STREAM_EV_SECURE) {
        nn_tls_facts_get(s, &c->facts);
        atomic_fetch_add(&server_secure_count, 1);
    }
}

static void srv_close(nn_stream *s, int reason, const char *why) {
    if (reason == NN_CLOSE_LAYER) {
        pthread_mutex_lock(&why_lock);
        snprintf(server_last_why, sizeof(server_last_why), "%s", why);
        pthread_mutex_unlock(&why_lock);
        atomic_fetch_add(&server_layer_failures, 1);
    }
    free(nn_stream_user(s));
}

static const nn_stream_handler server_handler = {
    .on_open = srv_open,
    .on_readable = srv_readable,
    .on_event = srv_event,
    .on_close = srv_close,
};

/* ------------------------------------------------------------ the client */

typedef struct client_run {
    nn_task task;
    nn_security *sec;
    uint16_t port;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    bool secure;
    int close_reason;
    char why[128];
    char echoed[16];
    nn_tls_facts facts;
    int identity_rc;
} client_run;

static int cli_open(nn_stream *s, void *arg) {
    client_run *r = arg;
    nn_stream_set_user(s, r);
    /* The prologue and the ClientHello leave in one flush, so the server gets both in
     * one segment: the layer, not the plaintext parser, must get the hello. */
    nn_stream_write(s, "STARTTLS\n", 9);
    nn_err err;
    CU_ASSERT_EQUAL(nn_tls_stream_start_client(s, r->sec, "n1-test", &err), 0);
    nn_stream_write(s, "ping-over-tls", 13);
    return 0;
}

static void cli_event(nn_stream *s, int ev) {
    client_run *r = nn_stream_user(s);
    if (ev == NN_STREAM_EV_SECURE) {
        r->secure = true;
        nn_tls_facts_get(s, &r->facts);
        nn_err err;
        r->identity_rc = nn_security_identity_check(&r->facts, "n1", &err);
    }
}

static void cli_readable(nn_stream *s) {
    client_run *r = nn_stream_user(s);
    size_t len;
    const uint8_t *data = nn_stream_input(s, &len);
    if (len >= 13) {
        memcpy(r->echoed, data, 13);
        nn_stream_consume(s, len);
        nn_stream_close(s, NN_CLOSE_LOCAL, "done");
    }
}

static void cli_close(nn_stream *s, int reason, const char *why) {
    client_run *r = nn_stream_user(s);
    pthread_mutex_lock(&r->lock);
    r->close_reason = reason;
    snprintf(r->why, sizeof(r->why), "%s", why);
    r->done = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static const nn_stream_handler client_handler = {
    .on_open = cli_open,
    .on_readable = cli_readable,
    .on_event = cli_event,
    .on_close = cli_close,
};

static void client_start(nn_task *task) {
    client_run *r = (client_run *)task;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(r->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    nn_err err;
    nn_stream *s = nn_loop_connect(nn_loop_current(), (struct sockaddr *)&a, sizeof(a),
                                   &client_handler, r, nn_now_ns() + NN_SEC(10), &err);
    CU_ASSERT_PTR_NOT_NULL(s);
}

static void client_connect_once(nn_server *srv, nn_security *sec, uint16_t port, client_run *r) {
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->sec = sec;
    r->port = port;
    r->task.fn = client_start;
    CU_ASSERT_EQUAL_FATAL(nn_loop_post(nn_server_loop(srv, 0), &r->task), 0);
    pthread_mutex_lock(&r->lock);
    while (!r->done) {
        pthread_cond_wait(&r->cond, &r->lock);
    }
    pthread_mutex_unlock(&r->lock);
}

/* ------------------------------------------------------------ the tests */

static nn_server *srv;
static uint16_t port;

static void tls_after_a_plaintext_prologue_carries_data_and_facts(void) {
    client_run r;
    client_connect_once(srv, client_sec, port, &r);
    CU_ASSERT_TRUE(r.secure);
    CU_ASSERT_EQUAL(r.close_reason, NN_CLOSE_LOCAL);
    CU_ASSERT_EQUAL(memcmp(r.echoed, "ping-over-tls", 13), 0);
    CU_ASSERT_TRUE(r.facts.encrypted);
    CU_ASSERT_STRING_EQUAL(r.facts.version, "TLSv1.3");
    CU_ASSERT_TRUE(r.facts.peer_cert_verified);
    CU_ASSERT_STRING_EQUAL(r.facts.peer_subject, "/C=CN/O=nodenet/CN=n1");
    CU_ASSERT_STRING_EQUAL(r.facts.peer_issuer, "/C=CN/O=nodenet/CN=nodenet-ca");
    CU_ASSERT_EQUAL(r.identity_rc, 0);
    CU_ASSERT_TRUE(atomic_load(&server_secure_count) >= 1);
}

static void a_second_connection_resumes_the_session(void) {
    client_run first, second;
    client_connect_once(srv, client_sec, port, &first);
    client_connect_once(srv, client_sec, port, &second);
    CU_ASSERT_TRUE(first.secure);
    CU_ASSERT_TRUE(second.secure);
    CU_ASSERT_TRUE(second.facts.session_reused);
    CU_ASSERT_EQUAL(memcmp(second.echoed, "ping-over-tls", 13), 0);
}

static void a_client_certificate_from_another_ca_fails_the_handshake_on_both_sides(void) {
    int before = atomic_load(&server_layer_failures);
    client_run r;
    client_connect_once(srv, foreign_sec, port, &r);
    /* The client does not trust the server either (CA B): it fails first. */
    CU_ASSERT_FALSE(r.secure);
    CU_ASSERT_EQUAL(r.close_reason, NN_CLOSE_LAYER);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.why, "tls"));
    /* The server saw a failed handshake too, and said so. */
    for (int i = 0; i < 500 && atomic_load(&server_layer_failures) == before; i++) {
        usleep(10000); /* bounded wait for the server's own close */
    }
    CU_ASSERT_TRUE(atomic_load(&server_layer_failures) > before);
    pthread_mutex_lock(&why_lock);
    CU_ASSERT_PTR_NOT_NULL(strstr(server_last_why, "tls"));
    pthread_mutex_unlock(&why_lock);
}

static nn_security *load(const char *sub, const char *node) {
    char ca[512], cert[512], key[512];
    snprintf(ca, sizeof(ca), "%s/%s/ca.pem", pki, sub);
    snprintf(cert, sizeof(cert), "%s/%s/%%n-cert.pem", pki, sub);
    snprintf(key, sizeof(key), "%s/%s/%%n-key.pem", pki, sub);
    nn_security_config c = {.node_name = node, .ca_file = ca, .cert_file = cert,
                            .key_file = key, .watch_interval_ms = UINT32_MAX};
    nn_err err;
    nn_security *sec = nn_security_new(&c, &err);
    if (sec == NULL) {
        fprintf(stderr, "load %s/%s: %s\n", sub, node, err.msg);
    }
    return sec;
}

static int suite_init(void) {
    snprintf(pki, sizeof(pki), "/tmp/nn-tls-stream-XXXXXX");
    if (mkdtemp(pki) == NULL) {
        return -1;
    }
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/tests/unit/pki/mkpki.sh %s/deploy/gen-certs %s >/dev/null 2>&1",
             NN_SOURCE_DIR, NN_SOURCE_DIR, pki);
    if (system(cmd) != 0) {
        return -1;
    }
    server_sec = load("a", "n1");
    client_sec = load("a", "n2");
    foreign_sec = load("b", "n1");
    if (server_sec == NULL || client_sec == NULL || foreign_sec == NULL) {
        return -1;
    }
    nn_server_config sc = {.workers = 2};
    nn_err err;
    srv = nn_server_new(&sc, &err);
    nn_listener_config lc = {.name = "tls", .host = "127.0.0.1", .handler = &server_handler};
    int l = nn_server_listen(srv, &lc, &err);
    if (l < 0 || nn_server_start(srv, &err) != 0) {
        return -1;
    }
    port = nn_server_listener_port(srv, l);
    return 0;
}

static int suite_cleanup(void) {
    nn_server_stop(srv, NN_SEC(2));
    nn_server_wait(srv);
    nn_server_free(srv);
    nn_security_free(server_sec);
    nn_security_free(client_sec);
    nn_security_free(foreign_sec);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", pki);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    nn_log_set_level(NN_LOG_ERROR);
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("security_stream", suite_init, suite_cleanup);
    CU_add_test(s, "tls_after_a_plaintext_prologue_carries_data_and_facts",
                tls_after_a_plaintext_prologue_carries_data_and_facts);
    CU_add_test(s, "a_second_connection_resumes_the_session",
                a_second_connection_resumes_the_session);
    CU_add_test(s, "a_client_certificate_from_another_ca_fails_the_handshake_on_both_sides",
                a_client_certificate_from_another_ca_fails_the_handshake_on_both_sides);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
                      CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
