/* mysql/result.c: what handlers answer with (OK, error, result sets) and how a typed value
 * becomes bytes: text rows for COM_QUERY, binary rows for COM_STMT_EXECUTE, kept binary
 * rows for a cursor. Rows are taken only while the session's output is under its limit:
 * past it a row returns -EAGAIN and the engine is called back once the client has read. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/session_internal.h"

/* ------------------------------------------------------------ column types */

static bool type_is_integer(uint8_t t) {
    return t == NN_MYSQL_TYPE_TINY || t == NN_MYSQL_TYPE_SHORT || t == NN_MYSQL_TYPE_LONG ||
           t == NN_MYSQL_TYPE_INT24 || t == NN_MYSQL_TYPE_LONGLONG || t == NN_MYSQL_TYPE_YEAR;
}

static bool type_is_float(uint8_t t) {
    return t == NN_MYSQL_TYPE_FLOAT || t == NN_MYSQL_TYPE_DOUBLE;
}

static bool type_is_temporal(uint8_t t) {
    return t == NN_MYSQL_TYPE_DATE || t == NN_MYSQL_TYPE_DATETIME || t == NN_MYSQL_TYPE_TIMESTAMP ||
           t == NN_MYSQL_TYPE_TIME;
}

static bool type_is_blob(uint8_t t) {
    return t == NN_MYSQL_TYPE_TINY_BLOB || t == NN_MYSQL_TYPE_MEDIUM_BLOB ||
           t == NN_MYSQL_TYPE_LONG_BLOB || t == NN_MYSQL_TYPE_BLOB;
}

/* MySQL's display widths for a column whose caller gave none. */
static uint32_t default_length(uint8_t t, uint8_t decimals) {
    uint32_t frac = decimals > 0 && decimals <= 6 ? decimals + 1u : 0u;
    switch (t) {
    case NN_MYSQL_TYPE_TINY:
        return 4;
    case NN_MYSQL_TYPE_SHORT:
        return 6;
    case NN_MYSQL_TYPE_INT24:
        return 9;
    case NN_MYSQL_TYPE_LONG:
        return 11;
    case NN_MYSQL_TYPE_LONGLONG:
        return 20;
    case NN_MYSQL_TYPE_FLOAT:
        return 12;
    case NN_MYSQL_TYPE_DOUBLE:
        return 22;
    case NN_MYSQL_TYPE_DECIMAL:
    case NN_MYSQL_TYPE_NEWDECIMAL:
        return 66;
    case NN_MYSQL_TYPE_YEAR:
        return 4;
    case NN_MYSQL_TYPE_DATE:
        return 10;
    case NN_MYSQL_TYPE_TIME:
        return 10 + frac;
    case NN_MYSQL_TYPE_DATETIME:
    case NN_MYSQL_TYPE_TIMESTAMP:
        return 19 + frac;
    case NN_MYSQL_TYPE_BIT:
        return 1;
    case NN_MYSQL_TYPE_NULL:
        return 0;
    case NN_MYSQL_TYPE_TINY_BLOB:
        return 255;
    case NN_MYSQL_TYPE_BLOB:
        return 65535;
    case NN_MYSQL_TYPE_MEDIUM_BLOB:
        return 16777215;
    case NN_MYSQL_TYPE_LONG_BLOB:
    case NN_MYSQL_TYPE_JSON:
    case NN_MYSQL_TYPE_GEOMETRY:
        return 4294967295u;
    default:
        return 1024; /* VARCHAR(256) in utf8mb4 */
    }
}

