/* mysql/command.c: the command phase. One command packet at a time: it holds the session
 * until its answer is complete (an engine may answer after the client has gone), and no
 * further command is read meanwhile. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/session_internal.h"

enum {
    COM_QUIT = 0x01,
    COM_INIT_DB = 0x02,
    COM_QUERY = 0x03,
    COM_FIELD_LIST = 0x04,
    COM_STATISTICS = 0x09,
    COM_PROCESS_KILL = 0x0c,
    COM_PING = 0x0e,
    COM_CHANGE_USER = 0x11,
    COM_STMT_PREPARE = 0x16,
    COM_STMT_EXECUTE = 0x17,
    COM_STMT_SEND_LONG_DATA = 0x18,
    COM_STMT_CLOSE = 0x19,
    COM_STMT_RESET = 0x1a,
    COM_SET_OPTION = 0x1b,
    COM_STMT_FETCH = 0x1c,
    COM_RESET_CONNECTION = 0x1f,
};

void nn_mysql_command_begin(nn_mysql_session *ses, uint8_t command) {
    nn_mysql_session_hold(ses);
    ses->state = ST_COMMAND_PENDING;
    ses->command = command;
    ses->command_started_ns = nn_now_ns();
    ses->rs = RS_NONE;
    ses->target = RS_TEXT;
    ses->more_results = false;
    ses->killed = false;
    nn_mysql_process_command(ses, command);
    if (ses->z != NULL) {
        nn_mysql_z_command_start(ses);
    }
    nn_stream_set_deadline(ses->stream, 0);
}

static void command_done(nn_mysql_session *ses) {
    ses->state = ST_COMMAND;
    nn_mysql_process_command(ses, 0);
    ses->rs = RS_NONE;
    ses->target = RS_TEXT;
    ses->cursor_stmt = NULL;
    ses->writable_fn = NULL;
    free(ses->multi_sql);
    ses->multi_sql = NULL;
    if (ses->preparing != NULL) {
        nn_mysql_stmt_prepare_done(ses);
    }
    nn_mysql_session_qattrs_clear(ses);
    nn_mysql_reply_soon(ses);
    if (ses->stream == NULL) {
        return;
    }
    if (ses->draining || ses->kill_connection) {
        nn_mysql_reply_flush(ses);
        nn_mysql_conn_close(ses, NN_CLOSE_SHUTDOWN,
                            ses->kill_connection ? "connection killed" : "server stopping");
        return;
    }
    nn_stream_set_deadline(ses->stream, nn_now_ns() + NN_MS(ses->settings->idle_timeout_ms));
    if (ses->scratch.cap > 0) {
        nn_buf_free(&ses->scratch);
    }
}

void nn_mysql_conn_answer_finished(nn_mysql_session *ses) {
    if (ses->state != ST_COMMAND_PENDING) {
        return;
    }
    command_done(ses);
    if (ses->stream != NULL && ses->state == ST_COMMAND) {
        /* Commands the client pipelined while we answered. */
        nn_mysql_conn_process_input(ses);
    }
    nn_mysql_session_release(ses); /* the command's hold; may free a closed session */
}

void nn_mysql_session_qattrs_clear(nn_mysql_session *ses) {
    if (ses->qattr_count == 0 && ses->qattr_blob == NULL) {
        return;
    }
    for (uint32_t i = 0; i < ses->qattr_count; i++) {
        free(ses->qattr_names[i]);
    }
    free(ses->qattr_names);
    free(ses->qattrs);
    free(ses->qattr_blob);
    ses->qattr_names = NULL;
    ses->qattrs = NULL;
    ses->qattr_blob = NULL;
    ses->qattr_count = 0;
}

/* COM_QUERY with CLIENT_QUERY_ATTRIBUTES: parameter_count, parameter_set_count (1), then
 * the NULL bitmap, new_params_bind_flag, types with names, and values, before the SQL.
 * Returns the offset of the SQL in p, or -EPROTO. */
