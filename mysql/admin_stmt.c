/* mysql/admin_stmt.c: multi-statements and prepared statements of the administrative
 * handler, so that every driver's paths work on a bare node. A multi-statement text
 * (CLIENT_MULTI_STATEMENTS) runs one statement at a time, each answer flagged
 * SERVER_MORE_RESULTS_EXISTS but the last; an error ends it, as in MySQL. A statement is checked at
 * prepare (its '?' counted, its result's columns described), and an execute runs the text statement
 * with each '?' replaced by the parameter as an SQL literal; the layer sends its rows in the binary
 * protocol. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/session_internal.h"

/* Offsets of every `mark` character outside quotes and comments ('?' placeholders, ';'
 * statement ends), up to cap of them. Returns how many there are. */
static uint32_t scan_marks(const char *sql, size_t len, char mark, size_t *offsets, uint32_t cap) {
    uint32_t n = 0;
    size_t i = 0;
    while (i < len) {
        char ch = sql[i];
        if (ch == '\'' || ch == '"' || ch == '`') {
            i++;
            while (i < len && sql[i] != ch) {
                i += (sql[i] == '\\' && ch != '`' && i + 1 < len) ? 2 : 1;
            }
            i++;
        } else if (ch == '/' && i + 1 < len && sql[i + 1] == '*') {
            const char *end = NULL;
            for (size_t j = i + 2; j + 1 < len; j++) {
                if (sql[j] == '*' && sql[j + 1] == '/') {
                    end = sql + j;
                    break;
                }
            }
            i = end ? (size_t)(end - sql) + 2 : len;
        } else if (ch == '#' || (ch == '-' && i + 2 < len && sql[i + 1] == '-' &&
                                 (sql[i + 2] == ' ' || sql[i + 2] == '\t'))) {
            while (i < len && sql[i] != '\n') {
                i++;
            }
        } else {
            if (ch == mark) {
                if (offsets != NULL && n < cap) {
                    offsets[n] = i;
                }
                n++;
            }
            i++;
        }
    }
    return n;
}

