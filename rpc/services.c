/* rpc/services.c: the built-in services: ping, echo, node.info, mesh.state, mesh.drive. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

#define NN_RPC_NODE_VERSION "0.1.0"

static void svc_ping(nn_rpc_request *req, void *arg) {
    (void)arg;
    nn_rpc_reply(req, "pong", 4);
}

static void svc_echo(nn_rpc_request *req, void *arg) {
    (void)arg;
    size_t len = 0;
    const uint8_t *data = nn_rpc_request_payload(req, &len);
    nn_rpc_reply(req, data, len);
}

/* Packs msg into a fresh buffer and replies with it. */
static void reply_packed(nn_rpc_request *req, const ProtobufCMessage *msg) {
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        nn_rpc_reply_error(req, ENOMEM, "out of memory");
        return;
    }
    protobuf_c_message_pack(msg, buf);
    nn_rpc_reply(req, buf, len);
    free(buf);
}

static void svc_node_info(nn_rpc_request *req, void *arg) {
    nn_rpc *rpc = arg;
    Nnrpc__NodeInfo info = NNRPC__NODE_INFO__INIT;
    nn_security_info sec = {0};
    info.name = rpc->self;
    info.version = NN_RPC_NODE_VERSION;
    info.uptime_ms = (nn_now_ns() - rpc->started_ns) / 1000000u;
    info.rpc_tls = (char *)nn_rpc_tls_mode_name((nn_rpc_tls_mode)atomic_load(&rpc->tls));
    info.cluster_id = rpc->cluster_id;
    info.cert_subject = "";
    info.cert_issuer = "";
    if (rpc->sec != NULL && nn_security_info_get(rpc->sec, &sec) == 0) {
        info.cert_subject = sec.subject;
        info.cert_issuer = sec.issuer;
        info.cert_not_before = sec.not_before;
        info.cert_not_after = sec.not_after;
        info.cert_generation = sec.generation;
        info.cert_reload_error = sec.reload_error;
        info.crl_next_update = sec.crl_next_update;
    }
    reply_packed(req, &info.base);
}

static const char *chan_state_name(int st) {
    static const char *const names[] = {"idle",     "connecting", "ready",
                                        "draining", "down",       "closed"};
    return st >= 0 && st <= CHAN_CLOSED ? names[st] : "unknown";
}

static void svc_mesh_state(nn_rpc_request *req, void *arg) {
    nn_rpc *rpc = arg;
    size_t n = rpc->chan_count;
    Nnrpc__ChannelState *states = calloc(n, sizeof(*states));
    Nnrpc__ChannelState **ptrs = calloc(n, sizeof(*ptrs));
    Nnrpc__Tally *tallies = calloc(n * NN_RPC_STATUS_COUNT, sizeof(*tallies));
    Nnrpc__Tally **tptrs = calloc(n * NN_RPC_STATUS_COUNT, sizeof(*tptrs));
    /* Text is copied under the channel's lock into this scratch. */
    typedef struct {
        char version[16], cipher[64], subject[512], error[1024];
    } texts;
    texts *tx = calloc(n, sizeof(*tx));
    if (n != 0 &&
        (states == NULL || ptrs == NULL || tallies == NULL || tptrs == NULL || tx == NULL)) {
        nn_rpc_reply_error(req, ENOMEM, "out of memory");
        goto out;
    }
    Nnrpc__MeshState ms = NNRPC__MESH_STATE__INIT;
    ms.node = rpc->self;
    nn_rpc_pool_stats(rpc, &ms.pool_fresh, &ms.pool_reused);
    ms.channels = ptrs;
    for (size_t i = 0; i < n; i++) {
        rpc_channel *ch = &rpc->chans[i];
        if (ch->loop == NULL) {
            continue;
        }
        Nnrpc__ChannelState *cs = &states[ms.n_channels];
        nnrpc__channel_state__init(cs);
        ptrs[ms.n_channels++] = cs;
        cs->peer = ch->peer;
        cs->state = (char *)chan_state_name(atomic_load(&ch->state));
        pthread_mutex_lock(&ch->info_lock);
        cs->encrypted = ch->info_encrypted;
        memcpy(tx[i].version, ch->info_version, sizeof(tx[i].version));
        memcpy(tx[i].cipher, ch->info_cipher, sizeof(tx[i].cipher));
        snprintf(tx[i].subject, sizeof(tx[i].subject), "%s", nn_rpc_channel_info_subject(ch));
        snprintf(tx[i].error, sizeof(tx[i].error), "%s", nn_rpc_channel_info_error(ch));
        cs->peer_not_before = ch->info_peer_not_before;
        cs->peer_not_after = ch->info_peer_not_after;
        cs->local_not_after = ch->info_local_not_after;
        cs->cert_generation = ch->info_generation;
        pthread_mutex_unlock(&ch->info_lock);
        cs->tls_version = tx[i].version;
        cs->cipher = tx[i].cipher;
        cs->peer_subject = tx[i].subject;
        cs->last_error = tx[i].error;
        cs->in_flight = atomic_load(&ch->in_flight);
        cs->ok = atomic_load(&ch->ok);
        cs->reconnects = atomic_load(&ch->reconnects);
        cs->bytes_in = atomic_load(&ch->bytes_in);
        cs->bytes_out = atomic_load(&ch->bytes_out);
        cs->served = atomic_load(&ch->served);
        cs->failed = &tptrs[i * NN_RPC_STATUS_COUNT];
        for (int s = 1; s < NN_RPC_STATUS_COUNT; s++) {
            uint64_t count = atomic_load(&ch->failed[s]);
            if (count == 0) {
                continue;
            }
            Nnrpc__Tally *t = &tallies[i * NN_RPC_STATUS_COUNT + cs->n_failed];
            nnrpc__tally__init(t);
            t->reason = (char *)nn_rpc_status_name((nn_rpc_status)s);
            t->count = count;
            cs->failed[cs->n_failed++] = t;
        }
    }
    reply_packed(req, &ms.base);
out:
    free(states);
    free(ptrs);
    free(tallies);
    free(tptrs);
    free(tx);
}

