/* mysql/stmt.c: prepared statements (the binary protocol): COM_STMT_PREPARE, _EXECUTE,
 * _SEND_LONG_DATA, _RESET, _CLOSE and _FETCH with read-only cursors.
 *
 * The engine prepares (or the administrative handler does) and answers executes through
 * the same result API as queries; the layer keeps the statement table, decodes parameters,
 * and encodes binary rows. A cursor keeps the execute's rows, binary-encoded, in the
 * statement (as MySQL materializes a cursor), bounded by max_cursor_bytes, and hands them
 * out in the batches COM_STMT_FETCH asks for. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/session_internal.h"

#define MAX_PARAMS 65535u
#define CURSOR_TYPE_READ_ONLY 0x01u
#define PARAMETER_COUNT_AVAILABLE 0x08u

/* ------------------------------------------------------------------ table */

static nn_mysql_stmt *stmt_find(nn_mysql_session *ses, uint32_t id) {
    if (ses->last_stmt != NULL && ses->last_stmt->id == id) {
        return ses->last_stmt;
    }
    for (uint32_t i = 0; i < ses->stmt_count; i++) {
        if (ses->stmts[i]->id == id) {
            ses->last_stmt = ses->stmts[i];
            return ses->stmts[i];
        }
    }
    return NULL;
}

static void stmt_free(nn_mysql_session *ses, nn_mysql_stmt *st) {
    const nn_mysql_handler *h = ses->srv->handler;
    if (h != NULL && h->stmt_close != NULL) {
        h->stmt_close(ses->srv->handler_arg, ses, st);
    }
    if (st->long_data != NULL) {
        for (uint32_t i = 0; i < st->param_count; i++) {
            nn_buf_free(&st->long_data[i]);
        }
        free(st->long_data);
    }
    nn_buf_free(&st->cursor);
    free(st->param_types);
    free(st->sql);
    free(st);
}

static void stmt_remove(nn_mysql_session *ses, nn_mysql_stmt *st) {
    for (uint32_t i = 0; i < ses->stmt_count; i++) {
        if (ses->stmts[i] == st) {
            ses->stmts[i] = ses->stmts[--ses->stmt_count];
            break;
        }
    }
    if (ses->last_stmt == st) {
        ses->last_stmt = NULL;
    }
    if (ses->cursor_stmt == st) {
        ses->cursor_stmt = NULL;
    }
    if (ses->preparing == st) {
        ses->preparing = NULL;
    }
    stmt_free(ses, st);
}

void nn_mysql_stmt_close_all(nn_mysql_session *ses) {
    while (ses->stmt_count > 0) {
        stmt_remove(ses, ses->stmts[ses->stmt_count - 1]);
    }
    free(ses->stmts);
    ses->stmts = NULL;
    ses->stmt_cap = 0;
}

static void unknown_stmt(nn_mysql_session *ses, uint32_t id, const char *where) {
    nn_mysql_session_error(ses, NN_ER_UNKNOWN_STMT_HANDLER, "HY000",
                           "Unknown prepared statement handler (%u) given to %s", id, where);
}

/* ---------------------------------------------------------------- prepare */

