/* bench_rpc: nodenet's side of the RPC benchmarks, through rpc/'s public face.
 *
 *   bench_rpc echo --nodes n1=127.0.0.1:P1,...,bench=127.0.0.1:PB --peers n1[,n2,...]
 *                  [--cluster-id ID] [--cluster-name NAME] [--tls off|require --certs DIR]
 *                  [--size BYTES] [--inflight N] [--seconds S | --until-file PATH [--rate R]]
 *                  [--server-pid PID]
 *   bench_rpc idle --port P --server-pid PID --conns N [--cluster-id ID] [--certs DIR]
 *
 * echo: this process is the node "bench" of the cluster (it must be in --nodes, and the
 * running nodes' config must list it too). It opens its mesh, waits until every peer
 * answers a ping, then keeps --inflight "echo" calls of --size bytes outstanding (spread
 * round-robin over --peers) for --seconds, checking every reply byte for byte. Prints
 * "ok calls=N calls_s=X p50_us=A p99_us=B mib_s=M cipher=C", where mib_s counts each
 * payload once (it travels both ways) and cipher is what the first peer reports for its
 * own channel to us (mesh.state), "-" without TLS. Also prints this process's CPU per call
 * (client_cpu_us_per_call, getrusage over the timed calls) and, with --server-pid PID (the
 * one peer's pid), that process's CPU per call and payload MiB per its CPU second
 * (server_cpu_us_per_call, server_mib_per_cpu_s, from /proc/PID/stat): CPU figures move
 * less than wall-clock ones on a shared machine.
 * --until-file PATH (the mesh section's traffic during a rolling restart): prints "running"
 * once the calls started, keeps them going, failed or not, until PATH exists, then prints
 * "ok calls=N failed=F calls_s=X p50_us=A p99_us=B max_us=M first_error=..." (exit 1 when
 * F > 0): every failure is counted instead of ending the run at the first. With --rate R
 * (only with --until-file) the calls are paced at R per second in all, at most --inflight
 * of them out at once (a backlog behind a full window is dropped, not burst), instead of a
 * closed loop that would take a whole core from the nodes it measures.
 *
 * idle: opens --conns connections to an RPC port as tool clients (with --certs: TLS with
 * DIR/admin-cert.pem, else plaintext), each saying hello and waiting for the reply, then
 * reports the server's RSS growth per connection. Tool connections are used because the
 * server holds the same connection state for them as for an idle mesh channel, and many
 * of them can be opened from one process.
 *
 * Exits 1 on any failed or wrong call or connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "proto/rpc.pb-c.h"
#include "rpc/rpc.h"
#include "security/security.h"

static char first_error[1024];
static atomic_int first_error_set;
static atomic_long error_count;

static void fail(const char *what, const char *detail) {
    atomic_fetch_add(&error_count, 1);
    int expected = 0;
    if (atomic_compare_exchange_strong(&first_error_set, &expected, 1)) {
        snprintf(first_error, sizeof(first_error), "%s: %.900s", what, detail);
    }
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static nn_security *load_security(const char *certs, const char *name, nn_err *err) {
    char ca[1024], cert[1024], key[1024];
    snprintf(ca, sizeof(ca), "%s/ca.pem", certs);
    snprintf(cert, sizeof(cert), "%s/%s-cert.pem", certs, name);
    snprintf(key, sizeof(key), "%s/%s-key.pem", certs, name);
    nn_security_config c = {.node_name = name,
                            .ca_file = ca,
                            .cert_file = cert,
                            .key_file = key,
                            .watch_interval_ms = UINT32_MAX};
    return nn_security_new(&c, err);
}

/* ------------------------------------------------------------------- echo */

typedef struct slot {
    atomic_bool busy; /* --rate: a call of this slot is out */
    uint64_t start_ns;
    uint32_t *lat_us;
    size_t n, cap;
} slot;

static struct {
    nn_rpc *rpc;
    const char **peers;
    size_t peer_count;
    uint8_t *payload;
    size_t size;
    _Atomic uint64_t until_ns;
    bool keep_going; /* --until-file: count failures and carry on */
    bool paced;      /* --rate: the main thread issues calls, a callback never does */
    atomic_size_t next_peer;
    atomic_int outstanding;
} echo;

