/* mysql/catalog.c: the durable user catalog and the snapshots that logins read.
 *
 * SQLite (WAL, synchronous=FULL) at <data_dir>/users.db, written only by a dedicated
 * catalog thread so that no worker ever waits on a disk sync. After each committed write
 * the thread builds a new immutable snapshot of all accounts and hands one reference to
 * every worker loop through nn_loop_post(); a worker reads its own loop-local pointer, so
 * a login takes no lock and touches no SQLite. The statement is acknowledged only after
 * its commit (the op's task is posted after it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "mysql/catalog_internal.h"

typedef struct snap_task {
    nn_task task;
    nn_mysql_catalog *cat;
    uint32_t index;
    nn_mysql_users *users;
} snap_task;

/* -------------------------------------------------------------- snapshots */

static bool host_is_pattern(const char *host) {
    return strpbrk(host, "%_") != NULL;
}

/* MySQL's order: literal hosts before patterns, longer (more specific) first. */
static int account_order(const void *x, const void *y) {
    const nn_mysql_account *a = x;
    const nn_mysql_account *b = y;
    int pa = host_is_pattern(a->host);
    int pb = host_is_pattern(b->host);
    if (pa != pb) {
        return pa - pb;
    }
    size_t la = strlen(a->host);
    size_t lb = strlen(b->host);
    if (la != lb) {
        return la > lb ? -1 : 1;
    }
    int c = strcmp(a->host, b->host);
    return c != 0 ? c : strcmp(a->user, b->user);
}

static char *col_dup(sqlite3_stmt *st, int col) {
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

/* Reads every account into a new snapshot (refs = 1), keeping the fast-path cache of
 * accounts whose auth string did not change. Catalog thread (or open). */
static nn_mysql_users *snapshot_load(nn_mysql_catalog *cat, const nn_mysql_users *old,
                                     nn_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cat->db,
                           "SELECT user, host, plugin, auth_string, ssl_type, ssl_cipher, "
                           "x509_issuer, x509_subject, admin FROM users",
                           -1, &st, NULL) != SQLITE_OK) {
        nn_err_set(err, EIO, "%s: %s", cat->path, sqlite3_errmsg(cat->db));
        return NULL;
    }
    nn_mysql_users *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        sqlite3_finalize(st);
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&u->refs, 1);
    size_t cap = 0;
    int rc;
    bool oom = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (u->count == cap) {
            cap = cap ? cap * 2 : 16;
            nn_mysql_account *more = realloc(u->accounts, cap * sizeof(*more));
            if (more == NULL) {
                oom = true;
                break;
            }
            u->accounts = more;
        }
        nn_mysql_account *a = &u->accounts[u->count];
        memset(a, 0, sizeof(*a));
        a->user = col_dup(st, 0);
        a->host = col_dup(st, 1);
        a->plugin = col_dup(st, 2);
        a->auth_string = col_dup(st, 3);
        a->require.type = (nn_ssl_type)sqlite3_column_int(st, 4);
        a->require.cipher = col_dup(st, 5);
        a->require.issuer = col_dup(st, 6);
        a->require.subject = col_dup(st, 7);
        a->admin = sqlite3_column_int(st, 8) != 0;
        atomic_init(&a->sha2_cache, NULL);
        u->count++;
        if (a->user == NULL || a->host == NULL || a->plugin == NULL || a->auth_string == NULL) {
            oom = true;
            break;
        }
    }
    sqlite3_finalize(st);
    if (oom || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
        if (oom) {
            nn_err_set(err, ENOMEM, "out of memory");
        } else {
            nn_err_set(err, EIO, "%s: %s", cat->path, sqlite3_errmsg(cat->db));
        }
        nn_mysql_users_unref(u);
        return NULL;
    }
    qsort(u->accounts, u->count, sizeof(*u->accounts), account_order);
    for (size_t i = 0; old != NULL && i < u->count; i++) {
        nn_mysql_account *a = &u->accounts[i];
        const nn_mysql_account *was = nn_mysql_users_find(old, a->user, a->host);
        uint8_t *cached = was ? atomic_load(&((nn_mysql_account *)was)->sha2_cache) : NULL;
        if (cached != NULL && strcmp(was->auth_string, a->auth_string) == 0 &&
            strcmp(was->plugin, a->plugin) == 0) {
            uint8_t *copy = malloc(32);
            if (copy != NULL) {
                memcpy(copy, cached, 32);
                atomic_store(&a->sha2_cache, copy);
            }
        }
    }
    return u;
}

