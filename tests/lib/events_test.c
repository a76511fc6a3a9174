/* The public API's events and protobuf-c services, through libnodenet.so and the public
 * headers only:
 *   - n1 hears PEER_READY for n2 (TLS channel), then PEER_DOWN with a reason when n2
 *     stops, then PEER_READY again when a new n2 starts: in that order, no repeats;
 *   - nn_node_reload() on n1 gives CERT_RELOADED with a new generation;
 *   - a protobuf-c service registered on n2 answers a message call from n1 at once and,
 *     for a request that asks for it, later from another thread;
 *   - nn_node_stop() gives DRAINING once.
 *
 *   events_test CERTS_DIR DATA_DIR PORT1 PORT2 PORT3 PORT4
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nodenet/nodenet.h>

#include "greeter.pb-c.h"

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

/* ----------------------------------------------------------- event recorder */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static char peer_log[256]; /* "R" per PEER_READY n2, "D" per PEER_DOWN n2 */
static char down_reason[256];
static uint64_t reloaded_generation;
static int draining;

static void on_event(const nn_event *event, void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    switch (nn_event_get_kind(event)) {
    case NN_EVENT_PEER_READY:
    case NN_EVENT_PEER_DOWN:
        if (strcmp(nn_event_peer(event), "n2") == 0 && strlen(peer_log) + 1 < sizeof(peer_log)) {
            strcat(peer_log, nn_event_get_kind(event) == NN_EVENT_PEER_READY ? "R" : "D");
            if (nn_event_get_kind(event) == NN_EVENT_PEER_DOWN) {
                snprintf(down_reason, sizeof(down_reason), "%s", nn_event_reason(event));
            }
        }
        break;
    case NN_EVENT_CERT_RELOADED:
        reloaded_generation = nn_event_cert_generation(event);
        break;
    case NN_EVENT_DRAINING:
        draining++;
        break;
    }
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

/* Waits (bounded) until the peer log is exactly want. */
static bool wait_log(const char *want) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&lock);
    while (strcmp(peer_log, want) != 0 && strlen(peer_log) < strlen(want) &&
           pthread_cond_timedwait(&cond, &lock, &deadline) == 0) {
    }
    bool ok = strcmp(peer_log, want) == 0;
    if (!ok) {
        printf("    peer events: '%s', wanted '%s'\n", peer_log, want);
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

/* --------------------------------------------------------- Greeter service */

typedef struct later_answer {
    char name[64];
    Nntest__GreetReply_Closure closure;
    void *closure_data;
} later_answer;

static void *answer_later(void *arg) {
    later_answer *la = arg;
    char text[128];
    snprintf(text, sizeof(text), "later, %s", la->name);
    Nntest__GreetReply reply = NNTEST__GREET_REPLY__INIT;
    reply.text = text;
    la->closure(&reply, la->closure_data);
    free(la);
    return NULL;
}

static void greeter_greet(Nntest__Greeter_Service *service, const Nntest__GreetRequest *input,
                          Nntest__GreetReply_Closure closure, void *closure_data) {
    (void)service;
    if (input->later) {
        /* The input is freed when this returns: copy what the answer needs. */
        later_answer *la = calloc(1, sizeof(*la));
        pthread_t t;
        if (la == NULL) {
            closure(NULL, closure_data);
            return;
        }
        snprintf(la->name, sizeof(la->name), "%s", input->name);
        la->closure = closure;
        la->closure_data = closure_data;
        if (pthread_create(&t, NULL, answer_later, la) != 0) {
            free(la);
            closure(NULL, closure_data);
            return;
        }
        pthread_detach(t);
        return;
    }
    char text[128];
    snprintf(text, sizeof(text), "hello, %s", input->name);
    Nntest__GreetReply reply = NNTEST__GREET_REPLY__INIT;
    reply.text = text;
    closure(&reply, closure_data);
}

static Nntest__Greeter_Service greeter = NNTEST__GREETER__INIT(greeter_);

/* A call with a message, waited for on this thread. */
typedef struct call_wait {
    bool done;
    nn_rpc_status status;
    char text[128];
} call_wait;

static void call_done(const nn_rpc_result *result, void *arg) {
    call_wait *w = arg;
    Nntest__GreetReply *reply =
        (Nntest__GreetReply *)nn_rpc_result_unpack(result, &nntest__greet_reply__descriptor);
    pthread_mutex_lock(&lock);
    w->status = nn_rpc_result_status(result);
    if (reply != NULL) {
        snprintf(w->text, sizeof(w->text), "%s", reply->text);
    } else {
        snprintf(w->text, sizeof(w->text), "(%s)", nn_rpc_result_error(result));
    }
    w->done = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    if (reply != NULL) {
        protobuf_c_message_free_unpacked(&reply->base, NULL);
    }
}

static bool greet(nn_node *from, const char *name, bool later, char *text, size_t cap) {
    char method[128];
    nn_rpc_protobuf_method_name(&nntest__greeter__descriptor, 0, method, sizeof(method));
    Nntest__GreetRequest req = NNTEST__GREET_REQUEST__INIT;
    req.name = (char *)name;
    req.later = later;
    call_wait w = {0};
    nn_rpc_call_message(nn_node_rpc(from), "n2", method, &req.base, 0, call_done, &w);
    pthread_mutex_lock(&lock);
    while (!w.done) {
        pthread_cond_wait(&cond, &lock); /* bounded: every call ends by its deadline */
    }
    pthread_mutex_unlock(&lock);
    snprintf(text, cap, "%s", w.text);
    return w.status == NN_RPC_OK;
}

/* -------------------------------------------------------------------- main */

static nn_node *make_node(const char *name, char **argv, nn_err *err) {
    char ca[512], cert[512], key[512], data[512];
    snprintf(ca, sizeof(ca), "%s/ca.pem", argv[1]);
    snprintf(cert, sizeof(cert), "%s/%%n-cert.pem", argv[1]);
    snprintf(key, sizeof(key), "%s/%%n-key.pem", argv[1]);
    snprintf(data, sizeof(data), "%s/%%n", argv[2]);
    nn_node_settings *s = nn_node_settings_new("events", 7);
    nn_node_settings_add_node(s, "n1", "127.0.0.1", (uint16_t)atoi(argv[3]),
                              (uint16_t)atoi(argv[4]));
    nn_node_settings_add_node(s, "n2", "127.0.0.1", (uint16_t)atoi(argv[5]),
                              (uint16_t)atoi(argv[6]));
    nn_node_settings_set_certificates(s, ca, cert, key);
    nn_node_settings_set_rpc_tls(s, "require");
    nn_node_settings_set_data_dir(s, data);
    nn_node_settings_set_workers(s, 1);
    nn_node *node = nn_node_new_from_settings(s, name, err);
    nn_node_settings_free(s);
    if (node == NULL) {
        printf("    %s: %s\n", name, nn_err_message(err));
    }
    return node;
}

static nn_node *start_n2(char **argv, nn_err *err) {
    nn_node *n2 = make_node("n2", argv, err);
    if (n2 == NULL) {
        return NULL;
    }
    if (nn_rpc_service_register_protobuf(nn_node_rpc(n2), &greeter.base) < 0 ||
        nn_node_start(n2, err) < 0) {
        printf("    n2: %s\n", nn_err_message(err));
        nn_node_free(n2);
        return NULL;
    }
    return n2;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: events_test CERTS DATA MYSQL1 RPC1 MYSQL2 RPC2\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setenv("NODENET_ROOT_PASSWORD", "rootpw", 1);
    nn_err *err = nn_err_new();

    /* Settings are checked by the config's rules and errors name the config's keys. */
    nn_node_settings *bad = nn_node_settings_new("bad", 1);
    char bad_dir[512];
    snprintf(bad_dir, sizeof(bad_dir), "%s/bad-%%n", argv[2]);
    nn_node_settings_add_node(bad, "n1", "127.0.0.1", 1, 2);
    nn_node_settings_add_node(bad, "n1", "127.0.0.1", 3, 4);
    nn_node_settings_set_data_dir(bad, bad_dir);
    nn_node *none = nn_node_new_from_settings(bad, "n1", err);
    printf("    duplicate node: %s\n", nn_err_message(err));
    CHECK("settings_error_names_the_key",
          none == NULL && nn_err_code(err) != 0 && strstr(nn_err_message(err), "nodes[1]") != NULL);
    nn_node_free(none);
    nn_node_settings_free(bad);

    nn_node *n1 = make_node("n1", argv, err);
    CHECK("n1_built", n1 != NULL);
    if (n1 == NULL) {
        return 1;
    }
    CHECK("subscribe", nn_node_subscribe(n1, on_event, NULL) == 0);
    CHECK("n1_started", nn_node_start(n1, err) == 0);
    CHECK("subscribe_after_start_is_refused", nn_node_subscribe(n1, on_event, NULL) < 0);

    nn_node *n2 = start_n2(argv, err);
    CHECK("n2_started", n2 != NULL);
    CHECK("peer_ready_event", n2 != NULL && wait_log("R"));

    char text[128];
    CHECK("protobuf_service_answers",
          greet(n1, "n1", false, text, sizeof(text)) && strcmp(text, "hello, n1") == 0);
    CHECK("protobuf_service_answers_later_from_another_thread",
          greet(n1, "n1", true, text, sizeof(text)) && strcmp(text, "later, n1") == 0);

    uint64_t before = nn_node_cert_generation(n1);
    CHECK("reload", nn_node_reload(n1, NULL, 0, err) == 0);
    pthread_mutex_lock(&lock);
    uint64_t seen = reloaded_generation;
    pthread_mutex_unlock(&lock);
    CHECK("cert_reloaded_event_with_new_generation",
          seen > before && seen == nn_node_cert_generation(n1));

    nn_node_stop(n2, 1000);
    nn_node_free(n2);
    CHECK("peer_down_event_with_reason", wait_log("RD"));
    pthread_mutex_lock(&lock);
    printf("    down reason: %s\n", down_reason);
    CHECK("down_reason_given", down_reason[0] != '\0');
    pthread_mutex_unlock(&lock);
    CHECK("peer_not_ready_after_down", !nn_node_peer_ready(n1, "n2"));

    n2 = start_n2(argv, err);
    CHECK("n2_restarted", n2 != NULL);
    CHECK("peer_ready_again", n2 != NULL && wait_log("RDR"));
    CHECK("call_after_restart", n2 != NULL && greet(n1, "again", false, text, sizeof(text)) &&
                                    strcmp(text, "hello, again") == 0);

    nn_node_stop(n1, 1000);
    pthread_mutex_lock(&lock);
    CHECK("draining_event_once", draining == 1);
    pthread_mutex_unlock(&lock);
    nn_node_free(n1);
    if (n2 != NULL) {
        nn_node_stop(n2, 1000);
        nn_node_free(n2);
    }
    nn_err_free(err);
    printf("%s\n", failures == 0 ? "PASS" : "FAILED");
    return failures == 0 ? 0 : 1;
}
