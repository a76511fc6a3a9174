/* mysql/sql.c: the SQL subset the administrative handler understands.
 *
 * A recursive-descent parser over statements that start with a keyword (tokens in
 * sql_lex.c, expressions in sql_expr.c). It never guesses: anything outside the subset is a syntax
 * error with the byte position where it stopped making sense (MySQL's 1064 "near '...'").
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/sql_internal.h"

/* ----------------------------------------------------------------- SELECT */

static void parse_where(nn_sql_parser *p, nn_sql_stmt *st) {
    st->where = calloc(1, sizeof(*st->where));
    if (st->where == NULL) {
        p->oom = p->bad = true;
        return;
    }
    nn_sql_parse_or(p, st->where);
}

static void parse_select(nn_sql_parser *p, nn_sql_stmt *st) {
    st->kind = NN_SQL_SELECT;
    nn_sql_accept_word(p, "ALL");
    nn_sql_accept_word(p, "DISTINCT"); /* one row: nothing to make distinct */
    do {
        if (st->item_count == NN_SQL_MAX_ITEMS) {
            nn_sql_fail(p, p->tok.start, "too many select items");
            return;
        }
        nn_sql_expr *e = &st->items[st->item_count++];
        if (nn_sql_is_punct(p, '*')) {
            nn_sql_fail(p, p->tok.start, "'*' needs a table");
            return;
        }
        nn_sql_parse_expr(p, e);
        if (p->bad) {
            return;
        }
        if (nn_sql_accept_word(p, "AS")) {
            if (p->tok.kind != NN_SQL_TOK_WORD && p->tok.kind != NN_SQL_TOK_QUOTED &&
                p->tok.kind != NN_SQL_TOK_STRING) {
                nn_sql_fail(p, p->tok.start, "expected an alias");
                return;
            }
            free(e->label);
            e->label = nn_sql_take(p);
        } else if (p->tok.kind == NN_SQL_TOK_QUOTED || p->tok.kind == NN_SQL_TOK_STRING ||
                   (p->tok.kind == NN_SQL_TOK_WORD && !nn_sql_is_clause_word(p))) {
            free(e->label);
            e->label = nn_sql_take(p);
        }
    } while (nn_sql_accept_punct(p, ','));
    if (nn_sql_accept_word(p, "FROM")) {
        if (nn_sql_is_word(p, "DUAL")) {
            nn_sql_next(p);
        } else if (p->tok.kind == NN_SQL_TOK_WORD || p->tok.kind == NN_SQL_TOK_QUOTED) {
            nn_sql_expr name = {0};
            nn_sql_parse_primary(p, &name);
            if (!p->bad && name.kind != NN_EXPR_IDENT) {
                nn_sql_fail(p, p->tok.start, "expected a table name");
            }
            st->from = name.text;
            name.text = NULL;
            nn_sql_expr_clear(&name);
            if (p->bad) {
                return;
            }
        } else {
            nn_sql_fail(p, p->tok.start, "expected a table name");
            return;
        }
    }
    if (nn_sql_accept_word(p, "WHERE")) {
        parse_where(p, st);
    }
    st->limit = -1;
    if (!p->bad && nn_sql_accept_word(p, "LIMIT")) {
        if (p->tok.kind != NN_SQL_TOK_NUMBER) {
            nn_sql_fail(p, p->tok.start, "expected a number after LIMIT");
            return;
        }
        st->limit = strtoll(p->tok.value, NULL, 10);
        nn_sql_next(p);
        if (nn_sql_accept_punct(p, ',') || nn_sql_accept_word(p, "OFFSET")) {
            /* LIMIT offset, count / LIMIT count OFFSET offset: one row at most */
            if (p->tok.kind != NN_SQL_TOK_NUMBER) {
                nn_sql_fail(p, p->tok.start, "expected a number");
                return;
            }
            nn_sql_next(p);
        }
    }
    if (!p->bad) {
        nn_sql_expect_end(p);
    }
}

/* -------------------------------------------------------------------- SET */