void nn_mysql_column_def(nn_buf *b, const nn_mysql_column *col, rs_col *kept) {
    uint8_t t = (uint8_t)col->type;
    bool text = !type_is_integer(t) && !type_is_float(t) && !type_is_temporal(t) &&
                t != NN_MYSQL_TYPE_BIT && t != NN_MYSQL_TYPE_GEOMETRY && t != NN_MYSQL_TYPE_NULL &&
                !(col->flags & NN_MYSQL_FLAG_BINARY);
    uint16_t charset = col->charset
                           ? col->charset
                           : (text ? NN_MYSQL_COLLATION_UTF8MB4 : NN_MYSQL_COLLATION_BINARY);
    uint8_t decimals = col->decimals;
    if (decimals == 0 && type_is_float(t)) {
        decimals = 31; /* MySQL's "not fixed" */
    }
    uint16_t flags = col->flags;
    if (charset == NN_MYSQL_COLLATION_BINARY && !text && t != NN_MYSQL_TYPE_NULL) {
        flags |= NN_MYSQL_FLAG_BINARY;
    }
    if (type_is_blob(t)) {
        flags |= NN_MYSQL_FLAG_BLOB;
    }
    uint32_t length = col->length ? col->length : default_length(t, col->decimals);
    const char *name = col->name ? col->name : "";
    const char *table = col->table ? col->table : "";
    const char *org_table = col->org_table ? col->org_table : table;
    const char *org_name = col->org_name ? col->org_name : name;
    const char *schema = col->schema ? col->schema : "";
    nn_mysql_put_lenenc_str(b, "def", 3);
    nn_mysql_put_lenenc_str(b, schema, strlen(schema));
    nn_mysql_put_lenenc_str(b, table, strlen(table));
    nn_mysql_put_lenenc_str(b, org_table, strlen(org_table));
    nn_mysql_put_lenenc_str(b, name, strlen(name));
    nn_mysql_put_lenenc_str(b, org_name, strlen(org_name));
    nn_mysql_put_lenenc(b, 0x0c);
    nn_mysql_put_u16(b, charset);
    nn_mysql_put_u32(b, length);
    nn_mysql_put_u8(b, t);
    nn_mysql_put_u16(b, flags);
    nn_mysql_put_u8(b, decimals);
    nn_mysql_put_u16(b, 0);
    if (kept != NULL) {
        kept->type = t;
        kept->decimals = decimals;
        kept->flags = flags;
    }
}

/* ------------------------------------------------------------ value to text */

static void put_text(nn_buf *out, const char *s, size_t n) {
    nn_mysql_put_lenenc_str(out, s, n);
}

/* The shortest text that reads back as the same double (or float), as MySQL prints. */
static int format_double(char *buf, size_t cap, double d, bool single) {
    if (!isfinite(d)) {
        return snprintf(buf, cap, "%s", isnan(d) ? "NaN" : (d > 0 ? "inf" : "-inf"));
    }
    int lo = single ? 6 : 15;
    int hi = single ? 9 : 17;
    int n = 0;
    for (int p = lo; p <= hi; p++) {
        n = snprintf(buf, cap, "%.*g", p, d);
        double back = strtod(buf, NULL);
        if (single ? (float)back == (float)d : back == d) {
            break;
        }
    }
    return n;
}

static int format_time(char *buf, size_t cap, uint8_t type, uint8_t decimals,
                       const nn_mysql_time *t) {
    int n;
    if (type == NN_MYSQL_TYPE_DATE) {
        return snprintf(buf, cap, "%04u-%02u-%02u", t->year, t->month, t->day);
    }
    if (type == NN_MYSQL_TYPE_YEAR) {
        return snprintf(buf, cap, "%04u", t->year);
    }
    if (type == NN_MYSQL_TYPE_TIME) {
        unsigned long hours = (unsigned long)t->days * 24ul + t->hour;
        n = snprintf(buf, cap, "%s%02lu:%02u:%02u", t->negative ? "-" : "", hours, t->minute,
                     t->second);
    } else {
        n = snprintf(buf, cap, "%04u-%02u-%02u %02u:%02u:%02u", t->year, t->month, t->day, t->hour,
                     t->minute, t->second);
    }
    unsigned digits = decimals <= 6 ? decimals : (t->microsecond != 0 ? 6 : 0);
    if (digits > 0 && n > 0 && (size_t)n < cap) {
        unsigned long frac = t->microsecond;
        for (unsigned i = digits; i < 6; i++) {
            frac /= 10;
        }
        n += snprintf(buf + n, cap - (size_t)n, ".%0*lu", (int)digits, frac);
    }
    return n;
}

