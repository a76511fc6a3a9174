/* rpc/conn.c: one RPC connection in either role. Inbound: sniff the first bytes (TLS or a
 * frame), enforce rpc_tls, check the hello and the certificate, then serve requests.
 * Outbound: TLS (or not), check the listener's certificate, say hello, then carry the
 * channel's calls and heartbeat the link. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

static uint32_t max_frame_of(nn_rpc *rpc) {
    return atomic_load(&rpc->max_frame);
}

static void conn_unref(rpc_conn *c) {
    if (--c->refs == 0) {
        nn_rpc_call_table_free(&c->calls);
        free(c->budget.spare);
        free(c->refusal);
        free(c->caller);
        free(c);
    }
}

/* Why the connection ends (the calls on it fail with it). Kept on the heap, and only once
 * it is needed: a fixed buffer in every connection was 1 KB per idle connection. The first
 * reason stays when memory runs out for a later one. */
__attribute__((format(printf, 2, 3))) static void conn_set_refusal(rpc_conn *c, const char *fmt,
                                                                   ...) {
    char text[1024]; /* a peer's error text is cut here, as it always was */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    char *copy = strdup(text);
    if (copy != NULL) {
        free(c->refusal);
        c->refusal = copy;
    }
}

static const char *conn_refusal(const rpc_conn *c) {
    return c->refusal != NULL ? c->refusal : "refused (no memory for the reason)";
}

/* Who is calling on an inbound connection (node name or the tool's certificate subject),
 * sized to fit, set once at the hello. */
static void conn_set_caller(rpc_conn *c, const char *caller) {
    char *copy = strdup(caller);
    if (copy != NULL) {
        free(c->caller);
        c->caller = copy;
    }
}

static const char *conn_caller(const rpc_conn *c) {
    return c->caller != NULL ? c->caller : "";
}

static rpc_conn *conn_alloc(nn_rpc *rpc, bool outbound) {
    rpc_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->rpc = rpc;
    c->outbound = outbound;
    c->refs = 1;
    c->next_call_id = 1;
    c->last_rx_ns = nn_now_ns();
    nn_rpc_budget_init(&c->budget, nn_rpc_budget_for(max_frame_of(rpc)));
    c->budget.rpc = rpc;
    nn_rpc_call_table_init(&c->calls);
    return c;
}

/* A peer that stops reading (rel 27, rpc.h): true when c's send queue is over
 * max_peer_queue_bytes, or has not moved for peer_stall_timeout_ms; the connection is then
 * closed with the reason, which every call in flight on it ends with (NN_RPC_E_PEER_DOWN).
 * `frame` is what is about to be queued (0 from the heartbeat tick): one frame may exceed
 * the bound on an empty queue. Progress is judged from the queue and the bytes handed to
 * the stream since it was last seen moving: if nothing left, the queue grew by at least
 * what was written (TLS adds to it, never takes away). Checked before every send, so that
 * a frame refused here is never sent, and at every heartbeat tick. */
static bool send_queue_stuck(rpc_conn *c, size_t frame, nn_err *err) {
    if (c->stream == NULL || c->state == CONN_CLOSING) {
        return false;
    }
    nn_rpc *rpc = c->rpc;
    size_t pending = nn_stream_output_pending(c->stream);
    uint64_t cap = atomic_load(&rpc->max_peer_queue_bytes);
    uint64_t now = nn_now_ns();
    char why[300];
    if (pending > 0 && pending + frame > cap) {
        snprintf(why, sizeof(why),
                 "send queue to %s would hold %zu bytes, over max_peer_queue_bytes %llu (the "
                 "peer is not reading)",
                 c->peer, pending + frame, (unsigned long long)cap);
    } else if (pending == 0) {
        c->stall_since_ns = 0;
        return false;
    } else if (c->stall_since_ns == 0 ||
               pending < c->stall_pending + (c->queued_total - c->stall_queued)) {
        c->stall_since_ns = now;
        c->stall_pending = pending;
        c->stall_queued = c->queued_total;
        return false;
    } else if (now - c->stall_since_ns >= NN_MS(atomic_load(&rpc->peer_stall_timeout_ms))) {
        snprintf(why, sizeof(why),
                 "send queue to %s made no progress for %llu ms with %zu bytes queued (the "
                 "peer is not reading)",
                 c->peer, (unsigned long long)((now - c->stall_since_ns) / 1000000u), pending);
    } else {
        return false;
    }
    nn_log(NN_LOG_WARN, "rpc.peer_stalled", "node=%s peer=%s reason=\"%s\"", rpc->self, c->peer,
           why);
    conn_set_refusal(c, "%s", why);
    c->refusal_status = NN_RPC_E_PEER_DOWN;
    c->refusal_logged = true;
    nn_rpc_conn_close(c, why);
    nn_err_set(err, ENOBUFS, "%s", why);
    return true;
}

/* Payloads this large are written from where they lie rather than packed into the frame
 * (one copy less per byte); smaller ones are cheaper to pack with the rest. */
#define PAYLOAD_IOV_MIN 16384u
/* protobuf key of Envelope.payload: field 8, wire type 2 (length-delimited). */
#define PAYLOAD_KEY ((8u << 3) | 2u)

/* The frame as [header, envelope without its payload, payload key and length] + payload.
 * Fields may come in any order on the wire (protobuf), and the size is the same as the
 * packed envelope's, so the receiver's checks see no difference. */
static int conn_send_split(rpc_conn *c, Nnrpc__Envelope *env, nn_err *err) {
    ProtobufCBinaryData payload = env->payload;
    env->payload.data = NULL;
    env->payload.len = 0;
    size_t rest = nnrpc__envelope__get_packed_size(env);
    uint8_t lenbuf[10];
    size_t lenlen = 0;
    for (uint64_t v = payload.len;; v >>= 7) {
        lenbuf[lenlen++] = (uint8_t)(v >= 0x80 ? (v & 0x7f) | 0x80 : v);
        if (v < 0x80) {
            break;
        }
    }
    size_t body = rest + 1 + lenlen + payload.len;
    uint32_t max = max_frame_of(c->rpc);
    int rc = 0;
    if (body > max) {
        rc = nn_err_set(err, EMSGSIZE, "frame of %zu bytes is over max_frame_bytes %u", body, max);
        goto out;
    }
    uint8_t stack[1024];
    size_t head = NN_RPC_FRAME_HEADER + rest + 1 + lenlen;
    uint8_t *p = head <= sizeof(stack) ? stack : malloc(head);
    if (p == NULL) {
        rc = nn_err_set(err, ENOMEM, "out of memory for a frame of %zu bytes", body);
        goto out;
    }
    nn_rpc_frame_header_write(p, (uint32_t)body);
    nnrpc__envelope__pack(env, p + NN_RPC_FRAME_HEADER);
    p[NN_RPC_FRAME_HEADER + rest] = PAYLOAD_KEY;
    memcpy(p + NN_RPC_FRAME_HEADER + rest + 1, lenbuf, lenlen);
    struct iovec iov[2] = {{.iov_base = p, .iov_len = head},
                           {.iov_base = payload.data, .iov_len = payload.len}};
    if (send_queue_stuck(c, head + payload.len, err)) {
        rc = -ENOBUFS;
        if (p != stack) {
            free(p);
        }
        goto out;
    }
    rc = nn_stream_writev(c->stream, iov, 2);
    if (p != stack) {
        free(p);
    }
    if (rc < 0) {
        rc = nn_err_set(err, -rc, "write to %s failed", c->peer);
    } else {
        c->queued_total += head + payload.len;
    }
    if (rc == 0 && c->chan != NULL) {
        atomic_fetch_add_explicit(&c->chan->bytes_out, NN_RPC_FRAME_HEADER + body,
                                  memory_order_relaxed);
    }
out:
    env->payload = payload;
    return rc;
}

