/* mysql/stats.c: login counters for metrics, kept per worker stripe (relaxed atomics, no
 * lock on the login path) and summed when read. */
#include <string.h>

#include "mysql/session_internal.h"

static nn_mysql_stats_stripe *stripe_of(nn_mysql_session *ses) {
    nn_loop *loop = ses->stream != NULL ? nn_stream_loop(ses->stream) : nn_loop_current();
    uint32_t index = loop != NULL ? nn_loop_index(loop) : 0;
    return &ses->srv->stats[index % NN_MYSQL_STATS_STRIPES];
}

void nn_mysql_stats_login_ok(nn_mysql_session *ses) {
    atomic_fetch_add_explicit(&stripe_of(ses)->c.logins_ok, 1, memory_order_relaxed);
}

static nn_mysql_deny_reason reason_classify(const char *reason) {
    if (strstr(reason, "no such account") != NULL) {
        return NN_MYSQL_DENY_NO_ACCOUNT;
    }
    if (strncmp(reason, "SSL requirement not met", 23) == 0) {
        return NN_MYSQL_DENY_SSL_REQUIREMENT;
    }
    if (strstr(reason, "without TLS") != NULL) {
        return NN_MYSQL_DENY_INSECURE_TRANSPORT;
    }
    if (strstr(reason, "password") != NULL || strstr(reason, "malformed") != NULL ||
        strstr(reason, "did not decrypt") != NULL) {
        return NN_MYSQL_DENY_PASSWORD;
    }
    return NN_MYSQL_DENY_OTHER;
}

void nn_mysql_stats_login_denied(nn_mysql_session *ses, const char *reason) {
    nn_mysql_deny_reason r = reason_classify(reason != NULL ? reason : "");
    atomic_fetch_add_explicit(&stripe_of(ses)->c.denied[r], 1, memory_order_relaxed);
}

static bool differs(const char *want, const char *have) {
    return want != NULL && strcmp(want, have) != 0;
}

void nn_mysql_stats_require_denied(nn_mysql_session *ses, const nn_tls_facts *f) {
    const nn_ssl_require *req = ses->account != NULL ? &ses->account->require : NULL;
    nn_mysql_require_clause clause = NN_MYSQL_REQUIRE_SSL;
    if (req == NULL || !f->encrypted || req->type == NN_SSL_ANY) {
        clause = NN_MYSQL_REQUIRE_SSL;
    } else if (!f->peer_cert_verified) {
        clause = NN_MYSQL_REQUIRE_X509;
    } else if (req->type == NN_SSL_SPECIFIED && differs(req->cipher, f->cipher)) {
        clause = NN_MYSQL_REQUIRE_CIPHER;
    } else if (req->type == NN_SSL_SPECIFIED && differs(req->issuer, f->peer_issuer)) {
        clause = NN_MYSQL_REQUIRE_ISSUER;
    } else if (req->type == NN_SSL_SPECIFIED && differs(req->subject, f->peer_subject)) {
        clause = NN_MYSQL_REQUIRE_SUBJECT;
    } else {
        clause = NN_MYSQL_REQUIRE_X509;
    }
    atomic_fetch_add_explicit(&stripe_of(ses)->c.require[clause], 1, memory_order_relaxed);
}

void nn_mysql_server_stats_get(nn_mysql_server *srv, nn_mysql_stats *out) {
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < NN_MYSQL_STATS_STRIPES; i++) {
        nn_mysql_stats_stripe *s = &srv->stats[i];
        out->logins_ok += atomic_load_explicit(&s->c.logins_ok, memory_order_relaxed);
        for (size_t r = 0; r < NN_MYSQL_DENY_COUNT; r++) {
            out->logins_denied[r] += atomic_load_explicit(&s->c.denied[r], memory_order_relaxed);
        }
        for (size_t c = 0; c < NN_MYSQL_REQUIRE_COUNT; c++) {
            out->denied_by_require[c] +=
                atomic_load_explicit(&s->c.require[c], memory_order_relaxed);
        }
    }
    out->connections_accepted = atomic_load_explicit(&srv->connections, memory_order_relaxed);
    out->connections_open = atomic_load_explicit(&srv->threads_connected, memory_order_relaxed);
}

const char *nn_mysql_deny_reason_name(nn_mysql_deny_reason reason) {
    static const char *const names[NN_MYSQL_DENY_COUNT] = {
        "no_account", "password", "ssl_requirement", "insecure_transport", "other"};
    return (unsigned)reason < NN_MYSQL_DENY_COUNT ? names[reason] : "other";
}

const char *nn_mysql_require_clause_name(nn_mysql_require_clause clause) {
    static const char *const names[NN_MYSQL_REQUIRE_COUNT] = {"ssl", "x509", "cipher", "issuer",
                                                              "subject"};
    return (unsigned)clause < NN_MYSQL_REQUIRE_COUNT ? names[clause] : "ssl";
}
