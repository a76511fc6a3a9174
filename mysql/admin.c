/* mysql/admin.c: nodenet's administrative SQL handler.
 *
 * User management (writes go to the catalog thread and are answered once committed),
 * SHOW STATUS / VARIABLES / COLLATION / CHARACTER SET with the session's real TLS facts,
 * SELECT and DO of expressions (admin_eval.c), SET of system and user variables
 * (admin_vars.c), and what the standard drivers send on connect.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mysql/admin_internal.h"

#define ER_UNKNOWN_ERROR 1105
#define ER_PASSWORD_FORMAT 1827

/* -------------------------------------------------------------- helpers */

static void syntax_error(nn_mysql_session *ses, const char *sql, size_t len, size_t pos) {
    int line = 1;
    for (size_t i = 0; i < pos && i < len; i++) {
        if (sql[i] == '\n') {
            line++;
        }
    }
    size_t near = len - (pos < len ? pos : len);
    if (near > 80) {
        near = 80;
    }
    nn_mysql_session_error(ses, NN_ER_PARSE, "42000",
                           "You have an error in your SQL syntax; check the manual that "
                           "corresponds to your MySQL server version for the right syntax to "
                           "use near '%.*s' at line %d",
                           (int)near, sql + (pos < len ? pos : len), line);
}

static void deny_privilege(nn_mysql_session *ses) {
    nn_mysql_session_error(ses, NN_ER_SPECIFIC_ACCESS_DENIED, "42000",
                           "Access denied; you need (at least one of) the CREATE USER "
                           "privilege(s) for this operation");
}

/* A result of string columns (and one optional numeric column index). */
static void two_column_result(nn_mysql_session *ses, const char *c1, const char *c2) {
    nn_mysql_session_result_begin(ses, 2);
    nn_mysql_session_result_column(ses, c1, NN_MYSQL_TYPE_VAR_STRING);
    nn_mysql_session_result_column(ses, c2, NN_MYSQL_TYPE_VAR_STRING);
}

static void format_time(int64_t t, char *out, size_t cap) {
    if (t == 0) {
        out[0] = '\0';
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    /* OpenSSL's ASN1_TIME_print form, as MySQL shows Ssl_server_not_after. */
    strftime(out, cap, "%b %e %H:%M:%S %Y GMT", &tm);
}

static void answer_eval_error(nn_mysql_session *ses, const nn_sql_eval_ctx *c) {
    nn_mysql_session_error(ses, c->code, c->sqlstate, "%s", c->message);
}

/* Whether a SHOW row passes LIKE (on its first column) or WHERE. -1 on an error (answered). */
static int row_matches(nn_mysql_session *ses, const nn_sql_stmt *st, const nn_sql_eval_ctx *base,
                       const char *const *names, const char *const *values, size_t width) {
    if (st->like != NULL) {
        return nn_sql_like(st->like, values[0]);
    }
    if (st->where == NULL) {
        return 1;
    }
    nn_sql_eval_ctx c = *base;
    c.row_names = names;
    c.row_values = values;
    c.row_width = width;
    nn_sql_val v;
    if (nn_sql_eval(&c, st->where, &v) < 0) {
        answer_eval_error(ses, &c);
        return -1;
    }
    int t = nn_sql_val_truth(&v);
    nn_sql_val_free(&v);
    return t == 1;
}

/* ------------------------------------------------------------- SELECT */

static void run_select(nn_mysql_session *ses, const nn_sql_stmt *st, const nn_sql_eval_ctx *base) {
    if (st->from != NULL) {
        nn_mysql_session_error(ses, NN_ER_NOT_SUPPORTED_YET, "42000",
                               "This version of nodenet doesn't yet support 'SELECT ... FROM %s' "
                               "(the administrative handler has no tables)",
                               st->from);
        return;
    }
    nn_sql_eval_ctx c = *base;
    nn_sql_val vals[NN_SQL_MAX_ITEMS];
    size_t done = 0;
    for (; done < st->item_count; done++) {
        if (nn_sql_eval(&c, &st->items[done], &vals[done]) < 0) {
            break;
        }
    }
    bool row = true;
    if (!c.failed && st->where != NULL) {
        nn_sql_val w;
        if (nn_sql_eval(&c, st->where, &w) == 0) {
            row = nn_sql_val_truth(&w) == 1;
            nn_sql_val_free(&w);
        }
    }
    if (c.failed) {
        answer_eval_error(ses, &c);
    } else {
        row = row && st->limit != 0;
        const char *values[NN_SQL_MAX_ITEMS];
        size_t lens[NN_SQL_MAX_ITEMS];
        char bufs[NN_SQL_MAX_ITEMS][64];
        nn_mysql_session_result_begin(ses, (uint32_t)st->item_count);
        for (size_t i = 0; i < st->item_count; i++) {
            nn_mysql_session_result_column(ses, st->items[i].label, vals[i].type);
            nn_sql_val_text(&vals[i], bufs[i], sizeof(bufs[i]), &values[i], &lens[i]);
        }
        if (row) {
            nn_mysql_session_result_row(ses, values, lens);
        }
        nn_mysql_session_result_end(ses);
    }
    for (size_t i = 0; i < done; i++) {
        nn_sql_val_free(&vals[i]);
    }
}

static void run_do(nn_mysql_session *ses, const nn_sql_stmt *st, const nn_sql_eval_ctx *base) {
    nn_sql_eval_ctx c = *base;
    for (size_t i = 0; i < st->item_count; i++) {
        nn_sql_val v;
        if (nn_sql_eval(&c, &st->items[i], &v) < 0) {
            answer_eval_error(ses, &c);
            return;
        }
        nn_sql_val_free(&v);
    }
    nn_mysql_session_ok(ses, 0, 0, NULL);
}

/* ------------------------------------------------------------------ SET */

/* What one session may make the node keep (a session holds at most 256 variables): a
 * system variable's value is short in MySQL too; a user variable holds up to 64 KiB here. */
#define SYSVAR_VALUE_MAX 1024
#define USERVAR_VALUE_MAX 65536

/* One checked assignment, ready to apply: up to four session variables. */
typedef struct pending_set {
    const char *names[4];
    char *values[4]; /* owned */
    size_t count;
} pending_set;

static int pending_add(nn_sql_eval_ctx *c, pending_set *ps, const char *name, const char *value,
                       size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return nn_sql_eval_fail(c, NN_ER_UNKNOWN_ERROR, "HY000", "out of memory");
    }
    memcpy(copy, value, len);
    copy[len] = '\0';
    ps->names[ps->count] = name;
    ps->values[ps->count++] = copy;
    return 0;
}

