/* mysql/admin.c: nodenet's administrative SQL handler.
 *
 * User management (writes go to the catalog thread and are answered once committed),
 * SHOW STATUS / VARIABLES with the session's real TLS facts, SELECT of literals,
 * @@variables and session functions, SET, and what the standard clients send on connect.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mysql/mysql_internal.h"

#define ER_UNKNOWN_ERROR 1105
#define ER_PASSWORD_FORMAT 1827

/* ----------------------------------------------------------- variables */

typedef struct var_ctx {
    nn_mysql_session *ses;
    const nn_mysql_settings *settings;
    char buf[128];
} var_ctx;

typedef struct sysvar {
    const char *name;
    bool numeric;
    const char *value; /* static value, or NULL: computed by dynamic() */
} sysvar;

static const sysvar sysvars[] = {
    {"auto_increment_increment", true, "1"},
    {"autocommit", true, "1"},
    {"character_set_client", false, "utf8mb4"},
    {"character_set_connection", false, "utf8mb4"},
    {"character_set_database", false, "utf8mb4"},
    {"character_set_results", false, "utf8mb4"},
    {"character_set_server", false, "utf8mb4"},
    {"collation_connection", false, "utf8mb4_general_ci"},
    {"collation_server", false, "utf8mb4_general_ci"},
    {"connect_timeout", true, "10"},
    {"have_openssl", false, NULL},
    {"have_ssl", false, NULL},
    {"init_connect", false, ""},
    {"interactive_timeout", true, NULL},
    {"license", false, "Apache-2.0"},
    {"lower_case_table_names", true, "0"},
    {"max_allowed_packet", true, NULL},
    {"net_buffer_length", true, "16384"},
    {"net_write_timeout", true, "60"},
    {"performance_schema", true, "0"},
    {"query_cache_size", true, "0"},
    {"query_cache_type", false, "OFF"},
    {"require_secure_transport", false, NULL},
    {"sql_mode", false,
     "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
     "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"},
    {"sql_select_limit", true, "18446744073709551615"},
    {"system_time_zone", false, "UTC"},
    {"time_zone", false, "SYSTEM"},
    {"tls_version", false, "TLSv1.2,TLSv1.3"},
    {"transaction_isolation", false, "REPEATABLE-READ"},
    {"tx_isolation", false, "REPEATABLE-READ"},
    {"version", false, NULL},
    {"version_comment", false, "nodenet"},
    {"wait_timeout", true, NULL},
};
#define SYSVAR_COUNT (sizeof(sysvars) / sizeof(sysvars[0]))

static const sysvar *sysvar_find(const char *name) {
    for (size_t i = 0; i < SYSVAR_COUNT; i++) {
        if (strcmp(sysvars[i].name, name) == 0) {
            return &sysvars[i];
        }
    }
    return NULL;
}

/* The value a variable has for this session (session settings first). */
static const char *sysvar_value(var_ctx *ctx, const sysvar *v, nn_sql_scope scope) {
    nn_mysql_server *srv = nn_mysql_session_server(ctx->ses);
    const nn_mysql_settings *s = atomic_load(&srv->settings);
    if (scope != NN_SCOPE_GLOBAL) {
        const char *set = nn_mysql_session_var(ctx->ses, v->name);
        if (set != NULL) {
            return set;
        }
    }
    if (v->value != NULL) {
        return v->value;
    }
    if (strcmp(v->name, "have_ssl") == 0 || strcmp(v->name, "have_openssl") == 0) {
        return s->tls && srv->sec != NULL ? "YES" : "DISABLED";
    }
    if (strcmp(v->name, "require_secure_transport") == 0) {
        return s->require_secure_transport ? "ON" : "OFF";
    }
    if (strcmp(v->name, "version") == 0) {
        return srv->server_version;
    }
    if (strcmp(v->name, "max_allowed_packet") == 0) {
        snprintf(ctx->buf, sizeof(ctx->buf), "%u", s->max_allowed_packet);
        return ctx->buf;
    }
    /* wait_timeout, interactive_timeout: the idle deadline, in seconds */
    snprintf(ctx->buf, sizeof(ctx->buf), "%llu", (unsigned long long)(s->idle_timeout_ms / 1000));
    return ctx->buf;
}

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

/* ------------------------------------------------------------- SELECT */

