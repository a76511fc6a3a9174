/* mysql/mysql_internal.h: private to mysql/ (and its unit tests). */
#ifndef NODENET_MYSQL_INTERNAL_H
#define NODENET_MYSQL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <sqlite3.h>

#include "mysql/mysql.h"

/* ------------------------------------------------------------- constants */

/* Capability flags (MySQL's CLIENT_*). */
#define NN_CLIENT_LONG_PASSWORD 0x00000001u
#define NN_CLIENT_FOUND_ROWS 0x00000002u
#define NN_CLIENT_LONG_FLAG 0x00000004u
#define NN_CLIENT_CONNECT_WITH_DB 0x00000008u
#define NN_CLIENT_NO_SCHEMA 0x00000010u
#define NN_CLIENT_PROTOCOL_41 0x00000200u
#define NN_CLIENT_INTERACTIVE 0x00000400u
#define NN_CLIENT_SSL 0x00000800u
#define NN_CLIENT_TRANSACTIONS 0x00002000u
#define NN_CLIENT_SECURE_CONNECTION 0x00008000u
#define NN_CLIENT_MULTI_STATEMENTS 0x00010000u
#define NN_CLIENT_MULTI_RESULTS 0x00020000u
#define NN_CLIENT_PS_MULTI_RESULTS 0x00040000u
#define NN_CLIENT_PLUGIN_AUTH 0x00080000u
#define NN_CLIENT_CONNECT_ATTRS 0x00100000u
#define NN_CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA 0x00200000u
#define NN_CLIENT_COMPRESS 0x00000020u
#define NN_CLIENT_SESSION_TRACK 0x00800000u
#define NN_CLIENT_DEPRECATE_EOF 0x01000000u
#define NN_CLIENT_ZSTD_COMPRESSION 0x04000000u
#define NN_CLIENT_QUERY_ATTRIBUTES 0x08000000u

#define NN_SERVER_STATUS_IN_TRANS 0x0001u
#define NN_SERVER_STATUS_AUTOCOMMIT 0x0002u
#define NN_SERVER_MORE_RESULTS_EXISTS 0x0008u
#define NN_SERVER_STATUS_CURSOR_EXISTS 0x0040u
#define NN_SERVER_STATUS_LAST_ROW_SENT 0x0080u
#define NN_SERVER_SESSION_STATE_CHANGED 0x4000u

/* Session state change types (CLIENT_SESSION_TRACK). */
#define NN_SESSION_TRACK_SYSTEM_VARIABLES 0x00
#define NN_SESSION_TRACK_SCHEMA 0x01

#define NN_MYSQL_MAX_PHYSICAL 0xffffffu /* a payload this long continues in the next packet */
#define NN_MYSQL_SCRAMBLE_LEN 20

#define NN_PLUGIN_NATIVE "mysql_native_password"
#define NN_PLUGIN_SHA2 "caching_sha2_password"

/* Server error codes used here (MySQL's ER_*). */
#define NN_ER_OUT_OF_RESOURCES 1041
#define NN_ER_CON_COUNT 1040
#define NN_ER_HANDSHAKE 1043
#define NN_ER_ACCESS_DENIED 1045
#define NN_ER_UNKNOWN_COM 1047
#define NN_ER_PARSE 1064
#define NN_ER_NET_PACKET_TOO_LARGE 1153
#define NN_ER_NET_PACKETS_OUT_OF_ORDER 1156
#define NN_ER_NO_SUCH_THREAD 1094
#define NN_ER_KILL_DENIED 1095
#define NN_ER_UNKNOWN_SYSTEM_VARIABLE 1193
#define NN_ER_WRONG_ARGUMENTS 1210
#define NN_ER_NOT_SUPPORTED_YET 1235
#define NN_ER_UNKNOWN_STMT_HANDLER 1243
#define NN_ER_QUERY_INTERRUPTED 1317
#define NN_ER_PS_MANY_PARAM 1390
#define NN_ER_MAX_PREPARED_STMT_COUNT_REACHED 1461
#define NN_ER_SPECIFIC_ACCESS_DENIED 1227
#define NN_ER_NOT_SUPPORTED_AUTH_MODE 1251
#define NN_ER_CANNOT_USER 1396
#define NN_ER_SECURE_TRANSPORT_REQUIRED 3159

/* ---------------------------------------------------------- packet codec */