/* The statement with every '?' replaced by `with[i]` (NULL = "NULL"). */
static char *substitute(const char *sql, size_t len, const size_t *offsets, uint32_t n,
                        char *const *with, size_t *out_len) {
    size_t total = len;
    for (uint32_t i = 0; i < n; i++) {
        total += with != NULL && with[i] != NULL ? strlen(with[i]) : 4;
    }
    char *out = malloc(total + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0;
    size_t from = 0;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(out + o, sql + from, offsets[i] - from);
        o += offsets[i] - from;
        const char *lit = with != NULL && with[i] != NULL ? with[i] : "NULL";
        size_t l = strlen(lit);
        memcpy(out + o, lit, l);
        o += l;
        from = offsets[i] + 1;
    }
    memcpy(out + o, sql + from, len - from);
    o += len - from;
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* One statement: the process list and KILL first (process.c), the SQL subset after. */
static void run_one(nn_mysql_session *ses, const char *sql, size_t len) {
    if (nn_mysql_process_statement(ses, sql, len, false) < 0) {
        nn_mysql_admin_statement(ses, sql, len);
    }
}

/* How many columns a statement's result has, as the text path would answer it. */
static uint32_t result_columns(const nn_sql_stmt *st) {
    switch (st->kind) {
    case NN_SQL_SELECT:
        return (uint32_t)st->item_count;
    case NN_SQL_SHOW_STATUS:
    case NN_SQL_SHOW_VARIABLES:
        return 2;
    case NN_SQL_SHOW_WARNINGS:
        return 3;
    case NN_SQL_SHOW_COLLATION:
        return 7;
    case NN_SQL_SHOW_CHARSET:
        return 4;
    case NN_SQL_SHOW_DATABASES:
    case NN_SQL_SHOW_TABLES:
    case NN_SQL_SHOW_CREATE_USER:
    case NN_SQL_SHOW_GRANTS:
        return 1;
    default:
        return 0;
    }
}

void nn_mysql_admin_prepare(nn_mysql_session *ses, nn_mysql_stmt *stmt, const char *sql,
                            size_t len) {
    int process_columns = nn_mysql_process_statement(ses, sql, len, true);
    if (process_columns >= 0) {
        nn_mysql_column cols[16];
        memset(cols, 0, sizeof(cols));
        for (int i = 0; i < process_columns && i < 16; i++) {
            cols[i].type = NN_MYSQL_TYPE_VAR_STRING;
        }
        nn_mysql_stmt_prepared(stmt, 0, (uint32_t)process_columns, cols);
        return;
    }
    uint32_t n = scan_marks(sql, len, '?', NULL, 0);
    if (n > 65535) {
        nn_mysql_session_error(ses, NN_ER_PS_MANY_PARAM, "HY000",
                               "Prepared statement contains too many placeholders");
        return;
    }
    size_t *offsets = n > 0 ? malloc(n * sizeof(size_t)) : NULL;
    if (n > 0 && offsets == NULL) {
        nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
        return;
    }
    scan_marks(sql, len, '?', offsets, n);
    /* '' parses wherever a value may stand (LIKE ?, IDENTIFIED BY ?), NULL does not. */
    char **empty = n > 0 ? calloc(n, sizeof(char *)) : NULL;
    for (uint32_t i = 0; empty != NULL && i < n; i++) {
        empty[i] = (char *)"''";
    }
    size_t text_len = 0;
    char *text = n > 0 && empty == NULL ? NULL : substitute(sql, len, offsets, n, empty, &text_len);
    free(empty);
    free(offsets);
    if (text == NULL) {
        nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
        return;
    }
    nn_sql_stmt st;
    size_t pos = 0;
    nn_err err;
    nn_err_clear(&err);
    int rc = nn_sql_parse(text, text_len, &st, &pos, &err);
    if (rc < 0) {
        nn_sql_stmt_clear(&st);
        /* The text statement's own error (1064 near ...), as MySQL reports at prepare. */
        run_one(ses, text, text_len);
        free(text);
        return;
    }
    uint32_t ncols = result_columns(&st);
    nn_mysql_column cols[NN_SQL_MAX_ITEMS];
    for (uint32_t i = 0; i < ncols && i < NN_SQL_MAX_ITEMS; i++) {
        memset(&cols[i], 0, sizeof(cols[i]));
        cols[i].type = NN_MYSQL_TYPE_VAR_STRING;
        cols[i].name = st.kind == NN_SQL_SELECT ? st.items[i].label : "";
    }
    if (st.kind == NN_SQL_SHOW_STATUS || st.kind == NN_SQL_SHOW_VARIABLES) {
        cols[0].name = "Variable_name";
        cols[1].name = "Value";
    }
    nn_mysql_stmt_prepared(stmt, n, ncols, cols);
    nn_sql_stmt_clear(&st);
    free(text);
}

/* A parameter as an SQL literal (malloc'd), or NULL for SQL NULL / out of memory. */
static char *literal(const nn_mysql_value *v, bool *oom) {
    char buf[96];
    switch (v->kind) {
    case NN_MYSQL_VALUE_NULL:
        return NULL;
    case NN_MYSQL_VALUE_INT:
        snprintf(buf, sizeof(buf), "%" PRId64, v->i);
        break;
    case NN_MYSQL_VALUE_UINT:
        snprintf(buf, sizeof(buf), "%" PRIu64, v->u);
        break;
    case NN_MYSQL_VALUE_DOUBLE:
        snprintf(buf, sizeof(buf), "%.17g", v->d);
        break;
    case NN_MYSQL_VALUE_TIME: {
        const nn_mysql_time *t = &v->time;
        if (v->type == NN_MYSQL_TYPE_TIME) {
            snprintf(buf, sizeof(buf), "'%s%02lu:%02u:%02u'", t->negative ? "-" : "",
                     (unsigned long)t->days * 24ul + t->hour, t->minute, t->second);
        } else if (v->type == NN_MYSQL_TYPE_DATE) {
            snprintf(buf, sizeof(buf), "'%04u-%02u-%02u'", t->year, t->month, t->day);
        } else {
            snprintf(buf, sizeof(buf), "'%04u-%02u-%02u %02u:%02u:%02u'", t->year, t->month, t->day,
                     t->hour, t->minute, t->second);
        }
        break;
    }
    case NN_MYSQL_VALUE_BYTES: {
        /* A quoted string: quotes, backslashes and NULs escaped as MySQL reads them. */
        const uint8_t *d = v->bytes.data;
        char *out = malloc(v->bytes.len * 2 + 3);
        if (out == NULL) {
            *oom = true;
            return NULL;
        }
        size_t o = 0;
        out[o++] = '\'';
        for (size_t i = 0; i < v->bytes.len; i++) {
            uint8_t ch = d[i];
            if (ch == '\'' || ch == '\\') {
                out[o++] = '\\';
                out[o++] = (char)ch;
            } else if (ch == 0) {
                out[o++] = '\\';
                out[o++] = '0';
            } else {
                out[o++] = (char)ch;
            }
        }
        out[o++] = '\'';
        out[o] = '\0';
        return out;
    }
    }
    char *s = strdup(buf);
    if (s == NULL) {
        *oom = true;
    }
    return s;
}

void nn_mysql_admin_execute(nn_mysql_session *ses, nn_mysql_stmt *stmt,
                            const nn_mysql_value *params, uint32_t count) {
    size_t len = 0;
    const char *sql = nn_mysql_stmt_sql(stmt, &len);
    size_t *offsets = count > 0 ? malloc(count * sizeof(size_t)) : NULL;
    char **lits = count > 0 ? calloc(count, sizeof(char *)) : NULL;
    bool oom = count > 0 && (offsets == NULL || lits == NULL);
    if (!oom) {
        scan_marks(sql, len, '?', offsets, count);
        for (uint32_t i = 0; i < count && !oom; i++) {
            lits[i] = literal(&params[i], &oom);
        }
    }
    size_t text_len = 0;
    char *text = oom ? NULL : substitute(sql, len, offsets, count, lits, &text_len);
    for (uint32_t i = 0; lits != NULL && i < count; i++) {
        free(lits[i]);
    }
    free(lits);
    free(offsets);
    if (text == NULL) {
        nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
        return;
    }
    run_one(ses, text, text_len);
    free(text);
}

/* ----------------------------------------------------------- multi-statements */

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != ';') {
            return false;
        }
    }
    return true;
}

