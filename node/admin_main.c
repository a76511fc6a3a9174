/* nodenet-admin: a tool client over a node's RPC port.
 *
 *   nodenet-admin --config cluster.yaml --node n1 <command> [--json]
 *   nodenet-admin --config cluster.yaml --all <command> [--json]   (status, metrics, certs)
 *     status                          the node's identity, certificate, uptime; with --all
 *                                     one line per node: version, uptime, TLS modes,
 *                                     certificate days left, channels up, catalog agreement
 *     mesh                            its channels to the other nodes
 *     ping                            one round trip
 *     drive --rate R --size B --seconds S   echo traffic from the node to every peer;
 *                                     per-peer results and latency percentiles
 *     reload                          re-read config and certificates (like SIGHUP)
 *     metrics                         the node's metrics (what GET /metrics serves)
 *     certs                           every certificate every node uses (--node: one node),
 *                                     with days left; exit 1 when any is expired or within
 *                                     security.cert_warn_days of expiry (for cron)
 *
 * Times print as UTC ISO 8601 dates, durations with units; --json prints raw numbers
 * (unix seconds, milliseconds) under names that say their unit.
 *
 * With rpc_tls prefer or require it presents admin_cert_file/admin_key_file and checks
 * that the node's certificate names the node; with prefer it falls back to plaintext only
 * when the node's TLS is off. Exit 0 on success, 1 on any error. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* "2026-11-29T22:03:19Z", or "-" for 0. */