/* One logical packet: the payload (possibly reassembled from several physical packets),
 * and the sequence id the next packet of the exchange must carry. */
typedef struct nn_mysql_packet {
    const uint8_t *payload;
    size_t len;
    uint8_t next_seq;
    uint8_t bad_seq; /* with -EPROTO: the sequence id that arrived */
} nn_mysql_packet;

/* Reads one logical packet from in[0, in_len). Every physical packet must carry the
 * expected sequence id (counting up from expected_seq). A payload of exactly 0xffffff
 * bytes continues in the next packet; the pieces are joined in scratch (a single packet
 * is returned in place, no copy). Returns 1 with *out and *consumed set; 0 when more
 * bytes are needed; -EMSGSIZE when the payload exceeds max_payload (known as soon as
 * the headers say so); -EPROTO on a wrong sequence id; -ENOMEM. */
int nn_mysql_packet_read(const uint8_t *in, size_t in_len, uint8_t expected_seq, size_t max_payload,
                         nn_buf *scratch, nn_mysql_packet *out, size_t *consumed);
/* Appends payload framed as packets (split at 0xffffff, with the empty trailer that an
 * exact multiple needs) to out, starting at *seq and advancing it. 0 or -ENOMEM. */
int nn_mysql_packet_frame(nn_buf *out, uint8_t *seq, const uint8_t *payload, size_t len);

/* Little-endian writers into a buffer; each returns 0 or -ENOMEM. */
int nn_mysql_put_u8(nn_buf *b, uint8_t v);
int nn_mysql_put_u16(nn_buf *b, uint16_t v);
int nn_mysql_put_u24(nn_buf *b, uint32_t v);
int nn_mysql_put_u32(nn_buf *b, uint32_t v);
int nn_mysql_put_lenenc(nn_buf *b, uint64_t v);
int nn_mysql_put_lenenc_str(nn_buf *b, const void *s, size_t len);
int nn_mysql_put_str_nul(nn_buf *b, const char *s);

/* A bounds-checked reader of a payload: once a read runs past the end, bad is set and
 * every later read returns zero/NULL. */
typedef struct nn_mysql_cursor {
    const uint8_t *p;
    size_t left;
    bool bad;
} nn_mysql_cursor;

void nn_mysql_cursor_init(nn_mysql_cursor *c, const uint8_t *p, size_t len);
uint8_t nn_mysql_get_u8(nn_mysql_cursor *c);
uint16_t nn_mysql_get_u16(nn_mysql_cursor *c);
uint32_t nn_mysql_get_u32(nn_mysql_cursor *c);
uint64_t nn_mysql_get_lenenc(nn_mysql_cursor *c);
const uint8_t *nn_mysql_get_bytes(nn_mysql_cursor *c, size_t n);
/* A NUL-terminated string; *len excludes the NUL. NULL (and bad) if no NUL. */
const char *nn_mysql_get_str_nul(nn_mysql_cursor *c, size_t *len);

/* ------------------------------------------------------------------ auth */

/* mysql_native_password: SHA1(pw) XOR SHA1(scramble || SHA1(SHA1(pw))). */
void nn_mysql_native_scramble(const char *pw, size_t pw_len, const uint8_t *scramble,
                              uint8_t out[20]);
/* The stored form: "*" + 40 upper-case hex digits of SHA1(SHA1(pw)); "" for "". */
void nn_mysql_native_auth_string(const char *pw, size_t pw_len, char out[42]);
bool nn_mysql_native_verify(const char *auth_string, const uint8_t *scramble, const uint8_t *reply,
                            size_t reply_len);

/* caching_sha2_password: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || nonce). */
void nn_mysql_sha2_scramble(const char *pw, size_t pw_len, const uint8_t *nonce, uint8_t out[32]);
/* SHA256(SHA256(pw)): what the fast-path cache keeps. */
void nn_mysql_sha2_stage2(const char *pw, size_t pw_len, uint8_t out[32]);
bool nn_mysql_sha2_verify_fast(const uint8_t stage2[32], const uint8_t *nonce, const uint8_t *reply,
                               size_t reply_len);
/* The stored form, salted and iterated: "$P$5000$<salt hex>$<pbkdf2-sha256 hex>";
 * "" for "". Needs room for 128 bytes. Returns 0 or -EIO (no randomness). */
