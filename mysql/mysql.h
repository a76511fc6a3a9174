/* mysql/mysql.h: the one face of mysql/, nodenet's MySQL protocol server.
 *
 * Protocol 4.1 (handshake v10) over net/'s streams, with TLS started through security/
 * after an SSLRequest; auth with caching_sha2_password and mysql_native_password; each
 * account's SSL requirement checked against the session's TLS facts; a durable user
 * catalog in SQLite at <data_dir>/users.db; and a handler interface through which a
 * database engine receives the SQL. nodenet's own administrative handler (user
 * management, SHOW STATUS/VARIABLES/PROCESSLIST, KILL, SELECT of expressions and
 * @@variables, what standard clients send on connect) is the default handler and can be
 * delegated to.
 *
 * The command surface the layer speaks for the engine: COM_QUERY (multi-statements and
 * multi-results, query attributes), the binary protocol (COM_STMT_PREPARE, _EXECUTE with
 * every parameter type, _SEND_LONG_DATA, _RESET, _CLOSE, _FETCH with read-only cursors),
 * typed result columns and values encoded as text or binary rows as the command requires,
 * CLIENT_DEPRECATE_EOF, CLIENT_SESSION_TRACK, connection attributes, COM_CHANGE_USER (a
 * full re-authentication with the SSL requirement checked), COM_RESET_CONNECTION,
 * COM_PING, COM_STATISTICS, COM_FIELD_LIST, COM_PROCESS_KILL, and zlib / zstd protocol
 * compression (inside TLS too). A session's unsent replies are bounded by its output
 * limit: past it rows say NN_MYSQL_ROW_FULL (the engine waits for a writable callback)
 * and the client's next commands are not read, so memory is never the result's size.
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
    /* MySQL's default_authentication_plugin: the plugin the greeting names, and how an
     * unknown account is answered. false = caching_sha2_password (MySQL 8's default), true =
     * mysql_native_password (MariaDB's): a client of a native account then answers the
     * greeting at once instead of after an AuthSwitchRequest (one round trip less). New
     * accounts default to caching_sha2_password either way. */
    bool native_password_default;
    const char *server_version;    /* NULL = "8.0.36-nodenet" */
    /* Replies a session may have written and the client not yet read; past it the layer
     * takes no more rows (they return -EAGAIN) and reads no further command until half of
     * it has drained. 0 = 1 MiB. */
    uint32_t output_limit_bytes;
    uint32_t max_prepared_stmts; /* per session; 0 = 1024 (error 1461 past it) */
    uint32_t max_cursor_bytes;   /* rows one open cursor keeps; 0 = 64 MiB */
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

/* Any thread. Takes tls, require_secure_transport, max_allowed_packet, the timeouts and
 * native_password_default
 * from cfg for connections accepted from now on; open sessions keep what they
 * negotiated. data_dir and server_version cannot change (ignored). Returns 0. */
int nn_mysql_server_reconfigure(nn_mysql_server *srv, const nn_mysql_config *cfg, nn_err *err);

/* After the nn_server that carries the listener has been waited for. */
void nn_mysql_server_free(nn_mysql_server *srv);

/* ------------------------------------------------------ the handler interface */

/* One authenticated client session. Borrowed by the handler for the duration of a call,
 * or, for a command answered later, until that answer is complete. */
typedef struct nn_mysql_session nn_mysql_session;
/* A prepared statement of a session (COM_STMT_PREPARE). The layer owns it; the engine may
 * hang its own state on it (nn_mysql_stmt_set_user_data) and frees that in stmt_close. */
typedef struct nn_mysql_stmt nn_mysql_stmt;

