/* mysql/catalog_repl.c: the catalog's replicated form. Every account row and every
 * tombstone carries (version, origin); changes travel as nncat.Change (proto/catalog.proto)
 * and merge row by row, newest (version, origin) wins (the rule is in mysql.h). Everything
 * here runs on the catalog thread, inside the caller's transaction where it writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "mysql/catalog_internal.h"
#include "proto/catalog.pb-c.h"

#define PRESENT_CIPHER 1u
#define PRESENT_ISSUER 2u
#define PRESENT_SUBJECT 4u

int nn_mysql_catalog_version_cmp(uint64_t va, const char *oa, uint64_t vb, const char *ob) {
    if (va != vb) {
        return va > vb ? 1 : -1;
    }
    int c = strcmp(oa ? oa : "", ob ? ob : "");
    return c > 0 ? 1 : c < 0 ? -1 : 0;
}

uint64_t nn_mysql_catalog_version_next(uint64_t last, uint64_t wall_ms) {
    /* 48 bits of milliseconds last until the year 10889; beyond, the clock only counts. */
    uint64_t wall = wall_ms < (UINT64_C(1) << 47) ? wall_ms << 16 : 0;
    return wall > last ? wall : last + 1;
}

/* ------------------------------------------------------------- schema */

static int exec_sql(sqlite3 *db, const char *sql, nn_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        nn_err_set(err, EIO, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

int nn_mysql_repl_schema(sqlite3 *db, nn_err *err) {
    sqlite3_stmt *st = NULL;
    /* A catalog written before replication has no version columns: its rows get version 0
     * (older than any replicated change). */
    if (sqlite3_prepare_v2(db, "SELECT version, origin FROM users LIMIT 0", -1, &st, NULL) !=
        SQLITE_OK) {
        if (exec_sql(db,
                     "ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 0;"
                     "ALTER TABLE users ADD COLUMN origin TEXT NOT NULL DEFAULT ''",
                     err) < 0) {
            return -EIO;
        }
    }
    sqlite3_finalize(st);
    return exec_sql(db,
                    "CREATE TABLE IF NOT EXISTS tombstones (user TEXT NOT NULL, host TEXT NOT "
                    "NULL, version INTEGER NOT NULL, origin TEXT NOT NULL, "
                    "PRIMARY KEY (user, host))",
                    err);
}

uint64_t nn_mysql_repl_max_version(sqlite3 *db) {
    sqlite3_stmt *st = NULL;
    uint64_t max = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT max(v) FROM (SELECT max(version) AS v FROM users UNION ALL "
                           "SELECT max(version) FROM tombstones)",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        max = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return max;
}

/* ------------------------------------------------------------- digest */

int nn_mysql_repl_digest(sqlite3 *db, nn_mysql_catalog_digest *out) {
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT user, host, version, origin, 0 FROM users UNION ALL "
                           "SELECT user, host, version, origin, 1 FROM tombstones "
                           "ORDER BY 1, 2",
                           -1, &st, NULL) != SQLITE_OK) {
        return -EIO;
    }
    SHA256_CTX sha;
    SHA256_Init(&sha);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint8_t v[9];
        uint64_t version = (uint64_t)sqlite3_column_int64(st, 2);
        for (int i = 0; i < 8; i++) {
            v[i] = (uint8_t)(version >> (56 - 8 * i));
        }
        v[8] = (uint8_t)sqlite3_column_int(st, 4);
        /* NUL-separated, so that ("ab", "c") and ("a", "bc") differ. */
        for (int col = 0; col < 2; col++) {
            const unsigned char *t = sqlite3_column_text(st, col);
            SHA256_Update(&sha, t ? t : (const unsigned char *)"",
                          t ? strlen((const char *)t) + 1 : 1);
        }
        const unsigned char *origin = sqlite3_column_text(st, 3);
        SHA256_Update(&sha, origin ? origin : (const unsigned char *)"",
                      origin ? strlen((const char *)origin) + 1 : 1);
        SHA256_Update(&sha, v, sizeof(v));
        if (version > out->max_version) {
            out->max_version = version;
        }
        out->rows++;
    }
    sqlite3_finalize(st);
    SHA256_Final(out->sha256, &sha);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

uint8_t *nn_mysql_catalog_digest_encode(const nn_mysql_catalog_digest *d, size_t *len) {
    Nncat__Digest msg = NNCAT__DIGEST__INIT;
    msg.sha256.data = (uint8_t *)d->sha256;
    msg.sha256.len = sizeof(d->sha256);
    msg.max_version = d->max_version;
    msg.rows = d->rows;
    *len = nncat__digest__get_packed_size(&msg);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf != NULL) {
        nncat__digest__pack(&msg, buf);
    }
    return buf;
}