int nn_mysql_sha2_auth_string(const char *pw, size_t pw_len, char out[128]);
bool nn_mysql_sha2_check(const char *auth_string, const char *pw, size_t pw_len);
/* Whether a stored caching_sha2 form is well formed, with an iteration count a login may
 * afford (IDENTIFIED WITH ... AS and rows from peers are checked with it). */
bool nn_mysql_sha2_auth_string_valid(const char *auth_string);

/* Fills out with n random bytes that are printable, NUL-free and not '$' (MySQL's
 * scramble must survive being a C string). Returns 0 or -EIO. */
int nn_mysql_scramble_new(uint8_t *out, size_t n);

/* caching_sha2_password's RSA key exchange, for full auth without TLS: the server's
 * public key is sent on request (0x02), the client returns RSA-OAEP("password\0" XOR
 * scramble). The key is made at server start and lives with the server. */
typedef struct nn_mysql_rsa nn_mysql_rsa;
nn_mysql_rsa *nn_mysql_rsa_new(nn_err *err);
void nn_mysql_rsa_free(nn_mysql_rsa *r);
const char *nn_mysql_rsa_public_pem(const nn_mysql_rsa *r, size_t *len);
/* Returns 0 with the password in out[0, *out_len), or -EINVAL. */
int nn_mysql_rsa_decrypt_password(const nn_mysql_rsa *r, const uint8_t *scramble, const uint8_t *in,
                                  size_t in_len, char *out, size_t cap, size_t *out_len);

/* ------------------------------------------------------------ SQL subset */

typedef enum nn_sql_kind {
    NN_SQL_EMPTY,
    NN_SQL_SELECT,
    NN_SQL_SET,
    NN_SQL_SHOW_STATUS,
    NN_SQL_SHOW_VARIABLES,
    NN_SQL_SHOW_WARNINGS,
    NN_SQL_SHOW_DATABASES,
    NN_SQL_SHOW_TABLES,
    NN_SQL_SHOW_CREATE_USER,
    NN_SQL_SHOW_GRANTS,
    NN_SQL_SHOW_COLLATION,
    NN_SQL_SHOW_CHARSET,
    NN_SQL_CREATE_USER,
    NN_SQL_ALTER_USER,
    NN_SQL_DROP_USER,
    NN_SQL_GRANT_CREATE_USER,
    NN_SQL_REVOKE_CREATE_USER,
    NN_SQL_USE,
    NN_SQL_TRANSACTION, /* BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT: no-op */
    NN_SQL_DO,          /* DO e, ...: items evaluated, answered OK */
    NN_SQL_UNSUPPORTED, /* well-formed, outside the subset: error 1235 naming `unsupported` */
} nn_sql_kind;

typedef enum nn_sql_expr_kind {
    NN_EXPR_STRING,
    NN_EXPR_NUMBER, /* text: the literal as written, with its sign */
    NN_EXPR_NULL,
    NN_EXPR_SYSVAR,  /* text: the name (lower case), scope */
    NN_EXPR_USERVAR, /* text: the name without '@' (lower case) */
    NN_EXPR_FUNC,    /* text: the name (lower case); args */
    NN_EXPR_IDENT,   /* text: a bare name: a column (SHOW ... WHERE) or a SET value word */
    NN_EXPR_PARAM,   /* '?': param is its 0-based position */
    NN_EXPR_UNARY,   /* op (NN_OP_NEG, NN_OP_NOT, NN_OP_BITNOT); args[0] */
    NN_EXPR_BINARY,  /* op; args[0], args[1] */
    NN_EXPR_IS_NULL, /* args[0] IS [NOT] NULL (negated) */
    NN_EXPR_IN,      /* args[0] [NOT] IN (args[1] ...) (negated) */
} nn_sql_expr_kind;

typedef enum nn_sql_op {
    NN_OP_NONE,
    NN_OP_ADD,
    NN_OP_SUB,
    NN_OP_MUL,
    NN_OP_DIV,    /* '/' */
    NN_OP_INTDIV, /* DIV */
    NN_OP_MOD,    /* MOD, '%' */
    NN_OP_EQ,
    NN_OP_NULLSAFE_EQ, /* <=> */
    NN_OP_NE,
    NN_OP_LT,
    NN_OP_LE,
    NN_OP_GT,
    NN_OP_GE,
    NN_OP_LIKE, /* [NOT] LIKE (negated) */
    NN_OP_AND,
    NN_OP_OR,
    NN_OP_XOR,
    NN_OP_NEG,
    NN_OP_NOT,
    NN_OP_BITNOT,
} nn_sql_op;