/* sql_mode as MySQL keeps it: upper case, no empty or repeated modes. */
static void sql_mode_normalize(char *mode) {
    char out[1024];
    size_t k = 0;
    char *save = NULL;
    for (char *m = strtok_r(mode, ",", &save); m != NULL; m = strtok_r(NULL, ",", &save)) {
        while (*m == ' ') {
            m++;
        }
        size_t n = strlen(m);
        while (n > 0 && m[n - 1] == ' ') {
            m[--n] = '\0';
        }
        for (size_t i = 0; i < n; i++) {
            m[i] = (char)toupper((unsigned char)m[i]);
        }
        bool seen = n == 0;
        for (const char *p = out; !seen && k > 0 && p < out + k;) {
            const char *end = memchr(p, ',', (size_t)(out + k - p));
            size_t len = end ? (size_t)(end - p) : (size_t)(out + k - p);
            seen = len == n && memcmp(p, m, n) == 0;
            p += len + 1;
        }
        if (!seen && k + n + 2 < sizeof(out)) {
            if (k > 0) {
                out[k++] = ',';
            }
            memcpy(out + k, m, n);
            k += n;
        }
    }
    memcpy(mode, out, k);
    mode[k] = '\0';
}

static int check_names(nn_sql_eval_ctx *c, const nn_sql_assign *a, pending_set *ps) {
    const char *name = a->value.text;
    const nn_mysql_charset *cs = strcmp(name, "default") == 0 ? nn_mysql_charset_find("utf8mb4")
                                                              : nn_mysql_charset_find(name);
    if (cs == NULL) {
        return nn_sql_eval_fail(c, NN_ER_UNKNOWN_CHARACTER_SET, "42000",
                                "Unknown character set: '%s'", name);
    }
    const char *coll = cs->default_collation;
    if (a->collation != NULL) {
        const nn_mysql_collation *co = nn_mysql_collation_find(a->collation);
        if (co == NULL) {
            return nn_sql_eval_fail(c, NN_ER_UNKNOWN_COLLATION, "HY000", "Unknown collation: '%s'",
                                    a->collation);
        }
        if (strcmp(co->charset, cs->name) != 0) {
            return nn_sql_eval_fail(c, NN_ER_COLLATION_CHARSET_MISMATCH, "42000",
                                    "COLLATION '%s' is not valid for CHARACTER SET '%s'", co->name,
                                    cs->name);
        }
        coll = co->name;
    }
    bool names = strcmp(a->name, "names") == 0;
    if (pending_add(c, ps, "character_set_client", cs->name, strlen(cs->name)) < 0 ||
        pending_add(c, ps, "character_set_results", cs->name, strlen(cs->name)) < 0) {
        return -1;
    }
    /* SET CHARACTER SET: the connection takes the database's character set */
    const char *conn_cs = names ? cs->name : "utf8mb4";
    const char *conn_coll = names ? coll : "utf8mb4_general_ci";
    if (pending_add(c, ps, "character_set_connection", conn_cs, strlen(conn_cs)) < 0 ||
        pending_add(c, ps, "collation_connection", conn_coll, strlen(conn_coll)) < 0) {
        return -1;
    }
    return 0;
}

