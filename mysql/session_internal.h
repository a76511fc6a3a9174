/* mysql/session_internal.h: one client connection's state, shared by conn.c (the
 * connection phase), command.c (the command phase), reply.c (packets out), result.c
 * (answers and rows), stmt.c (prepared statements) and session.c (accessors). Private. */
#ifndef NODENET_MYSQL_SESSION_INTERNAL_H
#define NODENET_MYSQL_SESSION_INTERNAL_H

#include "mysql/mysql_internal.h"

typedef enum conn_state {
    ST_GREETING_SENT,
    ST_TLS_HANDSHAKE,
    ST_AUTH_RESPONSE,
    ST_AUTH_SWITCH,
    ST_AUTH_FULL,
    ST_AUTH_RSA,
    ST_COMMAND,
    ST_COMMAND_PENDING,
    ST_CLOSED,
} conn_state;

typedef enum rs_state {
    RS_NONE,
    RS_COLUMNS,
    RS_ROWS,
} rs_state;

typedef struct session_var {
    char *name;
    char *value;
} session_var;

/* What the layer keeps of a result column to encode its values. */
typedef struct rs_col {
    uint8_t type;
    uint8_t decimals;
    uint16_t flags;
} rs_col;

/* Where the rows of the answer go. */
typedef enum rs_target {
    RS_TEXT,   /* COM_QUERY: text rows */
    RS_BINARY, /* COM_STMT_EXECUTE: binary rows */
    RS_CURSOR, /* COM_STMT_EXECUTE with a cursor: binary rows kept for COM_STMT_FETCH */
} rs_target;

struct nn_mysql_stmt {
    uint32_t id;
    uint32_t param_count;
    uint32_t column_count;
    bool prepared; /* the engine answered the prepare */
    char *sql;     /* owned, NUL-terminated */
    size_t sql_len;
    void *user_data;
    nn_mysql_session *ses;
    /* Parameter types as last bound by the client (2 bytes each: type, flags). */
    uint8_t *param_types;
    bool types_bound;
    /* COM_STMT_SEND_LONG_DATA per parameter: joined bytes, NULL when none. */
    nn_buf *long_data;
    bool long_data_too_big;
    /* An open cursor: binary row packets (payloads, each prefixed by its u32 length) kept
     * until fetched, and where the next fetch starts. */
    nn_buf cursor;
    size_t cursor_pos;
    bool cursor_open;
};