/* ------------------------------------------------------------- mesh.drive */

typedef struct drive drive;

/* One peer's tallies; the calls to that peer carry it as their arg. */
/* Quarter-octave latency buckets for the drive's percentiles: bucket 4*m + f holds
 * microsecond values with top bit m and the next two bits f. */
#define DRIVE_LAT_BUCKETS 256

typedef struct drive_peer {
    drive *d;
    const char *peer; /* the channel's name, lives as long as the rpc */
    _Atomic uint64_t sent, ok;
    _Atomic uint64_t failed[NN_RPC_STATUS_COUNT];
    _Atomic uint64_t lat[DRIVE_LAT_BUCKETS]; /* written on the peer's channel loop only */
    _Atomic uint64_t max_us;
} drive_peer;

static size_t lat_bucket(uint64_t us) {
    if (us < 4) {
        return (size_t)us;
    }
    unsigned top = 63u - (unsigned)__builtin_clzll(us);
    size_t b = (size_t)top * 4u + (size_t)((us >> (top - 2)) & 3u);
    return b < DRIVE_LAT_BUCKETS ? b : DRIVE_LAT_BUCKETS - 1;
}

static uint64_t lat_upper(size_t b) {
    if (b < 8) {
        return b < 4 ? b : 3; /* 4..7 stay empty: values under 4 have buckets of their own */
    }
    unsigned top = (unsigned)(b / 4);
    return ((uint64_t)(4 + b % 4 + 1) << (top - 2)) - 1;
}

static uint64_t lat_percentile(drive_peer *dp, uint64_t count, unsigned pct) {
    if (count == 0) {
        return 0;
    }
    uint64_t rank = (count * pct + 99) / 100;
    uint64_t seen = 0;
    for (size_t b = 0; b < DRIVE_LAT_BUCKETS; b++) {
        seen += atomic_load_explicit(&dp->lat[b], memory_order_relaxed);
        if (seen >= rank) {
            uint64_t up = lat_upper(b);
            uint64_t max = atomic_load_explicit(&dp->max_us, memory_order_relaxed);
            return up < max ? up : max;
        }
    }
    return atomic_load_explicit(&dp->max_us, memory_order_relaxed);
}

struct drive {
    nn_rpc *rpc;
    nn_rpc_request *req;
    nn_loop *loop;
    nn_timer tick;
    uint32_t rate;
    uint64_t timeout_ms;
    uint64_t start_ns, end_ns;
    uint64_t issued; /* per peer */
    uint8_t *payload;
    size_t payload_len;
    _Atomic uint64_t outstanding; /* calls in flight + 1 while issuing */
    _Atomic uint64_t sent, ok;
    _Atomic uint64_t failed[NN_RPC_STATUS_COUNT];
    size_t peer_count;
    drive_peer *peers; /* one per channel (chan_count), unused for self */
};

