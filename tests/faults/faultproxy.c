/* tests/faults/faultproxy.c: a userspace TCP fault proxy for 127.0.0.0/8 (this machine has
 * no tc netem and no iptables). Each route listens on one address and forwards every
 * connection to one target; each direction of a route (up = accepted side -> target, down
 * = target -> accepted side) has a mode that can be switched at run time over a control
 * socket:
 *
 *   pass               forward as fast as both ends allow
 *   delay MS           forward each chunk MS milliseconds after it was read
 *   throttle BYTES     forward at most BYTES per second; stop reading once a quarter of a
 *                      second is queued, so that the sender feels the back-pressure
 *   stall              read nothing and forward nothing: the kernel buffers fill and the
 *                      sender's writes stop completing (a peer that stops reading, or a
 *                      partition that TCP would later heal by retransmitting)
 *   drop               read and discard (a blackhole). A byte stream with a hole cannot go
 *                      on, so when the direction leaves drop, every connection that lost
 *                      bytes is reset, as a real link would be once TCP gave up
 *
 * and two route-wide actions: `reset` sends an RST (SO_LINGER 0) on both sides of every
 * open connection, `refuse on` resets every new connection at once until `refuse off`.
 * New connections are always connected to the target at once (a partitioned dialler sees
 * its connect succeed and its handshake time out, where a real one would see its SYN time
 * out: both end in the dialler's connect deadline).
 *
 * One thread, epoll, level-triggered; the numbers of routes and connections are a test's.
 * Usage: see tests/faults/README.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536u
#define PASS_QUEUE_MAX (1u << 20)   /* bytes held per direction before reading pauses */
#define DELAY_QUEUE_MAX (64u << 20) /* a delayed direction holds rate x delay */
#define CTL_LINE_MAX 1024u

typedef enum { M_PASS, M_DELAY, M_THROTTLE, M_STALL, M_DROP } mode_kind;
static const char *const mode_names[] = {"pass", "delay", "throttle", "stall", "drop"};

typedef struct mode {
    mode_kind kind;
    uint64_t arg; /* delay: ms; throttle: bytes per second */
} mode;

enum { EP_LISTEN, EP_CTL_LISTEN, EP_CTL, EP_CLIENT, EP_UPSTREAM };

typedef struct ep_tag {
    int type;
    void *obj;
} ep_tag;

typedef struct chunk {
    struct chunk *next;
    uint64_t ready_ns;
    size_t len, off;
    uint8_t data[];
} chunk;

/* One direction of a connection: bytes read from src, queued, written to dst. */
typedef struct half {
    chunk *head, *tail;
    size_t queued;
    bool eof;     /* src said EOF */
    bool shut;    /* the EOF was passed on (shutdown(dst, SHUT_WR)) */
    bool lost;    /* bytes were dropped: reset when the direction leaves drop */
    bool blocked; /* dst's send buffer is full: wait for EPOLLOUT */
    double tokens;
    uint64_t tokens_ns;
} half;

struct route;

typedef struct pair {
    struct route *route;
    struct pair *next;
    int cfd, ufd;
    bool connecting;
    bool dead;
    half up, down;
    uint32_t cmask, umask;
    ep_tag ctag, utag;
} pair;

typedef struct counters {
    uint64_t accepted, resets, refused;
    uint64_t bytes[2], dropped[2]; /* [0] up, [1] down */
} counters;

typedef struct route {
    struct route *next;
    char name[64];
    int lfd;
    struct sockaddr_in listen_addr, target;
    mode modes[2]; /* [0] up, [1] down */
    bool refuse;
    pair *pairs;
    counters n;
    ep_tag tag;
} route;

typedef struct ctl_client {
    int fd;
    char line[CTL_LINE_MAX];
    size_t len;
    ep_tag tag;
} ctl_client;

static int g_ep = -1;
static route *g_routes;
static pair *g_dead; /* freed at the end of a loop round: events of this round may name them */
static volatile sig_atomic_t g_stop;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "faultproxy: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int parse_addr(const char *text, struct sockaddr_in *out) {
    char host[64];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        return -1;
    }
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static const char *addr_text(const struct sockaddr_in *a, char *buf, size_t len) {
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    snprintf(buf, len, "%s:%u", host, ntohs(a->sin_port));
    return buf;
}

