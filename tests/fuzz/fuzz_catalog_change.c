/* Fuzz target: a catalog change from another node (nncat.Change bytes, mysql/
 * catalog_repl.c), merged into an in-memory catalog and rolled back. Every input must end
 * in rows written or a clean -EINVAL, never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mysql/mysql_internal.h"

static sqlite3 *db;

static sqlite3 *db_get(void) {
    if (db != NULL) {
        return db;
    }
    nn_err err;
    nn_err_clear(&err);
    /* The users table as catalog.c makes it; the replication columns come from the code
     * under test. */
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "CREATE TABLE users (user TEXT NOT NULL, host TEXT NOT NULL, plugin TEXT "
                     "NOT NULL, auth_string TEXT NOT NULL, ssl_type INTEGER NOT NULL DEFAULT 0,"
                     " ssl_cipher TEXT, x509_issuer TEXT, x509_subject TEXT, admin INTEGER NOT "
                     "NULL DEFAULT 0, PRIMARY KEY (user, host))",
                     NULL, NULL, NULL) != SQLITE_OK ||
        nn_mysql_repl_schema(db, &err) < 0) {
        fprintf(stderr, "fuzz_catalog_change: cannot make the catalog\n");
        abort();
    }
    return db;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sqlite3 *d = db_get();
    sqlite3_exec(d, "BEGIN", NULL, NULL, NULL);
    uint64_t max_seen = 0;
    char message[256];
    int rc = nn_mysql_repl_merge(d, data, size, &max_seen, message, sizeof(message));
    if (rc >= 0) {
        /* What was merged must export and digest cleanly. */
        uint8_t *out = NULL;
        size_t len = 0;
        if (nn_mysql_repl_export(d, &out, &len) != 0) {
            abort();
        }
        free(out);
        nn_mysql_catalog_digest digest;
        if (nn_mysql_repl_digest(d, &digest) != 0) {
            abort();
        }
    }
    sqlite3_exec(d, "ROLLBACK", NULL, NULL, NULL);
    return 0;
}