int nn_mysql_catalog_digest_decode(const uint8_t *bytes, size_t len, nn_mysql_catalog_digest *out) {
    memset(out, 0, sizeof(*out));
    Nncat__Digest *msg = nncat__digest__unpack(NULL, len, bytes);
    if (msg == NULL) {
        return -EINVAL;
    }
    int rc = -EINVAL;
    if (msg->sha256.len == sizeof(out->sha256)) {
        memcpy(out->sha256, msg->sha256.data, sizeof(out->sha256));
        out->max_version = msg->max_version;
        out->rows = msg->rows;
        rc = 0;
    }
    nncat__digest__free_unpacked(msg, NULL);
    return rc;
}

/* ------------------------------------------------------------- encode */

static char *text_or_empty(sqlite3_stmt *st, int col) {
    const unsigned char *t = sqlite3_column_text(st, col);
    return (char *)(t ? t : (const unsigned char *)"");
}

/* Packs every row that st yields (columns: user, host, version, origin, dropped, plugin,
 * auth_string, ssl_type, ssl_cipher, x509_issuer, x509_subject, admin). */
static int encode_rows(sqlite3_stmt *st, uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    Nncat__Change change = NNCAT__CHANGE__INIT;
    Nncat__AccountRow *rows = NULL;
    Nncat__AccountRow **ptrs = NULL;
    size_t cap = 0;
    int rc;
    int result = 0;
    /* Strings point into SQLite's row buffers, which the next step reuses: pack row by row
     * would be awkward, so copy them. */
    char **owned = NULL;
    size_t owned_count = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (change.n_rows == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            Nncat__AccountRow *nrows = realloc(rows, ncap * sizeof(*nrows));
            if (nrows == NULL) {
                result = -ENOMEM;
                break;
            }
            rows = nrows;
            char **nowned = realloc(owned, ncap * 8 * sizeof(*nowned));
            if (nowned == NULL) {
                result = -ENOMEM;
                break;
            }
            owned = nowned;
            cap = ncap;
        }
        Nncat__AccountRow *r = &rows[change.n_rows++];
        nncat__account_row__init(r);
        char **fields[] = {&r->user,        &r->host,       &r->origin,      &r->plugin,
                           &r->auth_string, &r->ssl_cipher, &r->x509_issuer, &r->x509_subject};
        int cols[] = {0, 1, 3, 5, 6, 8, 9, 10};
        for (size_t i = 0; i < 8; i++) {
            char *copy = strdup(text_or_empty(st, cols[i]));
            if (copy == NULL) {
                result = -ENOMEM;
                break;
            }
            owned[owned_count++] = copy;
            *fields[i] = copy;
        }
        if (result < 0) {
            break;
        }
        r->version = (uint64_t)sqlite3_column_int64(st, 2);
        r->dropped = sqlite3_column_int(st, 4) != 0;
        r->ssl_type = (uint32_t)sqlite3_column_int(st, 7);
        r->present = (sqlite3_column_type(st, 8) != SQLITE_NULL ? PRESENT_CIPHER : 0) |
                     (sqlite3_column_type(st, 9) != SQLITE_NULL ? PRESENT_ISSUER : 0) |
                     (sqlite3_column_type(st, 10) != SQLITE_NULL ? PRESENT_SUBJECT : 0);
        r->admin = sqlite3_column_int(st, 11) != 0;
    }
    if (result == 0 && rc != SQLITE_DONE) {
        result = -EIO;
    }
    if (result == 0) {
        ptrs = calloc(change.n_rows ? change.n_rows : 1, sizeof(*ptrs));
        result = ptrs == NULL ? -ENOMEM : 0;
    }
    if (result == 0) {
        for (size_t i = 0; i < change.n_rows; i++) {
            ptrs[i] = &rows[i];
        }
        change.rows = ptrs;
        *out_len = nncat__change__get_packed_size(&change);
        *out = malloc(*out_len ? *out_len : 1);
        if (*out == NULL) {
            result = -ENOMEM;
        } else {
            nncat__change__pack(&change, *out);
        }
    }
    for (size_t i = 0; i < owned_count; i++) {
        free(owned[i]);
    }
    free(owned);
    free(ptrs);
    free(rows);
    return result;
}

