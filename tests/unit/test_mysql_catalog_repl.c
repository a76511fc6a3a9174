/* tests/unit/test_mysql_catalog_repl.c: the replicated user catalog's version and merge
 * rule (mysql.h), on real catalogs in temp dirs, with no network: changes are carried
 * between two catalogs by hand. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>

#include "mysql/mysql_internal.h"
#include "proto/catalog.pb-c.h"

/* ------------------------------------------------------- version rule */

static void version_orders_by_clock_then_origin(void) {
    CU_ASSERT_TRUE(nn_mysql_catalog_version_cmp(2, "a", 1, "z") > 0);
    CU_ASSERT_TRUE(nn_mysql_catalog_version_cmp(1, "z", 2, "a") < 0);
    CU_ASSERT_TRUE(nn_mysql_catalog_version_cmp(5, "n2", 5, "n1") > 0);
    CU_ASSERT_TRUE(nn_mysql_catalog_version_cmp(5, "n1", 5, "n2") < 0);
    CU_ASSERT_EQUAL(nn_mysql_catalog_version_cmp(5, "n1", 5, "n1"), 0);
    CU_ASSERT_EQUAL(nn_mysql_catalog_version_cmp(0, NULL, 0, ""), 0);
}

static void version_next_is_a_hybrid_clock(void) {
    /* The wall clock ahead of everything seen: its milliseconds, counter 0. */
    CU_ASSERT_EQUAL(nn_mysql_catalog_version_next(0, 1000), UINT64_C(1000) << 16);
    /* Same millisecond again: the counter moves. */
    uint64_t v = nn_mysql_catalog_version_next(UINT64_C(1000) << 16, 1000);
    CU_ASSERT_EQUAL(v, (UINT64_C(1000) << 16) + 1);
    /* A clock behind what was seen (a peer's fast clock): still newer than it. */
    uint64_t seen = (UINT64_C(5000) << 16) | 7;
    CU_ASSERT_EQUAL(nn_mysql_catalog_version_next(seen, 10), seen + 1);
    CU_ASSERT_TRUE(nn_mysql_catalog_version_next(seen, 6000) > seen);
}

/* ------------------------------------------------------ catalog harness */

typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int result;
    size_t changed;
    char error[512];
    uint8_t *bytes;
    size_t len;
} waiter;

static void waiter_init(waiter *w) {
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
}

static void waiter_signal(waiter *w) {
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Bounded: a catalog that never answers fails the test instead of hanging it. */
static bool waiter_wait(waiter *w) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 20;
    pthread_mutex_lock(&w->lock);
    while (!w->done) {
        if (pthread_cond_timedwait(&w->cond, &w->lock, &dl) != 0) {
            break;
        }
    }
    bool done = w->done;
    w->done = false;
    pthread_mutex_unlock(&w->lock);
    return done;
}

typedef struct node {
    nn_mysql_catalog *cat;
    char dir[64];
    waiter w;
    /* the last change the listener saw */
    uint8_t *change;
    size_t change_len;
    unsigned changes;
} node;

static void on_change(void *arg, const uint8_t *change, size_t len) {
    node *n = arg;
    free(n->change);
    n->change = malloc(len ? len : 1);
    memcpy(n->change, change, len);
    n->change_len = len;
    n->changes++;
}

static void node_open(node *n, const char *origin) {
    memset(n, 0, sizeof(*n));
    snprintf(n->dir, sizeof(n->dir), "/tmp/nn-cat-unit.XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(n->dir));
    waiter_init(&n->w);
    nn_err err;
    nn_err_clear(&err);
    n->cat = nn_mysql_catalog_open(n->dir, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n->cat);
    nn_mysql_catalog_set_listener(n->cat, origin, on_change, n);
}

static void node_close(node *n, bool remove) {
    nn_mysql_catalog_set_listener(n->cat, NULL, NULL, NULL);
    nn_mysql_catalog_close(n->cat);
    n->cat = NULL;
    free(n->change);
    n->change = NULL;
    if (remove) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", n->dir);
        CU_ASSERT_EQUAL(system(cmd), 0);
    }
}

static void local_done(nn_task *t) {
    nn_catalog_op *op = (nn_catalog_op *)t;
    waiter_signal(op->arg);
}