void nn_mysql_stmt_prepare_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len) {
    if (ses->stmt_count >= ses->settings->max_prepared_stmts) {
        nn_mysql_session_error(ses, NN_ER_MAX_PREPARED_STMT_COUNT_REACHED, "42000",
                               "Can't create more than max_prepared_stmt_count statements "
                               "(current value: %u)",
                               ses->settings->max_prepared_stmts);
        return;
    }
    if (ses->stmt_count == ses->stmt_cap) {
        uint32_t cap = ses->stmt_cap ? ses->stmt_cap * 2 : 8;
        nn_mysql_stmt **more = realloc(ses->stmts, cap * sizeof(*more));
        if (more == NULL) {
            nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
            return;
        }
        ses->stmts = more;
        ses->stmt_cap = cap;
    }
    nn_mysql_stmt *st = calloc(1, sizeof(*st));
    char *sql = malloc(len + 1);
    if (st == NULL || sql == NULL) {
        free(st);
        free(sql);
        nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
        return;
    }
    memcpy(sql, p, len);
    sql[len] = '\0';
    st->sql = sql;
    st->sql_len = len;
    st->ses = ses;
    st->id = ++ses->next_stmt_id;
    if (st->id == 0 || st->id == UINT32_MAX) { /* 0 is never an id; -1 means "the last" */
        st->id = ses->next_stmt_id = 1;
    }
    ses->stmts[ses->stmt_count++] = st;
    const nn_mysql_handler *h = ses->srv->handler;
    if (h != NULL && h->prepare != NULL) {
        h->prepare(ses->srv->handler_arg, ses, st, sql, len);
    } else {
        nn_mysql_admin_prepare(ses, st, sql, len);
    }
    /* A failed prepare leaves no statement behind (one answered later is dropped when its
     * command ends: nn_mysql_stmt_prepare_done). */
    if (!st->prepared && ses->state != ST_COMMAND_PENDING) {
        stmt_remove(ses, st);
    } else if (!st->prepared) {
        ses->preparing = st;
    }
}

void nn_mysql_stmt_prepare_done(nn_mysql_session *ses) {
    nn_mysql_stmt *st = ses->preparing;
    ses->preparing = NULL;
    if (st != NULL && !st->prepared) {
        stmt_remove(ses, st);
    }
}

int nn_mysql_stmt_prepared(nn_mysql_stmt *st, uint32_t param_count, uint32_t column_count,
                           const nn_mysql_column *columns) {
    nn_mysql_session *ses = st->ses;
    if (ses->state != ST_COMMAND_PENDING || st->prepared) {
        return -EPROTO;
    }
    if (param_count > MAX_PARAMS) {
        nn_mysql_session_error(ses, NN_ER_PS_MANY_PARAM, "HY000",
                               "Prepared statement contains too many placeholders");
        stmt_remove(ses, st);
        return -EINVAL;
    }
    if (column_count > 4096 || (column_count > 0 && columns == NULL)) {
        return -EPROTO;
    }
    if (param_count > 0) {
        st->param_types = calloc(param_count, 2);
        st->long_data = calloc(param_count, sizeof(nn_buf));
        if (st->param_types == NULL || st->long_data == NULL) {
            nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
            stmt_remove(ses, st);
            return -ENOMEM;
        }
    }
    st->prepared = true;
    st->param_count = param_count;
    st->column_count = column_count;
    nn_buf *b = &ses->wire;
    size_t at = nn_mysql_reply_begin(ses);
    nn_mysql_put_u8(b, 0x00);
    nn_mysql_put_u32(b, st->id);
    nn_mysql_put_u16(b, (uint16_t)column_count);
    nn_mysql_put_u16(b, (uint16_t)param_count);
    nn_mysql_put_u8(b, 0);
    nn_mysql_put_u16(b, 0); /* warnings */
    nn_mysql_reply_end(ses, at);
    bool eofs = !(ses->caps & NN_CLIENT_DEPRECATE_EOF);
    if (param_count > 0) {
        nn_mysql_column param = {.name = "?",
                                 .type = NN_MYSQL_TYPE_VAR_STRING,
                                 .charset = NN_MYSQL_COLLATION_BINARY,
                                 .flags = NN_MYSQL_FLAG_BINARY};
        for (uint32_t i = 0; i < param_count; i++) {
            at = nn_mysql_reply_begin(ses);
            nn_mysql_column_def(b, &param, NULL);
            nn_mysql_reply_end(ses, at);
        }
        if (eofs) {
            nn_mysql_conn_send_eof(ses);
        }
    }
    if (column_count > 0) {
        for (uint32_t i = 0; i < column_count; i++) {
            at = nn_mysql_reply_begin(ses);
            nn_mysql_column_def(b, &columns[i], NULL);
            nn_mysql_reply_end(ses, at);
        }
        if (eofs) {
            nn_mysql_conn_send_eof(ses);
        }
    }
    ses->last_stmt = st;
    nn_mysql_conn_answer_finished(ses);
    return 0;
}