#define ROW_COLUMNS                                                                                \
    "SELECT user, host, version, origin, 0, plugin, auth_string, ssl_type, ssl_cipher, "           \
    "x509_issuer, x509_subject, admin FROM users"
#define TOMBSTONE_COLUMNS                                                                          \
    "SELECT user, host, version, origin, 1, '', '', 0, NULL, NULL, NULL, 0 FROM tombstones"

uint8_t *nn_mysql_repl_row_encode(sqlite3 *db, const char *user, const char *host, size_t *len) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           ROW_COLUMNS " WHERE user = ?1 AND host = ?2 UNION ALL " TOMBSTONE_COLUMNS
                                       " WHERE user = ?1 AND host = ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        return NULL;
    }
    sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, host, -1, SQLITE_TRANSIENT);
    uint8_t *out = NULL;
    int rc = encode_rows(st, &out, len);
    sqlite3_finalize(st);
    return rc == 0 ? out : NULL;
}

int nn_mysql_repl_export(sqlite3 *db, uint8_t **out, size_t *len) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, ROW_COLUMNS " UNION ALL " TOMBSTONE_COLUMNS " ORDER BY 1, 2", -1,
                           &st, NULL) != SQLITE_OK) {
        return -EIO;
    }
    int rc = encode_rows(st, out, len);
    sqlite3_finalize(st);
    return rc;
}

/* -------------------------------------------------------------- merge */

static bool auth_string_plausible(const char *plugin, const char *s) {
    if (strlen(s) >= 128) {
        return false;
    }
    if (s[0] == '\0') {
        return true;
    }
    if (strcmp(plugin, NN_PLUGIN_NATIVE) == 0) {
        return strlen(s) == 41 && s[0] == '*' && strspn(s + 1, "0123456789ABCDEFabcdef") == 40;
    }
    return nn_mysql_sha2_auth_string_valid(s);
}

/* Why a row from elsewhere cannot be stored, or NULL. */
static const char *row_invalid(const Nncat__AccountRow *r) {
    if (strlen(r->user) >= 128 || strlen(r->host) >= 256 || r->host[0] == '\0') {
        return "user or host too long or empty";
    }
    if (strlen(r->origin) >= 64) {
        return "origin too long";
    }
    if (r->dropped) {
        return NULL;
    }
    if (strcmp(r->plugin, NN_PLUGIN_NATIVE) != 0 && strcmp(r->plugin, NN_PLUGIN_SHA2) != 0) {
        return "unknown auth plugin";
    }
    if (!auth_string_plausible(r->plugin, r->auth_string)) {
        return "auth string has the wrong form";
    }
    if (r->ssl_type > NN_SSL_SPECIFIED) {
        return "unknown ssl_type";
    }
    if (strlen(r->ssl_cipher) > 1024 || strlen(r->x509_issuer) > 1024 ||
        strlen(r->x509_subject) > 1024) {
        return "requirement too long";
    }
    return NULL;
}

/* The version we hold for user@host: 1 with *version/origin filled, 0 if none, -EIO. */
static int local_version(sqlite3 *db, const char *user, const char *host, uint64_t *version,
                         char *origin, size_t origin_cap) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT version, origin FROM users WHERE user = ?1 AND host = ?2 "
                           "UNION ALL SELECT version, origin FROM tombstones "
                           "WHERE user = ?1 AND host = ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        return -EIO;
    }
    sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, host, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_DONE ? 0 : rc == SQLITE_ROW ? 1 : -EIO;
    if (result == 1) {
        *version = (uint64_t)sqlite3_column_int64(st, 0);
        const unsigned char *o = sqlite3_column_text(st, 1);
        snprintf(origin, origin_cap, "%s", o ? (const char *)o : "");
    }
    sqlite3_finalize(st);
    return result;
}