static int check_sysvar(nn_sql_eval_ctx *c, const nn_sql_assign *a, pending_set *ps) {
    const nn_mysql_sysvar *v = nn_mysql_sysvar_find(a->name);
    if (v == NULL) {
        return nn_sql_eval_fail(c, NN_ER_UNKNOWN_SYSTEM_VARIABLE, "HY000",
                                "Unknown system variable '%s'", a->name);
    }
    if (a->scope == NN_SCOPE_GLOBAL) {
        return nn_sql_eval_fail(c, NN_ER_SPECIFIC_ACCESS_DENIED, "42000",
                                "Access denied; you need (at least one of) the SUPER or "
                                "SYSTEM_VARIABLES_ADMIN privilege(s) for this operation");
    }
    if (a->value.kind == NN_EXPR_IDENT && strcasecmp(a->value.text, "DEFAULT") == 0) {
        nn_mysql_var_ctx vctx = {.ses = c->ses};
        const char *def = nn_mysql_sysvar_value(&vctx, v, NN_SCOPE_GLOBAL);
        return pending_add(c, ps, v->name, def, strlen(def));
    }
    nn_sql_val value;
    if (nn_sql_eval(c, &a->value, &value) < 0) {
        return -1;
    }
    char buf[64];
    size_t len;
    const char *text = nn_sql_val_cstr(&value, buf, sizeof(buf), &len);
    int rc = 0;
    if (text == NULL) {
        rc = strcmp(v->name, "character_set_results") == 0
                 ? pending_add(c, ps, v->name, "", 0)
                 : nn_sql_eval_fail(c, NN_ER_WRONG_VALUE_FOR_VAR, "42000",
                                    "Variable '%s' can't be set to the value of 'NULL'", v->name);
    } else if (v->kind == NN_MYSQL_VAR_BOOL) {
        int on = -1;
        if (value.kind == NN_SQL_VAL_INT && (value.i == 0 || value.i == 1)) {
            on = (int)value.i;
        } else if (value.kind == NN_SQL_VAL_STRING) {
            on = strcasecmp(text, "ON") == 0 || strcasecmp(text, "TRUE") == 0     ? 1
                 : strcasecmp(text, "OFF") == 0 || strcasecmp(text, "FALSE") == 0 ? 0
                                                                                  : -1;
        }
        rc = on < 0 ? nn_sql_eval_fail(c, NN_ER_WRONG_VALUE_FOR_VAR, "42000",
                                       "Variable '%s' can't be set to the value of '%.64s'",
                                       v->name, text)
                    : pending_add(c, ps, v->name, on ? "1" : "0", 1);
    } else if (v->kind == NN_MYSQL_VAR_INT) {
        rc = value.kind != NN_SQL_VAL_INT && value.kind != NN_SQL_VAL_UINT
                 ? nn_sql_eval_fail(c, NN_ER_WRONG_TYPE_FOR_VAR, "42000",
                                    "Incorrect argument type to variable '%s'", v->name)
                 : pending_add(c, ps, v->name, text, len);
    } else if (v->kind == NN_MYSQL_VAR_CHARSET) {
        const nn_mysql_charset *cs = nn_mysql_charset_find(text);
        rc = cs == NULL ? nn_sql_eval_fail(c, NN_ER_UNKNOWN_CHARACTER_SET, "42000",
                                           "Unknown character set: '%.64s'", text)
                        : pending_add(c, ps, v->name, cs->name, strlen(cs->name));
    } else if (v->kind == NN_MYSQL_VAR_COLLATION) {
        const nn_mysql_collation *co = nn_mysql_collation_find(text);
        if (co == NULL) {
            rc = nn_sql_eval_fail(c, NN_ER_UNKNOWN_COLLATION, "HY000", "Unknown collation: '%.64s'",
                                  text);
        } else {
            rc = pending_add(c, ps, v->name, co->name, strlen(co->name));
            if (rc == 0 && strcmp(v->name, "collation_connection") == 0) {
                rc = pending_add(c, ps, "character_set_connection", co->charset,
                                 strlen(co->charset));
            }
        }
    } else if (len > SYSVAR_VALUE_MAX) {
        rc = nn_sql_eval_fail(
            c, NN_ER_WRONG_VALUE_FOR_VAR, "42000",
            "Variable '%s' can't be set to the value of '%.32s...' (longer than %d "
            "bytes)",
            v->name, text, SYSVAR_VALUE_MAX);
    } else {
        rc = pending_add(c, ps, v->name, text, len);
        if (rc == 0 && strcmp(v->name, "sql_mode") == 0) {
            sql_mode_normalize(ps->values[ps->count - 1]);
        }
        /* the two names of one setting stay equal */
        const char *twin = strcmp(v->name, "transaction_isolation") == 0 ? "tx_isolation"
                           : strcmp(v->name, "tx_isolation") == 0        ? "transaction_isolation"
                                                                         : NULL;
        if (rc == 0 && twin != NULL) {
            rc = pending_add(c, ps, twin, text, len);
        }
    }
    if (rc == 0 && v->kind == NN_MYSQL_VAR_BOOL) {
        const char *twin = strcmp(v->name, "transaction_read_only") == 0 ? "tx_read_only"
                           : strcmp(v->name, "tx_read_only") == 0        ? "transaction_read_only"
                                                                         : NULL;
        if (twin != NULL) {
            rc = pending_add(c, ps, twin, ps->values[ps->count - 1], 1);
        }
    }
    nn_sql_val_free(&value);
    return rc;
}

