/* hello-node: the smallest embedder of nodenet, built only against the installed package.
 *
 *   hello-node CONFIG
 *
 * Starts nodes n1 and n2 of CONFIG in this one process (an engine would start one; two
 * keep the example self-contained), registers the service "hello.greet" on both, waits for
 * n1's channel to n2 to become ready (an event, not a poll), calls n2 from the main
 * thread, prints the answer and stops. Exit 0 when n2 answered "hello n1 from n2". */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c17 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nodenet/nodenet.h>

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static bool n2_ready;

/* On a worker of n1: must not block, so it only flips a flag and signals. */
static void on_event(const nn_event *event, void *arg) {
    (void)arg;
    if (nn_event_get_kind(event) == NN_EVENT_PEER_READY &&
        strcmp(nn_event_peer(event), "n2") == 0) {
        pthread_mutex_lock(&ready_lock);
        n2_ready = true;
        pthread_cond_signal(&ready_cond);
        pthread_mutex_unlock(&ready_lock);
    }
}

/* On a worker of the called node: answers at once (it could keep req and answer later,
 * from any thread). */
static void greet(nn_rpc_request *req, void *arg) {
    const char *self = arg;
    size_t len = 0;
    const uint8_t *who = nn_rpc_request_payload(req, &len);
    char answer[128];
    int n = snprintf(answer, sizeof(answer), "hello %.*s from %s", (int)(len < 32 ? len : 32),
                     (const char *)who, self);
    nn_rpc_reply(req, answer, (size_t)n);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: hello-node CONFIG\n");
        return 2;
    }
    if (nn_version() / 10000 != NN_VERSION_MAJOR) {
        fprintf(stderr, "hello-node: built for nodenet %s, running with %s\n", NN_VERSION_STRING,
                nn_version_string());
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    nn_set_log_level("warn"); /* the example's output is its answer, not the node's log */
    nn_err *err = nn_err_new();
    static const char *const names[2] = {"n1", "n2"};
    nn_node *nodes[2] = {NULL, NULL};
    int rc = 1;
    for (int i = 0; i < 2; i++) {
        nodes[i] = nn_node_new(argv[1], names[i], err);
        if (nodes[i] == NULL || nn_rpc_service_register(nn_node_rpc(nodes[i]), "hello.greet", greet,
                                                        (void *)names[i]) < 0) {
            fprintf(stderr, "hello-node: %s: %s\n", names[i], nn_err_message(err));
            goto out;
        }
    }
    if (nn_node_subscribe(nodes[0], on_event, NULL) < 0) {
        fprintf(stderr, "hello-node: cannot subscribe\n");
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        if (nn_node_start(nodes[i], err) < 0) {
            fprintf(stderr, "hello-node: %s: %s\n", names[i], nn_err_message(err));
            goto out;
        }
    }
    /* Bounded: a mesh that never comes up is a failure, not a hang. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&ready_lock);
    while (!n2_ready && pthread_cond_timedwait(&ready_cond, &ready_lock, &deadline) == 0) {
    }
    bool ready = n2_ready;
    pthread_mutex_unlock(&ready_lock);
    if (!ready) {
        fprintf(stderr, "hello-node: the channel n1 -> n2 never became ready\n");
        goto out;
    }
    uint8_t *reply = NULL;
    size_t reply_len = 0;
    nn_rpc_status st = nn_rpc_call_sync(nn_node_rpc(nodes[0]), "n2", "hello.greet", "n1", 2, 0,
                                        &reply, &reply_len, err);
    if (st != NN_RPC_OK) {
        fprintf(stderr, "hello-node: call failed: %s: %s\n", nn_rpc_status_name(st),
                nn_err_message(err));
        goto out;
    }
    printf("%.*s (nodenet %s)\n", (int)reply_len, (const char *)reply, nn_version_string());
    rc =
        reply_len == strlen("hello n1 from n2") && memcmp(reply, "hello n1 from n2", reply_len) == 0
            ? 0
            : 1;
    free(reply);
out:
    for (int i = 0; i < 2; i++) {
        if (nodes[i] != NULL) {
            nn_node_stop(nodes[i], 1000);
            nn_node_free(nodes[i]);
        }
    }
    nn_err_free(err);
    return rc;
}
