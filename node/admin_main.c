/* nodenet-admin: a tool client over a node's RPC port.
 *
 *   nodenet-admin --config cluster.yaml --node n1 <command> [--json]
 *     status                          the node's identity, certificate, uptime
 *     mesh                            its channels to the other nodes
 *     ping                            one round trip
 *     drive --rate R --size B --seconds S   echo traffic from the node to every peer
 *     reload                          re-read config and certificates (like SIGHUP)
 *
 * With rpc_tls prefer or require it presents admin_cert_file/admin_key_file and checks
 * that the node's certificate names the node; with prefer it falls back to plaintext only
 * when the node's TLS is off. Exit 0 on success, 1 on any error. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "proto/rpc.pb-c.h"

typedef struct admin {
    nn_config cfg;
    const nn_config_node *target;
    nn_security *sec;
    nn_rpc_tool *tool;
    bool json;
    char where[160]; /* "n1 at 127.0.0.1:2882" */
} admin;

/* ----------------------------------------------------------------- output */

static void json_string(const char *s) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)(s != NULL ? s : ""); *c != '\0'; c++) {
        if (*c == '"' || *c == '\\') {
            printf("\\%c", *c);
        } else if (*c < 0x20) {
            printf("\\u%04x", *c);
        } else {
            putchar(*c);
        }
    }
    putchar('"');
}

static void json_tallies(Nnrpc__Tally **tallies, size_t count) {
    printf("{");
    for (size_t i = 0; i < count; i++) {
        printf("%s", i > 0 ? "," : "");
        json_string(tallies[i]->reason);
        printf(":%llu", (unsigned long long)tallies[i]->count);
    }
    printf("}");
}

static uint64_t tallies_sum(Nnrpc__Tally **tallies, size_t count) {
    uint64_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        sum += tallies[i]->count;
    }
    return sum;
}

static int fail(const admin *ad, const char *what, const nn_err *err) {
    if (ad->json) {
        printf("{\"ok\":false,\"node\":");
        json_string(ad->target != NULL ? ad->target->name : "");
        printf(",\"error\":");
        char msg[800];
        snprintf(msg, sizeof(msg), "%s: %s%s%s", ad->where, what != NULL ? what : "",
                 what != NULL ? ": " : "", err->msg);
        json_string(msg);
        printf("}\n");
    }
    fprintf(stderr, "nodenet-admin: %s: %s%s%s\n", ad->where, what != NULL ? what : "",
            what != NULL ? ": " : "", err->msg);
    return 1;
}

/* ---------------------------------------------------------------- connect */

static int tool_security(admin *ad, nn_err *err) {
    nn_security_config sc = {
        .node_name = ad->target->name,
        .cert_file = ad->cfg.security.admin_cert_file,
        .key_file = ad->cfg.security.admin_key_file,
        .crl_file = ad->cfg.security.crl_file,
        .min_version = ad->cfg.security.tls_min_version,
        .rpc_min_version = ad->cfg.security.rpc_tls_min_version,
        .ciphers = ad->cfg.security.ciphers,
        .watch_interval_ms = UINT32_MAX,
    };
    char wallet_ca[4096];
    if (ad->cfg.security.wallet_dir != NULL) {
        snprintf(wallet_ca, sizeof(wallet_ca), "%s/ca.pem", ad->cfg.security.wallet_dir);
        sc.ca_file = wallet_ca;
    } else {
        sc.ca_file = ad->cfg.security.ca_file;
    }
    ad->sec = nn_security_new(&sc, err);
    if (ad->sec == NULL) {
        nn_err_prefix(err, "admin certificate");
        return -EINVAL;
    }
    return 0;
}

static int tool_connect(admin *ad, nn_err *err) {
    nn_rpc_tool_config tc = {
        .host = ad->target->host,
        .port = ad->target->rpc_port,
        .expect_node = ad->target->name,
        .cluster_id = ad->cfg.cluster_id,
        .max_frame_bytes = ad->cfg.node.max_frame_bytes,
    };
    nn_config_rpc_tls mode = ad->cfg.security.rpc_tls;
    if (mode != NN_CONFIG_RPC_TLS_OFF) {
        if (tool_security(ad, err) < 0) {
            return -EINVAL;
        }
        tc.sec = ad->sec;
        ad->tool = nn_rpc_tool_connect(&tc, err);
        if (ad->tool != NULL || mode == NN_CONFIG_RPC_TLS_REQUIRE) {
            return ad->tool != NULL ? 0 : -ECONNREFUSED;
        }
        /* prefer: the node may still run with rpc_tls off during a rollout. Such a node
         * closes a TLS hello without a byte, which the tool client reports as "closed the
         * TLS handshake" (rpc.h, note 1). Every other TLS failure (our certificate refused,
         * the node's certificate naming another node, an alert, no route) stands: falling
         * back then would let anyone in the middle talk us out of TLS. */
        if (strstr(err->msg, "closed the TLS handshake") == NULL) {
            return -ECONNREFUSED;
        }
        nn_err tls_err = *err;
        tc.sec = NULL;
        ad->tool = nn_rpc_tool_connect(&tc, err);
        if (ad->tool == NULL) {
            *err = tls_err;
            return -ECONNREFUSED;
        }
        return 0;
    }
    ad->tool = nn_rpc_tool_connect(&tc, err);
    return ad->tool != NULL ? 0 : -ECONNREFUSED;
}