/* A local statement, as the admin handler submits it (completing on the catalog thread). */
static int local_op(node *n, nn_catalog_op_kind kind, const char *user, const char *password,
                    const char *subject) {
    nn_catalog_op *op = calloc(1, sizeof(*op));
    op->task.fn = local_done;
    op->arg = &n->w;
    op->kind = kind;
    snprintf(op->user, sizeof(op->user), "%s", user);
    snprintf(op->host, sizeof(op->host), "%%");
    if (password != NULL) {
        op->set_auth = true;
        op->hash_password = true;
        snprintf(op->password, sizeof(op->password), "%s", password);
    }
    if (kind == NN_CATALOG_CREATE) {
        op->set_auth = true;
        op->set_require = true;
        snprintf(op->plugin, sizeof(op->plugin), NN_PLUGIN_SHA2);
        if (subject != NULL) {
            op->require.type = NN_SSL_SPECIFIED;
            op->require.subject = strdup(subject);
        }
    }
    nn_mysql_catalog_submit(n->cat, op);
    CU_ASSERT_TRUE_FATAL(waiter_wait(&n->w));
    int rc = op->result;
    nn_ssl_require_clear(&op->require);
    free(op);
    return rc;
}

static void apply_done(void *arg, int result, size_t changed, const char *error) {
    waiter *w = arg;
    w->result = result;
    w->changed = changed;
    snprintf(w->error, sizeof(w->error), "%s", error);
    waiter_signal(w);
}

/* Applies bytes to n; returns the result, *changed the rows written. */
static int apply(node *n, const uint8_t *bytes, size_t len, size_t *changed) {
    CU_ASSERT_EQUAL_FATAL(nn_mysql_catalog_merge_submit(n->cat, bytes, len, apply_done, &n->w), 0);
    CU_ASSERT_TRUE_FATAL(waiter_wait(&n->w));
    if (changed != NULL) {
        *changed = n->w.changed;
    }
    return n->w.result;
}

static void snapshot_done(void *arg, int result, uint8_t *bytes, size_t len) {
    waiter *w = arg;
    w->result = result;
    w->bytes = bytes;
    w->len = len;
    waiter_signal(w);
}

static uint8_t *snapshot(node *n, size_t *len) {
    CU_ASSERT_EQUAL_FATAL(nn_mysql_catalog_export_submit(n->cat, snapshot_done, &n->w), 0);
    CU_ASSERT_TRUE_FATAL(waiter_wait(&n->w));
    CU_ASSERT_EQUAL(n->w.result, 0);
    *len = n->w.len;
    return n->w.bytes;
}

static bool has_user(node *n, const char *user) {
    nn_mysql_users *u = nn_mysql_catalog_users_get(n->cat);
    bool found = nn_mysql_users_find(u, user, "%") != NULL;
    nn_mysql_users_unref(u);
    return found;
}

static bool password_is(node *n, const char *user, const char *pw) {
    nn_mysql_users *u = nn_mysql_catalog_users_get(n->cat);
    const nn_mysql_account *a = nn_mysql_users_find(u, user, "%");
    bool ok = a != NULL && nn_mysql_sha2_check(a->auth_string, pw, strlen(pw));
    nn_mysql_users_unref(u);
    return ok;
}

static bool digests_equal(node *a, node *b) {
    nn_mysql_catalog_digest da;
    nn_mysql_catalog_digest db;
    nn_mysql_catalog_digest_get(a->cat, &da);
    nn_mysql_catalog_digest_get(b->cat, &db);
    return memcmp(da.sha256, db.sha256, sizeof(da.sha256)) == 0 && da.rows == db.rows &&
           da.max_version == db.max_version;
}

static uint8_t *copy_change(node *n, size_t *len) {
    CU_ASSERT_PTR_NOT_NULL_FATAL(n->change);
    uint8_t *c = malloc(n->change_len);
    memcpy(c, n->change, n->change_len);
    *len = n->change_len;
    return c;
}

/* ----------------------------------------------------------- merge rule */

