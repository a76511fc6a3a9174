/* mysql/sql.c: the SQL subset the administrative handler understands.
 *
 * A small tokenizer and a recursive-descent parser over statements that start with a
 * keyword. It never guesses: anything outside the subset is a syntax error with the
 * byte position where it stopped making sense (MySQL's 1064 "near '...'").
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/mysql_internal.h"

typedef enum tok_kind {
    TOK_END,
    TOK_WORD,   /* identifier or keyword */
    TOK_QUOTED, /* `identifier` */
    TOK_STRING, /* '...' or "..." */
    TOK_NUMBER,
    TOK_SYSVAR,  /* @@name (value = name, may hold "session.x") */
    TOK_USERVAR, /* @name */
    TOK_PUNCT,   /* one character */
} tok_kind;

typedef struct token {
    tok_kind kind;
    size_t start; /* byte offsets into the statement */
    size_t end;
    char *value; /* owned: unescaped text (not for TOK_PUNCT) */
    char punct;
} token;

typedef struct parser {
    const char *src;
    size_t len;
    size_t pos; /* where the next token starts scanning */
    token tok;  /* the current token */
    bool bad;
    size_t err_pos;
    nn_err *err;
    bool oom;
} parser;

static char *dup_range(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void skip_space(parser *p) {
    for (;;) {
        while (p->pos < p->len && isspace((unsigned char)p->src[p->pos])) {
            p->pos++;
        }
        if (p->pos + 1 < p->len && p->src[p->pos] == '/' && p->src[p->pos + 1] == '*') {
            const char *close = NULL;
            for (size_t i = p->pos + 2; i + 1 < p->len; i++) {
                if (p->src[i] == '*' && p->src[i + 1] == '/') {
                    close = p->src + i;
                    break;
                }
            }
            p->pos = close ? (size_t)(close - p->src) + 2 : p->len;
            continue;
        }
        bool dash = p->pos + 2 <= p->len && p->src[p->pos] == '-' && p->pos + 1 < p->len &&
                    p->src[p->pos + 1] == '-' &&
                    (p->pos + 2 == p->len || isspace((unsigned char)p->src[p->pos + 2]));
        if (dash || (p->pos < p->len && p->src[p->pos] == '#')) {
            while (p->pos < p->len && p->src[p->pos] != '\n') {
                p->pos++;
            }
            continue;
        }
        return;
    }
}

static bool word_char(char c) {
    return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

static void fail(parser *p, size_t at, const char *why) {
    if (!p->bad) {
        p->bad = true;
        p->err_pos = at;
        nn_err_set(p->err, EINVAL, "%s", why);
    }
}

/* Reads a quoted string starting at p->pos (the quote), MySQL's escapes included. */
static char *read_quoted(parser *p, char quote, size_t *end) {
    size_t i = p->pos + 1;
    char *out = malloc(p->len - p->pos + 1);
    if (out == NULL) {
        p->oom = true;
        return NULL;
    }
    size_t n = 0;
    while (i < p->len) {
        char c = p->src[i];
        if (c == quote) {
            if (i + 1 < p->len && p->src[i + 1] == quote) {
                out[n++] = quote;
                i += 2;
                continue;
            }
            out[n] = '\0';
            *end = i + 1;
            return out;
        }
        if (c == '\\' && quote != '`' && i + 1 < p->len) {
            char e = p->src[i + 1];
            switch (e) {
            case 'n':
                out[n++] = '\n';
                break;
            case 't':
                out[n++] = '\t';
                break;
            case 'r':
                out[n++] = '\r';
                break;
            case '0':
                out[n++] = '\0';
                break;
            case 'Z':
                out[n++] = 26;
                break;
            default:
                out[n++] = e;
                break;
            }
            i += 2;
            continue;
        }
        out[n++] = c;
        i++;
    }
    free(out);
    fail(p, p->pos, "unterminated quoted string");
    return NULL;
}

static void next(parser *p) {
    free(p->tok.value);
    memset(&p->tok, 0, sizeof(p->tok));
    if (p->bad) {
        p->tok.kind = TOK_END;
        p->tok.start = p->tok.end = p->len;
        return;
    }
    skip_space(p);
    p->tok.start = p->pos;
    if (p->pos >= p->len) {
        p->tok.kind = TOK_END;
        p->tok.end = p->len;
        return;
    }
    char c = p->src[p->pos];
    size_t end = p->pos + 1;
    if (c == '\'' || c == '"' || c == '`') {
        p->tok.value = read_quoted(p, c, &end);
        if (p->tok.value == NULL) {
            p->tok.kind = TOK_END;
            return;
        }
        p->tok.kind = c == '`' ? TOK_QUOTED : TOK_STRING;
    } else if (c == '@') {
        bool sys = p->pos + 1 < p->len && p->src[p->pos + 1] == '@';
        size_t name = p->pos + (sys ? 2 : 1);
        end = name;
        while (end < p->len && (word_char(p->src[end]) || (sys && p->src[end] == '.'))) {
            end++;
        }
        if (end == name) {
            p->tok.kind = TOK_PUNCT; /* 'u'@'h': the '@' of an account */
            p->tok.punct = '@';
            end = p->pos + 1;
        } else {
            p->tok.kind = sys ? TOK_SYSVAR : TOK_USERVAR;
            p->tok.value = dup_range(p->src + name, end - name);
        }
    } else if (isdigit((unsigned char)c) ||
               (c == '.' && p->pos + 1 < p->len && isdigit((unsigned char)p->src[p->pos + 1]))) {
        while (end < p->len && (isalnum((unsigned char)p->src[end]) || p->src[end] == '.')) {
            end++;
        }
        p->tok.kind = TOK_NUMBER;
        p->tok.value = dup_range(p->src + p->pos, end - p->pos);
    } else if (word_char(c)) {
        while (end < p->len && word_char(p->src[end])) {
            end++;
        }
        p->tok.kind = TOK_WORD;
        p->tok.value = dup_range(p->src + p->pos, end - p->pos);
    } else {
        p->tok.kind = TOK_PUNCT;
        p->tok.punct = c;
    }
    if (p->tok.kind != TOK_PUNCT && p->tok.value == NULL) {
        p->oom = true;
        p->bad = true;
    }
    p->tok.end = end;
    p->pos = end;
}

static bool is_word(const parser *p, const char *kw) {
    return p->tok.kind == TOK_WORD && strcasecmp(p->tok.value, kw) == 0;
}

static bool accept_word(parser *p, const char *kw) {
    if (is_word(p, kw)) {
        next(p);
        return true;
    }
    return false;
}

static bool expect_word(parser *p, const char *kw) {
    if (accept_word(p, kw)) {
        return true;
    }
    fail(p, p->tok.start, "unexpected token");
    return false;
}

static bool is_punct(const parser *p, char c) {
    return p->tok.kind == TOK_PUNCT && p->tok.punct == c;
}

static bool accept_punct(parser *p, char c) {
    if (is_punct(p, c)) {
        next(p);
        return true;
    }
    return false;
}

/* The statement must end here (an optional ';'). */
static void expect_end(parser *p) {
    accept_punct(p, ';');
    if (p->tok.kind != TOK_END) {
        fail(p, p->tok.start, "unexpected text after the statement");
    }
}

/* Takes the current token's value (caller owns it) and advances. */
static char *take(parser *p) {
    char *v = p->tok.value;
    p->tok.value = NULL;
    next(p);
    return v;
}

static void lower(char *s) {
    for (; *s; s++) {
        *s = (char)tolower((unsigned char)*s);
    }
}

/* ----------------------------------------------------------------- SELECT */

static nn_sql_scope scope_prefix(char **name) {
    static const struct {
        const char *prefix;
        nn_sql_scope scope;
    } prefixes[] = {
        {"session.", NN_SCOPE_SESSION}, {"local.", NN_SCOPE_SESSION}, {"global.", NN_SCOPE_GLOBAL}};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i].prefix);
        if (strncasecmp(*name, prefixes[i].prefix, n) == 0) {
            memmove(*name, *name + n, strlen(*name + n) + 1);
            return prefixes[i].scope;
        }
    }
    return NN_SCOPE_DEFAULT;
}

