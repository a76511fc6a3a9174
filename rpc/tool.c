/* rpc/tool.c: the blocking tool client (nodenet-admin). It runs a private nn_server with
 * one worker and a one-channel rpc whose channel says hello as a tool and never
 * reconnects, so the admin tool reports a refusal instead of retrying. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

struct nn_rpc_tool {
    nn_server *srv;
    nn_rpc *rpc;
    rpc_channel *ch;
};

static void tool_stop(nn_rpc_tool *t) {
    if (t->rpc != NULL) {
        atomic_store(&t->rpc->stopping, true);
    }
    if (t->srv != NULL) {
        nn_server_stop(t->srv, NN_MS(200));
        nn_server_wait(t->srv);
    }
    nn_rpc_free(t->rpc);
    if (t->srv != NULL) {
        nn_server_free(t->srv);
    }
    free(t);
}

typedef struct start_task {
    nn_task task;
    rpc_channel *ch;
} start_task;

static void start_run(nn_task *task) {
    start_task *st = (start_task *)task;
    nn_rpc_channel_start(st->ch);
    free(st);
}

nn_rpc_tool *nn_rpc_tool_connect(const nn_rpc_tool_config *cfg, nn_err *err) {
    if (nn_loop_current() != NULL) {
        nn_err_set(err, EDEADLK, "the tool client blocks: not on a worker thread");
        return NULL;
    }
    if (cfg->host == NULL || cfg->port == 0) {
        nn_err_set(err, EINVAL, "tool client: host and port are required");
        return NULL;
    }
    nn_rpc_tool *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    nn_server_config sc = {.workers = 1, .max_connections = 0};
    t->srv = nn_server_new(&sc, err);
    if (t->srv == NULL) {
        free(t);
        return NULL;
    }
    char name[64];
    if (cfg->expect_node != NULL) {
        snprintf(name, sizeof(name), "%s", cfg->expect_node);
    } else {
        snprintf(name, sizeof(name), "%s:%u", cfg->host, cfg->port);
    }
    nn_rpc_node node = {.name = name, .host = cfg->host, .rpc_port = cfg->port};
    nn_rpc_config rc = {
        .cluster_id = cfg->cluster_id,
        .cluster_name = "",
        /* self carries whether the server's certificate must name expect_node (conn.c) */
        .self = cfg->expect_node != NULL ? "tool" : "",
        .nodes = &node,
        .node_count = 1,
        .tls = cfg->sec != NULL ? NN_RPC_TLS_REQUIRE : NN_RPC_TLS_OFF,
        .max_frame_bytes = cfg->max_frame_bytes,
        .call_timeout_ms = 5000,
        .heartbeat_ms = 1000,
        .connect_timeout_ms = cfg->connect_timeout_ms,
    };
    if (nn_server_start(t->srv, err) < 0) {
        nn_server_free(t->srv);
        free(t);
        return NULL;
    }
    t->rpc = nn_rpc_new_internal(&rc, t->srv, cfg->sec, true, err);
    if (t->rpc == NULL) {
        t->rpc = NULL;
        tool_stop(t);
        return NULL;
    }
    t->ch = &t->rpc->chans[0];
    t->ch->is_tool = true;
    atomic_store(&t->rpc->started, true);
    start_task *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        tool_stop(t);
        return NULL;
    }
    st->task.fn = start_run;
    st->ch = t->ch;
    if (nn_loop_post(t->ch->loop, &st->task) < 0) {
        free(st);
        nn_err_set(err, ESHUTDOWN, "tool client: worker stopped");
        tool_stop(t);
        return NULL;
    }
    pthread_mutex_lock(&t->ch->wait_lock);
    while (t->ch->first_outcome == 0) {
        pthread_cond_wait(&t->ch->wait_cond, &t->ch->wait_lock);
    }
    int outcome = t->ch->first_outcome;
    pthread_mutex_unlock(&t->ch->wait_lock);
    if (outcome < 0) {
        /* last_error was written on the loop before the outcome was signalled. */
        nn_err_set(err, ECONNREFUSED, "%s: %s", name, t->ch->last_error);
        tool_stop(t);
        return NULL;
    }
    return t;
}

nn_rpc_status nn_rpc_tool_call(nn_rpc_tool *tool, const char *method, const void *payload,
                               size_t len, uint64_t timeout_ms, uint8_t **out, size_t *out_len,
                               nn_err *err) {
    return nn_rpc_call_sync(tool->rpc, tool->ch->peer, method, payload, len, timeout_ms, out,
                            out_len, err);
}

int nn_rpc_tool_facts(nn_rpc_tool *tool, nn_tls_facts *out) {
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&tool->ch->info_lock);
    out->encrypted = tool->ch->info_encrypted;
    snprintf(out->version, sizeof(out->version), "%s", tool->ch->info_version);
    snprintf(out->cipher, sizeof(out->cipher), "%s", tool->ch->info_cipher);
    snprintf(out->peer_subject, sizeof(out->peer_subject), "%s",
             nn_rpc_channel_info_subject(tool->ch));
    pthread_mutex_unlock(&tool->ch->info_lock);
    return 0;
}

void nn_rpc_tool_close(nn_rpc_tool *tool) {
    if (tool != NULL) {
        tool_stop(tool);
    }
}