int nn_mysql_value_text(nn_buf *out, const rs_col *col, const nn_mysql_value *v) {
    char buf[96];
    int n = 0;
    switch (v->kind) {
    case NN_MYSQL_VALUE_NULL:
        return nn_mysql_put_u8(out, 0xfb);
    case NN_MYSQL_VALUE_INT:
        n = snprintf(buf, sizeof(buf), "%" PRId64, v->i);
        break;
    case NN_MYSQL_VALUE_UINT:
        n = snprintf(buf, sizeof(buf), "%" PRIu64, v->u);
        break;
    case NN_MYSQL_VALUE_DOUBLE:
        if (col->decimals < 31 &&
            (type_is_float(col->type) || col->type == NN_MYSQL_TYPE_NEWDECIMAL ||
             col->type == NN_MYSQL_TYPE_DECIMAL)) {
            n = snprintf(buf, sizeof(buf), "%.*f", col->decimals, v->d);
        } else {
            n = format_double(buf, sizeof(buf), v->d, col->type == NN_MYSQL_TYPE_FLOAT);
        }
        break;
    case NN_MYSQL_VALUE_BYTES:
        put_text(out, v->bytes.data, v->bytes.len);
        return 0;
    case NN_MYSQL_VALUE_TIME: {
        uint8_t t = type_is_temporal(col->type) || col->type == NN_MYSQL_TYPE_YEAR
                        ? col->type
                        : NN_MYSQL_TYPE_DATETIME;
        n = format_time(buf, sizeof(buf), t, col->decimals, &v->time);
        break;
    }
    default:
        return -EINVAL;
    }
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        return -EINVAL;
    }
    put_text(out, buf, (size_t)n);
    return 0;
}

/* ------------------------------------------------------- text to a type */

/* The whole of s (spaces around allowed) as a number. */
static bool parse_int(const void *data, size_t len, bool want_unsigned, int64_t *i, uint64_t *u) {
    char buf[64];
    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, data, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    if (want_unsigned) {
        if (strchr(buf, '-') != NULL) {
            return false;
        }
        *u = strtoull(buf, &end, 10);
    } else {
        *i = strtoll(buf, &end, 10);
    }
    while (end != NULL && *end == ' ') {
        end++;
    }
    return errno == 0 && end != NULL && *end == '\0' && end != buf;
}

static bool parse_double(const void *data, size_t len, double *d) {
    char buf[128];
    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, data, len);
    buf[len] = '\0';
    char *end = NULL;
    *d = strtod(buf, &end);
    while (end != NULL && *end == ' ') {
        end++;
    }
    return end != NULL && *end == '\0' && end != buf;
}

/* "YYYY-MM-DD[ hh:mm:ss[.ffffff]]" or "[-]h:mm:ss[.ffffff]" (TIME). */
static bool parse_time(const void *data, size_t len, uint8_t type, nn_mysql_time *t) {
    char buf[64];
    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, data, len);
    buf[len] = '\0';
    memset(t, 0, sizeof(*t));
    const char *p = buf;
    unsigned a = 0, b = 0, c = 0;
    int used = 0;
    if (type == NN_MYSQL_TYPE_TIME) {
        if (*p == '-') {
            t->negative = true;
            p++;
        }
        if (sscanf(p, "%u:%u:%u%n", &a, &b, &c, &used) != 3 || b > 59 || c > 59) {
            return false;
        }
        t->days = a / 24;
        t->hour = (uint8_t)(a % 24);
        t->minute = (uint8_t)b;
        t->second = (uint8_t)c;
    } else {
        if (sscanf(p, "%u-%u-%u%n", &a, &b, &c, &used) != 3 || a > 9999 || b > 12 || c > 31) {
            return false;
        }
        t->year = (uint16_t)a;
        t->month = (uint8_t)b;
        t->day = (uint8_t)c;
        p += used;
        used = 0;
        if (*p == ' ' || *p == 'T') {
            if (sscanf(p + 1, "%u:%u:%u%n", &a, &b, &c, &used) != 3 || a > 23 || b > 59 || c > 59) {
                return false;
            }
            t->hour = (uint8_t)a;
            t->minute = (uint8_t)b;
            t->second = (uint8_t)c;
            used += 1;
        }
    }
    p += used;
    if (*p == '.') {
        p++;
        unsigned long frac = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 6) {
                frac = frac * 10 + (unsigned long)(*p - '0');
                digits++;
            }
            p++;
        }
        while (digits++ < 6) {
            frac *= 10;
        }
        t->microsecond = (uint32_t)frac;
    }
    return *p == '\0';
}