static long query_attributes(nn_mysql_session *ses, const uint8_t *p, size_t len) {
    nn_mysql_cursor c;
    nn_mysql_cursor_init(&c, p, len);
    uint64_t count = nn_mysql_get_lenenc(&c);
    nn_mysql_get_lenenc(&c); /* parameter_set_count: always 1 */
    if (c.bad || count > 65535) {
        return -EPROTO;
    }
    if (count == 0) {
        return (long)(len - c.left);
    }
    uint32_t n = (uint32_t)count;
    const uint8_t *bitmap = nn_mysql_get_bytes(&c, (n + 7) / 8);
    if (nn_mysql_get_u8(&c) != 1 || c.bad) {
        return -EPROTO;
    }
    uint8_t *types = malloc((size_t)n * 2);
    ses->qattr_names = calloc(n, sizeof(char *));
    ses->qattrs = calloc(n, sizeof(nn_mysql_value));
    if (types == NULL || ses->qattr_names == NULL || ses->qattrs == NULL) {
        free(types);
        return -EPROTO;
    }
    ses->qattr_count = n;
    for (uint32_t i = 0; i < n && !c.bad; i++) {
        types[2 * i] = nn_mysql_get_u8(&c);
        types[2 * i + 1] = nn_mysql_get_u8(&c);
        size_t name_len = (size_t)nn_mysql_get_lenenc(&c);
        const uint8_t *name = nn_mysql_get_bytes(&c, name_len);
        if (name != NULL) {
            ses->qattr_names[i] = strndup((const char *)name, name_len);
        }
    }
    /* The values point into the packet, which lives only during this call: keep a copy. */
    ses->qattr_blob = c.bad ? NULL : malloc(c.left + 1);
    if (ses->qattr_blob == NULL) {
        free(types);
        return -EPROTO;
    }
    memcpy(ses->qattr_blob, c.p, c.left);
    size_t sql_at_base = len - c.left;
    nn_mysql_cursor vc;
    nn_mysql_cursor_init(&vc, ses->qattr_blob, c.left);
    int rc = nn_mysql_params_decode(&vc, n, bitmap, types, NULL, ses->qattrs);
    free(types);
    if (rc < 0) {
        return -EPROTO;
    }
    return (long)(sql_at_base + (c.left - vc.left));
}

static void com_query(nn_mysql_session *ses, const uint8_t *p, size_t len) {
    nn_mysql_server *srv = ses->srv;
    size_t at = 0;
    if (ses->caps & NN_CLIENT_QUERY_ATTRIBUTES) {
        long off = query_attributes(ses, p, len);
        if (off < 0) {
            nn_mysql_session_error(ses, NN_ER_WRONG_ARGUMENTS, "HY000",
                                   "Malformed query attributes");
            return;
        }
        at = (size_t)off;
    }
    const char *sql = (const char *)p + at;
    size_t sql_len = len - at;
    if (srv->handler != NULL && srv->handler->query != NULL) {
        srv->handler->query(srv->handler_arg, ses, sql, sql_len);
    } else {
        nn_mysql_admin_query(ses, sql, sql_len);
    }
}

static void com_statistics(nn_mysql_session *ses) {
    nn_mysql_server *srv = ses->srv;
    char text[256];
    uint64_t uptime = (nn_now_ns() - srv->started_ns) / NN_SEC(1);
    snprintf(text, sizeof(text),
             "Uptime: %llu  Threads: %llu  Questions: %llu  Slow queries: 0  Opens: 0  "
             "Flush tables: 0  Open tables: 0  Queries per second avg: 0.000",
             (unsigned long long)uptime, (unsigned long long)atomic_load(&srv->threads_connected),
             (unsigned long long)atomic_load(&srv->questions));
    /* A bare string, not an OK packet. */
    size_t at = nn_mysql_reply_begin(ses);
    nn_buf_append(&ses->wire, text, strlen(text));
    nn_mysql_reply_end(ses, at);
    nn_mysql_conn_answer_finished(ses);
}

void nn_mysql_session_reset_state(nn_mysql_session *ses) {
    nn_mysql_stmt_close_all(ses);
    for (size_t i = 0; i < ses->var_count; i++) {
        free(ses->vars[i].name);
        free(ses->vars[i].value);
    }
    ses->var_count = 0;
    nn_buf_free(&ses->track);
    ses->warnings = 0;
    ses->in_transaction = false;
}

static void com_reset_connection(nn_mysql_session *ses) {
    nn_mysql_session_reset_state(ses);
    const nn_mysql_handler *h = ses->srv->handler;
    if (h != NULL && h->session_reset != NULL) {
        h->session_reset(ses->srv->handler_arg, ses, false);
    }
    nn_mysql_session_ok(ses, 0, 0, NULL);
}

void nn_mysql_command_change_user_done(nn_mysql_session *ses) {
    nn_mysql_session_reset_state(ses);
    nn_mysql_process_add(ses); /* listed again, as the new account */
    const nn_mysql_handler *h = ses->srv->handler;
    if (h != NULL && h->session_reset != NULL) {
        h->session_reset(ses->srv->handler_arg, ses, true);
    }
    ses->state = ST_COMMAND_PENDING;
    nn_mysql_session_ok(ses, 0, 0, NULL);
}