typedef enum nn_sql_scope {
    NN_SCOPE_DEFAULT,
    NN_SCOPE_SESSION,
    NN_SCOPE_GLOBAL,
} nn_sql_scope;

#define NN_SQL_MAX_ITEMS 64
#define NN_SQL_MAX_ACCOUNTS 16
/* Nesting of parentheses, operators and calls: bounds the parser's and the evaluator's
 * recursion (a hostile "((((...1" must not exhaust a worker's stack). */
#define NN_SQL_MAX_DEPTH 64
#define NN_SQL_MAX_ARGS 64
#define NN_SQL_MAX_LABEL 256 /* bytes of a column name taken from the statement's text */

typedef struct nn_sql_expr {
    nn_sql_expr_kind kind;
    nn_sql_scope scope; /* NN_EXPR_SYSVAR */
    nn_sql_op op;       /* NN_EXPR_UNARY, NN_EXPR_BINARY */
    bool negated;       /* IS NOT NULL, NOT LIKE, NOT IN */
    uint32_t param;     /* NN_EXPR_PARAM */
    char *text;         /* owned: string value, number text, variable or function name */
    char *label;        /* owned, top level only: column name (alias, or the text as written) */
    size_t arg_count;
    struct nn_sql_expr *args; /* owned */
} nn_sql_expr;

typedef struct nn_sql_account {
    char *user; /* owned */
    char *host; /* owned; "%" when not given */
} nn_sql_account;

typedef struct nn_sql_assign {
    nn_sql_scope scope;
    /* owned, lower case: a system variable, "@name" for a user variable, "names" for SET
     * NAMES, "character set" for SET CHARACTER SET */
    char *name;
    nn_sql_expr value; /* a bare word (ON, DEFAULT, utf8mb4) is NN_EXPR_IDENT */
    char *collation;   /* owned; SET NAMES ... COLLATE c (NULL = the charset's default) */
} nn_sql_assign;

/* What a NN_SQL_TRANSACTION statement does to the session's transaction. */
typedef enum nn_sql_txn {
    NN_SQL_TXN_NONE = 0, /* savepoints */
    NN_SQL_TXN_BEGIN,    /* BEGIN, START TRANSACTION */
    NN_SQL_TXN_END,      /* COMMIT, ROLLBACK */
} nn_sql_txn;

typedef struct nn_sql_stmt {
    nn_sql_kind kind;
    nn_sql_txn txn;
    nn_sql_scope scope; /* SHOW [SESSION|GLOBAL] ... */
    bool if_exists;     /* DROP/ALTER USER IF EXISTS */
    bool if_not_exists; /* CREATE USER IF NOT EXISTS */
    size_t item_count;
    nn_sql_expr items[NN_SQL_MAX_ITEMS];
    size_t assign_count;
    nn_sql_assign assigns[NN_SQL_MAX_ITEMS];
    size_t account_count;
    nn_sql_account accounts[NN_SQL_MAX_ACCOUNTS];
    char *like;            /* owned; SHOW ... LIKE 'pattern' */
    nn_sql_expr *where;    /* owned; SHOW ... WHERE e, SELECT ... WHERE e */
    char *from;            /* owned; SELECT ... FROM name (not DUAL): "schema.table" as written */
    int64_t limit;         /* SELECT ... LIMIT n; -1 = none */
    uint32_t param_count;  /* '?' placeholders, numbered in order */
    size_t first_param_at; /* byte offset of the first '?' (a text query may not have one) */
    char *unsupported;     /* owned; NN_SQL_UNSUPPORTED: what it is ("SHOW ENGINES") */
    char *plugin;          /* owned; IDENTIFIED WITH plugin (NULL = default / unchanged) */
    char *password;        /* owned; IDENTIFIED ... BY 'pw' */
    char *auth_as;         /* owned; IDENTIFIED WITH plugin AS 'auth string' */
    bool has_require;
    nn_ssl_require require;
    char *database; /* owned; USE db */
} nn_sql_stmt;