/* MySQL's column types (MYSQL_TYPE_*), as they travel on the wire. */
typedef enum nn_mysql_type {
    NN_MYSQL_TYPE_DECIMAL = 0x00,
    NN_MYSQL_TYPE_TINY = 0x01,
    NN_MYSQL_TYPE_SHORT = 0x02,
    NN_MYSQL_TYPE_LONG = 0x03,
    NN_MYSQL_TYPE_FLOAT = 0x04,
    NN_MYSQL_TYPE_DOUBLE = 0x05,
    NN_MYSQL_TYPE_NULL = 0x06,
    NN_MYSQL_TYPE_TIMESTAMP = 0x07,
    NN_MYSQL_TYPE_LONGLONG = 0x08,
    NN_MYSQL_TYPE_INT24 = 0x09,
    NN_MYSQL_TYPE_DATE = 0x0a,
    NN_MYSQL_TYPE_TIME = 0x0b,
    NN_MYSQL_TYPE_DATETIME = 0x0c,
    NN_MYSQL_TYPE_YEAR = 0x0d,
    NN_MYSQL_TYPE_VARCHAR = 0x0f,
    NN_MYSQL_TYPE_BIT = 0x10,
    NN_MYSQL_TYPE_JSON = 0xf5,
    NN_MYSQL_TYPE_NEWDECIMAL = 0xf6,
    NN_MYSQL_TYPE_ENUM = 0xf7,
    NN_MYSQL_TYPE_SET = 0xf8,
    NN_MYSQL_TYPE_TINY_BLOB = 0xf9,
    NN_MYSQL_TYPE_MEDIUM_BLOB = 0xfa,
    NN_MYSQL_TYPE_LONG_BLOB = 0xfb,
    NN_MYSQL_TYPE_BLOB = 0xfc,
    NN_MYSQL_TYPE_VAR_STRING = 0xfd,
    NN_MYSQL_TYPE_STRING = 0xfe,
    NN_MYSQL_TYPE_GEOMETRY = 0xff,
} nn_mysql_type;

/* Column flags (MySQL's *_FLAG). */
enum {
    NN_MYSQL_FLAG_NOT_NULL = 0x0001,
    NN_MYSQL_FLAG_PRI_KEY = 0x0002,
    NN_MYSQL_FLAG_UNIQUE_KEY = 0x0004,
    NN_MYSQL_FLAG_MULTIPLE_KEY = 0x0008,
    NN_MYSQL_FLAG_BLOB = 0x0010,
    NN_MYSQL_FLAG_UNSIGNED = 0x0020,
    NN_MYSQL_FLAG_ZEROFILL = 0x0040,
    NN_MYSQL_FLAG_BINARY = 0x0080,
    NN_MYSQL_FLAG_ENUM = 0x0100,
    NN_MYSQL_FLAG_AUTO_INCREMENT = 0x0200,
    NN_MYSQL_FLAG_TIMESTAMP = 0x0400,
    NN_MYSQL_FLAG_SET = 0x0800,
    NN_MYSQL_FLAG_NO_DEFAULT_VALUE = 0x1000,
    NN_MYSQL_FLAG_ON_UPDATE_NOW = 0x2000,
    NN_MYSQL_FLAG_NUM = 0x8000,
};

/* Collation ids the layer picks by default: binary for numbers, dates and blobs,
 * utf8mb4_general_ci for text. */
#define NN_MYSQL_COLLATION_BINARY 63
#define NN_MYSQL_COLLATION_UTF8MB4 45

/* A column definition: a plain description the caller fills (zero what it does not know;
 * the strings are borrowed for the call). Zero charset, length and decimals take the type's
 * defaults (63 or 45; the type's display width; 0 or 31 for FLOAT/DOUBLE). */
typedef struct nn_mysql_column {
    const char *name;      /* the column's name or alias, as the client sees it */
    nn_mysql_type type;
    uint16_t flags;        /* NN_MYSQL_FLAG_* */
    uint8_t decimals;
    uint16_t charset;      /* collation id */
    uint32_t length;       /* display length */
    const char *schema;    /* NULL = "" */
    const char *table;     /* the table alias; NULL = "" */
    const char *org_table; /* NULL = table */
    const char *org_name;  /* NULL = name */
} nn_mysql_column;