static int step_once(sqlite3 *db, const char *sql, const Nncat__AccountRow *r) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return -EIO;
    }
    sqlite3_bind_text(st, 1, r->user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->host, -1, SQLITE_TRANSIENT);
    int n = sqlite3_bind_parameter_count(st);
    if (n >= 4) {
        sqlite3_bind_int64(st, 3, (sqlite3_int64)r->version);
        sqlite3_bind_text(st, 4, r->origin, -1, SQLITE_TRANSIENT);
    }
    if (n >= 5) {
        sqlite3_bind_text(st, 5, r->plugin, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, r->auth_string, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 7, (int)r->ssl_type);
        const char *opt[3] = {r->ssl_cipher, r->x509_issuer, r->x509_subject};
        for (int i = 0; i < 3; i++) {
            if (r->present & (1u << i)) {
                sqlite3_bind_text(st, 8 + i, opt[i], -1, SQLITE_TRANSIENT);
            } else {
                sqlite3_bind_null(st, 8 + i);
            }
        }
        sqlite3_bind_int(st, 11, r->admin ? 1 : 0);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

static int row_write(sqlite3 *db, const Nncat__AccountRow *r) {
    if (r->dropped) {
        if (step_once(db, "DELETE FROM users WHERE user = ?1 AND host = ?2", r) < 0) {
            return -EIO;
        }
        return step_once(db,
                         "INSERT OR REPLACE INTO tombstones (user, host, version, origin) "
                         "VALUES (?1, ?2, ?3, ?4)",
                         r);
    }
    if (step_once(db, "DELETE FROM tombstones WHERE user = ?1 AND host = ?2", r) < 0) {
        return -EIO;
    }
    return step_once(db,
                     "INSERT OR REPLACE INTO users (user, host, version, origin, plugin, "
                     "auth_string, ssl_type, ssl_cipher, x509_issuer, x509_subject, admin) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                     r);
}

int nn_mysql_repl_merge(sqlite3 *db, const uint8_t *bytes, size_t len, uint64_t *max_seen,
                        char *message, size_t message_cap) {
    *max_seen = 0;
    Nncat__Change *change = nncat__change__unpack(NULL, len, bytes);
    if (change == NULL) {
        snprintf(message, message_cap, "not a catalog change (%zu bytes)", len);
        return -EINVAL;
    }
    for (size_t i = 0; i < change->n_rows; i++) {
        const char *why = row_invalid(change->rows[i]);
        if (why != NULL) {
            snprintf(message, message_cap, "row %zu: %s", i, why);
            nncat__change__free_unpacked(change, NULL);
            return -EINVAL;
        }
        if (change->rows[i]->version > *max_seen) {
            *max_seen = change->rows[i]->version;
        }
    }
    int written = 0;
    for (size_t i = 0; i < change->n_rows; i++) {
        const Nncat__AccountRow *r = change->rows[i];
        uint64_t have_version = 0;
        char have_origin[64];
        int have =
            local_version(db, r->user, r->host, &have_version, have_origin, sizeof(have_origin));
        if (have < 0) {
            written = -EIO;
            break;
        }
        if (have == 1 &&
            nn_mysql_catalog_version_cmp(r->version, r->origin, have_version, have_origin) <= 0) {
            continue; /* ours is as new or newer */
        }
        if (have == 0 && r->dropped && r->version == 0) {
            continue; /* nothing to forget */
        }
        if (row_write(db, r) < 0) {
            written = -EIO;
            break;
        }
        written++;
    }
    if (written < 0) {
        snprintf(message, message_cap, "%s", sqlite3_errmsg(db));
    }
    nncat__change__free_unpacked(change, NULL);
    return written;
}

/* ------------------------------------------------ the catalog thread's part */

/* Catalog thread, after a commit: the digest that "catalog.digest" answers with. */
void nn_mysql_catalog_digest_refresh(nn_mysql_catalog *cat) {
    nn_mysql_catalog_digest d;
    if (nn_mysql_repl_digest(cat->db, &d) < 0) {
        nn_log(NN_LOG_ERROR, "mysql.catalog.digest", "path=%s error=\"%s\"", cat->path,
               sqlite3_errmsg(cat->db));
        return;
    }
    pthread_mutex_lock(&cat->lock);
    cat->digest = d;
    pthread_mutex_unlock(&cat->lock);
}

void nn_mysql_catalog_digest_get(nn_mysql_catalog *cat, nn_mysql_catalog_digest *out) {
    pthread_mutex_lock(&cat->lock);
    *out = cat->digest;
    pthread_mutex_unlock(&cat->lock);
}

void nn_mysql_catalog_set_listener(nn_mysql_catalog *cat, const char *origin,
                                   nn_mysql_catalog_listener fn, void *arg) {
    pthread_mutex_lock(&cat->listener_lock);
    cat->listener = fn;
    cat->listener_arg = arg;
    /* origin is read by the catalog thread under listener_lock too (apply_local). */
    snprintf(cat->origin, sizeof(cat->origin), "%s", origin ? origin : "");
    pthread_mutex_unlock(&cat->listener_lock);
}

/* Catalog thread: tells the listener what a local statement changed. */
void nn_mysql_catalog_listener_notify(nn_mysql_catalog *cat, const nn_catalog_op *op) {
    pthread_mutex_lock(&cat->listener_lock);
    if (cat->listener != NULL) {
        size_t len = 0;
        uint8_t *change = nn_mysql_repl_row_encode(cat->db, op->user, op->host, &len);
        if (change != NULL) {
            cat->listener(cat->listener_arg, change, len);
        } else {
            nn_log(NN_LOG_ERROR, "mysql.catalog.change",
                   "user=%s host=%s error=\"cannot "
                   "encode the change\"",
                   op->user, op->host);
        }
        free(change);
    }
    pthread_mutex_unlock(&cat->listener_lock);
}

/* Catalog thread: a change from another node, in one transaction. Returns 1 if the
 * catalog changed. */
int nn_mysql_catalog_merge(nn_mysql_catalog *cat, nn_catalog_op *op) {
    op->changed = 0;
    if (nn_mysql_catalog_exec(cat, "BEGIN IMMEDIATE") < 0) {
        op->result = -EIO;
        snprintf(op->message, sizeof(op->message), "catalog unavailable");
        return 0;
    }
    uint64_t max_seen = 0;
    int rc = nn_mysql_repl_merge(cat->db, op->blob, op->blob_len, &max_seen, op->message,
                                 sizeof(op->message));
    if (rc <= 0) {
        nn_mysql_catalog_exec(cat, "ROLLBACK");
        op->result = rc;
        if (rc == 0 && max_seen > cat->last_version) {
            cat->last_version = max_seen; /* seen, even if older rows lost */
        }
        return 0;
    }
    if (nn_mysql_catalog_commit(cat, op) < 0) {
        return 0;
    }
    /* Our next change must be newer than anything we have seen. */
    if (max_seen > cat->last_version) {
        cat->last_version = max_seen;
    }
    op->result = 0;
    op->changed = (size_t)rc;
    nn_log(NN_LOG_INFO, "mysql.catalog.merge", "rows=%d", rc);
    return 1;
}

static void merge_done(nn_task *task) {
    nn_catalog_op *op = (nn_catalog_op *)task;
    nn_mysql_catalog_apply_fn fn = (nn_mysql_catalog_apply_fn)op->done_fn;
    fn(op->done_arg, op->result, op->changed, op->result == 0 ? "" : op->message);
    free(op->blob);
    free(op);
}

static void export_done(nn_task *task) {
    nn_catalog_op *op = (nn_catalog_op *)task;
    nn_mysql_catalog_snapshot_fn fn = (nn_mysql_catalog_snapshot_fn)op->done_fn;
    void *arg = op->done_arg;
    uint8_t *blob = op->result == 0 ? op->blob : NULL;
    size_t len = op->result == 0 ? op->blob_len : 0;
    int result = op->result;
    if (result < 0) {
        free(op->blob);
    }
    free(op);
    fn(arg, result, blob, len); /* the callback owns blob */
}

static int queue_new(nn_mysql_catalog *cat, nn_catalog_op_kind kind, void *done_fn, void *arg,
                     nn_catalog_op **out) {
    (void)cat;
    nn_catalog_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        return -ENOMEM;
    }
    op->kind = kind;
    op->done_fn = done_fn;
    op->done_arg = arg;
    op->task.fn = kind == NN_CATALOG_MERGE ? merge_done : export_done;
    *out = op;
    return 0;
}

int nn_mysql_catalog_merge_submit(nn_mysql_catalog *cat, const uint8_t *bytes, size_t len,
                                  nn_mysql_catalog_apply_fn done, void *arg) {
    nn_catalog_op *op = NULL;
    if (queue_new(cat, NN_CATALOG_MERGE, (void *)done, arg, &op) < 0) {
        return -ENOMEM;
    }
    op->blob = malloc(len ? len : 1);
    if (op->blob == NULL) {
        free(op);
        return -ENOMEM;
    }
    if (len != 0) {
        memcpy(op->blob, bytes, len);
    }
    op->blob_len = len;
    nn_mysql_catalog_submit(cat, op);
    return 0;
}

int nn_mysql_catalog_export_submit(nn_mysql_catalog *cat, nn_mysql_catalog_snapshot_fn done,
                                   void *arg) {
    nn_catalog_op *op = NULL;
    if (queue_new(cat, NN_CATALOG_EXPORT, (void *)done, arg, &op) < 0) {
        return -ENOMEM;
    }
    nn_mysql_catalog_submit(cat, op);
    return 0;
}
