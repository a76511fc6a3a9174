/* nodenet/mysql.h: the MySQL engine face. PROVISIONAL until 1.0.
 *
 * What a database engine implements to answer MySQL clients, and the calls it answers
 * with. This forwards mysql/mysql.h's handler interface declaration for declaration (the
 * test lib_mysql_face_matches_the_library checks every struct's layout against the
 * library's), with nn_node_set_mysql_handler() and nn_mysql_session_run() in place of the
 * internal server and loop handles. The handler table is versioned (set `version` to
 * NN_MYSQL_HANDLER_VERSION; NULL entries mean the default), so it can grow; the value
 * structs (nn_mysql_column, nn_mysql_value, nn_mysql_time) are plain descriptions and may
 * still change before 1.0. docs/EMBEDDING.md has the walk-through.
 */
#ifndef NODENET_PUBLIC_MYSQL_H
#define NODENET_PUBLIC_MYSQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nodenet/nodenet.h>
#include <nodenet/security.h>

#ifdef __cplusplus
extern "C" {
#endif

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
    const char *name; /* the column's name or alias, as the client sees it */
    nn_mysql_type type;
    uint16_t flags; /* NN_MYSQL_FLAG_* */
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
 * before the callback returns or later on the session's worker (nn_mysql_session_run()
 * from any thread): until it is complete, the session reads no further
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

/* Before nn_node_start(). h and arg are borrowed until nn_node_free(); NULL restores the
 * administrative handler. */
NN_API void nn_node_set_mysql_handler(nn_node *node, const nn_mysql_handler *h, void *arg);

/* The administrative handler's entries, for engines that pass it what they do not handle
 * themselves (user management, SHOW STATUS, SELECT @@version_comment ...). */
NN_API void nn_mysql_admin_query(nn_mysql_session *ses, const char *sql, size_t len);
NN_API void nn_mysql_admin_prepare(nn_mysql_session *ses, nn_mysql_stmt *stmt, const char *sql,
                                   size_t len);
NN_API void nn_mysql_admin_execute(nn_mysql_session *ses, nn_mysql_stmt *stmt,
                                   const nn_mysql_value *params, uint32_t count);

/* ------------------------------------------------------------------ answers
 * Each returns 0, or -EPROTO if called out of order (the answer is then an error for the
 * client), or as said below. */
NN_API int nn_mysql_session_ok(nn_mysql_session *ses, uint64_t affected_rows,
                               uint64_t last_insert_id, const char *info);
/* An error answer; it also ends a result set midway, and ends the command (no further
 * result follows an error). */