static void ep_set(int fd, ep_tag *tag, uint32_t events, bool add) {
    struct epoll_event ev = {.events = events, .data.ptr = tag};
    if (epoll_ctl(g_ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0) {
        die("epoll_ctl");
    }
}

/* ------------------------------------------------------------------ pairs */

static void half_clear(half *h) {
    while (h->head != NULL) {
        chunk *c = h->head;
        h->head = c->next;
        free(c);
    }
    h->tail = NULL;
    h->queued = 0;
}

static void rst_close(int fd) {
    if (fd < 0) {
        return;
    }
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static void pair_unlink(pair *p) {
    for (pair **pp = &p->route->pairs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    p->dead = true;
    half_clear(&p->up);
    half_clear(&p->down);
    p->next = g_dead;
    g_dead = p;
}

/* Both sides get an RST: what a peer sees when the link is cut. */
static void pair_reset(pair *p) {
    if (p->dead) {
        return;
    }
    p->route->n.resets++;
    rst_close(p->cfd);
    rst_close(p->ufd);
    pair_unlink(p);
}

static void pair_close(pair *p) {
    if (p->dead) {
        return;
    }
    close(p->cfd);
    close(p->ufd);
    pair_unlink(p);
}

static size_t queue_max(const mode *m) {
    switch (m->kind) {
    case M_DELAY:
        return DELAY_QUEUE_MAX;
    case M_THROTTLE: {
        uint64_t quarter = m->arg / 4;
        return quarter < 65536 ? 65536 : (size_t)quarter;
    }
    default:
        return PASS_QUEUE_MAX;
    }
}

static bool half_wants_read(const half *h, const mode *m) {
    if (h->eof || m->kind == M_STALL) {
        return false;
    }
    return m->kind == M_DROP || h->queued < queue_max(m);
}

/* Reads what src has; returns -1 when the pair was reset. */
static int half_read(pair *p, half *h, int src, int dir) {
    route *r = p->route;
    const mode *m = &r->modes[dir];
    uint8_t buf[READ_CHUNK];
    while (half_wants_read(h, m)) {
        ssize_t n = read(src, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return 0;
            }
            pair_reset(p);
            return -1;
        }
        if (n == 0) {
            h->eof = true;
            return 0;
        }
        if (m->kind == M_DROP) {
            r->n.dropped[dir] += (uint64_t)n;
            h->lost = true;
            continue;
        }
        chunk *c = malloc(sizeof(*c) + (size_t)n);
        if (c == NULL) {
            pair_reset(p);
            return -1;
        }
        memcpy(c->data, buf, (size_t)n);
        c->len = (size_t)n;
        c->off = 0;
        c->next = NULL;
        c->ready_ns = now_ns() + (m->kind == M_DELAY ? m->arg * 1000000ull : 0);
        if (h->tail != NULL) {
            h->tail->next = c;
        } else {
            h->head = c;
        }
        h->tail = c;
        h->queued += (size_t)n;
    }
    return 0;
}

/* Writes what is due; returns -1 when the pair was reset. *due_ns gets the next time at
 * which more becomes due (delay, throttle), unchanged when none. */
static int half_write(pair *p, half *h, int dst, int dir, uint64_t now, uint64_t *due_ns) {
    route *r = p->route;
    const mode *m = &r->modes[dir];
    if (m->kind == M_STALL || p->connecting) {
        return 0;
    }
    if (m->kind == M_DROP) {
        if (h->queued != 0) {
            r->n.dropped[dir] += h->queued;
            h->lost = true;
            half_clear(h);
        }
        return 0;
    }
    while (h->head != NULL && !h->blocked) {
        chunk *c = h->head;
        if (c->ready_ns > now) {
            if (c->ready_ns < *due_ns) {
                *due_ns = c->ready_ns;
            }
            return 0;
        }
        size_t want = c->len - c->off;
        if (m->kind == M_THROTTLE) {
            double burst = (double)m->arg / 20.0 < 1024.0 ? 1024.0 : (double)m->arg / 20.0;
            if (h->tokens_ns == 0) {
                h->tokens_ns = now;
            }
            h->tokens += (double)(now - h->tokens_ns) * (double)m->arg / 1e9;
            h->tokens_ns = now;
            if (h->tokens > burst) {
                h->tokens = burst;
            }
            if (h->tokens < 1.0) {
                uint64_t wait = (uint64_t)((1.0 - h->tokens) * 1e9 / (double)m->arg) + 1000000;
                if (now + wait < *due_ns) {
                    *due_ns = now + wait;
                }
                return 0;
            }
            if ((double)want > h->tokens) {
                want = (size_t)h->tokens;
            }
        }
        ssize_t n = write(dst, c->data + c->off, want);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                h->blocked = errno == EAGAIN;
                return 0;
            }
            pair_reset(p);
            return -1;
        }
        if (m->kind == M_THROTTLE) {
            h->tokens -= (double)n;
        }
        r->n.bytes[dir] += (uint64_t)n;
        c->off += (size_t)n;
        h->queued -= (size_t)n;
        if (c->off == c->len) {
            h->head = c->next;
            if (h->head == NULL) {
                h->tail = NULL;
            }
            free(c);
        }
    }
    if (h->head == NULL && h->eof && !h->shut) {
        shutdown(dst, SHUT_WR);
        h->shut = true;
    }
    return 0;
}