/* SET [SESSION|GLOBAL] TRANSACTION ISOLATION LEVEL ... | READ ONLY | READ WRITE, as the
 * variables transaction_isolation and transaction_read_only. Without a scope it is about the
 * next transaction only: accepted, nothing kept (the admin handler has no transactions). */
static void parse_set_transaction(nn_sql_parser *p, nn_sql_stmt *st, nn_sql_scope scope) {
    st->assign_count = 0;
    do {
        const char *name = NULL;
        const char *value = NULL;
        if (nn_sql_accept_word(p, "ISOLATION")) {
            if (!nn_sql_expect_word(p, "LEVEL")) {
                return;
            }
            name = "transaction_isolation";
            if (nn_sql_accept_word(p, "READ")) {
                value = nn_sql_accept_word(p, "COMMITTED")     ? "READ-COMMITTED"
                        : nn_sql_accept_word(p, "UNCOMMITTED") ? "READ-UNCOMMITTED"
                                                               : NULL;
            } else if (nn_sql_accept_word(p, "REPEATABLE")) {
                value = nn_sql_expect_word(p, "READ") ? "REPEATABLE-READ" : NULL;
            } else if (nn_sql_accept_word(p, "SERIALIZABLE")) {
                value = "SERIALIZABLE";
            }
        } else if (nn_sql_accept_word(p, "READ")) {
            name = "transaction_read_only";
            value = nn_sql_accept_word(p, "ONLY")    ? "1"
                    : nn_sql_accept_word(p, "WRITE") ? "0"
                                                     : NULL;
        }
        if (value == NULL) {
            nn_sql_fail(p, p->tok.start, "expected a transaction characteristic");
            return;
        }
        if (scope != NN_SCOPE_DEFAULT) {
            nn_sql_assign *a = &st->assigns[st->assign_count++];
            a->scope = scope;
            a->name = strdup(name);
            a->value.kind = NN_EXPR_STRING;
            a->value.text = strdup(value);
            if (a->name == NULL || a->value.text == NULL) {
                p->oom = p->bad = true;
                return;
            }
        }
    } while (st->assign_count < 2 && nn_sql_accept_punct(p, ','));
    nn_sql_expect_end(p);
}

/* A charset or collation name: a word, 'string', `name` or DEFAULT. */
static char *take_name(nn_sql_parser *p, const char *what) {
    if (p->tok.kind != NN_SQL_TOK_WORD && p->tok.kind != NN_SQL_TOK_STRING &&
        p->tok.kind != NN_SQL_TOK_QUOTED) {
        nn_sql_fail(p, p->tok.start, what);
        return NULL;
    }
    char *v = nn_sql_take(p);
    if (v == NULL) {
        p->oom = p->bad = true;
    } else {
        nn_sql_lower(v);
    }
    return v;
}