/* ------------------------------------------------------------ parameters */

static bool read_time(nn_mysql_cursor *c, uint8_t type, nn_mysql_time *t) {
    memset(t, 0, sizeof(*t));
    uint8_t len = nn_mysql_get_u8(c);
    if (type == NN_MYSQL_TYPE_TIME) {
        if (len != 0 && len != 8 && len != 12) {
            return false;
        }
        if (len >= 8) {
            t->negative = nn_mysql_get_u8(c) != 0;
            t->days = nn_mysql_get_u32(c);
            t->hour = nn_mysql_get_u8(c);
            t->minute = nn_mysql_get_u8(c);
            t->second = nn_mysql_get_u8(c);
        }
        if (len == 12) {
            t->microsecond = nn_mysql_get_u32(c);
        }
        return !c->bad;
    }
    if (len != 0 && len != 4 && len != 7 && len != 11) {
        return false;
    }
    if (len >= 4) {
        t->year = nn_mysql_get_u16(c);
        t->month = nn_mysql_get_u8(c);
        t->day = nn_mysql_get_u8(c);
    }
    if (len >= 7) {
        t->hour = nn_mysql_get_u8(c);
        t->minute = nn_mysql_get_u8(c);
        t->second = nn_mysql_get_u8(c);
    }
    if (len == 11) {
        t->microsecond = nn_mysql_get_u32(c);
    }
    return !c->bad;
}