struct nn_mysql_session {
    nn_mysql_server *srv;
    nn_stream *stream; /* NULL once the stream is gone */
    nn_loop *loop;
    uint64_t id;
    conn_state state;
    const nn_mysql_settings *settings; /* as they were at accept */
    bool tls_offered;
    bool secure;
    bool draining;
    bool logged_in;
    bool in_input;     /* process_input is on the stack: it will read what follows */
    bool input_paused; /* output over the limit: the client's next commands wait */
    bool killed;       /* KILL QUERY/CONNECTION: the running command is cancelled */
    bool kill_connection;
    bool changing_user; /* COM_CHANGE_USER is authenticating */
    bool in_transaction; /* SERVER_STATUS_IN_TRANS */
    /* TLS: no copy of the session's facts (about 2 KB) is kept; they are read from the
     * stream when asked (nn_mysql_session_tls_facts). The version and cipher names are
     * static strings (nn_tls_names), NULL without TLS: the process list reads them from
     * other threads. */
    const char *tls_version;
    const char *tls_cipher;
    nn_tls_facts *facts_cache; /* made by the first nn_mysql_session_tls() (embedders) */
    uint32_t client_caps;
    uint32_t caps; /* negotiated */
    uint8_t seq;   /* the next sequence id on the wire, either direction */
    uint8_t scramble[NN_MYSQL_SCRAMBLE_LEN];
    char user[128];
    char user_log[128]; /* user with anything that could forge a log line replaced */
    char host[64];
    char account_host[256];
    char database[256];
    bool used_password;
    nn_mysql_users *users;           /* held during auth only */
    const nn_mysql_account *account; /* inside users */
    nn_buf scratch;                  /* multi-packet reassembly */
    nn_buf out;                      /* connection phase: one payload being built */
    nn_buf wire;                     /* framed packets not yet written to the stream */
    unsigned holds;
    /* The command being answered. */
    uint8_t command;
    uint64_t command_started_ns;
    rs_state rs;
    rs_target target;
    uint32_t rs_columns;
    uint32_t rs_column_index;
    rs_col *cols;
    uint32_t cols_cap;
    bool more_results;
    uint16_t warnings;
    nn_mysql_stmt *cursor_stmt; /* RS_CURSOR: the statement whose cursor fills */
    uint64_t answer_parts;      /* OKs and result sets answered, for multi-statements */
    char *multi_sql;            /* the admin handler's multi-statement text (owned) */
    size_t multi_len;
    size_t multi_pos;
    bool multi_running;
    nn_mysql_writable_fn writable_fn;
    void *writable_arg;
    nn_task writable_task;
    bool writable_posted;
    void *user_data;
    session_var *vars;
    size_t var_count;
    /* Session state changes for CLIENT_SESSION_TRACK, sent with the next OK. */
    nn_buf track;
    /* Connection attributes: "key\0value\0" pairs. */
    char *attrs;
    size_t attrs_len;
    size_t attr_count;
    /* Query attributes of the command being answered. */
    nn_mysql_value *qattrs;
    char **qattr_names;
    uint32_t qattr_count;
    uint8_t *qattr_blob; /* owned copy of the bytes the values point into */
    nn_mysql_proc proc; /* in the server's process list while logged in */
    /* Prepared statements. */
    nn_mysql_stmt **stmts;
    uint32_t stmt_count;
    uint32_t stmt_cap;
    uint32_t next_stmt_id;
    nn_mysql_stmt *last_stmt;
    nn_mysql_stmt *preparing; /* a prepare the engine answers later */
    /* Protocol compression (CLIENT_COMPRESS / zstd): NULL when off; what the login asked
     * for until it is turned on after the login's OK. */
    struct nn_mysql_zstate *z;
    uint8_t z_want; /* 0, NN_MYSQL_Z_ZLIB or NN_MYSQL_Z_ZSTD */
    uint8_t z_want_level;
};

/* ------------------------------------------------------------------ reply.c */

/* Starts a packet in ses->wire; returns where its header is (for reply_end). */
size_t nn_mysql_reply_begin(nn_mysql_session *ses);
/* Ends the packet started at `at`: its header gets the payload length and the next
 * sequence id (payloads of 16 MiB and more are split as the protocol says). */
void nn_mysql_reply_end(nn_mysql_session *ses, size_t at);
/* Hands ses->wire to the stream now (through compression when it is on). A writer that
 * failed (out of memory) closes the connection rather than send half a packet. */
void nn_mysql_reply_flush(nn_mysql_session *ses);
/* Flushes when enough is batched, else at the end of the round (on_flush). */
void nn_mysql_reply_soon(nn_mysql_session *ses);
/* Bytes written and not yet acknowledged by the kernel, batched ones included. */
size_t nn_mysql_reply_pending(const nn_mysql_session *ses);
/* The session's output limit (bytes). */
size_t nn_mysql_reply_limit(const nn_mysql_session *ses);

/* Frames ses->out (connection phase) as the next packet(s) and queues them. */
int nn_mysql_conn_send_out(nn_mysql_session *ses);
int nn_mysql_conn_send_ok(nn_mysql_session *ses, uint8_t header, uint64_t affected,
                          uint64_t last_id, const char *info);
int nn_mysql_conn_send_eof(nn_mysql_session *ses);
int nn_mysql_conn_send_error(nn_mysql_session *ses, uint16_t code, const char *sqlstate,
                             const char *msg);