/* ---------------------------------------------------------- binary values */

static int put_le(nn_buf *out, uint64_t v, size_t n) {
    uint8_t p[8];
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
    return nn_buf_append(out, p, n);
}

static int put_binary_time(nn_buf *out, uint8_t type, const nn_mysql_time *t) {
    if (type == NN_MYSQL_TYPE_TIME) {
        bool zero =
            t->days == 0 && t->hour == 0 && t->minute == 0 && t->second == 0 && t->microsecond == 0;
        if (zero) {
            return nn_mysql_put_u8(out, 0);
        }
        nn_mysql_put_u8(out, t->microsecond ? 12 : 8);
        nn_mysql_put_u8(out, t->negative ? 1 : 0);
        nn_mysql_put_u32(out, t->days);
        nn_mysql_put_u8(out, t->hour);
        nn_mysql_put_u8(out, t->minute);
        nn_mysql_put_u8(out, t->second);
        if (t->microsecond) {
            nn_mysql_put_u32(out, t->microsecond);
        }
        return 0;
    }
    uint8_t len = 0;
    if (t->microsecond) {
        len = 11;
    } else if (t->hour || t->minute || t->second) {
        len = 7;
    } else if (t->year || t->month || t->day) {
        len = 4;
    }
    if (type == NN_MYSQL_TYPE_DATE && len > 4) {
        len = 4;
    }
    nn_mysql_put_u8(out, len);
    if (len >= 4) {
        nn_mysql_put_u16(out, t->year);
        nn_mysql_put_u8(out, t->month);
        nn_mysql_put_u8(out, t->day);
    }
    if (len >= 7) {
        nn_mysql_put_u8(out, t->hour);
        nn_mysql_put_u8(out, t->minute);
        nn_mysql_put_u8(out, t->second);
    }
    if (len == 11) {
        nn_mysql_put_u32(out, t->microsecond);
    }
    return 0;
}

