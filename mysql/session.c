/* mysql/session.c: what handlers call on a session: the answers (OK, error, text result
 * sets honouring CLIENT_DEPRECATE_EOF) and the session's facts and variables. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/session_internal.h"

/* ------------------------------------------------------------------ answers */

static int answer_check(nn_mysql_session *ses) {
    return ses->state == ST_COMMAND_PENDING ? 0 : -EPROTO;
}

int nn_mysql_session_ok(nn_mysql_session *ses, uint64_t affected_rows, uint64_t last_insert_id,
                        const char *info) {
    if (answer_check(ses) < 0 || ses->rs != RS_NONE) {
        return -EPROTO;
    }
    nn_mysql_conn_send_ok(ses, 0x00, affected_rows, last_insert_id, info);
    nn_mysql_conn_answer_finished(ses);
    return 0;
}

int nn_mysql_session_error(nn_mysql_session *ses, uint16_t code, const char *sqlstate,
                           const char *fmt, ...) {
    if (answer_check(ses) < 0) {
        return -EPROTO;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (sqlstate == NULL || strlen(sqlstate) != 5) {
        sqlstate = "HY000";
    }
    /* An error may also end a result set midway (MySQL does the same). */
    nn_mysql_conn_send_error(ses, code, sqlstate, msg);
    nn_mysql_conn_answer_finished(ses);
    return 0;
}

int nn_mysql_session_result_begin(nn_mysql_session *ses, uint32_t column_count) {
    if (answer_check(ses) < 0 || ses->rs != RS_NONE || column_count == 0) {
        return -EPROTO;
    }
    nn_mysql_put_lenenc(&ses->out, column_count);
    nn_mysql_conn_send_out(ses);
    ses->rs = RS_COLUMNS;
    ses->rs_columns = column_count;
    ses->rs_column_index = 0;
    return 0;
}

int nn_mysql_session_result_column(nn_mysql_session *ses, const char *name, nn_mysql_type type) {
    if (answer_check(ses) < 0 || ses->rs != RS_COLUMNS) {
        return -EPROTO;
    }
    nn_buf *b = &ses->out;
    bool numeric = type == NN_MYSQL_TYPE_LONGLONG || type == NN_MYSQL_TYPE_DOUBLE;
    nn_mysql_put_lenenc_str(b, "def", 3);
    nn_mysql_put_lenenc_str(b, "", 0); /* schema */
    nn_mysql_put_lenenc_str(b, "", 0); /* table */
    nn_mysql_put_lenenc_str(b, "", 0); /* org_table */
    nn_mysql_put_lenenc_str(b, name, strlen(name));
    nn_mysql_put_lenenc_str(b, "", 0); /* org_name */
    nn_mysql_put_lenenc(b, 0x0c);
    nn_mysql_put_u16(b, numeric ? 63 : 45); /* binary / utf8mb4_general_ci */
    nn_mysql_put_u32(b, numeric ? 21 : 1024);
    nn_mysql_put_u8(b, (uint8_t)type);
    nn_mysql_put_u16(b, numeric ? 0x81 : 0); /* NOT_NULL|BINARY-ish for numbers */
    nn_mysql_put_u8(b, type == NN_MYSQL_TYPE_DOUBLE ? 31 : 0);
    nn_mysql_put_u16(b, 0);
    nn_mysql_conn_send_out(ses);
    if (++ses->rs_column_index == ses->rs_columns) {
        if (!(ses->caps & NN_CLIENT_DEPRECATE_EOF)) {
            nn_mysql_conn_send_eof(ses);
        }
        ses->rs = RS_ROWS;
    }
    return 0;
}

int nn_mysql_session_result_row(nn_mysql_session *ses, const char *const *values,
                                const size_t *lens) {
    if (answer_check(ses) < 0 || ses->rs != RS_ROWS) {
        return -EPROTO;
    }
    for (uint32_t i = 0; i < ses->rs_columns; i++) {
        if (values[i] == NULL) {
            nn_mysql_put_u8(&ses->out, 0xfb);
        } else {
            size_t n = lens ? lens[i] : strlen(values[i]);
            nn_mysql_put_lenenc_str(&ses->out, values[i], n);
        }
    }
    return nn_mysql_conn_send_out(ses);
}

int nn_mysql_session_result_end(nn_mysql_session *ses) {
    if (answer_check(ses) < 0 || ses->rs != RS_ROWS) {
        return -EPROTO;
    }
    if (ses->caps & NN_CLIENT_DEPRECATE_EOF) {
        nn_mysql_conn_send_ok(ses, 0xfe, 0, 0, NULL);
    } else {
        nn_mysql_conn_send_eof(ses);
    }
    nn_mysql_conn_answer_finished(ses);
    return 0;
}

/* ------------------------------------------------------------------ accessors */

const char *nn_mysql_session_user(const nn_mysql_session *ses) {
    return ses->user;
}

const char *nn_mysql_session_host(const nn_mysql_session *ses) {
    return ses->host;
}

const char *nn_mysql_session_account_host(const nn_mysql_session *ses) {
    return ses->account_host;
}

const char *nn_mysql_session_database(const nn_mysql_session *ses) {
    return ses->database;
}

uint64_t nn_mysql_session_id(const nn_mysql_session *ses) {
    return ses->id;
}

const nn_tls_facts *nn_mysql_session_tls(const nn_mysql_session *ses) {
    return &ses->facts;
}

nn_loop *nn_mysql_session_loop(const nn_mysql_session *ses) {
    return ses->loop;
}

void nn_mysql_session_set_user_data(nn_mysql_session *ses, void *data) {
    ses->user_data = data;
}

void *nn_mysql_session_user_data(const nn_mysql_session *ses) {
    return ses->user_data;
}

nn_mysql_server *nn_mysql_session_server(const nn_mysql_session *ses) {
    return ses->srv;
}

bool nn_mysql_session_may_manage_users(nn_mysql_session *ses) {
    nn_mysql_users *u = nn_mysql_catalog_users_get0(ses->srv->catalog, ses->loop);
    const nn_mysql_account *a = nn_mysql_users_find(u, ses->user, ses->account_host);
    /* The bootstrap root has the flag; a name alone grants nothing ('root'@'10.0.0.9'
     * made later is an ordinary account). */
    return a != NULL && a->admin;
}

const char *nn_mysql_session_var(const nn_mysql_session *ses, const char *name) {
    for (size_t i = 0; i < ses->var_count; i++) {
        if (strcmp(ses->vars[i].name, name) == 0) {
            return ses->vars[i].value;
        }
    }
    return NULL;
}

int nn_mysql_session_var_set(nn_mysql_session *ses, const char *name, const char *value) {
    char *v = strdup(value);
    if (v == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < ses->var_count; i++) {
        if (strcmp(ses->vars[i].name, name) == 0) {
            free(ses->vars[i].value);
            ses->vars[i].value = v;
            return 0;
        }
    }
    if (ses->var_count >= 256) {
        free(v);
        return -ENOSPC; /* a bound on what one client can make us hold */
    }
    session_var *more = realloc(ses->vars, (ses->var_count + 1) * sizeof(*more));
    char *n = strdup(name);
    if (more == NULL || n == NULL) {
        free(n);
        free(v);
        if (more != NULL) {
            ses->vars = more;
        }
        return -ENOMEM;
    }
    ses->vars = more;
    ses->vars[ses->var_count].name = n;
    ses->vars[ses->var_count].value = v;
    ses->var_count++;
    return 0;
}

void nn_mysql_session_set_database(nn_mysql_session *ses, const char *db, size_t len) {
    if (len >= sizeof(ses->database)) {
        len = sizeof(ses->database) - 1;
    }
    memcpy(ses->database, db, len);
    ses->database[len] = '\0';
}