uint16_t nn_mysql_conn_status_flags(const nn_mysql_session *ses);

/* ------------------------------------------------------------- conn/command */

/* The command in progress got its whole answer: back to reading commands (and the
 * command's hold on the session is dropped, which may free a closed session). */
void nn_mysql_conn_answer_finished(nn_mysql_session *ses);
void nn_mysql_conn_process_input(nn_mysql_session *ses);
void nn_mysql_conn_close(nn_mysql_session *ses, int reason, const char *why);
/* command.c: one command packet in ST_COMMAND. */
void nn_mysql_command_dispatch(nn_mysql_session *ses, const uint8_t *p, size_t len);
/* A command holds the session until it is answered. */
void nn_mysql_command_begin(nn_mysql_session *ses, uint8_t command);
/* COM_CHANGE_USER's authentication succeeded or failed (conn.c calls these). */
void nn_mysql_command_change_user_done(nn_mysql_session *ses);
/* Resets session state as a fresh login has it (statements closed, variables cleared). */
void nn_mysql_session_reset_state(nn_mysql_session *ses);
/* conn.c: COM_CHANGE_USER's fields (pointers into p). 0 or -EPROTO. */
typedef struct nn_mysql_change_user_req {
    const char *user;
    size_t user_len;
    const char *db;
    size_t db_len;
    const uint8_t *attrs; /* NULL when none */
    size_t attrs_len;
} nn_mysql_change_user_req;
int nn_mysql_change_user_parse(const uint8_t *p, size_t len, uint32_t client_caps,
                               nn_mysql_change_user_req *out);
/* conn.c: COM_CHANGE_USER starts a new authentication on this session. */
void nn_mysql_conn_change_user(nn_mysql_session *ses, const uint8_t *p, size_t len);
/* result.c: the stream drained; an engine waiting for room goes on. */
void nn_mysql_session_writable_fire(nn_mysql_session *ses);
/* stmt.c: decodes n binary parameter values (execute, query attributes) from c: the NULL
 * bitmap and types are given; long_data (may be NULL) replaces the values of parameters
 * that got COM_STMT_SEND_LONG_DATA. 0 or -EPROTO. */
int nn_mysql_params_decode(nn_mysql_cursor *c, uint32_t n, const uint8_t *null_bitmap,
                           const uint8_t *types, nn_buf *long_data, nn_mysql_value *out);
/* process.c: the process list and KILL. */
void nn_mysql_process_add(nn_mysql_session *ses);
void nn_mysql_process_remove(nn_mysql_session *ses);
void nn_mysql_process_command(nn_mysql_session *ses, uint8_t command);
/* Sets ses->database (under the list's lock while the session is listed). */
void nn_mysql_process_set_database(nn_mysql_session *ses, const char *db, size_t len);
void nn_mysql_process_kill(nn_mysql_session *ses, uint64_t id, bool connection);
/* KILL, SHOW PROCESSLIST, SELECT * FROM information_schema.PROCESSLIST: runs it (unless
 * describe_only) and returns its result's column count; -1 when sql is none of these. */
int nn_mysql_process_statement(nn_mysql_session *ses, const char *sql, size_t len,
                               bool describe_only);
/* admin_stmt.c: the next statements of a multi-statement text, after an answer part. */
void nn_mysql_admin_multi_continue(nn_mysql_session *ses);
/* stmt.c: the parameter block of a COM_STMT_EXECUTE (after id, flags and iteration count):
 * [parameter count], NULL bitmap, new-params-bound flag, types (and names with query
 * attributes), values. types (2 bytes per parameter) keeps the last bound types across
 * executes. 0 or -EPROTO. */
int nn_mysql_execute_params(nn_mysql_cursor *c, uint32_t n, bool attrs, uint8_t flags,
                            uint8_t *types, bool *types_bound, nn_buf *long_data,
                            nn_mysql_value *out);
/* The session's attributes blob is freed and query attributes dropped. */
void nn_mysql_session_qattrs_clear(nn_mysql_session *ses);