/* Date and time parts (DATE, DATETIME, TIMESTAMP, TIME). For TIME, days + hour give the
 * hours (up to 838:59:59) and negative the sign. */
typedef struct nn_mysql_time {
    uint16_t year;
    uint8_t month;
    uint8_t day;
    uint32_t days; /* TIME only */
    uint8_t hour;
    uint8_t minute;
    uint8_t second;
    uint32_t microsecond;
    bool negative; /* TIME only */
} nn_mysql_time;

typedef enum nn_mysql_value_kind {
    NN_MYSQL_VALUE_NULL = 0,
    NN_MYSQL_VALUE_INT,    /* i */
    NN_MYSQL_VALUE_UINT,   /* u */
    NN_MYSQL_VALUE_DOUBLE, /* d */
    NN_MYSQL_VALUE_BYTES,  /* bytes: text, DECIMAL as text, BLOB, JSON, BIT, ENUM, SET */
    NN_MYSQL_VALUE_TIME,   /* time */
} nn_mysql_value_kind;

/* A typed value: a row's cell, or a parameter of an execute. In a row, the layer encodes the
 * value as the column's type says for the text or the binary protocol, converting where it
 * must (an INT for a VARCHAR column is printed, text for an INT column in a binary row is
 * parsed; a value that cannot be converted is an error for the client). */
typedef struct nn_mysql_value {
    nn_mysql_value_kind kind;
    /* Parameters only: the type the client sent, and whether it flagged it unsigned. */
    nn_mysql_type type;
    bool is_unsigned;
    union {
        int64_t i;
        uint64_t u;
        double d;
        struct {
            const void *data; /* borrowed */
            size_t len;
        } bytes;
        nn_mysql_time time;
    };
} nn_mysql_value;

/* What a database engine implements. Set `version` to NN_MYSQL_HANDLER_VERSION; a NULL
 * callback means "use the default" (the administrative handler's, or none). Every callback
 * runs on the session's worker loop and must not block.
 *
 * A command (query, init_db, execute, ...) must get exactly one answer: nn_mysql_session_ok(),
 * nn_mysql_session_error(), or a result set (result_begin, columns, rows, result_end). Each
 * OK or result set may be followed by another one (multi-statements, procedures) when
 * nn_mysql_session_more_results() was called before ending it. The answer may be given
 * before the callback returns or later on the session's loop (nn_mysql_session_loop(); use
 * nn_loop_post() from other threads): until it is complete, the session reads no further
 * command. If the client disconnects meanwhile, the session stays valid until the answer is
 * complete, and the answer is discarded (rows then return -ECANCELED). */
#define NN_MYSQL_HANDLER_VERSION 2u
typedef struct nn_mysql_handler {
    uint32_t version;
    /* COM_QUERY. sql is not NUL-terminated: use len. */
    void (*query)(void *arg, nn_mysql_session *ses, const char *sql, size_t len);
    /* COM_INIT_DB (NULL = accept any name). Answer like query. */
    void (*init_db)(void *arg, nn_mysql_session *ses, const char *db, size_t len);
    /* The session ended; no answer is pending. */
    void (*session_end)(void *arg, nn_mysql_session *ses);
    /* COM_STMT_PREPARE: answer with nn_mysql_stmt_prepared() or nn_mysql_session_error().
     * NULL = the administrative handler prepares (nn_mysql_admin_prepare). */
    void (*prepare)(void *arg, nn_mysql_session *ses, nn_mysql_stmt *stmt, const char *sql,
                    size_t len);
    /* COM_STMT_EXECUTE with the statement's parameters (count = its param count; long data
     * already joined; values borrowed for the call: an engine that answers later copies
     * what it needs). Answer like query; the layer sends binary rows (or keeps them for a
     * cursor the client asked for). NULL = nn_mysql_admin_execute. */
    void (*execute)(void *arg, nn_mysql_session *ses, nn_mysql_stmt *stmt,
                    const nn_mysql_value *params, uint32_t count);
    /* The statement is gone (COM_STMT_CLOSE, a reset, a change of user, the end of the
     * session): free what hangs on it. No answer. */
    void (*stmt_close)(void *arg, nn_mysql_session *ses, nn_mysql_stmt *stmt);
    /* The session was reset (COM_RESET_CONNECTION) or changed user (COM_CHANGE_USER, after
     * the new account was authenticated): session state is back to a fresh login's. No
     * answer (the layer sends the OK). */
    void (*session_reset)(void *arg, nn_mysql_session *ses, bool changed_user);
    /* KILL QUERY (or KILL CONNECTION) of this session's running command: stop producing
     * and answer as soon as possible (the layer already turns further rows into
     * -ECANCELED and the answer into error 1317). Optional. */
    void (*cancel)(void *arg, nn_mysql_session *ses);
} nn_mysql_handler;