static void change_reaches_the_other_catalog_and_drop_leaves_a_tombstone(void) {
    setenv("NODENET_ROOT_PASSWORD", "unit-root-pw", 1);
    node a;
    node b;
    node_open(&a, "n1");
    node_open(&b, "n2");
    /* Roots are each node's own (version 0, equal): the catalogs start equal. */
    CU_ASSERT_TRUE(digests_equal(&a, &b));

    CU_ASSERT_EQUAL(local_op(&a, NN_CATALOG_CREATE, "alice", "pw1", "/CN=alice"), 0);
    CU_ASSERT_EQUAL(a.changes, 1);
    size_t create_len = 0;
    uint8_t *create = copy_change(&a, &create_len);
    size_t changed = 0;
    CU_ASSERT_EQUAL(apply(&b, create, create_len, &changed), 0);
    CU_ASSERT_EQUAL(changed, 1);
    CU_ASSERT_EQUAL(b.changes, 0); /* an applied change is not echoed */
    CU_ASSERT_TRUE(has_user(&b, "alice"));
    CU_ASSERT_TRUE(password_is(&b, "alice", "pw1"));
    nn_mysql_users *u = nn_mysql_catalog_users_get(b.cat);
    const nn_mysql_account *acc = nn_mysql_users_find(u, "alice", "%");
    CU_ASSERT_PTR_NOT_NULL_FATAL(acc);
    CU_ASSERT_EQUAL(acc->require.type, NN_SSL_SPECIFIED);
    CU_ASSERT_STRING_EQUAL(acc->require.subject, "/CN=alice");
    CU_ASSERT_PTR_NULL(acc->require.issuer); /* not given stays not given */
    nn_mysql_users_unref(u);
    CU_ASSERT_TRUE(digests_equal(&a, &b));
    /* The same change again: nothing to do. */
    CU_ASSERT_EQUAL(apply(&b, create, create_len, &changed), 0);
    CU_ASSERT_EQUAL(changed, 0);

    /* ALTER on b (after seeing a's CREATE) wins on a. */
    CU_ASSERT_EQUAL(local_op(&b, NN_CATALOG_ALTER, "alice", "pw2", NULL), 0);
    size_t alter_len = 0;
    uint8_t *alter = copy_change(&b, &alter_len);
    CU_ASSERT_EQUAL(apply(&a, alter, alter_len, &changed), 0);
    CU_ASSERT_EQUAL(changed, 1);
    CU_ASSERT_TRUE(password_is(&a, "alice", "pw2"));

    /* DROP on b; the late CREATE does not bring alice back on either side. */
    CU_ASSERT_EQUAL(local_op(&b, NN_CATALOG_DROP, "alice", NULL, NULL), 0);
    size_t drop_len = 0;
    uint8_t *drop = copy_change(&b, &drop_len);
    CU_ASSERT_EQUAL(apply(&a, drop, drop_len, &changed), 0);
    CU_ASSERT_FALSE(has_user(&a, "alice"));
    CU_ASSERT_EQUAL(apply(&a, create, create_len, &changed), 0);
    CU_ASSERT_EQUAL(changed, 0);
    CU_ASSERT_FALSE(has_user(&a, "alice"));
    CU_ASSERT_EQUAL(apply(&b, alter, alter_len, &changed), 0);
    CU_ASSERT_FALSE(has_user(&b, "alice"));
    CU_ASSERT_TRUE(digests_equal(&a, &b));

    /* A newer CREATE after the DROP does. */
    CU_ASSERT_EQUAL(local_op(&a, NN_CATALOG_CREATE, "alice", "pw3", NULL), 0);
    size_t again_len = 0;
    uint8_t *again = copy_change(&a, &again_len);
    CU_ASSERT_EQUAL(apply(&b, again, again_len, &changed), 0);
    CU_ASSERT_EQUAL(changed, 1);
    CU_ASSERT_TRUE(password_is(&b, "alice", "pw3"));

    /* The tombstone survives a restart: reopen b, the old CREATE still loses... */
    CU_ASSERT_EQUAL(local_op(&b, NN_CATALOG_DROP, "alice", NULL, NULL), 0);
    node_close(&b, false);
    nn_err err;
    nn_err_clear(&err);
    b.cat = nn_mysql_catalog_open(b.dir, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b.cat);
    nn_mysql_catalog_set_listener(b.cat, "n2", on_change, &b);
    CU_ASSERT_EQUAL(apply(&b, again, again_len, &changed), 0);
    CU_ASSERT_EQUAL(changed, 0);
    CU_ASSERT_FALSE(has_user(&b, "alice"));
    /* ...and the clock survives too: a new change on b is newer than its DROP. */
    CU_ASSERT_EQUAL(local_op(&b, NN_CATALOG_CREATE, "bob", "pw", NULL), 0);

    /* A snapshot brings a node that missed everything to the same digest. */
    size_t snap_len = 0;
    uint8_t *snap = snapshot(&b, &snap_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(snap);
    node c;
    node_open(&c, "n3");
    CU_ASSERT_FALSE(digests_equal(&b, &c));
    CU_ASSERT_EQUAL(apply(&c, snap, snap_len, &changed), 0);
    CU_ASSERT_TRUE(changed >= 2); /* bob and alice's tombstone */
    CU_ASSERT_TRUE(digests_equal(&b, &c));
    CU_ASSERT_TRUE(has_user(&c, "bob"));
    CU_ASSERT_FALSE(has_user(&c, "alice"));
    /* The old CREATE loses on c as well: the tombstone came with the snapshot. */
    CU_ASSERT_EQUAL(apply(&c, create, create_len, &changed), 0);
    CU_ASSERT_FALSE(has_user(&c, "alice"));

    free(snap);
    free(create);
    free(alter);
    free(drop);
    free(again);
    node_close(&a, true);
    node_close(&b, true);
    node_close(&c, true);
}

/* Packs one hand-made row. */
static uint8_t *row_change(const char *user, uint64_t version, const char *origin,
                           const char *auth_string, size_t *len) {
    Nncat__AccountRow row = NNCAT__ACCOUNT_ROW__INIT;
    row.user = (char *)user;
    row.host = "%";
    row.version = version;
    row.origin = (char *)origin;
    row.plugin = NN_PLUGIN_NATIVE;
    row.auth_string = (char *)auth_string;
    Nncat__AccountRow *rows[1] = {&row};
    Nncat__Change change = NNCAT__CHANGE__INIT;
    change.n_rows = 1;
    change.rows = rows;
    *len = nncat__change__get_packed_size(&change);
    uint8_t *out = malloc(*len);
    nncat__change__pack(&change, out);
    return out;
}

static bool auth_is(node *n, const char *user, const char *auth_string) {
    nn_mysql_users *u = nn_mysql_catalog_users_get(n->cat);
    const nn_mysql_account *a = nn_mysql_users_find(u, user, "%");
    bool ok = a != NULL && strcmp(a->auth_string, auth_string) == 0;
    nn_mysql_users_unref(u);
    return ok;
}

static void concurrent_changes_converge_and_bad_bytes_are_refused(void) {
    setenv("NODENET_ROOT_PASSWORD", "unit-root-pw", 1);
    node a;
    node b;
    node_open(&a, "n1");
    node_open(&b, "n2");
    char pw_a[42];
    char pw_b[42];
    nn_mysql_native_auth_string("from-n1", 7, pw_a);
    nn_mysql_native_auth_string("from-n2", 7, pw_b);
    /* The same version from two origins, delivered in opposite orders: n2 wins on both. */
    uint64_t v = UINT64_C(1700000000000) << 16;
    size_t la = 0;
    size_t lb = 0;
    uint8_t *ca = row_change("carol", v, "n1", pw_a, &la);
    uint8_t *cb = row_change("carol", v, "n2", pw_b, &lb);
    CU_ASSERT_EQUAL(apply(&a, ca, la, NULL), 0);
    CU_ASSERT_EQUAL(apply(&a, cb, lb, NULL), 0);
    CU_ASSERT_EQUAL(apply(&b, cb, lb, NULL), 0);
    CU_ASSERT_EQUAL(apply(&b, ca, la, NULL), 0);
    CU_ASSERT_TRUE(auth_is(&a, "carol", pw_b));
    CU_ASSERT_TRUE(auth_is(&b, "carol", pw_b));
    CU_ASSERT_TRUE(digests_equal(&a, &b));

    /* A change from a fast clock (an hour ahead): the next local change is newer still. */
    uint64_t ahead = ((uint64_t)time(NULL) * 1000u + 3600u * 1000u) << 16;
    size_t lf = 0;
    uint8_t *cf = row_change("dave", ahead, "n2", pw_b, &lf);
    CU_ASSERT_EQUAL(apply(&a, cf, lf, NULL), 0);
    CU_ASSERT_EQUAL(local_op(&a, NN_CATALOG_ALTER, "dave", "newer", NULL), 0);
    char pw_newer[42]; /* ALTER keeps dave's plugin, mysql_native_password */
    nn_mysql_native_auth_string("newer", 5, pw_newer);
    CU_ASSERT_TRUE(auth_is(&a, "dave", pw_newer));
    size_t ln = 0;
    uint8_t *cn = copy_change(&a, &ln);
    CU_ASSERT_EQUAL(apply(&b, cf, lf, NULL), 0);
    CU_ASSERT_EQUAL(apply(&b, cn, ln, NULL), 0);
    CU_ASSERT_TRUE(auth_is(&b, "dave", pw_newer));

    /* Bad bytes: a clear error, nothing applied, the catalog keeps serving. */
    nn_mysql_catalog_digest before;
    nn_mysql_catalog_digest_get(b.cat, &before);
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0x01, 0x02};
    CU_ASSERT_EQUAL(apply(&b, junk, sizeof(junk), NULL), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.w.error, "not a catalog change"));
    size_t lbad = 0;
    uint8_t *bad = row_change("eve", v, "n1", "plaintext-password", &lbad);
    CU_ASSERT_EQUAL(apply(&b, bad, lbad, NULL), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(b.w.error, "auth string"));
    CU_ASSERT_FALSE(has_user(&b, "eve"));
    nn_mysql_catalog_digest after;
    nn_mysql_catalog_digest_get(b.cat, &after);
    CU_ASSERT_EQUAL(memcmp(&before, &after, sizeof(before)), 0);
    CU_ASSERT_EQUAL(apply(&b, NULL, 0, NULL), 0); /* an empty change is a no-op */

    /* Digest bytes round trip; short ones are refused. */
    size_t dl = 0;
    uint8_t *d = nn_mysql_catalog_digest_encode(&after, &dl);
    nn_mysql_catalog_digest back;
    CU_ASSERT_EQUAL(nn_mysql_catalog_digest_decode(d, dl, &back), 0);
    CU_ASSERT_EQUAL(memcmp(&back, &after, sizeof(back)), 0);
    CU_ASSERT_EQUAL(nn_mysql_catalog_digest_decode(junk, sizeof(junk), &back), -EINVAL);
    free(d);

    free(ca);
    free(cb);
    free(cf);
    free(cn);
    free(bad);
    node_close(&a, true);
    node_close(&b, true);
}