/* Parses one statement (a trailing ';' is allowed). Returns 0, or -EINVAL with *err_pos
 * the byte offset where the text stops making sense (for error 1064's "near '...'")
 * and err saying why, or -ENOMEM. The statement must be freed with nn_sql_stmt_clear()
 * in both cases. */
int nn_sql_parse(const char *sql, size_t len, nn_sql_stmt *out, size_t *err_pos, nn_err *err);
void nn_sql_stmt_clear(nn_sql_stmt *st);

/* A value bound to a '?' of an admin statement (prepared statements). Strings are borrowed
 * for the call. */
typedef enum nn_sql_param_kind {
    NN_SQL_PARAM_NULL,
    NN_SQL_PARAM_INT,
    NN_SQL_PARAM_UINT,
    NN_SQL_PARAM_DOUBLE,
    NN_SQL_PARAM_STRING, /* also decimals and dates, as text */
} nn_sql_param_kind;

typedef struct nn_sql_param {
    nn_sql_param_kind kind;
    int64_t i;
    uint64_t u;
    double d;
    const char *s;
    size_t len;
} nn_sql_param;
/* SQL LIKE with % and _, case-insensitive, backslash escapes. */
bool nn_sql_like(const char *pattern, const char *text);
/* The administrative handler (admin.c) answers a parsed statement with params[0, n) bound to
 * its '?' (n == st->param_count; a text query has none). Takes over st's contents (clear it
 * after, as usual). */
void nn_mysql_admin_answer_parsed(nn_mysql_session *ses, nn_sql_stmt *st,
                                  const nn_sql_param *params, size_t n);

/* ------------------------------------------------------------- catalog */

typedef struct nn_mysql_account {
    char *user;
    char *host;
    char *plugin;
    char *auth_string;
    nn_ssl_require require;
    bool admin; /* may manage users */
    /* caching_sha2_password fast-path cache: SHA256(SHA256(pw)) once a full auth has
     * succeeded; set by workers with compare-exchange, freed with the snapshot. */
    _Atomic(uint8_t *) sha2_cache;
} nn_mysql_account;

/* An immutable, reference-counted view of the accounts. */
typedef struct nn_mysql_users {
    atomic_uint refs;
    uint64_t generation; /* which catalog change this view includes */
    size_t count;
    nn_mysql_account *accounts; /* most specific host first */
} nn_mysql_users;

void nn_mysql_users_ref(nn_mysql_users *u);
void nn_mysql_users_unref(nn_mysql_users *u);
/* The account that a login of user from peer_host uses (MySQL's order: literal hosts
 * before patterns), or NULL. */
const nn_mysql_account *nn_mysql_users_match(const nn_mysql_users *u, const char *user,
                                             const char *peer_host);
const nn_mysql_account *nn_mysql_users_find(const nn_mysql_users *u, const char *user,
                                            const char *host);
/* Host patterns: '%', '_', literal addresses; "localhost" also matches 127.0.0.1, ::1. */
bool nn_mysql_host_match(const char *pattern, const char *peer_host);

typedef struct nn_mysql_catalog nn_mysql_catalog;

typedef enum nn_catalog_op_kind {
    NN_CATALOG_CREATE,
    NN_CATALOG_ALTER,
    NN_CATALOG_DROP,
    NN_CATALOG_SET_ADMIN,
    NN_CATALOG_MERGE,  /* rows from another node (nn_mysql_server_catalog_apply) */
    NN_CATALOG_EXPORT, /* a full snapshot (nn_mysql_server_catalog_snapshot) */
} nn_catalog_op_kind;

/* A write for the catalog thread. The caller fills the request, the catalog thread the
 * result, then posts task to loop (the submitter's) with nn_loop_post(); with loop NULL
 * (merge, export) task runs on the catalog thread itself. */
typedef struct nn_catalog_op {
    nn_task task; /* first: fn runs on loop with the result */
    nn_loop *loop;
    nn_catalog_op_kind kind;
    bool if_exists;
    bool if_not_exists;
    bool admin_value;
    bool set_auth;
    bool set_require;
    char user[128];
    char host[256];
    char plugin[32];
    char auth_string[128];
    /* With hash_password the catalog thread hashes password for the plugin (the given
     * one, or for ALTER the account's current one) and then wipes it. */
    bool hash_password;
    char password[256];
    nn_ssl_require require;
    /* bootstrap: the row gets version 0 and no origin (see mysql.h) */
    bool unversioned;
    /* merge: the change's bytes (owned); export: the snapshot's bytes (owned) */
    uint8_t *blob;
    size_t blob_len;
    size_t changed; /* merge: rows written */
    void *done_fn;  /* merge/export: the caller's nn_mysql_catalog_*_fn */
    void *done_arg;
    /* results */
    int result; /* 0, -EEXIST, -ENOENT, -EIO, -EINVAL (merge: bad bytes) */
    bool noop;  /* IF [NOT] EXISTS made it a no-op */
    char message[512];
    struct nn_catalog_op *next_queued;
    void *arg; /* the submitter's */
} nn_catalog_op;