static void snap_task_run(nn_task *t) {
    snap_task *st = (snap_task *)t;
    nn_mysql_users **slots = atomic_load_explicit(&st->cat->loop_users, memory_order_acquire);
    nn_mysql_users *old = slots[st->index];
    if (old != NULL && old->generation >= st->users->generation) {
        /* A login here already took this view (or a newer one) from the catalog. */
        nn_mysql_users_unref(st->users);
    } else {
        slots[st->index] = st->users;
        nn_mysql_users_unref(old);
    }
    free(st);
}

/* Catalog thread: makes u the current snapshot and sends it to every loop. */
static void publish(nn_mysql_catalog *cat, nn_mysql_users *u) {
    pthread_mutex_lock(&cat->lock);
    nn_mysql_users *old = cat->current;
    u->generation = old->generation + 1;
    cat->current = u;
    atomic_store(&cat->generation, u->generation);
    nn_mysql_users **slots = atomic_load(&cat->loop_users);
    for (uint32_t i = 0; slots != NULL && i < cat->loop_count; i++) {
        snap_task *t = calloc(1, sizeof(*t));
        if (t == NULL) {
            continue; /* that loop keeps the older view until the next change */
        }
        t->task.fn = snap_task_run;
        t->cat = cat;
        t->index = i;
        t->users = u;
        nn_mysql_users_ref(u);
        if (nn_loop_post(nn_server_loop(cat->net, i), &t->task) < 0) {
            nn_mysql_users_unref(u);
            free(t);
        }
    }
    pthread_mutex_unlock(&cat->lock);
    nn_mysql_users_unref(old);
}

nn_mysql_users *nn_mysql_catalog_users_get0(nn_mysql_catalog *cat, nn_loop *loop) {
    nn_mysql_users **slots = atomic_load_explicit(&cat->loop_users, memory_order_acquire);
    uint32_t index = nn_loop_index(loop);
    if (slots != NULL && index < cat->loop_count && slots[index] != NULL &&
        slots[index]->generation == atomic_load(&cat->generation)) {
        return slots[index];
    }
    /* First login on this loop, or a change whose update task has not run here yet: take
     * the current snapshot under the lock (rare: once per loop and per change). */
    pthread_mutex_lock(&cat->lock);
    slots = atomic_load(&cat->loop_users);
    if (slots == NULL) {
        cat->net = nn_loop_server(loop);
        cat->loop_count = nn_server_worker_count(cat->net);
        slots = calloc(cat->loop_count, sizeof(*slots));
        atomic_store_explicit(&cat->loop_users, slots, memory_order_release);
    }
    nn_mysql_users *u = cat->current;
    if (slots == NULL || index >= cat->loop_count) {
        pthread_mutex_unlock(&cat->lock);
        return u; /* degenerate (out of memory): the global view, still alive */
    }
    if (slots[index] != u) {
        nn_mysql_users *was = slots[index];
        nn_mysql_users_ref(u);
        slots[index] = u;
        nn_mysql_users_unref(was);
    }
    u = slots[index];
    pthread_mutex_unlock(&cat->lock);
    return u;
}

nn_mysql_users *nn_mysql_catalog_users_get(nn_mysql_catalog *cat) {
    pthread_mutex_lock(&cat->lock);
    nn_mysql_users *u = cat->current;
    nn_mysql_users_ref(u);
    pthread_mutex_unlock(&cat->lock);
    return u;
}

/* ------------------------------------------------------------------ writes */