/* ------------------------------------------------------------------ result.c */

/* Encodes the value of a column as text (the text protocol) into out. 0 or -EINVAL. */
int nn_mysql_value_text(nn_buf *out, const rs_col *col, const nn_mysql_value *v);
/* Appends a binary-protocol row (header, NULL bitmap, values) for cols. 0 or -EINVAL. */
int nn_mysql_row_binary(nn_buf *out, const rs_col *cols, uint32_t n, const nn_mysql_value *v);
/* Appends a column definition packet's payload. */
void nn_mysql_column_def(nn_buf *out, const nn_mysql_column *col, rs_col *kept);
/* Sends the end of a result (EOF or OK 0xfe) with extra status bits. */
void nn_mysql_result_send_end(nn_mysql_session *ses, uint16_t extra_status);

/* -------------------------------------------------------------------- stmt.c */

void nn_mysql_stmt_prepare_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len);
void nn_mysql_stmt_execute_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len);
void nn_mysql_stmt_long_data_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len);
void nn_mysql_stmt_reset_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len);
void nn_mysql_stmt_close_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len);
void nn_mysql_stmt_fetch_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len);
/* The command ended: a statement whose prepare was refused later is dropped. */
void nn_mysql_stmt_prepare_done(nn_mysql_session *ses);
/* The execute's result set with a cursor ended: the layer answers the client now. */
void nn_mysql_stmt_cursor_ready(nn_mysql_session *ses);
/* Closes every statement (engine told through stmt_close). */
void nn_mysql_stmt_close_all(nn_mysql_session *ses);

/* ---------------------------------------------------------------- compress.c */

typedef enum nn_mysql_zalgo {
    NN_MYSQL_Z_ZLIB = 1,
    NN_MYSQL_Z_ZSTD = 2,
} nn_mysql_zalgo;

/* The codec alone (fuzz targets and tests use it without a session). */
struct nn_mysql_zstate *nn_mysql_z_new(nn_mysql_zalgo algo, int level);
void nn_mysql_z_delete(struct nn_mysql_zstate *z);
/* Decodes compressed packets from the front of in into plain (at most cap bytes in all)
 * until plain holds a whole MySQL packet or in has no whole compressed packet left.
 * Returns the bytes of in used, or -EPROTO / -EMSGSIZE / -ENOMEM with why set. */
int nn_mysql_z_unpack(struct nn_mysql_zstate *z, const uint8_t *in, size_t len, nn_buf *plain,
                      size_t cap, const char **why);
/* Appends data as compressed packets (pieces under 16 MiB; small or incompressible pieces
 * as they are) to out. 0 or -ENOMEM. */
int nn_mysql_z_pack(struct nn_mysql_zstate *z, const uint8_t *data, size_t len, nn_buf *out);
/* Turns compression on for what follows (after the OK of the login). 0 or -ENOMEM. */
int nn_mysql_z_start(nn_mysql_session *ses, nn_mysql_zalgo algo, int level);
void nn_mysql_z_free(nn_mysql_session *ses);
/* Input: decompresses what the stream holds into the session's plain input. Returns the
 * plain bytes available (*data, *len), 0 when more are needed, or -EPROTO/-EMSGSIZE with
 * why filled (the session must close). */
int nn_mysql_z_input(nn_mysql_session *ses, const uint8_t **data, size_t *len, const char **why);
void nn_mysql_z_consume(nn_mysql_session *ses, size_t n);
/* Output: compresses plain packets into the stream. 0 or negative. */
int nn_mysql_z_write(nn_mysql_session *ses, const uint8_t *data, size_t len);
/* A new command starts: compressed sequence ids restart. */
void nn_mysql_z_command_start(nn_mysql_session *ses);
const char *nn_mysql_z_name(const nn_mysql_session *ses);
int nn_mysql_z_level(const nn_mysql_session *ses);

#endif