static void parse_set(nn_sql_parser *p, nn_sql_stmt *st) {
    st->kind = NN_SQL_SET;
    do {
        if (st->assign_count == NN_SQL_MAX_ITEMS) {
            nn_sql_fail(p, p->tok.start, "too many assignments");
            return;
        }
        nn_sql_assign *a = &st->assigns[st->assign_count++];
        a->scope = NN_SCOPE_DEFAULT;
        if (nn_sql_accept_word(p, "SESSION") || nn_sql_accept_word(p, "LOCAL")) {
            a->scope = NN_SCOPE_SESSION;
        } else if (nn_sql_accept_word(p, "GLOBAL") || nn_sql_accept_word(p, "PERSIST") ||
                   nn_sql_accept_word(p, "PERSIST_ONLY")) {
            a->scope = NN_SCOPE_GLOBAL;
        }
        if (st->assign_count == 1 && nn_sql_accept_word(p, "TRANSACTION")) {
            parse_set_transaction(p, st, a->scope);
            return;
        }
        if (a->scope == NN_SCOPE_DEFAULT &&
            (nn_sql_is_word(p, "NAMES") || nn_sql_is_word(p, "CHARACTER") ||
             nn_sql_is_word(p, "CHARSET"))) {
            bool names = nn_sql_is_word(p, "NAMES");
            nn_sql_next(p);
            if (!names && nn_sql_is_word(p, "SET")) {
                nn_sql_next(p);
            }
            a->name = strdup(names ? "names" : "character set");
            if (a->name == NULL) {
                p->oom = p->bad = true;
                return;
            }
            a->value.kind = NN_EXPR_IDENT;
            a->value.text = take_name(p, "expected a character set name");
            if (!p->bad && names && nn_sql_accept_word(p, "COLLATE")) {
                a->collation = take_name(p, "expected a collation name");
            }
            if (p->bad) {
                return;
            }
            continue;
        }
        if (p->tok.kind == NN_SQL_TOK_SYSVAR) {
            a->name = nn_sql_take(p);
            if (a->name != NULL) {
                nn_sql_scope s = nn_sql_scope_prefix(&a->name);
                if (s != NN_SCOPE_DEFAULT) {
                    a->scope = s;
                }
            }
        } else if (p->tok.kind == NN_SQL_TOK_USERVAR) {
            char *v = nn_sql_take(p);
            a->name = v ? malloc(strlen(v) + 2) : NULL;
            if (a->name != NULL) {
                a->name[0] = '@';
                strcpy(a->name + 1, v);
            }
            free(v);
        } else if (p->tok.kind == NN_SQL_TOK_WORD) {
            a->name = nn_sql_take(p);
        } else {
            nn_sql_fail(p, p->tok.start, "expected a variable name");
            return;
        }
        if (a->name == NULL) {
            p->oom = p->bad = true;
            return;
        }
        nn_sql_lower(a->name);
        if (!nn_sql_accept_punct(p, '=')) {
            if (nn_sql_is_punct(p, ':') && p->tok.end < p->len && p->src[p->tok.end] == '=') {
                p->pos = p->tok.end + 1;
                nn_sql_next(p);
            } else {
                nn_sql_fail(p, p->tok.start, "expected '='");
                return;
            }
        }
        nn_sql_parse_or(p, &a->value);
        if (p->bad) {
            return;
        }
    } while (nn_sql_accept_punct(p, ','));
    nn_sql_expect_end(p);
}

/* ------------------------------------------------------------- accounts */

static bool is_name_token(const nn_sql_parser *p) {
    return p->tok.kind == NN_SQL_TOK_STRING || p->tok.kind == NN_SQL_TOK_QUOTED ||
           p->tok.kind == NN_SQL_TOK_WORD;
}

static void parse_account(nn_sql_parser *p, nn_sql_stmt *st) {
    if (st->account_count == NN_SQL_MAX_ACCOUNTS) {
        nn_sql_fail(p, p->tok.start, "too many accounts");
        return;
    }
    nn_sql_account *a = &st->accounts[st->account_count++];
    if (!is_name_token(p)) {
        nn_sql_fail(p, p->tok.start, "expected an account name");
        return;
    }
    a->user = nn_sql_take(p);
    if (p->tok.kind == NN_SQL_TOK_USERVAR) {
        a->host = nn_sql_take(p); /* u@host written without quotes */
    } else if (nn_sql_accept_punct(p, '@')) {
        if (!is_name_token(p)) {
            nn_sql_fail(p, p->tok.start, "expected a host name");
            return;
        }
        a->host = nn_sql_take(p);
    } else {
        a->host = strdup("%");
    }
    if (a->user == NULL || a->host == NULL) {
        p->oom = p->bad = true;
        return;
    }
    if (strlen(a->user) >= 128 || strlen(a->host) >= 256) {
        nn_sql_fail(p, p->tok.start, "account name too long");
    }
}