nn_mysql_catalog *nn_mysql_catalog_open(const char *data_dir, nn_err *err);
void nn_mysql_catalog_close(nn_mysql_catalog *cat);
/* Any thread: queue op; its task runs on op->loop once committed (or failed). */
void nn_mysql_catalog_submit(nn_mysql_catalog *cat, nn_catalog_op *op);
/* On a worker: the loop's current snapshot, borrowed until the callback returns. */
nn_mysql_users *nn_mysql_catalog_users_get0(nn_mysql_catalog *cat, nn_loop *loop);
/* Any thread: a referenced snapshot (unref when done). */
nn_mysql_users *nn_mysql_catalog_users_get(nn_mysql_catalog *cat);
/* Any thread: see nn_mysql_server_set_catalog_listener / _catalog_digest. */
void nn_mysql_catalog_set_listener(nn_mysql_catalog *cat, const char *origin,
                                   nn_mysql_catalog_listener fn, void *arg);
void nn_mysql_catalog_digest_get(nn_mysql_catalog *cat, nn_mysql_catalog_digest *out);
/* Any thread: queue a merge / an export (see nn_mysql_server_catalog_apply/_snapshot).
 * 0 or -ENOMEM. */
int nn_mysql_catalog_merge_submit(nn_mysql_catalog *cat, const uint8_t *bytes, size_t len,
                                  nn_mysql_catalog_apply_fn done, void *arg);
int nn_mysql_catalog_export_submit(nn_mysql_catalog *cat, nn_mysql_catalog_snapshot_fn done,
                                   void *arg);

/* catalog_repl.c: the replicated rows in SQLite (catalog thread only). Tables: users
 * (with version, origin) and tombstones (user, host, version, origin). */
/* Adds the version columns and the tombstones table to a catalog made before them. */
int nn_mysql_repl_schema(sqlite3 *db, nn_err *err);
/* The largest version in the catalog (rows and tombstones), or 0. */
uint64_t nn_mysql_repl_max_version(sqlite3 *db);
/* The digest of what is committed. 0 or -EIO. */
int nn_mysql_repl_digest(sqlite3 *db, nn_mysql_catalog_digest *out);
/* The row (or tombstone) of user@host as a change; malloc'd bytes or NULL. */
uint8_t *nn_mysql_repl_row_encode(sqlite3 *db, const char *user, const char *host, size_t *len);
/* Every row and tombstone as a change. 0, -EIO or -ENOMEM. */
int nn_mysql_repl_export(sqlite3 *db, uint8_t **out, size_t *len);
/* Merges a change inside the caller's transaction. *max_seen gets the largest version
 * the change carries (the clock moves past it). Returns the number of rows written, or
 * -EINVAL (message says why; nothing written) or -EIO. */
int nn_mysql_repl_merge(sqlite3 *db, const uint8_t *bytes, size_t len, uint64_t *max_seen,
                        char *message, size_t message_cap);

/* ------------------------------------------------------------- server */

/* One immutable copy of the settings; swapped whole by reconfigure. */
typedef struct nn_mysql_settings {
    bool tls;
    bool require_secure_transport;
    uint32_t max_allowed_packet;
    size_t output_limit;         /* bytes of replies a session may have unsent */
    uint32_t max_prepared_stmts; /* per session */
    size_t max_cursor_bytes;     /* rows one open cursor may keep */
    uint64_t handshake_timeout_ms;
    uint64_t idle_timeout_ms;
    const char *default_plugin; /* NN_PLUGIN_SHA2 or NN_PLUGIN_NATIVE: the greeting's */
    struct nn_mysql_settings *older; /* kept until free: readers never see a freed copy */
} nn_mysql_settings;