int nn_rpc_conn_send(rpc_conn *c, Nnrpc__Envelope *env, nn_err *err) {
    if (c->stream == NULL || c->state == CONN_CLOSING) {
        return nn_err_set(err, EPIPE, "connection to %s is closing", c->peer);
    }
    if (env->payload.len >= PAYLOAD_IOV_MIN) {
        return conn_send_split(c, env, err);
    }
    size_t body = nnrpc__envelope__get_packed_size(env);
    uint32_t max = max_frame_of(c->rpc);
    if (body > max) {
        return nn_err_set(err, EMSGSIZE, "frame of %zu bytes is over max_frame_bytes %u", body,
                          max);
    }
    /* Small frames (the common case) are packed on the stack; the stream copies them. */
    uint8_t stack[4096];
    size_t total = NN_RPC_FRAME_HEADER + body;
    uint8_t *p = total <= sizeof(stack) ? stack : malloc(total);
    if (p == NULL) {
        return nn_err_set(err, ENOMEM, "out of memory for a frame of %zu bytes", body);
    }
    nn_rpc_frame_header_write(p, (uint32_t)body);
    nnrpc__envelope__pack(env, p + NN_RPC_FRAME_HEADER);
    int rc = send_queue_stuck(c, total, err) ? -ENOBUFS : nn_stream_write(c->stream, p, total);
    if (p != stack) {
        free(p);
    }
    if (rc == -ENOBUFS) {
        return rc;
    }
    if (rc < 0) {
        return nn_err_set(err, -rc, "write to %s failed", c->peer);
    }
    c->queued_total += total;
    if (c->chan != NULL) {
        atomic_fetch_add_explicit(&c->chan->bytes_out, total, memory_order_relaxed);
    }
    return 0;
}

void nn_rpc_conn_close(rpc_conn *c, const char *why) {
    if (c->stream != NULL && c->state != CONN_CLOSING) {
        c->state = CONN_CLOSING;
        nn_stream_close(c->stream, NN_CLOSE_LOCAL, why);
    }
}

/* An error frame that answers call_id (0 = the connection itself). */
static void send_error(rpc_conn *c, uint64_t call_id, uint32_t status, uint32_t remote_code,
                       const char *msg) {
    Nnrpc__Envelope env = NNRPC__ENVELOPE__INIT;
    env.call_id = call_id;
    env.flags = NNRPC__FLAG__FLAG_RESPONSE | NNRPC__FLAG__FLAG_ERROR;
    env.error_code = status;
    env.remote_code = remote_code;
    env.error_message = (char *)msg;
    nn_err err = {0};
    if (nn_rpc_conn_send(c, &env, &err) < 0) {
        nn_log(NN_LOG_DEBUG, "rpc.send_failed", "peer=%s reason=\"%s\"", c->peer, err.msg);
    }
}