static const char *iso_time(int64_t unix_s, char *buf, size_t cap) {
    if (unix_s == 0) {
        snprintf(buf, cap, "-");
        return buf;
    }
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* "3d 4h", "2h 5m", "4m 10s", "12.3s", "850ms" */
static const char *duration(uint64_t ms, char *buf, size_t cap) {
    uint64_t s = ms / 1000u;
    if (s >= 86400u) {
        snprintf(buf, cap, "%llud %lluh", (unsigned long long)(s / 86400u),
                 (unsigned long long)(s % 86400u / 3600u));
    } else if (s >= 3600u) {
        snprintf(buf, cap, "%lluh %llum", (unsigned long long)(s / 3600u),
                 (unsigned long long)(s % 3600u / 60u));
    } else if (s >= 60u) {
        snprintf(buf, cap, "%llum %llus", (unsigned long long)(s / 60u),
                 (unsigned long long)(s % 60u));
    } else if (ms >= 1000u) {
        snprintf(buf, cap, "%.1fs", (double)ms / 1000.0);
    } else {
        snprintf(buf, cap, "%llums", (unsigned long long)ms);
    }
    return buf;
}

/* Microseconds with a unit: "850us", "1.25ms", "2.50s". */
static const char *micros(uint64_t us, char *buf, size_t cap) {
    if (us >= 1000000u) {
        snprintf(buf, cap, "%.2fs", (double)us / 1e6);
    } else if (us >= 1000u) {
        snprintf(buf, cap, "%.2fms", (double)us / 1e3);
    } else {
        snprintf(buf, cap, "%lluus", (unsigned long long)us);
    }
    return buf;
}

/* Whole days from now to not_after (negative once expired). */
static long long days_left(int64_t not_after) {
    int64_t left = not_after - (int64_t)time(NULL);
    return left >= 0 ? (long long)(left / 86400) : -(long long)((-left + 86399) / 86400);
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
    if (ad->sec == NULL && sc.crl_file != NULL && err != NULL &&
        strncmp(err->msg, "security.crl_file:", strlen("security.crl_file:")) == 0) {
        /* The CRL itself is stale or unreadable: a node fails closed on it, but the tool is
         * what an operator diagnoses that with (status shows the node's reload error). It
         * goes on without revocation checking, still verifying the node against the CA. */
        fprintf(stderr,
                "nodenet-admin: warning: %s; going on without checking revocation (the node's "
                "certificate is still verified against the CA): publish a fresh CRL\n",
                err->msg);
        sc.crl_file = NULL;
        *err = (nn_err){0};
        ad->sec = nn_security_new(&sc, err);
    }
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
        char t1[32], t2[32], up[32];
        printf("node         %s (%s:%u)\n", info->name, ad->target->host, ad->target->rpc_port);
        printf("version      %s\n", info->version);
        printf("uptime       %s\n", duration(info->uptime_ms, up, sizeof(up)));
        printf("cluster id   %llu\n", (unsigned long long)info->cluster_id);
        printf("rpc_tls      %s\n", info->rpc_tls);
        printf("certificate  %s\n", info->cert_subject[0] != '\0' ? info->cert_subject : "(none)");
        if (info->cert_subject[0] != '\0') {
            printf("  issuer     %s\n", info->cert_issuer);
            printf("  valid      %s .. %s (%lld days left)\n",
                   iso_time(info->cert_not_before, t1, sizeof(t1)),
                   iso_time(info->cert_not_after, t2, sizeof(t2)), days_left(info->cert_not_after));
            printf("  generation %llu\n", (unsigned long long)info->cert_generation);
            if (info->crl_next_update != 0) {
                printf("  crl        next update %s\n",
                       iso_time(info->crl_next_update, t1, sizeof(t1)));
            }
            if (info->cert_reload_error[0] != '\0') {
                printf("  reload     FAILED, old certificates in use: %s\n",
                       info->cert_reload_error);
            }
        }
        printf("this link    %s\n", encrypted ? facts.version : "plaintext");
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
        printf(",\"peers\":[");
        for (size_t i = 0; i < res->n_peers; i++) {
            const Nnrpc__PeerDrive *p = res->peers[i];
            printf("%s{\"peer\":", i > 0 ? "," : "");
            json_string(p->peer);
            printf(",\"sent\":%llu,\"succeeded\":%llu,\"failures\":", (unsigned long long)p->sent,
                   (unsigned long long)p->ok);
            json_tallies(p->failed, p->n_failed);
            printf(",\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,\"max_us\":%llu}",
                   (unsigned long long)p->p50_us, (unsigned long long)p->p90_us,
                   (unsigned long long)p->p99_us, (unsigned long long)p->max_us);
        }
        printf("]}\n");
    } else {
        printf("%s: sent %llu, ok %llu, failed %llu in %u s\n", ad->where,
               (unsigned long long)res->sent, (unsigned long long)res->ok,
               (unsigned long long)failed, seconds);
        printf("  %-12s %8s %8s %8s %10s %10s %10s %10s  %s\n", "peer", "sent", "ok", "failed",
               "p50", "p90", "p99", "max", "failures");
        for (size_t i = 0; i < res->n_peers; i++) {
            const Nnrpc__PeerDrive *p = res->peers[i];
            char a[24], b[24], c[24], d[24], why[256] = "";
            size_t used = 0;
            for (size_t k = 0; k < p->n_failed && used < sizeof(why); k++) {
                int n = snprintf(why + used, sizeof(why) - used, "%s%s=%llu", k > 0 ? " " : "",
                                 p->failed[k]->reason, (unsigned long long)p->failed[k]->count);
                used += n > 0 ? (size_t)n : 0;
            }
            printf("  %-12s %8llu %8llu %8llu %10s %10s %10s %10s  %s\n", p->peer,
                   (unsigned long long)p->sent, (unsigned long long)p->ok,
                   (unsigned long long)tallies_sum(p->failed, p->n_failed),
                   micros(p->p50_us, a, sizeof(a)), micros(p->p90_us, b, sizeof(b)),
                   micros(p->p99_us, c, sizeof(c)), micros(p->max_us, d, sizeof(d)), why);
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

static int cmd_metrics(admin *ad, bool banner) {
    uint8_t *reply = NULL;
    size_t len = 0;
    if (call(ad, "node.metrics", NULL, 0, 0, &reply, &len) != 0) {
        return 1;
    }
    if (ad->json) {
        char *text = malloc(len + 1);
        if (text == NULL) {
            free(reply);
            nn_err err = {.code = ENOMEM, .msg = "out of memory"};
            return fail(ad, "node.metrics", &err);
        }
        if (len > 0) {
            memcpy(text, reply, len);
        }
        text[len] = '\0';
        printf("{\"ok\":true,\"node\":");
        json_string(ad->target->name);
        printf(",\"text\":");
        json_string(text);
        printf("}\n");
        free(text);
    } else {
        if (banner) {
            printf("# node %s\n", ad->where);
        }
        fwrite(reply, 1, len, stdout);
    }
    free(reply);
    return 0;
}

/* One line of node.certs: role, file, subject, issuer, serial, not_before, not_after,
 * warn_days, tab-separated. */
typedef struct cert_row {
    char node[64];
    char *field[8];
} cert_row;

static size_t split_tabs(char *line, char **out, size_t cap) {
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, "\t", &save); tok != NULL && n < cap;
         tok = strtok_r(NULL, "\t", &save)) {
        out[n++] = tok;
    }
    return n;
}

/* Returns 1 when a certificate is expired or within its warning window; prints it. */
static int cert_print(const admin *ad, const char *node, char **f, bool *first) {
    int64_t not_after = strtoll(f[6], NULL, 10);
    long long warn_days = strtoll(f[7], NULL, 10);
    long long days = days_left(not_after);
    bool expired = not_after <= (int64_t)time(NULL);
    bool soon = !expired && days < warn_days;
    const char *flag = expired ? "EXPIRED" : (soon ? "EXPIRES SOON" : "ok");
    char t[32];
    if (ad->json) {
        printf("%s{\"node\":", *first ? "" : ",");
        json_string(node);
        printf(",\"role\":");
        json_string(f[0]);
        printf(",\"file\":");
        json_string(f[1]);
        printf(",\"subject\":");
        json_string(f[2]);
        printf(",\"issuer\":");
        json_string(f[3]);
        printf(",\"serial\":");
        json_string(f[4]);
        printf(",\"not_before_unix\":%s,\"not_after_unix\":%lld,\"not_after\":", f[5],
               (long long)not_after);
        json_string(iso_time(not_after, t, sizeof(t)));
        printf(",\"days_left\":%lld,\"warn_days\":%lld,\"status\":", days, warn_days);
        json_string(expired ? "expired" : (soon ? "expires_soon" : "ok"));
        printf("}");
    } else {
        printf("%-8s %-7s %-36s %-30s %-20.20s %-20s %9lld  %s\n", node, f[0], f[2], f[3], f[4],
               iso_time(not_after, t, sizeof(t)), days, flag);
    }
    *first = false;
    return expired || soon ? 1 : 0;
}

/* Prints the certificates of the connected node; 1 when any needs attention. */
static int cmd_certs_one(admin *ad, bool *first, bool *flagged) {
    uint8_t *reply = NULL;
    size_t len = 0;
    if (call(ad, "node.certs", NULL, 0, 0, &reply, &len) != 0) {
        return 1;
    }
    char *text = malloc(len + 1);
    if (text == NULL) {
        free(reply);
        return 1;
    }
    if (len > 0) {
        memcpy(text, reply, len);
    }
    text[len] = '\0';
    free(reply);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[8];
        if (split_tabs(line, f, 8) != 8) {
            continue;
        }
        if (cert_print(ad, ad->target->name, f, first) != 0) {
            *flagged = true;
        }
    }
    free(text);
    return 0;
}

