/* rpc/channel.c: the persistent outbound channel to one peer, owned by one worker.
 *
 * States (published for mesh.state): IDLE -> CONNECTING -> READY; READY -> DRAINING when
 * the peer says goodbye (no new calls go to it; calls made meanwhile wait for the
 * reconnect); READY/CONNECTING -> DOWN on a failure, then a retry after an exponential
 * backoff with jitter. A replacement connection (reconfigure) is made beside the active
 * one and takes over only once it has said hello (make-before-break).
 *
 * Two more reasons replace a READY connection make-before-break:
 *   - healing: under prefer, a channel that fell back to plaintext (the peer closed our
 *     ClientHello: it had rpc_tls off, or one hello was lost) tries TLS again beside the
 *     plaintext connection with its own backoff (1 s doubling to 10 s), so that it returns
 *     to TLS once the peer can, and never stays in plaintext for its whole life;
 *   - expiry: a TLS session is renewed before either side's certificate expires (a day
 *     before, or half the time left when less than two days are), so that a certificate
 *     renewed on disk is used without waiting for a reload; at expiry itself a session
 *     that could not be renewed is closed.
 *
 * A peer whose certificate this node refuses is cut rather than replaced: when a reload's
 * new CRL revokes the active session's certificate, or a replacement fails on the peer's
 * certificate (revoked, no longer under a trusted CA, not naming the peer), the active
 * connection closes too (a session on a refused certificate is no better than a new one),
 * the channel goes down with the reason, and calls to the peer fail at once with it until
 * a connection succeeds again. Inbound connections are rechecked too (mesh.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rpc/rpc_internal.h"

#define BACKOFF_FIRST_MS 50u
#define BACKOFF_MAX_MS 1000u /* a restarted peer is found again within about a second */
/* A peer whose certificate we refuse: one refused handshake per 5 s at most. */
#define BACKOFF_REJECTED_MAX_MS 5000u
#define HEAL_FIRST_MS 1000u
#define HEAL_MAX_MS 10000u /* a TLS-off peer costs one refused ClientHello per 10 s */
#define EXPIRY_MARGIN_S 86400

