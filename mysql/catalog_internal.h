/* mysql/catalog_internal.h: private to the catalog's files (catalog.c, catalog_repl.c). */
#ifndef NODENET_MYSQL_CATALOG_INTERNAL_H
#define NODENET_MYSQL_CATALOG_INTERNAL_H

#include "mysql/mysql_internal.h"

struct nn_mysql_catalog {
    sqlite3 *db;
    char path[600];
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* the op queue and `current`; never taken on a login */
    pthread_cond_t cond;
    nn_catalog_op *head;
    nn_catalog_op *tail;
    bool stopping;
    nn_mysql_users *current;
    /* Bumped with every published change: a worker whose view is older (its update task
     * not run yet) takes the current one at once, so a statement's acknowledgement is
     * never followed by a login that misses it. */
    atomic_uint_fast64_t generation;
    /* One slot per worker loop, each written only on its loop (or under lock on the first
     * use from that loop). */
    _Atomic(nn_mysql_users **) loop_users;
    uint32_t loop_count;
    nn_server *net;
    /* Replication (see mysql.h): the clock, written on the catalog thread only; the digest
     * of what is committed, under lock; the listener, called under listener_lock so that
     * removing it waits for a call in progress. */
    uint64_t last_version;
    nn_mysql_catalog_digest digest;
    pthread_mutex_t listener_lock;
    char origin[64];
    nn_mysql_catalog_listener listener;
    void *listener_arg;
};

/* Runs sql; logs and returns -EIO on failure. Catalog thread (or open). */
int nn_mysql_catalog_exec(nn_mysql_catalog *cat, const char *sql);
/* Commits the open transaction; on failure rolls back, fills op's result and message and
 * returns -EIO. A statement is acknowledged only after this returns 0. */
int nn_mysql_catalog_commit(nn_mysql_catalog *cat, nn_catalog_op *op);
/* Catalog thread, after a commit: recomputes the digest "catalog.digest" answers with. */
void nn_mysql_catalog_digest_refresh(nn_mysql_catalog *cat);
/* Catalog thread: tells the listener what the local statement op changed. */
void nn_mysql_catalog_listener_notify(nn_mysql_catalog *cat, const nn_catalog_op *op);
/* Catalog thread: merges a change from another node in one transaction (op->blob).
 * Returns 1 if the catalog changed. */
int nn_mysql_catalog_merge(nn_mysql_catalog *cat, nn_catalog_op *op);

#endif
