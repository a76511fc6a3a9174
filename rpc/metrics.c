/* rpc/metrics.c: the mesh's counters in Prometheus text format. Every counter has one
 * writer (the loop that owns the channel, or per-worker slots for served calls and TLS
 * handshakes) and is read with relaxed loads at scrape time: nothing here adds a lock to
 * a call's path. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rpc/rpc_internal.h"

/* Upper bounds of the latency buckets, in microseconds (the last bucket is +Inf). */
static const uint64_t bucket_us[NN_RPC_LAT_BUCKETS - 1] = {
    250,   500,    1000,   2500,   5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
};

void nn_rpc_latency_record(rpc_latency *h, uint64_t ns) {
    uint64_t us = ns / 1000u;
    size_t i = 0;
    while (i < NN_RPC_LAT_BUCKETS - 1 && us > bucket_us[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void nn_rpc_count_tls_handshake(rpc_conn *c, bool ok) {
    if (c->loop == NULL) {
        return;
    }
    rpc_loop_state *ls = &c->rpc->loops[nn_loop_index(c->loop) % c->rpc->loop_count];
    atomic_fetch_add_explicit(&ls->tls_handshakes[c->outbound ? 1 : 0][ok ? 1 : 0], 1,
                              memory_order_relaxed);
}

void nn_rpc_count_request(nn_rpc_request *req, uint32_t status) {
    if (req->svc == NULL || req->svc->stats == NULL || req->conn->loop == NULL) {
        return;
    }
    nn_rpc *rpc = req->rpc;
    rpc_service_stats *st = &req->svc->stats[nn_loop_index(req->conn->loop) % rpc->loop_count];
    atomic_fetch_add_explicit(&st->outcome[status < NN_RPC_STATUS_COUNT ? status : NN_RPC_E_REMOTE],
                              1, memory_order_relaxed);
    nn_rpc_latency_record(&st->latency, nn_now_ns() - req->start_ns);
}

/* ------------------------------------------------------------------ text */

typedef struct writer {
    nn_buf *out;
    int rc;
} writer;

static void emit(writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(writer *w, const char *fmt, ...) {
    if (w->rc < 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char line[2048];
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) || nn_buf_append(w->out, line, (size_t)n) < 0) {
        w->rc = -ENOMEM;
    }
}

/* Label values here are node names, method names and fixed words; a quote or backslash
 * would still break the format, so they are replaced. */
static const char *label(const char *in, char *buf, size_t cap) {
    size_t j = 0;
    for (size_t i = 0; in[i] != '\0' && j + 1 < cap; i++) {
        char ch = in[i];
        buf[j++] = (ch == '"' || ch == '\\' || ch == '\n') ? '_' : ch;
    }
    buf[j] = '\0';
    return buf;
}

static void histogram(writer *w, const char *name, const char *labels, const uint64_t *counts,
                      uint64_t sum_us) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < NN_RPC_LAT_BUCKETS; i++) {
        cumulative += counts[i];
        if (i < NN_RPC_LAT_BUCKETS - 1) {
            emit(w, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, (double)bucket_us[i] / 1e6,
                 (unsigned long long)cumulative);
        } else {
            emit(w, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels,
                 (unsigned long long)cumulative);
        }
    }
    emit(w, "%s_sum{%s} %.6f\n", name, labels, (double)sum_us / 1e6);
    emit(w, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cumulative);
}

static const char *chan_state_word(int st) {
    static const char *const names[] = {"idle",     "connecting", "ready",
                                        "draining", "down",       "closed"};
    return st >= 0 && st <= CHAN_CLOSED ? names[st] : "unknown";
}

static void channels_write(writer *w, nn_rpc *rpc) {
    char peer[128];
    emit(w, "# HELP nodenet_rpc_channel_state Outbound channel state per peer (1 for the "
            "current state).\n# TYPE nodenet_rpc_channel_state gauge\n");
    for (size_t i = 0; i < rpc->chan_count; i++) {
        rpc_channel *ch = &rpc->chans[i];
        if (ch->loop == NULL) {
            continue;
        }
        int st = atomic_load(&ch->state);
        for (int s = CHAN_IDLE; s <= CHAN_CLOSED; s++) {
            emit(w, "nodenet_rpc_channel_state{peer=\"%s\",state=\"%s\"} %d\n",
                 label(ch->peer, peer, sizeof(peer)), chan_state_word(s), s == st);
        }
    }
    emit(w, "# HELP nodenet_rpc_channel_tls Outbound channel TLS version per peer (1 for the "
            "version in use; \"off\" is plaintext).\n# TYPE nodenet_rpc_channel_tls gauge\n");
    for (size_t i = 0; i < rpc->chan_count; i++) {
        rpc_channel *ch = &rpc->chans[i];
        if (ch->loop == NULL) {
            continue;
        }
        char version[16];
        pthread_mutex_lock(&ch->info_lock);
        bool encrypted = ch->info_encrypted;
        memcpy(version, ch->info_version, sizeof(version));
        pthread_mutex_unlock(&ch->info_lock);
        version[sizeof(version) - 1] = '\0';
        bool ready = atomic_load(&ch->state) == CHAN_READY;
        emit(w, "nodenet_rpc_channel_tls{peer=\"%s\",version=\"%s\"} %d\n",
             label(ch->peer, peer, sizeof(peer)), encrypted ? version : "off", ready ? 1 : 0);
    }
    emit(w, "# HELP nodenet_rpc_channel_peer_cert_not_after_seconds The peer certificate of "
            "the channel's TLS session: its expiry (unix seconds), subject and issuer.\n"
            "# TYPE nodenet_rpc_channel_peer_cert_not_after_seconds gauge\n");
    for (size_t i = 0; i < rpc->chan_count; i++) {
        rpc_channel *ch = &rpc->chans[i];
        if (ch->loop == NULL) {
            continue;
        }
        char subject[512], issuer[512], s1[300], s2[300];
        pthread_mutex_lock(&ch->info_lock);
        bool encrypted = ch->info_encrypted;
        int64_t not_after = ch->info_peer_not_after;
        snprintf(subject, sizeof(subject), "%s", nn_rpc_channel_info_subject(ch));
        snprintf(issuer, sizeof(issuer), "%s", nn_rpc_channel_info_issuer(ch));
        pthread_mutex_unlock(&ch->info_lock);
        if (!encrypted) {
            continue;
        }
        emit(w,
             "nodenet_rpc_channel_peer_cert_not_after_seconds{peer=\"%s\",subject=\"%s\","
             "issuer=\"%s\"} %lld\n",
             label(ch->peer, peer, sizeof(peer)), label(subject, s1, sizeof(s1)),
             label(issuer, s2, sizeof(s2)), (long long)not_after);
    }
    struct {
        const char *name, *help;
        size_t offset;
    } counters[] = {
        {"nodenet_rpc_channel_reconnects_total", "Times the channel came up again.",
         offsetof(rpc_channel, reconnects)},
        {"nodenet_rpc_channel_tls_heals_total",
         "Times a prefer channel returned from a plaintext fallback to TLS.",
         offsetof(rpc_channel, heals)},
        {"nodenet_rpc_channel_tls_retries_total",
         "TLS attempts a prefer channel made beside its plaintext fallback.",
         offsetof(rpc_channel, heal_attempts)},
        {"nodenet_rpc_channel_expiry_renewals_total",
         "TLS sessions renewed because a certificate was about to expire.",
         offsetof(rpc_channel, expiry_renewals)},
        {"nodenet_rpc_channel_bytes_in_total", "Frame bytes received on the channel.",
         offsetof(rpc_channel, bytes_in)},
        {"nodenet_rpc_channel_bytes_out_total", "Frame bytes sent on the channel.",
         offsetof(rpc_channel, bytes_out)},
    };
    for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
        emit(w, "# HELP %s %s\n# TYPE %s counter\n", counters[k].name, counters[k].help,
             counters[k].name);
        for (size_t i = 0; i < rpc->chan_count; i++) {
            rpc_channel *ch = &rpc->chans[i];
            if (ch->loop == NULL) {
                continue;
            }
            _Atomic uint64_t *v = (_Atomic uint64_t *)((char *)ch + counters[k].offset);
            emit(w, "%s{peer=\"%s\"} %llu\n", counters[k].name, label(ch->peer, peer, sizeof(peer)),
                 (unsigned long long)atomic_load_explicit(v, memory_order_relaxed));
        }
    }
    emit(w, "# HELP nodenet_rpc_client_calls_total Calls this node made, by peer and "
            "outcome.\n# TYPE nodenet_rpc_client_calls_total counter\n");
    for (size_t i = 0; i < rpc->chan_count; i++) {
        rpc_channel *ch = &rpc->chans[i];
        if (ch->loop == NULL) {
            continue;
        }
        label(ch->peer, peer, sizeof(peer));
        emit(w, "nodenet_rpc_client_calls_total{peer=\"%s\",outcome=\"ok\"} %llu\n", peer,
             (unsigned long long)atomic_load_explicit(&ch->ok, memory_order_relaxed));
        for (int s = 1; s < NN_RPC_STATUS_COUNT; s++) {
            emit(w, "nodenet_rpc_client_calls_total{peer=\"%s\",outcome=\"%s\"} %llu\n", peer,
                 nn_rpc_status_name((nn_rpc_status)s),
                 (unsigned long long)atomic_load_explicit(&ch->failed[s], memory_order_relaxed));
        }
    }
    emit(w, "# HELP nodenet_rpc_client_call_duration_seconds Time from a call to its reply, "
            "by peer.\n# TYPE nodenet_rpc_client_call_duration_seconds histogram\n");
    for (size_t i = 0; i < rpc->chan_count; i++) {
        rpc_channel *ch = &rpc->chans[i];
        if (ch->loop == NULL) {
            continue;
        }
        uint64_t counts[NN_RPC_LAT_BUCKETS];
        for (size_t b = 0; b < NN_RPC_LAT_BUCKETS; b++) {
            counts[b] = atomic_load_explicit(&ch->latency.bucket[b], memory_order_relaxed);
        }
        char labels[160];
        snprintf(labels, sizeof(labels), "peer=\"%s\"", label(ch->peer, peer, sizeof(peer)));
        histogram(w, "nodenet_rpc_client_call_duration_seconds", labels, counts,
                  atomic_load_explicit(&ch->latency.sum_us, memory_order_relaxed));
    }
}