static void parse_expr(parser *p, nn_sql_expr *e) {
    size_t start = p->tok.start;
    bool negative = false;
    if (is_punct(p, '-') || is_punct(p, '+')) {
        negative = is_punct(p, '-');
        next(p);
    }
    if (p->tok.kind == TOK_NUMBER) {
        char *num = take(p);
        if (num == NULL) {
            return;
        }
        if (negative) {
            char *neg = malloc(strlen(num) + 2);
            if (neg == NULL) {
                free(num);
                p->oom = p->bad = true;
                return;
            }
            neg[0] = '-';
            strcpy(neg + 1, num);
            free(num);
            num = neg;
        }
        e->kind = NN_EXPR_NUMBER;
        e->text = num;
    } else if (negative) {
        fail(p, p->tok.start, "expected a number");
        return;
    } else if (p->tok.kind == TOK_STRING) {
        e->kind = NN_EXPR_STRING;
        e->text = take(p);
        e->label = e->text ? strdup(e->text) : NULL;
        return;
    } else if (is_word(p, "NULL")) {
        e->kind = NN_EXPR_NULL;
        next(p);
    } else if (is_word(p, "TRUE") || is_word(p, "FALSE")) {
        e->kind = NN_EXPR_NUMBER;
        e->text = strdup(is_word(p, "TRUE") ? "1" : "0");
        next(p);
    } else if (p->tok.kind == TOK_SYSVAR) {
        e->kind = NN_EXPR_SYSVAR;
        e->text = take(p);
        if (e->text != NULL) {
            e->scope = scope_prefix(&e->text);
            lower(e->text);
        }
    } else if (p->tok.kind == TOK_WORD) {
        e->kind = NN_EXPR_FUNC;
        e->text = take(p);
        if (e->text != NULL) {
            lower(e->text);
        }
        /* CURRENT_USER may be written without parentheses. */
        if (accept_punct(p, '(')) {
            if (!accept_punct(p, ')')) {
                fail(p, p->tok.start, "only functions without arguments are supported");
                return;
            }
        } else if (e->text != NULL && strcmp(e->text, "current_user") != 0) {
            fail(p, start, "unknown column or expression");
            return;
        }
    } else {
        fail(p, p->tok.start, "expected an expression");
        return;
    }
    /* The column is named by the expression as written, as MySQL does. */
    size_t end = p->tok.start;
    while (end > start && isspace((unsigned char)p->src[end - 1])) {
        end--;
    }
    e->label = dup_range(p->src + start, end - start);
}