NN_API int nn_mysql_session_error(nn_mysql_session *ses, uint16_t code, const char *sqlstate,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The OK or result set being answered is followed by another (SERVER_MORE_RESULTS_EXISTS).
 * Call before nn_mysql_session_ok() / _result_end(). */
NN_API int nn_mysql_session_more_results(nn_mysql_session *ses);
/* Warnings to report in the next OK or end of result. */
NN_API void nn_mysql_session_set_warnings(nn_mysql_session *ses, uint16_t warnings);

NN_API int nn_mysql_session_result_begin(nn_mysql_session *ses, uint32_t column_count);
/* Once per column, in order, after result_begin. */
NN_API int nn_mysql_session_result_column_def(nn_mysql_session *ses, const nn_mysql_column *col);
/* Shorthand: a column with only a name and a type. */
NN_API int nn_mysql_session_result_column(nn_mysql_session *ses, const char *name,
                                          nn_mysql_type type);
/* One row of column_count typed values (borrowed for the call). A row is never refused for
 * lack of room. Returns 0 when it was taken; NN_MYSQL_ROW_FULL when it was taken and the
 * session's output is now over its limit: produce the next row only after the callback
 * armed with nn_mysql_session_on_writable() has run (so a session holds its output limit
 * plus one row, whatever the result's size); -ECANCELED when the client is gone or the
 * query was killed (stop producing and end the answer); -EINVAL when a value does not fit
 * its column (the answer has then become an error for the client: do not end it). */
#define NN_MYSQL_ROW_FULL 1
NN_API int nn_mysql_session_result_row_values(nn_mysql_session *ses, const nn_mysql_value *values);
/* The same with text values: values[i] == NULL is SQL NULL; lens may be NULL (then values
 * are NUL-terminated). The text is the column's value as MySQL prints it. */
NN_API int nn_mysql_session_result_row(nn_mysql_session *ses, const char *const *values,
                                       const size_t *lens);
NN_API int nn_mysql_session_result_end(nn_mysql_session *ses);

/* Back-pressure: runs fn(arg, ses) once, on the session's loop, when the output has drained
 * below half its limit (or the client has gone or the query was killed: rows then say
 * -ECANCELED). Arming again replaces the previous callback. */
typedef void (*nn_mysql_writable_fn)(void *arg, nn_mysql_session *ses);
NN_API void nn_mysql_session_on_writable(nn_mysql_session *ses, nn_mysql_writable_fn fn, void *arg);

/* COM_STMT_PREPARE's answer: the parameter count (at most 65535) and the result's column
 * definitions (column_count 0 = the statement returns no rows). */
NN_API int nn_mysql_stmt_prepared(nn_mysql_stmt *stmt, uint32_t param_count, uint32_t column_count,
                                  const nn_mysql_column *columns);
NN_API uint32_t nn_mysql_stmt_id(const nn_mysql_stmt *stmt);
NN_API uint32_t nn_mysql_stmt_param_count(const nn_mysql_stmt *stmt);
/* The statement's SQL as prepared (borrowed for the statement's life). */
NN_API const char *nn_mysql_stmt_sql(const nn_mysql_stmt *stmt, size_t *len);
NN_API void nn_mysql_stmt_set_user_data(nn_mysql_stmt *stmt, void *data);
NN_API void *nn_mysql_stmt_user_data(const nn_mysql_stmt *stmt);

/* Facts of the session, for handlers. Strings are borrowed for the session's life (until
 * a change of user for the user names). */
NN_API const char *nn_mysql_session_user(const nn_mysql_session *ses);         /* login name */
NN_API const char *nn_mysql_session_host(const nn_mysql_session *ses);         /* peer address */
NN_API const char *nn_mysql_session_account_host(const nn_mysql_session *ses); /* matched host */
NN_API const char *nn_mysql_session_database(const nn_mysql_session *ses);     /* "" = none */
/* Sets the current database (as USE does); reported to clients that track the schema. */
NN_API void nn_mysql_session_set_database(nn_mysql_session *ses, const char *db, size_t len);
/* The session is inside a transaction (BEGIN ... COMMIT): OK and EOF packets carry
 * SERVER_STATUS_IN_TRANS, which drivers read (PDO::commit, JDBC). A reset or a change of
 * user ends it. */
NN_API void nn_mysql_session_set_in_transaction(nn_mysql_session *ses, bool in_transaction);
/* A system variable the session changed, reported to clients that track them
 * (CLIENT_SESSION_TRACK) in the next OK. */
NN_API void nn_mysql_session_track_variable(nn_mysql_session *ses, const char *name,
                                            const char *value);
NN_API uint64_t nn_mysql_session_id(const nn_mysql_session *ses);
/* The session's TLS facts, read on the first call (make it on the session's loop, from a
 * handler callback or nn_mysql_session_run(), as for the other calls here); the pointer and
 * what it points to stay valid and unchanged for the session's life. */
NN_API const nn_tls_facts *nn_mysql_session_tls(const nn_mysql_session *ses);
/* Connection attributes the client sent at login (CLIENT_CONNECT_ATTRS): the value of key,
 * or NULL; and the i-th pair (false past the end). Borrowed for the session's life. */
NN_API const char *nn_mysql_session_attr(const nn_mysql_session *ses, const char *key);
NN_API bool nn_mysql_session_attr_at(const nn_mysql_session *ses, size_t i, const char **key,
                                     const char **value);
/* Query attributes of the command being answered (CLIENT_QUERY_ATTRIBUTES): the value of
 * name, or NULL when absent. Valid until the answer is complete. */
NN_API const nn_mysql_value *nn_mysql_session_query_attr(const nn_mysql_session *ses,
                                                         const char *name);
/* Per-session slot for the engine. */
NN_API void nn_mysql_session_set_user_data(nn_mysql_session *ses, void *data);
NN_API void *nn_mysql_session_user_data(const nn_mysql_session *ses);

/* Answering later: any thread. fn(arg, ses) runs once on the session's worker, where it
 * may answer (the session stays valid until its pending answer is complete). Returns 0, or
 * negative when the worker is gone (fn will not run). */
NN_API int nn_mysql_session_run(nn_mysql_session *ses, void (*fn)(void *arg, nn_mysql_session *ses),
                                void *arg);

#ifdef __cplusplus
}
#endif

#endif