/* Calls method; on failure prints the error and returns 1. */
static int call(admin *ad, const char *method, const void *payload, size_t len,
                uint64_t timeout_ms, uint8_t **out, size_t *out_len) {
    nn_err err = {0};
    nn_rpc_status st =
        nn_rpc_tool_call(ad->tool, method, payload, len, timeout_ms, out, out_len, &err);
    if (st != NN_RPC_OK) {
        if (err.msg[0] == '\0') {
            snprintf(err.msg, sizeof(err.msg), "%s", nn_rpc_status_name(st));
        }
        return fail(ad, method, &err);
    }
    return 0;
}

/* --------------------------------------------------------------- commands */

static int cmd_status(admin *ad) {
    uint8_t *reply = NULL;
    size_t len = 0;
    if (call(ad, "node.info", NULL, 0, 0, &reply, &len) != 0) {
        return 1;
    }
    Nnrpc__NodeInfo *info = nnrpc__node_info__unpack(NULL, len, reply);
    free(reply);
    if (info == NULL) {
        nn_err err = {.code = EPROTO, .msg = "malformed NodeInfo reply"};
        return fail(ad, "node.info", &err);
    }
    nn_tls_facts facts;
    bool encrypted = nn_rpc_tool_facts(ad->tool, &facts) == 0 && facts.encrypted;
    if (ad->json) {
        printf("{\"ok\":true,\"node\":");
        json_string(info->name);
        printf(",\"version\":");
        json_string(info->version);
        printf(",\"uptime_ms\":%llu,\"cluster_id\":%llu,\"rpc_tls\":",
               (unsigned long long)info->uptime_ms, (unsigned long long)info->cluster_id);
        json_string(info->rpc_tls);
        printf(",\"cert_subject\":");
        json_string(info->cert_subject);
        printf(",\"cert_issuer\":");
        json_string(info->cert_issuer);
        printf(",\"cert_not_before\":%lld,\"cert_not_after\":%lld,\"cert_generation\":%llu,"
               "\"admin_connection_encrypted\":%s",
               (long long)info->cert_not_before, (long long)info->cert_not_after,
               (unsigned long long)info->cert_generation, encrypted ? "true" : "false");
        printf(",\"crl_next_update\":%lld,\"cert_reload_error\":", (long long)info->crl_next_update);
        json_string(info->cert_reload_error);
        printf("}\n");
    } else {
        printf("node        %s (%s:%u)\n", info->name, ad->target->host, ad->target->rpc_port);
        printf("version     %s\n", info->version);
        printf("uptime      %.1f s\n", (double)info->uptime_ms / 1000.0);
        printf("cluster id  %llu\n", (unsigned long long)info->cluster_id);
        printf("rpc_tls     %s\n", info->rpc_tls);
        printf("certificate %s\n", info->cert_subject[0] != '\0' ? info->cert_subject : "(none)");
        if (info->cert_subject[0] != '\0') {
            printf("  issuer    %s\n", info->cert_issuer);
            printf("  valid     %lld .. %lld (unix s), generation %llu\n",
                   (long long)info->cert_not_before, (long long)info->cert_not_after,
                   (unsigned long long)info->cert_generation);
            if (info->crl_next_update != 0) {
                printf("  crl       next update %lld (unix s)\n", (long long)info->crl_next_update);
            }
            if (info->cert_reload_error[0] != '\0') {
                printf("  reload    FAILED, old certificates in use: %s\n", info->cert_reload_error);
            }
        }
        printf("this link   %s\n", encrypted ? facts.version : "plaintext");
    }
    nnrpc__node_info__free_unpacked(info, NULL);
    return 0;
}

