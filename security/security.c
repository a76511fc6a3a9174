/* security/security.c: nn_security, the node's current certificate store and its reload.
 *
 * nn_security holds the current snapshot; a reload (API or the file watcher) builds a new
 * one beside it (cert_store.c) and swaps it in under a mutex. Streams keep the snapshot they
 * started with.
 *
 * The per-connection path takes no lock: each thread caches a reference to the snapshot
 * together with the generation it was current at; only when the global generation moved
 * does the thread take the mutex to refresh its cache.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "security/security_internal.h"

/* What the watcher compares: enough of stat(2) to see a rewrite, a rename or a touch. */
typedef struct file_sig {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct timespec ctime;
} file_sig;

struct nn_security {
    uint64_t instance;    /* process-unique: thread caches are keyed by it, not the pointer */
    pthread_mutex_t lock; /* guards current and settings */
    nn_sec_store *current;
    nn_sec_settings settings;
    _Atomic uint64_t generation;

    char reload_error[512]; /* guarded by lock: why the last reload failed, "" after success */

    pthread_mutex_t reload_lock;      /* one reload at a time (API, watcher) */
    file_sig watched[NN_SEC_F_COUNT]; /* the files as they were when last loaded or tried */

    pthread_mutex_t watch_lock;
    pthread_cond_t watch_cond;
    bool watch_stop;
    bool watch_running;
    uint32_t watch_interval_ms; /* fixed at creation */
    pthread_t watcher;

    /* Held while the listener runs, so that setting another one (NULL at shutdown) waits
     * for a call in progress: its owner may free what the old one uses right after. */
    pthread_mutex_t listener_lock;
    nn_security_reload_fn on_reload; /* guarded by listener_lock */
    void *on_reload_arg;
};

/* ------------------------------------------------------------ thread cache */

typedef struct thread_cache {
    uint64_t instance;
    uint64_t generation;
    nn_sec_store *store; /* one reference held */
} thread_cache;

static _Thread_local thread_cache tcache;
static pthread_key_t tcache_key; /* its value is tcache.store: dropped at thread exit */
static pthread_once_t tcache_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t next_instance = 1;

static void tcache_exit(void *store) {
    nn_sec_store_unref(store);
}

static void tcache_init(void) {
    pthread_key_create(&tcache_key, tcache_exit);
}

static void tcache_set(uint64_t instance, uint64_t generation, nn_sec_store *store) {
    nn_sec_store *old = tcache.store;
    tcache.instance = instance;
    tcache.generation = generation;
    tcache.store = store;
    pthread_setspecific(tcache_key, store);
    nn_sec_store_unref(old);
}

nn_sec_store *nn_sec_store_acquire(nn_security *sec) {
    uint64_t generation = atomic_load_explicit(&sec->generation, memory_order_acquire);
    if (tcache.store != NULL && tcache.instance == sec->instance &&
        tcache.generation == generation) {
        nn_sec_store_ref(tcache.store);
        return tcache.store;
    }
    pthread_once(&tcache_once, tcache_init);
    pthread_mutex_lock(&sec->lock);
    nn_sec_store *store = sec->current;
    nn_sec_store_ref(store); /* for the cache */
    generation = atomic_load_explicit(&sec->generation, memory_order_relaxed);
    pthread_mutex_unlock(&sec->lock);
    tcache_set(sec->instance, generation, store);
    nn_sec_store_ref(store); /* for the caller */
    return store;
}

/* ------------------------------------------------------------ settings */

static void settings_clear(nn_sec_settings *st) {
    free(st->node_name);
    for (int i = 0; i < NN_SEC_F_COUNT; i++) {
        free(st->path[i]);
    }
    free(st->ciphers);
    memset(st, 0, sizeof(*st));
}