/* Moves what can move and sets the epoll interest; returns the next due time. */
static uint64_t pair_pump(pair *p, uint64_t now) {
    uint64_t due = UINT64_MAX;
    if (p->dead) {
        return due;
    }
    route *r = p->route;
    if (!p->connecting) {
        if (half_read(p, &p->up, p->cfd, 0) < 0 || half_read(p, &p->down, p->ufd, 1) < 0 ||
            half_write(p, &p->up, p->ufd, 0, now, &due) < 0 ||
            half_write(p, &p->down, p->cfd, 1, now, &due) < 0) {
            return UINT64_MAX;
        }
        /* Both directions ended and nothing is left to pass on. */
        bool up_done = p->up.eof && p->up.head == NULL;
        bool down_done = p->down.eof && p->down.head == NULL;
        if (up_done && down_done) {
            pair_close(p);
            return UINT64_MAX;
        }
    }
    uint32_t cm = 0, um = 0;
    if (p->connecting) {
        um = EPOLLOUT;
    } else {
        cm |= half_wants_read(&p->up, &r->modes[0]) ? EPOLLIN : 0;
        um |= half_wants_read(&p->down, &r->modes[1]) ? EPOLLIN : 0;
        um |= p->up.blocked ? EPOLLOUT : 0;
        cm |= p->down.blocked ? EPOLLOUT : 0;
    }
    if (cm != p->cmask) {
        p->cmask = cm;
        ep_set(p->cfd, &p->ctag, cm, false);
    }
    if (um != p->umask) {
        p->umask = um;
        ep_set(p->ufd, &p->utag, um, false);
    }
    return due;
}

static void route_accept(route *r) {
    for (;;) {
        int cfd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                fprintf(stderr, "faultproxy: %s: accept: %s\n", r->name, strerror(errno));
            }
            return;
        }
        r->n.accepted++;
        if (r->refuse) {
            r->n.refused++;
            rst_close(cfd);
            continue;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        int ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        pair *p = ufd >= 0 ? calloc(1, sizeof(*p)) : NULL;
        if (p == NULL) {
            rst_close(cfd);
            if (ufd >= 0) {
                close(ufd);
            }
            continue;
        }
        setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        p->route = r;
        p->cfd = cfd;
        p->ufd = ufd;
        p->ctag = (ep_tag){EP_CLIENT, p};
        p->utag = (ep_tag){EP_UPSTREAM, p};
        p->next = r->pairs;
        r->pairs = p;
        if (connect(ufd, (struct sockaddr *)&r->target, sizeof(r->target)) != 0 &&
            errno != EINPROGRESS) {
            /* The target is down: the dialler sees its connection reset. */
            ep_set(cfd, &p->ctag, 0, true);
            ep_set(ufd, &p->utag, 0, true);
            pair_reset(p);
            continue;
        }
        p->connecting = true;
        ep_set(cfd, &p->ctag, 0, true);
        ep_set(ufd, &p->utag, EPOLLOUT, true);
        p->umask = EPOLLOUT;
    }
}

