/* bench_mysql: a libmariadb client that measures any MySQL server on a port, so that
 * nodenet and MariaDB are driven by the very same client code.
 *
 *   bench_mysql connect --port P --user U --password PW [--tls none|verify|cert]
 *                       [--certs DIR] [--threads N] [--seconds S] [--server-pid PID]
 *   bench_mysql query   --port P --user U --password PW [--tls ...] [--conns N]
 *                       [--seconds S] [--sql TEXT]
 *   bench_mysql idle    --port P --user U --password PW [--tls ...] [--conns N]
 *                       --server-pid PID
 *   bench_mysql prepared --port P --user U --password PW [--tls ...] [--conns N]
 *                       [--seconds S] [--sql TEXT]
 *   bench_mysql stream  --port P --user U --password PW [--tls ...] --sql TEXT
 *                       [--bytes N] [--server-pid PID]
 *
 * prepared: each connection prepares --sql once (default "SELECT ?"), then executes it in a
 * loop with an integer parameter (a new value each time) and fetches its one row, checking
 * that the value comes back; queries/s, p50 and p99 as for query.
 * stream: one connection reads the result of --sql with mysql_use_result (rows as they come,
 * never the whole result in client memory); MiB/s of field bytes received, and with
 * --server-pid the server's peak RSS (VmHWM, reset first where /proc allows; its growth is
 * counted from the RSS just before the query, and without a reset it is the process's
 * lifetime peak, an upper bound), and the server's CPU time for the stream (MiB per CPU
 * second: the rate it would reach with a core of its own; pair_mib_per_cpu_s counts this
 * client's CPU too). --bytes: the least number of
 * field bytes the result must hold (a short result is an error).
 *
 * --tls none: no TLS options at all; verify: TLS with the server certificate verified
 * against DIR/ca.pem (host name included); cert: verify + client certificate
 * DIR/client-cert.pem.
 *
 * Prints one line of key=value figures on stdout (the harness parses it) and exits 0; on
 * any failed connect or query it prints the first error on stderr and exits 1. It is its
 * own executable and never links nodenet: libmariadb brings OpenSSL 3, whose symbols clash
 * with BoringSSL's. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

typedef enum tls_mode { TLS_NONE, TLS_VERIFY, TLS_CERT } tls_mode;

typedef struct options {
    const char *host;
    unsigned port;
    const char *user;
    const char *password;
    tls_mode tls;
    const char *certs;
    int threads;
    int conns;
    double seconds;
    long server_pid;
    const char *sql; /* NULL = the mode's default */
    uint64_t bytes;
} options;

static options opt = {.host = "127.0.0.1", .threads = 1, .conns = 1, .seconds = 1.0};

/* The first error any thread saw; later ones are only counted. */
static pthread_mutex_t first_error_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[512];
static atomic_long error_count;