static int check_uservar(nn_sql_eval_ctx *c, const nn_sql_assign *a, pending_set *ps) {
    nn_sql_val value;
    c->set_context = false; /* SET @x = word: a column name, which we have none of */
    int rc = nn_sql_eval(c, &a->value, &value);
    c->set_context = true;
    if (rc < 0) {
        return -1;
    }
    char buf[64];
    size_t len;
    const char *text = nn_sql_val_cstr(&value, buf, sizeof(buf), &len);
    if (len > USERVAR_VALUE_MAX) {
        nn_sql_val_free(&value);
        return nn_sql_eval_fail(c, NN_ER_UNKNOWN_ERROR, "HY000",
                                "user variable '%s' cannot hold more than %d bytes", a->name + 1,
                                USERVAR_VALUE_MAX);
    }
    char tag = value.kind == NN_SQL_VAL_NULL     ? 'n'
               : value.kind == NN_SQL_VAL_STRING ? 's'
               : value.kind == NN_SQL_VAL_DOUBLE
                   ? 'd'
                   : 'm'; /* integers and decimals read back as literals */
    char *tagged = malloc(len + 2);
    if (tagged == NULL) {
        nn_sql_val_free(&value);
        return nn_sql_eval_fail(c, NN_ER_UNKNOWN_ERROR, "HY000", "out of memory");
    }
    tagged[0] = tag;
    if (text != NULL) {
        memcpy(tagged + 1, text, len);
    }
    tagged[text ? len + 1 : 1] = '\0';
    nn_sql_val_free(&value);
    ps->names[ps->count] = a->name;
    ps->values[ps->count++] = tagged;
    return 0;
}

static void run_set(nn_mysql_session *ses, const nn_sql_stmt *st, const nn_sql_eval_ctx *base) {
    /* Check and evaluate everything first: SET is all or nothing. */
    nn_sql_eval_ctx c = *base;
    c.set_context = true;
    pending_set *ps = calloc(st->assign_count ? st->assign_count : 1, sizeof(*ps));
    if (ps == NULL) {
        nn_mysql_session_error(ses, NN_ER_UNKNOWN_ERROR, "HY000", "out of memory");
        return;
    }
    size_t i = 0;
    for (; i < st->assign_count; i++) {
        const nn_sql_assign *a = &st->assigns[i];
        int rc = a->name[0] == '@' ? check_uservar(&c, a, &ps[i])
                 : strcmp(a->name, "names") == 0 || strcmp(a->name, "character set") == 0
                     ? check_names(&c, a, &ps[i])
                     : check_sysvar(&c, a, &ps[i]);
        if (rc < 0) {
            break;
        }
    }
    if (c.failed) {
        answer_eval_error(ses, &c);
    } else {
        int rc = 0;
        for (size_t k = 0; k < st->assign_count && rc == 0; k++) {
            for (size_t j = 0; j < ps[k].count && rc == 0; j++) {
                rc = nn_mysql_session_var_set(ses, ps[k].names[j], ps[k].values[j]);
            }
        }
        if (rc < 0) {
            nn_mysql_session_error(ses, NN_ER_UNKNOWN_ERROR, "HY000", "too many session variables");
        } else {
            nn_mysql_session_ok(ses, 0, 0, NULL);
        }
    }
    for (size_t k = 0; k < st->assign_count; k++) {
        for (size_t j = 0; j < ps[k].count; j++) {
            free(ps[k].values[j]);
        }
    }
    free(ps);
}

/* --------------------------------------------------------- SHOW STATUS */

static void show_status(nn_mysql_session *ses, const nn_sql_stmt *st, const nn_sql_eval_ctx *base) {
    nn_tls_facts facts; /* read now: the session keeps no copy */
    nn_mysql_session_tls_facts(ses, &facts);
    const nn_tls_facts *f = &facts;
    nn_mysql_server *srv = nn_mysql_session_server(ses);
    char connections[32];
    char threads[32];
    char uptime[32];
    char not_after[64];
    char not_before[64];
    snprintf(connections, sizeof(connections), "%llu",
             (unsigned long long)atomic_load(&srv->connections));
    snprintf(threads, sizeof(threads), "%llu",
             (unsigned long long)atomic_load(&srv->threads_connected));
    snprintf(uptime, sizeof(uptime), "%llu",
             (unsigned long long)((nn_now_ns() - srv->started_ns) / NN_SEC(1)));
    format_time(f->encrypted ? f->local_not_after : 0, not_after, sizeof(not_after));
    format_time(f->encrypted ? f->local_not_before : 0, not_before, sizeof(not_before));
    char accepts[32];
    char finished[32];
    snprintf(accepts, sizeof(accepts), "%llu",
             (unsigned long long)atomic_load(&srv->ssl_accepts));
    snprintf(finished, sizeof(finished), "%llu",
             (unsigned long long)atomic_load(&srv->ssl_finished_accepts));
    char cipher_list[2048];
    nn_mysql_session_cipher_list(ses, cipher_list, sizeof(cipher_list));
    int zlevel = 0;
    const char *zname = nn_mysql_session_compression(ses, &zlevel);
    char zlevel_text[16];
    snprintf(zlevel_text, sizeof(zlevel_text), "%d", zlevel);
    /* MySQL's order: alphabetical. Ssl_verify_mode is the server's: peer | client-once. */
    const char *rows[][2] = {
        {"Compression", zname[0] ? "ON" : "OFF"},
        {"Compression_algorithm", zname},
        {"Compression_level", zname[0] ? zlevel_text : "0"},
        {"Connections", connections},
        {"Ssl_accepts", accepts},
        {"Ssl_cipher", f->encrypted ? f->cipher : ""},
        {"Ssl_cipher_list", cipher_list},
        {"Ssl_finished_accepts", finished},
        {"Ssl_server_not_after", not_after},
        {"Ssl_server_not_before", not_before},
        {"Ssl_sessions_reused", f->session_reused ? "1" : "0"},
        {"Ssl_verify_depth", f->encrypted ? "100" : "0"},
        {"Ssl_verify_mode", f->encrypted ? "5" : "0"},
        {"Ssl_version", f->encrypted ? f->version : ""},
        {"Threads_connected", threads},
        {"Uptime", uptime},
    };
    static const char *const names[] = {"Variable_name", "Value"};
    size_t n = sizeof(rows) / sizeof(rows[0]);
    bool pass[sizeof(rows) / sizeof(rows[0])];
    for (size_t i = 0; i < n; i++) {
        int m = row_matches(ses, st, base, names, rows[i], 2);
        if (m < 0) {
            return;
        }
        pass[i] = m;
    }
    two_column_result(ses, names[0], names[1]);
    for (size_t i = 0; i < n; i++) {
        if (pass[i]) {
            nn_mysql_session_result_row(ses, rows[i], NULL);
        }
    }
    nn_mysql_session_result_end(ses);
}