/* What status --all shows of one node. */
typedef struct node_summary {
    bool reached;
    char error[600];
    char version[32];
    uint64_t uptime_ms;
    char rpc_tls[16];
    char mysql_tls[8];
    long long cert_days;
    bool has_cert;
    size_t ready, expected;
    char digest[80];
} node_summary;

/* The value of label `key` on the first sample of `metric` in a metrics page, or "". */
static void metrics_label(const char *page, const char *metric, const char *key, char *out,
                          size_t cap) {
    out[0] = '\0';
    size_t mlen = strlen(metric);
    for (const char *line = page; line != NULL && *line != '\0';) {
        const char *next = strchr(line, '\n');
        if (strncmp(line, metric, mlen) == 0 && line[mlen] == '{') {
            char pat[64];
            snprintf(pat, sizeof(pat), "%s=\"", key);
            const char *v = strstr(line, pat);
            if (v != NULL && (next == NULL || v < next)) {
                v += strlen(pat);
                size_t n = strcspn(v, "\"");
                if (n >= cap) {
                    n = cap - 1;
                }
                memcpy(out, v, n);
                out[n] = '\0';
            }
            return;
        }
        line = next != NULL ? next + 1 : NULL;
    }
}

static void summarize(admin *ad, node_summary *s) {
    memset(s, 0, sizeof(*s));
    nn_err err = {0};
    uint8_t *reply = NULL;
    size_t len = 0;
    nn_rpc_status st = nn_rpc_tool_call(ad->tool, "node.info", NULL, 0, 0, &reply, &len, &err);
    Nnrpc__NodeInfo *info = st == NN_RPC_OK ? nnrpc__node_info__unpack(NULL, len, reply) : NULL;
    free(reply);
    if (info == NULL) {
        snprintf(s->error, sizeof(s->error), "node.info: %s", err.msg[0] ? err.msg : "bad reply");
        return;
    }
    s->reached = true;
    snprintf(s->version, sizeof(s->version), "%s", info->version);
    s->uptime_ms = info->uptime_ms;
    snprintf(s->rpc_tls, sizeof(s->rpc_tls), "%s", info->rpc_tls);
    s->has_cert = info->cert_not_after != 0;
    s->cert_days = days_left(info->cert_not_after);
    nnrpc__node_info__free_unpacked(info, NULL);
    reply = NULL;
    if (nn_rpc_tool_call(ad->tool, "mesh.state", NULL, 0, 0, &reply, &len, &err) == NN_RPC_OK) {
        Nnrpc__MeshState *mesh = nnrpc__mesh_state__unpack(NULL, len, reply);
        if (mesh != NULL) {
            s->expected = mesh->n_channels;
            for (size_t i = 0; i < mesh->n_channels; i++) {
                s->ready += strcmp(mesh->channels[i]->state, "ready") == 0;
            }
            nnrpc__mesh_state__free_unpacked(mesh, NULL);
        }
    }
    free(reply);
    reply = NULL;
    if (nn_rpc_tool_call(ad->tool, "node.metrics", NULL, 0, 0, &reply, &len, &err) == NN_RPC_OK) {
        char *page = malloc(len + 1);
        if (page != NULL) {
            if (len > 0) {
                memcpy(page, reply, len);
            }
            page[len] = '\0';
            metrics_label(page, "nodenet_tls_mode_info", "mysql_tls", s->mysql_tls,
                          sizeof(s->mysql_tls));
            metrics_label(page, "nodenet_catalog_digest_info", "sha256", s->digest,
                          sizeof(s->digest));
            free(page);
        }
    }
    free(reply);
}

