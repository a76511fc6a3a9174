/* minidb: a small replicated SQL engine on nodenet's public API.
 *
 * Threads (the rule nodenet gives: nothing blocks a worker):
 *   - nodenet's workers run the MySQL handler (session.c), the RPC service and the call
 *     completions (engine.c). They never touch SQLite: they copy what they were given into
 *     a job and push it to the engine thread.
 *   - one engine thread per node owns the only SQLite connection. It runs every statement,
 *     reads results in batches, appends to the statement log, and answers back on the
 *     session's worker with nn_mysql_session_run(). It never blocks on the network either:
 *     replication and catch-up calls are asynchronous and their completions come back as
 *     jobs or as answers posted to the session.
 *
 * Replication: one node is the writer: among the live nodes, the one that has run longest
 * (a node that comes back does not take over). Every write is translated once by the node
 * that took it; a node that is not the writer forwards it (minidb.Replica.Forward, the
 * parameters of a prepared statement inlined). The writer applies it together with a row of
 * the statement log (seq, origin, sql) in one SQLite transaction, then sends the entry to
 * every live peer (minidb.Replica.Apply). The client's OK is sent when every peer that was
 * ready has applied it. A peer applies seq N only after N-1; a node that was down asks its
 * peers for the entries after its last seq (minidb.Replica.Fetch) whenever a channel to one
 * becomes ready, and takes no write before it has. A writer skips a peer whose channel is
 * not ready yet, so a node that is not the writer also fetches from it once a second.
 *
 * Limits, on purpose (an example, not a database): no consensus, so two nodes that each
 * believe they are the writer (a partition) can both take seq N, and a peer then refuses the
 * second one (the client gets an error, the log of the writer that lost is not repaired);
 * a write the writer applied but a peer did not confirm is reported to the client as an
 * error, though it stays; statements must be deterministic (no RANDOM(), no CURRENT_TIME);
 * databases are namespaces over one set of tables; no transactions across statements. */
#ifndef MINIDB_H
#define MINIDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nodenet/mysql.h>
#include <nodenet/nodenet.h>

typedef struct minidb minidb;

/* engine.c */
/* Opens (creates) <data_dir>/minidb.sqlite, registers the Replica service on node and starts
 * the engine thread. Before nn_node_start(). NULL with a message on stderr on failure. */
minidb *minidb_new(nn_node *node, const char *data_dir);
/* After nn_node_stop(): stops the engine thread and closes SQLite. */
void minidb_free(minidb *mdb);
/* The event subscriber (a channel became ready: catch up from that peer). */
void minidb_on_event(const nn_event *event, void *arg);

/* What a statement is, from its first words (translate.c). */
typedef enum minidb_kind {
    MINIDB_EMPTY, /* nothing but comments (mysqldump's version comments): OK */
    MINIDB_READ,  /* SELECT ... FROM a table, SHOW TABLES, SHOW DATABASES */
    MINIDB_WRITE, /* INSERT, UPDATE, DELETE, REPLACE, CREATE/DROP/ALTER TABLE ... */
    MINIDB_ADMIN, /* everything else: nodenet's administrative handler answers */
} minidb_kind;
minidb_kind minidb_classify(const char *sql, size_t len);

/* MySQL text to SQLite text (translate.c): backticks, MySQL strings, version comments, table
 * options, AUTO_INCREMENT, inline KEYs, CREATE/DROP DATABASE, db.table qualifiers (a
 * database is a namespace only: is_database says which names are databases). Returns a
 * malloc'd NUL-terminated string, NULL when out of memory. */
char *minidb_translate(const char *sql, size_t len,
                       bool (*is_database)(void *arg, const char *name), void *arg);

/* session.c: the engine face. */
extern const nn_mysql_handler minidb_mysql_handler;

/* Engine jobs the session side submits (engine.c). Each takes what it is given (sql and
 * params are copied) and answers the session exactly once. */
void minidb_submit_query(minidb *mdb, nn_mysql_session *ses, const char *sql, size_t len,
                         minidb_kind kind);
void minidb_submit_prepare(minidb *mdb, nn_mysql_session *ses, nn_mysql_stmt *stmt, const char *sql,
                           size_t len, minidb_kind kind);
void minidb_submit_execute(minidb *mdb, nn_mysql_session *ses, const char *sql, size_t len,
                           minidb_kind kind, const nn_mysql_value *params, uint32_t count);

/* What the engine hangs on a prepared statement it runs itself. */
typedef struct minidb_stmt {
    minidb_kind kind;
    size_t len;
    char sql[]; /* the client's SQL, translated again at each execute */
} minidb_stmt;

#endif