static int binary_value(nn_buf *out, const rs_col *col, const nn_mysql_value *v) {
    uint8_t t = col->type;
    if (type_is_integer(t)) {
        uint64_t bits;
        if (v->kind == NN_MYSQL_VALUE_INT) {
            bits = (uint64_t)v->i;
        } else if (v->kind == NN_MYSQL_VALUE_UINT) {
            bits = v->u;
        } else if (v->kind == NN_MYSQL_VALUE_DOUBLE) {
            bits = (uint64_t)(int64_t)llround(v->d);
        } else if (v->kind == NN_MYSQL_VALUE_TIME && t == NN_MYSQL_TYPE_YEAR) {
            bits = v->time.year;
        } else if (v->kind == NN_MYSQL_VALUE_BYTES) {
            int64_t i = 0;
            uint64_t u = 0;
            bool uns = col->flags & NN_MYSQL_FLAG_UNSIGNED;
            if (!parse_int(v->bytes.data, v->bytes.len, uns, &i, &u)) {
                return -EINVAL;
            }
            bits = uns ? u : (uint64_t)i;
        } else {
            return -EINVAL;
        }
        size_t n = t == NN_MYSQL_TYPE_TINY                                 ? 1
                   : (t == NN_MYSQL_TYPE_SHORT || t == NN_MYSQL_TYPE_YEAR) ? 2
                   : t == NN_MYSQL_TYPE_LONGLONG                           ? 8
                                                                           : 4;
        return put_le(out, bits, n);
    }
    if (type_is_float(t)) {
        double d;
        if (v->kind == NN_MYSQL_VALUE_DOUBLE) {
            d = v->d;
        } else if (v->kind == NN_MYSQL_VALUE_INT) {
            d = (double)v->i;
        } else if (v->kind == NN_MYSQL_VALUE_UINT) {
            d = (double)v->u;
        } else if (v->kind != NN_MYSQL_VALUE_BYTES ||
                   !parse_double(v->bytes.data, v->bytes.len, &d)) {
            return -EINVAL;
        }
        if (t == NN_MYSQL_TYPE_FLOAT) {
            float f = (float)d;
            uint32_t bits;
            memcpy(&bits, &f, 4);
            return put_le(out, bits, 4);
        }
        uint64_t bits;
        memcpy(&bits, &d, 8);
        return put_le(out, bits, 8);
    }
    if (type_is_temporal(t)) {
        nn_mysql_time tm;
        if (v->kind == NN_MYSQL_VALUE_TIME) {
            tm = v->time;
        } else if (v->kind != NN_MYSQL_VALUE_BYTES ||
                   !parse_time(v->bytes.data, v->bytes.len, t, &tm)) {
            return -EINVAL;
        }
        return put_binary_time(out, t, &tm);
    }
    /* Strings, DECIMAL, BLOB, JSON, BIT, ENUM, SET, GEOMETRY: length-encoded bytes. */
    return nn_mysql_value_text(out, col, v);
}