static void issue(slot *s);

static void call_done(const nn_rpc_result *r, void *arg) {
    slot *s = arg;
    uint64_t now = nn_now_ns();
    bool ok = true;
    if (r->status != NN_RPC_OK) {
        char why[600];
        snprintf(why, sizeof(why), "%s %.500s", nn_rpc_status_name(r->status), r->error);
        fail("echo call", why);
        ok = false;
    } else if (r->payload_len != echo.size ||
               (echo.size > 0 && memcmp(r->payload, echo.payload, echo.size) != 0)) {
        fail("echo call", "the reply differs from the request");
        ok = false;
    }
    if (ok) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 4096;
            uint32_t *p = realloc(s->lat_us, cap * sizeof(*p));
            if (p == NULL) {
                fail("echo", "out of memory");
                if (echo.paced) {
                    atomic_store_explicit(&s->busy, false, memory_order_release);
                } else {
                    atomic_fetch_sub(&echo.outstanding, 1);
                }
                return;
            }
            s->lat_us = p;
            s->cap = cap;
        }
        uint64_t us = (now - s->start_ns) / 1000;
        s->lat_us[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
    if (echo.paced) {
        atomic_store_explicit(&s->busy, false, memory_order_release);
        return;
    }
    if ((ok || echo.keep_going) && now < atomic_load(&echo.until_ns) &&
        (echo.keep_going || atomic_load(&error_count) == 0)) {
        issue(s);
    } else {
        atomic_fetch_sub(&echo.outstanding, 1);
    }
}

