/* mysql/mysql.h: the one face of mysql/, nodenet's MySQL protocol server.
 *
 * Protocol 4.1 (handshake v10) over net/'s streams, with TLS started through security/
 * after an SSLRequest; auth with caching_sha2_password and mysql_native_password; each
 * account's SSL requirement checked against the session's TLS facts; a durable user
 * catalog in SQLite at <data_dir>/users.db; and a handler interface through which a
 * database engine receives the SQL. nodenet's own administrative handler (user
 * management, SHOW STATUS/VARIABLES, SELECT of literals and @@variables, what standard
 * clients send on connect) is the default handler and can be delegated to.
 *
 * Threads: the server object is made and freed on any one thread. The stream callbacks
 * it installs run on net/'s workers; catalog writes run on a dedicated catalog thread
 * and logins read an in-memory snapshot (no SQLite, no lock, on a worker).
 *
 * Auth: caching_sha2_password (the default for new accounts; fast path from a per-node
 * cache filled by a successful full auth; full auth takes the cleartext password inside TLS,
 * or without TLS through the RSA key exchange with a key made at server start) and
 * mysql_native_password, with auth switch between them. Stored auth strings are never the
 * password: "*<hex SHA1(SHA1(pw))>" for native, "$P$<iterations>$<salt>$<PBKDF2-SHA256>"
 * for caching_sha2_password. After the password, the account's SSL requirement is checked
 * against the session's TLS facts (security/'s nn_ssl_require_check); any failure is
 * MySQL's error 1045 to the client, the real reason in the log.
 *
 * User management privilege: root, or an account that received
 * `GRANT CREATE USER ON *.* TO 'u'@'h'` (REVOKE CREATE USER ON *.* FROM ... takes it back),
 * may CREATE/ALTER/DROP USER, GRANT/REVOKE and SHOW CREATE USER for other accounts.
 */
#ifndef NODENET_MYSQL_H
#define NODENET_MYSQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"
#include "security/security.h"

typedef struct nn_mysql_config {
    const char *data_dir;          /* holds users.db; created if missing */
    bool tls;                      /* advertise CLIENT_SSL (only if sec != NULL) */
    bool require_secure_transport; /* refuse plaintext logins (error 3159) */
    uint32_t max_allowed_packet;   /* largest client packet after reassembly; 0 = 64 MiB */
    uint64_t handshake_timeout_ms; /* greeting to end of auth; 0 = 10 s */
    uint64_t idle_timeout_ms;      /* between commands; 0 = 8 h */
    const char *server_version;    /* NULL = "8.0.36-nodenet" */
} nn_mysql_config;

typedef struct nn_mysql_server nn_mysql_server;

/* Opens (creating if needed) <data_dir>/users.db and starts the catalog thread. On an
 * empty catalog, creates root@'%' (caching_sha2_password, REQUIRE NONE, may manage users)
 * with the password from the environment variable NODENET_ROOT_PASSWORD, or a random one
 * written once to the log. sec is borrowed and must outlive the server; NULL = TLS is
 * never offered. Returns NULL with err filled on failure. */
nn_mysql_server *nn_mysql_server_new(const nn_mysql_config *cfg, nn_security *sec, nn_err *err);

/* Fills out (what nn_server_listen() takes) with the server's stream handler. host is
 * borrowed into out. Returns 0. */
int nn_mysql_server_listener(nn_mysql_server *srv, const char *host, uint16_t port,
                             nn_listener_config *out);

/* Any thread. Takes tls, require_secure_transport, max_allowed_packet and the timeouts
 * from cfg for connections accepted from now on; open sessions keep what they
 * negotiated. data_dir and server_version cannot change (ignored). Returns 0. */
int nn_mysql_server_reconfigure(nn_mysql_server *srv, const nn_mysql_config *cfg, nn_err *err);

/* After the nn_server that carries the listener has been waited for. */
void nn_mysql_server_free(nn_mysql_server *srv);

/* ------------------------------------------------------ the handler interface */

/* One authenticated client session. Borrowed by the handler for the duration of a call,
 * or, for a command answered later, until that answer is complete. */
typedef struct nn_mysql_session nn_mysql_session;

/* What a database engine implements. Every callback runs on the session's worker loop.
 * A query must get exactly one answer: nn_mysql_session_ok(), nn_mysql_session_error(),
 * or a result set (result_begin, columns, rows, result_end). The answer may be given
 * before query() returns or later, on the session's loop (nn_mysql_session_loop(); use
 * nn_loop_post() from other threads): until it is given, the session reads no further
 * command. If the client disconnects meanwhile, the session stays valid until the answer
 * is complete, and the answer is discarded. */
typedef struct nn_mysql_handler {
    /* COM_QUERY. sql is not NUL-terminated-guaranteed: use len. */
    void (*query)(void *arg, nn_mysql_session *ses, const char *sql, size_t len);
    /* COM_INIT_DB (optional; NULL = accept any name). Answer like query. */
    void (*init_db)(void *arg, nn_mysql_session *ses, const char *db, size_t len);
    /* The session ended (optional); no answer is pending. */
    void (*session_end)(void *arg, nn_mysql_session *ses);
} nn_mysql_handler;