/* Fills out[] with the non-zero counts of failed[] (as Tally messages); returns how many. */
static size_t tallies_fill(_Atomic uint64_t *failed, Nnrpc__Tally *tallies, Nnrpc__Tally **ptrs) {
    size_t n = 0;
    for (int s = 1; s < NN_RPC_STATUS_COUNT; s++) {
        uint64_t count = atomic_load(&failed[s]);
        if (count == 0) {
            continue;
        }
        Nnrpc__Tally *t = &tallies[n];
        nnrpc__tally__init(t);
        t->reason = (char *)nn_rpc_status_name((nn_rpc_status)s);
        t->count = count;
        ptrs[n++] = t;
    }
    return n;
}

static void drive_finish(drive *d) {
    Nnrpc__DriveResult res = NNRPC__DRIVE_RESULT__INIT;
    Nnrpc__Tally tallies[NN_RPC_STATUS_COUNT];
    Nnrpc__Tally *ptrs[NN_RPC_STATUS_COUNT];
    size_t n = d->peer_count;
    Nnrpc__PeerDrive *peers = calloc(n ? n : 1, sizeof(*peers));
    Nnrpc__PeerDrive **peer_ptrs = calloc(n ? n : 1, sizeof(*peer_ptrs));
    Nnrpc__Tally *peer_tallies = calloc(n ? n * NN_RPC_STATUS_COUNT : 1, sizeof(*peer_tallies));
    Nnrpc__Tally **peer_tptrs = calloc(n ? n * NN_RPC_STATUS_COUNT : 1, sizeof(*peer_tptrs));
    res.sent = atomic_load(&d->sent);
    res.ok = atomic_load(&d->ok);
    res.failed = ptrs;
    res.n_failed = tallies_fill(d->failed, tallies, ptrs);
    if (peers != NULL && peer_ptrs != NULL && peer_tallies != NULL && peer_tptrs != NULL) {
        res.peers = peer_ptrs;
        for (size_t i = 0; i < n; i++) {
            drive_peer *dp = &d->peers[i];
            if (dp->peer == NULL) {
                continue;
            }
            Nnrpc__PeerDrive *pd = &peers[res.n_peers];
            nnrpc__peer_drive__init(pd);
            pd->peer = (char *)dp->peer;
            pd->sent = atomic_load(&dp->sent);
            pd->ok = atomic_load(&dp->ok);
            pd->failed = &peer_tptrs[i * NN_RPC_STATUS_COUNT];
            pd->n_failed =
                tallies_fill(dp->failed, &peer_tallies[i * NN_RPC_STATUS_COUNT], pd->failed);
            pd->p50_us = lat_percentile(dp, pd->ok, 50);
            pd->p90_us = lat_percentile(dp, pd->ok, 90);
            pd->p99_us = lat_percentile(dp, pd->ok, 99);
            pd->max_us = atomic_load(&dp->max_us);
            peer_ptrs[res.n_peers++] = pd;
        }
    }
    nn_log(NN_LOG_INFO, "rpc.drive.done", "node=%s sent=%llu ok=%llu", d->rpc->self,
           (unsigned long long)res.sent, (unsigned long long)res.ok);
    reply_packed(d->req, &res.base);
    free(peers);
    free(peer_ptrs);
    free(peer_tallies);
    free(peer_tptrs);
    free(d->peers);
    free(d->payload);
    free(d);
}

static void drive_release(drive *d) {
    if (atomic_fetch_sub(&d->outstanding, 1) == 1) {
        drive_finish(d);
    }
}

static void drive_done(const nn_rpc_result *res, void *arg) {
    drive_peer *dp = arg;
    drive *d = dp->d;
    if (res->status == NN_RPC_OK) {
        uint64_t us = res->latency_ns / 1000u;
        atomic_fetch_add_explicit(&dp->lat[lat_bucket(us)], 1, memory_order_relaxed);
        if (us > atomic_load_explicit(&dp->max_us, memory_order_relaxed)) {
            atomic_store_explicit(&dp->max_us, us, memory_order_relaxed);
        }
        atomic_fetch_add(&d->ok, 1);
        atomic_fetch_add(&dp->ok, 1);
    } else {
        unsigned st =
            (unsigned)res->status < NN_RPC_STATUS_COUNT ? (unsigned)res->status : NN_RPC_E_REMOTE;
        atomic_fetch_add(&d->failed[st], 1);
        atomic_fetch_add(&dp->failed[st], 1);
        nn_log(NN_LOG_DEBUG, "rpc.drive.failed", "peer=%s status=%s reason=\"%s\"", dp->peer,
               nn_rpc_status_name(res->status), res->error);
    }
    drive_release(d);
}