int nn_mysql_catalog_exec(nn_mysql_catalog *cat, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(cat->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        nn_log(NN_LOG_ERROR, "mysql.catalog", "path=%s sql=\"%s\" error=\"%s\"", cat->path, sql,
               msg ? msg : "?");
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

int nn_mysql_catalog_commit(nn_mysql_catalog *cat, nn_catalog_op *op) {
    /* COMMIT returns once the WAL is synced (synchronous=FULL): only then is the
     * statement acknowledged. */
    if (nn_mysql_catalog_exec(cat, "COMMIT") < 0) {
        nn_mysql_catalog_exec(cat, "ROLLBACK");
        op->result = -EIO;
        snprintf(op->message, sizeof(op->message), "catalog commit failed");
        return -EIO;
    }
    return 0;
}

static int bind_opt(sqlite3_stmt *st, int i, const char *s) {
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int account_exists(nn_mysql_catalog *cat, const char *user, const char *host) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cat->db, "SELECT 1 FROM users WHERE user = ?1 AND host = ?2", -1, &st,
                           NULL) != SQLITE_OK) {
        return -EIO;
    }
    sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, host, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
}

static int run_write(nn_mysql_catalog *cat, const char *sql, const nn_catalog_op *op,
                     uint64_t version, const char *origin) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cat->db, sql, -1, &st, NULL) != SQLITE_OK) {
        return -EIO;
    }
    sqlite3_bind_text(st, 1, op->user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, op->host, -1, SQLITE_TRANSIENT);
    /* With numbered parameters the count is the highest index used: binding an index
     * that the statement does not mention is harmless. */
    int n = sqlite3_bind_parameter_count(st);
    if (n >= 3) {
        sqlite3_bind_text(st, 3, op->plugin, -1, SQLITE_TRANSIENT);
    }
    if (n >= 4) {
        sqlite3_bind_text(st, 4, op->auth_string, -1, SQLITE_TRANSIENT);
    }
    if (n >= 5) {
        sqlite3_bind_int(st, 5, (int)op->require.type);
        bind_opt(st, 6, op->require.cipher);
        bind_opt(st, 7, op->require.issuer);
        bind_opt(st, 8, op->require.subject);
    }
    if (n >= 9) {
        sqlite3_bind_int(st, 9, op->admin_value ? 1 : 0);
    }
    if (n >= 10) {
        sqlite3_bind_int64(st, 10, (sqlite3_int64)version);
        sqlite3_bind_text(st, 11, origin, -1, SQLITE_TRANSIENT);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

/* ALTER USER ... IDENTIFIED BY keeps the account's plugin. */
static int current_plugin(nn_mysql_catalog *cat, nn_catalog_op *op) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cat->db, "SELECT plugin FROM users WHERE user = ?1 AND host = ?2", -1,
                           &st, NULL) != SQLITE_OK) {
        return -EIO;
    }
    sqlite3_bind_text(st, 1, op->user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, op->host, -1, SQLITE_TRANSIENT);
    int rc = -EIO;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(op->plugin, sizeof(op->plugin), "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Hashing happens here, not on a worker: the salted hash is deliberately slow. */
static int hash_password(nn_catalog_op *op) {
    size_t n = strlen(op->password);
    int rc = 0;
    if (op->plugin[0] == '\0') {
        snprintf(op->plugin, sizeof(op->plugin), NN_PLUGIN_SHA2);
    }
    if (strcmp(op->plugin, NN_PLUGIN_NATIVE) == 0) {
        nn_mysql_native_auth_string(op->password, n, op->auth_string);
    } else {
        rc = nn_mysql_sha2_auth_string(op->password, n, op->auth_string);
    }
    memset(op->password, 0, sizeof(op->password));
    op->hash_password = false;
    return rc;
}

static const char *op_name(const nn_catalog_op *op) {
    switch (op->kind) {
    case NN_CATALOG_CREATE:
        return "CREATE USER";
    case NN_CATALOG_ALTER:
        return "ALTER USER";
    case NN_CATALOG_DROP:
        return "DROP USER";
    case NN_CATALOG_SET_ADMIN:
        return op->admin_value ? "GRANT" : "REVOKE";
    case NN_CATALOG_MERGE:
        return "MERGE";
    case NN_CATALOG_EXPORT:
        return "EXPORT";
    }
    return "?";
}

static uint64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The statement's writes, each stamping the row with (version, origin). */
static int write_versioned(nn_mysql_catalog *cat, const nn_catalog_op *op, uint64_t version,
                           const char *origin) {
    int rc = 0;
    if (op->kind == NN_CATALOG_CREATE) {
        /* A tombstone of an earlier DROP gives way to the newer CREATE. */
        rc = run_write(cat, "DELETE FROM tombstones WHERE user = ?1 AND host = ?2", op, 0, "");
        if (rc == 0) {
            rc = run_write(cat,
                           "INSERT INTO users (user, host, plugin, auth_string, ssl_type, "
                           "ssl_cipher, x509_issuer, x509_subject, admin, version, origin) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                           op, version, origin);
        }
        return rc;
    }
    if (op->kind == NN_CATALOG_DROP) {
        rc = run_write(cat, "DELETE FROM users WHERE user = ?1 AND host = ?2", op, 0, "");
        if (rc == 0) {
            rc = run_write(cat,
                           "INSERT OR REPLACE INTO tombstones (user, host, version, origin) "
                           "VALUES (?1, ?2, ?10, ?11)",
                           op, version, origin);
        }
        return rc;
    }
    if (op->kind == NN_CATALOG_SET_ADMIN) {
        return run_write(cat,
                         "UPDATE users SET admin = ?9, version = ?10, origin = ?11 "
                         "WHERE user = ?1 AND host = ?2",
                         op, version, origin);
    }
    if (op->set_auth) {
        rc = run_write(cat,
                       "UPDATE users SET plugin = ?3, auth_string = ?4, version = ?10, "
                       "origin = ?11 WHERE user = ?1 AND host = ?2",
                       op, version, origin);
    }
    if (rc == 0 && op->set_require) {
        rc = run_write(cat,
                       "UPDATE users SET ssl_type = ?5, ssl_cipher = ?6, x509_issuer = ?7, "
                       "x509_subject = ?8, version = ?10, origin = ?11 "
                       "WHERE user = ?1 AND host = ?2",
                       op, version, origin);
    }
    return rc;
}

/* Runs one op in a transaction. Returns 1 if the catalog changed, 0 if not. */
static int apply(nn_mysql_catalog *cat, nn_catalog_op *op) {
    if (nn_mysql_catalog_exec(cat, "BEGIN IMMEDIATE") < 0) {
        op->result = -EIO;
        snprintf(op->message, sizeof(op->message), "catalog unavailable");
        return 0;
    }
    int exists = account_exists(cat, op->user, op->host);
    int rc = 0;
    if (exists > 0 && op->kind == NN_CATALOG_ALTER && op->set_auth && op->plugin[0] == '\0') {
        rc = current_plugin(cat, op);
    }
    if (rc == 0 && op->hash_password) {
        rc = hash_password(op);
    }
    if (rc < 0 || exists < 0) {
        rc = -EIO;
    } else if (op->kind == NN_CATALOG_CREATE && exists) {
        rc = op->if_not_exists ? 1 : -EEXIST;
    } else if (op->kind != NN_CATALOG_CREATE && !exists) {
        rc = op->if_exists ? 1 : -ENOENT;
    } else {
        /* The row's new version: after everything this node has made or merged. */
        uint64_t version = 0;
        char origin[sizeof(cat->origin)] = "";
        if (!op->unversioned) {
            version = nn_mysql_catalog_version_next(cat->last_version, wall_ms());
            cat->last_version = version;
            pthread_mutex_lock(&cat->listener_lock);
            memcpy(origin, cat->origin, sizeof(origin));
            pthread_mutex_unlock(&cat->listener_lock);
        }
        rc = write_versioned(cat, op, version, origin);
    }
    if (rc < 0 || rc == 1) {
        nn_mysql_catalog_exec(cat, "ROLLBACK");
        op->noop = rc == 1;
        op->result = rc == 1 ? 0 : rc;
        if (rc < 0) {
            snprintf(op->message, sizeof(op->message), "Operation %s failed for '%s'@'%s'",
                     op_name(op), op->user, op->host);
        }
        return 0;
    }
    if (nn_mysql_catalog_commit(cat, op) < 0) {
        return 0;
    }
    op->result = 0;
    nn_log(NN_LOG_INFO, "mysql.catalog.write", "op=\"%s\" user=%s host=%s", op_name(op), op->user,
           op->host);
    return 1;
}

static void *catalog_thread(void *arg) {
    nn_mysql_catalog *cat = arg;
    for (;;) {
        pthread_mutex_lock(&cat->lock);
        while (cat->head == NULL && !cat->stopping) {
            pthread_cond_wait(&cat->cond, &cat->lock);
        }
        nn_catalog_op *op = cat->head;
        if (op == NULL) {
            pthread_mutex_unlock(&cat->lock);
            return NULL;
        }
        cat->head = op->next_queued;
        if (cat->head == NULL) {
            cat->tail = NULL;
        }
        nn_mysql_users *old = cat->current;
        nn_mysql_users_ref(old);
        pthread_mutex_unlock(&cat->lock);

        bool local = op->kind != NN_CATALOG_MERGE && op->kind != NN_CATALOG_EXPORT;
        int changed = 0;
        if (op->kind == NN_CATALOG_EXPORT) {
            op->result = nn_mysql_repl_export(cat->db, &op->blob, &op->blob_len);
        } else if (op->kind == NN_CATALOG_MERGE) {
            changed = nn_mysql_catalog_merge(cat, op);
        } else {
            changed = apply(cat, op);
        }
        if (changed == 1) {
            nn_mysql_catalog_digest_refresh(cat);
            nn_err err;
            nn_err_clear(&err);
            nn_mysql_users *u = snapshot_load(cat, old, &err);
            if (u != NULL) {
                publish(cat, u);
            } else {
                nn_log(NN_LOG_ERROR, "mysql.catalog.reload", "error=\"%s\"", err.msg);
            }
        }
        nn_mysql_users_unref(old);
        if (changed == 1 && local) {
            /* Before the acknowledgement: a client that saw OK can count on the change
             * having left for the peers. */
            nn_mysql_catalog_listener_notify(cat, op);
        }
        if (op->loop == NULL) {
            op->task.fn(&op->task); /* merge and export complete here */
        } else if (nn_loop_post(op->loop, &op->task) < 0) {
            /* The loop has exited (shutdown): nothing else touches the submitter's
             * objects any more, so its completion runs here and frees what it holds. */
            op->task.fn(&op->task);
        }
    }
}

void nn_mysql_catalog_submit(nn_mysql_catalog *cat, nn_catalog_op *op) {
    op->next_queued = NULL;
    pthread_mutex_lock(&cat->lock);
    if (cat->tail != NULL) {
        cat->tail->next_queued = op;
    } else {
        cat->head = op;
    }
    cat->tail = op;
    pthread_cond_signal(&cat->cond);
    pthread_mutex_unlock(&cat->lock);
}

/* ------------------------------------------------------------- bootstrap */

static int bootstrap(nn_mysql_catalog *cat, nn_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cat->db, "SELECT count(*) FROM users", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return nn_err_set(err, EIO, "%s: %s", cat->path, sqlite3_errmsg(cat->db));
    }
    int count = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (count > 0) {
        return 0;
    }
    char password[64];
    const char *env = getenv("NODENET_ROOT_PASSWORD");
    bool generated = env == NULL || env[0] == '\0';
    if (!generated) {
        snprintf(password, sizeof(password), "%s", env);
    } else {
        static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        uint8_t rnd[20];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            return nn_err_set(err, EIO, "no randomness for the root password");
        }
        for (size_t i = 0; i < sizeof(rnd); i++) {
            password[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
        }
        password[sizeof(rnd)] = '\0';
    }
    nn_catalog_op op;
    memset(&op, 0, sizeof(op));
    op.kind = NN_CATALOG_CREATE;
    snprintf(op.user, sizeof(op.user), "root");
    snprintf(op.host, sizeof(op.host), "%%");
    snprintf(op.plugin, sizeof(op.plugin), NN_PLUGIN_SHA2);
    op.admin_value = true;
    op.require.type = NN_SSL_NONE;
    op.unversioned = true; /* each node's own root, until someone changes it (mysql.h) */
    if (nn_mysql_sha2_auth_string(password, strlen(password), op.auth_string) < 0) {
        return nn_err_set(err, EIO, "cannot hash the root password");
    }
    int changed = apply(cat, &op);
    if (changed != 1) {
        return nn_err_set(err, EIO, "%s: cannot create root: %s", cat->path, op.message);
    }
    if (generated) {
        /* The one time this password is ever shown: the operator must save it. */
        nn_log(NN_LOG_WARN, "mysql.bootstrap",
               "user=root host=%% generated_password=%s note=\"shown once; set "
               "NODENET_ROOT_PASSWORD to choose it\"",
               password);
    } else {
        nn_log(NN_LOG_INFO, "mysql.bootstrap",
               "user=root host=%% password=from_env(NODENET_ROOT_PASSWORD)");
    }
    memset(password, 0, sizeof(password));
    return 0;
}

nn_mysql_catalog *nn_mysql_catalog_open(const char *data_dir, nn_err *err) {
    nn_mysql_catalog *cat = calloc(1, sizeof(*cat));
    if (cat == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&cat->lock, NULL);
    pthread_mutex_init(&cat->listener_lock, NULL);
    pthread_cond_init(&cat->cond, NULL);
    if (mkdir(data_dir, 0700) < 0 && errno != EEXIST) {
        nn_err_set(err, errno, "%s: cannot create: %s", data_dir, strerror(errno));
        goto fail;
    }
    snprintf(cat->path, sizeof(cat->path), "%s/users.db", data_dir);
    if (sqlite3_open_v2(cat->path, &cat->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        nn_err_set(err, EIO, "%s: %s", cat->path,
                   cat->db ? sqlite3_errmsg(cat->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(cat->db, 5000);
    /* WAL + synchronous=FULL: a commit is on disk when it returns, and a crash leaves the
     * old or the new catalog. */
    if (nn_mysql_catalog_exec(cat, "PRAGMA journal_mode=WAL") < 0 ||
        nn_mysql_catalog_exec(cat, "PRAGMA synchronous=FULL") < 0 ||
        nn_mysql_catalog_exec(cat,
                              "CREATE TABLE IF NOT EXISTS users ("
                              " user TEXT NOT NULL, host TEXT NOT NULL, plugin TEXT NOT NULL,"
                              " auth_string TEXT NOT NULL, ssl_type INTEGER NOT NULL DEFAULT 0,"
                              " ssl_cipher TEXT, x509_issuer TEXT, x509_subject TEXT,"
                              " admin INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (user, host))") < 0) {
        nn_err_set(err, EIO, "%s: %s", cat->path, sqlite3_errmsg(cat->db));
        goto fail;
    }
    if (nn_mysql_repl_schema(cat->db, err) < 0) {
        nn_err_prefix(err, "%s", cat->path);
        goto fail;
    }
    if (bootstrap(cat, err) < 0) {
        goto fail;
    }
    cat->last_version = nn_mysql_repl_max_version(cat->db);
    if (nn_mysql_repl_digest(cat->db, &cat->digest) < 0) {
        nn_err_set(err, EIO, "%s: %s", cat->path, sqlite3_errmsg(cat->db));
        goto fail;
    }
    cat->current = snapshot_load(cat, NULL, err);
    if (cat->current == NULL) {
        goto fail;
    }
    if (pthread_create(&cat->thread, NULL, catalog_thread, cat) != 0) {
        nn_err_set(err, EAGAIN, "cannot start the catalog thread");
        goto fail;
    }
    cat->thread_started = true;
    return cat;
fail:
    nn_mysql_catalog_close(cat);
    return NULL;
}

void nn_mysql_catalog_close(nn_mysql_catalog *cat) {
    if (cat == NULL) {
        return;
    }
    if (cat->thread_started) {
        pthread_mutex_lock(&cat->lock);
        cat->stopping = true;
        pthread_cond_signal(&cat->cond);
        pthread_mutex_unlock(&cat->lock);
        pthread_join(cat->thread, NULL);
    }
    nn_mysql_users **slots = atomic_load(&cat->loop_users);
    for (uint32_t i = 0; slots != NULL && i < cat->loop_count; i++) {
        nn_mysql_users_unref(slots[i]);
    }
    free(slots);
    nn_mysql_users_unref(cat->current);
    if (cat->db != NULL) {
        sqlite3_close(cat->db);
    }
    pthread_mutex_destroy(&cat->lock);
    pthread_mutex_destroy(&cat->listener_lock);
    pthread_cond_destroy(&cat->cond);
    free(cat);
}