static void services_write(writer *w, nn_rpc *rpc) {
    char method[128];
    emit(w, "# HELP nodenet_rpc_server_calls_total Calls this node served, by method and "
            "outcome.\n# TYPE nodenet_rpc_server_calls_total counter\n");
    for (size_t i = 0; i < rpc->service_count; i++) {
        const rpc_service *svc = &rpc->services[i];
        label(svc->method, method, sizeof(method));
        for (int s = 0; s < NN_RPC_STATUS_COUNT; s++) {
            uint64_t sum = 0;
            for (uint32_t l = 0; l < rpc->loop_count; l++) {
                sum += atomic_load_explicit(&svc->stats[l].outcome[s], memory_order_relaxed);
            }
            if (sum == 0 && s != NN_RPC_OK) {
                continue; /* keep the page short: outcomes that never happened */
            }
            emit(w, "nodenet_rpc_server_calls_total{method=\"%s\",outcome=\"%s\"} %llu\n", method,
                 nn_rpc_status_name((nn_rpc_status)s), (unsigned long long)sum);
        }
    }
    emit(w, "# HELP nodenet_rpc_server_call_duration_seconds Time from a request's arrival "
            "to its reply, by method.\n# TYPE nodenet_rpc_server_call_duration_seconds "
            "histogram\n");
    for (size_t i = 0; i < rpc->service_count; i++) {
        const rpc_service *svc = &rpc->services[i];
        uint64_t counts[NN_RPC_LAT_BUCKETS] = {0};
        uint64_t sum_us = 0;
        for (uint32_t l = 0; l < rpc->loop_count; l++) {
            for (size_t b = 0; b < NN_RPC_LAT_BUCKETS; b++) {
                counts[b] +=
                    atomic_load_explicit(&svc->stats[l].latency.bucket[b], memory_order_relaxed);
            }
            sum_us += atomic_load_explicit(&svc->stats[l].latency.sum_us, memory_order_relaxed);
        }
        char labels[160];
        snprintf(labels, sizeof(labels), "method=\"%s\"",
                 label(svc->method, method, sizeof(method)));
        histogram(w, "nodenet_rpc_server_call_duration_seconds", labels, counts, sum_us);
    }
}