static void parse_select(parser *p, nn_sql_stmt *st) {
    st->kind = NN_SQL_SELECT;
    do {
        if (st->item_count == NN_SQL_MAX_ITEMS) {
            fail(p, p->tok.start, "too many select items");
            return;
        }
        nn_sql_expr *e = &st->items[st->item_count++];
        parse_expr(p, e);
        if (p->bad) {
            return;
        }
        if (accept_word(p, "AS")) {
            if (p->tok.kind != TOK_WORD && p->tok.kind != TOK_QUOTED && p->tok.kind != TOK_STRING) {
                fail(p, p->tok.start, "expected an alias");
                return;
            }
            free(e->label);
            e->label = take(p);
        } else if (p->tok.kind == TOK_QUOTED ||
                   (p->tok.kind == TOK_WORD && !is_word(p, "FROM") && !is_word(p, "LIMIT"))) {
            free(e->label);
            e->label = take(p);
        }
    } while (accept_punct(p, ','));
    if (accept_word(p, "FROM")) {
        expect_word(p, "DUAL");
    }
    if (accept_word(p, "LIMIT")) {
        if (p->tok.kind != TOK_NUMBER) {
            fail(p, p->tok.start, "expected a number after LIMIT");
            return;
        }
        next(p);
    }
    expect_end(p);
}

/* -------------------------------------------------------------------- SET */