static void issue(slot *s) {
    size_t p = atomic_fetch_add(&echo.next_peer, 1) % echo.peer_count;
    s->start_ns = nn_now_ns();
    /* On an immediate failure the callback has already run (and ended this slot). */
    nn_rpc_call(echo.rpc, echo.peers[p], "echo", echo.payload, echo.size, 10000, call_done, s);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* "n1=127.0.0.1:2882,n2=..." into nodes (strings point into text, which is modified). */
static int parse_nodes(char *text, nn_rpc_node *nodes, size_t cap, size_t *count) {
    *count = 0;
    for (char *save = NULL, *item = strtok_r(text, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        char *colon = eq != NULL ? strrchr(eq, ':') : NULL;
        if (eq == NULL || colon == NULL || *count == cap) {
            fprintf(stderr, "bench_rpc: --nodes: '%s' is not name=host:port\n", item);
            return -1;
        }
        *eq = '\0';
        *colon = '\0';
        int port = atoi(colon + 1);
        if (port <= 0 || port > 65535) {
            fprintf(stderr, "bench_rpc: --nodes: bad port for %s\n", item);
            return -1;
        }
        nodes[*count] = (nn_rpc_node){.name = item, .host = eq + 1, .rpc_port = (uint16_t)port};
        (*count)++;
    }
    return *count > 0 ? 0 : -1;
}

/* The cipher the first peer reports for its channel to us, from its mesh.state. */
static void peer_cipher(const char *peer, char *out, size_t cap) {
    snprintf(out, cap, "?");
    uint8_t *reply = NULL;
    size_t len = 0;
    nn_err err;
    if (nn_rpc_call_sync(echo.rpc, peer, "mesh.state", NULL, 0, 5000, &reply, &len, &err) !=
        NN_RPC_OK) {
        return;
    }
    Nnrpc__MeshState *ms = nnrpc__mesh_state__unpack(NULL, len, reply);
    if (ms != NULL) {
        for (size_t i = 0; i < ms->n_channels; i++) {
            if (strcmp(ms->channels[i]->peer, "bench") == 0) {
                snprintf(out, cap, "%s", ms->channels[i]->encrypted ? ms->channels[i]->cipher
                                                                     : "-");
            }
        }
        nnrpc__mesh_state__free_unpacked(ms, NULL);
    }
    free(reply);
}

/* Every slot's latencies in one sorted array (NULL on ENOMEM). */
static uint32_t *sorted_latencies(const slot *slots, int inflight, size_t total) {
    uint32_t *all = malloc(total * sizeof(*all));
    if (all == NULL) {
        return NULL;
    }
    size_t k = 0;
    for (int i = 0; i < inflight; i++) {
        memcpy(all + k, slots[i].lat_us, slots[i].n * sizeof(*all));
        k += slots[i].n;
    }
    qsort(all, total, sizeof(*all), cmp_u32);
    return all;
}

static bool file_exists(const char *path) {
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        fclose(f);
    }
    return f != NULL;
}

/* CPU seconds (user + system) of this process. */
static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of another process (utime + stime of /proc/PID/stat), or -1. */
static double pid_cpu_s(long pid) {
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    unsigned long long utime = 0, stime = 0;
    /* After ") ": state, then fields 4..13, then utime (14) and stime (15). */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                            &stime) != 2) {
        return -1;
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int run_echo(char *nodes_text, char *peers_text, uint64_t cluster_id,
                    const char *cluster_name, bool tls, const char *certs, size_t size,
                    int inflight, double seconds, long server_pid, const char *until_file,
                    double rate) {
    nn_rpc_node nodes[64];
    size_t node_count;
    if (nodes_text == NULL || peers_text == NULL ||
        parse_nodes(nodes_text, nodes, 64, &node_count) != 0) {
        fprintf(stderr, "bench_rpc echo: --nodes and --peers are required\n");
        return 2;
    }
    const char *peers[64];
    size_t peer_count = 0;
    for (char *save = NULL, *p = strtok_r(peers_text, ",", &save); p != NULL && peer_count < 64;
         p = strtok_r(NULL, ",", &save)) {
        peers[peer_count++] = p;
    }
    if (peer_count == 0 || inflight < 1 || inflight > 4096 || size > (64u << 20) - 4096) {
        fprintf(stderr, "bench_rpc echo: need peers, --inflight 1..4096, --size < 64 MiB\n");
        return 2;
    }
    const nn_rpc_node *self = NULL;
    for (size_t i = 0; i < node_count; i++) {
        if (strcmp(nodes[i].name, "bench") == 0) {
            self = &nodes[i];
        }
    }
    if (self == NULL) {
        fprintf(stderr, "bench_rpc echo: --nodes must list this process as 'bench'\n");
        return 2;
    }
    nn_err err;
    nn_security *sec = NULL;
    if (tls && (sec = load_security(certs, "bench", &err)) == NULL) {
        fprintf(stderr, "bench_rpc: %s\n", err.msg);
        return 1;
    }
    nn_server_config sc = {.workers = 0};
    nn_server *srv = nn_server_new(&sc, &err);
    if (srv == NULL) {
        fprintf(stderr, "bench_rpc: %s\n", err.msg);
        return 1;
    }
    nn_rpc_config rc = {.cluster_id = cluster_id,
                        .cluster_name = cluster_name,
                        .self = "bench",
                        .nodes = nodes,
                        .node_count = node_count,
                        .tls = tls ? NN_RPC_TLS_REQUIRE : NN_RPC_TLS_OFF,
                        .call_timeout_ms = 10000};
    echo.rpc = nn_rpc_new(&rc, srv, sec, &err);
    nn_listener_config lc;
    int rcode = 1;
    if (echo.rpc == NULL || nn_rpc_listener(echo.rpc, self->host, self->rpc_port, &lc) != 0 ||
        nn_server_listen(srv, &lc, &err) < 0 || nn_server_start(srv, &err) != 0 ||
        nn_rpc_start(echo.rpc, &err) != 0) {
        fprintf(stderr, "bench_rpc: %s\n", err.msg);
        goto out;
    }
    /* The channels come up asynchronously: wait until every peer answers, bounded. */
    for (size_t i = 0; i < peer_count; i++) {
        uint64_t give_up = nn_now_ns() + NN_SEC(20);
        for (;;) {
            uint8_t *reply = NULL;
            size_t len = 0;
            nn_rpc_status st =
                nn_rpc_call_sync(echo.rpc, peers[i], "ping", NULL, 0, 1000, &reply, &len, &err);
            free(reply);
            if (st == NN_RPC_OK) {
                break;
            }
            if (nn_now_ns() > give_up) {
                fprintf(stderr, "bench_rpc: peer %s never answered a ping: %s\n", peers[i],
                        err.msg);
                goto out;
            }
            sleep_ms(20);
        }
    }
    echo.peers = peers;
    echo.peer_count = peer_count;
    echo.size = size;
    echo.payload = malloc(size > 0 ? size : 1);
    for (size_t i = 0; i < size; i++) {
        echo.payload[i] = (uint8_t)(i % 251);
    }
    slot *slots = calloc((size_t)inflight, sizeof(*slots));
    double cpu0 = self_cpu_s();
    double server0 = server_pid > 0 ? pid_cpu_s(server_pid) : -1;
    uint64_t t0 = nn_now_ns();
    echo.keep_going = until_file != NULL;
    atomic_store(&echo.until_ns, until_file != NULL ? UINT64_MAX : t0 + (uint64_t)(seconds * 1e9));
    echo.paced = rate > 0;
    if (!echo.paced) {
        atomic_store(&echo.outstanding, inflight);
        for (int i = 0; i < inflight; i++) {
            issue(&slots[i]);
        }
    }
    if (until_file != NULL) {
        printf("running\n");
        fflush(stdout);
        uint64_t issued = 0;
        int next = 0;
        for (unsigned tick = 0; tick % 20 != 0 || !file_exists(until_file); tick++) {
            uint64_t due = (uint64_t)((double)(nn_now_ns() - t0) * rate / 1e9);
            while (echo.paced && issued < due) {
                int k = 0;
                while (k < inflight && atomic_load_explicit(&slots[(next + k) % inflight].busy,
                                                            memory_order_acquire)) {
                    k++;
                }
                if (k == inflight) {
                    issued = due; /* the window is full: no burst later */
                    break;
                }
                slot *s = &slots[(next + k) % inflight];
                next = (next + k + 1) % inflight;
                atomic_store(&s->busy, true);
                issue(s);
                issued++;
            }
            sleep_ms(1);
        }
        atomic_store(&echo.until_ns, nn_now_ns());
    }
    uint64_t give_up = atomic_load(&echo.until_ns) + NN_SEC(15);
    for (;;) {
        int out = atomic_load(&echo.outstanding);
        for (int i = 0; echo.paced && i < inflight; i++) {
            out += atomic_load_explicit(&slots[i].busy, memory_order_acquire);
        }
        if (out == 0) {
            break;
        }
        if (nn_now_ns() >= give_up) {
            fail("echo", "calls still outstanding 15 s after the end");
            break;
        }
        sleep_ms(2);
    }
    double elapsed = (double)(nn_now_ns() - t0) / 1e9;
    double cpu = self_cpu_s() - cpu0;
    double server_cpu = server0 >= 0 ? pid_cpu_s(server_pid) - server0 : -1;
    size_t total = 0;
    for (int i = 0; i < inflight; i++) {
        total += slots[i].n;
    }
    uint32_t *all = total > 0 ? sorted_latencies(slots, inflight, total) : NULL;
    if (until_file != NULL && all != NULL) {
        long failed = atomic_load(&error_count);
        /* first_error last: it has spaces, the keys before it do not. */
        printf("ok calls=%zu failed=%ld calls_s=%.1f p50_us=%u p99_us=%u max_us=%u "
               "first_error=%s\n",
               total, failed, (double)total / elapsed, all[total / 2], all[total * 99 / 100],
               all[total - 1], failed ? first_error : "-");
        rcode = failed == 0 ? 0 : 1;
    } else if (atomic_load(&error_count) == 0 && all != NULL) {
        char cipher[64] = "-";
        if (tls) {
            peer_cipher(peers[0], cipher, sizeof(cipher));
        }
        double calls_s = (double)total / elapsed;
        double mib = (double)total * (double)size / (1024.0 * 1024.0);
        printf("ok calls=%zu calls_s=%.1f p50_us=%u p99_us=%u mib_s=%.1f cipher=%s "
               "client_cpu_us_per_call=%.2f",
               total, calls_s, all[total / 2], all[total * 99 / 100], mib / elapsed, cipher,
               cpu * 1e6 / (double)total);
        if (server_cpu > 0) {
            printf(" server_cpu_us_per_call=%.2f server_mib_per_cpu_s=%.1f",
                   server_cpu * 1e6 / (double)total, mib / server_cpu);
        }
        printf("\n");
        rcode = 0;
    } else {
        fprintf(stderr, "bench_rpc echo: %ld errors, first: %s\n", atomic_load(&error_count),
                first_error[0] ? first_error : "no call completed");
    }
    free(all);
    for (int i = 0; i < inflight; i++) {
        free(slots[i].lat_us);
    }
    free(slots);
    free(echo.payload);
out:
    nn_server_stop(srv, NN_MS(500));
    nn_server_wait(srv);
    /* The server goes first: its loops' timer heaps still point at the channels' timers,
     * which nn_rpc_free() releases (rpc.h only asks for nn_server_wait() before it). */
    nn_server_free(srv);
    nn_rpc_free(echo.rpc);
    nn_security_free(sec);
    return rcode;
}

/* ------------------------------------------------------------------- idle */

static struct {
    nn_security *sec;
    uint64_t cluster_id;
    atomic_int ready;
    atomic_int closed;
} idle;

static void send_hello(nn_stream *s) {
    Nnrpc__Hello hello = NNRPC__HELLO__INIT;
    hello.cluster_id = idle.cluster_id;
    hello.cluster_name = "";
    hello.node_name = "";
    hello.protocol_version = NN_RPC_PROTOCOL_VERSION;
    hello.role = NNRPC__ROLE__ROLE_TOOL;
    hello.tls_mode = idle.sec != NULL ? "require" : "off";
    uint8_t hbuf[256];
    size_t hlen = nnrpc__hello__get_packed_size(&hello);
    if (hlen > sizeof(hbuf)) {
        fail("hello", "too large");
        nn_stream_close(s, NN_CLOSE_LOCAL, "hello");
        return;
    }
    nnrpc__hello__pack(&hello, hbuf);
    Nnrpc__Envelope env = NNRPC__ENVELOPE__INIT;
    env.call_id = 1;
    env.method = "hello";
    env.flags = NNRPC__FLAG__FLAG_REQUEST;
    env.timeout_ms = 5000;
    env.payload.data = hbuf;
    env.payload.len = hlen;
    uint8_t frame[512];
    size_t body = nnrpc__envelope__get_packed_size(&env);
    if (body + 12 > sizeof(frame)) {
        fail("hello", "too large");
        nn_stream_close(s, NN_CLOSE_LOCAL, "hello");
        return;
    }
    /* The frame header rpc.h describes: magic, version 1, three reserved bytes, BE length. */
    memcpy(frame, "NNRP", 4);
    frame[4] = 1;
    frame[5] = frame[6] = frame[7] = 0;
    uint32_t be = htonl((uint32_t)body);
    memcpy(frame + 8, &be, 4);
    nnrpc__envelope__pack(&env, frame + 12);
    nn_stream_write(s, frame, body + 12);
}

static int idle_open(nn_stream *s, void *arg) {
    if (idle.sec != NULL) {
        nn_err err;
        if (nn_tls_stream_start_client(s, idle.sec, NULL, &err) != 0) {
            fail("tls start", err.msg);
            return -1;
        }
        return 0; /* hello once the handshake is done */
    }
    send_hello(s);
    return 0;
}

static void idle_event(nn_stream *s, int event) {
    if (event == NN_STREAM_EV_SECURE) {
        send_hello(s);
    }
}

static void idle_readable(nn_stream *s) {
    size_t len;
    const uint8_t *data = nn_stream_input(s, &len);
    if (len < 12) {
        return;
    }
    uint32_t be;
    memcpy(&be, data + 8, 4);
    size_t body = ntohl(be);
    if (memcmp(data, "NNRP", 4) != 0 || body > 65536) {
        fail("hello reply", "not an RPC frame");
        nn_stream_close(s, NN_CLOSE_LOCAL, "bad frame");
        return;
    }
    if (len < 12 + body) {
        return;
    }
    Nnrpc__Envelope *env = nnrpc__envelope__unpack(NULL, body, data + 12);
    if (env == NULL || (env->flags & NNRPC__FLAG__FLAG_ERROR) != 0 ||
        (env->flags & NNRPC__FLAG__FLAG_RESPONSE) == 0) {
        fail("hello refused", env != NULL && env->error_message ? env->error_message : "?");
        if (env != NULL) {
            nnrpc__envelope__free_unpacked(env, NULL);
        }
        nn_stream_close(s, NN_CLOSE_LOCAL, "refused");
        return;
    }
    nnrpc__envelope__free_unpacked(env, NULL);
    nn_stream_consume(s, 12 + body);
    if (nn_stream_user(s) == NULL) {
        nn_stream_set_user(s, (void *)1);
        atomic_fetch_add(&idle.ready, 1);
    }
    /* Later frames (heartbeats) need no answer from a tool: ignore them. */
}

static void idle_close(nn_stream *s, int reason, const char *why) {
    if (nn_stream_user(s) == NULL && reason != NN_CLOSE_SHUTDOWN) {
        fail("connection closed before its hello reply", why);
    }
    atomic_fetch_add(&idle.closed, 1);
}

static const nn_stream_handler idle_handler = {.on_open = idle_open,
                                               .on_readable = idle_readable,
                                               .on_event = idle_event,
                                               .on_close = idle_close};

typedef struct dial_task {
    nn_task task;
    uint16_t port;
    int count;
} dial_task;

static void dial_run(nn_task *t) {
    dial_task *d = (dial_task *)t;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(d->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < d->count; i++) {
        nn_err err;
        if (nn_loop_connect(nn_loop_current(), (struct sockaddr *)&a, sizeof(a), &idle_handler,
                            NULL, nn_now_ns() + NN_SEC(20), &err) == NULL) {
            fail("connect", err.msg);
        }
    }
    free(d);
}

static long proc_rss_bytes(long pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

/* Polls until two readings 50 ms apart agree (at most 2 s). */
static long settled_rss(long pid) {
    long prev = proc_rss_bytes(pid);
    for (int i = 0; i < 40; i++) {
        sleep_ms(50);
        long cur = proc_rss_bytes(pid);
        if (cur == prev) {
            return cur;
        }
        prev = cur;
    }
    return prev;
}

static int run_idle(uint16_t port, long pid, int conns, const char *certs, uint64_t cluster_id) {
    if (port == 0 || pid <= 0 || proc_rss_bytes(pid) < 0 || conns < 1 || conns > 100000) {
        fprintf(stderr, "bench_rpc idle: --port, --server-pid (running) and --conns 1..100000 "
                        "are required\n");
        return 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = (rlim_t)conns + 64;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want <= rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    nn_err err;
    idle.cluster_id = cluster_id;
    if (certs != NULL && (idle.sec = load_security(certs, "admin", &err)) == NULL) {
        fprintf(stderr, "bench_rpc: %s\n", err.msg);
        return 1;
    }
    nn_server_config sc = {.workers = 0};
    nn_server *srv = nn_server_new(&sc, &err);
    if (srv == NULL || nn_server_start(srv, &err) != 0) {
        fprintf(stderr, "bench_rpc: %s\n", err.msg);
        return 1;
    }
    long before = settled_rss(pid);
    uint32_t workers = nn_server_worker_count(srv);
    /* Open in batches so that the server's accept backlog never overflows. */
    int rc = 1;
    int batch = 200;
    int opened = 0;
    while (opened < conns && atomic_load(&error_count) == 0) {
        int n = conns - opened < batch ? conns - opened : batch;
        for (uint32_t w = 0; w < workers; w++) {
            dial_task *d = calloc(1, sizeof(*d));
            d->task.fn = dial_run;
            d->port = port;
            d->count = n / (int)workers + ((int)w < n % (int)workers ? 1 : 0);
            if (nn_loop_post(nn_server_loop(srv, w), &d->task) != 0) {
                free(d);
                fail("post", "loop refused the task");
            }
        }
        opened += n;
        uint64_t give_up = nn_now_ns() + NN_SEC(30);
        while (atomic_load(&idle.ready) + atomic_load(&idle.closed) < opened &&
               atomic_load(&error_count) == 0 && nn_now_ns() < give_up) {
            sleep_ms(2);
        }
        if (atomic_load(&idle.ready) < opened && atomic_load(&error_count) == 0) {
            fail("idle", "connections did not finish their hello within 30 s");
        }
    }
    if (atomic_load(&error_count) == 0) {
        long after = settled_rss(pid);
        printf("ok conns=%d rss_before=%ld rss_after=%ld bytes_per_conn=%.0f\n", conns, before,
               after, (double)(after - before) / conns);
        rc = 0;
    } else {
        fprintf(stderr, "bench_rpc idle: %ld errors, first: %s\n", atomic_load(&error_count),
                first_error);
    }
    nn_server_stop(srv, NN_MS(200));
    nn_server_wait(srv);
    nn_server_free(srv);
    nn_security_free(idle.sec);
    return rc;
}

/* ------------------------------------------------------------------- main */

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_rpc echo|idle [options] (see the file's comment)\n");
        return 2;
    }
    const char *mode = argv[1];
    char *nodes = NULL, *peers = NULL;
    const char *certs = NULL, *cluster_name = "bench";
    bool tls = false;
    uint64_t cluster_id = 0;
    size_t size = 64;
    int inflight = 1, conns = 100;
    double seconds = 1.0;
    const char *until_file = NULL;
    double rate = 0;
    long pid = 0;
    int port = 0;
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_rpc: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *k = argv[i];
        char *v = argv[i + 1];
        if (strcmp(k, "--nodes") == 0) {
            nodes = v;
        } else if (strcmp(k, "--peers") == 0) {
            peers = v;
        } else if (strcmp(k, "--certs") == 0) {
            certs = v;
        } else if (strcmp(k, "--cluster-id") == 0) {
            cluster_id = strtoull(v, NULL, 10);
        } else if (strcmp(k, "--cluster-name") == 0) {
            cluster_name = v;
        } else if (strcmp(k, "--tls") == 0) {
            if (strcmp(v, "off") != 0 && strcmp(v, "require") != 0) {
                fprintf(stderr, "bench_rpc: --tls must be off or require\n");
                return 2;
            }
            tls = strcmp(v, "require") == 0;
        } else if (strcmp(k, "--size") == 0) {
            size = (size_t)strtoull(v, NULL, 10);
        } else if (strcmp(k, "--inflight") == 0) {
            inflight = atoi(v);
        } else if (strcmp(k, "--seconds") == 0) {
            seconds = atof(v);
        } else if (strcmp(k, "--rate") == 0) {
            rate = atof(v);
        } else if (strcmp(k, "--until-file") == 0) {
            until_file = v;
        } else if (strcmp(k, "--conns") == 0) {
            conns = atoi(v);
        } else if (strcmp(k, "--server-pid") == 0) {
            pid = atol(v);
        } else if (strcmp(k, "--port") == 0) {
            port = atoi(v);
        } else {
            fprintf(stderr, "bench_rpc: unknown option %s\n", k);
            return 2;
        }
    }
    if (tls && certs == NULL) {
        fprintf(stderr, "bench_rpc: --tls require needs --certs DIR\n");
        return 2;
    }
    if (seconds <= 0 || port < 0 || port > 65535) {
        fprintf(stderr, "bench_rpc: --seconds must be > 0, --port 1..65535\n");
        return 2;
    }
    nn_log_set_level(NN_LOG_ERROR);
    if (strcmp(mode, "echo") == 0) {
        return run_echo(nodes, peers, cluster_id, cluster_name, tls, certs, size, inflight, seconds,
                        pid, until_file, until_file != NULL ? rate : 0);
    }
    if (strcmp(mode, "idle") == 0) {
        return run_idle((uint16_t)port, pid, conns, certs, cluster_id);
    }
    fprintf(stderr, "bench_rpc: unknown mode %s\n", mode);
    return 2;
}