/* Installs an engine's handler before the listener serves; h and arg are borrowed.
 * NULL restores the administrative handler. */
void nn_mysql_server_set_handler(nn_mysql_server *srv, const nn_mysql_handler *h, void *arg);

/* The administrative handler's query entry, for engines that pass it what they do not
 * handle themselves (user management, SHOW STATUS, SELECT @@version_comment ...). */
void nn_mysql_admin_query(nn_mysql_session *ses, const char *sql, size_t len);

/* Answers. Each returns 0, or -EPROTO if called out of order (the answer is then an
 * error for the client). message/info may be NULL. */
int nn_mysql_session_ok(nn_mysql_session *ses, uint64_t affected_rows, uint64_t last_insert_id,
                        const char *info);
int nn_mysql_session_error(nn_mysql_session *ses, uint16_t code, const char *sqlstate,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Column types the text protocol needs (MySQL's MYSQL_TYPE_* values). */
typedef enum nn_mysql_type {
    NN_MYSQL_TYPE_LONGLONG = 0x08,
    NN_MYSQL_TYPE_DOUBLE = 0x05,
    NN_MYSQL_TYPE_VAR_STRING = 0xfd,
} nn_mysql_type;

int nn_mysql_session_result_begin(nn_mysql_session *ses, uint32_t column_count);
/* Once per column, in order, after result_begin. */
int nn_mysql_session_result_column(nn_mysql_session *ses, const char *name, nn_mysql_type type);
/* One row: column_count values; values[i] == NULL is SQL NULL; lens may be NULL
 * (then values are NUL-terminated). */
int nn_mysql_session_result_row(nn_mysql_session *ses, const char *const *values,
                                const size_t *lens);
int nn_mysql_session_result_end(nn_mysql_session *ses);

/* Facts of the session, for handlers. Strings are borrowed for the session's life. */
const char *nn_mysql_session_user(const nn_mysql_session *ses);         /* login name */
const char *nn_mysql_session_host(const nn_mysql_session *ses);         /* peer address */
const char *nn_mysql_session_account_host(const nn_mysql_session *ses); /* matched host */
const char *nn_mysql_session_database(const nn_mysql_session *ses);     /* "" = none */
uint64_t nn_mysql_session_id(const nn_mysql_session *ses);
const nn_tls_facts *nn_mysql_session_tls(const nn_mysql_session *ses);
nn_loop *nn_mysql_session_loop(const nn_mysql_session *ses);
/* Per-session slot for the engine. */
void nn_mysql_session_set_user_data(nn_mysql_session *ses, void *data);
void *nn_mysql_session_user_data(const nn_mysql_session *ses);

/* ------------------------------------------------- the cluster's user catalog
 *
 * The catalog is shared by the cluster: mysql/ says what changed and applies what other
 * nodes changed; node/ carries the bytes over the mesh. Bytes are an opaque serialized
 * change (proto/catalog.proto, nncat.Change): a set of account rows.
 *
 * Conflict rule, per (user, host) row, last writer wins:
 *   - every row and every tombstone carries a version and an origin (the node name that
 *     made the change). The version is a hybrid logical clock: a local change gets
 *     max(wall_ms << 16, last + 1), where last is the largest version this node has made
 *     or applied; so a change made after seeing another is always newer, whatever the
 *     clocks say, and the low 16 bits count changes within one millisecond.
 *   - a row from elsewhere replaces ours when (version, origin) is greater: version first,
 *     then origin by strcmp. Otherwise it is ignored (equal = already have it).
 *   - DROP USER leaves a tombstone with its version, so a late, older CREATE or ALTER of
 *     the same account does not bring it back; a newer CREATE does. Tombstones are kept
 *     (they are a few bytes).
 *   - the root account that bootstrap makes has version 0 and origin "": each node keeps
 *     its own until someone changes root, then the change replicates like any other.
 *   - a row is replicated whole (state, not statement): two concurrent ALTERs of different
 *     fields of one account keep the newer row entirely.
 * Applied changes go through the catalog thread in one SQLite transaction each, like local
 * statements: a login sees the catalog before or after a change, never half of it. Stored
 * auth strings (hashes, never passwords) travel in the change: use rpc_tls to hide them. */

/* Called on the catalog thread after a local statement's change has committed (and
 * before the statement is acknowledged), with the change's bytes (borrowed for the call).
 * Not called for changes applied with nn_mysql_server_catalog_apply (no echo). Must not
 * block; may call nn_rpc_call() and the like. */
typedef void (*nn_mysql_catalog_listener)(void *arg, const uint8_t *change, size_t len);

/* Any thread. Sets the listener (NULL removes it) and origin, this node's name stamped on
 * local changes (copied; at most 63 bytes; NULL = ""). When it returns, no call of a
 * previous listener is running or will start. */
void nn_mysql_server_set_catalog_listener(nn_mysql_server *srv, const char *origin,
                                          nn_mysql_catalog_listener fn, void *arg);

/* The outcome of an apply: result 0 (changed = rows that won and were written), or
 * -EINVAL (bad bytes: nothing applied), -EIO (storage; nothing applied). error is "" on
 * success. Runs on the catalog thread; every queued apply completes before
 * nn_mysql_server_free() returns. */
typedef void (*nn_mysql_catalog_apply_fn)(void *arg, int result, size_t changed, const char *error);

/* Any thread, never blocks: queues a change (or a snapshot) from another node; it is
 * merged row by row with the rule above, in one transaction, and done runs once it has
 * committed (or failed). bytes are copied. Returns 0, or -EINVAL/-ENOMEM (done not run). */
int nn_mysql_server_catalog_apply(nn_mysql_server *srv, const uint8_t *bytes, size_t len,
                                  nn_mysql_catalog_apply_fn done, void *arg, nn_err *err);

/* A full snapshot (every row and tombstone) for a node that joins or comes back: bytes
 * (malloc'd, the callback owns them: free()) in the format apply takes, or NULL with
 * result -EIO/-ENOMEM. Runs on the catalog thread, like apply's callback. */
typedef void (*nn_mysql_catalog_snapshot_fn)(void *arg, int result, uint8_t *bytes, size_t len);

/* Any thread, never blocks: queues the export; done runs once. Returns 0 or -ENOMEM
 * (done not run). */
int nn_mysql_server_catalog_snapshot(nn_mysql_server *srv, nn_mysql_catalog_snapshot_fn done,
                                     void *arg);

/* Any thread, never blocks (a short lock, not SQLite): the digest of the committed
 * catalog, SHA-256 over every (user, host, version, origin, dropped) in order, and the
 * largest version. Two nodes with equal digests hold the same rows. */
typedef struct nn_mysql_catalog_digest {
    uint8_t sha256[32];
    uint64_t max_version;
    uint64_t rows; /* accounts + tombstones */
} nn_mysql_catalog_digest;
void nn_mysql_server_catalog_digest(nn_mysql_server *srv, nn_mysql_catalog_digest *out);

/* The digest as nncat.Digest bytes (what "catalog.digest" answers), and back. encode
 * returns a malloc'd buffer or NULL; decode returns 0 or -EINVAL. */
uint8_t *nn_mysql_catalog_digest_encode(const nn_mysql_catalog_digest *d, size_t *len);
int nn_mysql_catalog_digest_decode(const uint8_t *bytes, size_t len, nn_mysql_catalog_digest *out);

/* The ordering of versions, for tests and for tools: >0 when (va, oa) is newer than
 * (vb, ob), 0 when equal, <0 when older. */
int nn_mysql_catalog_version_cmp(uint64_t va, const char *oa, uint64_t vb, const char *ob);
/* The next local version after last at wall clock wall_ms. */
uint64_t nn_mysql_catalog_version_next(uint64_t last, uint64_t wall_ms);

/* ------------------------------------------------------------ login counters */

/* Why a login was denied, as counted (the log line has the full reason). */
typedef enum nn_mysql_deny_reason {
    NN_MYSQL_DENY_NO_ACCOUNT = 0,
    NN_MYSQL_DENY_PASSWORD = 1,           /* wrong or empty password, bad auth response */
    NN_MYSQL_DENY_SSL_REQUIREMENT = 2,    /* the account's REQUIRE clause was not met */
    NN_MYSQL_DENY_INSECURE_TRANSPORT = 3, /* a cleartext password without TLS */
    NN_MYSQL_DENY_OTHER = 4,
} nn_mysql_deny_reason;
#define NN_MYSQL_DENY_COUNT 5
/* The REQUIRE clause a denied login failed: SSL (no TLS), X509 (no verified client
 * certificate), or the first of CIPHER, ISSUER, SUBJECT that differed. */
typedef enum nn_mysql_require_clause {
    NN_MYSQL_REQUIRE_SSL = 0,
    NN_MYSQL_REQUIRE_X509 = 1,
    NN_MYSQL_REQUIRE_CIPHER = 2,
    NN_MYSQL_REQUIRE_ISSUER = 3,
    NN_MYSQL_REQUIRE_SUBJECT = 4,
} nn_mysql_require_clause;
#define NN_MYSQL_REQUIRE_COUNT 5

typedef struct nn_mysql_stats {
    uint64_t logins_ok;
    uint64_t logins_denied[NN_MYSQL_DENY_COUNT];
    uint64_t denied_by_require[NN_MYSQL_REQUIRE_COUNT];
    uint64_t connections_accepted; /* MySQL connections accepted */
    uint64_t connections_open;     /* open now */
} nn_mysql_stats;

/* Any thread, never blocks: the counters since the server was made (relaxed reads). */
void nn_mysql_server_stats_get(nn_mysql_server *srv, nn_mysql_stats *out);
/* "no_account", "password", "ssl_requirement", "insecure_transport", "other". */
const char *nn_mysql_deny_reason_name(nn_mysql_deny_reason reason);
/* "ssl", "x509", "cipher", "issuer", "subject". */
const char *nn_mysql_require_clause_name(nn_mysql_require_clause clause);

#endif
