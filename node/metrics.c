/* node/metrics.c: the Prometheus text endpoint. A small HTTP/1.1 handler on net/'s
 * listener, served by the same io_uring workers as everything else (no thread of its
 * own): one bounded request (8 KiB of head, 5 s to send it and finish any TLS handshake),
 * one answer, then the connection closes (Connection: close). With security.metrics_tls
 * the connection is TLS and the scraper must present a certificate of the cluster CA. The page is
 * built from counters that the modules keep per worker with relaxed atomics, so a scrape costs the
 * hot paths nothing; it reads no file (certificate facts were read at start and at each reload). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "node/node_internal.h"

#define HTTP_MAX_HEAD 8192u
#define HTTP_DEADLINE_MS 5000u

/* ------------------------------------------------------------------ the page */

typedef struct page {
    nn_buf *out;
    int rc;
} page;

static void put(page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(page *p, const char *fmt, ...) {
    if (p->rc < 0) {
        return;
    }
    char line[1400];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) || nn_buf_append(p->out, line, (size_t)n) < 0) {
        p->rc = -ENOMEM;
    }
}

/* Label values come from certificates: keep quotes, backslashes and newlines out. */
static const char *esc(const char *in, char *buf, size_t cap) {
    size_t j = 0;
    for (size_t i = 0; in[i] != '\0' && j + 2 < cap; i++) {
        char ch = in[i];
        if (ch == '"' || ch == '\\') {
            buf[j++] = '\\';
            buf[j++] = ch;
        } else {
            buf[j++] = ch == '\n' ? ' ' : ch;
        }
    }
    buf[j] = '\0';
    return buf;
}