static void drive_tick(nn_timer *t) {
    drive *d = t->arg;
    uint64_t now = nn_now_ns();
    uint64_t until = now < d->end_ns ? now : d->end_ns;
    uint64_t due = (until - d->start_ns) / 1000000u * d->rate / 1000u + 1;
    nn_rpc *rpc = d->rpc;
    for (; d->issued < due; d->issued++) {
        for (size_t i = 0; i < rpc->chan_count; i++) {
            if (rpc->chans[i].loop == NULL) {
                continue;
            }
            atomic_fetch_add(&d->outstanding, 1);
            atomic_fetch_add(&d->sent, 1);
            atomic_fetch_add(&d->peers[i].sent, 1);
            nn_rpc_call(rpc, rpc->chans[i].peer, "echo", d->payload, d->payload_len, d->timeout_ms,
                        drive_done, &d->peers[i]);
        }
    }
    if (now >= d->end_ns) {
        drive_release(d); /* the issuer's hold */
        return;
    }
    nn_loop_timer_arm(d->loop, &d->tick, now + NN_MS(5));
}

static void svc_mesh_drive(nn_rpc_request *req, void *arg) {
    nn_rpc *rpc = arg;
    size_t len = 0;
    const uint8_t *data = nn_rpc_request_payload(req, &len);
    Nnrpc__DriveRequest *dr = nnrpc__drive_request__unpack(NULL, len, data);
    if (dr == NULL) {
        nn_rpc_reply_error(req, EINVAL, "mesh.drive: the request does not decode");
        return;
    }
    uint32_t max_frame = atomic_load(&rpc->max_frame);
    if (dr->rate_per_sec == 0 || dr->rate_per_sec > 100000 || dr->duration_ms > 3600000 ||
        dr->payload_bytes > max_frame - 64) {
        nn_rpc_reply_error(req, EINVAL,
                           "mesh.drive: rate_per_sec must be 1..100000, duration_ms at most "
                           "3600000 and payload_bytes under max_frame_bytes");
        nnrpc__drive_request__free_unpacked(dr, NULL);
        return;
    }
    drive *d = calloc(1, sizeof(*d));
    if (d != NULL) {
        d->payload_len = dr->payload_bytes;
        d->payload = malloc(d->payload_len ? d->payload_len : 1);
        d->peer_count = rpc->chan_count;
        d->peers = calloc(d->peer_count ? d->peer_count : 1, sizeof(*d->peers));
    }
    if (d == NULL || d->payload == NULL || d->peers == NULL) {
        if (d != NULL) {
            free(d->payload);
            free(d->peers);
        }
        free(d);
        nnrpc__drive_request__free_unpacked(dr, NULL);
        nn_rpc_reply_error(req, ENOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < d->payload_len; i++) {
        d->payload[i] = (uint8_t)(i * 131u + 7u);
    }
    for (size_t i = 0; i < d->peer_count; i++) {
        d->peers[i].d = d;
        d->peers[i].peer = rpc->chans[i].loop != NULL ? rpc->chans[i].peer : NULL;
    }
    d->rpc = rpc;
    d->req = req;
    d->loop = nn_loop_current();
    d->rate = dr->rate_per_sec;
    d->timeout_ms = dr->timeout_ms;
    d->start_ns = nn_now_ns();
    d->end_ns = d->start_ns + NN_MS(dr->duration_ms);
    atomic_store(&d->outstanding, 1);
    nnrpc__drive_request__free_unpacked(dr, NULL);
    nn_log(NN_LOG_INFO, "rpc.drive.start", "node=%s rate=%u bytes=%zu duration_ms=%llu", rpc->self,
           d->rate, d->payload_len, (unsigned long long)((d->end_ns - d->start_ns) / 1000000u));
    nn_timer_init(&d->tick, drive_tick, d);
    drive_tick(&d->tick);
}

int nn_rpc_services_register_builtin(nn_rpc *rpc, nn_err *err) {
    const unsigned both = NN_RPC_SERVICE_PEERS | NN_RPC_SERVICE_TOOLS;
    if (nn_rpc_service_register_ex(rpc, "ping", both, svc_ping, rpc) < 0 ||
        nn_rpc_service_register_ex(rpc, "echo", both, svc_echo, rpc) < 0 ||
        nn_rpc_service_register_ex(rpc, "node.info", both, svc_node_info, rpc) < 0 ||
        nn_rpc_service_register_ex(rpc, "mesh.state", both, svc_mesh_state, rpc) < 0 ||
        nn_rpc_service_register_ex(rpc, "mesh.drive", NN_RPC_SERVICE_TOOLS, svc_mesh_drive, rpc) <
            0) {
        return nn_err_set(err, ENOMEM, "registering the built-in services failed");
    }
    return 0;
}