/* How SHOW VARIABLES prints a value: booleans as ON/OFF, a NULL character set as "". */
static const char *sysvar_show(const nn_mysql_sysvar *v, const char *value) {
    if (v->kind == NN_MYSQL_VAR_BOOL) {
        return strcmp(value, "1") == 0 || strcasecmp(value, "ON") == 0 ? "ON" : "OFF";
    }
    return value;
}

static void show_variables(nn_mysql_session *ses, const nn_sql_stmt *st,
                           const nn_sql_eval_ctx *base) {
    static const char *const names[] = {"Variable_name", "Value"};
    bool pass[NN_MYSQL_SYSVAR_COUNT];
    for (size_t i = 0; i < NN_MYSQL_SYSVAR_COUNT; i++) {
        nn_mysql_var_ctx ctx = {.ses = ses};
        const char *row[2] = {
            nn_mysql_sysvars[i].name,
            sysvar_show(&nn_mysql_sysvars[i],
                        nn_mysql_sysvar_value(&ctx, &nn_mysql_sysvars[i], st->scope))};
        int m = row_matches(ses, st, base, names, row, 2);
        if (m < 0) {
            return;
        }
        pass[i] = m;
    }
    two_column_result(ses, names[0], names[1]);
    for (size_t i = 0; i < NN_MYSQL_SYSVAR_COUNT; i++) {
        if (pass[i]) {
            nn_mysql_var_ctx ctx = {.ses = ses};
            const char *row[2] = {
                nn_mysql_sysvars[i].name,
                sysvar_show(&nn_mysql_sysvars[i],
                            nn_mysql_sysvar_value(&ctx, &nn_mysql_sysvars[i], st->scope))};
            nn_mysql_session_result_row(ses, row, NULL);
        }
    }
    nn_mysql_session_result_end(ses);
}

/* SHOW COLLATION: MySQL 8.0's columns and rows. */
static void show_collation(nn_mysql_session *ses, const nn_sql_stmt *st,
                           const nn_sql_eval_ctx *base) {
    static const char *const names[] = {"Collation", "Charset", "Id",           "Default",
                                        "Compiled",  "Sortlen", "Pad_attribute"};
    bool pass[NN_MYSQL_COLLATION_COUNT];
    char ids[NN_MYSQL_COLLATION_COUNT][8];
    char sortlens[NN_MYSQL_COLLATION_COUNT][8];
    const char *rows[NN_MYSQL_COLLATION_COUNT][7];
    for (size_t i = 0; i < NN_MYSQL_COLLATION_COUNT; i++) {
        const nn_mysql_collation *co = &nn_mysql_collations[i];
        snprintf(ids[i], sizeof(ids[i]), "%d", co->id);
        snprintf(sortlens[i], sizeof(sortlens[i]), "%d", co->sortlen);
        const nn_mysql_charset *cs = nn_mysql_charset_find(co->charset);
        bool is_default = cs != NULL && strcmp(cs->default_collation, co->name) == 0;
        const char *row[7] = {co->name,
                              co->charset,
                              ids[i],
                              is_default ? "Yes" : "",
                              "Yes",
                              sortlens[i],
                              co->no_pad ? "NO PAD" : "PAD SPACE"};
        memcpy(rows[i], row, sizeof(row));
        int m = row_matches(ses, st, base, names, rows[i], 7);
        if (m < 0) {
            return;
        }
        pass[i] = m;
    }
    nn_mysql_session_result_begin(ses, 7);
    for (size_t k = 0; k < 7; k++) {
        nn_mysql_session_result_column(
            ses, names[k], k == 2 || k == 5 ? NN_MYSQL_TYPE_LONGLONG : NN_MYSQL_TYPE_VAR_STRING);
    }
    for (size_t i = 0; i < NN_MYSQL_COLLATION_COUNT; i++) {
        if (pass[i]) {
            nn_mysql_session_result_row(ses, rows[i], NULL);
        }
    }
    nn_mysql_session_result_end(ses);
}

