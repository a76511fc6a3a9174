/* An embedder that links both libnodenet.so and libmariadb (and through it OpenSSL 3),
 * as a database node with a MySQL client library inside would.
 *
 *   embed_openssl CERTS_DIR DATA_DIR MYSQL_PORT RPC_PORT1 RPC_PORT2 MYSQL_PORT2
 *
 * Builds the cluster in code (nn_node_settings), starts n1 and n2 with rpc_tls require and
 * mysql_tls on, waits for the TLS channel n1 -> n2 (event), calls n2 over it, then
 * connects to n1's MySQL port with libmariadb over verified TLS in this same process and
 * runs a query. BoringSSL (inside libnodenet) and OpenSSL 3 (libmariadb) both do real
 * handshakes here; with a plain DT_NEEDED on BoringSSL the dynamic linker would bind one
 * library's symbols to the other's. Prints one "ok"/"FAIL" line per check. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>
#include <nodenet/mysql.h>
#include <nodenet/nodenet.h>

static int failures;
#define CHECK(name, cond)                                                                          \
    do {                                                                                           \
        if (cond) {                                                                                \
            printf("ok: %s\n", name);                                                              \
        } else {                                                                                   \
            printf("FAIL: %s\n", name);                                                            \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool n2_ready;
static int draining_events;

static void on_event(const nn_event *event, void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    if (nn_event_get_kind(event) == NN_EVENT_PEER_READY &&
        strcmp(nn_event_peer(event), "n2") == 0) {
        n2_ready = true;
        pthread_cond_signal(&cond);
    } else if (nn_event_get_kind(event) == NN_EVENT_DRAINING) {
        draining_events++;
    }
    pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------ an engine on the MySQL face */

static pthread_t later;
static bool later_started;
static char session_tls[64];

/* On the session's worker, posted from the thread below. */
static void answer_later(void *arg, nn_mysql_session *ses) {
    (void)arg;
    nn_mysql_session_result_begin(ses, 1);
    nn_mysql_session_result_column(ses, "answer", NN_MYSQL_TYPE_VAR_STRING);
    const char *values[1] = {"from another thread"};
    nn_mysql_session_result_row(ses, values, NULL);
    nn_mysql_session_result_end(ses);
}

static void *later_main(void *arg) {
    nn_mysql_session_run(arg, answer_later, NULL);
    return NULL;
}

/* The engine answers one statement itself, later and from its own thread; the rest goes
 * to the administrative handler. */
static void engine_query(void *arg, nn_mysql_session *ses, const char *sql, size_t len) {
    (void)arg;
    static const char mine[] = "SELECT engine_later()";
    if (len == sizeof(mine) - 1 && memcmp(sql, mine, len) == 0) {
        const nn_tls_facts *facts = nn_mysql_session_tls(ses);
        snprintf(session_tls, sizeof(session_tls), "%s %s", nn_tls_facts_version(facts),
                 nn_tls_facts_encrypted(facts) ? "encrypted" : "plain");
        later_started = pthread_create(&later, NULL, later_main, ses) == 0;
        if (!later_started) {
            nn_mysql_session_error(ses, 1105, "HY000", "no thread");
        }
        return;
    }
    nn_mysql_admin_query(ses, sql, len);
}

static const nn_mysql_handler engine = {
    .version = NN_MYSQL_HANDLER_VERSION,
    .query = engine_query,
};