static uint64_t jitter_next(void) {
    static _Thread_local uint64_t x;
    if (x == 0) {
        x = nn_now_ns() | 1u;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static void chan_state(rpc_channel *ch, rpc_chan_state st) {
    int was = atomic_exchange(&ch->state, (int)st);
    /* The embedder's channel events: only the edges into and out of READY (a channel
     * replaced make-before-break stays READY and says nothing). */
    nn_rpc_channel_fn fn = ch->rpc->on_channel;
    if (fn == NULL || ch->is_tool) {
        return;
    }
    if (st == CHAN_READY && was != CHAN_READY) {
        fn(ch->rpc->on_channel_arg, ch->peer, true, "");
    } else if (was == CHAN_READY && st != CHAN_READY) {
        fn(ch->rpc->on_channel_arg, ch->peer, false,
           st == CHAN_DRAINING ? "the peer said goodbye (stopping)" : ch->last_error);
    }
}

void nn_rpc_set_channel_listener(nn_rpc *rpc, nn_rpc_channel_fn fn, void *arg) {
    rpc->on_channel = fn;
    rpc->on_channel_arg = arg;
}

static void waiting_unlink(rpc_channel *ch, rpc_call *call) {
    call->prev->next = call->next;
    call->next->prev = call->prev;
    call->next = call->prev = NULL;
    call->waiting = false;
    ch->waiting_count--;
}

void nn_rpc_channel_count_failure(rpc_channel *ch, int status) {
    if (status < 0 || status >= NN_RPC_STATUS_COUNT) {
        status = NN_RPC_E_REMOTE;
    }
    atomic_fetch_add_explicit(&ch->failed[status], 1, memory_order_relaxed);
}

void nn_rpc_call_complete(rpc_call *call, int status, uint32_t remote_code, const char *error,
                          const uint8_t *payload, size_t len) {
    rpc_channel *ch = call->chan;
    if (nn_timer_armed(&call->timer) && nn_loop_current() == ch->loop) {
        nn_loop_timer_cancel(ch->loop, &call->timer);
    }
    if (call->conn != NULL) {
        atomic_fetch_sub_explicit(&ch->in_flight, 1, memory_order_relaxed);
    }
    uint64_t latency_ns = nn_now_ns() - (call->deadline_ns - NN_MS(call->timeout_ms));
    if (status == NN_RPC_OK || status == NN_RPC_E_REMOTE) {
        /* A reply came: its latency counts (a deadline is not a latency). */
        nn_rpc_latency_record(&ch->latency, latency_ns);
    }
    if (status == NN_RPC_OK) {
        atomic_fetch_add_explicit(&ch->ok, 1, memory_order_relaxed);
    } else {
        nn_rpc_channel_count_failure(ch, status);
    }
    nn_rpc_result res = {
        .status = (nn_rpc_status)status,
        .remote_code = remote_code,
        .error = error ? error : "",
        .payload = payload,
        .payload_len = len,
        .latency_ns = latency_ns,
    };
    call->cb(&res, call->arg);
    nn_rpc_pool_free(call->rpc, call);
}

static void conn_call_done(rpc_conn *c) {
    if (c->state == CONN_DRAINING && c->calls.len == 0) {
        nn_rpc_conn_close(c, "drained");
    }
}

static void send_call(rpc_channel *ch, rpc_call *call, rpc_conn *c) {
    uint64_t now = nn_now_ns();
    call->call_id = c->next_call_id++;
    if (nn_rpc_call_table_put(&c->calls, call->call_id, call) < 0) {
        nn_rpc_call_complete(call, NN_RPC_E_PEER_DOWN, 0, "out of memory", NULL, 0);
        return;
    }
    call->conn = c;
    atomic_fetch_add_explicit(&ch->in_flight, 1, memory_order_relaxed);
    Nnrpc__Envelope env = NNRPC__ENVELOPE__INIT;
    env.call_id = call->call_id;
    env.method = call->method;
    env.flags = NNRPC__FLAG__FLAG_REQUEST;
    uint64_t left = call->deadline_ns > now ? (call->deadline_ns - now) / 1000000u : 0;
    env.timeout_ms = left ? left : 1;
    env.trace_id = atomic_fetch_add(&ch->rpc->next_trace, 1);
    env.payload.data = call->payload;
    env.payload.len = call->len;
    nn_err err = {0};
    int rc = nn_rpc_conn_send(c, &env, &err);
    if (rc < 0) {
        nn_rpc_call_table_take(&c->calls, call->call_id);
        nn_rpc_call_complete(call, rc == -EMSGSIZE ? NN_RPC_E_TOO_BIG : NN_RPC_E_PEER_DOWN, 0,
                             err.msg, NULL, 0);
    }
}

static void call_timer_fire(nn_timer *t) {
    rpc_call *call = t->arg;
    rpc_channel *ch = call->chan;
    char msg[1400];
    if (call->waiting) {
        waiting_unlink(ch, call);
        snprintf(msg, sizeof(msg), "no channel to %s within %llu ms: %s", ch->peer,
                 (unsigned long long)call->timeout_ms, ch->last_error);
        nn_rpc_call_complete(call, ch->last_status, 0, msg, NULL, 0);
        return;
    }
    rpc_conn *c = call->conn;
    nn_rpc_call_table_take(&c->calls, call->call_id);
    snprintf(msg, sizeof(msg), "no reply from %s to '%s' within %llu ms", ch->peer, call->method,
             (unsigned long long)call->timeout_ms);
    nn_rpc_call_complete(call, NN_RPC_E_DEADLINE, 0, msg, NULL, 0);
    conn_call_done(c);
}

static bool waits_for_channel(const rpc_channel *ch) {
    /* A tool client does not reconnect: with no connection, a call fails at once. */
    return !ch->is_tool || ch->pending != NULL;
}

static void call_start(nn_task *task) {
    rpc_call *call = (rpc_call *)task;
    rpc_channel *ch = call->chan;
    if (ch->closed) {
        nn_rpc_call_complete(call, NN_RPC_E_CLOSED, 0, "rpc is shut down", NULL, 0);
        return;
    }
    if (nn_now_ns() >= call->deadline_ns) {
        nn_rpc_call_complete(call, NN_RPC_E_DEADLINE, 0, "deadline passed before sending", NULL, 0);
        return;
    }
    nn_timer_init(&call->timer, call_timer_fire, call);
    nn_loop_timer_arm(ch->loop, &call->timer, call->deadline_ns);
    if (ch->active != NULL && ch->active->state == CONN_READY) {
        send_call(ch, call, ch->active);
        return;
    }
    if (!waits_for_channel(ch) || ch->cert_rejected) {
        /* A refused certificate does not fix itself within a call's deadline. */
        nn_rpc_call_complete(call, ch->last_status, 0, ch->last_error, NULL, 0);
        return;
    }
    call->waiting = true;
    call->prev = ch->waiting.prev;
    call->next = &ch->waiting;
    ch->waiting.prev->next = call;
    ch->waiting.prev = call;
    ch->waiting_count++;
}

int nn_rpc_call(nn_rpc *rpc, const char *peer, const char *method, const void *payload, size_t len,
                uint64_t timeout_ms, nn_rpc_call_fn cb, void *arg) {
    rpc_channel *ch = NULL;
    for (size_t i = 0; i < rpc->chan_count && peer != NULL; i++) {
        if (rpc->chans[i].loop != NULL && strcmp(rpc->chans[i].peer, peer) == 0) {
            ch = &rpc->chans[i];
        }
    }
    nn_rpc_result res = {.status = NN_RPC_E_INVALID, .error = ""};
    char msg[200];
    if (ch == NULL || method == NULL) {
        snprintf(msg, sizeof(msg), "no peer '%s' in %s's config", peer ? peer : "(null)",
                 rpc->self);
        res.error = msg;
        cb(&res, arg);
        return -EINVAL;
    }
    size_t mlen = strlen(method) + 1;
    if (len > SIZE_MAX - sizeof(rpc_call) - mlen) {
        res.status = NN_RPC_E_TOO_BIG;
        res.error = "payload too large";
        cb(&res, arg);
        return -EMSGSIZE;
    }
    /* From the worker's pool on a worker (mesh.drive, handlers calling peers): the steady
     * state allocates nothing per call. */
    rpc_call *call = nn_rpc_pool_alloc(rpc, sizeof(*call) + mlen + len);
    if (call == NULL) {
        res.error = "out of memory";
        cb(&res, arg);
        return -ENOMEM;
    }
    memset(call, 0, sizeof(*call));
    call->rpc = rpc;
    call->chan = ch;
    call->cb = cb;
    call->arg = arg;
    call->method = (char *)(call + 1);
    memcpy(call->method, method, mlen);
    call->payload = (uint8_t *)call->method + mlen;
    if (len != 0) {
        memcpy(call->payload, payload, len);
    }
    call->len = len;
    call->timeout_ms = timeout_ms ? timeout_ms : atomic_load(&rpc->call_timeout_ms);
    call->deadline_ns = nn_now_ns() + NN_MS(call->timeout_ms);
    call->task.fn = call_start;
    if (nn_loop_current() == ch->loop) {
        call_start(&call->task);
        return 0;
    }
    if (nn_loop_post(ch->loop, &call->task) < 0) {
        res.status = NN_RPC_E_CLOSED;
        res.error = "the channel's worker has stopped";
        cb(&res, arg);
        nn_rpc_pool_free(rpc, call);
        return -ESHUTDOWN;
    }
    return 0;
}

/* ---------------------------------------------------------------- sync */

typedef struct sync_call {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    nn_rpc_status status;
    uint8_t *out;
    size_t out_len;
    char error[512];
} sync_call;

static void sync_done(const nn_rpc_result *res, void *arg) {
    sync_call *sc = arg;
    pthread_mutex_lock(&sc->lock);
    sc->status = res->status;
    if (res->status == NN_RPC_OK && res->payload_len != 0) {
        sc->out = malloc(res->payload_len);
        if (sc->out == NULL) {
            sc->status = NN_RPC_E_REMOTE;
            snprintf(sc->error, sizeof(sc->error), "out of memory for the reply");
        } else {
            memcpy(sc->out, res->payload, res->payload_len);
            sc->out_len = res->payload_len;
        }
    } else {
        snprintf(sc->error, sizeof(sc->error), "%s", res->error);
    }
    sc->done = true;
    pthread_cond_signal(&sc->cond);
    pthread_mutex_unlock(&sc->lock);
}

nn_rpc_status nn_rpc_call_sync(nn_rpc *rpc, const char *peer, const char *method,
                               const void *payload, size_t len, uint64_t timeout_ms, uint8_t **out,
                               size_t *out_len, nn_err *err) {
    *out = NULL;
    *out_len = 0;
    if (nn_loop_current() != NULL) {
        nn_err_set(err, EDEADLK, "blocking RPC call on a worker thread");
        return NN_RPC_E_INVALID;
    }
    sync_call sc = {.done = false};
    pthread_mutex_init(&sc.lock, NULL);
    pthread_cond_init(&sc.cond, NULL);
    nn_rpc_call(rpc, peer, method, payload, len, timeout_ms, sync_done, &sc);
    /* Every call ends by its deadline (its timer), so this wait is bounded. */
    pthread_mutex_lock(&sc.lock);
    while (!sc.done) {
        pthread_cond_wait(&sc.cond, &sc.lock);
    }
    pthread_mutex_unlock(&sc.lock);
    pthread_mutex_destroy(&sc.lock);
    pthread_cond_destroy(&sc.cond);
    if (sc.status != NN_RPC_OK) {
        nn_err_set(err, EIO, "%s %s: %s: %s", peer ? peer : "", method ? method : "",
                   nn_rpc_status_name(sc.status), sc.error);
        return sc.status;
    }
    *out = sc.out;
    *out_len = sc.out_len;
    return NN_RPC_OK;
}

/* ------------------------------------------------------------ channel life */

static void tool_outcome(rpc_channel *ch, int outcome) {
    if (!ch->is_tool) {
        return;
    }
    pthread_mutex_lock(&ch->wait_lock);
    if (ch->first_outcome == 0) {
        ch->first_outcome = outcome;
    }
    pthread_cond_broadcast(&ch->wait_cond);
    pthread_mutex_unlock(&ch->wait_lock);
}

static bool needs_replacement(rpc_channel *ch) {
    rpc_conn *c = ch->active;
    if (c == NULL) {
        return false;
    }
    nn_rpc_tls_mode mode = (nn_rpc_tls_mode)atomic_load(&ch->rpc->tls);
    if (mode == NN_RPC_TLS_REQUIRE && !c->encrypted) {
        return true;
    }
    if (mode == NN_RPC_TLS_OFF && c->encrypted) {
        return true;
    }
    if (mode == NN_RPC_TLS_PREFER && !c->encrypted && !c->tls_attempt && !c->fallback) {
        return true; /* made under rpc_tls=off; a fallback is healed by heal_fire */
    }
    if (c->renew_requested) {
        return true;
    }
    return c->encrypted && ch->rpc->sec != NULL &&
           nn_security_generation(ch->rpc->sec) != ch->tls_generation;
}

static void connect_attempt(rpc_channel *ch);

static void retry_fire(nn_timer *t) {
    rpc_channel *ch = t->arg;
    if (ch->pending != NULL || (ch->active != NULL && !needs_replacement(ch))) {
        return;
    }
    connect_attempt(ch);
}

/* Every call waiting for a connection ends now with status and why. */
static void fail_waiting(rpc_channel *ch, int status, const char *why) {
    while (ch->waiting.next != &ch->waiting) {
        rpc_call *call = ch->waiting.next;
        waiting_unlink(ch, call);
        nn_rpc_call_complete(call, status, 0, why, NULL, 0);
    }
}

static void schedule_retry(rpc_channel *ch) {
    if (ch->closed || (atomic_load(&ch->rpc->stopping) && !ch->is_tool)) {
        return;
    }
    if (ch->is_tool) {
        /* A tool reports the failure instead of retrying; waiting calls end now. */
        fail_waiting(ch, ch->last_status, ch->last_error);
        tool_outcome(ch, -1);
        return;
    }
    ch->backoff_ms = ch->backoff_ms == 0 ? BACKOFF_FIRST_MS : ch->backoff_ms * 2;
    uint64_t max = ch->cert_rejected ? BACKOFF_REJECTED_MAX_MS : BACKOFF_MAX_MS;
    if (ch->backoff_ms > max) {
        ch->backoff_ms = max;
    }
    /* Half fixed, half random: peers that lost the same node do not retry in step. */
    uint64_t delay = ch->backoff_ms / 2 + jitter_next() % (ch->backoff_ms / 2 + 1);
    nn_loop_timer_arm(ch->loop, &ch->retry_timer, nn_now_ns() + NN_MS(delay));
}

/* The peer's certificate is refused now: the active connection closes at once (its calls
 * in flight end with `why`), and its close brings the channel down and schedules the next
 * attempt (conn_closed). */
static void channel_cut(rpc_channel *ch, const char *why) {
    rpc_conn *c = ch->active;
    ch->cert_rejected = true;
    ch->last_status = NN_RPC_E_REFUSED;
    snprintf(ch->last_error, sizeof(ch->last_error), "%s", why);
    nn_log(NN_LOG_WARN, "rpc.channel.cut",
           "node=%s peer=%s reason=\"%s\" action=\"channel closed; calls to %s fail until it "
           "presents a certificate this node accepts\"",
           ch->rpc->self, ch->peer, why, ch->peer);
    if (c != NULL) {
        c->refusal_logged = true;
        nn_rpc_conn_refuse_peer_cert(c, why);
    }
}

static void connect_attempt(rpc_channel *ch) {
    if (ch->closed || ch->pending != NULL) {
        return;
    }
    nn_rpc *rpc = ch->rpc;
    bool tls;
    if (ch->is_tool) {
        tls = rpc->sec != NULL;
    } else {
        nn_rpc_tls_mode mode = (nn_rpc_tls_mode)atomic_load(&rpc->tls);
        tls = mode == NN_RPC_TLS_REQUIRE || (mode == NN_RPC_TLS_PREFER && !ch->tls_fallback);
    }
    bool fallback = ch->tls_fallback && !tls;
    ch->tls_fallback = false;
    nn_err err = {0};
    rpc_conn *c = nn_rpc_conn_connect(ch, tls, &err);
    if (c == NULL) {
        ch->last_status = NN_RPC_E_PEER_DOWN;
        snprintf(ch->last_error, sizeof(ch->last_error), "%s", err.msg);
        schedule_retry(ch);
        return;
    }
    c->fallback = fallback;
    ch->pending = c;
    if (ch->active == NULL) {
        chan_state(ch, CHAN_CONNECTING);
    }
}

/* ------------------------------------------------------ healing and expiry */

static bool in_plaintext_under_prefer(const rpc_channel *ch) {
    return !ch->is_tool && ch->active != NULL && !ch->active->encrypted && ch->rpc->sec != NULL &&
           (nn_rpc_tls_mode)atomic_load(&ch->rpc->tls) == NN_RPC_TLS_PREFER;
}

static void heal_schedule(rpc_channel *ch) {
    if (ch->closed || !in_plaintext_under_prefer(ch) || nn_timer_armed(&ch->heal_timer)) {
        return;
    }
    ch->heal_backoff_ms = ch->heal_backoff_ms == 0 ? HEAL_FIRST_MS : ch->heal_backoff_ms * 2;
    if (ch->heal_backoff_ms > HEAL_MAX_MS) {
        ch->heal_backoff_ms = HEAL_MAX_MS;
    }
    uint64_t delay = ch->heal_backoff_ms / 2 + jitter_next() % (ch->heal_backoff_ms / 2 + 1);
    nn_loop_timer_arm(ch->loop, &ch->heal_timer, nn_now_ns() + NN_MS(delay));
}

static void heal_fire(nn_timer *t) {
    rpc_channel *ch = t->arg;
    if (ch->closed || atomic_load(&ch->rpc->stopping) || !in_plaintext_under_prefer(ch)) {
        return;
    }
    if (ch->pending != NULL) {
        heal_schedule(ch); /* another replacement is under way; ask again after it */
        return;
    }
    atomic_fetch_add_explicit(&ch->heal_attempts, 1, memory_order_relaxed);
    nn_log(NN_LOG_DEBUG, "rpc.tls.retry", "node=%s peer=%s backoff_ms=%llu", ch->rpc->self,
           ch->peer, (unsigned long long)ch->heal_backoff_ms);
    connect_attempt(ch); /* TLS: tls_fallback is clear while a connection is active */
}

/* The earliest not_after of the two certificates of c's session, 0 when none. */
static int64_t session_expiry(const rpc_conn *c) {
    nn_tls_facts facts;
    nn_rpc_conn_facts(c, &facts);
    int64_t a = facts.peer_not_after;
    int64_t b = facts.local_not_after;
    if (a <= 0) {
        return b > 0 ? b : 0;
    }
    return b > 0 && b < a ? b : a;
}

static void expiry_schedule(rpc_channel *ch) {
    if (nn_timer_armed(&ch->expiry_timer)) {
        nn_loop_timer_cancel(ch->loop, &ch->expiry_timer);
    }
    rpc_conn *c = ch->active;
    int64_t expiry = c != NULL && c->encrypted ? session_expiry(c) : 0;
    if (ch->closed || ch->is_tool || expiry == 0) {
        return;
    }
    int64_t left = expiry - (int64_t)time(NULL);
    int64_t margin = left > 2 * EXPIRY_MARGIN_S ? EXPIRY_MARGIN_S : left / 2;
    int64_t delay_s = left - margin;
    if (delay_s < 1) {
        delay_s = left > 1 ? 1 : (left > 0 ? left : 0);
    }
    nn_loop_timer_arm(ch->loop, &ch->expiry_timer, nn_now_ns() + (uint64_t)delay_s * 1000000000u);
}

static void expiry_fire(nn_timer *t) {
    rpc_channel *ch = t->arg;
    rpc_conn *c = ch->active;
    if (ch->closed || atomic_load(&ch->rpc->stopping) || c == NULL || !c->encrypted) {
        return;
    }
    int64_t expiry = session_expiry(c);
    int64_t left = expiry - (int64_t)time(NULL);
    if (left <= 0) {
        /* Nothing renewed the session in time: it no longer has a valid certificate. */
        nn_log(NN_LOG_WARN, "rpc.channel.cert_expired",
               "node=%s peer=%s reason=\"a certificate of this TLS session expired and no "
               "renewed one was in place; closing it\"",
               ch->rpc->self, ch->peer);
        nn_rpc_conn_close(c, "a certificate of the TLS session expired");
        return;
    }
    nn_log(NN_LOG_INFO, "rpc.channel.replace",
           "node=%s peer=%s reason=\"a certificate of the TLS session expires in %llds: "
           "renewing the session\"",
           ch->rpc->self, ch->peer, (long long)left);
    atomic_fetch_add_explicit(&ch->expiry_renewals, 1, memory_order_relaxed);
    if (ch->pending == NULL) {
        connect_attempt(ch);
    }
    /* Re-armed by conn_ready when the replacement is up; if it is not, ask again later. */
    expiry_schedule(ch);
}

void nn_rpc_channel_set_info(rpc_channel *ch, const rpc_conn *c) {
    nn_tls_facts f; /* read before the lock: the connection keeps no copy */
    if (c != NULL) {
        nn_rpc_conn_facts(c, &f);
    }
    pthread_mutex_lock(&ch->info_lock);
    const char *subject = c != NULL ? f.peer_subject : nn_rpc_channel_info_subject(ch);
    const char *issuer = c != NULL ? f.peer_issuer : nn_rpc_channel_info_issuer(ch);
    size_t ls = strlen(subject) + 1, li = strlen(issuer) + 1, le = strlen(ch->last_error) + 1;
    char *text = malloc(ls + li + le);
    if (text != NULL) { /* else the old text stays: only what is shown gets stale */
        memcpy(text, subject, ls);
        memcpy(text + ls, issuer, li);
        memcpy(text + ls + li, ch->last_error, le);
        free(ch->info_text);
        ch->info_text = text;
    }
    if (c != NULL) {
        ch->info_encrypted = c->encrypted;
        snprintf(ch->info_version, sizeof(ch->info_version), "%s", f.version);
        snprintf(ch->info_cipher, sizeof(ch->info_cipher), "%s", f.cipher);
        ch->info_peer_not_before = f.peer_not_before;
        ch->info_peer_not_after = f.peer_not_after;
        ch->info_local_not_after = f.local_not_after;
        ch->info_generation = c->encrypted ? c->tls_generation : 0;
    }
    pthread_mutex_unlock(&ch->info_lock);
}

const char *nn_rpc_channel_info_subject(const rpc_channel *ch) {
    return ch->info_text != NULL ? ch->info_text : "";
}

const char *nn_rpc_channel_info_issuer(const rpc_channel *ch) {
    const char *s = nn_rpc_channel_info_subject(ch);
    return ch->info_text != NULL ? s + strlen(s) + 1 : "";
}

const char *nn_rpc_channel_info_error(const rpc_channel *ch) {
    const char *s = nn_rpc_channel_info_issuer(ch);
    return ch->info_text != NULL ? s + strlen(s) + 1 : "";
}

void nn_rpc_channel_init(rpc_channel *ch, nn_rpc *rpc, size_t index, const nn_rpc_node *node) {
    memset(ch, 0, sizeof(*ch));
    ch->rpc = rpc;
    ch->index = index;
    snprintf(ch->peer, sizeof(ch->peer), "%s", node->name);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ch->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ch->addr;
    if (inet_pton(AF_INET, node->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(node->rpc_port);
        ch->addrlen = sizeof(*v4);
    } else {
        inet_pton(AF_INET6, node->host, &v6->sin6_addr);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(node->rpc_port);
        ch->addrlen = sizeof(*v6);
    }
    ch->loop = nn_server_loop(rpc->srv, (uint32_t)(index % nn_server_worker_count(rpc->srv)));
    ch->waiting.next = ch->waiting.prev = &ch->waiting;
    nn_timer_init(&ch->retry_timer, retry_fire, ch);
    nn_timer_init(&ch->heal_timer, heal_fire, ch);
    nn_timer_init(&ch->expiry_timer, expiry_fire, ch);
    ch->last_status = NN_RPC_E_PEER_DOWN;
    snprintf(ch->last_error, sizeof(ch->last_error), "not connected yet");
    pthread_mutex_init(&ch->info_lock, NULL);
    pthread_mutex_init(&ch->wait_lock, NULL);
    pthread_cond_init(&ch->wait_cond, NULL);
    chan_state(ch, CHAN_IDLE);
}

void nn_rpc_channel_destroy(rpc_channel *ch) {
    free(ch->info_text);
    ch->info_text = NULL;
    pthread_mutex_destroy(&ch->info_lock);
    pthread_mutex_destroy(&ch->wait_lock);
    pthread_cond_destroy(&ch->wait_cond);
}

void nn_rpc_channel_start(rpc_channel *ch) {
    connect_attempt(ch);
}

void nn_rpc_channel_conn_ready(rpc_channel *ch, rpc_conn *c) {
    if (ch->pending == c) {
        ch->pending = NULL;
    }
    rpc_conn *old = ch->active;
    ch->active = c;
    ch->backoff_ms = 0;
    if (ch->ever_up) {
        atomic_fetch_add(&ch->reconnects, 1);
    }
    ch->ever_up = true;
    /* The store the session was started with, not the current one: a reload during the
     * handshake leaves this channel due for replacement. */
    ch->tls_generation = c->tls_generation;
    ch->cert_rejected = false;
    ch->last_status = NN_RPC_E_PEER_DOWN;
    ch->last_error[0] = '\0';
    nn_rpc_channel_set_info(ch, c);
    chan_state(ch, CHAN_READY);
    nn_log(NN_LOG_INFO, "rpc.channel.up", "node=%s peer=%s tls=%s cipher=%s replaced=%d",
           ch->rpc->self, ch->peer, c->encrypted ? c->tls_version : "off",
           c->encrypted ? c->tls_cipher : "-", old != NULL);
    if (old != NULL && old->fallback && c->encrypted) {
        atomic_fetch_add_explicit(&ch->heals, 1, memory_order_relaxed);
        nn_log(NN_LOG_INFO, "rpc.tls.healed",
               "node=%s peer=%s tls=%s reason=\"the peer takes TLS again; the plaintext "
               "fallback is retired (make-before-break)\"",
               ch->rpc->self, ch->peer, c->tls_version);
    }
    if (c->encrypted) {
        ch->heal_backoff_ms = 0;
        if (nn_timer_armed(&ch->heal_timer)) {
            nn_loop_timer_cancel(ch->loop, &ch->heal_timer);
        }
    }
    heal_schedule(ch);
    expiry_schedule(ch);
    if (old != NULL) {
        /* Make-before-break: the old connection finishes its calls, then closes. */
        old->state = CONN_DRAINING;
        conn_call_done(old);
    }
    while (ch->waiting.next != &ch->waiting) {
        rpc_call *call = ch->waiting.next;
        waiting_unlink(ch, call);
        send_call(ch, call, c);
    }
    tool_outcome(ch, 1);
}

void nn_rpc_channel_conn_closed(rpc_channel *ch, rpc_conn *c, int status, const char *why,
                                bool fallback) {
    bool was_active = ch->active == c;
    bool was_pending = ch->pending == c;
    if (was_active) {
        ch->active = NULL;
        bool quiet = ch->is_tool || atomic_load(&ch->rpc->stopping);
        nn_log(quiet ? NN_LOG_DEBUG : NN_LOG_WARN, "rpc.channel.down",
               "node=%s peer=%s reason=\"%s\"", ch->rpc->self, ch->peer, why);
    }
    if (was_pending) {
        ch->pending = NULL;
    }
    if (!was_active && !was_pending) {
        return; /* a retired connection that finished its calls */
    }
    if (ch->closed) {
        return;
    }
    ch->last_status = status;
    snprintf(ch->last_error, sizeof(ch->last_error), "%s", why);
    nn_rpc_channel_set_info(ch, NULL);
    ch->cert_rejected = c->peer_cert_rejected;
    if (c->peer_cert_rejected) {
        fail_waiting(ch, ch->last_status, ch->last_error);
        if (ch->active != NULL) {
            /* A replacement (after a reload, a renew, an expiry) was refused on the peer's
             * certificate: the active connection is on the same certificate, accepted
             * under the trust that changed. Its close takes the channel down. */
            if (!c->refusal_logged) {
                nn_log(NN_LOG_WARN, "rpc.channel.refused", "node=%s peer=%s reason=\"%s\"",
                       ch->rpc->self, ch->peer, why);
            }
            channel_cut(ch, why);
            return;
        }
    }
    if (fallback && ch->active != NULL && !ch->active->encrypted) {
        /* A heal attempt beside a plaintext connection: keep that one, try again later. */
        nn_log(NN_LOG_DEBUG, "rpc.tls.retry_refused",
               "node=%s peer=%s reason=\"the peer still closes a TLS hello\"", ch->rpc->self,
               ch->peer);
        heal_schedule(ch);
        return;
    }
    if (fallback) {
        nn_log(NN_LOG_WARN, "rpc.tls.fallback",
               "node=%s peer=%s reason=\"peer closed the TLS handshake: it has rpc_tls off; "
               "retrying in plaintext (rpc_tls=prefer)\"",
               ch->rpc->self, ch->peer);
        ch->tls_fallback = true;
        connect_attempt(ch);
        return;
    }
    if (was_pending && !was_active && !c->refusal_logged) {
        if (status == NN_RPC_E_REFUSED) {
            /* The listener logs its side as rpc.refuse; this is ours. */
            nn_log(ch->is_tool ? NN_LOG_DEBUG : NN_LOG_WARN, "rpc.channel.refused",
                   "node=%s peer=%s reason=\"%s\"", ch->rpc->self, ch->peer, why);
        } else {
            nn_log(ch->is_tool ? NN_LOG_DEBUG : NN_LOG_INFO, "rpc.channel.connect_failed",
                   "node=%s peer=%s reason=\"%s\"", ch->rpc->self, ch->peer, why);
        }
    }
    if (ch->active == NULL) {
        chan_state(ch, CHAN_DOWN);
    }
    heal_schedule(ch); /* a failed heal attempt: try again later */
    schedule_retry(ch);
}

void nn_rpc_channel_goodbye(rpc_channel *ch, rpc_conn *c) {
    nn_log(NN_LOG_INFO, "rpc.channel.goodbye", "node=%s peer=%s in_flight=%zu", ch->rpc->self,
           ch->peer, c->calls.len);
    c->state = CONN_DRAINING;
    if (ch->active == c) {
        ch->active = NULL;
        chan_state(ch, CHAN_DRAINING);
        ch->last_status = NN_RPC_E_PEER_DOWN;
        snprintf(ch->last_error, sizeof(ch->last_error), "%s said goodbye (stopping)", ch->peer);
        nn_rpc_channel_set_info(ch, NULL);
        ch->backoff_ms = 0;
        schedule_retry(ch);
    }
    conn_call_done(c);
}

void nn_rpc_channel_response(rpc_conn *c, Nnrpc__Envelope *env) {
    rpc_call *call = nn_rpc_call_table_take(&c->calls, env->call_id);
    if (call == NULL) {
        /* Its deadline passed and it already ended; the late reply has nowhere to go. */
        nn_log(NN_LOG_DEBUG, "rpc.late_reply", "peer=%s call_id=%llu", c->peer,
               (unsigned long long)env->call_id);
        return;
    }
    if (env->flags & NNRPC__FLAG__FLAG_ERROR) {
        uint32_t st = env->error_code;
        if (st == NN_RPC_OK || st >= NN_RPC_STATUS_COUNT) {
            st = NN_RPC_E_REMOTE;
        }
        nn_rpc_call_complete(call, (int)st, env->remote_code, env->error_message, NULL, 0);
    } else {
        nn_rpc_call_complete(call, NN_RPC_OK, 0, "", env->payload.data, env->payload.len);
    }
    conn_call_done(c);
}

void nn_rpc_channel_renew(rpc_channel *ch, rpc_conn *c) {
    c->renew_requested = true;
    if (ch->active != c || ch->pending != NULL || ch->closed) {
        return; /* already being replaced, or retired */
    }
    nn_log(NN_LOG_INFO, "rpc.channel.replace",
           "node=%s peer=%s reason=\"the peer asked for a new channel (its certificates were "
           "reloaded)\"",
           ch->rpc->self, ch->peer);
    connect_attempt(ch);
}

/* After a reload: the active session's (and a replacement's) peer certificate against the
 * new store. True when the channel was cut. */
static bool recheck_peer(rpc_channel *ch) {
    nn_err err = {0};
    rpc_conn *p = ch->pending;
    char why[1024];
    if (p != NULL && nn_rpc_conn_recheck(p, &err) < 0) {
        snprintf(why, sizeof(why), "certificate of %s refused: %s", ch->peer, err.msg);
        nn_rpc_conn_refuse_peer_cert(p, why); /* conn_closed cuts the active one too */
        return true;
    }
    /* Revoked: cut now. Untrusted otherwise (the last step of a CA rotation): the reload's
     * replacement follows as usual, and only if that is refused on the certificate is the
     * channel cut (conn_closed). */
    if (ch->active == NULL || nn_rpc_conn_recheck(ch->active, &err) != -EKEYREVOKED) {
        return false;
    }
    snprintf(why, sizeof(why), "certificate of %s is no longer accepted after a reload: %s",
             ch->peer, err.msg);
    channel_cut(ch, why);
    return true;
}

void nn_rpc_channel_reevaluate(rpc_channel *ch) {
    if (ch->closed || ch->is_tool || recheck_peer(ch)) {
        return;
    }
    if (in_plaintext_under_prefer(ch) && ch->active->fallback && ch->pending == NULL) {
        /* A reload (ours, and often the peer's with it) may have made TLS possible. */
        ch->heal_backoff_ms = 0;
        if (nn_timer_armed(&ch->heal_timer)) {
            nn_loop_timer_cancel(ch->loop, &ch->heal_timer);
        }
        connect_attempt(ch);
        return;
    }
    if (needs_replacement(ch) && ch->pending == NULL) {
        nn_log(NN_LOG_INFO, "rpc.channel.replace",
               "node=%s peer=%s reason=\"channel does not meet the new policy\"", ch->rpc->self,
               ch->peer);
        connect_attempt(ch);
    }
}

void nn_rpc_channel_fail_all(rpc_channel *ch, int status, const char *why) {
    ch->closed = true;
    fail_waiting(ch, status, why);
}

/* A restarted peer dials us as soon as it is up; our channel to it may still wait out a
 * backoff of up to BACKOFF_MAX_MS. Its hello is proof enough that it listens again: try now
 * (issue 15: a node of a rolling restart is whole sooner, a mesh comes up sooner). */
static void kick_run(nn_task *task) {
    rpc_channel *ch = (rpc_channel *)((char *)task - offsetof(rpc_channel, kick_task));
    atomic_store(&ch->kick_posted, false);
    if (ch->closed || ch->active != NULL || ch->pending != NULL ||
        !nn_timer_armed(&ch->retry_timer)) {
        return;
    }
    nn_loop_timer_cancel(ch->loop, &ch->retry_timer);
    connect_attempt(ch);
}

void nn_rpc_channel_peer_seen(rpc_channel *ch) {
    if (ch->loop == NULL || atomic_load(&ch->state) == CHAN_READY ||
        atomic_exchange(&ch->kick_posted, true)) {
        return;
    }
    ch->kick_task.fn = kick_run;
    if (nn_loop_post(ch->loop, &ch->kick_task) < 0) {
        atomic_store(&ch->kick_posted, false);
    }
}