/* A users.db written before replication (no version columns, no tombstones): it opens, its
 * rows count as version 0, and the next change versions them. */
static void catalog_from_before_replication_is_upgraded(void) {
    char dir[] = "/tmp/nn-cat-unit.XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[300];
    snprintf(path, sizeof(path), "%s/users.db", dir);
    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
    char old_hash[42];
    nn_mysql_native_auth_string("old-pw", 6, old_hash);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE users (user TEXT NOT NULL, host TEXT NOT NULL, plugin TEXT NOT NULL,"
             " auth_string TEXT NOT NULL, ssl_type INTEGER NOT NULL DEFAULT 0, ssl_cipher TEXT,"
             " x509_issuer TEXT, x509_subject TEXT, admin INTEGER NOT NULL DEFAULT 0,"
             " PRIMARY KEY (user, host));"
             "INSERT INTO users VALUES ('olduser', '%%', '%s', '%s', 0, NULL, NULL, NULL, 1);",
             NN_PLUGIN_NATIVE, old_hash);
    CU_ASSERT_EQUAL_FATAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    node n;
    memset(&n, 0, sizeof(n));
    snprintf(n.dir, sizeof(n.dir), "%s", dir);
    waiter_init(&n.w);
    nn_err err;
    nn_err_clear(&err);
    n.cat = nn_mysql_catalog_open(dir, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n.cat);
    nn_mysql_catalog_set_listener(n.cat, "n1", on_change, &n);
    CU_ASSERT_TRUE(auth_is(&n, "olduser", old_hash));
    nn_mysql_catalog_digest d;
    nn_mysql_catalog_digest_get(n.cat, &d);
    CU_ASSERT_EQUAL(d.rows, 1); /* no second bootstrap: the catalog was not empty */
    CU_ASSERT_EQUAL(d.max_version, 0);
    CU_ASSERT_EQUAL(local_op(&n, NN_CATALOG_ALTER, "olduser", "new-pw", NULL), 0);
    nn_mysql_catalog_digest_get(n.cat, &d);
    CU_ASSERT_TRUE(d.max_version > 0);
    CU_ASSERT_EQUAL(n.changes, 1);
    node_close(&n, true);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    CU_pSuite s = CU_add_suite("mysql_catalog_repl", NULL, NULL);
    CU_add_test(s, "version_orders_by_clock_then_origin", version_orders_by_clock_then_origin);
    CU_add_test(s, "version_next_is_a_hybrid_clock", version_next_is_a_hybrid_clock);
    CU_add_test(s, "change_reaches_the_other_catalog_and_drop_leaves_a_tombstone",
                change_reaches_the_other_catalog_and_drop_leaves_a_tombstone);
    CU_add_test(s, "concurrent_changes_converge_and_bad_bytes_are_refused",
                concurrent_changes_converge_and_bad_bytes_are_refused);
    CU_add_test(s, "catalog_from_before_replication_is_upgraded",
                catalog_from_before_replication_is_upgraded);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}