static void upstream_connected(pair *p) {
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    getsockopt(p->ufd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr != 0) {
        pair_reset(p);
        return;
    }
    p->connecting = false;
}

/* ---------------------------------------------------------------- routes */

static route *route_find(const char *name) {
    for (route *r = g_routes; r != NULL; r = r->next) {
        if (strcmp(r->name, name) == 0) {
            return r;
        }
    }
    return NULL;
}

static int route_add(const char *name, const char *listen_text, const char *target_text, char *why,
                     size_t why_len) {
    route *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    if (strlen(name) == 0 || strlen(name) >= sizeof(r->name) || strcmp(name, "*") == 0 ||
        route_find(name) != NULL) {
        snprintf(why, why_len, "route name '%s' is empty, too long, '*' or taken", name);
        free(r);
        return -1;
    }
    snprintf(r->name, sizeof(r->name), "%s", name);
    if (parse_addr(listen_text, &r->listen_addr) < 0 || parse_addr(target_text, &r->target) < 0) {
        snprintf(why, why_len, "addresses are HOST:PORT with a numeric IPv4 host");
        free(r);
        return -1;
    }
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t alen = sizeof(r->listen_addr);
    if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&r->listen_addr, alen) != 0 ||
        listen(r->lfd, 512) != 0 ||
        getsockname(r->lfd, (struct sockaddr *)&r->listen_addr, &alen) != 0) {
        snprintf(why, why_len, "listen on %s: %s", listen_text, strerror(errno));
        if (r->lfd >= 0) {
            close(r->lfd);
        }
        free(r);
        return -1;
    }
    r->tag = (ep_tag){EP_LISTEN, r};
    ep_set(r->lfd, &r->tag, EPOLLIN, true);
    r->next = g_routes;
    g_routes = r;
    return ntohs(r->listen_addr.sin_port);
}

/* --------------------------------------------------------------- control */

static int parse_mode(char **words, int n, mode *out, char *why, size_t why_len) {
    if (n < 1) {
        snprintf(why, why_len, "a mode is missing");
        return -1;
    }
    for (int k = 0; k < 5; k++) {
        if (strcmp(words[0], mode_names[k]) != 0) {
            continue;
        }
        out->kind = (mode_kind)k;
        out->arg = 0;
        if (k == M_DELAY || k == M_THROTTLE) {
            char *end = NULL;
            unsigned long long v = n >= 2 ? strtoull(words[1], &end, 10) : 0;
            if (n < 2 || *end != '\0' || v == 0) {
                snprintf(why, why_len, "%s takes a positive number (%s)", words[0],
                         k == M_DELAY ? "milliseconds" : "bytes per second");
                return -1;
            }
            out->arg = v;
        }
        return 0;
    }
    snprintf(why, why_len, "unknown mode '%s' (pass, delay MS, throttle BYTES, stall, drop)",
             words[0]);
    return -1;
}

static void route_set(route *r, int dir_first, int dir_last, const mode *m) {
    for (int d = dir_first; d <= dir_last; d++) {
        bool leaving_drop = r->modes[d].kind == M_DROP && m->kind != M_DROP;
        r->modes[d] = *m;
        for (pair *p = r->pairs, *next; p != NULL; p = next) {
            next = p->next;
            half *h = d == 0 ? &p->up : &p->down;
            h->tokens = 0;
            h->tokens_ns = 0;
            if (leaving_drop && h->lost) {
                pair_reset(p);
            }
        }
    }
}