static void status_all_print(const admin *ad, const nn_config *cfg, node_summary *sums) {
    /* Agreement: every reached node has the first reached node's digest. */
    const char *ref = NULL;
    bool agree = true;
    for (size_t i = 0; i < cfg->node_count; i++) {
        if (!sums[i].reached || sums[i].digest[0] == '\0') {
            continue;
        }
        if (ref == NULL) {
            ref = sums[i].digest;
        } else if (strcmp(ref, sums[i].digest) != 0) {
            agree = false;
        }
    }
    if (ad->json) {
        printf("{\"ok\":%s,\"catalog_agrees\":%s,\"nodes\":[", ref != NULL ? "true" : "false",
               agree ? "true" : "false");
        for (size_t i = 0; i < cfg->node_count; i++) {
            const node_summary *s = &sums[i];
            printf("%s{\"node\":", i > 0 ? "," : "");
            json_string(cfg->nodes[i].name);
            printf(",\"reached\":%s", s->reached ? "true" : "false");
            if (!s->reached) {
                printf(",\"error\":");
                json_string(s->error);
                printf("}");
                continue;
            }
            printf(",\"version\":");
            json_string(s->version);
            printf(",\"uptime_ms\":%llu,\"rpc_tls\":", (unsigned long long)s->uptime_ms);
            json_string(s->rpc_tls);
            printf(",\"mysql_tls\":");
            json_string(s->mysql_tls);
            if (s->has_cert) {
                printf(",\"cert_days_left\":%lld", s->cert_days);
            }
            printf(",\"channels_ready\":%zu,\"channels_expected\":%zu,\"catalog_digest\":",
                   s->ready, s->expected);
            json_string(s->digest);
            printf("}");
        }
        printf("]}\n");
        return;
    }
    printf("%-10s %-8s %-10s %-8s %-9s %9s %-8s %s\n", "node", "version", "uptime", "rpc_tls",
           "mysql_tls", "cert_days", "channels", "catalog");
    for (size_t i = 0; i < cfg->node_count; i++) {
        const node_summary *s = &sums[i];
        if (!s->reached) {
            printf("%-10s DOWN: %s\n", cfg->nodes[i].name, s->error);
            continue;
        }
        char up[32], days[16], chans[16], cat[40];
        snprintf(days, sizeof(days), s->has_cert ? "%lld" : "-", s->cert_days);
        snprintf(chans, sizeof(chans), "%zu/%zu", s->ready, s->expected);
        snprintf(cat, sizeof(cat), "%.12s %s", s->digest[0] ? s->digest : "?",
                 ref != NULL && strcmp(s->digest, ref) == 0 ? "agrees" : "DIFFERS");
        printf("%-10s %-8s %-10s %-8s %-9s %9s %-8s %s\n", cfg->nodes[i].name, s->version,
               duration(s->uptime_ms, up, sizeof(up)), s->rpc_tls,
               s->mysql_tls[0] ? s->mysql_tls : "?", days, chans, cat);
    }
    printf("catalog: %s\n", agree ? "every node reached has the same digest"
                                  : "DIGESTS DIFFER (a node has not caught up)");
}