/* Installs an engine's handler before the listener serves; h and arg are borrowed.
 * NULL restores the administrative handler. */
void nn_mysql_server_set_handler(nn_mysql_server *srv, const nn_mysql_handler *h, void *arg);

/* The administrative handler's entries, for engines that pass it what they do not handle
 * themselves (user management, SHOW STATUS, SELECT @@version_comment ...). */
void nn_mysql_admin_query(nn_mysql_session *ses, const char *sql, size_t len);
void nn_mysql_admin_prepare(nn_mysql_session *ses, nn_mysql_stmt *stmt, const char *sql,
                            size_t len);
void nn_mysql_admin_execute(nn_mysql_session *ses, nn_mysql_stmt *stmt,
                            const nn_mysql_value *params, uint32_t count);

/* ------------------------------------------------------------------ answers
 * Each returns 0, or -EPROTO if called out of order (the answer is then an error for the
 * client), or as said below. */
int nn_mysql_session_ok(nn_mysql_session *ses, uint64_t affected_rows, uint64_t last_insert_id,
                        const char *info);
/* An error answer; it also ends a result set midway, and ends the command (no further
 * result follows an error). */
int nn_mysql_session_error(nn_mysql_session *ses, uint16_t code, const char *sqlstate,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The OK or result set being answered is followed by another (SERVER_MORE_RESULTS_EXISTS).
 * Call before nn_mysql_session_ok() / _result_end(). */
int nn_mysql_session_more_results(nn_mysql_session *ses);
/* Warnings to report in the next OK or end of result. */
void nn_mysql_session_set_warnings(nn_mysql_session *ses, uint16_t warnings);

int nn_mysql_session_result_begin(nn_mysql_session *ses, uint32_t column_count);
/* Once per column, in order, after result_begin. */
int nn_mysql_session_result_column_def(nn_mysql_session *ses, const nn_mysql_column *col);
/* Shorthand: a column with only a name and a type. */
int nn_mysql_session_result_column(nn_mysql_session *ses, const char *name, nn_mysql_type type);
/* One row of column_count typed values (borrowed for the call). A row is never refused for
 * lack of room. Returns 0 when it was taken; NN_MYSQL_ROW_FULL when it was taken and the
 * session's output is now over its limit: produce the next row only after the callback
 * armed with nn_mysql_session_on_writable() has run (so a session holds its output limit
 * plus one row, whatever the result's size); -ECANCELED when the client is gone or the
 * query was killed (stop producing and end the answer); -EINVAL when a value does not fit
 * its column (the answer has then become an error for the client: do not end it). */
#define NN_MYSQL_ROW_FULL 1
int nn_mysql_session_result_row_values(nn_mysql_session *ses, const nn_mysql_value *values);
/* The same with text values: values[i] == NULL is SQL NULL; lens may be NULL (then values
 * are NUL-terminated). The text is the column's value as MySQL prints it. */
int nn_mysql_session_result_row(nn_mysql_session *ses, const char *const *values,
                                const size_t *lens);
int nn_mysql_session_result_end(nn_mysql_session *ses);

/* Back-pressure: runs fn(arg, ses) once, on the session's loop, when the output has drained
 * below half its limit (or the client has gone or the query was killed: rows then say
 * -ECANCELED). Arming again replaces the previous callback. */
typedef void (*nn_mysql_writable_fn)(void *arg, nn_mysql_session *ses);
void nn_mysql_session_on_writable(nn_mysql_session *ses, nn_mysql_writable_fn fn, void *arg);

/* COM_STMT_PREPARE's answer: the parameter count (at most 65535) and the result's column
 * definitions (column_count 0 = the statement returns no rows). */
int nn_mysql_stmt_prepared(nn_mysql_stmt *stmt, uint32_t param_count, uint32_t column_count,
                           const nn_mysql_column *columns);
uint32_t nn_mysql_stmt_id(const nn_mysql_stmt *stmt);
uint32_t nn_mysql_stmt_param_count(const nn_mysql_stmt *stmt);
/* The statement's SQL as prepared (borrowed for the statement's life). */
const char *nn_mysql_stmt_sql(const nn_mysql_stmt *stmt, size_t *len);
void nn_mysql_stmt_set_user_data(nn_mysql_stmt *stmt, void *data);
void *nn_mysql_stmt_user_data(const nn_mysql_stmt *stmt);

/* Facts of the session, for handlers. Strings are borrowed for the session's life (until
 * a change of user for the user names). */
const char *nn_mysql_session_user(const nn_mysql_session *ses);         /* login name */
const char *nn_mysql_session_host(const nn_mysql_session *ses);         /* peer address */
const char *nn_mysql_session_account_host(const nn_mysql_session *ses); /* matched host */
const char *nn_mysql_session_database(const nn_mysql_session *ses);     /* "" = none */
/* Sets the current database (as USE does); reported to clients that track the schema. */
void nn_mysql_session_set_database(nn_mysql_session *ses, const char *db, size_t len);
/* The session is inside a transaction (BEGIN ... COMMIT): OK and EOF packets carry
 * SERVER_STATUS_IN_TRANS, which drivers read (PDO::commit, JDBC). A reset or a change of
 * user ends it. */
void nn_mysql_session_set_in_transaction(nn_mysql_session *ses, bool in_transaction);
/* A system variable the session changed, reported to clients that track them
 * (CLIENT_SESSION_TRACK) in the next OK. */
void nn_mysql_session_track_variable(nn_mysql_session *ses, const char *name, const char *value);
uint64_t nn_mysql_session_id(const nn_mysql_session *ses);
/* The session's TLS facts, read on the first call (make it on the session's loop, from a
 * handler callback or nn_mysql_session_run(), as for the other calls here); the pointer and
 * what it points to stay valid and unchanged for the session's life. */
const nn_tls_facts *nn_mysql_session_tls(const nn_mysql_session *ses);
nn_loop *nn_mysql_session_loop(const nn_mysql_session *ses);
/* Connection attributes the client sent at login (CLIENT_CONNECT_ATTRS): the value of key,
 * or NULL; and the i-th pair (false past the end). Borrowed for the session's life. */
const char *nn_mysql_session_attr(const nn_mysql_session *ses, const char *key);
bool nn_mysql_session_attr_at(const nn_mysql_session *ses, size_t i, const char **key,
                              const char **value);
/* Query attributes of the command being answered (CLIENT_QUERY_ATTRIBUTES): the value of
 * name, or NULL when absent. Valid until the answer is complete. */
const nn_mysql_value *nn_mysql_session_query_attr(const nn_mysql_session *ses, const char *name);
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