static void parse_identified(nn_sql_parser *p, nn_sql_stmt *st) {
    if (nn_sql_accept_word(p, "WITH")) {
        if (p->tok.kind != NN_SQL_TOK_WORD && p->tok.kind != NN_SQL_TOK_STRING &&
            p->tok.kind != NN_SQL_TOK_QUOTED) {
            nn_sql_fail(p, p->tok.start, "expected an authentication plugin");
            return;
        }
        size_t at = p->tok.start;
        st->plugin = nn_sql_take(p);
        if (st->plugin == NULL) {
            p->oom = p->bad = true;
            return;
        }
        if (strcmp(st->plugin, NN_PLUGIN_NATIVE) != 0 && strcmp(st->plugin, NN_PLUGIN_SHA2) != 0) {
            nn_sql_fail(p, at, "unknown authentication plugin");
            return;
        }
        if (nn_sql_accept_word(p, "AS")) {
            if (p->tok.kind != NN_SQL_TOK_STRING) {
                nn_sql_fail(p, p->tok.start, "expected a quoted auth string");
                return;
            }
            st->auth_as = nn_sql_take(p);
            return;
        }
        if (!nn_sql_is_word(p, "BY")) {
            return;
        }
    }
    if (!nn_sql_expect_word(p, "BY")) {
        return;
    }
    if (p->tok.kind != NN_SQL_TOK_STRING) {
        nn_sql_fail(p, p->tok.start, "expected a quoted password");
        return;
    }
    st->password = nn_sql_take(p);
}

static void parse_require(nn_sql_parser *p, nn_sql_stmt *st) {
    /* The clause's grammar belongs to security/: hand it the text and continue after it. */
    size_t at = p->tok.start;
    size_t consumed = 0;
    nn_err rerr;
    nn_err_clear(&rerr);
    if (nn_ssl_require_parse(p->src + at, p->len - at, &st->require, &consumed, &rerr) < 0) {
        nn_sql_fail(p, at, rerr.msg);
        return;
    }
    st->has_require = true;
    p->pos = at + consumed;
    nn_sql_next(p);
}

static void parse_user_ddl(nn_sql_parser *p, nn_sql_stmt *st, nn_sql_kind kind) {
    st->kind = kind;
    if (kind == NN_SQL_CREATE_USER && nn_sql_accept_word(p, "IF")) {
        if (!nn_sql_expect_word(p, "NOT") || !nn_sql_expect_word(p, "EXISTS")) {
            return;
        }
        st->if_not_exists = true;
    } else if (kind != NN_SQL_CREATE_USER && nn_sql_accept_word(p, "IF")) {
        if (!nn_sql_expect_word(p, "EXISTS")) {
            return;
        }
        st->if_exists = true;
    }
    do {
        parse_account(p, st);
        if (p->bad) {
            return;
        }
    } while (kind == NN_SQL_DROP_USER && nn_sql_accept_punct(p, ','));
    if (kind != NN_SQL_DROP_USER) {
        if (nn_sql_accept_word(p, "IDENTIFIED")) {
            parse_identified(p, st);
        }
        if (!p->bad && nn_sql_accept_word(p, "REQUIRE")) {
            parse_require(p, st);
        }
    }
    if (!p->bad) {
        nn_sql_expect_end(p);
    }
}

static void parse_grant(nn_sql_parser *p, nn_sql_stmt *st, bool grant) {
    st->kind = grant ? NN_SQL_GRANT_CREATE_USER : NN_SQL_REVOKE_CREATE_USER;
    if (!nn_sql_expect_word(p, "CREATE") || !nn_sql_expect_word(p, "USER") ||
        !nn_sql_expect_word(p, "ON")) {
        return;
    }
    /* Only the global level: *.* */
    if (!nn_sql_accept_punct(p, '*') || !nn_sql_accept_punct(p, '.') ||
        !nn_sql_accept_punct(p, '*')) {
        nn_sql_fail(p, p->tok.start, "only ON *.* is supported");
        return;
    }
    if (!nn_sql_expect_word(p, grant ? "TO" : "FROM")) {
        return;
    }
    parse_account(p, st);
    if (!p->bad) {
        nn_sql_expect_end(p);
    }
}

/* ------------------------------------------------------------------- SHOW */