static size_t route_describe(const route *r, char *out, size_t len) {
    char la[32], ta[32], um[48], dm[48];
    const mode *m[2] = {&r->modes[0], &r->modes[1]};
    char *ms[2] = {um, dm};
    for (int d = 0; d < 2; d++) {
        if (m[d]->kind == M_DELAY || m[d]->kind == M_THROTTLE) {
            snprintf(ms[d], 48, "%s:%llu", mode_names[m[d]->kind], (unsigned long long)m[d]->arg);
        } else {
            snprintf(ms[d], 48, "%s", mode_names[m[d]->kind]);
        }
    }
    size_t open = 0;
    for (const pair *p = r->pairs; p != NULL; p = p->next) {
        open++;
    }
    int n = snprintf(out, len,
                     "%s listen=%s target=%s up=%s down=%s refuse=%s open=%zu accepted=%llu "
                     "resets=%llu refused=%llu up_bytes=%llu down_bytes=%llu up_dropped=%llu "
                     "down_dropped=%llu",
                     r->name, addr_text(&r->listen_addr, la, sizeof(la)),
                     addr_text(&r->target, ta, sizeof(ta)), um, dm, r->refuse ? "on" : "off", open,
                     (unsigned long long)r->n.accepted, (unsigned long long)r->n.resets,
                     (unsigned long long)r->n.refused, (unsigned long long)r->n.bytes[0],
                     (unsigned long long)r->n.bytes[1], (unsigned long long)r->n.dropped[0],
                     (unsigned long long)r->n.dropped[1]);
    return n < 0 ? 0 : ((size_t)n < len ? (size_t)n : len - 1);
}

/* Runs one command line; writes the one-line answer into out. */
static void ctl_run(char *line, char *out, size_t len) {
    char *words[8];
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w != NULL && n < 8;
         w = strtok_r(NULL, " \t\r", &save)) {
        words[n++] = w;
    }
    char why[256];
    if (n == 0) {
        snprintf(out, len, "err empty command");
        return;
    }
    if (strcmp(words[0], "ping") == 0) {
        snprintf(out, len, "ok pong");
        return;
    }
    if (strcmp(words[0], "add") == 0 && n == 4) {
        int port = route_add(words[1], words[2], words[3], why, sizeof(why));
        if (port < 0) {
            snprintf(out, len, "err %s", why);
        } else {
            snprintf(out, len, "ok %d", port);
        }
        return;
    }
    if ((strcmp(words[0], "list") == 0 || strcmp(words[0], "stats") == 0) && n <= 2) {
        size_t used = (size_t)snprintf(out, len, "ok");
        for (route *r = g_routes; r != NULL && used + 2 < len; r = r->next) {
            if (n == 2 && strcmp(words[1], "*") != 0 && strcmp(words[1], r->name) != 0) {
                continue;
            }
            used += (size_t)snprintf(out + used, len - used, used > 2 ? "; " : " ");
            if (used < len) {
                used += route_describe(r, out + used, len - used);
            }
        }
        return;
    }
    if (n < 2) {
        snprintf(out, len, "err unknown command (ping, add, list, stats, set, reset, refuse)");
        return;
    }
    bool all = strcmp(words[1], "*") == 0;
    if (!all && route_find(words[1]) == NULL) {
        snprintf(out, len, "err no route '%s'", words[1]);
        return;
    }
    if (strcmp(words[0], "set") == 0 && n >= 4) {
        int first, last;
        if (strcmp(words[2], "up") == 0) {
            first = last = 0;
        } else if (strcmp(words[2], "down") == 0) {
            first = last = 1;
        } else if (strcmp(words[2], "both") == 0) {
            first = 0;
            last = 1;
        } else {
            snprintf(out, len, "err direction is up, down or both");
            return;
        }
        mode m;
        if (parse_mode(words + 3, n - 3, &m, why, sizeof(why)) < 0) {
            snprintf(out, len, "err %s", why);
            return;
        }
        for (route *r = g_routes; r != NULL; r = r->next) {
            if (all || strcmp(r->name, words[1]) == 0) {
                route_set(r, first, last, &m);
            }
        }
        snprintf(out, len, "ok");
        return;
    }
    if (strcmp(words[0], "reset") == 0 && n == 2) {
        size_t count = 0;
        for (route *r = g_routes; r != NULL; r = r->next) {
            if (all || strcmp(r->name, words[1]) == 0) {
                while (r->pairs != NULL) {
                    pair_reset(r->pairs);
                    count++;
                }
            }
        }
        snprintf(out, len, "ok %zu", count);
        return;
    }
    if (strcmp(words[0], "refuse") == 0 && n == 3 &&
        (strcmp(words[2], "on") == 0 || strcmp(words[2], "off") == 0)) {
        for (route *r = g_routes; r != NULL; r = r->next) {
            if (all || strcmp(r->name, words[1]) == 0) {
                r->refuse = strcmp(words[2], "on") == 0;
            }
        }
        snprintf(out, len, "ok");
        return;
    }
    snprintf(out, len, "err bad command; see tests/faults/README.md");
}