static void parse_set(parser *p, nn_sql_stmt *st) {
    st->kind = NN_SQL_SET;
    if (is_word(p, "NAMES") || is_word(p, "CHARACTER") || is_word(p, "CHARSET")) {
        bool names = is_word(p, "NAMES");
        next(p);
        if (!names && is_word(p, "SET")) {
            next(p);
        }
        if (p->tok.kind != TOK_WORD && p->tok.kind != TOK_STRING && p->tok.kind != TOK_QUOTED) {
            fail(p, p->tok.start, "expected a character set name");
            return;
        }
        nn_sql_assign *a = &st->assigns[st->assign_count++];
        a->name = strdup("names");
        a->value = take(p);
        if (names && accept_word(p, "COLLATE")) {
            next(p);
        }
        expect_end(p);
        return;
    }
    do {
        if (st->assign_count == NN_SQL_MAX_ITEMS) {
            fail(p, p->tok.start, "too many assignments");
            return;
        }
        nn_sql_assign *a = &st->assigns[st->assign_count++];
        a->scope = NN_SCOPE_DEFAULT;
        if (accept_word(p, "SESSION") || accept_word(p, "LOCAL")) {
            a->scope = NN_SCOPE_SESSION;
        } else if (accept_word(p, "GLOBAL")) {
            a->scope = NN_SCOPE_GLOBAL;
        }
        if (st->assign_count == 1 && is_word(p, "TRANSACTION")) {
            /* SET [SESSION] TRANSACTION ...: accepted; the admin handler has none. */
            st->assign_count = 0;
            while (p->tok.kind != TOK_END && !p->bad) {
                next(p);
            }
            return;
        }
        if (p->tok.kind == TOK_SYSVAR) {
            a->name = take(p);
            if (a->name != NULL) {
                nn_sql_scope s = scope_prefix(&a->name);
                if (s != NN_SCOPE_DEFAULT) {
                    a->scope = s;
                }
            }
        } else if (p->tok.kind == TOK_USERVAR) {
            char *v = take(p);
            a->name = v ? malloc(strlen(v) + 2) : NULL;
            if (a->name != NULL) {
                a->name[0] = '@';
                strcpy(a->name + 1, v);
            }
            free(v);
        } else if (p->tok.kind == TOK_WORD) {
            a->name = take(p);
        } else {
            fail(p, p->tok.start, "expected a variable name");
            return;
        }
        if (a->name == NULL) {
            p->oom = p->bad = true;
            return;
        }
        lower(a->name);
        if (!accept_punct(p, '=')) {
            if (is_punct(p, ':') && p->tok.end < p->len && p->src[p->tok.end] == '=') {
                next(p);
                next(p);
            } else {
                fail(p, p->tok.start, "expected '='");
                return;
            }
        }
        bool negative = accept_punct(p, '-');
        if (p->tok.kind == TOK_STRING || p->tok.kind == TOK_NUMBER || p->tok.kind == TOK_WORD ||
            p->tok.kind == TOK_QUOTED) {
            char *v = take(p);
            if (v != NULL && negative) {
                char *neg = malloc(strlen(v) + 2);
                if (neg != NULL) {
                    neg[0] = '-';
                    strcpy(neg + 1, v);
                }
                free(v);
                v = neg;
            }
            a->value = v;
        } else if (p->tok.kind == TOK_SYSVAR) {
            a->value = take(p); /* SET x = @@x: resolved by the handler as the name */
        } else {
            fail(p, p->tok.start, "expected a value");
            return;
        }
        if (a->value == NULL) {
            p->oom = p->bad = true;
            return;
        }
    } while (accept_punct(p, ','));
    expect_end(p);
}

/* ------------------------------------------------------------- accounts */

static bool is_name_token(const parser *p) {
    return p->tok.kind == TOK_STRING || p->tok.kind == TOK_QUOTED || p->tok.kind == TOK_WORD;
}

static void parse_account(parser *p, nn_sql_stmt *st) {
    if (st->account_count == NN_SQL_MAX_ACCOUNTS) {
        fail(p, p->tok.start, "too many accounts");
        return;
    }
    nn_sql_account *a = &st->accounts[st->account_count++];
    if (!is_name_token(p)) {
        fail(p, p->tok.start, "expected an account name");
        return;
    }
    a->user = take(p);
    if (p->tok.kind == TOK_USERVAR) {
        a->host = take(p); /* u@host written without quotes */
    } else if (accept_punct(p, '@')) {
        if (!is_name_token(p)) {
            fail(p, p->tok.start, "expected a host name");
            return;
        }
        a->host = take(p);
    } else {
        a->host = strdup("%");
    }
    if (a->user == NULL || a->host == NULL) {
        p->oom = p->bad = true;
        return;
    }
    if (strlen(a->user) >= 128 || strlen(a->host) >= 256) {
        fail(p, p->tok.start, "account name too long");
    }
}