/* Login counters (mysql/stats.c), striped by worker so that a login adds to a line no
 * other worker writes; summed by nn_mysql_server_stats_get(). */
#define NN_MYSQL_STATS_STRIPES 16
typedef union nn_mysql_stats_stripe {
    struct {
        _Atomic uint64_t logins_ok;
        _Atomic uint64_t denied[NN_MYSQL_DENY_COUNT];
        _Atomic uint64_t require[NN_MYSQL_REQUIRE_COUNT];
    } c;
    char line[128]; /* two cache lines: no false sharing between stripes */
} nn_mysql_stats_stripe;
/* The session's loop's stripe gets one login (ok / denied with the deny() reason text /
 * the REQUIRE clause that failed, besides the denial itself). */
void nn_mysql_stats_login_ok(nn_mysql_session *ses);
void nn_mysql_stats_login_denied(nn_mysql_session *ses, const char *reason);
void nn_mysql_stats_require_denied(nn_mysql_session *ses, const nn_tls_facts *facts);
/* session.c: the TLS facts of the session's stream, read now (on the session's loop): the
 * session keeps no copy. When the stream is gone, only encrypted, version and cipher. */
void nn_mysql_session_tls_facts(const nn_mysql_session *ses, nn_tls_facts *out);

/* A logged-in session in the server's process list (mysql/process.c). */
typedef struct nn_mysql_proc {
    struct nn_mysql_proc *next, *prev;
    nn_mysql_session *ses;
    nn_loop *loop;
    uint64_t id;
    uint16_t port;
    bool listed;
    _Atomic uint8_t command;   /* the running command, 0 = none */
    _Atomic uint64_t since_ns; /* when it started (or the last one ended) */
} nn_mysql_proc;

struct nn_mysql_server {
    _Atomic(nn_mysql_settings *) settings;
    pthread_mutex_t reconfigure_lock; /* reconfigure only, never on a worker path */
    nn_security *sec;
    nn_mysql_catalog *catalog;
    nn_mysql_rsa *rsa;
    char server_version[64];
    char data_dir[512];
    nn_stream_handler stream_handler;
    const nn_mysql_handler *handler;
    void *handler_arg;
    atomic_uint_fast64_t connections; /* accepted, for SHOW STATUS */
    atomic_uint_fast64_t threads_connected;
    atomic_uint_fast64_t questions; /* commands received, for COM_STATISTICS */
    atomic_uint_fast64_t ssl_accepts;          /* TLS handshakes started (Ssl_accepts) */
    atomic_uint_fast64_t ssl_finished_accepts; /* ... and completed */
    pthread_mutex_t process_lock;   /* the process list: logins, logouts, listings, KILL */
    nn_mysql_proc *processes;
    uint64_t started_ns;
    nn_mysql_stats_stripe stats[NN_MYSQL_STATS_STRIPES];
};

const nn_stream_handler *nn_mysql_conn_handler(void);
/* One statement of the administrative handler (nn_mysql_admin_query splits a
 * multi-statement text into these). */
void nn_mysql_admin_statement(nn_mysql_session *ses, const char *sql, size_t len);
/* The admin handler's state lives in the server; these run on the session's loop. */
void nn_mysql_admin_init_db(nn_mysql_session *ses, const char *db, size_t len);
nn_mysql_server *nn_mysql_session_server(const nn_mysql_session *ses);
const nn_mysql_account *nn_mysql_session_account(const nn_mysql_session *ses);
bool nn_mysql_session_may_manage_users(nn_mysql_session *ses);
/* Hold the session across an asynchronous answer (admin's catalog writes). */
void nn_mysql_session_hold(nn_mysql_session *ses);
void nn_mysql_session_release(nn_mysql_session *ses);
/* The session's possible ciphers (Ssl_cipher_list), "" without TLS. */
void nn_mysql_session_cipher_list(const nn_mysql_session *ses, char *out, size_t cap);
/* The session's protocol compression: "zlib", "zstd" or "" (off), and its level. */
const char *nn_mysql_session_compression(const nn_mysql_session *ses, int *level);
/* Session variables set with SET (name lower case). NULL when never set. */
const char *nn_mysql_session_var(const nn_mysql_session *ses, const char *name);
int nn_mysql_session_var_set(nn_mysql_session *ses, const char *name, const char *value);
void nn_mysql_session_set_database(nn_mysql_session *ses, const char *db, size_t len);

#endif