/* SHOW CHARACTER SET: MySQL 8.0's columns and rows. */
static void show_charset(nn_mysql_session *ses, const nn_sql_stmt *st,
                         const nn_sql_eval_ctx *base) {
    static const char *const names[] = {"Charset", "Description", "Default collation", "Maxlen"};
    bool pass[NN_MYSQL_CHARSET_COUNT];
    char maxlens[NN_MYSQL_CHARSET_COUNT][4];
    const char *rows[NN_MYSQL_CHARSET_COUNT][4];
    for (size_t i = 0; i < NN_MYSQL_CHARSET_COUNT; i++) {
        const nn_mysql_charset *cs = &nn_mysql_charsets[i];
        snprintf(maxlens[i], sizeof(maxlens[i]), "%d", cs->maxlen);
        const char *row[4] = {cs->name, cs->description, cs->default_collation, maxlens[i]};
        memcpy(rows[i], row, sizeof(row));
        int m = row_matches(ses, st, base, names, rows[i], 4);
        if (m < 0) {
            return;
        }
        pass[i] = m;
    }
    nn_mysql_session_result_begin(ses, 4);
    for (size_t k = 0; k < 4; k++) {
        nn_mysql_session_result_column(ses, names[k],
                                       k == 3 ? NN_MYSQL_TYPE_LONGLONG : NN_MYSQL_TYPE_VAR_STRING);
    }
    for (size_t i = 0; i < NN_MYSQL_CHARSET_COUNT; i++) {
        if (pass[i]) {
            nn_mysql_session_result_row(ses, rows[i], NULL);
        }
    }
    nn_mysql_session_result_end(ses);
}

/* ------------------------------------------------------- introspection */

static bool is_self(nn_mysql_session *ses, const nn_sql_account *a) {
    return strcmp(a->user, nn_mysql_session_user(ses)) == 0 &&
           strcasecmp(a->host, nn_mysql_session_account_host(ses)) == 0;
}

static void show_create_user(nn_mysql_session *ses, const nn_sql_stmt *st) {
    const nn_sql_account *acc = &st->accounts[0];
    if (!is_self(ses, acc) && !nn_mysql_session_may_manage_users(ses)) {
        deny_privilege(ses);
        return;
    }
    nn_mysql_users *u = nn_mysql_catalog_users_get0(nn_mysql_session_server(ses)->catalog,
                                                    nn_mysql_session_loop(ses));
    const nn_mysql_account *a = nn_mysql_users_find(u, acc->user, acc->host);
    if (a == NULL) {
        nn_mysql_session_error(ses, NN_ER_CANNOT_USER, "HY000",
                               "Operation SHOW CREATE USER failed for '%s'@'%s'", acc->user,
                               acc->host);
        return;
    }
    char require[1200];
    nn_ssl_require_print(&a->require, require, sizeof(require));
    char text[2048];
    if (a->auth_string[0] != '\0') {
        snprintf(text, sizeof(text), "CREATE USER `%s`@`%s` IDENTIFIED WITH '%s' AS '%s' %s",
                 a->user, a->host, a->plugin, a->auth_string, require);
    } else {
        snprintf(text, sizeof(text), "CREATE USER `%s`@`%s` IDENTIFIED WITH '%s' %s", a->user,
                 a->host, a->plugin, require);
    }
    char title[512];
    snprintf(title, sizeof(title), "CREATE USER for %s@%s", a->user, a->host);
    nn_mysql_session_result_begin(ses, 1);
    nn_mysql_session_result_column(ses, title, NN_MYSQL_TYPE_VAR_STRING);
    const char *row[1] = {text};
    nn_mysql_session_result_row(ses, row, NULL);
    nn_mysql_session_result_end(ses);
}

static void show_grants(nn_mysql_session *ses, const nn_sql_stmt *st) {
    const char *user = nn_mysql_session_user(ses);
    const char *host = nn_mysql_session_account_host(ses);
    if (st->account_count > 0) {
        if (!is_self(ses, &st->accounts[0]) && !nn_mysql_session_may_manage_users(ses)) {
            deny_privilege(ses);
            return;
        }
        user = st->accounts[0].user;
        host = st->accounts[0].host;
    }
    nn_mysql_users *u = nn_mysql_catalog_users_get0(nn_mysql_session_server(ses)->catalog,
                                                    nn_mysql_session_loop(ses));
    const nn_mysql_account *a = nn_mysql_users_find(u, user, host);
    if (a == NULL) {
        nn_mysql_session_error(ses, 1141, "42000",
                               "There is no such grant defined for user '%s' on host '%s'", user,
                               host);
        return;
    }
    char title[512];
    char grant[512];
    snprintf(title, sizeof(title), "Grants for %s@%s", a->user, a->host);
    if (a->admin && strcmp(a->user, "root") == 0) {
        snprintf(grant, sizeof(grant), "GRANT ALL PRIVILEGES ON *.* TO `%s`@`%s` WITH GRANT OPTION",
                 a->user, a->host);
    } else {
        snprintf(grant, sizeof(grant), "GRANT %s ON *.* TO `%s`@`%s`",
                 a->admin ? "CREATE USER" : "USAGE", a->user, a->host);
    }
    nn_mysql_session_result_begin(ses, 1);
    nn_mysql_session_result_column(ses, title, NN_MYSQL_TYPE_VAR_STRING);
    const char *row[1] = {grant};
    nn_mysql_session_result_row(ses, row, NULL);
    nn_mysql_session_result_end(ses);
}

static void one_column_empty(nn_mysql_session *ses, const char *name) {
    nn_mysql_session_result_begin(ses, 1);
    nn_mysql_session_result_column(ses, name, NN_MYSQL_TYPE_VAR_STRING);
    nn_mysql_session_result_end(ses);
}

/* -------------------------------------------------- user management */

/* One DDL statement in flight: its accounts are applied one op at a time. */
typedef struct ddl {
    nn_catalog_op op; /* first: the op's task is the ddl's */
    nn_mysql_session *ses;
    nn_sql_stmt stmt;
    size_t next_account;
} ddl;