static void echo(nn_rpc_request *req, void *arg) {
    (void)arg;
    size_t len = 0;
    const uint8_t *data = nn_rpc_request_payload(req, &len);
    nn_rpc_reply(req, data, len);
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: embed_openssl CERTS DATA MYSQL_PORT RPC1 RPC2 MYSQL2\n");
        return 2;
    }
    const char *certs = argv[1];
    unsigned n1_mysql_port = (unsigned)atoi(argv[3]);
    signal(SIGPIPE, SIG_IGN);
    setenv("NODENET_ROOT_PASSWORD", "rootpw", 1);

    char ca[512], cert[512], key[512], data[512];
    snprintf(ca, sizeof(ca), "%s/ca.pem", certs);
    snprintf(cert, sizeof(cert), "%s/%%n-cert.pem", certs);
    snprintf(key, sizeof(key), "%s/%%n-key.pem", certs);
    snprintf(data, sizeof(data), "%s/%%n", argv[2]);
    nn_node_settings *s = nn_node_settings_new("embed", 42);
    CHECK("settings", s != NULL &&
                          nn_node_settings_add_node(s, "n1", "127.0.0.1", (uint16_t)n1_mysql_port,
                                                    (uint16_t)atoi(argv[4])) == 0 &&
                          nn_node_settings_add_node(s, "n2", "127.0.0.1", (uint16_t)atoi(argv[6]),
                                                    (uint16_t)atoi(argv[5])) == 0 &&
                          nn_node_settings_set_certificates(s, ca, cert, key) == 0 &&
                          nn_node_settings_set_mysql_tls(s, true, true) == 0 &&
                          nn_node_settings_set_rpc_tls(s, "require") == 0 &&
                          nn_node_settings_set_data_dir(s, data) == 0 &&
                          nn_node_settings_set_workers(s, 1) == 0 &&
                          nn_node_settings_set_rpc_tls(s, "sometimes") == -22);

    nn_err *err = nn_err_new();
    nn_node *n1 = nn_node_new_from_settings(s, "n1", err);
    if (n1 == NULL) {
        printf("    n1: %s\n", nn_err_message(err));
    }
    nn_node *n2 = n1 != NULL ? nn_node_new_from_settings(s, "n2", err) : NULL;
    if (n1 != NULL && n2 == NULL) {
        printf("    n2: %s\n", nn_err_message(err));
    }
    nn_node_settings_free(s);
    CHECK("nodes_from_settings", n1 != NULL && n2 != NULL);
    if (n1 == NULL || n2 == NULL) {
        nn_node_free(n1);
        return 1;
    }
    CHECK("node_facts", strcmp(nn_node_name(n1), "n1") == 0 && nn_node_peer_count(n1) == 1 &&
                            strcmp(nn_node_peer_name(n1, 0), "n2") == 0 &&
                            nn_node_tls_configured(n1) && nn_node_cert_not_after(n1) > 0);
    char subject[256];
    nn_node_cert_subject(n1, subject, sizeof(subject));
    CHECK("cert_subject_names_n1", strstr(subject, "n1") != NULL);
    CHECK("rpc_register", nn_rpc_service_register(nn_node_rpc(n2), "embed.echo", echo, NULL) == 0);
    CHECK("subscribe", nn_node_subscribe(n1, on_event, NULL) == 0);
    nn_node_set_mysql_handler(n1, &engine, NULL);
    CHECK("start", nn_node_start(n1, err) == 0 && nn_node_start(n2, err) == 0);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&lock);
    while (!n2_ready && pthread_cond_timedwait(&cond, &lock, &deadline) == 0) {
    }
    bool ready = n2_ready;
    pthread_mutex_unlock(&lock);
    CHECK("peer_ready_event_over_tls", ready && nn_node_peer_ready(n1, "n2"));

    uint8_t *reply = NULL;
    size_t reply_len = 0;
    nn_rpc_status st = nn_rpc_call_sync(nn_node_rpc(n1), "n2", "embed.echo", "ping", 4, 0, &reply,
                                        &reply_len, err);
    CHECK("rpc_call_over_tls", st == NN_RPC_OK && reply_len == 4 && memcmp(reply, "ping", 4) == 0);
    if (st != NN_RPC_OK) {
        printf("    call: %s %s\n", nn_rpc_status_name(st), nn_err_message(err));
    }
    free(reply);

    /* libmariadb, OpenSSL 3, in the same process. */
    MYSQL *m = mysql_init(NULL);
    my_bool verify = 1;
    unsigned timeout = 10;
    mysql_optionsv(m, MYSQL_OPT_SSL_CA, ca);
    mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    bool connected =
        mysql_real_connect(m, "127.0.0.1", "root", "rootpw", NULL, n1_mysql_port, NULL, 0) != NULL;
    if (!connected) {
        printf("    connect: %s\n", mysql_error(m));
    }
    CHECK("libmariadb_connects_over_verified_tls", connected);
    const char *cipher = connected ? mysql_get_ssl_cipher(m) : NULL;
    CHECK("libmariadb_session_is_encrypted", cipher != NULL && cipher[0] != '\0');
    bool ssl_version_ok = false;
    if (connected && mysql_query(m, "SHOW STATUS LIKE 'Ssl_version'") == 0) {
        MYSQL_RES *res = mysql_store_result(m);
        MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
        ssl_version_ok = row != NULL && row[1] != NULL && strncmp(row[1], "TLSv1.", 6) == 0;
        if (ssl_version_ok) {
            printf("    server side: Ssl_version %s; client cipher %s\n", row[1],
                   cipher != NULL ? cipher : "-");
        }
        mysql_free_result(res);
    }
    CHECK("server_reports_tls_session", ssl_version_ok);
    bool later_ok = false;
    if (connected && mysql_query(m, "SELECT engine_later()") == 0) {
        MYSQL_RES *res = mysql_store_result(m);
        MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
        later_ok = row != NULL && row[0] != NULL && strcmp(row[0], "from another thread") == 0;
        mysql_free_result(res);
    } else if (connected) {
        printf("    engine_later: %s\n", mysql_error(m));
    }
    if (later_started) {
        pthread_join(later, NULL);
    }
    CHECK("engine_answers_later_from_another_thread", later_ok);
    printf("    the engine saw the session as: %s\n", session_tls);
    CHECK("engine_reads_session_tls_facts",
          strncmp(session_tls, "TLSv1.", 6) == 0 && strstr(session_tls, "encrypted") != NULL);
    mysql_close(m);

    nn_node_stop(n1, 1000);
    nn_node_stop(n2, 1000);
    pthread_mutex_lock(&lock);
    CHECK("draining_event", draining_events == 1);
    pthread_mutex_unlock(&lock);
    nn_node_free(n1);
    nn_node_free(n2);
    nn_err_free(err);
    printf("%s\n", failures == 0 ? "PASS" : "FAILED");
    return failures == 0 ? 0 : 1;
}