/* Refuses the connection with a reason both sides log. */
static void refuse(rpc_conn *c, uint32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(rpc_conn *c, uint32_t status, const char *fmt, ...) {
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    nn_log(NN_LOG_WARN, "rpc.refuse", "node=%s peer=%s reason=\"%s\"", c->rpc->self, c->peer, why);
    c->refusal_logged = true;
    send_error(c, 0, status, 0, why);
    nn_rpc_conn_close(c, why);
}

void nn_rpc_conn_send_goodbye(rpc_conn *c) {
    if (c->goodbye_sent || c->stream == NULL || c->state == CONN_CLOSING) {
        return;
    }
    Nnrpc__Envelope env = NNRPC__ENVELOPE__INIT;
    env.flags = NNRPC__FLAG__FLAG_GOODBYE | NNRPC__FLAG__FLAG_ONE_WAY;
    nn_err err = {0};
    if (nn_rpc_conn_send(c, &env, &err) == 0) {
        c->goodbye_sent = true;
    }
}

static uint64_t inbound_idle_ns(nn_rpc *rpc);

/* An inbound connection's next deadline: idle time from `from_ns`, but never past the
 * drain bound of a plaintext connection under rpc_tls=require. */
static uint64_t inbound_deadline(const rpc_conn *c, uint64_t from_ns) {
    uint64_t idle = from_ns + inbound_idle_ns(c->rpc);
    if (c->plaintext_until_ns != 0 && c->plaintext_until_ns < idle) {
        idle = c->plaintext_until_ns;
    }
    return idle;
}

void nn_rpc_conn_limit_plaintext(rpc_conn *c, uint64_t until_ns) {
    if (c->stream == NULL || c->state == CONN_CLOSING || c->plaintext_until_ns != 0) {
        return;
    }
    c->plaintext_until_ns = until_ns;
    nn_stream_set_deadline(c->stream, until_ns);
}

void nn_rpc_conn_send_renew(rpc_conn *c) {
    if (c->renew_sent || c->goodbye_sent || c->stream == NULL || c->state != CONN_READY) {
        return;
    }
    /* One-way: a dialler that does not know the flag ignores a frame without a call id. */
    Nnrpc__Envelope env = NNRPC__ENVELOPE__INIT;
    env.flags = NNRPC__FLAG__FLAG_RENEW | NNRPC__FLAG__FLAG_ONE_WAY;
    nn_err err = {0};
    if (nn_rpc_conn_send(c, &env, &err) == 0) {
        c->renew_sent = true;
    }
}

int nn_rpc_conn_recheck(rpc_conn *c, nn_err *err) {
    nn_rpc *rpc = c->rpc;
    if (!c->encrypted || rpc->sec == NULL || c->stream == NULL || c->state == CONN_CLOSING) {
        return 0;
    }
    uint64_t generation = nn_security_generation(rpc->sec);
    if (generation == c->tls_generation || generation == c->checked_generation) {
        return 0; /* its handshake, or an earlier recheck, used this store */
    }
    int rc = nn_tls_peer_recheck(c->stream, rpc->sec, err);
    if (rc == -EKEYREVOKED || rc == -EACCES) {
        return rc;
    }
    if (rc == 0) {
        c->checked_generation = generation;
    }
    return 0; /* could not check (out of memory): the next reload tries again */
}

void nn_rpc_conn_refuse_peer_cert(rpc_conn *c, const char *why) {
    if (c->stream == NULL || c->state == CONN_CLOSING) {
        return;
    }
    conn_set_refusal(c, "%s", why);
    c->refusal_status = NN_RPC_E_REFUSED;
    c->peer_cert_rejected = true;
    nn_rpc_conn_close(c, why);
}

bool nn_rpc_conn_inbound_recheck(rpc_conn *c) {
    nn_err err = {0};
    int rc = nn_rpc_conn_recheck(c, &err);
    if (rc == 0) {
        return true;
    }
    nn_tls_facts facts; /* read here, once: a rare path */
    nn_tls_facts_get(c->stream, &facts);
    if (rc == -EACCES && (c->state == CONN_READY || c->state == CONN_DRAINING)) {
        /* No longer under a trusted CA, as after the last step of a CA rotation: planned,
         * so make-before-break still. A node dials anew (renew) and moves its calls; should
         * it not manage (its new connection is refused), this one closes after one call
         * timeout. A tool connection finishes its command; its next one is refused. */
        nn_log(NN_LOG_INFO, "rpc.inbound.untrusted",
               "node=%s peer=%s reason=\"its certificate (%s) no longer verifies after a "
               "reload: %s\" action=\"%s\"",
               c->rpc->self, c->peer, facts.peer_subject, err.msg,
               c->counted_node ? "renew, closed after one call timeout at most"
                               : "left to finish its command");
        if (c->counted_node) {
            c->untrusted_drain = true;
            nn_rpc_conn_limit_plaintext(c,
                                        nn_now_ns() + NN_MS(atomic_load(&c->rpc->call_timeout_ms)));
            nn_rpc_conn_send_renew(c);
        }
        return true;
    }
    /* Revoked (a compromised key: no grace at all), or not past its hello yet: a node (or
     * tool) must not keep a connection accepted under the CRL or CAs a reload replaced. */
    char why[1400];
    snprintf(why, sizeof(why),
             "its certificate (%s) is no longer accepted after a reload: %s; connection closed",
             facts.peer_subject, err.msg);
    nn_log(NN_LOG_WARN, "rpc.inbound.cut", "node=%s peer=%s reason=\"%s\"", c->rpc->self, c->peer,
           why);
    c->refusal_logged = true;
    send_error(c, 0, NN_RPC_E_REFUSED, 0, why);
    nn_rpc_conn_close(c, why);
    return false;
}

/* ----------------------------------------------------------------- outbound */

/* The heartbeat of an outbound connection (issue 15: cheaper as the mesh grows).
 *
 * Two nodes A and B hold two connections, A's to B and B's to A. A frame from B on either
 * of them proves B alive: our own connection's frames (last_rx_ns) and those of B's
 * connection to us (the channel's heard_ns, refreshed by the inbound side). So:
 *   - a link that carried any frame, either way, within the period needs no probe;
 *   - of an idle pair only one node probes every period (hb_prober: the one whose name
 *     sorts first), the other waits twice as long before it probes, so that it hears the
 *     first one's probes instead of sending its own (and still probes, with a period to
 *     spare, when that node's connection is gone);
 *   - a peer silent for 3 x heartbeat_ms is down (the promise of rpc.h and the config);
 *   - our own connection is checked on its own as well: it is probed after a period of
 *     silence while calls wait on it, and after KEEPALIVE periods anyway (below the
 *     listener's idle bound, 10 periods or 30 s); it is closed when it stays silent for 3
 *     periods with a probe out for 2 (a link that lost one direction, rel 28);
 *   - the timer wakes when a rule can next fire, not at fixed half periods, on a grid of
 *     quarter periods shared by all the worker's connections (one wake-up for all).
 * An idle pair thus exchanges one probe and its answer per period instead of two each
 * way, and each connection's timer wakes about once per period instead of twice. */
#define KEEPALIVE_PERIODS 5u

/* A bulk payload's storage kept for the next bulk frame is let go once no bulk frame has
 * used it for a heartbeat period: bulk traffic cycles it within microseconds. Called from
 * the outbound timer and on every read (an inbound connection hears at least the peer's
 * keepalive probes), so an idle connection holds no bulk-sized block for long. */
static void drop_idle_spare(rpc_conn *c, uint64_t now) {
    if (c->budget.spare != NULL &&
        now - c->budget.spare_ns >= NN_MS(atomic_load(&c->rpc->heartbeat_ms))) {
        free(c->budget.spare);
        c->budget.spare = NULL;
        c->budget.spare_cap = 0;
    }
}

static void hb_fire(nn_timer *t) {
    rpc_conn *c = t->arg;
    if (c->stream == NULL || c->state == CONN_CLOSING) {
        return;
    }
    uint64_t hb = NN_MS(atomic_load(&c->rpc->heartbeat_ms));
    uint64_t now = nn_now_ns();
    drop_idle_spare(c, now);
    if (now > t->deadline_ns + hb / 2 && now - c->last_rx_ns > hb) {
        /* This timer is late: our own worker did not run for a while (an overloaded
         * machine, a stopped process), so what the peer sent may sit unread, and the
         * peer's own answers may be just as late. Silence counts only while we were
         * awake to hear it: restart the clock one period back, so a probe goes out now
         * and the peer still has two periods to answer before it is called down. */
        c->last_rx_ns = now - hb;
        c->hb_outstanding = false;
    }
    if (send_queue_stuck(c, 0, NULL)) {
        return;
    }
    uint64_t heard = atomic_load_explicit(&c->chan->heard_ns, memory_order_relaxed);
    if (heard < c->last_rx_ns) {
        heard = c->last_rx_ns;
    } else if (heard > now) {
        heard = now; /* read on another worker a moment after our clock */
    }
    uint64_t silent = now - heard;      /* the peer, on any connection */
    uint64_t own = now - c->last_rx_ns; /* this connection */
    bool dead_link = c->hb_outstanding && own >= 3 * hb && now - c->hb_sent_ns >= 2 * hb;
    if (silent >= 3 * hb || dead_link) {
        char why[160];
        snprintf(why, sizeof(why), "no frame from %s for %llu ms (heartbeat)", c->peer,
                 (unsigned long long)((dead_link ? own : silent) / 1000000u));
        conn_set_refusal(c, "%s", why);
        c->refusal_status = NN_RPC_E_PEER_DOWN;
        nn_rpc_conn_close(c, why);
        return;
    }
    uint64_t wait = c->hb_prober ? hb : 2 * hb;
    if (!c->hb_outstanding &&
        (silent >= wait || (own >= hb && c->calls.len > 0) || own >= KEEPALIVE_PERIODS * hb)) {
        Nnrpc__Envelope env = NNRPC__ENVELOPE__INIT;
        env.flags = NNRPC__FLAG__FLAG_REQUEST | NNRPC__FLAG__FLAG_HEARTBEAT;
        nn_err err = {0};
        if (nn_rpc_conn_send(c, &env, &err) == 0) {
            c->hb_outstanding = true;
            c->hb_sent_ns = now;
        }
    }
    /* The next moment a rule above can fire, but at least once a period (calls may start
     * on a silent connection meanwhile) and not more often than an eighth of one. */
    uint64_t next = heard + 3 * hb;
    if (c->hb_outstanding) {
        uint64_t cut = c->last_rx_ns + 3 * hb;
        if (cut < c->hb_sent_ns + 2 * hb) {
            cut = c->hb_sent_ns + 2 * hb;
        }
        next = cut < next ? cut : next;
    } else {
        next = heard + wait < next ? heard + wait : next;
        uint64_t keep = c->last_rx_ns + KEEPALIVE_PERIODS * hb;
        next = keep < next ? keep : next;
    }
    if (next > now + hb) {
        next = now + hb;
    }
    if (next < now + hb / 8) {
        next = now + hb / 8;
    }
    /* Rounded up to a quarter period of the clock: every connection of a worker then wakes
     * in the same loop round and its probes leave in one submission, instead of each
     * connection waking the worker on its own (the worker's wake-ups, not the probes, were
     * most of an idle node's CPU). A rule fires at most a quarter period late. */
    uint64_t grid = hb / 4 > NN_MS(1) ? hb / 4 : NN_MS(1);
    next = (next + grid - 1) / grid * grid;
    nn_loop_timer_arm(c->loop, &c->hb_timer, next);
}

rpc_conn *nn_rpc_conn_connect(rpc_channel *ch, bool tls, nn_err *err) {
    rpc_conn *c = conn_alloc(ch->rpc, true);
    if (c == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    c->chan = ch;
    c->loop = ch->loop;
    c->tls_attempt = tls;
    c->is_tool = ch->is_tool;
    c->state = CONN_CONNECTING;
    snprintf(c->peer, sizeof(c->peer), "%s", ch->peer);
    /* Tools never hear us on another connection: they always probe. */
    c->hb_prober = ch->is_tool || strcmp(ch->rpc->self, ch->peer) < 0;
    nn_timer_init(&c->hb_timer, hb_fire, c);
    uint64_t deadline = nn_now_ns() + NN_MS(atomic_load(&ch->rpc->connect_timeout_ms));
    nn_stream *s = nn_loop_connect(ch->loop, (const struct sockaddr *)&ch->addr, ch->addrlen,
                                   &nn_rpc_stream_handler, c, deadline, err);
    if (s == NULL) {
        nn_err_prefix(err, "connect to %s", ch->peer);
        conn_unref(c);
        return NULL;
    }
    /* Callbacks run on this loop, after we return: the user pointer is in place first. */
    c->stream = s;
    nn_stream_set_user(s, c);
    return c;
}

static void send_hello(rpc_conn *c) {
    nn_rpc *rpc = c->rpc;
    Nnrpc__Hello hello = NNRPC__HELLO__INIT;
    hello.cluster_id = rpc->cluster_id;
    hello.cluster_name = rpc->cluster_name;
    hello.node_name = c->is_tool ? "" : rpc->self;
    hello.protocol_version = NN_RPC_PROTOCOL_VERSION;
    hello.role = c->is_tool ? NNRPC__ROLE__ROLE_TOOL : NNRPC__ROLE__ROLE_NODE;
    hello.tls_mode = (char *)nn_rpc_tls_mode_name((nn_rpc_tls_mode)atomic_load(&rpc->tls));
    size_t len = nnrpc__hello__get_packed_size(&hello);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        nn_rpc_conn_close(c, "out of memory");
        return;
    }
    nnrpc__hello__pack(&hello, buf);
    Nnrpc__Envelope env = NNRPC__ENVELOPE__INIT;
    env.method = "hello";
    env.flags = NNRPC__FLAG__FLAG_REQUEST;
    env.payload.data = buf;
    env.payload.len = len;
    nn_err err = {0};
    int rc = nn_rpc_conn_send(c, &env, &err);
    free(buf);
    if (rc < 0) {
        nn_rpc_conn_close(c, err.msg);
        return;
    }
    c->state = CONN_HELLO;
}

void nn_rpc_conn_facts(const rpc_conn *c, nn_tls_facts *out) {
    if (c->encrypted && c->stream != NULL) {
        nn_tls_facts_get(c->stream, out);
    } else {
        memset(out, 0, sizeof(*out));
    }
}

static void outbound_secure(rpc_conn *c) {
    rpc_channel *ch = c->chan;
    nn_tls_facts facts; /* read once here: the connection keeps no copy */
    nn_rpc_conn_facts(c, &facts);
    /* The dialler's half of node identity: the certificate must name whom we dialled. */
    if (!ch->is_tool || ch->rpc->self[0] != '\0') {
        nn_err err = {0};
        if (nn_security_identity_check(&facts, ch->peer, &err) < 0) {
            conn_set_refusal(c, "certificate of %s refused: %s", ch->peer, err.msg);
            c->refusal_status = NN_RPC_E_REFUSED;
            c->peer_cert_rejected = true;
            nn_log(NN_LOG_WARN, "rpc.refuse", "node=%s peer=%s reason=\"%s\"", c->rpc->self,
                   c->peer, conn_refusal(c));
            c->refusal_logged = true;
            nn_rpc_conn_close(c, conn_refusal(c));
            return;
        }
    } else if (!facts.peer_cert_verified) {
        conn_set_refusal(c, "certificate of %s did not verify", ch->peer);
        c->refusal_status = NN_RPC_E_REFUSED;
        c->peer_cert_rejected = true;
        nn_log(NN_LOG_DEBUG, "rpc.refuse", "node=%s peer=%s reason=\"%s\"", c->rpc->self, c->peer,
               conn_refusal(c));
        c->refusal_logged = true;
        nn_rpc_conn_close(c, conn_refusal(c));
        return;
    }
    nn_err recheck = {0};
    if (nn_rpc_conn_recheck(c, &recheck) < 0) {
        /* A reload came during the handshake, and the new store refuses the certificate
         * that the old one let through. */
        char why[700];
        snprintf(why, sizeof(why), "certificate of %s refused: %s", ch->peer, recheck.msg);
        nn_rpc_conn_refuse_peer_cert(c, why);
        return;
    }
    send_hello(c);
}

static void outbound_hello_reply(rpc_conn *c, Nnrpc__Envelope *env) {
    rpc_channel *ch = c->chan;
    if (env->flags & NNRPC__FLAG__FLAG_ERROR) {
        conn_set_refusal(c, "%s refused us: %s", ch->peer,
                         env->error_message ? env->error_message : "");
        c->refusal_status =
            env->error_code == NN_RPC_E_PEER_DOWN ? NN_RPC_E_PEER_DOWN : NN_RPC_E_REFUSED;
        nn_log(c->refusal_status == NN_RPC_E_PEER_DOWN || ch->is_tool ? NN_LOG_INFO : NN_LOG_WARN,
               "rpc.channel.refused", "node=%s peer=%s reason=\"%s\"", c->rpc->self, ch->peer,
               env->error_message ? env->error_message : "");
        c->refusal_logged = true;
        nn_rpc_conn_close(c, conn_refusal(c));
        return;
    }
    Nnrpc__HelloReply *r =
        nnrpc__hello_reply__unpack(&c->budget.pa, env->payload.len, env->payload.data);
    const char *bad = NULL;
    char why[700];
    if (r == NULL) {
        bad = "its hello reply does not decode";
    } else if (c->rpc->cluster_id != 0 && r->cluster_id != c->rpc->cluster_id) {
        snprintf(why, sizeof(why), "it belongs to cluster id %llu, we to %llu",
                 (unsigned long long)r->cluster_id, (unsigned long long)c->rpc->cluster_id);
        bad = why;
    } else if (!ch->is_tool && strcmp(r->node_name, ch->peer) != 0) {
        snprintf(why, sizeof(why), "it says it is node '%s'", r->node_name);
        bad = why;
    }
    if (r != NULL) {
        nnrpc__hello_reply__free_unpacked(r, &c->budget.pa);
    }
    if (bad != NULL) {
        conn_set_refusal(c, "refused %s: %s", ch->peer, bad);
        c->refusal_status = NN_RPC_E_REFUSED;
        nn_log(NN_LOG_WARN, "rpc.refuse", "node=%s peer=%s reason=\"%s\"", c->rpc->self, ch->peer,
               bad);
        c->refusal_logged = true;
        nn_rpc_conn_close(c, conn_refusal(c));
        return;
    }
    c->state = CONN_READY;
    nn_stream_set_deadline(c->stream, 0);
    nn_loop_timer_arm(c->loop, &c->hb_timer,
                      nn_now_ns() + NN_MS(atomic_load(&c->rpc->heartbeat_ms)) / 2);
    nn_rpc_channel_conn_ready(ch, c);
}

static void outbound_frame(rpc_conn *c, Nnrpc__Envelope *env) {
    if (c->state == CONN_HELLO) {
        outbound_hello_reply(c, env);
        return;
    }
    if (env->flags & NNRPC__FLAG__FLAG_GOODBYE) {
        nn_rpc_channel_goodbye(c->chan, c);
        return;
    }
    if (env->flags & NNRPC__FLAG__FLAG_HEARTBEAT) {
        c->hb_outstanding = false;
        return;
    }
    if (env->flags & NNRPC__FLAG__FLAG_RENEW) {
        nn_rpc_channel_renew(c->chan, c);
        return;
    }
    if (env->call_id == 0) {
        /* The listener speaks to the connection as a whole: a protocol complaint. */
        if (env->flags & NNRPC__FLAG__FLAG_ERROR) {
            conn_set_refusal(c, "%s closed the channel: %s", c->peer,
                             env->error_message ? env->error_message : "");
            c->refusal_status = NN_RPC_E_PEER_DOWN;
            nn_rpc_conn_close(c, conn_refusal(c));
        }
        return;
    }
    nn_rpc_channel_response(c, env);
}

/* ------------------------------------------------------------------ inbound */

static bool host_matches(const char *config_host, const char *peer_host) {
    uint8_t a[16], b[16];
    if (inet_pton(AF_INET, config_host, a) == 1 && inet_pton(AF_INET, peer_host, b) == 1) {
        return memcmp(a, b, 4) == 0;
    }
    if (inet_pton(AF_INET6, config_host, a) == 1 && inet_pton(AF_INET6, peer_host, b) == 1) {
        return memcmp(a, b, 16) == 0;
    }
    return strcmp(config_host, peer_host) == 0;
}

static void inbound_hello(rpc_conn *c, Nnrpc__Envelope *env) {
    nn_rpc *rpc = c->rpc;
    if (env->method == NULL || strcmp(env->method, "hello") != 0 ||
        !(env->flags & NNRPC__FLAG__FLAG_REQUEST)) {
        refuse(c, NN_RPC_E_INVALID, "the first frame must be a hello");
        return;
    }
    Nnrpc__Hello *h = nnrpc__hello__unpack(&c->budget.pa, env->payload.len, env->payload.data);
    if (h == NULL) {
        refuse(c, NN_RPC_E_INVALID, "hello does not decode");
        return;
    }
    const char *peer_host = nn_stream_peer_host(c->stream);
    nn_tls_facts facts; /* read once, for the hello: the connection keeps no copy */
    nn_rpc_conn_facts(c, &facts);
    if (h->protocol_version != NN_RPC_PROTOCOL_VERSION) {
        refuse(c, NN_RPC_E_REFUSED, "protocol version %u, %s speaks %u", h->protocol_version,
               rpc->self, NN_RPC_PROTOCOL_VERSION);
    } else if (atomic_load(&rpc->stopping)) {
        refuse(c, NN_RPC_E_PEER_DOWN, "%s is stopping", rpc->self);
    } else if (!c->encrypted &&
               (nn_rpc_tls_mode)atomic_load(&rpc->tls) == NN_RPC_TLS_REQUIRE) {
        /* Sniffed as plaintext before a reload turned require on. */
        refuse(c, NN_RPC_E_REFUSED, "plaintext connections are refused (rpc_tls=require)");
    } else if (h->cluster_id != rpc->cluster_id &&
               !(h->role == NNRPC__ROLE__ROLE_TOOL && h->cluster_id == 0)) {
        refuse(c, NN_RPC_E_REFUSED, "cluster id %llu ('%s') is not this cluster's %llu ('%s')",
               (unsigned long long)h->cluster_id, h->cluster_name,
               (unsigned long long)rpc->cluster_id, rpc->cluster_name);
    } else if (h->role == NNRPC__ROLE__ROLE_TOOL) {
        if (c->encrypted && !nn_rpc_tool_subject_allowed(rpc, facts.peer_subject)) {
            refuse(c, NN_RPC_E_DENIED, "tool certificate subject '%s' is not in tool_subjects",
                   facts.peer_subject);
        } else {
            c->is_tool = true;
            conn_set_caller(c, c->encrypted ? facts.peer_subject : "");
        }
    } else {
        const nn_rpc_node *node = nn_rpc_node_find(rpc, h->node_name);
        nn_err err = {0};
        if (node == NULL || node == &rpc->nodes[rpc->self_index]) {
            refuse(c, NN_RPC_E_REFUSED, "unknown node '%s': not a peer in %s's config",
                   h->node_name, rpc->self);
        } else if (!host_matches(node->host, peer_host)) {
            refuse(c, NN_RPC_E_REFUSED, "node '%s' connects from %s but the config puts it at %s",
                   h->node_name, peer_host, node->host);
        } else if (c->encrypted && nn_security_identity_check(&facts, h->node_name, &err) < 0) {
            refuse(c, NN_RPC_E_REFUSED, "hello says node '%s' but its certificate does not: %s",
                   h->node_name, err.msg);
        } else {
            conn_set_caller(c, h->node_name);
            snprintf(c->peer, sizeof(c->peer), "%s", h->node_name);
            c->counted_node = true;
            c->from_chan = &rpc->chans[node - rpc->nodes];
            nn_rpc_channel_peer_seen(c->from_chan);
            atomic_fetch_add(&rpc->inbound_nodes, 1);
        }
    }
    nnrpc__hello__free_unpacked(h, &c->budget.pa);
    if (c->state == CONN_CLOSING) {
        return;
    }
    Nnrpc__HelloReply r = NNRPC__HELLO_REPLY__INIT;
    r.cluster_id = rpc->cluster_id;
    r.node_name = rpc->self;
    r.protocol_version = NN_RPC_PROTOCOL_VERSION;
    uint8_t buf[512];
    size_t len = nnrpc__hello_reply__get_packed_size(&r);
    if (len > sizeof(buf)) {
        refuse(c, NN_RPC_E_INVALID, "hello reply too large");
        return;
    }
    nnrpc__hello_reply__pack(&r, buf);
    Nnrpc__Envelope out = NNRPC__ENVELOPE__INIT;
    out.flags = NNRPC__FLAG__FLAG_RESPONSE;
    out.payload.data = buf;
    out.payload.len = len;
    nn_err err = {0};
    if (nn_rpc_conn_send(c, &out, &err) < 0) {
        nn_rpc_conn_close(c, err.msg);
        return;
    }
    c->state = CONN_READY;
    nn_log(NN_LOG_INFO, "rpc.accept", "node=%s peer=%s tool=%d tls=%s cipher=%s", rpc->self,
           c->is_tool ? (conn_caller(c)[0] ? conn_caller(c) : peer_host) : conn_caller(c),
           c->is_tool, c->encrypted ? c->tls_version : "off", c->encrypted ? c->tls_cipher : "-");
}

static uint64_t inbound_idle_ns(nn_rpc *rpc) {
    /* Peers heartbeat every heartbeat_ms; a link silent much longer is dead. Tools get the
     * same bound while idle. */
    uint64_t ms = atomic_load(&rpc->heartbeat_ms) * 10;
    return NN_MS(ms < 30000 ? 30000 : ms);
}

static void inbound_frame(rpc_conn *c, Nnrpc__Envelope *env) {
    if (c->state == CONN_HELLO) {
        inbound_hello(c, env);
        nn_rpc_envelope_free(env, &c->budget);
        return;
    }
    if (env->flags & NNRPC__FLAG__FLAG_HEARTBEAT) {
        Nnrpc__Envelope out = NNRPC__ENVELOPE__INIT;
        out.flags = NNRPC__FLAG__FLAG_RESPONSE | NNRPC__FLAG__FLAG_HEARTBEAT;
        nn_rpc_conn_send(c, &out, NULL);
        nn_rpc_envelope_free(env, &c->budget);
        return;
    }
    if (!(env->flags & NNRPC__FLAG__FLAG_REQUEST)) {
        /* Goodbyes and stray responses mean nothing to a listener. */
        nn_rpc_envelope_free(env, &c->budget);
        return;
    }
    if (env->call_id != 0 && env->call_id <= c->last_call_id) {
        /* A replayed or reordered request is never run twice (rel 26, rpc.h). */
        char why[160];
        snprintf(why, sizeof(why),
                 "call id %llu is stale or a duplicate (the last was %llu; call ids rise on a "
                 "connection)",
                 (unsigned long long)env->call_id, (unsigned long long)c->last_call_id);
        nn_log(NN_LOG_WARN, "rpc.protocol_error", "node=%s peer=%s reason=\"%s\"", c->rpc->self,
               c->peer, why);
        if (!(env->flags & NNRPC__FLAG__FLAG_ONE_WAY)) {
            send_error(c, env->call_id, NN_RPC_E_INVALID, 0, why);
        }
        nn_rpc_envelope_free(env, &c->budget);
        return;
    }
    if (env->call_id != 0) {
        c->last_call_id = env->call_id;
    }
    nn_rpc_request_dispatch(c, env);
}

/* -------------------------------------------------------------- callbacks */

static int on_open(nn_stream *s, void *arg) {
    if (nn_stream_is_outbound(s)) {
        rpc_conn *c = arg;
        c->stream = s;
        nn_stream_set_user(s, c);
        nn_stream_set_deadline(s, nn_now_ns() + NN_MS(atomic_load(&c->rpc->connect_timeout_ms)));
        if (c->tls_attempt) {
            c->state = CONN_TLS;
            c->tls_generation = nn_security_generation(c->rpc->sec);
            nn_err err = {0};
            if (nn_tls_stream_start(s, c->rpc->sec, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED,
                                    &err) < 0) {
                conn_set_refusal(c, "TLS to %s: %s", c->peer, err.msg);
                c->refusal_status = NN_RPC_E_REFUSED;
                nn_rpc_conn_close(c, conn_refusal(c));
            }
        } else {
            send_hello(c);
        }
        return 0;
    }
    nn_rpc *rpc = arg;
    rpc_conn *c = conn_alloc(rpc, false);
    if (c == NULL) {
        return -ENOMEM;
    }
    c->stream = s;
    c->loop = nn_stream_loop(s);
    c->state = CONN_SNIFF;
    atomic_fetch_add_explicit(
        &rpc->loops[nn_loop_index(c->loop) % rpc->loop_count].inbound_accepted, 1,
        memory_order_relaxed);
    snprintf(c->peer, sizeof(c->peer), "%s:%u", nn_stream_peer_host(s), nn_stream_peer_port(s));
    nn_stream_set_user(s, c);
    nn_stream_set_deadline(s, nn_now_ns() + NN_MS(atomic_load(&rpc->connect_timeout_ms)));
    rpc_conn *head = &rpc->loops[nn_loop_index(c->loop)].inbound;
    c->next_in = head->next_in;
    c->prev_in = head;
    head->next_in->prev_in = c;
    head->next_in = c;
    return 0;
}

/* Decides what the first bytes of an inbound connection are, under rpc_tls. Returns true
 * when frames should be read now. */
static bool inbound_sniff(rpc_conn *c, const uint8_t *in, size_t len) {
    nn_rpc *rpc = c->rpc;
    int tls = nn_tls_sniff(in, len);
    if (tls == -EAGAIN) {
        return false;
    }
    nn_rpc_tls_mode mode = (nn_rpc_tls_mode)atomic_load(&rpc->tls);
    if (tls == 1) {
        if (mode == NN_RPC_TLS_OFF || rpc->sec == NULL) {
            /* Close without a byte: a prefer dialler reads a clean close during its
             * handshake as "TLS off here" and retries in plaintext at once. */
            nn_log(NN_LOG_INFO, "rpc.refuse",
                   "node=%s peer=%s reason=\"TLS ClientHello but rpc_tls is off; closing so a "
                   "prefer peer falls back to plaintext\"",
                   rpc->self, c->peer);
            c->refusal_logged = true;
            nn_rpc_conn_close(c, "tls not enabled");
            return false;
        }
        c->state = CONN_TLS;
        nn_err err = {0};
        /* Read before the store is taken: a reload in between only makes an extra renew. */
        c->tls_generation = nn_security_generation(rpc->sec);
        if (nn_tls_stream_start(c->stream, rpc->sec, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_REQUIRED,
                                &err) < 0) {
            nn_log(NN_LOG_WARN, "rpc.refuse", "node=%s peer=%s reason=\"%s\"", rpc->self, c->peer,
                   err.msg);
            c->refusal_logged = true;
            nn_rpc_conn_close(c, err.msg);
        }
        return false;
    }
    if (mode == NN_RPC_TLS_REQUIRE) {
        nn_stream_consume(c->stream, len);
        refuse(c, NN_RPC_E_REFUSED,
               "rpc_tls is require on %s: plaintext connections are refused (set rpc_tls to "
               "prefer or require)",
               rpc->self);
        return false;
    }
    c->state = CONN_HELLO;
    return true;
}

/* A frame is partly here: have the stream make room for all of it at once (a bulk frame
 * would otherwise be copied at every doubling of the input buffer). */
static void reserve_frame(rpc_conn *c, const uint8_t *in, size_t len) {
    uint32_t body = 0;
    if (len >= NN_RPC_FRAME_HEADER &&
        nn_rpc_frame_header_parse(in, len, max_frame_of(c->rpc), &body, NULL) == 1) {
        /* Only a hint: without the room the input grows as bytes arrive. */
        (void)nn_stream_input_reserve(c->stream, NN_RPC_FRAME_HEADER + (size_t)body);
    }
}

/* A whole frame whose envelope ends with a bulk payload is taken out of the stream's
 * input with the storage it lies in, and the payload used where it is (protobuf-c would
 * copy it): 1 (or negative, the frame refused) when it was, 0 when the frame is to be
 * decoded the usual way (incomplete, small, payload not last, or the input not the
 * stream's to give). */
static int decode_in_place(rpc_conn *c, const uint8_t *in, size_t len, Nnrpc__Envelope **env,
                           size_t *used, nn_err *err) {
    uint32_t body = 0;
    if (len < NN_RPC_FRAME_HEADER + (size_t)NN_RPC_PAYLOAD_IN_PLACE_MIN ||
        nn_rpc_frame_header_parse(in, len, max_frame_of(c->rpc), &body, NULL) != 1 ||
        len - NN_RPC_FRAME_HEADER < body) {
        return 0;
    }
    size_t frame_len = NN_RPC_FRAME_HEADER + (size_t)body;
    size_t key_at = 0;
    if (nn_rpc_frame_payload_tail(in, frame_len, NN_RPC_PAYLOAD_IN_PLACE_MIN, &key_at) == 0) {
        return 0;
    }
    uint8_t *at = NULL;
    size_t cap = 0;
    void *block =
        nn_stream_input_take(c->stream, frame_len, &at, &cap, c->budget.spare, c->budget.spare_cap);
    if (block == NULL) {
        return 0;
    }
    c->budget.spare = NULL; /* the stream's input now */
    c->budget.spare_cap = 0;
    *used = frame_len;
    /* The frame now lies in storage of ours; the bytes are the same as `in`. */
    return nn_rpc_frame_decode_in_place(at, frame_len, block, cap, max_frame_of(c->rpc), &c->budget,
                                        env, err);
}

static void on_readable(nn_stream *s) {
    rpc_conn *c = nn_stream_user(s);
    if (c == NULL) {
        return;
    }
    if (c->budget.spare != NULL) {
        drop_idle_spare(c, nn_now_ns());
    }
    for (;;) {
        if (c->stream == NULL || c->state == CONN_CLOSING) {
            return;
        }
        size_t len = 0;
        const uint8_t *in = nn_stream_input(s, &len);
        if (len == 0) {
            return;
        }
        if (c->state == CONN_SNIFF && !inbound_sniff(c, in, len)) {
            return;
        }
        if (c->state == CONN_TLS || c->state == CONN_CONNECTING) {
            return;
        }
        Nnrpc__Envelope *env = NULL;
        size_t used = 0;
        nn_err err = {0};
        int rc = decode_in_place(c, in, len, &env, &used, &err);
        bool taken = rc != 0;
        if (!taken) {
            rc = nn_rpc_frame_decode(in, len, max_frame_of(c->rpc), &c->budget, &env, &used, &err);
        }
        if (rc == 0) {
            reserve_frame(c, in, len);
            return;
        }
        if (rc < 0) {
            nn_log(NN_LOG_WARN, "rpc.protocol_error", "node=%s peer=%s reason=\"%s\"", c->rpc->self,
                   c->peer, err.msg);
            c->refusal_logged = true;
            (void)nn_stream_input(s, &len); /* what is left, after a frame taken in place */
            nn_stream_consume(s, len);
            if (c->outbound) {
                conn_set_refusal(c, "bad frame from %s: %s", c->peer, err.msg);
                c->refusal_status = NN_RPC_E_PEER_DOWN;
            } else {
                send_error(c, 0, NN_RPC_E_INVALID, 0, err.msg);
            }
            nn_rpc_conn_close(c, err.msg);
            return;
        }
        if (!taken) {
            nn_stream_consume(s, used);
        }
        c->last_rx_ns = nn_now_ns();
        if (c->outbound) {
            atomic_fetch_add_explicit(&c->chan->bytes_in, used, memory_order_relaxed);
            outbound_frame(c, env);
            nn_rpc_envelope_free(env, &c->budget);
        } else {
            nn_stream_set_deadline(s, inbound_deadline(c, c->last_rx_ns));
            if (c->from_chan != NULL && c->last_rx_ns - c->heard_pub_ns >= NN_MS(1)) {
                /* At most once a millisecond: the channel may live on another worker. */
                atomic_store_explicit(&c->from_chan->heard_ns, c->last_rx_ns, memory_order_relaxed);
                c->heard_pub_ns = c->last_rx_ns;
            }
            inbound_frame(c, env);
        }
    }
}

static void on_event(nn_stream *s, int event) {
    rpc_conn *c = nn_stream_user(s);
    if (c == NULL || event != NN_STREAM_EV_SECURE || c->state == CONN_CLOSING) {
        return;
    }
    nn_tls_names(s, &c->tls_version, &c->tls_cipher);
    c->encrypted = c->tls_version != NULL;
    nn_rpc_count_tls_handshake(c, true);
    if (c->outbound) {
        outbound_secure(c);
    } else {
        if (!nn_rpc_conn_inbound_recheck(c)) {
            return; /* a reload during the handshake refuses its certificate now */
        }
        c->state = CONN_HELLO;
        /* A hello may have arrived with the last handshake flight. */
        on_readable(s);
    }
}

static void on_deadline(nn_stream *s) {
    rpc_conn *c = nn_stream_user(s);
    if (c == NULL) {
        nn_stream_close(s, NN_CLOSE_DEADLINE, "deadline");
        return;
    }
    if (c->plaintext_until_ns != 0 && nn_now_ns() >= c->plaintext_until_ns) {
        if (c->untrusted_drain) {
            nn_log(NN_LOG_WARN, "rpc.inbound.cut",
                   "node=%s peer=%s reason=\"its certificate no longer verifies after a reload, "
                   "and it was not replaced within a call timeout\"",
                   c->rpc->self, c->peer);
        }
        nn_rpc_conn_close(c, c->untrusted_drain
                                 ? "certificate no longer verifies after a reload"
                                 : "plaintext connection past its drain after rpc_tls became "
                                   "require");
        return;
    }
    if (c->state == CONN_READY || c->state == CONN_DRAINING) {
        if (!c->outbound && c->requests > 0) {
            nn_stream_set_deadline(s, inbound_deadline(c, nn_now_ns()));
            return;
        }
        nn_rpc_conn_close(c, "idle");
        return;
    }
    char why[160];
    snprintf(why, sizeof(why), "%s did not finish connecting within %llu ms", c->peer,
             (unsigned long long)atomic_load(&c->rpc->connect_timeout_ms));
    if (c->outbound) {
        conn_set_refusal(c, "%s", why);
        c->refusal_status = NN_RPC_E_PEER_DOWN;
    } else {
        nn_log(NN_LOG_WARN, "rpc.refuse", "node=%s peer=%s reason=\"%s\"", c->rpc->self, c->peer,
               why);
    }
    c->refusal_logged = true;
    nn_rpc_conn_close(c, why);
}

static void on_drain(nn_stream *s) {
    rpc_conn *c = nn_stream_user(s);
    if (c == NULL) {
        nn_stream_close(s, NN_CLOSE_SHUTDOWN, "stopping");
        return;
    }
    size_t busy = c->outbound ? c->calls.len : c->requests;
    if (busy == 0 || (c->state != CONN_READY && c->state != CONN_DRAINING)) {
        nn_rpc_conn_close(c, "stopping");
        return;
    }
    if (c->outbound && c->chan->active == c) {
        c->chan->active = NULL;
    }
    c->state = CONN_DRAINING;
}

static void on_refuse(nn_stream *s, void *arg) {
    (void)arg;
    /* A plaintext frame: a plaintext client reads the reason; a TLS client's handshake
     * fails on it (not a clean close, so a prefer client does not fall back). */
    Nnrpc__Envelope env = NNRPC__ENVELOPE__INIT;
    env.flags = NNRPC__FLAG__FLAG_RESPONSE | NNRPC__FLAG__FLAG_ERROR;
    env.error_code = NN_RPC_E_PEER_DOWN;
    env.error_message = "too many connections";
    uint8_t buf[128];
    size_t len = nnrpc__envelope__get_packed_size(&env);
    nn_rpc_frame_header_write(buf, (uint32_t)len);
    nnrpc__envelope__pack(&env, buf + NN_RPC_FRAME_HEADER);
    nn_stream_write(s, buf, NN_RPC_FRAME_HEADER + len);
}

/* An inbound connection that ends before its hello was accepted is a refusal, and the
 * dialler only sees the close: say here why it ended, unless that was said already. */
static void inbound_closed_log(rpc_conn *c, rpc_conn_state was, int reason, const char *why) {
    if (c->refusal_logged || c->counted_node || c->is_tool) {
        return;
    }
    bool peer_closed = reason == NN_CLOSE_PEER || reason == -ECONNRESET;
    nn_log_level level = NN_LOG_WARN;
    char msg[700];
    if (was == CONN_SNIFF && peer_closed) {
        /* Not a byte before the close: a port probe (health checks, free-port pickers). */
        level = NN_LOG_DEBUG;
        snprintf(msg, sizeof(msg), "closed before sending anything");
    } else if (reason == NN_CLOSE_LAYER) {
        snprintf(msg, sizeof(msg), "TLS handshake failed: %s", why ? why : "");
    } else if (peer_closed && was == CONN_TLS) {
        snprintf(msg, sizeof(msg),
                 "the peer closed during the TLS handshake (it refused our certificate or "
                 "its rpc_tls; its log says why)%s%s",
                 why && why[0] ? ": " : "", why ? why : "");
    } else if (peer_closed) {
        snprintf(msg, sizeof(msg), "the peer closed before its hello was accepted");
    } else if (reason == NN_CLOSE_SHUTDOWN || atomic_load(&c->rpc->stopping)) {
        level = NN_LOG_INFO;
        snprintf(msg, sizeof(msg), "%s is stopping (%s)", c->rpc->self, why ? why : "");
    } else {
        snprintf(msg, sizeof(msg), "closed before the hello: %s", why ? why : "");
    }
    nn_log(level, "rpc.refuse", "node=%s peer=%s reason=\"%s\"", c->rpc->self, c->peer, msg);
}

static void on_close(nn_stream *s, int reason, const char *why) {
    rpc_conn *c = nn_stream_user(s);
    if (c == NULL) {
        return;
    }
    nn_rpc *rpc = c->rpc;
    bool was_tls_attempt = c->state == CONN_TLS || (c->tls_attempt && !c->encrypted);
    rpc_conn_state was = c->state;
    if (was == CONN_TLS) {
        nn_rpc_count_tls_handshake(c, false);
    }
    c->stream = NULL;
    c->state = CONN_CLOSING;
    if (c->outbound) {
        nn_loop_timer_cancel(c->loop, &c->hb_timer);
        rpc_channel *ch = c->chan;
        bool peer_closed = reason == NN_CLOSE_PEER || reason == -ECONNRESET;
        bool fallback = false;
        char msg[1400];
        int status = NN_RPC_E_PEER_DOWN;
        if (c->refusal != NULL) {
            status = c->refusal_status;
            snprintf(msg, sizeof(msg), "%s", conn_refusal(c));
        } else if (was_tls_attempt && peer_closed) {
            /* No TLS alert, just a close: the listener has rpc_tls off (see rpc.h). */
            fallback = (nn_rpc_tls_mode)atomic_load(&rpc->tls) == NN_RPC_TLS_PREFER && !ch->is_tool;
            status = NN_RPC_E_REFUSED;
            snprintf(msg, sizeof(msg),
                     "%s closed the TLS handshake without an alert (it has rpc_tls off, or is "
                     "stopping; its log says which: rpc.refuse)",
                     c->peer);
        } else if (was_tls_attempt && reason == NN_CLOSE_LAYER) {
            /* An alert or a certificate that does not verify: a refusal, never a reason to
             * fall back to plaintext. */
            status = NN_RPC_E_REFUSED;
            snprintf(msg, sizeof(msg), "TLS handshake with %s failed: %s", c->peer, why ? why : "");
            /* security/ words a failure of our own check of the peer's chain so (an alert
             * from the peer reads "... alert ..."): the peer's certificate is refused. */
            c->peer_cert_rejected = why != NULL && strstr(why, "certificate verify failed");
        } else if (reason == NN_CLOSE_CONNECT || (reason < 0 && was == CONN_CONNECTING)) {
            snprintf(msg, sizeof(msg), "connect to %s failed: %s", c->peer, why ? why : "");
        } else {
            snprintf(msg, sizeof(msg), "connection to %s lost: %s", c->peer, why ? why : "");
        }
        if (atomic_load(&rpc->stopping) && status == NN_RPC_E_PEER_DOWN && ch->closed) {
            status = NN_RPC_E_CLOSED;
        }
        rpc_call *call;
        while ((call = nn_rpc_call_table_pop_any(&c->calls)) != NULL) {
            nn_rpc_call_complete(call, NN_RPC_E_PEER_DOWN, 0, msg, NULL, 0);
        }
        nn_rpc_channel_conn_closed(ch, c, status, msg, fallback);
    } else {
        inbound_closed_log(c, was, reason, why);
        atomic_fetch_add_explicit(
            &rpc->loops[nn_loop_index(c->loop) % rpc->loop_count].inbound_closed, 1,
            memory_order_relaxed);
        c->prev_in->next_in = c->next_in;
        c->next_in->prev_in = c->prev_in;
        if (c->counted_node) {
            pthread_mutex_lock(&rpc->drain_lock);
            atomic_fetch_sub(&rpc->inbound_nodes, 1);
            pthread_cond_broadcast(&rpc->drain_cond);
            pthread_mutex_unlock(&rpc->drain_lock);
        }
    }
    conn_unref(c);
}

const nn_stream_handler nn_rpc_stream_handler = {
    .on_open = on_open,
    .on_readable = on_readable,
    .on_event = on_event,
    .on_close = on_close,
    .on_refuse = on_refuse,
    .on_drain = on_drain,
    .on_deadline = on_deadline,
};

/* ---------------------------------------------------------------- requests */

static void request_finish(nn_rpc_request *req) {
    rpc_conn *c = req->conn;
    nn_rpc_count_request(req, req->status);
    c->requests--;
    nn_rpc_envelope_free(req->env, &c->budget);
    if (c->state == CONN_DRAINING && c->requests == 0) {
        nn_rpc_conn_close(c, "drained");
    }
    conn_unref(c);
    free(req->reply);
    free(req->error);
    nn_rpc_pool_free(req->rpc, req);
}

static void request_send(nn_rpc_request *req, uint32_t status, uint32_t remote_code,
                         const char *error, const void *data, size_t len) {
    rpc_conn *c = req->conn;
    req->status = status;
    if (!(req->env->flags & NNRPC__FLAG__FLAG_ONE_WAY) && c->stream != NULL &&
        c->state != CONN_CLOSING) {
        if (status != NN_RPC_OK) {
            send_error(c, req->env->call_id, status, remote_code, error);
        } else {
            Nnrpc__Envelope env = NNRPC__ENVELOPE__INIT;
            env.call_id = req->env->call_id;
            env.flags = NNRPC__FLAG__FLAG_RESPONSE;
            env.payload.data = (uint8_t *)data;
            env.payload.len = len;
            nn_err err = {0};
            if (nn_rpc_conn_send(c, &env, &err) == -EMSGSIZE) {
                send_error(c, req->env->call_id, NN_RPC_E_TOO_BIG, 0, err.msg);
            }
        }
    }
    request_finish(req);
}

static void reply_task(nn_task *task) {
    nn_rpc_request *req = (nn_rpc_request *)task;
    request_send(req, req->status, req->remote_code, req->error ? req->error : "", req->reply,
                 req->reply_len);
}

static void reply_post(nn_rpc_request *req) {
    if (nn_loop_post(req->conn->loop, &req->task) < 0) {
        /* The loop is gone, and with it the connection; nothing to answer. */
        free(req->reply);
        free(req->error);
        nn_rpc_pool_free(req->rpc, req);
    }
}

void nn_rpc_reply(nn_rpc_request *req, const void *data, size_t len) {
    if (nn_loop_current() == req->conn->loop) {
        request_send(req, NN_RPC_OK, 0, "", data, len);
        return;
    }
    req->reply = len ? malloc(len) : NULL;
    if (len != 0 && req->reply == NULL) {
        req->status = NN_RPC_E_REMOTE;
        req->error = strdup("out of memory for the reply");
    } else if (len != 0) {
        memcpy(req->reply, data, len);
    }
    req->reply_len = len;
    req->task.fn = reply_task;
    reply_post(req);
}

void nn_rpc_reply_error(nn_rpc_request *req, uint32_t code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (nn_loop_current() == req->conn->loop) {
        request_send(req, NN_RPC_E_REMOTE, code, msg, NULL, 0);
        return;
    }
    req->status = NN_RPC_E_REMOTE;
    req->remote_code = code;
    req->error = strdup(msg);
    req->task.fn = reply_task;
    reply_post(req);
}

void nn_rpc_request_dispatch(rpc_conn *c, Nnrpc__Envelope *env) {
    nn_rpc *rpc = c->rpc;
    const char *method = env->method ? env->method : "";
    const rpc_service *svc = nn_rpc_service_find(rpc, method);
    char why[700];
    uint32_t status = NN_RPC_OK;
    if (svc == NULL) {
        status = NN_RPC_E_NO_METHOD;
        snprintf(why, sizeof(why), "no service '%s' on %s", method, rpc->self);
    } else if (c->is_tool && !(svc->flags & NN_RPC_SERVICE_TOOLS)) {
        status = NN_RPC_E_DENIED;
        snprintf(why, sizeof(why), "tool clients may not call '%s'", method);
    } else if (!c->is_tool && !(svc->flags & NN_RPC_SERVICE_PEERS)) {
        status = NN_RPC_E_DENIED;
        snprintf(why, sizeof(why), "'%s' is for tool clients only", method);
    }
    nn_rpc_request *req = status == NN_RPC_OK ? nn_rpc_pool_calloc(rpc, sizeof(*req)) : NULL;
    if (status == NN_RPC_OK && req == NULL) {
        status = NN_RPC_E_REMOTE;
        snprintf(why, sizeof(why), "out of memory");
    }
    if (status != NN_RPC_OK) {
        if (!(env->flags & NNRPC__FLAG__FLAG_ONE_WAY)) {
            send_error(c, env->call_id, status, 0, why);
        }
        nn_rpc_envelope_free(env, &c->budget);
        return;
    }
    uint64_t timeout_ms = env->timeout_ms ? env->timeout_ms : atomic_load(&rpc->call_timeout_ms);
    req->conn = c;
    req->rpc = rpc;
    req->env = env;
    req->svc = svc;
    req->start_ns = nn_now_ns();
    req->tool = c->is_tool;
    req->deadline_ns = nn_now_ns() + NN_MS(timeout_ms);
    c->refs++;
    c->requests++;
    if (c->counted_node) {
        /* Per calling node, so that a test can tell a call run twice from one run once. */
        const nn_rpc_node *from = nn_rpc_node_find(rpc, conn_caller(c));
        if (from != NULL) {
            atomic_fetch_add_explicit(&rpc->chans[from - rpc->nodes].served, 1,
                                      memory_order_relaxed);
        }
    }
    svc->handler(req, svc->arg);
}

const uint8_t *nn_rpc_request_payload(const nn_rpc_request *req, size_t *len) {
    *len = req->env->payload.len;
    return req->env->payload.data;
}

const char *nn_rpc_request_method(const nn_rpc_request *req) {
    return req->env->method;
}

const char *nn_rpc_request_caller(const nn_rpc_request *req) {
    return conn_caller(req->conn);
}

bool nn_rpc_request_from_tool(const nn_rpc_request *req) {
    return req->tool;
}

uint64_t nn_rpc_request_deadline_ns(const nn_rpc_request *req) {
    return req->deadline_ns;
}

nn_rpc *nn_rpc_request_rpc(const nn_rpc_request *req) {
    return req->conn->rpc;
}