static void parse_identified(parser *p, nn_sql_stmt *st) {
    if (accept_word(p, "WITH")) {
        if (p->tok.kind != TOK_WORD && p->tok.kind != TOK_STRING && p->tok.kind != TOK_QUOTED) {
            fail(p, p->tok.start, "expected an authentication plugin");
            return;
        }
        size_t at = p->tok.start;
        st->plugin = take(p);
        if (st->plugin == NULL) {
            p->oom = p->bad = true;
            return;
        }
        if (strcmp(st->plugin, NN_PLUGIN_NATIVE) != 0 && strcmp(st->plugin, NN_PLUGIN_SHA2) != 0) {
            fail(p, at, "unknown authentication plugin");
            return;
        }
        if (accept_word(p, "AS")) {
            if (p->tok.kind != TOK_STRING) {
                fail(p, p->tok.start, "expected a quoted auth string");
                return;
            }
            st->auth_as = take(p);
            return;
        }
        if (!is_word(p, "BY")) {
            return;
        }
    }
    if (!expect_word(p, "BY")) {
        return;
    }
    if (p->tok.kind != TOK_STRING) {
        fail(p, p->tok.start, "expected a quoted password");
        return;
    }
    st->password = take(p);
}

static void parse_require(parser *p, nn_sql_stmt *st) {
    /* The clause's grammar belongs to security/: hand it the text and continue after it. */
    size_t at = p->tok.start;
    size_t consumed = 0;
    nn_err rerr;
    nn_err_clear(&rerr);
    if (nn_ssl_require_parse(p->src + at, p->len - at, &st->require, &consumed, &rerr) < 0) {
        fail(p, at, rerr.msg);
        return;
    }
    st->has_require = true;
    p->pos = at + consumed;
    next(p);
}

static void parse_user_ddl(parser *p, nn_sql_stmt *st, nn_sql_kind kind) {
    st->kind = kind;
    if (kind == NN_SQL_CREATE_USER && accept_word(p, "IF")) {
        if (!expect_word(p, "NOT") || !expect_word(p, "EXISTS")) {
            return;
        }
        st->if_not_exists = true;
    } else if (kind != NN_SQL_CREATE_USER && accept_word(p, "IF")) {
        if (!expect_word(p, "EXISTS")) {
            return;
        }
        st->if_exists = true;
    }
    do {
        parse_account(p, st);
        if (p->bad) {
            return;
        }
    } while (kind == NN_SQL_DROP_USER && accept_punct(p, ','));
    if (kind != NN_SQL_DROP_USER) {
        if (accept_word(p, "IDENTIFIED")) {
            parse_identified(p, st);
        }
        if (!p->bad && accept_word(p, "REQUIRE")) {
            parse_require(p, st);
        }
    }
    if (!p->bad) {
        expect_end(p);
    }
}

static void parse_grant(parser *p, nn_sql_stmt *st, bool grant) {
    st->kind = grant ? NN_SQL_GRANT_CREATE_USER : NN_SQL_REVOKE_CREATE_USER;
    if (!expect_word(p, "CREATE") || !expect_word(p, "USER") || !expect_word(p, "ON")) {
        return;
    }
    /* Only the global level: *.* */
    if (!accept_punct(p, '*') || !accept_punct(p, '.') || !accept_punct(p, '*')) {
        fail(p, p->tok.start, "only ON *.* is supported");
        return;
    }
    if (!expect_word(p, grant ? "TO" : "FROM")) {
        return;
    }
    parse_account(p, st);
    if (!p->bad) {
        expect_end(p);
    }
}

/* ------------------------------------------------------------------- SHOW */