/* Replaces %n by the node name ("%%" is a literal %). */
static char *expand_path(const char *key, const char *tmpl, const char *node, nn_err *err) {
    size_t node_len = node != NULL ? strlen(node) : 0;
    size_t cap = strlen(tmpl) + 1;
    for (const char *p = tmpl; (p = strstr(p, "%n")) != NULL; p += 2) {
        cap += node_len;
    }
    char *out = malloc(cap);
    if (out == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (const char *p = tmpl; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 'n') {
            if (node_len == 0) {
                free(out);
                nn_err_set(err, EINVAL, "%s: '%s' uses %%n but no node name is set", key, tmpl);
                return NULL;
            }
            memcpy(out + n, node, node_len);
            n += node_len;
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            out[n++] = '%';
            p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    return out;
}

static int parse_version(const char *key, const char *v, int fallback, int *out, nn_err *err) {
    if (v == NULL || v[0] == '\0') {
        *out = fallback;
    } else if (strcmp(v, "1.2") == 0 || strcmp(v, "TLSv1.2") == 0) {
        *out = TLS1_2_VERSION;
    } else if (strcmp(v, "1.3") == 0 || strcmp(v, "TLSv1.3") == 0) {
        *out = TLS1_3_VERSION;
    } else {
        return nn_err_set(err, EINVAL, "%s: '%s': expected \"1.2\" or \"1.3\"", key, v);
    }
    return 0;
}

static int settings_from_config(const nn_security_config *c, nn_sec_settings *st, nn_err *err) {
    memset(st, 0, sizeof(*st));
    static const char *const file_keys[NN_SEC_F_COUNT] = {
        "security.ca_file",          "security.cert_file",       "security.key_file",
        "security.client_cert_file", "security.client_key_file", "security.crl_file"};
    const char *tmpl[NN_SEC_F_COUNT] = {c->ca_file,          c->cert_file,       c->key_file,
                                        c->client_cert_file, c->client_key_file, c->crl_file};
    char *wallet[NN_SEC_F_COUNT] = {0};
    bool use_wallet = c->ca_file == NULL && c->cert_file == NULL && c->key_file == NULL &&
                      c->wallet_dir != NULL && c->wallet_dir[0] != '\0';
    int rc = 0;
    if (use_wallet) {
        static const char *const wallet_names[NN_SEC_F_CRL] = {
            "ca.pem", "server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem"};
        for (int i = 0; i < NN_SEC_F_CRL; i++) {
            if (asprintf(&wallet[i], "%s/%s", c->wallet_dir, wallet_names[i]) < 0) {
                wallet[i] = NULL;
                rc = nn_err_set(err, ENOMEM, "out of memory");
                goto out;
            }
            tmpl[i] = wallet[i];
            st->key_name[i] = "security.wallet_dir";
        }
        /* A wallet without the client pair uses the server pair for both roles. */
        if (access(wallet[NN_SEC_F_CLIENT_CERT], F_OK) != 0 &&
            access(wallet[NN_SEC_F_CLIENT_KEY], F_OK) != 0) {
            tmpl[NN_SEC_F_CLIENT_CERT] = wallet[NN_SEC_F_CERT];
            tmpl[NN_SEC_F_CLIENT_KEY] = wallet[NN_SEC_F_KEY];
        }
    } else {
        for (int i = 0; i < NN_SEC_F_CLIENT_CERT; i++) {
            if (tmpl[i] == NULL || tmpl[i][0] == '\0') {
                rc = nn_err_set(err, EINVAL,
                                "%s: not set (set ca_file, cert_file and key_file, or wallet_dir)",
                                file_keys[i]);
                goto out;
            }
        }
        if ((c->client_cert_file == NULL) != (c->client_key_file == NULL)) {
            rc = nn_err_set(err, EINVAL,
                            "%s: set both client_cert_file and client_key_file, or "
                            "neither",
                            c->client_cert_file == NULL ? file_keys[NN_SEC_F_CLIENT_CERT]
                                                        : file_keys[NN_SEC_F_CLIENT_KEY]);
            goto out;
        }
        if (tmpl[NN_SEC_F_CLIENT_CERT] == NULL) {
            tmpl[NN_SEC_F_CLIENT_CERT] = tmpl[NN_SEC_F_CERT];
            tmpl[NN_SEC_F_CLIENT_KEY] = tmpl[NN_SEC_F_KEY];
        }
        for (int i = 0; i < NN_SEC_F_CRL; i++) {
            st->key_name[i] = file_keys[i];
        }
    }
    /* The CRL is its own key in both layouts: a wallet has no CRL of its own. */
    st->key_name[NN_SEC_F_CRL] = file_keys[NN_SEC_F_CRL];
    if (c->crl_file != NULL && c->crl_file[0] == '\0') {
        tmpl[NN_SEC_F_CRL] = NULL;
    }
    if (c->node_name != NULL && (st->node_name = strdup(c->node_name)) == NULL) {
        rc = nn_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < NN_SEC_F_COUNT; i++) {
        if (i == NN_SEC_F_CRL && tmpl[i] == NULL) {
            continue; /* no revocation checking */
        }
        st->path[i] = expand_path(st->key_name[i], tmpl[i], c->node_name, err);
        if (st->path[i] == NULL) {
            rc = -EINVAL;
            goto out;
        }
    }
    if ((rc = parse_version("security.tls_min_version", c->min_version, TLS1_2_VERSION,
                            &st->min_version, err)) < 0 ||
        (rc = parse_version("security.rpc_tls_min_version", c->rpc_min_version, TLS1_3_VERSION,
                            &st->rpc_min_version, err)) < 0) {
        goto out;
    }
    if (c->ciphers != NULL && c->ciphers[0] != '\0' && (st->ciphers = strdup(c->ciphers)) == NULL) {
        rc = nn_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    st->watch_interval_ms = c->watch_interval_ms == 0 ? 2000 : c->watch_interval_ms;
out:
    for (int i = 0; i < NN_SEC_F_COUNT; i++) {
        free(wallet[i]);
    }
    if (rc < 0) {
        settings_clear(st);
    }
    return rc;
}

static int settings_copy(const nn_sec_settings *src, nn_sec_settings *dst, nn_err *err) {
    *dst = *src;
    dst->node_name = NULL;
    dst->ciphers = NULL;
    for (int i = 0; i < NN_SEC_F_COUNT; i++) {
        dst->path[i] = NULL;
    }
    bool ok = src->node_name == NULL || (dst->node_name = strdup(src->node_name)) != NULL;
    ok = ok && (src->ciphers == NULL || (dst->ciphers = strdup(src->ciphers)) != NULL);
    for (int i = 0; ok && i < NN_SEC_F_COUNT; i++) {
        ok = src->path[i] == NULL || (dst->path[i] = strdup(src->path[i])) != NULL;
    }
    if (!ok) {
        settings_clear(dst);
        return nn_err_set(err, ENOMEM, "out of memory");
    }
    return 0;
}

static void sigs_take(const nn_sec_settings *st, file_sig sigs[NN_SEC_F_COUNT]) {
    for (int i = 0; i < NN_SEC_F_COUNT; i++) {
        struct stat sb;
        memset(&sigs[i], 0, sizeof(sigs[i]));
        if (st->path[i] != NULL && stat(st->path[i], &sb) == 0) {
            sigs[i].exists = true;
            sigs[i].dev = sb.st_dev;
            sigs[i].ino = sb.st_ino;
            sigs[i].size = sb.st_size;
            sigs[i].mtime = sb.st_mtim;
            sigs[i].ctime = sb.st_ctim;
        }
    }
}

static bool sigs_equal(const file_sig *a, const file_sig *b) {
    for (int i = 0; i < NN_SEC_F_COUNT; i++) {
        if (a[i].exists != b[i].exists || a[i].dev != b[i].dev || a[i].ino != b[i].ino ||
            a[i].size != b[i].size || a[i].mtime.tv_sec != b[i].mtime.tv_sec ||
            a[i].mtime.tv_nsec != b[i].mtime.tv_nsec || a[i].ctime.tv_sec != b[i].ctime.tv_sec ||
            a[i].ctime.tv_nsec != b[i].ctime.tv_nsec) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------ the watcher */

static void watch_check(nn_security *sec) {
    pthread_mutex_lock(&sec->lock);
    nn_sec_settings st;
    int rc = settings_copy(&sec->settings, &st, NULL);
    pthread_mutex_unlock(&sec->lock);
    if (rc < 0) {
        return;
    }
    file_sig now[NN_SEC_F_COUNT];
    sigs_take(&st, now);
    pthread_mutex_lock(&sec->reload_lock);
    bool changed = !sigs_equal(now, sec->watched);
    pthread_mutex_unlock(&sec->reload_lock);
    settings_clear(&st);
    if (changed) {
        nn_log(NN_LOG_INFO, "security.files_changed", "action=reload");
        nn_err err;
        nn_err_clear(&err);
        /* A failure is logged by the reload and the old store stays; the watcher tries
         * again when the files change again, not on every tick. */
        nn_security_reload(sec, NULL, &err);
    }
}

static void *watch_main(void *arg) {
    nn_security *sec = arg;
    pthread_mutex_lock(&sec->watch_lock);
    while (!sec->watch_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ms = sec->watch_interval_ms;
        until.tv_sec += (time_t)(ms / 1000);
        until.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!sec->watch_stop && rc != ETIMEDOUT) {
            rc = pthread_cond_timedwait(&sec->watch_cond, &sec->watch_lock, &until);
        }
        if (sec->watch_stop) {
            break;
        }
        pthread_mutex_unlock(&sec->watch_lock);
        watch_check(sec);
        pthread_mutex_lock(&sec->watch_lock);
    }
    pthread_mutex_unlock(&sec->watch_lock);
    return NULL;
}

/* ------------------------------------------------------------ the face */

nn_security *nn_security_new(const nn_security_config *config, nn_err *err) {
    if (config == NULL) {
        nn_err_set(err, EINVAL, "security: no configuration");
        return NULL;
    }
    nn_security *sec = calloc(1, sizeof(*sec));
    if (sec == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    if (settings_from_config(config, &sec->settings, err) < 0) {
        free(sec);
        return NULL;
    }
    sigs_take(&sec->settings, sec->watched);
    sec->current = nn_sec_store_build(&sec->settings, 0, err);
    if (sec->current == NULL) {
        settings_clear(&sec->settings);
        free(sec);
        return NULL;
    }
    sec->instance = atomic_fetch_add(&next_instance, 1);
    atomic_init(&sec->generation, 0);
    pthread_mutex_init(&sec->lock, NULL);
    pthread_mutex_init(&sec->reload_lock, NULL);
    pthread_mutex_init(&sec->watch_lock, NULL);
    pthread_mutex_init(&sec->listener_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&sec->watch_cond, &attr);
    pthread_condattr_destroy(&attr);
    sec->watch_interval_ms = sec->settings.watch_interval_ms;
    if (sec->watch_interval_ms != UINT32_MAX) {
        int rc = pthread_create(&sec->watcher, NULL, watch_main, sec);
        if (rc != 0) {
            nn_err_set(err, rc, "security: cannot start the file watcher: %s", strerror(rc));
            sec->watch_running = false;
            nn_security_free(sec);
            return NULL;
        }
        sec->watch_running = true;
    }
    return sec;
}

/* The log line and the status say why; the old store stays. */
static void reload_failed(nn_security *sec, uint64_t kept, const nn_err *err) {
    const char *why = err != NULL && err->msg[0] != '\0' ? err->msg : "unknown error";
    pthread_mutex_lock(&sec->lock);
    snprintf(sec->reload_error, sizeof(sec->reload_error), "%s", why);
    pthread_mutex_unlock(&sec->lock);
    nn_log(NN_LOG_WARN, "security.reload_failed", "kept_generation=%llu why=\"%s\"",
           (unsigned long long)kept, why);
}

int nn_security_reload(nn_security *sec, const nn_security_config *config, nn_err *err) {
    nn_sec_settings st;
    int rc;
    pthread_mutex_lock(&sec->reload_lock);
    if (config != NULL) {
        rc = settings_from_config(config, &st, err);
    } else {
        pthread_mutex_lock(&sec->lock);
        rc = settings_copy(&sec->settings, &st, err);
        pthread_mutex_unlock(&sec->lock);
    }
    if (rc < 0) {
        reload_failed(sec, atomic_load(&sec->generation), err);
        pthread_mutex_unlock(&sec->reload_lock);
        return rc;
    }
    /* Taken before reading, so that a write racing with the load is seen next tick. */
    file_sig sigs[NN_SEC_F_COUNT];
    sigs_take(&st, sigs);
    uint64_t next = atomic_load(&sec->generation) + 1;
    nn_sec_store *store = nn_sec_store_build(&st, next, err);
    if (store == NULL) {
        if (config == NULL) {
            memcpy(sec->watched, sigs, sizeof(sigs));
        }
        reload_failed(sec, next - 1, err);
        pthread_mutex_unlock(&sec->reload_lock);
        settings_clear(&st);
        return err != NULL && err->code != 0 ? -err->code : -EINVAL;
    }
    /* Copied while the store is surely alive: once reload_lock is released, another reload
     * may swap it out and its last stream free it (TSan saw this in the CA rotation test). */
    char subject[sizeof(store->info.subject)];
    memcpy(subject, store->info.subject, sizeof(subject));
    pthread_mutex_lock(&sec->lock);
    nn_sec_store *old = sec->current;
    sec->current = store;
    nn_sec_settings old_settings = sec->settings;
    sec->settings = st;
    sec->reload_error[0] = '\0';
    atomic_store_explicit(&sec->generation, next, memory_order_release);
    pthread_mutex_unlock(&sec->lock);
    memcpy(sec->watched, sigs, sizeof(sigs));
    pthread_mutex_unlock(&sec->reload_lock);
    settings_clear(&old_settings);
    nn_sec_store_unref(old);
    pthread_mutex_lock(&sec->listener_lock);
    if (sec->on_reload != NULL) {
        sec->on_reload(sec->on_reload_arg, next);
    }
    pthread_mutex_unlock(&sec->listener_lock);
    nn_log(NN_LOG_INFO, "security.reloaded", "generation=%llu subject=%s", (unsigned long long)next,
           subject);
    return 0;
}

void nn_security_set_reload_listener(nn_security *sec, nn_security_reload_fn fn, void *arg) {
    pthread_mutex_lock(&sec->listener_lock);
    sec->on_reload = fn;
    sec->on_reload_arg = arg;
    pthread_mutex_unlock(&sec->listener_lock);
}

uint64_t nn_security_generation(const nn_security *sec) {
    return atomic_load_explicit(&((nn_security *)sec)->generation, memory_order_acquire);
}

int nn_security_info_get(nn_security *sec, nn_security_info *out) {
    nn_sec_store *store = nn_sec_store_acquire(sec);
    *out = store->info;
    nn_sec_store_unref(store);
    pthread_mutex_lock(&sec->lock);
    snprintf(out->reload_error, sizeof(out->reload_error), "%s", sec->reload_error);
    pthread_mutex_unlock(&sec->lock);
    return 0;
}

void nn_security_free(nn_security *sec) {
    if (sec == NULL) {
        return;
    }
    if (sec->watch_running) {
        pthread_mutex_lock(&sec->watch_lock);
        sec->watch_stop = true;
        pthread_cond_signal(&sec->watch_cond);
        pthread_mutex_unlock(&sec->watch_lock);
        pthread_join(sec->watcher, NULL);
    }
    /* This thread's cached reference; other threads drop theirs when they next look at a
     * store or when they exit. */
    if (tcache.store != NULL && tcache.instance == sec->instance) {
        tcache_set(0, 0, NULL);
    }
    nn_sec_store_unref(sec->current);
    settings_clear(&sec->settings);
    pthread_cond_destroy(&sec->watch_cond);
    pthread_mutex_destroy(&sec->watch_lock);
    pthread_mutex_destroy(&sec->reload_lock);
    pthread_mutex_destroy(&sec->lock);
    pthread_mutex_destroy(&sec->listener_lock);
    free(sec);
}