/* Runs the statements left in ses->multi_sql until one answers later (a catalog write) or
 * the text ends. */
void nn_mysql_admin_multi_continue(nn_mysql_session *ses) {
    while (ses->multi_sql != NULL && ses->state == ST_COMMAND_PENDING) {
        const char *rest = ses->multi_sql + ses->multi_pos;
        size_t left = ses->multi_len - ses->multi_pos;
        size_t end = 0;
        size_t stmt_len = left;
        if (scan_marks(rest, left, ';', &end, 1) > 0) {
            stmt_len = end;
        }
        size_t next = stmt_len < left ? stmt_len + 1 : left;
        bool last = blank(rest + next, left - next);
        ses->multi_pos += next;
        if (last) {
            /* The last statement: the command ends with its answer. */
            char *sql = ses->multi_sql;
            ses->multi_sql = NULL;
            run_one(ses, sql + (rest - sql), stmt_len);
            free(sql);
            return;
        }
        uint64_t parts = ses->answer_parts;
        ses->more_results = true;
        ses->multi_running = true;
        run_one(ses, rest, stmt_len);
        ses->multi_running = false;
        if (ses->answer_parts == parts && ses->state == ST_COMMAND_PENDING) {
            return; /* answered later: answer_part_done continues from there */
        }
    }
}

void nn_mysql_admin_query(nn_mysql_session *ses, const char *sql, size_t len) {
    uint32_t ends =
        (ses->caps & NN_CLIENT_MULTI_STATEMENTS) ? scan_marks(sql, len, ';', NULL, 0) : 0;
    size_t first = 0;
    if (ends > 0) {
        scan_marks(sql, len, ';', &first, 1);
    }
    if (ends == 0 || blank(sql + first, len - first)) {
        run_one(ses, sql, len);
        return;
    }
    free(ses->multi_sql);
    ses->multi_sql = malloc(len + 1);
    if (ses->multi_sql == NULL) {
        nn_mysql_session_error(ses, NN_ER_OUT_OF_RESOURCES, "HY000", "Out of memory");
        return;
    }
    memcpy(ses->multi_sql, sql, len);
    ses->multi_sql[len] = '\0';
    ses->multi_len = len;
    ses->multi_pos = 0;
    nn_mysql_admin_multi_continue(ses);
}