static void parse_show(nn_sql_parser *p, nn_sql_stmt *st) {
    if (nn_sql_accept_word(p, "SESSION") || nn_sql_accept_word(p, "LOCAL")) {
        st->scope = NN_SCOPE_SESSION;
    } else if (nn_sql_accept_word(p, "GLOBAL")) {
        st->scope = NN_SCOPE_GLOBAL;
    }
    if (nn_sql_accept_word(p, "STATUS")) {
        st->kind = NN_SQL_SHOW_STATUS;
    } else if (nn_sql_accept_word(p, "VARIABLES")) {
        st->kind = NN_SQL_SHOW_VARIABLES;
    } else if (st->scope != NN_SCOPE_DEFAULT) {
        nn_sql_fail(p, p->tok.start, "expected STATUS or VARIABLES");
        return;
    } else if (nn_sql_accept_word(p, "COLLATION")) {
        st->kind = NN_SQL_SHOW_COLLATION;
    } else if (nn_sql_accept_word(p, "CHARSET") ||
               (nn_sql_is_word(p, "CHARACTER") && (nn_sql_next(p), nn_sql_expect_word(p, "SET")))) {
        st->kind = NN_SQL_SHOW_CHARSET;
    } else if (p->bad) {
        return;
    } else if (nn_sql_accept_word(p, "WARNINGS") || nn_sql_accept_word(p, "ERRORS")) {
        st->kind = NN_SQL_SHOW_WARNINGS;
        if (nn_sql_accept_word(p, "LIMIT")) {
            nn_sql_next(p);
        }
        nn_sql_expect_end(p);
        return;
    } else if (nn_sql_accept_word(p, "DATABASES") || nn_sql_accept_word(p, "SCHEMAS")) {
        st->kind = NN_SQL_SHOW_DATABASES;
    } else if (nn_sql_accept_word(p, "FULL") || nn_sql_is_word(p, "TABLES")) {
        st->kind = NN_SQL_SHOW_TABLES;
        if (!nn_sql_expect_word(p, "TABLES")) {
            return;
        }
    } else if (nn_sql_accept_word(p, "CREATE")) {
        if (!nn_sql_expect_word(p, "USER")) {
            return;
        }
        st->kind = NN_SQL_SHOW_CREATE_USER;
        parse_account(p, st);
        if (!p->bad) {
            nn_sql_expect_end(p);
        }
        return;
    } else if (nn_sql_accept_word(p, "GRANTS")) {
        st->kind = NN_SQL_SHOW_GRANTS;
        if (nn_sql_accept_word(p, "FOR")) {
            if (nn_sql_is_word(p, "CURRENT_USER")) {
                nn_sql_next(p);
                if (nn_sql_accept_punct(p, '(')) {
                    nn_sql_accept_punct(p, ')');
                }
            } else {
                parse_account(p, st);
            }
        }
        if (!p->bad) {
            nn_sql_expect_end(p);
        }
        return;
    } else if (p->tok.kind == NN_SQL_TOK_WORD) {
        /* SHOW ENGINES, SHOW PROCESSLIST ...: well-formed MySQL, not answered here */
        st->kind = NN_SQL_UNSUPPORTED;
        size_t at = p->tok.start;
        while (p->tok.kind == NN_SQL_TOK_WORD && !nn_sql_is_word(p, "LIKE") &&
               !nn_sql_is_word(p, "WHERE") && !nn_sql_is_word(p, "FROM") &&
               !nn_sql_is_word(p, "IN")) {
            nn_sql_next(p);
        }
        size_t end = p->tok.kind == NN_SQL_TOK_END ? p->len : p->tok.start;
        while (end > at && isspace((unsigned char)p->src[end - 1])) {
            end--;
        }
        char *what = nn_sql_dup_range(p->src + at, end - at);
        st->unsupported = what ? malloc(strlen(what) + 6) : NULL;
        if (st->unsupported == NULL) {
            free(what);
            p->oom = p->bad = true;
            return;
        }
        sprintf(st->unsupported, "SHOW %s", what);
        free(what);
        return; /* the rest (LIKE, FROM ...) is not looked at */
    } else {
        nn_sql_fail(p, p->tok.start, "unsupported SHOW statement");
        return;
    }
    if (nn_sql_accept_word(p, "LIKE")) {
        if (p->tok.kind != NN_SQL_TOK_STRING) {
            nn_sql_fail(p, p->tok.start, "expected a quoted pattern after LIKE");
            return;
        }
        st->like = nn_sql_take(p);
    } else if (nn_sql_accept_word(p, "WHERE")) {
        parse_where(p, st);
    }
    if (!p->bad) {
        nn_sql_expect_end(p);
    }
}