static void ctl_input(ctl_client *cc) {
    for (;;) {
        ssize_t n = read(cc->fd, cc->line + cc->len, sizeof(cc->line) - 1 - cc->len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            close(cc->fd);
            free(cc);
            return;
        }
        cc->len += (size_t)n;
        cc->line[cc->len] = '\0';
        char *nl;
        while ((nl = memchr(cc->line, '\n', cc->len)) != NULL) {
            *nl = '\0';
            static char answer[65536];
            ctl_run(cc->line, answer, sizeof(answer) - 1);
            size_t alen = strlen(answer);
            answer[alen++] = '\n';
            /* Answers are small and the client waits for them: a blocking write is fine. */
            int fl = fcntl(cc->fd, F_GETFL);
            fcntl(cc->fd, F_SETFL, fl & ~O_NONBLOCK);
            ssize_t w = write(cc->fd, answer, alen);
            fcntl(cc->fd, F_SETFL, fl);
            (void)w;
            size_t used = (size_t)(nl - cc->line) + 1;
            memmove(cc->line, cc->line + used, cc->len - used);
            cc->len -= used;
        }
        if (cc->len == sizeof(cc->line) - 1) {
            close(cc->fd); /* a line that long is not a command */
            free(cc);
            return;
        }
    }
}

static int ctl_listen(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0) {
        return -1;
    }
    return fd;
}