static void run_select(nn_mysql_session *ses, const nn_sql_stmt *st) {
    var_ctx ctx = {.ses = ses};
    const char *values[NN_SQL_MAX_ITEMS];
    nn_mysql_type types[NN_SQL_MAX_ITEMS];
    char bufs[NN_SQL_MAX_ITEMS][320];
    for (size_t i = 0; i < st->item_count; i++) {
        const nn_sql_expr *e = &st->items[i];
        types[i] = NN_MYSQL_TYPE_VAR_STRING;
        values[i] = bufs[i];
        switch (e->kind) {
        case NN_EXPR_STRING:
            values[i] = e->text;
            break;
        case NN_EXPR_NUMBER:
            values[i] = e->text;
            types[i] = strpbrk(e->text, ".eE") ? NN_MYSQL_TYPE_DOUBLE : NN_MYSQL_TYPE_LONGLONG;
            break;
        case NN_EXPR_NULL:
            values[i] = NULL;
            break;
        case NN_EXPR_SYSVAR: {
            const sysvar *v = sysvar_find(e->text);
            if (v == NULL) {
                nn_mysql_session_error(ses, NN_ER_UNKNOWN_SYSTEM_VARIABLE, "HY000",
                                       "Unknown system variable '%s'", e->text);
                return;
            }
            snprintf(bufs[i], sizeof(bufs[i]), "%s", sysvar_value(&ctx, v, e->scope));
            if (v->numeric) {
                types[i] = NN_MYSQL_TYPE_LONGLONG;
                if (strcasecmp(bufs[i], "ON") == 0) {
                    snprintf(bufs[i], sizeof(bufs[i]), "1");
                } else if (strcasecmp(bufs[i], "OFF") == 0) {
                    snprintf(bufs[i], sizeof(bufs[i]), "0");
                }
            }
            break;
        }
        case NN_EXPR_FUNC: {
            const char *f = e->text;
            if (strcmp(f, "current_user") == 0) {
                snprintf(bufs[i], sizeof(bufs[i]), "%s@%s", nn_mysql_session_user(ses),
                         nn_mysql_session_account_host(ses));
            } else if (strcmp(f, "user") == 0 || strcmp(f, "session_user") == 0 ||
                       strcmp(f, "system_user") == 0) {
                snprintf(bufs[i], sizeof(bufs[i]), "%s@%s", nn_mysql_session_user(ses),
                         nn_mysql_session_host(ses));
            } else if (strcmp(f, "connection_id") == 0) {
                snprintf(bufs[i], sizeof(bufs[i]), "%llu",
                         (unsigned long long)nn_mysql_session_id(ses));
                types[i] = NN_MYSQL_TYPE_LONGLONG;
            } else if (strcmp(f, "version") == 0) {
                snprintf(bufs[i], sizeof(bufs[i]), "%s",
                         nn_mysql_session_server(ses)->server_version);
            } else if (strcmp(f, "database") == 0 || strcmp(f, "schema") == 0) {
                const char *db = nn_mysql_session_database(ses);
                if (db[0] == '\0') {
                    values[i] = NULL;
                } else {
                    snprintf(bufs[i], sizeof(bufs[i]), "%s", db);
                }
            } else if (strcmp(f, "last_insert_id") == 0 || strcmp(f, "row_count") == 0 ||
                       strcmp(f, "found_rows") == 0) {
                snprintf(bufs[i], sizeof(bufs[i]), "0");
                types[i] = NN_MYSQL_TYPE_LONGLONG;
            } else {
                nn_mysql_session_error(ses, 1305, "42000", "FUNCTION %s does not exist", f);
                return;
            }
            break;
        }
        }
    }
    nn_mysql_session_result_begin(ses, (uint32_t)st->item_count);
    for (size_t i = 0; i < st->item_count; i++) {
        nn_mysql_session_result_column(ses, st->items[i].label, types[i]);
    }
    nn_mysql_session_result_row(ses, values, NULL);
    nn_mysql_session_result_end(ses);
}

/* ------------------------------------------------------------------ SET */

static void run_set(nn_mysql_session *ses, const nn_sql_stmt *st) {
    /* Check everything first: SET is all or nothing. */
    for (size_t i = 0; i < st->assign_count; i++) {
        const nn_sql_assign *a = &st->assigns[i];
        if (a->name[0] == '@' || strcmp(a->name, "names") == 0) {
            continue;
        }
        if (sysvar_find(a->name) == NULL) {
            nn_mysql_session_error(ses, NN_ER_UNKNOWN_SYSTEM_VARIABLE, "HY000",
                                   "Unknown system variable '%s'", a->name);
            return;
        }
        if (a->scope == NN_SCOPE_GLOBAL) {
            nn_mysql_session_error(ses, NN_ER_SPECIFIC_ACCESS_DENIED, "42000",
                                   "Access denied; you need (at least one of) the SUPER or "
                                   "SYSTEM_VARIABLES_ADMIN privilege(s) for this operation");
            return;
        }
    }
    for (size_t i = 0; i < st->assign_count; i++) {
        const nn_sql_assign *a = &st->assigns[i];
        int rc = 0;
        if (strcmp(a->name, "names") == 0) {
            rc = nn_mysql_session_var_set(ses, "character_set_client", a->value);
            rc = rc ? rc : nn_mysql_session_var_set(ses, "character_set_connection", a->value);
            rc = rc ? rc : nn_mysql_session_var_set(ses, "character_set_results", a->value);
        } else if (strcasecmp(a->value, "DEFAULT") == 0 && a->name[0] != '@') {
            const sysvar *v = sysvar_find(a->name);
            var_ctx ctx = {.ses = ses};
            rc = nn_mysql_session_var_set(ses, a->name, sysvar_value(&ctx, v, NN_SCOPE_GLOBAL));
        } else if (strcmp(a->name, "autocommit") == 0) {
            bool on = strcmp(a->value, "1") == 0 || strcasecmp(a->value, "ON") == 0 ||
                      strcasecmp(a->value, "TRUE") == 0;
            rc = nn_mysql_session_var_set(ses, a->name, on ? "1" : "0");
        } else {
            rc = nn_mysql_session_var_set(ses, a->name, a->value);
        }
        if (rc < 0) {
            nn_mysql_session_error(ses, ER_UNKNOWN_ERROR, "HY000", "too many session variables");
            return;
        }
    }
    nn_mysql_session_ok(ses, 0, 0, NULL);
}