static void ddl_submit(ddl *d);

static void ddl_free(ddl *d) {
    nn_mysql_session *ses = d->ses;
    nn_sql_stmt_clear(&d->stmt);
    nn_ssl_require_clear(&d->op.require);
    memset(d->op.password, 0, sizeof(d->op.password));
    free(d);
    nn_mysql_session_release(ses);
}

static void ddl_done(nn_task *task) {
    ddl *d = (ddl *)task;
    nn_catalog_op *op = &d->op;
    if (op->result < 0) {
        if (op->result == -EIO) {
            nn_mysql_session_error(d->ses, NN_ER_UNKNOWN_ERROR, "HY000", "user catalog: %s",
                                   op->message);
        } else {
            nn_mysql_session_error(d->ses, NN_ER_CANNOT_USER, "HY000", "%s", op->message);
        }
        ddl_free(d);
        return;
    }
    if (d->next_account < d->stmt.account_count) {
        ddl_submit(d);
        return;
    }
    nn_mysql_session_ok(d->ses, 0, 0, NULL);
    ddl_free(d);
}

static void ddl_submit(ddl *d) {
    nn_catalog_op *op = &d->op;
    const nn_sql_account *acc = &d->stmt.accounts[d->next_account++];
    snprintf(op->user, sizeof(op->user), "%s", acc->user);
    snprintf(op->host, sizeof(op->host), "%s", acc->host);
    op->result = 0;
    op->noop = false;
    op->message[0] = '\0';
    nn_mysql_catalog_submit(nn_mysql_session_server(d->ses)->catalog, op);
}

static bool auth_string_valid(const char *plugin, const char *s) {
    if (s[0] == '\0') {
        return true;
    }
    if (strcmp(plugin, NN_PLUGIN_NATIVE) == 0) {
        return strlen(s) == 41 && s[0] == '*' && strspn(s + 1, "0123456789ABCDEFabcdef") == 40;
    }
    return strlen(s) < 128 && nn_mysql_sha2_auth_string_valid(s);
}

static void run_user_ddl(nn_mysql_session *ses, nn_sql_stmt *st) {
    bool self_password = st->kind == NN_SQL_ALTER_USER && is_self(ses, &st->accounts[0]) &&
                         !st->has_require && st->plugin == NULL && st->auth_as == NULL;
    if (!self_password && !nn_mysql_session_may_manage_users(ses)) {
        deny_privilege(ses);
        return;
    }
    ddl *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        nn_mysql_session_error(ses, NN_ER_UNKNOWN_ERROR, "HY000", "out of memory");
        return;
    }
    nn_catalog_op *op = &d->op;
    op->loop = nn_mysql_session_loop(ses);
    op->task.fn = ddl_done;
    op->if_exists = st->if_exists;
    op->if_not_exists = st->if_not_exists;
    switch (st->kind) {
    case NN_SQL_CREATE_USER:
        op->kind = NN_CATALOG_CREATE;
        break;
    case NN_SQL_ALTER_USER:
        op->kind = NN_CATALOG_ALTER;
        break;
    case NN_SQL_DROP_USER:
        op->kind = NN_CATALOG_DROP;
        break;
    case NN_SQL_GRANT_CREATE_USER:
    case NN_SQL_REVOKE_CREATE_USER:
        op->kind = NN_CATALOG_SET_ADMIN;
        op->admin_value = st->kind == NN_SQL_GRANT_CREATE_USER;
        break;
    default:
        break;
    }
    const char *plugin = st->plugin ? st->plugin : "";
    if (st->kind == NN_SQL_CREATE_USER && plugin[0] == '\0') {
        plugin = NN_PLUGIN_SHA2; /* the default for new accounts, as in MySQL 8 */
    }
    snprintf(op->plugin, sizeof(op->plugin), "%s", plugin);
    bool identified = st->password != NULL || st->auth_as != NULL || st->plugin != NULL;
    if (st->kind == NN_SQL_CREATE_USER || identified) {
        op->set_auth = true;
        if (st->password != NULL) {
            if (strlen(st->password) >= sizeof(op->password)) {
                free(d);
                nn_mysql_session_error(ses, NN_ER_UNKNOWN_ERROR, "HY000", "password too long");
                return;
            }
            op->hash_password = true;
            snprintf(op->password, sizeof(op->password), "%s", st->password);
        } else if (st->auth_as != NULL) {
            if (!auth_string_valid(op->plugin, st->auth_as)) {
                free(d);
                nn_mysql_session_error(ses, ER_PASSWORD_FORMAT, "HY000",
                                       "The password hash doesn't have the expected format.");
                return;
            }
            snprintf(op->auth_string, sizeof(op->auth_string), "%s", st->auth_as);
        } else if (op->plugin[0] == '\0') {
            snprintf(op->plugin, sizeof(op->plugin), NN_PLUGIN_SHA2);
        }
    }
    if (st->kind == NN_SQL_CREATE_USER || st->has_require) {
        op->set_require = true;
        if (st->has_require && nn_ssl_require_copy(&op->require, &st->require) < 0) {
            free(d);
            nn_mysql_session_error(ses, NN_ER_UNKNOWN_ERROR, "HY000", "out of memory");
            return;
        }
    }
    d->ses = ses;
    d->stmt = *st; /* the ddl owns the statement now */
    memset(st, 0, sizeof(*st));
    nn_mysql_session_hold(ses);
    ddl_submit(d);
}