void nn_mysql_command_dispatch(nn_mysql_session *ses, const uint8_t *p, size_t len) {
    nn_mysql_server *srv = ses->srv;
    if (len == 0) {
        nn_mysql_command_begin(ses, 0);
        nn_mysql_session_error(ses, NN_ER_UNKNOWN_COM, "08S01", "Unknown command");
        return;
    }
    uint8_t cmd = p[0];
    const uint8_t *arg = p + 1;
    size_t arg_len = len - 1;
    atomic_fetch_add_explicit(&srv->questions, 1, memory_order_relaxed);
    if (cmd == COM_QUIT) {
        nn_tls_quiet_close(ses->stream);
        nn_mysql_conn_close(ses, NN_CLOSE_LOCAL, "client quit");
        return;
    }
    nn_mysql_command_begin(ses, cmd);
    switch (cmd) {
    case COM_PING:
        nn_mysql_session_ok(ses, 0, 0, NULL);
        return;
    case COM_QUERY:
        com_query(ses, arg, arg_len);
        return;
    case COM_INIT_DB:
        if (srv->handler != NULL && srv->handler->init_db != NULL) {
            srv->handler->init_db(srv->handler_arg, ses, (const char *)arg, arg_len);
        } else {
            nn_mysql_admin_init_db(ses, (const char *)arg, arg_len);
        }
        return;
    case COM_FIELD_LIST: /* no tables here, so no fields: just the terminator */
        nn_mysql_result_send_end(ses, 0);
        nn_mysql_conn_answer_finished(ses);
        return;
    case COM_STATISTICS:
        com_statistics(ses);
        return;
    case COM_PROCESS_KILL: {
        nn_mysql_cursor c;
        nn_mysql_cursor_init(&c, arg, arg_len);
        uint32_t id = nn_mysql_get_u32(&c);
        if (c.bad) {
            nn_mysql_session_error(ses, NN_ER_WRONG_ARGUMENTS, "HY000",
                                   "Incorrect arguments to COM_PROCESS_KILL");
            return;
        }
        nn_mysql_process_kill(ses, id, true);
        return;
    }
    case COM_RESET_CONNECTION:
        com_reset_connection(ses);
        return;
    case COM_CHANGE_USER:
        nn_mysql_conn_change_user(ses, arg, arg_len);
        return;
    case COM_SET_OPTION: {
        /* MYSQL_OPTION_MULTI_STATEMENTS_ON (0) / _OFF (1): answered with an EOF. */
        nn_mysql_cursor c;
        nn_mysql_cursor_init(&c, arg, arg_len);
        uint16_t option = nn_mysql_get_u16(&c);
        if (c.bad || option > 1) {
            nn_mysql_session_error(ses, NN_ER_UNKNOWN_COM, "08S01", "Unknown command");
            return;
        }
        if (option == 0) {
            ses->caps |= NN_CLIENT_MULTI_STATEMENTS;
        } else {
            ses->caps &= ~NN_CLIENT_MULTI_STATEMENTS;
        }
        nn_mysql_conn_send_eof(ses);
        nn_mysql_conn_answer_finished(ses);
        return;
    }
    case COM_STMT_PREPARE:
        nn_mysql_stmt_prepare_cmd(ses, arg, arg_len);
        return;
    case COM_STMT_EXECUTE:
        nn_mysql_stmt_execute_cmd(ses, arg, arg_len);
        return;
    case COM_STMT_FETCH:
        nn_mysql_stmt_fetch_cmd(ses, arg, arg_len);
        return;
    case COM_STMT_RESET:
        nn_mysql_stmt_reset_cmd(ses, arg, arg_len);
        return;
    case COM_STMT_SEND_LONG_DATA: /* no answer, ever */
        nn_mysql_stmt_long_data_cmd(ses, arg, arg_len);
        nn_mysql_conn_answer_finished(ses);
        return;
    case COM_STMT_CLOSE: /* no answer, ever */
        nn_mysql_stmt_close_cmd(ses, arg, arg_len);
        nn_mysql_conn_answer_finished(ses);
        return;
    default:
        nn_log(NN_LOG_DEBUG, "mysql.command.unknown", "conn=%llu command=0x%02x",
               (unsigned long long)ses->id, cmd);
        nn_mysql_session_error(ses, NN_ER_UNKNOWN_COM, "08S01", "Unknown command");
        return;
    }
}