/* ------------------------------------------------------------ statements */

/* SAVEPOINT, RELEASE SAVEPOINT, ROLLBACK TO: a name, accepted (the admin handler has no
 * transactions to keep savepoints of). */
static void parse_savepoint_name(nn_sql_parser *p) {
    if (p->tok.kind != NN_SQL_TOK_WORD && p->tok.kind != NN_SQL_TOK_QUOTED) {
        nn_sql_fail(p, p->tok.start, "expected a savepoint name");
        return;
    }
    nn_sql_next(p);
}

int nn_sql_parse(const char *sql, size_t len, nn_sql_stmt *out, size_t *err_pos, nn_err *err) {
    memset(out, 0, sizeof(*out));
    nn_sql_parser p = {.src = sql, .len = len, .err = err};
    nn_sql_next(&p);
    if (p.tok.kind == NN_SQL_TOK_END || nn_sql_is_punct(&p, ';')) {
        out->kind = NN_SQL_EMPTY;
        out->limit = -1;
        nn_sql_accept_punct(&p, ';');
        nn_sql_expect_end(&p);
    } else if (nn_sql_accept_word(&p, "SELECT")) {
        parse_select(&p, out);
    } else if (nn_sql_accept_word(&p, "SET")) {
        parse_set(&p, out);
    } else if (nn_sql_accept_word(&p, "SHOW")) {
        parse_show(&p, out);
    } else if (nn_sql_accept_word(&p, "CREATE")) {
        if (nn_sql_expect_word(&p, "USER")) {
            parse_user_ddl(&p, out, NN_SQL_CREATE_USER);
        }
    } else if (nn_sql_accept_word(&p, "ALTER")) {
        if (nn_sql_expect_word(&p, "USER")) {
            parse_user_ddl(&p, out, NN_SQL_ALTER_USER);
        }
    } else if (nn_sql_accept_word(&p, "DROP")) {
        if (nn_sql_expect_word(&p, "USER")) {
            parse_user_ddl(&p, out, NN_SQL_DROP_USER);
        }
    } else if (nn_sql_accept_word(&p, "GRANT")) {
        parse_grant(&p, out, true);
    } else if (nn_sql_accept_word(&p, "REVOKE")) {
        parse_grant(&p, out, false);
    } else if (nn_sql_accept_word(&p, "USE")) {
        out->kind = NN_SQL_USE;
        if (!is_name_token(&p)) {
            nn_sql_fail(&p, p.tok.start, "expected a database name");
        } else {
            out->database = nn_sql_take(&p);
            nn_sql_expect_end(&p);
        }
    } else if (nn_sql_is_word(&p, "BEGIN") || nn_sql_is_word(&p, "COMMIT") ||
               nn_sql_is_word(&p, "ROLLBACK")) {
        out->kind = NN_SQL_TRANSACTION;
        out->txn = nn_sql_is_word(&p, "BEGIN") ? NN_SQL_TXN_BEGIN : NN_SQL_TXN_END;
        nn_sql_next(&p);
        nn_sql_accept_word(&p, "WORK");
        if (nn_sql_accept_word(&p, "TO")) {
            out->txn = NN_SQL_TXN_NONE; /* a savepoint: the transaction goes on */
            /* ROLLBACK TO [SAVEPOINT] name */
            nn_sql_accept_word(&p, "SAVEPOINT");
            parse_savepoint_name(&p);
        } else {
            /* [AND [NO] CHAIN] [[NO] RELEASE] */
            if (nn_sql_accept_word(&p, "AND")) {
                nn_sql_accept_word(&p, "NO");
                nn_sql_expect_word(&p, "CHAIN");
            }
            if (!nn_sql_accept_word(&p, "RELEASE") && nn_sql_accept_word(&p, "NO")) {
                nn_sql_expect_word(&p, "RELEASE");
            }
        }
        nn_sql_expect_end(&p);
    } else if (nn_sql_accept_word(&p, "SAVEPOINT")) {
        out->kind = NN_SQL_TRANSACTION;
        parse_savepoint_name(&p);
        nn_sql_expect_end(&p);
    } else if (nn_sql_accept_word(&p, "RELEASE")) {
        out->kind = NN_SQL_TRANSACTION;
        if (nn_sql_expect_word(&p, "SAVEPOINT")) {
            parse_savepoint_name(&p);
            nn_sql_expect_end(&p);
        }
    } else if (nn_sql_accept_word(&p, "DO")) {
        /* DO e[, e]: evaluated for its effects (none here but errors), answered OK */
        out->kind = NN_SQL_DO;
        do {
            if (out->item_count == NN_SQL_MAX_ITEMS) {
                nn_sql_fail(&p, p.tok.start, "too many expressions");
                break;
            }
            nn_sql_parse_expr(&p, &out->items[out->item_count++]);
        } while (!p.bad && nn_sql_accept_punct(&p, ','));
        nn_sql_expect_end(&p);
    } else if (nn_sql_accept_word(&p, "START")) {
        out->kind = NN_SQL_TRANSACTION;
        out->txn = NN_SQL_TXN_BEGIN;
        if (nn_sql_expect_word(&p, "TRANSACTION")) {
            /* WITH CONSISTENT SNAPSHOT, READ ONLY, READ WRITE: nothing to keep */
            while (p.tok.kind == NN_SQL_TOK_WORD || nn_sql_is_punct(&p, ',')) {
                nn_sql_next(&p);
            }
            nn_sql_expect_end(&p);
        }
    } else {
        nn_sql_fail(&p, p.tok.start, "unsupported statement");
    }
    free(p.tok.value);
    out->param_count = p.param_count;
    out->first_param_at = p.first_param_at;
    if (p.oom) {
        *err_pos = 0;
        return nn_err_set(err, ENOMEM, "out of memory");
    }
    if (p.bad) {
        *err_pos = p.err_pos;
        return -EINVAL;
    }
    return 0;
}