/* --------------------------------------------------------------- entry */

void nn_mysql_admin_statement(nn_mysql_session *ses, const char *sql, size_t len) {
    nn_sql_stmt st;
    size_t pos = 0;
    nn_err err;
    nn_err_clear(&err);
    int rc = nn_sql_parse(sql, len, &st, &pos, &err);
    if (rc == -ENOMEM) {
        nn_sql_stmt_clear(&st);
        nn_mysql_session_error(ses, NN_ER_UNKNOWN_ERROR, "HY000", "out of memory");
        return;
    }
    if (rc < 0) {
        nn_log(NN_LOG_DEBUG, "mysql.sql.error", "conn=%llu pos=%zu reason=\"%s\"",
               (unsigned long long)nn_mysql_session_id(ses), pos, err.msg);
        nn_sql_stmt_clear(&st);
        syntax_error(ses, sql, len, pos);
        return;
    }
    if (st.param_count > 0) {
        /* '?' belongs to prepared statements; in a text query it is MySQL's syntax error */
        nn_log(NN_LOG_DEBUG, "mysql.sql.error", "conn=%llu pos=%zu reason=\"%s\"",
               (unsigned long long)nn_mysql_session_id(ses), st.first_param_at,
               "a placeholder in a text query");
        syntax_error(ses, sql, len, st.first_param_at);
        nn_sql_stmt_clear(&st);
        return;
    }
    nn_mysql_admin_answer_parsed(ses, &st, NULL, 0);
    nn_sql_stmt_clear(&st);
}

void nn_mysql_admin_answer_parsed(nn_mysql_session *ses, nn_sql_stmt *stmt,
                                  const nn_sql_param *params, size_t n) {
    nn_sql_stmt st = *stmt; /* run_user_ddl may take the statement over */
    memset(stmt, 0, sizeof(*stmt));
    nn_sql_eval_ctx base = {.ses = ses, .params = params, .param_count = n};
    switch (st.kind) {
    case NN_SQL_EMPTY:
        nn_mysql_session_error(ses, 1065, "42000", "Query was empty");
        break;
    case NN_SQL_SELECT:
        run_select(ses, &st, &base);
        break;
    case NN_SQL_SET:
        run_set(ses, &st, &base);
        break;
    case NN_SQL_SHOW_STATUS:
        show_status(ses, &st, &base);
        break;
    case NN_SQL_SHOW_VARIABLES:
        show_variables(ses, &st, &base);
        break;
    case NN_SQL_SHOW_COLLATION:
        show_collation(ses, &st, &base);
        break;
    case NN_SQL_SHOW_CHARSET:
        show_charset(ses, &st, &base);
        break;
    case NN_SQL_DO:
        run_do(ses, &st, &base);
        break;
    case NN_SQL_UNSUPPORTED:
        nn_mysql_session_error(ses, NN_ER_NOT_SUPPORTED_YET, "42000",
                               "This version of nodenet doesn't yet support '%s'", st.unsupported);
        break;
    case NN_SQL_SHOW_WARNINGS:
        nn_mysql_session_result_begin(ses, 3);
        nn_mysql_session_result_column(ses, "Level", NN_MYSQL_TYPE_VAR_STRING);
        nn_mysql_session_result_column(ses, "Code", NN_MYSQL_TYPE_LONGLONG);
        nn_mysql_session_result_column(ses, "Message", NN_MYSQL_TYPE_VAR_STRING);
        nn_mysql_session_result_end(ses);
        break;
    case NN_SQL_SHOW_DATABASES: {
        nn_mysql_session_result_begin(ses, 1);
        nn_mysql_session_result_column(ses, "Database", NN_MYSQL_TYPE_VAR_STRING);
        const char *row[1] = {"information_schema"};
        nn_mysql_session_result_row(ses, row, NULL);
        nn_mysql_session_result_end(ses);
        break;
    }
    case NN_SQL_SHOW_TABLES: {
        char name[300];
        snprintf(name, sizeof(name), "Tables_in_%s", nn_mysql_session_database(ses));
        one_column_empty(ses, name);
        break;
    }
    case NN_SQL_SHOW_CREATE_USER:
        show_create_user(ses, &st);
        break;
    case NN_SQL_SHOW_GRANTS:
        show_grants(ses, &st);
        break;
    case NN_SQL_CREATE_USER:
    case NN_SQL_ALTER_USER:
    case NN_SQL_DROP_USER:
    case NN_SQL_GRANT_CREATE_USER:
    case NN_SQL_REVOKE_CREATE_USER:
        run_user_ddl(ses, &st);
        break;
    case NN_SQL_USE:
        nn_mysql_session_set_database(ses, st.database, strlen(st.database));
        nn_mysql_session_ok(ses, 0, 0, NULL);
        break;
    case NN_SQL_TRANSACTION:
        if (st.txn != NN_SQL_TXN_NONE) {
            nn_mysql_session_set_in_transaction(ses, st.txn == NN_SQL_TXN_BEGIN);
        }
        nn_mysql_session_ok(ses, 0, 0, NULL);
        break;
    }
    nn_sql_stmt_clear(&st);
}

void nn_mysql_admin_init_db(nn_mysql_session *ses, const char *db, size_t len) {
    nn_mysql_session_set_database(ses, db, len);
    nn_mysql_session_ok(ses, 0, 0, NULL);
}