int nn_rpc_metrics_write(nn_rpc *rpc, nn_buf *out) {
    writer w = {.out = out, .rc = 0};
    emit(&w, "# HELP nodenet_rpc_tls_handshakes_total RPC TLS handshakes by role and "
             "outcome.\n# TYPE nodenet_rpc_tls_handshakes_total counter\n");
    for (int role = 0; role < 2; role++) {
        for (int ok = 1; ok >= 0; ok--) {
            uint64_t sum = 0;
            for (uint32_t l = 0; l < rpc->loop_count; l++) {
                sum += atomic_load_explicit(&rpc->loops[l].tls_handshakes[role][ok],
                                            memory_order_relaxed);
            }
            emit(&w, "nodenet_rpc_tls_handshakes_total{role=\"%s\",outcome=\"%s\"} %llu\n",
                 role ? "client" : "server", ok ? "ok" : "failed", (unsigned long long)sum);
        }
    }
    emit(&w,
         "# HELP nodenet_rpc_inbound_node_connections Peer nodes' channels into this "
         "node.\n# TYPE nodenet_rpc_inbound_node_connections gauge\n"
         "nodenet_rpc_inbound_node_connections %llu\n",
         (unsigned long long)atomic_load(&rpc->inbound_nodes));
    channels_write(&w, rpc);
    services_write(&w, rpc);
    return w.rc;
}

void nn_rpc_conn_counts_get(nn_rpc *rpc, nn_rpc_conn_counts *out) {
    memset(out, 0, sizeof(*out));
    uint64_t closed = 0;
    for (uint32_t l = 0; l < rpc->loop_count; l++) {
        out->inbound_accepted +=
            atomic_load_explicit(&rpc->loops[l].inbound_accepted, memory_order_relaxed);
        closed += atomic_load_explicit(&rpc->loops[l].inbound_closed, memory_order_relaxed);
    }
    out->inbound_open = out->inbound_accepted >= closed ? out->inbound_accepted - closed : 0;
    for (size_t i = 0; i < rpc->chan_count; i++) {
        if (rpc->chans[i].loop != NULL) {
            out->outbound++;
            out->outbound_ready += atomic_load(&rpc->chans[i].state) == CHAN_READY;
        }
    }
}