void nn_sql_stmt_clear(nn_sql_stmt *st) {
    for (size_t i = 0; i < st->item_count; i++) {
        nn_sql_expr_clear(&st->items[i]);
    }
    for (size_t i = 0; i < st->assign_count; i++) {
        free(st->assigns[i].name);
        nn_sql_expr_clear(&st->assigns[i].value);
        free(st->assigns[i].collation);
    }
    if (st->where != NULL) {
        nn_sql_expr_clear(st->where);
        free(st->where);
    }
    free(st->from);
    free(st->unsupported);
    for (size_t i = 0; i < st->account_count; i++) {
        free(st->accounts[i].user);
        free(st->accounts[i].host);
    }
    free(st->like);
    free(st->plugin);
    if (st->password != NULL) {
        /* A password must not linger in freed memory. */
        memset(st->password, 0, strlen(st->password));
        free(st->password);
    }
    free(st->auth_as);
    free(st->database);
    if (st->has_require) {
        nn_ssl_require_clear(&st->require);
    }
    memset(st, 0, sizeof(*st));
}

bool nn_sql_like(const char *pattern, const char *text) {
    /* Greedy matching with one backtrack point (the last '%'): O(pattern x text) even for
     * patterns like '%_%_%_x' that make naive recursion explode. */
    const char *p = pattern;
    const char *t = text;
    const char *star_p = NULL;
    const char *star_t = NULL;
    while (*t != '\0') {
        if (*p == '%') {
            while (*p == '%') {
                p++;
            }
            star_p = p;
            star_t = t;
            continue;
        }
        size_t step = 1;
        bool match = false;
        if (*p == '_') {
            match = true;
        } else if (*p == '\\' && p[1] != '\0') {
            match = tolower((unsigned char)p[1]) == tolower((unsigned char)*t);
            step = 2;
        } else if (*p != '\0') {
            match = tolower((unsigned char)*p) == tolower((unsigned char)*t);
        }
        if (match) {
            p += step;
            t++;
        } else if (star_p != NULL) {
            p = star_p;
            t = ++star_t;
        } else {
            return false;
        }
    }
    while (*p == '%') {
        p++;
    }
    return *p == '\0';
}