int nn_mysql_row_binary(nn_buf *out, const rs_col *cols, uint32_t n, const nn_mysql_value *v) {
    nn_mysql_put_u8(out, 0x00);
    size_t bitmap_len = (n + 7 + 2) / 8;
    uint8_t *bitmap = nn_buf_tail(out, bitmap_len);
    if (bitmap == NULL) {
        return -ENOMEM;
    }
    memset(bitmap, 0, bitmap_len);
    size_t bitmap_at = (size_t)(bitmap - nn_buf_begin(out));
    nn_buf_commit(out, bitmap_len);
    for (uint32_t i = 0; i < n; i++) {
        if (v[i].kind == NN_MYSQL_VALUE_NULL) {
            size_t bit = i + 2; /* the first two bits are reserved in result rows */
            nn_buf_begin(out)[bitmap_at + bit / 8] |= (uint8_t)(1u << (bit % 8));
            continue;
        }
        int rc = binary_value(out, &cols[i], &v[i]);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ answers */

static int answer_check(nn_mysql_session *ses) {
    return ses->state == ST_COMMAND_PENDING ? 0 : -EPROTO;
}

/* The OK or result that just ended was the last of the command unless more follow. */
static void answer_part_done(nn_mysql_session *ses) {
    ses->answer_parts++;
    if (ses->more_results) {
        ses->more_results = false;
        ses->rs = RS_NONE;
        nn_mysql_reply_soon(ses);
        if (ses->multi_sql != NULL && !ses->multi_running) {
            nn_mysql_admin_multi_continue(ses); /* a statement answered later */
        }
        return;
    }
    nn_mysql_conn_answer_finished(ses);
}

int nn_mysql_session_more_results(nn_mysql_session *ses) {
    if (answer_check(ses) < 0) {
        return -EPROTO;
    }
    ses->more_results = true;
    return 0;
}

void nn_mysql_session_set_warnings(nn_mysql_session *ses, uint16_t warnings) {
    ses->warnings = warnings;
}

int nn_mysql_session_ok(nn_mysql_session *ses, uint64_t affected_rows, uint64_t last_insert_id,
                        const char *info) {
    if (answer_check(ses) < 0 || ses->rs != RS_NONE) {
        return -EPROTO;
    }
    if (ses->killed) {
        return nn_mysql_session_error(ses, NN_ER_QUERY_INTERRUPTED, "70100",
                                      "Query execution was interrupted");
    }
    nn_mysql_conn_send_ok(ses, 0x00, affected_rows, last_insert_id, info);
    answer_part_done(ses);
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
    if (ses->target == RS_CURSOR && ses->cursor_stmt != NULL) {
        nn_buf_free(&ses->cursor_stmt->cursor);
        ses->cursor_stmt->cursor_open = false;
        ses->cursor_stmt = NULL;
    }
    /* An error ends a result set midway too (MySQL does the same), and the command. */
    ses->more_results = false;
    nn_mysql_conn_send_error(ses, code, sqlstate, msg);
    nn_mysql_conn_answer_finished(ses);
    return 0;
}

int nn_mysql_session_result_begin(nn_mysql_session *ses, uint32_t column_count) {
    if (answer_check(ses) < 0 || ses->rs != RS_NONE || column_count == 0 || column_count > 4096) {
        return -EPROTO;
    }
    if (column_count > ses->cols_cap) {
        rs_col *more = realloc(ses->cols, column_count * sizeof(*more));
        if (more == NULL) {
            nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
            return -ENOMEM;
        }
        ses->cols = more;
        ses->cols_cap = column_count;
    }
    ses->rs = RS_COLUMNS;
    ses->rs_columns = column_count;
    ses->rs_column_index = 0;
    if (ses->target != RS_CURSOR) {
        size_t at = nn_mysql_reply_begin(ses);
        nn_mysql_put_lenenc(&ses->wire, column_count);
        nn_mysql_reply_end(ses, at);
    }
    return 0;
}

static void columns_done(nn_mysql_session *ses) {
    ses->rs = RS_ROWS;
    if (ses->target == RS_CURSOR) {
        return; /* the definitions go out with the cursor's answer */
    }
    if (!(ses->caps & NN_CLIENT_DEPRECATE_EOF)) {
        nn_mysql_conn_send_eof(ses);
    }
    nn_mysql_reply_soon(ses);
}

int nn_mysql_session_result_column_def(nn_mysql_session *ses, const nn_mysql_column *col) {
    if (answer_check(ses) < 0 || ses->rs != RS_COLUMNS || col == NULL) {
        return -EPROTO;
    }
    rs_col *kept = &ses->cols[ses->rs_column_index];
    if (ses->target == RS_CURSOR) {
        /* Kept in the statement's cursor buffer, sent when the cursor is answered. */
        nn_buf tmp = {0};
        nn_mysql_column_def(&tmp, col, kept);
        nn_buf *c = &ses->cursor_stmt->cursor;
        nn_mysql_put_u32(c, (uint32_t)tmp.len);
        nn_buf_append(c, nn_buf_begin(&tmp), tmp.len);
        nn_buf_free(&tmp);
    } else {
        size_t at = nn_mysql_reply_begin(ses);
        nn_mysql_column_def(&ses->wire, col, kept);
        nn_mysql_reply_end(ses, at);
    }
    if (++ses->rs_column_index == ses->rs_columns) {
        columns_done(ses);
    }
    return 0;
}

int nn_mysql_session_result_column(nn_mysql_session *ses, const char *name, nn_mysql_type type) {
    nn_mysql_column col = {.name = name, .type = type};
    if (type == NN_MYSQL_TYPE_LONGLONG || type == NN_MYSQL_TYPE_DOUBLE) {
        col.flags = NN_MYSQL_FLAG_NOT_NULL;
        col.length = 21;
    }
    return nn_mysql_session_result_column_def(ses, &col);
}

static void writable_run(nn_task *task) {
    nn_mysql_session *ses =
        (nn_mysql_session *)((char *)task - offsetof(nn_mysql_session, writable_task));
    ses->writable_posted = false;
    nn_mysql_writable_fn fn = ses->writable_fn;
    ses->writable_fn = NULL;
    if (fn != NULL) {
        fn(ses->writable_arg, ses);
    }
    nn_mysql_session_release(ses);
}

void nn_mysql_session_on_writable(nn_mysql_session *ses, nn_mysql_writable_fn fn, void *arg) {
    ses->writable_fn = fn;
    ses->writable_arg = arg;
    if (fn == NULL) {
        return;
    }
    bool ready = ses->stream == NULL || ses->killed ||
                 nn_mysql_reply_pending(ses) <= nn_mysql_reply_limit(ses) / 2;
    if (ready) {
        /* Not from inside the engine's own call: a task on the loop, holding the session. */
        if (!ses->writable_posted) {
            ses->writable_posted = true;
            ses->writable_task.fn = writable_run;
            nn_mysql_session_hold(ses);
            if (nn_loop_post(ses->loop, &ses->writable_task) < 0) {
                ses->writable_posted = false;
                nn_mysql_session_release(ses);
            }
        }
        return;
    }
    nn_mysql_reply_flush(ses);
    if (ses->stream != NULL) {
        nn_stream_want_writable(ses->stream, nn_mysql_reply_limit(ses) / 2);
    }
}

/* The stream drained: the engine waiting for room goes on. */
void nn_mysql_session_writable_fire(nn_mysql_session *ses) {
    if (ses->writable_fn != NULL && !ses->writable_posted) {
        nn_mysql_writable_fn fn = ses->writable_fn;
        ses->writable_fn = NULL;
        nn_mysql_session_hold(ses);
        fn(ses->writable_arg, ses);
        nn_mysql_session_release(ses);
    }
}

static int row_gate(nn_mysql_session *ses) {
    if (answer_check(ses) < 0 || ses->rs != RS_ROWS) {
        return -EPROTO;
    }
    if (ses->stream == NULL || ses->killed) {
        return -ECANCELED;
    }
    if (ses->target == RS_CURSOR) {
        if (ses->cursor_stmt->cursor.len >= ses->settings->max_cursor_bytes) {
            nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000",
                                   "Out of memory: the cursor's rows exceed max_cursor_bytes "
                                   "(%zu)",
                                   ses->settings->max_cursor_bytes);
            return -EINVAL;
        }
        return 0;
    }
    return 0;
}

/* A row was taken: say whether the engine should now wait for room. */
static int row_taken(nn_mysql_session *ses) {
    if (nn_mysql_reply_pending(ses) >= nn_mysql_reply_limit(ses)) {
        nn_mysql_reply_flush(ses);
        return NN_MYSQL_ROW_FULL;
    }
    nn_mysql_reply_soon(ses);
    return 0;
}

static int row_failed(nn_mysql_session *ses, size_t at) {
    /* Drop the half-built row and make the answer an error. */
    ses->wire.len = at;
    nn_mysql_session_error(ses, NN_ER_WRONG_ARGUMENTS, "HY000",
                           "A value does not fit its column's type");
    return -EINVAL;
}

int nn_mysql_session_result_row_values(nn_mysql_session *ses, const nn_mysql_value *values) {
    int rc = row_gate(ses);
    if (rc < 0) {
        return rc;
    }
    if (ses->target == RS_CURSOR) {
        nn_buf *c = &ses->cursor_stmt->cursor;
        size_t at = c->len;
        nn_mysql_put_u32(c, 0);
        if (nn_mysql_row_binary(c, ses->cols, ses->rs_columns, values) < 0) {
            c->len = at;
            nn_mysql_session_error(ses, NN_ER_WRONG_ARGUMENTS, "HY000",
                                   "A value does not fit its column's type");
            return -EINVAL;
        }
        uint32_t n = (uint32_t)(c->len - at - 4);
        uint8_t *h = nn_buf_begin(c) + at;
        h[0] = (uint8_t)n;
        h[1] = (uint8_t)(n >> 8);
        h[2] = (uint8_t)(n >> 16);
        h[3] = (uint8_t)(n >> 24);
        return 0;
    }
    size_t at = nn_mysql_reply_begin(ses);
    if (ses->target == RS_BINARY) {
        if (nn_mysql_row_binary(&ses->wire, ses->cols, ses->rs_columns, values) < 0) {
            return row_failed(ses, at);
        }
    } else {
        for (uint32_t i = 0; i < ses->rs_columns; i++) {
            if (nn_mysql_value_text(&ses->wire, &ses->cols[i], &values[i]) < 0) {
                return row_failed(ses, at);
            }
        }
    }
    nn_mysql_reply_end(ses, at);
    return row_taken(ses);
}

int nn_mysql_session_result_row(nn_mysql_session *ses, const char *const *values,
                                const size_t *lens) {
    int rc = row_gate(ses);
    if (rc < 0) {
        return rc;
    }
    if (ses->target == RS_TEXT) {
        /* The common case needs no conversion: text in, text out. */
        size_t at = nn_mysql_reply_begin(ses);
        for (uint32_t i = 0; i < ses->rs_columns; i++) {
            if (values[i] == NULL) {
                nn_mysql_put_u8(&ses->wire, 0xfb);
            } else {
                size_t n = lens ? lens[i] : strlen(values[i]);
                nn_mysql_put_lenenc_str(&ses->wire, values[i], n);
            }
        }
        nn_mysql_reply_end(ses, at);
        return row_taken(ses);
    }
    nn_mysql_value stack[32] = {0};
    nn_mysql_value *v = ses->rs_columns <= 32 ? stack : calloc(ses->rs_columns, sizeof(*v));
    if (v == NULL) {
        nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < ses->rs_columns; i++) {
        memset(&v[i], 0, sizeof(v[i]));
        if (values[i] != NULL) {
            v[i].kind = NN_MYSQL_VALUE_BYTES;
            v[i].bytes.data = values[i];
            v[i].bytes.len = lens ? lens[i] : strlen(values[i]);
        }
    }
    rc = nn_mysql_session_result_row_values(ses, v);
    if (v != stack) {
        free(v);
    }
    return rc;
}

void nn_mysql_result_send_end(nn_mysql_session *ses, uint16_t extra_status) {
    size_t at = nn_mysql_reply_begin(ses);
    uint16_t status = nn_mysql_conn_status_flags(ses) | extra_status;
    nn_buf *b = &ses->wire;
    if (ses->caps & NN_CLIENT_DEPRECATE_EOF) {
        /* An OK packet with the EOF header. */
        nn_mysql_put_u8(b, 0xfe);
        nn_mysql_put_lenenc(b, 0);
        nn_mysql_put_lenenc(b, 0);
        nn_mysql_put_u16(b, status);
        nn_mysql_put_u16(b, ses->warnings);
        if (ses->caps & NN_CLIENT_SESSION_TRACK) {
            nn_mysql_put_u8(b, 0); /* empty info */
        }
    } else {
        nn_mysql_put_u8(b, 0xfe);
        nn_mysql_put_u16(b, ses->warnings);
        nn_mysql_put_u16(b, status);
    }
    ses->warnings = 0;
    nn_mysql_reply_end(ses, at);
    nn_mysql_reply_soon(ses);
}

int nn_mysql_session_result_end(nn_mysql_session *ses) {
    if (answer_check(ses) < 0 || ses->rs != RS_ROWS) {
        return -EPROTO;
    }
    if (ses->killed) {
        return nn_mysql_session_error(ses, NN_ER_QUERY_INTERRUPTED, "70100",
                                      "Query execution was interrupted");
    }
    if (ses->target == RS_CURSOR) {
        nn_mysql_stmt_cursor_ready(ses);
        return 0;
    }
    nn_mysql_result_send_end(ses, 0);
    answer_part_done(ses);
    return 0;
}
