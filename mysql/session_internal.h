/* mysql/session_internal.h: one client connection's state, shared by conn.c (the
 * connection phase and commands) and session.c (answers and accessors). Private. */
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
    bool in_input; /* process_input is on the stack: it will read what follows */
    nn_tls_facts facts;
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
    nn_buf out;                      /* one payload being built */
    nn_buf wire;                     /* framed packets */
    unsigned holds;
    rs_state rs;
    uint32_t rs_columns;
    uint32_t rs_column_index;
    void *user_data;
    session_var *vars;
    size_t var_count;
};

/* Frames ses->out as the next packet(s) and queues them. */
int nn_mysql_conn_send_out(nn_mysql_session *ses);
int nn_mysql_conn_send_ok(nn_mysql_session *ses, uint8_t header, uint64_t affected,
                          uint64_t last_id, const char *info);
int nn_mysql_conn_send_eof(nn_mysql_session *ses);
int nn_mysql_conn_send_error(nn_mysql_session *ses, uint16_t code, const char *sqlstate,
                             const char *msg);
/* The command in progress got its whole answer: back to reading commands (and the
 * command's hold on the session is dropped, which may free a closed session). */
void nn_mysql_conn_answer_finished(nn_mysql_session *ses);
void nn_mysql_conn_process_input(nn_mysql_session *ses);

#endif