static uint64_t get_le(nn_mysql_cursor *c, size_t n) {
    const uint8_t *p = nn_mysql_get_bytes(c, n);
    uint64_t v = 0;
    for (size_t i = 0; p != NULL && i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

int nn_mysql_params_decode(nn_mysql_cursor *c, uint32_t n, const uint8_t *null_bitmap,
                           const uint8_t *types, nn_buf *long_data, nn_mysql_value *out) {
    for (uint32_t i = 0; i < n; i++) {
        nn_mysql_value *v = &out[i];
        memset(v, 0, sizeof(*v));
        uint8_t type = types[2 * i];
        v->type = (nn_mysql_type)type;
        v->is_unsigned = (types[2 * i + 1] & 0x80) != 0;
        if (long_data != NULL && long_data[i].data != NULL) {
            /* Sent with COM_STMT_SEND_LONG_DATA: the execute carries no value for it. */
            v->kind = NN_MYSQL_VALUE_BYTES;
            v->bytes.data = nn_buf_begin(&long_data[i]);
            v->bytes.len = long_data[i].len;
            continue;
        }
        if (null_bitmap[i / 8] & (1u << (i % 8)) || type == NN_MYSQL_TYPE_NULL) {
            v->kind = NN_MYSQL_VALUE_NULL;
            continue;
        }
        switch (type) {
        case NN_MYSQL_TYPE_TINY:
        case NN_MYSQL_TYPE_SHORT:
        case NN_MYSQL_TYPE_YEAR:
        case NN_MYSQL_TYPE_LONG:
        case NN_MYSQL_TYPE_INT24:
        case NN_MYSQL_TYPE_LONGLONG: {
            size_t size = type == NN_MYSQL_TYPE_TINY                                    ? 1
                          : (type == NN_MYSQL_TYPE_SHORT || type == NN_MYSQL_TYPE_YEAR) ? 2
                          : type == NN_MYSQL_TYPE_LONGLONG                              ? 8
                                                                                        : 4;
            uint64_t raw = get_le(c, size);
            if (v->is_unsigned) {
                v->kind = NN_MYSQL_VALUE_UINT;
                v->u = raw;
            } else {
                v->kind = NN_MYSQL_VALUE_INT;
                unsigned shift = (unsigned)(64 - 8 * size);
                v->i = (int64_t)(raw << shift) >> shift; /* sign-extend */
            }
            break;
        }
        case NN_MYSQL_TYPE_FLOAT: {
            uint32_t bits = (uint32_t)get_le(c, 4);
            float f;
            memcpy(&f, &bits, 4);
            v->kind = NN_MYSQL_VALUE_DOUBLE;
            v->d = f;
            break;
        }
        case NN_MYSQL_TYPE_DOUBLE: {
            uint64_t bits = get_le(c, 8);
            v->kind = NN_MYSQL_VALUE_DOUBLE;
            memcpy(&v->d, &bits, 8);
            break;
        }
        case NN_MYSQL_TYPE_DATE:
        case NN_MYSQL_TYPE_DATETIME:
        case NN_MYSQL_TYPE_TIMESTAMP:
        case NN_MYSQL_TYPE_TIME:
            v->kind = NN_MYSQL_VALUE_TIME;
            if (!read_time(c, type, &v->time)) {
                return -EPROTO;
            }
            break;
        default: {
            /* Strings, DECIMAL, BLOB, JSON, BIT, ENUM, SET, GEOMETRY: length-encoded. */
            uint64_t l = nn_mysql_get_lenenc(c);
            const uint8_t *data = nn_mysql_get_bytes(c, (size_t)l);
            if (data == NULL && l > 0) {
                return -EPROTO;
            }
            v->kind = NN_MYSQL_VALUE_BYTES;
            v->bytes.data = data != NULL ? data : (const uint8_t *)"";
            v->bytes.len = (size_t)l;
            break;
        }
        }
        if (c->bad) {
            return -EPROTO;
        }
    }
    return 0;
}

int nn_mysql_execute_params(nn_mysql_cursor *c, uint32_t n, bool attrs, uint8_t flags,
                            uint8_t *types, bool *types_bound, nn_buf *long_data,
                            nn_mysql_value *out) {
    if (attrs && (n > 0 || (flags & PARAMETER_COUNT_AVAILABLE))) {
        /* With query attributes the client says how many values follow (the statement's
         * parameters, then its attributes); only the parameters are kept here. */
        uint64_t sent = nn_mysql_get_lenenc(c);
        if (c->bad || sent != n) {
            return -EPROTO;
        }
    }
    if (n == 0) {
        return 0;
    }
    const uint8_t *bitmap = nn_mysql_get_bytes(c, (n + 7) / 8);
    uint8_t bound = nn_mysql_get_u8(c);
    if (!c->bad && bound == 1) {
        for (uint32_t i = 0; i < n && !c->bad; i++) {
            const uint8_t *t = nn_mysql_get_bytes(c, 2);
            if (t != NULL) {
                types[2 * i] = t[0];
                types[2 * i + 1] = t[1];
            }
            if (attrs) {
                nn_mysql_get_bytes(c, (size_t)nn_mysql_get_lenenc(c)); /* its name */
            }
        }
        *types_bound = !c->bad;
    }
    if (c->bad || !*types_bound) {
        return -EPROTO; /* types never sent: nothing to read the values with */
    }
    return nn_mysql_params_decode(c, n, bitmap, types, long_data, out);
}

/* ---------------------------------------------------------------- execute */

static void long_data_clear(nn_mysql_stmt *st) {
    if (st->long_data != NULL) {
        for (uint32_t i = 0; i < st->param_count; i++) {
            nn_buf_free(&st->long_data[i]);
        }
    }
    st->long_data_too_big = false;
}

static void cursor_close(nn_mysql_stmt *st) {
    nn_buf_free(&st->cursor);
    st->cursor_pos = 0;
    st->cursor_open = false;
}

void nn_mysql_stmt_execute_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len) {
    nn_mysql_cursor c;
    nn_mysql_cursor_init(&c, p, len);
    uint32_t id = nn_mysql_get_u32(&c);
    uint8_t flags = nn_mysql_get_u8(&c);
    nn_mysql_get_u32(&c); /* iteration count: always 1 */
    if (c.bad) {
        nn_mysql_session_error(ses, NN_ER_WRONG_ARGUMENTS, "HY000",
                               "Incorrect arguments to mysqld_stmt_execute");
        return;
    }
    nn_mysql_stmt *st = id == UINT32_MAX ? ses->last_stmt : stmt_find(ses, id);
    if (st == NULL || !st->prepared) {
        unknown_stmt(ses, id, "mysqld_stmt_execute");
        return;
    }
    if (st->long_data_too_big) {
        long_data_clear(st);
        nn_mysql_session_error(ses, NN_ER_NET_PACKET_TOO_LARGE, "08S01",
                               "Parameter of prepared statement which is set through "
                               "mysql_send_long_data() is longer than 'max_allowed_packet' bytes");
        return;
    }
    uint32_t n = st->param_count;
    nn_mysql_value stack[16] = {0};
    nn_mysql_value *params = stack;
    if (n > 16) {
        params = calloc(n, sizeof(*params));
        if (params == NULL) {
            nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
            return;
        }
    }
    bool attrs = (ses->caps & NN_CLIENT_QUERY_ATTRIBUTES) != 0;
    if (nn_mysql_execute_params(&c, n, attrs, flags, st->param_types, &st->types_bound,
                                st->long_data, params) < 0) {
        nn_log(NN_LOG_DEBUG, "mysql.stmt.error",
               "conn=%llu stmt=%u params=%u reason=\"malformed parameters\"",
               (unsigned long long)ses->id, st->id, n);
        if (params != stack) {
            free(params);
        }
        long_data_clear(st);
        nn_mysql_session_error(ses, NN_ER_WRONG_ARGUMENTS, "HY000",
                               "Incorrect arguments to mysqld_stmt_execute");
        return;
    }
    cursor_close(st);
    ses->target = RS_BINARY;
    if ((flags & CURSOR_TYPE_READ_ONLY) && st->column_count > 0) {
        ses->target = RS_CURSOR;
        ses->cursor_stmt = st;
    }
    const nn_mysql_handler *h = ses->srv->handler;
    if (h != NULL && h->execute != NULL) {
        h->execute(ses->srv->handler_arg, ses, st, params, n);
    } else {
        nn_mysql_admin_execute(ses, st, params, n);
    }
    if (params != stack) {
        free(params);
    }
    /* Long data is for one execute (MySQL clears it after each). It is freed once the
     * engine's answer is complete; an engine answering later copied what it needed. */
    long_data_clear(st);
}

/* A cursor keeps packets as a u32 length and the payload: sends the one at pos, returns
 * where the next starts. */
static size_t cursor_send(nn_mysql_session *ses, const nn_buf *cur, size_t pos) {
    const uint8_t *h = nn_buf_begin(cur) + pos;
    uint32_t n = (uint32_t)h[0] | ((uint32_t)h[1] << 8) | ((uint32_t)h[2] << 16) |
                 ((uint32_t)h[3] << 24);
    size_t at = nn_mysql_reply_begin(ses);
    nn_buf_append(&ses->wire, h + 4, n);
    nn_mysql_reply_end(ses, at);
    return pos + 4 + n;
}

void nn_mysql_stmt_cursor_ready(nn_mysql_session *ses) {
    nn_mysql_stmt *st = ses->cursor_stmt;
    nn_buf *cur = &st->cursor;
    /* The column count, the definitions kept in the cursor buffer, then an EOF saying a
     * cursor exists; the rows stay for COM_STMT_FETCH. */
    size_t at = nn_mysql_reply_begin(ses);
    nn_mysql_put_lenenc(&ses->wire, ses->rs_columns);
    nn_mysql_reply_end(ses, at);
    size_t pos = 0;
    for (uint32_t i = 0; i < ses->rs_columns && pos + 4 <= cur->len; i++) {
        pos = cursor_send(ses, cur, pos);
    }
    st->cursor_pos = pos;
    st->cursor_open = true;
    /* Always an EOF here, with or without CLIENT_DEPRECATE_EOF: it carries the status. */
    at = nn_mysql_reply_begin(ses);
    nn_mysql_put_u8(&ses->wire, 0xfe);
    nn_mysql_put_u16(&ses->wire, 0);
    nn_mysql_put_u16(&ses->wire, nn_mysql_conn_status_flags(ses) | NN_SERVER_STATUS_CURSOR_EXISTS);
    nn_mysql_reply_end(ses, at);
    ses->cursor_stmt = NULL;
    nn_mysql_conn_answer_finished(ses);
}

void nn_mysql_stmt_fetch_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len) {
    nn_mysql_cursor c;
    nn_mysql_cursor_init(&c, p, len);
    uint32_t id = nn_mysql_get_u32(&c);
    uint32_t rows = nn_mysql_get_u32(&c);
    nn_mysql_stmt *st = c.bad ? NULL : stmt_find(ses, id);
    if (st == NULL) {
        unknown_stmt(ses, id, "mysqld_stmt_fetch");
        return;
    }
    if (!st->cursor_open) {
        nn_mysql_session_error(ses, 1421, "HY000", "The statement (%u) has no open cursor.", id);
        return;
    }
    nn_buf *cur = &st->cursor;
    for (uint32_t i = 0; i < rows && st->cursor_pos + 4 <= cur->len; i++) {
        st->cursor_pos = cursor_send(ses, cur, st->cursor_pos);
    }
    uint16_t status = NN_SERVER_STATUS_CURSOR_EXISTS;
    if (st->cursor_pos >= cur->len) {
        status |= NN_SERVER_STATUS_LAST_ROW_SENT;
        cursor_close(st);
    }
    nn_mysql_result_send_end(ses, status);
    nn_mysql_conn_answer_finished(ses);
}