/* --------------------------------------------------------- SHOW STATUS */

static void show_status(nn_mysql_session *ses, const nn_sql_stmt *st) {
    const nn_tls_facts *f = nn_mysql_session_tls(ses);
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
    /* MySQL's order: alphabetical. Ssl_verify_mode is the server's: peer | client-once. */
    const char *rows[][2] = {
        {"Connections", connections},
        {"Ssl_cipher", f->encrypted ? f->cipher : ""},
        {"Ssl_cipher_list", ""},
        {"Ssl_server_not_after", not_after},
        {"Ssl_server_not_before", not_before},
        {"Ssl_sessions_reused", f->session_reused ? "1" : "0"},
        {"Ssl_verify_depth", f->encrypted ? "100" : "0"},
        {"Ssl_verify_mode", f->encrypted ? "5" : "0"},
        {"Ssl_version", f->encrypted ? f->version : ""},
        {"Threads_connected", threads},
        {"Uptime", uptime},
    };
    two_column_result(ses, "Variable_name", "Value");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (st->like == NULL || nn_sql_like(st->like, rows[i][0])) {
            nn_mysql_session_result_row(ses, rows[i], NULL);
        }
    }
    nn_mysql_session_result_end(ses);
}

static void show_variables(nn_mysql_session *ses, const nn_sql_stmt *st) {
    var_ctx ctx = {.ses = ses};
    two_column_result(ses, "Variable_name", "Value");
    for (size_t i = 0; i < SYSVAR_COUNT; i++) {
        if (st->like == NULL || nn_sql_like(st->like, sysvars[i].name)) {
            const char *row[2] = {sysvars[i].name, sysvar_value(&ctx, &sysvars[i], st->scope)};
            nn_mysql_session_result_row(ses, row, NULL);
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
            nn_mysql_session_error(d->ses, ER_UNKNOWN_ERROR, "HY000", "user catalog: %s",
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
        nn_mysql_session_error(ses, ER_UNKNOWN_ERROR, "HY000", "out of memory");
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
                nn_mysql_session_error(ses, ER_UNKNOWN_ERROR, "HY000", "password too long");
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
            nn_mysql_session_error(ses, ER_UNKNOWN_ERROR, "HY000", "out of memory");
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
        nn_mysql_session_error(ses, ER_UNKNOWN_ERROR, "HY000", "out of memory");
        return;
    }
    if (rc < 0) {
        nn_log(NN_LOG_DEBUG, "mysql.sql.error", "conn=%llu pos=%zu reason=\"%s\"",
               (unsigned long long)nn_mysql_session_id(ses), pos, err.msg);
        nn_sql_stmt_clear(&st);
        syntax_error(ses, sql, len, pos);
        return;
    }
    switch (st.kind) {
    case NN_SQL_EMPTY:
        nn_mysql_session_error(ses, 1065, "42000", "Query was empty");
        break;
    case NN_SQL_SELECT:
        run_select(ses, &st);
        break;
    case NN_SQL_SET:
        run_set(ses, &st);
        break;
    case NN_SQL_SHOW_STATUS:
        show_status(ses, &st);
        break;
    case NN_SQL_SHOW_VARIABLES:
        show_variables(ses, &st);
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
        nn_mysql_session_ok(ses, 0, 0, NULL);
        break;
    }
    nn_sql_stmt_clear(&st);
}

void nn_mysql_admin_init_db(nn_mysql_session *ses, const char *db, size_t len) {
    nn_mysql_session_set_database(ses, db, len);
    nn_mysql_session_ok(ses, 0, 0, NULL);
}