static void target_set(admin *ad, const nn_config_node *node) {
    ad->target = node;
    snprintf(ad->where, sizeof(ad->where), "%s at %s:%u", node->name, node->host, node->rpc_port);
}

static void target_close(admin *ad) {
    if (ad->tool != NULL) {
        nn_rpc_tool_close(ad->tool);
        ad->tool = NULL;
    }
    if (ad->sec != NULL) {
        nn_security_free(ad->sec);
        ad->sec = NULL;
    }
}

/* status, metrics or certs on every node of the config. */
static int run_all(admin *ad, const char *command) {
    const nn_config *cfg = &ad->cfg;
    int rc = 0;
    node_summary *sums = calloc(cfg->node_count, sizeof(*sums));
    if (sums == NULL) {
        return 1;
    }
    bool first = true;
    bool flagged = false;
    bool certs = strcmp(command, "certs") == 0;
    if (certs && ad->json) {
        printf("{\"certificates\":[");
    } else if (certs) {
        printf("%-8s %-7s %-36s %-30s %-20s %-20s %9s  %s\n", "node", "role", "subject", "issuer",
               "serial", "not_after", "days_left", "status");
    }
    for (size_t i = 0; i < cfg->node_count; i++) {
        target_set(ad, &cfg->nodes[i]);
        nn_err err = {0};
        if (tool_connect(ad, &err) < 0) {
            if (strcmp(command, "status") == 0) {
                snprintf(sums[i].error, sizeof(sums[i].error), "%s", err.msg);
            } else if (!ad->json) {
                fprintf(stderr, "nodenet-admin: %s: %s\n", ad->where, err.msg);
            }
            rc = 1;
            target_close(ad);
            continue;
        }
        if (strcmp(command, "status") == 0) {
            summarize(ad, &sums[i]);
            rc |= sums[i].reached ? 0 : 1;
        } else if (strcmp(command, "metrics") == 0) {
            rc |= cmd_metrics(ad, true);
        } else {
            rc |= cmd_certs_one(ad, &first, &flagged);
        }
        target_close(ad);
    }
    if (strcmp(command, "status") == 0) {
        status_all_print(ad, cfg, sums);
    }
    if (certs && ad->json) {
        printf("],\"attention\":%s}\n", flagged ? "true" : "false");
    }
    free(sums);
    return rc != 0 || flagged ? 1 : 0;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *out) {
    fprintf(out, "usage: nodenet-admin --config FILE (--node NAME | --all) <command> [--json]\n"
                 "commands: status | mesh | ping | reload | metrics | certs |\n"
                 "          drive --rate CALLS_PER_SEC --size BYTES --seconds S\n"
                 "--all works with status, metrics and certs (certs without --node: all)\n");
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
        {"config", required_argument, NULL, 'c'},
        {"node", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"rate", required_argument, NULL, 'r'},
        {"size", required_argument, NULL, 's'},
        {"seconds", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"all", no_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    admin ad;
    memset(&ad, 0, sizeof(ad));
    const char *config_path = NULL;
    const char *node_name = NULL;
    uint32_t rate = 100;
    uint32_t size = 64;
    uint32_t seconds = 5;
    bool all = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:n:jr:s:t:ha", options, NULL)) != -1) {
        switch (opt) {
        case 'a':
            all = true;
            break;
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
    const char *command = optind < argc ? argv[optind] : "";
    if (strcmp(command, "certs") == 0 && node_name == NULL) {
        all = true; /* every certificate of every node, for cron */
    }
    if (config_path == NULL || (node_name == NULL && !all) || optind + 1 != argc) {
        fprintf(stderr, "nodenet-admin: %s\n",
                config_path == NULL ? "--config is required"
                : node_name == NULL ? "--node (or --all) is required"
                                    : "exactly one command is expected");
        usage(stderr);
        return 1;
    }
    static const char *const commands[] = {"status", "mesh",    "ping", "drive",
                                           "reload", "metrics", "certs"};
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
    if (all && strcmp(command, "status") != 0 && strcmp(command, "metrics") != 0 &&
        strcmp(command, "certs") != 0) {
        fprintf(stderr, "nodenet-admin: --all works with status, metrics and certs\n");
        return 1;
    }
    nn_err err = {0};
    if (all && node_name == NULL) {
        /* The config's own node list names the nodes; load it once to learn the first. */
        nn_config probe;
        if (nn_config_load(config_path, NULL, NN_CONFIG_FOR_TOOL, &probe, &err) < 0) {
            snprintf(ad.where, sizeof(ad.where), "%s", config_path);
            return fail(&ad, NULL, &err);
        }
        static char first[64];
        snprintf(first, sizeof(first), "%s", probe.nodes[0].name);
        nn_config_free(&probe);
        node_name = first;
    }
    if (nn_config_load(config_path, node_name, NN_CONFIG_FOR_TOOL, &ad.cfg, &err) < 0) {
        snprintf(ad.where, sizeof(ad.where), "%s", node_name);
        return fail(&ad, NULL, &err);
    }
    target_set(&ad, nn_config_self(&ad.cfg));
    if (all) {
        int all_rc = run_all(&ad, command);
        nn_config_free(&ad.cfg);
        return all_rc;
    }

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
    } else if (strcmp(command, "metrics") == 0) {
        rc = cmd_metrics(&ad, false);
    } else if (strcmp(command, "certs") == 0) {
        bool first = true;
        bool flagged = false;
        if (ad.json) {
            printf("{\"certificates\":[");
        } else {
            printf("%-8s %-7s %-36s %-30s %-20s %-20s %9s  %s\n", "node", "role", "subject",
                   "issuer", "serial", "not_after", "days_left", "status");
        }
        rc = cmd_certs_one(&ad, &first, &flagged);
        if (ad.json) {
            printf("],\"attention\":%s}\n", flagged ? "true" : "false");
        }
        rc = rc != 0 || flagged ? 1 : 0;
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