/* ------------------------------------------------- long data, reset, close */

void nn_mysql_stmt_long_data_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len) {
    nn_mysql_cursor c;
    nn_mysql_cursor_init(&c, p, len);
    uint32_t id = nn_mysql_get_u32(&c);
    uint16_t param = nn_mysql_get_u16(&c);
    nn_mysql_stmt *st = c.bad ? NULL : stmt_find(ses, id);
    /* No reply to this command, ever: errors surface at the next execute. */
    if (st == NULL || param >= st->param_count) {
        return;
    }
    nn_buf *b = &st->long_data[param];
    if (b->len + c.left > ses->settings->max_allowed_packet) {
        st->long_data_too_big = true;
        nn_buf_free(b);
        return;
    }
    if (nn_buf_append(b, c.p, c.left) < 0 || (b->data == NULL && nn_buf_reserve(b, 1) < 0)) {
        st->long_data_too_big = true;
    }
}

void nn_mysql_stmt_reset_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len) {
    nn_mysql_cursor c;
    nn_mysql_cursor_init(&c, p, len);
    uint32_t id = nn_mysql_get_u32(&c);
    nn_mysql_stmt *st = c.bad ? NULL : stmt_find(ses, id);
    if (st == NULL) {
        unknown_stmt(ses, id, "mysqld_stmt_reset");
        return;
    }
    long_data_clear(st);
    cursor_close(st);
    nn_mysql_session_ok(ses, 0, 0, NULL);
}

void nn_mysql_stmt_close_cmd(nn_mysql_session *ses, const uint8_t *p, size_t len) {
    nn_mysql_cursor c;
    nn_mysql_cursor_init(&c, p, len);
    uint32_t id = nn_mysql_get_u32(&c);
    nn_mysql_stmt *st = c.bad ? NULL : stmt_find(ses, id);
    if (st != NULL) {
        stmt_remove(ses, st);
    }
}