static void parse_show(parser *p, nn_sql_stmt *st) {
    if (accept_word(p, "SESSION") || accept_word(p, "LOCAL")) {
        st->scope = NN_SCOPE_SESSION;
    } else if (accept_word(p, "GLOBAL")) {
        st->scope = NN_SCOPE_GLOBAL;
    }
    if (accept_word(p, "STATUS")) {
        st->kind = NN_SQL_SHOW_STATUS;
    } else if (accept_word(p, "VARIABLES")) {
        st->kind = NN_SQL_SHOW_VARIABLES;
    } else if (st->scope != NN_SCOPE_DEFAULT) {
        fail(p, p->tok.start, "expected STATUS or VARIABLES");
        return;
    } else if (accept_word(p, "WARNINGS") || accept_word(p, "ERRORS")) {
        st->kind = NN_SQL_SHOW_WARNINGS;
        if (accept_word(p, "LIMIT")) {
            next(p);
        }
        expect_end(p);
        return;
    } else if (accept_word(p, "DATABASES") || accept_word(p, "SCHEMAS")) {
        st->kind = NN_SQL_SHOW_DATABASES;
    } else if (accept_word(p, "FULL") || is_word(p, "TABLES")) {
        st->kind = NN_SQL_SHOW_TABLES;
        if (!expect_word(p, "TABLES")) {
            return;
        }
    } else if (accept_word(p, "CREATE")) {
        if (!expect_word(p, "USER")) {
            return;
        }
        st->kind = NN_SQL_SHOW_CREATE_USER;
        parse_account(p, st);
        if (!p->bad) {
            expect_end(p);
        }
        return;
    } else if (accept_word(p, "GRANTS")) {
        st->kind = NN_SQL_SHOW_GRANTS;
        if (accept_word(p, "FOR")) {
            if (is_word(p, "CURRENT_USER")) {
                next(p);
                if (accept_punct(p, '(')) {
                    accept_punct(p, ')');
                }
            } else {
                parse_account(p, st);
            }
        }
        if (!p->bad) {
            expect_end(p);
        }
        return;
    } else {
        fail(p, p->tok.start, "unsupported SHOW statement");
        return;
    }
    if (accept_word(p, "LIKE")) {
        if (p->tok.kind != TOK_STRING) {
            fail(p, p->tok.start, "expected a quoted pattern after LIKE");
            return;
        }
        st->like = take(p);
    }
    expect_end(p);
}

/* ------------------------------------------------------------ statements */

int nn_sql_parse(const char *sql, size_t len, nn_sql_stmt *out, size_t *err_pos, nn_err *err) {
    memset(out, 0, sizeof(*out));
    parser p = {.src = sql, .len = len, .err = err};
    next(&p);
    if (p.tok.kind == TOK_END || is_punct(&p, ';')) {
        out->kind = NN_SQL_EMPTY;
        accept_punct(&p, ';');
        expect_end(&p);
    } else if (accept_word(&p, "SELECT")) {
        parse_select(&p, out);
    } else if (accept_word(&p, "SET")) {
        parse_set(&p, out);
    } else if (accept_word(&p, "SHOW")) {
        parse_show(&p, out);
    } else if (accept_word(&p, "CREATE")) {
        if (expect_word(&p, "USER")) {
            parse_user_ddl(&p, out, NN_SQL_CREATE_USER);
        }
    } else if (accept_word(&p, "ALTER")) {
        if (expect_word(&p, "USER")) {
            parse_user_ddl(&p, out, NN_SQL_ALTER_USER);
        }
    } else if (accept_word(&p, "DROP")) {
        if (expect_word(&p, "USER")) {
            parse_user_ddl(&p, out, NN_SQL_DROP_USER);
        }
    } else if (accept_word(&p, "GRANT")) {
        parse_grant(&p, out, true);
    } else if (accept_word(&p, "REVOKE")) {
        parse_grant(&p, out, false);
    } else if (accept_word(&p, "USE")) {
        out->kind = NN_SQL_USE;
        if (!is_name_token(&p)) {
            fail(&p, p.tok.start, "expected a database name");
        } else {
            out->database = take(&p);
            expect_end(&p);
        }
    } else if (accept_word(&p, "BEGIN") || accept_word(&p, "COMMIT") ||
               accept_word(&p, "ROLLBACK")) {
        out->kind = NN_SQL_TRANSACTION;
        accept_word(&p, "WORK");
        expect_end(&p);
    } else if (accept_word(&p, "START")) {
        out->kind = NN_SQL_TRANSACTION;
        if (expect_word(&p, "TRANSACTION")) {
            expect_end(&p);
        }
    } else {
        fail(&p, p.tok.start, "unsupported statement");
    }
    free(p.tok.value);
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
        free(st->items[i].text);
        free(st->items[i].label);
    }
    for (size_t i = 0; i < st->assign_count; i++) {
        free(st->assigns[i].name);
        free(st->assigns[i].value);
    }
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