/* The client mode: one command, its answer on stdout; exit 0 when it starts with "ok". */
static int ctl_client_main(const char *path, int argc, char **argv) {
    char line[CTL_LINE_MAX];
    size_t used = 0;
    for (int i = 0; i < argc; i++) {
        int n = snprintf(line + used, sizeof(line) - used, "%s%s", i ? " " : "", argv[i]);
        if (n < 0 || (size_t)n >= sizeof(line) - used - 1) {
            fprintf(stderr, "faultproxy: command too long\n");
            return 2;
        }
        used += (size_t)n;
    }
    line[used++] = '\n';
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "faultproxy: %s: %s\n", path, strerror(errno));
        return 2;
    }
    if (write(fd, line, used) != (ssize_t)used) {
        fprintf(stderr, "faultproxy: write: %s\n", strerror(errno));
        return 2;
    }
    static char answer[65536];
    size_t got = 0;
    while (got < sizeof(answer) - 1) {
        ssize_t n = read(fd, answer + got, sizeof(answer) - 1 - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        if (answer[got - 1] == '\n') {
            break;
        }
    }
    answer[got] = '\0';
    fputs(answer, stdout);
    close(fd);
    return strncmp(answer, "ok", 2) == 0 ? 0 : 1;
}

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void usage(void) {
    fprintf(
        stderr,
        "usage: faultproxy --control SOCKET [--route NAME=LISTEN_HOST:PORT=TARGET_HOST:PORT]...\n"
        "       faultproxy --ctl SOCKET COMMAND [ARGS...]\n"
        "commands: ping | add NAME LISTEN TARGET | list [NAME|*] | stats [NAME|*]\n"
        "          set NAME|* up|down|both pass|stall|drop|delay MS|throttle BYTES_PER_S\n"
        "          reset NAME|* | refuse NAME|* on|off\n");
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "--ctl") == 0) {
        return ctl_client_main(argv[2], argc - 3, argv + 3);
    }
    const char *control = NULL;
    signal(SIGPIPE, SIG_IGN);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) {
        die("epoll_create1");
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--control") == 0 && i + 1 < argc) {
            control = argv[++i];
        } else if (strcmp(argv[i], "--route") == 0 && i + 1 < argc) {
            char spec[256];
            snprintf(spec, sizeof(spec), "%s", argv[++i]);
            char *eq1 = strchr(spec, '=');
            char *eq2 = eq1 ? strchr(eq1 + 1, '=') : NULL;
            if (eq2 == NULL) {
                usage();
                return 2;
            }
            *eq1 = *eq2 = '\0';
            char why[256];
            if (route_add(spec, eq1 + 1, eq2 + 1, why, sizeof(why)) < 0) {
                fprintf(stderr, "faultproxy: route %s: %s\n", spec, why);
                return 1;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (control == NULL) {
        usage();
        return 2;
    }
    int cfd = ctl_listen(control);
    if (cfd < 0) {
        die(control);
    }
    ep_tag ctl_tag = {EP_CTL_LISTEN, NULL};
    ep_set(cfd, &ctl_tag, EPOLLIN, true);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    for (route *r = g_routes; r != NULL; r = r->next) {
        char line[1024];
        route_describe(r, line, sizeof(line));
        printf("faultproxy.route %s\n", line);
    }
    printf("faultproxy.ready control=%s\n", control);
    fflush(stdout);

    uint64_t due = UINT64_MAX;
    while (!g_stop) {
        uint64_t now = now_ns();
        int timeout = -1;
        if (due != UINT64_MAX) {
            timeout = due <= now ? 0 : (int)((due - now + 999999) / 1000000);
        }
        struct epoll_event evs[64];
        int n = epoll_wait(g_ep, evs, 64, timeout);
        if (n < 0 && errno != EINTR) {
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            ep_tag *tag = evs[i].data.ptr;
            switch (tag->type) {
            case EP_LISTEN:
                route_accept(tag->obj);
                break;
            case EP_CTL_LISTEN: {
                int fd = accept4(cfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                ctl_client *cc = fd >= 0 ? calloc(1, sizeof(*cc)) : NULL;
                if (cc == NULL) {
                    if (fd >= 0) {
                        close(fd);
                    }
                    break;
                }
                cc->fd = fd;
                cc->tag = (ep_tag){EP_CTL, cc};
                ep_set(fd, &cc->tag, EPOLLIN, true);
                break;
            }
            case EP_CTL:
                ctl_input(tag->obj);
                break;
            case EP_CLIENT:
            case EP_UPSTREAM: {
                pair *p = tag->obj;
                if (p->dead) {
                    break;
                }
                if (evs[i].events & EPOLLOUT) {
                    if (tag->type == EP_UPSTREAM && p->connecting) {
                        upstream_connected(p);
                    } else if (tag->type == EP_UPSTREAM) {
                        p->up.blocked = false;
                    } else {
                        p->down.blocked = false;
                    }
                }
                /* An error, or a hang-up on a socket we are not reading (a stalled
                 * direction): the connection is gone, and the level-triggered event
                 * would come back every round. */
                uint32_t reading = tag->type == EP_CLIENT ? p->cmask : p->umask;
                if (!p->dead &&
                    ((evs[i].events & EPOLLERR) ||
                     ((evs[i].events & EPOLLHUP) && (p->connecting || !(reading & EPOLLIN))))) {
                    pair_reset(p);
                }
                break;
            }
            }
        }
        /* Every pair is pumped each round: a test has a few dozen, and modes switched over
         * the control socket take effect without an event on the pair's own sockets. */
        now = now_ns();
        due = UINT64_MAX;
        for (route *r = g_routes; r != NULL; r = r->next) {
            for (pair *p = r->pairs, *next; p != NULL; p = next) {
                next = p->next;
                uint64_t d = pair_pump(p, now);
                if (d < due) {
                    due = d;
                }
            }
        }
        while (g_dead != NULL) {
            pair *p = g_dead;
            g_dead = p->next;
            free(p);
        }
    }
    unlink(control);
    return 0;
}