static void head(page *p, const char *name, const char *type, const char *help) {
    put(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void net_part(page *p, nn_node *node) {
    nn_server *srv = nn_node_server(node);
    nn_loop_stats sum = {0};
    for (uint32_t i = 0; i < nn_server_worker_count(srv); i++) {
        nn_loop_stats s;
        nn_loop_stats_get(nn_server_loop(srv, i), &s);
        sum.accepted += s.accepted;
        sum.refused += s.refused;
        sum.accept_errors += s.accept_errors;
        sum.open += s.open;
        sum.bytes_in += s.bytes_in;
        sum.bytes_out += s.bytes_out;
    }
    nn_mysql_stats ms;
    nn_mysql_server_stats_get(nn_node_mysql(node), &ms);
    nn_rpc_conn_counts rc;
    nn_rpc_conn_counts_get(nn_node_rpc(node), &rc);
    head(p, "nodenet_connections", "gauge",
         "Connections now, by listener and state (all: every listener and outbound channel; "
         "rpc_outbound: the channels to the other nodes).");
    put(p, "nodenet_connections{listener=\"all\",state=\"open\"} %llu\n",
        (unsigned long long)sum.open);
    put(p, "nodenet_connections{listener=\"mysql\",state=\"open\"} %llu\n",
        (unsigned long long)ms.connections_open);
    put(p, "nodenet_connections{listener=\"rpc\",state=\"open\"} %llu\n",
        (unsigned long long)rc.inbound_open);
    put(p, "nodenet_connections{listener=\"rpc_outbound\",state=\"ready\"} %llu\n",
        (unsigned long long)rc.outbound_ready);
    put(p, "nodenet_connections{listener=\"rpc_outbound\",state=\"not_ready\"} %llu\n",
        (unsigned long long)(rc.outbound - rc.outbound_ready));
    head(p, "nodenet_connections_accepted_total", "counter", "Connections accepted.");
    put(p, "nodenet_connections_accepted_total{listener=\"all\"} %llu\n",
        (unsigned long long)sum.accepted);
    put(p, "nodenet_connections_accepted_total{listener=\"mysql\"} %llu\n",
        (unsigned long long)ms.connections_accepted);
    put(p, "nodenet_connections_accepted_total{listener=\"rpc\"} %llu\n",
        (unsigned long long)rc.inbound_accepted);
    head(p, "nodenet_connections_refused_total", "counter",
         "Connections refused, by reason (max_connections, or accept errors).");
    put(p, "nodenet_connections_refused_total{reason=\"max_connections\"} %llu\n",
        (unsigned long long)sum.refused);
    put(p, "nodenet_connections_refused_total{reason=\"accept_error\"} %llu\n",
        (unsigned long long)sum.accept_errors);
    head(p, "nodenet_bytes_received_total", "counter", "Raw bytes received by every worker.");
    put(p, "nodenet_bytes_received_total %llu\n", (unsigned long long)sum.bytes_in);
    head(p, "nodenet_bytes_sent_total", "counter", "Raw bytes sent by every worker.");
    put(p, "nodenet_bytes_sent_total %llu\n", (unsigned long long)sum.bytes_out);

    head(p, "nodenet_mysql_logins_total", "counter",
         "MySQL logins by outcome and reason (reason \"ok\" for a successful login).");
    put(p, "nodenet_mysql_logins_total{outcome=\"ok\",reason=\"ok\"} %llu\n",
        (unsigned long long)ms.logins_ok);
    for (int r = 0; r < NN_MYSQL_DENY_COUNT; r++) {
        put(p, "nodenet_mysql_logins_total{outcome=\"denied\",reason=\"%s\"} %llu\n",
            nn_mysql_deny_reason_name((nn_mysql_deny_reason)r),
            (unsigned long long)ms.logins_denied[r]);
    }
    head(p, "nodenet_mysql_login_denials_by_require_total", "counter",
         "MySQL logins denied by the account's REQUIRE clause, by the clause not met.");
    for (int c = 0; c < NN_MYSQL_REQUIRE_COUNT; c++) {
        put(p, "nodenet_mysql_login_denials_by_require_total{clause=\"%s\"} %llu\n",
            nn_mysql_require_clause_name((nn_mysql_require_clause)c),
            (unsigned long long)ms.denied_by_require[c]);
    }
}

static void node_part(page *p, nn_node *node) {
    nn_node_stats st;
    nn_node_stats_get(node, &st);
    head(p, "nodenet_build_info", "gauge", "The running version (always 1).");
    put(p, "nodenet_build_info{node=\"%s\",version=\"%s\"} 1\n", st.name, NN_NODE_VERSION);
    static const char *const rpc_modes[] = {"off", "prefer", "require"};
    head(p, "nodenet_tls_mode_info", "gauge", "The TLS settings in force (always 1).");
    put(p,
        "nodenet_tls_mode_info{mysql_tls=\"%s\",require_secure_transport=\"%s\","
        "rpc_tls=\"%s\"} 1\n",
        st.mysql_tls ? "on" : "off", st.require_secure_transport ? "on" : "off",
        (unsigned)st.rpc_tls < 3 ? rpc_modes[st.rpc_tls] : "?");
    head(p, "nodenet_uptime_seconds", "gauge", "Seconds since the node started.");
    put(p, "nodenet_uptime_seconds %.3f\n", (double)st.uptime_ms / 1000.0);
    head(p, "nodenet_reloads_total", "counter", "Reloads (SIGHUP or node.reload) by outcome.");
    put(p, "nodenet_reloads_total{outcome=\"ok\"} %llu\n", (unsigned long long)st.reloads_ok);
    put(p, "nodenet_reloads_total{outcome=\"failed\"} %llu\n",
        (unsigned long long)st.reloads_failed);

    nn_mysql_catalog_digest d;
    nn_mysql_server_catalog_digest(nn_node_mysql(node), &d);
    head(p, "nodenet_catalog_version", "gauge", "The newest version in the user catalog.");
    put(p, "nodenet_catalog_version %llu\n", (unsigned long long)d.max_version);
    char hex[65];
    for (size_t i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", d.sha256[i]);
    }
    head(p, "nodenet_catalog_digest_info", "gauge",
         "The user catalog's digest (always 1; nodes that agree show the same sha256).");
    put(p, "nodenet_catalog_digest_info{sha256=\"%s\"} 1\n", hex);
    head(p, "nodenet_catalog_rows", "gauge", "Accounts and tombstones in the user catalog.");
    put(p, "nodenet_catalog_rows %llu\n", (unsigned long long)d.rows);
    /* Versions carry their wall-clock millisecond above 16 bits (catalog_repl.c). */
    int64_t newest_ms = (int64_t)(d.max_version >> 16);
    if (newest_ms > 0) {
        head(p, "nodenet_catalog_newest_change_age_seconds", "gauge",
             "Seconds since the newest change in the user catalog was made.");
        put(p, "nodenet_catalog_newest_change_age_seconds %.3f\n",
            (double)((int64_t)time(NULL) * 1000 - newest_ms) / 1000.0);
    }
    head(p, "nodenet_catalog_digest_agreement_age_seconds", "gauge",
         "Seconds since this node's catalog digest last equalled the peer's (-1: never yet).");
    const nn_config *cfg = nn_node_config(node);
    for (size_t i = 0; i < cfg->node_count; i++) {
        if (i == cfg->self) {
            continue;
        }
        put(p, "nodenet_catalog_digest_agreement_age_seconds{peer=\"%s\"} %lld\n",
            cfg->nodes[i].name, (long long)nn_node_catalog_agreement_age(node, i));
    }

    nn_node_cert certs[NN_NODE_MAX_CERTS];
    size_t n = nn_node_certs_get(node, certs, NN_NODE_MAX_CERTS);
    char subject[1100];
    char serial[300];
    head(p, "nodenet_cert_not_before_seconds", "gauge",
         "Start of a certificate's validity (unix seconds), by role.");
    for (size_t i = 0; i < n; i++) {
        put(p, "nodenet_cert_not_before_seconds{role=\"%s\",subject=\"%s\",serial=\"%s\"} %lld\n",
            certs[i].role, esc(certs[i].info.subject, subject, sizeof(subject)),
            esc(certs[i].info.serial, serial, sizeof(serial)), (long long)certs[i].info.not_before);
    }
    head(p, "nodenet_cert_not_after_seconds", "gauge",
         "End of a certificate's validity (unix seconds), by role.");
    for (size_t i = 0; i < n; i++) {
        put(p, "nodenet_cert_not_after_seconds{role=\"%s\",subject=\"%s\",serial=\"%s\"} %lld\n",
            certs[i].role, esc(certs[i].info.subject, subject, sizeof(subject)),
            esc(certs[i].info.serial, serial, sizeof(serial)), (long long)certs[i].info.not_after);
    }
    head(p, "nodenet_cert_warn_days", "gauge",
         "Days before expiry from which the node warns (security.cert_warn_days).");
    put(p, "nodenet_cert_warn_days %u\n", st.cert_warn_days);
}

int nn_node_metrics_write(nn_node *node, nn_buf *out) {
    page p = {.out = out, .rc = 0};
    node_part(&p, node);
    net_part(&p, node);
    if (p.rc == 0 && nn_rpc_metrics_write(nn_node_rpc(node), out) < 0) {
        p.rc = -ENOMEM;
    }
    return p.rc;
}

/* ----------------------------------------------------------------- HTTP/1.1 */

static void respond(nn_stream *s, const char *status, const char *type, const void *body,
                    size_t len, bool with_body) {
    char hdr[256];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nCache-Control: no-store\r\n\r\n",
                     status, type, len);
    struct iovec iov[2] = {{hdr, (size_t)n}, {(void *)body, with_body ? len : 0}};
    nn_stream_writev(s, iov, with_body && len > 0 ? 2 : 1);
    nn_stream_close(s, NN_CLOSE_LOCAL, "answered");
}

static void respond_text(nn_stream *s, const char *status, const char *text) {
    respond(s, status, "text/plain; charset=utf-8", text, strlen(text), true);
}

static int on_open(nn_stream *s, void *arg) {
    nn_node *node = arg;
    nn_stream_set_deadline(s, nn_now_ns() + NN_MS(HTTP_DEADLINE_MS));
    nn_node_stats st;
    nn_node_stats_get(node, &st);
    if (!st.metrics_tls || nn_node_security(node) == NULL) {
        nn_stream_set_user(s, node);
        return 0;
    }
    /* Nothing is read until the handshake is done with a verified client (may_read): no
     * plaintext request is ever answered on a TLS port. */
    nn_err err = {0};
    if (nn_tls_stream_start(s, nn_node_security(node), NN_TLS_SERVER, NN_TLS_PEER_CERT_REQUIRED,
                            &err) < 0) {
        nn_log(NN_LOG_WARN, "node.metrics.refused", "peer=%s reason=\"%s\"", nn_stream_peer_host(s),
               err.msg);
        return -EPROTO;
    }
    nn_stream_set_user(s, node); /* on_readable waits for the handshake: may_read() */
    return 0;
}

static void on_readable(nn_stream *s);

static void on_event(nn_stream *s, int event) {
    if (event != NN_STREAM_EV_SECURE || nn_stream_user(s) == NULL) {
        return;
    }
    nn_tls_facts facts;
    nn_tls_facts_get(s, &facts);
    if (!facts.peer_cert_verified) {
        nn_stream_set_user(s, NULL);
        nn_stream_close(s, NN_CLOSE_LOCAL, "metrics: no verified client certificate");
        return;
    }
    on_readable(s);
}

/* Under metrics_tls a request counts only on a secure stream with a verified client. */
static bool may_read(nn_stream *s) {
    nn_tls_facts facts;
    nn_tls_facts_get(s, &facts);
    nn_node_stats st;
    nn_node_stats_get(nn_stream_user(s), &st);
    return !st.metrics_tls || (facts.encrypted && facts.peer_cert_verified);
}

static void on_readable(nn_stream *s) {
    nn_node *node = nn_stream_user(s);
    if (node == NULL || !may_read(s)) {
        return; /* answered already (the close is under way), or TLS not done yet */
    }
    size_t len = 0;
    const uint8_t *in = nn_stream_input(s, &len);
    size_t scan = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
    const uint8_t *end = memmem(in, scan, "\r\n\r\n", 4);
    if (end == NULL) {
        if (len >= HTTP_MAX_HEAD) {
            nn_stream_set_user(s, NULL);
            nn_stream_consume(s, len);
            respond_text(s, "431 Request Header Fields Too Large", "request head too large\n");
        }
        return; /* more of the head to come (bounded by the deadline) */
    }
    char line[256];
    const uint8_t *eol = memchr(in, '\r', (size_t)(end - in) + 1);
    size_t llen = (size_t)(eol - in);
    if (llen >= sizeof(line)) {
        llen = sizeof(line) - 1;
    }
    memcpy(line, in, llen);
    line[llen] = '\0';
    nn_stream_consume(s, len);
    nn_stream_set_user(s, NULL); /* one request per connection */
    char method[16];
    char target[200];
    char version[16];
    if (sscanf(line, "%15s %199s %15s", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
        respond_text(s, "400 Bad Request", "bad request line\n");
        return;
    }
    bool is_head = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !is_head) {
        respond_text(s, "405 Method Not Allowed", "only GET /metrics\n");
        return;
    }
    target[strcspn(target, "?")] = '\0';
    if (strcmp(target, "/metrics") != 0) {
        respond_text(s, "404 Not Found", "only GET /metrics\n");
        return;
    }
    nn_buf body = {0};
    if (nn_node_metrics_write(node, &body) < 0) {
        nn_buf_free(&body);
        respond_text(s, "500 Internal Server Error", "out of memory\n");
        return;
    }
    respond(s, "200 OK", "text/plain; version=0.0.4; charset=utf-8", nn_buf_begin(&body), body.len,
            !is_head);
    nn_buf_free(&body);
}

static void on_close(nn_stream *s, int reason, const char *why) {
    (void)s;
    (void)reason;
    (void)why;
}

const nn_stream_handler nn_node_metrics_http = {
    .on_open = on_open,
    .on_readable = on_readable,
    .on_event = on_event,
    .on_close = on_close,
};