static void note_error(const char *what, MYSQL *m) {
    atomic_fetch_add(&error_count, 1);
    pthread_mutex_lock(&first_error_lock);
    if (first_error[0] == '\0') {
        snprintf(first_error, sizeof(first_error), "%s: %u %s", what, mysql_errno(m),
                 mysql_error(m));
    }
    pthread_mutex_unlock(&first_error_lock);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Opens one authenticated connection with the chosen TLS options; NULL on failure (the
 * error is noted). */
static MYSQL *open_conn(void) {
    MYSQL *m = mysql_init(NULL);
    if (m == NULL) {
        atomic_fetch_add(&error_count, 1);
        return NULL;
    }
    char path[1024];
    if (opt.tls != TLS_NONE) {
        snprintf(path, sizeof(path), "%s/ca.pem", opt.certs);
        mysql_optionsv(m, MYSQL_OPT_SSL_CA, path);
        my_bool yes = 1;
        mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
        mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &yes);
    }
    if (opt.tls == TLS_CERT) {
        snprintf(path, sizeof(path), "%s/client-cert.pem", opt.certs);
        mysql_optionsv(m, MYSQL_OPT_SSL_CERT, path);
        snprintf(path, sizeof(path), "%s/client-key.pem", opt.certs);
        mysql_optionsv(m, MYSQL_OPT_SSL_KEY, path);
    }
    unsigned timeout = 10;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (mysql_real_connect(m, opt.host, opt.user, opt.password, NULL, opt.port, NULL, 0) ==
        NULL) {
        note_error("connect", m);
        mysql_close(m);
        return NULL;
    }
    if (opt.tls != TLS_NONE && mysql_get_ssl_cipher(m) == NULL) {
        atomic_fetch_add(&error_count, 1);
        pthread_mutex_lock(&first_error_lock);
        if (first_error[0] == '\0') {
            snprintf(first_error, sizeof(first_error), "connect: TLS was asked for, not used");
        }
        pthread_mutex_unlock(&first_error_lock);
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* utime + stime of a process, in seconds, from /proc/<pid>/stat; -1 when unreadable. */
static double proc_cpu_seconds(long pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char line[4096];
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    /* comm (field 2) may hold spaces: fields are counted after its closing paren. */
    char *p = strrchr(line, ')');
    if (p == NULL) {
        return -1;
    }
    unsigned long utime = 0, stime = 0;
    /* after ')': state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
               &stime) != 2) {
        return -1;
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* A "Vm...: N kB" figure of /proc/<pid>/status (field with its colon, e.g. "VmHWM:") in
 * bytes; -1 when unreadable. */
static long proc_status_bytes(long pid, const char *field) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    long kib = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, flen) == 0 && sscanf(line + flen, " %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

/* VmRSS of a process in bytes; -1 when unreadable. */
static long proc_rss_bytes(long pid) {
    return proc_status_bytes(pid, "VmRSS:");
}

/* ------------------------------------------------------------ connect rate */

typedef struct connect_job {
    uint64_t until_ns;
    uint64_t done;
} connect_job;

static void *connect_loop(void *arg) {
    connect_job *j = arg;
    mysql_thread_init();
    while (now_ns() < j->until_ns) {
        MYSQL *m = open_conn();
        if (m == NULL) {
            break;
        }
        mysql_close(m); /* sends COM_QUIT */
        j->done++;
    }
    mysql_thread_end();
    return NULL;
}

static int run_connect(void) {
    if (opt.threads < 1 || opt.threads > 256) {
        fprintf(stderr, "bench_mysql: --threads must be 1..256\n");
        return 2;
    }
    pthread_t t[256];
    connect_job jobs[256];
    double cpu0 = opt.server_pid > 0 ? proc_cpu_seconds(opt.server_pid) : -1;
    uint64_t t0 = now_ns();
    for (int i = 0; i < opt.threads; i++) {
        jobs[i] = (connect_job){.until_ns = t0 + (uint64_t)(opt.seconds * 1e9)};
        pthread_create(&t[i], NULL, connect_loop, &jobs[i]);
    }
    uint64_t done = 0;
    for (int i = 0; i < opt.threads; i++) {
        pthread_join(t[i], NULL);
        done += jobs[i].done;
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    double cpu1 = opt.server_pid > 0 ? proc_cpu_seconds(opt.server_pid) : -1;
    if (atomic_load(&error_count) > 0 || done == 0) {
        fprintf(stderr, "bench_mysql connect: %ld errors, first: %s\n",
                atomic_load(&error_count), first_error[0] ? first_error : "no connection");
        return 1;
    }
    printf("ok conns=%llu rate=%.1f", (unsigned long long)done, (double)done / elapsed);
    if (cpu0 >= 0 && cpu1 >= 0) {
        printf(" cpu_us=%.2f", (cpu1 - cpu0) * 1e6 / (double)done);
    }
    printf("\n");
    return 0;
}

/* ------------------------------------------------------------- query rate */

typedef struct query_job {
    MYSQL *m;
    MYSQL_STMT *stmt; /* prepared mode: the connection's statement */
    uint64_t until_ns;
    uint32_t *lat_us;
    size_t n, cap;
} query_job;

/* Keeps one round trip's latency; false when out of memory (counted as an error). */
static bool keep_latency(query_job *j, uint64_t t0) {
    uint64_t us = (now_ns() - t0) / 1000;
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 4096;
        uint32_t *p = realloc(j->lat_us, cap * sizeof(*p));
        if (p == NULL) {
            atomic_fetch_add(&error_count, 1);
            return false;
        }
        j->lat_us = p;
        j->cap = cap;
    }
    j->lat_us[j->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    return true;
}

static void *query_loop(void *arg) {
    query_job *j = arg;
    mysql_thread_init();
    size_t sql_len = strlen(opt.sql);
    while (now_ns() < j->until_ns) {
        uint64_t t0 = now_ns();
        if (mysql_real_query(j->m, opt.sql, (unsigned long)sql_len) != 0) {
            note_error("query", j->m);
            break;
        }
        MYSQL_RES *res = mysql_store_result(j->m);
        if (res == NULL || mysql_fetch_row(res) == NULL) {
            note_error("query result", j->m);
            mysql_free_result(res);
            break;
        }
        mysql_free_result(res);
        if (!keep_latency(j, t0)) {
            break;
        }
    }
    mysql_thread_end();
    return NULL;
}

static void note_stmt_error(const char *what, MYSQL_STMT *stmt) {
    atomic_fetch_add(&error_count, 1);
    pthread_mutex_lock(&first_error_lock);
    if (first_error[0] == '\0') {
        snprintf(first_error, sizeof(first_error), "%s: %u %s", what, mysql_stmt_errno(stmt),
                 mysql_stmt_error(stmt));
    }
    pthread_mutex_unlock(&first_error_lock);
}

/* Prepares opt.sql on j->m (before the clock starts: a prepare per connection, then only
 * executes are timed). Returns false with the error noted. */
static bool prepare_job(query_job *j) {
    j->stmt = mysql_stmt_init(j->m);
    if (j->stmt == NULL) {
        note_error("stmt init", j->m);
        return false;
    }
    if (mysql_stmt_prepare(j->stmt, opt.sql, (unsigned long)strlen(opt.sql)) != 0) {
        note_stmt_error("prepare", j->stmt);
        return false;
    }
    if (mysql_stmt_param_count(j->stmt) != 1 || mysql_stmt_field_count(j->stmt) != 1) {
        atomic_fetch_add(&error_count, 1);
        pthread_mutex_lock(&first_error_lock);
        if (first_error[0] == '\0') {
            snprintf(first_error, sizeof(first_error),
                     "prepare: %lu parameters and %u columns, want 1 and 1",
                     mysql_stmt_param_count(j->stmt), mysql_stmt_field_count(j->stmt));
        }
        pthread_mutex_unlock(&first_error_lock);
        return false;
    }
    return true;
}

static void *prepared_loop(void *arg) {
    query_job *j = arg;
    mysql_thread_init();
    long long param = 0, value = 0;
    my_bool value_null = 0, value_error = 0;
    MYSQL_BIND in = {.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &param};
    MYSQL_BIND out = {.buffer_type = MYSQL_TYPE_LONGLONG,
                      .buffer = &value,
                      .is_null = &value_null,
                      .error = &value_error};
    if (mysql_stmt_bind_param(j->stmt, &in) != 0 || mysql_stmt_bind_result(j->stmt, &out) != 0) {
        note_stmt_error("bind", j->stmt);
        mysql_thread_end();
        return NULL;
    }
    /* A point query: one parameter in, one row out; the value proves the server used the
     * parameter of this execute. */
    while (now_ns() < j->until_ns) {
        uint64_t t0 = now_ns();
        param = (long long)(j->n * 7919 + 1);
        if (mysql_stmt_execute(j->stmt) != 0) {
            note_stmt_error("execute", j->stmt);
            break;
        }
        int rc = mysql_stmt_fetch(j->stmt);
        if (rc != 0 || value_null || value != param) {
            if (rc == 0 || rc == MYSQL_DATA_TRUNCATED) {
                atomic_fetch_add(&error_count, 1);
                pthread_mutex_lock(&first_error_lock);
                if (first_error[0] == '\0') {
                    snprintf(first_error, sizeof(first_error),
                             "fetch: got %lld%s for parameter %lld", value,
                             value_null ? " (NULL)" : "", param);
                }
                pthread_mutex_unlock(&first_error_lock);
            } else {
                note_stmt_error("fetch", j->stmt);
            }
            break;
        }
        if (mysql_stmt_fetch(j->stmt) != MYSQL_NO_DATA) {
            note_stmt_error("fetch: more than one row", j->stmt);
            break;
        }
        if (!keep_latency(j, t0)) {
            break;
        }
    }
    mysql_thread_end();
    return NULL;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* query and prepared: --conns connections, each on its own thread, for --seconds. */
static int run_query(bool prepared) {
    if (opt.conns < 1 || opt.conns > 1024) {
        fprintf(stderr, "bench_mysql: --conns must be 1..1024 for %s\n",
                prepared ? "prepared" : "query");
        return 2;
    }
    query_job *jobs = calloc((size_t)opt.conns, sizeof(*jobs));
    pthread_t *t = calloc((size_t)opt.conns, sizeof(*t));
    int rc = 1;
    int opened = 0;
    for (; opened < opt.conns; opened++) {
        jobs[opened].m = open_conn();
        if (jobs[opened].m == NULL) {
            break;
        }
        if (prepared && !prepare_job(&jobs[opened])) {
            opened++; /* so that its connection is closed */
            break;
        }
    }
    if (opened == opt.conns && atomic_load(&error_count) == 0) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < opt.conns; i++) {
            jobs[i].until_ns = t0 + (uint64_t)(opt.seconds * 1e9);
            pthread_create(&t[i], NULL, prepared ? prepared_loop : query_loop, &jobs[i]);
        }
        size_t total = 0;
        for (int i = 0; i < opt.conns; i++) {
            pthread_join(t[i], NULL);
            total += jobs[i].n;
        }
        double elapsed = (double)(now_ns() - t0) / 1e9;
        uint32_t *all = malloc((total ? total : 1) * sizeof(*all));
        size_t k = 0;
        for (int i = 0; i < opt.conns; i++) {
            memcpy(all + k, jobs[i].lat_us, jobs[i].n * sizeof(*all));
            k += jobs[i].n;
        }
        qsort(all, total, sizeof(*all), cmp_u32);
        if (atomic_load(&error_count) == 0 && total > 0) {
            printf("ok queries=%zu qps=%.1f p50_us=%u p99_us=%u max_us=%u\n", total,
                   (double)total / elapsed, all[total / 2], all[total * 99 / 100], all[total - 1]);
            rc = 0;
        }
        free(all);
    }
    for (int i = 0; i < opened; i++) {
        if (jobs[i].stmt != NULL) {
            mysql_stmt_close(jobs[i].stmt);
        }
        mysql_close(jobs[i].m);
        free(jobs[i].lat_us);
    }
    if (rc != 0) {
        fprintf(stderr, "bench_mysql %s: %ld errors, first: %s\n", prepared ? "prepared" : "query",
                atomic_load(&error_count), first_error[0] ? first_error : "no query completed");
    }
    free(jobs);
    free(t);
    return rc;
}

/* ------------------------------------------------------- idle memory cost */

typedef struct idle_job {
    MYSQL **conns;
    int from, to;
} idle_job;

static void *idle_open(void *arg) {
    idle_job *j = arg;
    mysql_thread_init();
    for (int i = j->from; i < j->to; i++) {
        j->conns[i] = open_conn();
        if (j->conns[i] == NULL) {
            break;
        }
    }
    mysql_thread_end();
    return NULL;
}

/* RSS settles a moment after the last login (the server finishes its side of the
 * handshake after the client returns): poll until two readings 50 ms apart agree, at most
 * 2 s. */
static long settled_rss(long pid) {
    long prev = proc_rss_bytes(pid);
    for (int i = 0; i < 40; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        long cur = proc_rss_bytes(pid);
        if (cur == prev) {
            return cur;
        }
        prev = cur;
    }
    return prev;
}

static int run_idle(void) {
    if (opt.server_pid <= 0 || proc_rss_bytes(opt.server_pid) < 0) {
        fprintf(stderr, "bench_mysql idle: --server-pid must name a running process\n");
        return 2;
    }
    if (opt.conns < 1 || opt.conns > 100000) {
        fprintf(stderr, "bench_mysql: --conns must be 1..100000 for idle\n");
        return 2;
    }
    /* One descriptor per connection plus a margin. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = (rlim_t)opt.conns + 64;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want <= rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < want) {
            fprintf(stderr, "bench_mysql idle: RLIMIT_NOFILE %llu < %llu needed\n",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)want);
            return 2;
        }
    }
    /* Warm the server up with one login so that lazily built state (caches, the first
     * TLS context use) is not charged to the idle connections. */
    MYSQL *warm = open_conn();
    if (warm == NULL) {
        fprintf(stderr, "bench_mysql idle: %s\n", first_error);
        return 1;
    }
    mysql_close(warm);
    long before = settled_rss(opt.server_pid);
    MYSQL **conns = calloc((size_t)opt.conns, sizeof(*conns));
    enum { OPENERS = 4 };
    pthread_t t[OPENERS];
    idle_job jobs[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        jobs[i] = (idle_job){.conns = conns,
                             .from = opt.conns * i / OPENERS,
                             .to = opt.conns * (i + 1) / OPENERS};
        pthread_create(&t[i], NULL, idle_open, &jobs[i]);
    }
    for (int i = 0; i < OPENERS; i++) {
        pthread_join(t[i], NULL);
    }
    int rc = 1;
    if (atomic_load(&error_count) == 0) {
        long after = settled_rss(opt.server_pid);
        printf("ok conns=%d rss_before=%ld rss_after=%ld bytes_per_conn=%.0f\n", opt.conns,
               before, after, (double)(after - before) / opt.conns);
        rc = 0;
    } else {
        fprintf(stderr, "bench_mysql idle: %ld errors, first: %s\n", atomic_load(&error_count),
                first_error);
    }
    for (int i = 0; i < opt.conns; i++) {
        if (conns[i] != NULL) {
            mysql_close(conns[i]);
        }
    }
    free(conns);
    return rc;
}

/* ------------------------------------------------------- a streamed result */

/* This process's user + system CPU time in seconds. */
static double self_cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Resets the peak RSS (VmHWM) of pid to its current RSS, so that the peak read after the
 * stream is this stream's; false where /proc does not allow it (the peak is then the
 * process's lifetime one, an upper bound). */
static bool reset_peak_rss(long pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/clear_refs", pid);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return false;
    }
    bool ok = fputs("5", f) >= 0; /* 5: reset the peak resident set size */
    return fclose(f) == 0 && ok;
}

static int run_stream(void) {
    MYSQL *m = open_conn();
    if (m == NULL) {
        fprintf(stderr, "bench_mysql stream: %s\n", first_error);
        return 1;
    }
    long rss_before = -1;
    bool peak_reset = false;
    double cpu0 = -1;
    if (opt.server_pid > 0) {
        peak_reset = reset_peak_rss(opt.server_pid);
        rss_before = proc_rss_bytes(opt.server_pid);
        cpu0 = proc_cpu_seconds(opt.server_pid);
    }
    double client_cpu0 = self_cpu_seconds();
    uint64_t t0 = now_ns();
    uint64_t bytes = 0, rows = 0;
    int rc = 1;
    if (mysql_real_query(m, opt.sql, (unsigned long)strlen(opt.sql)) != 0) {
        note_error("query", m);
    } else {
        MYSQL_RES *res = mysql_use_result(m);
        if (res == NULL) {
            note_error("use result", m);
        } else {
            unsigned fields = mysql_num_fields(res);
            MYSQL_ROW row;
            while ((row = mysql_fetch_row(res)) != NULL) {
                unsigned long *len = mysql_fetch_lengths(res);
                for (unsigned i = 0; i < fields; i++) {
                    bytes += len[i];
                }
                rows++;
            }
            /* mysql_fetch_row returns NULL at the end and on an error alike. */
            if (mysql_errno(m) != 0) {
                note_error("fetch", m);
            }
            mysql_free_result(res);
        }
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    double cpu1 = cpu0 >= 0 ? proc_cpu_seconds(opt.server_pid) : -1;
    double client_cpu = self_cpu_seconds() - client_cpu0;
    if (atomic_load(&error_count) == 0) {
        if (bytes < opt.bytes) {
            fprintf(stderr, "bench_mysql stream: %llu bytes in %llu rows, want at least %llu\n",
                    (unsigned long long)bytes, (unsigned long long)rows,
                    (unsigned long long)opt.bytes);
        } else {
            printf("ok rows=%llu bytes=%llu seconds=%.3f mib_s=%.1f", (unsigned long long)rows,
                   (unsigned long long)bytes, elapsed, (double)bytes / 1048576.0 / elapsed);
            long peak = opt.server_pid > 0 ? proc_status_bytes(opt.server_pid, "VmHWM:") : -1;
            if (rss_before >= 0 && peak >= 0) {
                printf(" rss_before_mib=%.1f peak_rss_mib=%.1f peak_growth_mib=%.1f peak_reset=%s",
                       (double)rss_before / 1048576.0, (double)peak / 1048576.0,
                       (double)(peak - rss_before) / 1048576.0, peak_reset ? "yes" : "no");
            }
            /* CPU seconds say what the wall clock hides on a shared machine: the rate each
             * side would reach with a core of its own. */
            if (cpu0 >= 0 && cpu1 > cpu0) {
                printf(" server_cpu_s=%.2f server_mib_per_cpu_s=%.1f", cpu1 - cpu0,
                       (double)bytes / 1048576.0 / (cpu1 - cpu0));
            }
            printf(" client_cpu_s=%.2f", client_cpu);
            /* Both ends' CPU: comparable with bench_aead's cpu_mib_s, one core sealing and
             * opening every record (here also the copies, syscalls and the protocol). */
            if (cpu0 >= 0 && cpu1 - cpu0 + client_cpu > 0) {
                printf(" pair_mib_per_cpu_s=%.1f",
                       (double)bytes / 1048576.0 / (cpu1 - cpu0 + client_cpu));
            }
            printf("\n");
            rc = 0;
        }
    } else {
        fprintf(stderr, "bench_mysql stream: %s\n", first_error);
    }
    mysql_close(m);
    return rc;
}

/* ------------------------------------------------------------------- main */

static int usage(void) {
    fprintf(stderr, "usage: bench_mysql connect|query|idle|prepared|stream --port P --user U "
                    "--password PW [--tls none|verify|cert] [--certs DIR] [--threads N] "
                    "[--conns N] [--seconds S] [--server-pid PID] [--sql TEXT] [--bytes N] "
                    "[--host H]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        return usage();
    }
    const char *mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "bench_mysql: %s needs a value\n", k);
            return 2;
        }
        i++;
        if (strcmp(k, "--host") == 0) {
            opt.host = v;
        } else if (strcmp(k, "--port") == 0) {
            opt.port = (unsigned)atoi(v);
        } else if (strcmp(k, "--user") == 0) {
            opt.user = v;
        } else if (strcmp(k, "--password") == 0) {
            opt.password = v;
        } else if (strcmp(k, "--certs") == 0) {
            opt.certs = v;
        } else if (strcmp(k, "--threads") == 0) {
            opt.threads = atoi(v);
        } else if (strcmp(k, "--conns") == 0) {
            opt.conns = atoi(v);
        } else if (strcmp(k, "--seconds") == 0) {
            opt.seconds = atof(v);
        } else if (strcmp(k, "--server-pid") == 0) {
            opt.server_pid = atol(v);
        } else if (strcmp(k, "--sql") == 0) {
            opt.sql = v;
        } else if (strcmp(k, "--bytes") == 0) {
            opt.bytes = strtoull(v, NULL, 10);
        } else if (strcmp(k, "--tls") == 0) {
            if (strcmp(v, "none") == 0) {
                opt.tls = TLS_NONE;
            } else if (strcmp(v, "verify") == 0) {
                opt.tls = TLS_VERIFY;
            } else if (strcmp(v, "cert") == 0) {
                opt.tls = TLS_CERT;
            } else {
                fprintf(stderr, "bench_mysql: --tls must be none, verify or cert\n");
                return 2;
            }
        } else {
            fprintf(stderr, "bench_mysql: unknown option %s\n", k);
            return usage();
        }
    }
    if (opt.port == 0 || opt.port > 65535 || opt.user == NULL || opt.password == NULL) {
        return usage();
    }
    if (opt.tls != TLS_NONE && opt.certs == NULL) {
        fprintf(stderr, "bench_mysql: --tls %s needs --certs DIR\n",
                opt.tls == TLS_VERIFY ? "verify" : "cert");
        return 2;
    }
    if (opt.seconds <= 0) {
        fprintf(stderr, "bench_mysql: --seconds must be > 0\n");
        return 2;
    }
    if (opt.sql == NULL) {
        if (strcmp(mode, "stream") == 0) {
            fprintf(stderr, "bench_mysql: stream needs --sql\n");
            return 2;
        }
        opt.sql = strcmp(mode, "prepared") == 0 ? "SELECT ?" : "SELECT 1";
    }
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "bench_mysql: mysql_library_init failed\n");
        return 1;
    }
    int rc;
    if (strcmp(mode, "connect") == 0) {
        rc = run_connect();
    } else if (strcmp(mode, "query") == 0) {
        rc = run_query(false);
    } else if (strcmp(mode, "prepared") == 0) {
        rc = run_query(true);
    } else if (strcmp(mode, "idle") == 0) {
        rc = run_idle();
    } else if (strcmp(mode, "stream") == 0) {
        rc = run_stream();
    } else {
        rc = usage();
    }
    mysql_library_end();
    return rc;
}