static int cmd_mesh(admin *ad) {
    uint8_t *reply = NULL;
    size_t len = 0;
    if (call(ad, "mesh.state", NULL, 0, 0, &reply, &len) != 0) {
        return 1;
    }
    Nnrpc__MeshState *mesh = nnrpc__mesh_state__unpack(NULL, len, reply);
    free(reply);
    if (mesh == NULL) {
        nn_err err = {.code = EPROTO, .msg = "malformed MeshState reply"};
        return fail(ad, "mesh.state", &err);
    }
    size_t ready = 0;
    for (size_t i = 0; i < mesh->n_channels; i++) {
        ready += strcmp(mesh->channels[i]->state, "ready") == 0;
    }
    if (ad->json) {
        printf("{\"ok\":true,\"node\":");
        json_string(mesh->node);
        printf(",\"ready\":%zu,\"channels\":[", ready);
        for (size_t i = 0; i < mesh->n_channels; i++) {
            const Nnrpc__ChannelState *c = mesh->channels[i];
            printf("%s{\"peer\":", i > 0 ? "," : "");
            json_string(c->peer);
            printf(",\"state\":");
            json_string(c->state);
            printf(",\"encrypted\":%s,\"tls_version\":", c->encrypted ? "true" : "false");
            json_string(c->tls_version);
            printf(",\"cipher\":");
            json_string(c->cipher);
            printf(",\"peer_subject\":");
            json_string(c->peer_subject);
            printf(",\"in_flight\":%llu,\"ok\":%llu,\"failed\":",
                   (unsigned long long)c->in_flight, (unsigned long long)c->ok);
            json_tallies(c->failed, c->n_failed);
            printf(",\"reconnects\":%llu,\"bytes_out\":%llu,\"bytes_in\":%llu,\"last_error\":",
                   (unsigned long long)c->reconnects, (unsigned long long)c->bytes_out,
                   (unsigned long long)c->bytes_in);
            json_string(c->last_error);
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("%s: %zu of %zu channels ready\n", mesh->node, ready, mesh->n_channels);
        printf("%-12s %-11s %-8s %-22s %10s %8s %10s  %s\n", "peer", "state", "tls", "cipher",
               "ok", "failed", "reconnects", "last error");
        for (size_t i = 0; i < mesh->n_channels; i++) {
            const Nnrpc__ChannelState *c = mesh->channels[i];
            printf("%-12s %-11s %-8s %-22s %10llu %8llu %10llu  %s\n", c->peer, c->state,
                   c->encrypted ? c->tls_version : "off", c->encrypted ? c->cipher : "-",
                   (unsigned long long)c->ok,
                   (unsigned long long)tallies_sum(c->failed, c->n_failed),
                   (unsigned long long)c->reconnects, c->last_error);
        }
    }
    nnrpc__mesh_state__free_unpacked(mesh, NULL);
    return 0;
}

static int cmd_ping(admin *ad) {
    uint64_t start = nn_now_ns();
    uint8_t *reply = NULL;
    size_t len = 0;
    if (call(ad, "ping", NULL, 0, 0, &reply, &len) != 0) {
        return 1;
    }
    free(reply);
    double ms = (double)(nn_now_ns() - start) / 1e6;
    if (ad->json) {
        printf("{\"ok\":true,\"node\":");
        json_string(ad->target->name);
        printf(",\"rtt_ms\":%.3f}\n", ms);
    } else {
        printf("%s: pong in %.3f ms\n", ad->where, ms);
    }
    return 0;
}

static int cmd_drive(admin *ad, uint32_t rate, uint32_t size, uint32_t seconds) {
    Nnrpc__DriveRequest req = NNRPC__DRIVE_REQUEST__INIT;
    req.rate_per_sec = rate;
    req.payload_bytes = size;
    req.duration_ms = (uint64_t)seconds * 1000u;
    uint8_t packed[64];
    size_t packed_len = nnrpc__drive_request__pack(&req, packed);
    uint8_t *reply = NULL;
    size_t len = 0;
    /* The drive runs for `seconds`, then waits for its last calls (bounded by their
     * deadline): give it both plus slack. */
    uint64_t timeout_ms = req.duration_ms + 2 * ad->cfg.node.call_timeout_ms + 5000;
    if (call(ad, "mesh.drive", packed, packed_len, timeout_ms, &reply, &len) != 0) {
        return 1;
    }
    Nnrpc__DriveResult *res = nnrpc__drive_result__unpack(NULL, len, reply);
    free(reply);
    if (res == NULL) {
        nn_err err = {.code = EPROTO, .msg = "malformed DriveResult reply"};
        return fail(ad, "mesh.drive", &err);
    }
    uint64_t failed = tallies_sum(res->failed, res->n_failed);
    if (ad->json) {
        printf("{\"ok\":%s,\"node\":", failed == 0 ? "true" : "false");
        json_string(ad->target->name);
        printf(",\"sent\":%llu,\"succeeded\":%llu,\"failed\":%llu,\"failures\":",
               (unsigned long long)res->sent, (unsigned long long)res->ok,
               (unsigned long long)failed);
        json_tallies(res->failed, res->n_failed);
        printf("}\n");
    } else {
        printf("%s: sent %llu, ok %llu, failed %llu\n", ad->where, (unsigned long long)res->sent,
               (unsigned long long)res->ok, (unsigned long long)failed);
        for (size_t i = 0; i < res->n_failed; i++) {
            printf("  %-20s %llu\n", res->failed[i]->reason,
                   (unsigned long long)res->failed[i]->count);
        }
    }
    nnrpc__drive_result__free_unpacked(res, NULL);
    return failed == 0 ? 0 : 1;
}

static int cmd_reload(admin *ad) {
    uint8_t *reply = NULL;
    size_t len = 0;
    if (call(ad, "node.reload", NULL, 0, 30000, &reply, &len) != 0) {
        return 1;
    }
    char summary[1024];
    size_t n = len < sizeof(summary) - 1 ? len : sizeof(summary) - 1;
    if (n > 0) {
        memcpy(summary, reply, n);
    }
    summary[n] = '\0';
    free(reply);
    if (ad->json) {
        printf("{\"ok\":true,\"node\":");
        json_string(ad->target->name);
        printf(",\"result\":");
        json_string(summary);
        printf("}\n");
    } else {
        printf("%s: %s\n", ad->where, summary);
    }
    return 0;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *out) {
    fprintf(out, "usage: nodenet-admin --config FILE --node NAME <command> [--json]\n"
                 "commands: status | mesh | ping | reload |\n"
                 "          drive --rate CALLS_PER_SEC --size BYTES --seconds S\n");
}

static int number_parse(const char *name, const char *text, uint32_t min, uint32_t max,
                        uint32_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < min || v > max) {
        fprintf(stderr, "nodenet-admin: %s: invalid value '%s' (expected %u to %u)\n", name,
                text, min, max);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int main(int argc, char **argv) {
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"node", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},         {"rate", required_argument, NULL, 'r'},
        {"size", required_argument, NULL, 's'},   {"seconds", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    admin ad;
    memset(&ad, 0, sizeof(ad));
    const char *config_path = NULL;
    const char *node_name = NULL;
    uint32_t rate = 100;
    uint32_t size = 64;
    uint32_t seconds = 5;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:n:jr:s:t:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'n':
            node_name = optarg;
            break;
        case 'j':
            ad.json = true;
            break;
        case 'r':
            if (number_parse("--rate", optarg, 1, 1000000, &rate) < 0) {
                return 1;
            }
            break;
        case 's':
            if (number_parse("--size", optarg, 0, 16u << 20, &size) < 0) {
                return 1;
            }
            break;
        case 't':
            if (number_parse("--seconds", optarg, 1, 86400, &seconds) < 0) {
                return 1;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (config_path == NULL || node_name == NULL || optind + 1 != argc) {
        fprintf(stderr, "nodenet-admin: %s\n",
                config_path == NULL ? "--config is required"
                : node_name == NULL ? "--node is required"
                                    : "exactly one command is expected");
        usage(stderr);
        return 1;
    }
    const char *command = argv[optind];
    static const char *const commands[] = {"status", "mesh", "ping", "drive", "reload"};
    bool known = false;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        known = known || strcmp(command, commands[i]) == 0;
    }
    if (!known) {
        fprintf(stderr, "nodenet-admin: unknown command '%s'\n", command);
        usage(stderr);
        return 1;
    }

    /* The tool reports its own errors; the library's routine warnings (a closed tool
     * connection) would only be noise on its stderr. */
    nn_log_set_level(NN_LOG_ERROR);
    nn_err err = {0};
    if (nn_config_load(config_path, node_name, NN_CONFIG_FOR_TOOL, &ad.cfg, &err) < 0) {
        snprintf(ad.where, sizeof(ad.where), "%s", node_name);
        return fail(&ad, NULL, &err);
    }
    ad.target = nn_config_self(&ad.cfg);
    snprintf(ad.where, sizeof(ad.where), "%s at %s:%u", ad.target->name, ad.target->host,
             ad.target->rpc_port);

    int rc = 1;
    if (tool_connect(&ad, &err) < 0) {
        fail(&ad, NULL, &err);
    } else if (strcmp(command, "status") == 0) {
        rc = cmd_status(&ad);
    } else if (strcmp(command, "mesh") == 0) {
        rc = cmd_mesh(&ad);
    } else if (strcmp(command, "ping") == 0) {
        rc = cmd_ping(&ad);
    } else if (strcmp(command, "drive") == 0) {
        rc = cmd_drive(&ad, rate, size, seconds);
    } else {
        rc = cmd_reload(&ad);
    }
    if (ad.tool != NULL) {
        nn_rpc_tool_close(ad.tool);
    }
    if (ad.sec != NULL) {
        nn_security_free(ad.sec);
    }
    nn_config_free(&ad.cfg);
    return rc;
}
