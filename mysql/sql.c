/* mysql/sql.c: the SQL subset the administrative handler understands.
 *
 * A small tokenizer and a recursive-descent parser over statements that start with a
 * keyword. It never guesses: anything outside the subset is a syntax error with the
 * byte position where it stopped making sense (MySQL's 1064 "near '...'").
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
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
    int depth;            /* of the expression being parsed */
    uint32_t param_count; /* '?' seen so far */
    size_t first_param_at;
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

/* ------------------------------------------------------------ expressions */

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

static void expr_clear(nn_sql_expr *e) {
    for (size_t i = 0; i < e->arg_count; i++) {
        expr_clear(&e->args[i]);
    }
    free(e->args);
    free(e->text);
    free(e->label);
    memset(e, 0, sizeof(*e));
}

/* Appends a zeroed argument to e; NULL (and p->bad) when out of memory or past the bound. */
static nn_sql_expr *expr_push(parser *p, nn_sql_expr *e) {
    if (e->arg_count == NN_SQL_MAX_ARGS) {
        fail(p, p->tok.start, "too many arguments");
        return NULL;
    }
    nn_sql_expr *more = realloc(e->args, (e->arg_count + 1) * sizeof(*more));
    if (more == NULL) {
        p->oom = p->bad = true;
        return NULL;
    }
    e->args = more;
    nn_sql_expr *a = &e->args[e->arg_count++];
    memset(a, 0, sizeof(*a));
    return a;
}

/* Turns e into an operator node whose first operand is what e was; returns the slot for the
 * second operand (or NULL). */
static nn_sql_expr *expr_wrap(parser *p, nn_sql_expr *e, nn_sql_expr_kind kind, nn_sql_op op) {
    nn_sql_expr left = *e;
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->op = op;
    nn_sql_expr *a = expr_push(p, e);
    if (a == NULL) {
        expr_clear(&left);
        return NULL;
    }
    *a = left;
    return kind == NN_EXPR_IS_NULL ? a : expr_push(p, e);
}

static void parse_or(parser *p, nn_sql_expr *e);

/* Words that end an expression or a select item instead of naming a column or an alias. */
static bool is_clause_word(const parser *p) {
    static const char *const words[] = {"FROM",    "WHERE", "LIMIT", "ORDER", "GROUP", "HAVING",
                                        "UNION",   "INTO",  "FOR",   "AND",   "OR",    "XOR",
                                        "NOT",     "IS",    "LIKE",  "IN",    "DIV",   "MOD",
                                        "COLLATE", "AS",    "LOCK",  "WINDOW"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (is_word(p, words[i])) {
            return true;
        }
    }
    return false;
}

/* Functions MySQL lets one write without parentheses. */
static bool bare_function(const char *name) {
    static const char *const names[] = {"current_user",  "current_timestamp", "current_date",
                                        "current_time",  "localtime",         "localtimestamp",
                                        "utc_timestamp", "utc_date",          "utc_time"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            return true;
        }
    }
    return false;
}

static void parse_primary(parser *p, nn_sql_expr *e) {
    if (p->tok.kind == TOK_NUMBER) {
        e->kind = NN_EXPR_NUMBER;
        e->text = take(p);
    } else if (p->tok.kind == TOK_STRING) {
        e->kind = NN_EXPR_STRING;
        e->text = take(p);
        /* 'a' 'b' is one string, as in MySQL */
        while (e->text != NULL && p->tok.kind == TOK_STRING) {
            char *more = take(p);
            char *joined = more ? malloc(strlen(e->text) + strlen(more) + 1) : NULL;
            if (joined != NULL) {
                strcpy(joined, e->text);
                strcat(joined, more);
            }
            free(more);
            free(e->text);
            e->text = joined;
        }
    } else if (is_word(p, "NULL")) {
        e->kind = NN_EXPR_NULL;
        next(p);
        return;
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
    } else if (p->tok.kind == TOK_USERVAR) {
        e->kind = NN_EXPR_USERVAR;
        e->text = take(p);
        if (e->text != NULL) {
            lower(e->text);
        }
    } else if (is_punct(p, '?')) {
        e->kind = NN_EXPR_PARAM;
        if (p->param_count == 0) {
            p->first_param_at = p->tok.start;
        }
        e->param = p->param_count++;
        next(p);
        return;
    } else if (accept_punct(p, '(')) {
        parse_or(p, e);
        if (!p->bad && !accept_punct(p, ')')) {
            fail(p, p->tok.start, "expected ')'");
        }
        return;
    } else if (p->tok.kind == TOK_WORD || p->tok.kind == TOK_QUOTED) {
        bool quoted = p->tok.kind == TOK_QUOTED;
        e->kind = NN_EXPR_IDENT;
        e->text = take(p);
        if (e->text == NULL) {
            p->oom = p->bad = true;
            return;
        }
        if (!quoted && accept_punct(p, '(')) {
            e->kind = NN_EXPR_FUNC;
            lower(e->text);
            if (!accept_punct(p, ')')) {
                do {
                    nn_sql_expr *a = expr_push(p, e);
                    if (a == NULL) {
                        return;
                    }
                    parse_or(p, a);
                } while (!p->bad && accept_punct(p, ','));
                if (!p->bad && !accept_punct(p, ')')) {
                    fail(p, p->tok.start, "expected ')' after the arguments");
                }
            }
            return;
        }
        if (!quoted) {
            char *name = strdup(e->text);
            if (name == NULL) {
                p->oom = p->bad = true;
                return;
            }
            lower(name);
            if (bare_function(name)) {
                e->kind = NN_EXPR_FUNC;
                free(e->text);
                e->text = name;
                return;
            }
            free(name);
        }
        /* schema.table.column: kept as written */
        while (is_punct(p, '.') && !p->bad) {
            next(p);
            if (p->tok.kind != TOK_WORD && p->tok.kind != TOK_QUOTED) {
                fail(p, p->tok.start, "expected a name after '.'");
                return;
            }
            char *part = take(p);
            char *joined = part ? malloc(strlen(e->text) + strlen(part) + 2) : NULL;
            if (joined == NULL) {
                free(part);
                p->oom = p->bad = true;
                return;
            }
            sprintf(joined, "%s.%s", e->text, part);
            free(part);
            free(e->text);
            e->text = joined;
        }
        return;
    } else {
        fail(p, p->tok.start, "expected an expression");
        return;
    }
    if (e->text == NULL && !p->bad) {
        p->oom = p->bad = true;
    }
}

static void parse_unary(parser *p, nn_sql_expr *e) {
    if (++p->depth > NN_SQL_MAX_DEPTH) {
        fail(p, p->tok.start, "expression nested too deeply");
        return;
    }
    if (is_punct(p, '-') || is_punct(p, '+') || is_punct(p, '!') || is_punct(p, '~')) {
        char op = p->tok.punct;
        size_t at = p->tok.end;
        next(p);
        if (op == '-' && p->tok.kind == TOK_NUMBER && p->tok.start == at) {
            /* -2.5 is one literal (its column is named "-2.5") */
            char *num = take(p);
            char *neg = num ? malloc(strlen(num) + 2) : NULL;
            if (neg == NULL) {
                free(num);
                p->oom = p->bad = true;
                return;
            }
            neg[0] = '-';
            strcpy(neg + 1, num);
            free(num);
            e->kind = NN_EXPR_NUMBER;
            e->text = neg;
        } else if (op == '+') {
            parse_unary(p, e);
        } else {
            e->kind = NN_EXPR_UNARY;
            e->op = op == '-' ? NN_OP_NEG : op == '!' ? NN_OP_NOT : NN_OP_BITNOT;
            nn_sql_expr *a = expr_push(p, e);
            if (a != NULL) {
                parse_unary(p, a);
            }
        }
    } else {
        parse_primary(p, e);
    }
    p->depth--;
}

static void parse_mul(parser *p, nn_sql_expr *e) {
    parse_unary(p, e);
    while (!p->bad) {
        nn_sql_op op = NN_OP_NONE;
        if (is_punct(p, '*')) {
            op = NN_OP_MUL;
        } else if (is_punct(p, '/')) {
            op = NN_OP_DIV;
        } else if (is_punct(p, '%') || is_word(p, "MOD")) {
            op = NN_OP_MOD;
        } else if (is_word(p, "DIV")) {
            op = NN_OP_INTDIV;
        } else {
            return;
        }
        next(p);
        nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_BINARY, op);
        if (r == NULL) {
            return;
        }
        parse_unary(p, r);
    }
}

static void parse_add(parser *p, nn_sql_expr *e) {
    parse_mul(p, e);
    while (!p->bad && (is_punct(p, '+') || is_punct(p, '-'))) {
        nn_sql_op op = is_punct(p, '+') ? NN_OP_ADD : NN_OP_SUB;
        next(p);
        nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_BINARY, op);
        if (r == NULL) {
            return;
        }
        parse_mul(p, r);
    }
}

/* A comparison operator at the current token (one or two punctuation tokens), or NONE. */
static nn_sql_op comparison(parser *p) {
    if (p->tok.kind != TOK_PUNCT) {
        return NN_OP_NONE;
    }
    char c = p->tok.punct;
    char c2 = p->tok.end < p->len ? p->src[p->tok.end] : '\0';
    char c3 = p->tok.end + 1 < p->len ? p->src[p->tok.end + 1] : '\0';
    size_t extra = 0;
    nn_sql_op op = NN_OP_NONE;
    if (c == '=') {
        op = NN_OP_EQ;
    } else if (c == '<' && c2 == '=' && c3 == '>') {
        op = NN_OP_NULLSAFE_EQ;
        extra = 2;
    } else if (c == '<' && c2 == '=') {
        op = NN_OP_LE;
        extra = 1;
    } else if (c == '<' && c2 == '>') {
        op = NN_OP_NE;
        extra = 1;
    } else if (c == '<') {
        op = NN_OP_LT;
    } else if (c == '>' && c2 == '=') {
        op = NN_OP_GE;
        extra = 1;
    } else if (c == '>') {
        op = NN_OP_GT;
    } else if (c == '!' && c2 == '=') {
        op = NN_OP_NE;
        extra = 1;
    } else {
        return NN_OP_NONE;
    }
    p->pos = p->tok.end + extra;
    next(p);
    return op;
}

static void parse_cmp(parser *p, nn_sql_expr *e) {
    parse_add(p, e);
    while (!p->bad) {
        nn_sql_op op = comparison(p);
        if (op != NN_OP_NONE) {
            nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_BINARY, op);
            if (r == NULL) {
                return;
            }
            parse_add(p, r);
            continue;
        }
        if (accept_word(p, "IS")) {
            bool negated = accept_word(p, "NOT");
            if (!expect_word(p, "NULL")) {
                return;
            }
            if (expr_wrap(p, e, NN_EXPR_IS_NULL, NN_OP_NONE) == NULL) {
                return;
            }
            e->negated = negated;
            continue;
        }
        bool negated = false;
        if (is_word(p, "NOT")) {
            /* a NOT here belongs to LIKE or IN; anything else ends the comparison */
            size_t save_pos = p->pos;
            token save = p->tok;
            p->tok.value = NULL;
            next(p);
            if (!is_word(p, "LIKE") && !is_word(p, "IN")) {
                free(p->tok.value);
                p->tok = save;
                p->pos = save_pos;
                return;
            }
            free(save.value);
            negated = true;
        }
        if (accept_word(p, "LIKE")) {
            nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_BINARY, NN_OP_LIKE);
            if (r == NULL) {
                return;
            }
            e->negated = negated;
            parse_add(p, r);
        } else if (accept_word(p, "IN")) {
            if (!accept_punct(p, '(')) {
                fail(p, p->tok.start, "expected '(' after IN");
                return;
            }
            nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_IN, NN_OP_NONE);
            if (r == NULL) {
                return;
            }
            e->negated = negated;
            parse_or(p, r);
            while (!p->bad && accept_punct(p, ',')) {
                r = expr_push(p, e);
                if (r == NULL) {
                    return;
                }
                parse_or(p, r);
            }
            if (!p->bad && !accept_punct(p, ')')) {
                fail(p, p->tok.start, "expected ')' after the IN list");
            }
        } else {
            return;
        }
    }
}

static void parse_not(parser *p, nn_sql_expr *e) {
    if (is_word(p, "NOT")) {
        if (++p->depth > NN_SQL_MAX_DEPTH) {
            fail(p, p->tok.start, "expression nested too deeply");
            return;
        }
        next(p);
        e->kind = NN_EXPR_UNARY;
        e->op = NN_OP_NOT;
        nn_sql_expr *a = expr_push(p, e);
        if (a != NULL) {
            parse_not(p, a);
        }
        p->depth--;
        return;
    }
    parse_cmp(p, e);
}

static bool is_double_punct(const parser *p, char c) {
    return is_punct(p, c) && p->tok.end < p->len && p->src[p->tok.end] == c;
}

static void parse_and(parser *p, nn_sql_expr *e) {
    parse_not(p, e);
    while (!p->bad && (is_word(p, "AND") || is_double_punct(p, '&'))) {
        if (is_word(p, "AND")) {
            next(p);
        } else {
            p->pos = p->tok.end + 1;
            next(p);
        }
        nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_BINARY, NN_OP_AND);
        if (r == NULL) {
            return;
        }
        parse_not(p, r);
    }
}

static void parse_or(parser *p, nn_sql_expr *e) {
    if (++p->depth > NN_SQL_MAX_DEPTH) {
        fail(p, p->tok.start, "expression nested too deeply");
        return;
    }
    parse_and(p, e);
    while (!p->bad && (is_word(p, "OR") || is_word(p, "XOR") || is_double_punct(p, '|'))) {
        nn_sql_op op = is_word(p, "XOR") ? NN_OP_XOR : NN_OP_OR;
        if (p->tok.kind == TOK_WORD) {
            next(p);
        } else {
            p->pos = p->tok.end + 1; /* || is OR (sql_mode without PIPES_AS_CONCAT) */
            next(p);
        }
        nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_BINARY, op);
        if (r == NULL) {
            break;
        }
        parse_and(p, r);
    }
    p->depth--;
}

/* A top-level expression, labelled with its text as written (MySQL's column name). */
static void parse_expr(parser *p, nn_sql_expr *e) {
    size_t start = p->tok.start;
    parse_or(p, e);
    if (p->bad) {
        return;
    }
    if (e->kind == NN_EXPR_STRING) {
        e->label = strdup(e->text); /* a string's column is named by its value */
    } else {
        size_t end = p->tok.start;
        while (end > start && isspace((unsigned char)p->src[end - 1])) {
            end--;
        }
        e->label = dup_range(p->src + start, end - start);
    }
    if (e->label == NULL) {
        p->oom = p->bad = true;
        return;
    }
    /* MySQL cuts a column name made from the text at 256 characters; we cut at 256 bytes,
     * never inside a UTF-8 sequence (a 16 MiB literal must not name its column too). */
    size_t n = strlen(e->label);
    if (n > NN_SQL_MAX_LABEL) {
        n = NN_SQL_MAX_LABEL;
        while (n > 0 && ((unsigned char)e->label[n] & 0xc0) == 0x80) {
            n--;
        }
        e->label[n] = '\0';
    }
}

/* ----------------------------------------------------------------- SELECT */

static void parse_where(parser *p, nn_sql_stmt *st) {
    st->where = calloc(1, sizeof(*st->where));
    if (st->where == NULL) {
        p->oom = p->bad = true;
        return;
    }
    parse_or(p, st->where);
}

static void parse_select(parser *p, nn_sql_stmt *st) {
    st->kind = NN_SQL_SELECT;
    accept_word(p, "ALL");
    accept_word(p, "DISTINCT"); /* one row: nothing to make distinct */
    do {
        if (st->item_count == NN_SQL_MAX_ITEMS) {
            fail(p, p->tok.start, "too many select items");
            return;
        }
        nn_sql_expr *e = &st->items[st->item_count++];
        if (is_punct(p, '*')) {
            fail(p, p->tok.start, "'*' needs a table");
            return;
        }
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
        } else if (p->tok.kind == TOK_QUOTED || p->tok.kind == TOK_STRING ||
                   (p->tok.kind == TOK_WORD && !is_clause_word(p))) {
            free(e->label);
            e->label = take(p);
        }
    } while (accept_punct(p, ','));
    if (accept_word(p, "FROM")) {
        if (is_word(p, "DUAL")) {
            next(p);
        } else if (p->tok.kind == TOK_WORD || p->tok.kind == TOK_QUOTED) {
            nn_sql_expr name = {0};
            parse_primary(p, &name);
            if (!p->bad && name.kind != NN_EXPR_IDENT) {
                fail(p, p->tok.start, "expected a table name");
            }
            st->from = name.text;
            name.text = NULL;
            expr_clear(&name);
            if (p->bad) {
                return;
            }
        } else {
            fail(p, p->tok.start, "expected a table name");
            return;
        }
    }
    if (accept_word(p, "WHERE")) {
        parse_where(p, st);
    }
    st->limit = -1;
    if (!p->bad && accept_word(p, "LIMIT")) {
        if (p->tok.kind != TOK_NUMBER) {
            fail(p, p->tok.start, "expected a number after LIMIT");
            return;
        }
        st->limit = strtoll(p->tok.value, NULL, 10);
        next(p);
        if (accept_punct(p, ',') || accept_word(p, "OFFSET")) {
            /* LIMIT offset, count / LIMIT count OFFSET offset: one row at most */
            if (p->tok.kind != TOK_NUMBER) {
                fail(p, p->tok.start, "expected a number");
                return;
            }
            next(p);
        }
    }
    if (!p->bad) {
        expect_end(p);
    }
}

/* -------------------------------------------------------------------- SET */

/* SET [SESSION|GLOBAL] TRANSACTION ISOLATION LEVEL ... | READ ONLY | READ WRITE, as the
 * variables transaction_isolation and transaction_read_only. Without a scope it is about the
 * next transaction only: accepted, nothing kept (the admin handler has no transactions). */
static void parse_set_transaction(parser *p, nn_sql_stmt *st, nn_sql_scope scope) {
    st->assign_count = 0;
    do {
        const char *name = NULL;
        const char *value = NULL;
        if (accept_word(p, "ISOLATION")) {
            if (!expect_word(p, "LEVEL")) {
                return;
            }
            name = "transaction_isolation";
            if (accept_word(p, "READ")) {
                value = accept_word(p, "COMMITTED")     ? "READ-COMMITTED"
                        : accept_word(p, "UNCOMMITTED") ? "READ-UNCOMMITTED"
                                                        : NULL;
            } else if (accept_word(p, "REPEATABLE")) {
                value = expect_word(p, "READ") ? "REPEATABLE-READ" : NULL;
            } else if (accept_word(p, "SERIALIZABLE")) {
                value = "SERIALIZABLE";
            }
        } else if (accept_word(p, "READ")) {
            name = "transaction_read_only";
            value = accept_word(p, "ONLY") ? "1" : accept_word(p, "WRITE") ? "0" : NULL;
        }
        if (value == NULL) {
            fail(p, p->tok.start, "expected a transaction characteristic");
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
    } while (st->assign_count < 2 && accept_punct(p, ','));
    expect_end(p);
}

/* A charset or collation name: a word, 'string', `name` or DEFAULT. */
static char *take_name(parser *p, const char *what) {
    if (p->tok.kind != TOK_WORD && p->tok.kind != TOK_STRING && p->tok.kind != TOK_QUOTED) {
        fail(p, p->tok.start, what);
        return NULL;
    }
    char *v = take(p);
    if (v == NULL) {
        p->oom = p->bad = true;
    } else {
        lower(v);
    }
    return v;
}

static void parse_set(parser *p, nn_sql_stmt *st) {
    st->kind = NN_SQL_SET;
    do {
        if (st->assign_count == NN_SQL_MAX_ITEMS) {
            fail(p, p->tok.start, "too many assignments");
            return;
        }
        nn_sql_assign *a = &st->assigns[st->assign_count++];
        a->scope = NN_SCOPE_DEFAULT;
        if (accept_word(p, "SESSION") || accept_word(p, "LOCAL")) {
            a->scope = NN_SCOPE_SESSION;
        } else if (accept_word(p, "GLOBAL") || accept_word(p, "PERSIST") ||
                   accept_word(p, "PERSIST_ONLY")) {
            a->scope = NN_SCOPE_GLOBAL;
        }
        if (st->assign_count == 1 && accept_word(p, "TRANSACTION")) {
            parse_set_transaction(p, st, a->scope);
            return;
        }
        if (a->scope == NN_SCOPE_DEFAULT &&
            (is_word(p, "NAMES") || is_word(p, "CHARACTER") || is_word(p, "CHARSET"))) {
            bool names = is_word(p, "NAMES");
            next(p);
            if (!names && is_word(p, "SET")) {
                next(p);
            }
            a->name = strdup(names ? "names" : "character set");
            if (a->name == NULL) {
                p->oom = p->bad = true;
                return;
            }
            a->value.kind = NN_EXPR_IDENT;
            a->value.text = take_name(p, "expected a character set name");
            if (!p->bad && names && accept_word(p, "COLLATE")) {
                a->collation = take_name(p, "expected a collation name");
            }
            if (p->bad) {
                return;
            }
            continue;
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
                p->pos = p->tok.end + 1;
                next(p);
            } else {
                fail(p, p->tok.start, "expected '='");
                return;
            }
        }
        parse_or(p, &a->value);
        if (p->bad) {
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
    } else if (accept_word(p, "COLLATION")) {
        st->kind = NN_SQL_SHOW_COLLATION;
    } else if (accept_word(p, "CHARSET") ||
               (is_word(p, "CHARACTER") && (next(p), expect_word(p, "SET")))) {
        st->kind = NN_SQL_SHOW_CHARSET;
    } else if (p->bad) {
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
    } else if (p->tok.kind == TOK_WORD) {
        /* SHOW ENGINES, SHOW PROCESSLIST ...: well-formed MySQL, not answered here */
        st->kind = NN_SQL_UNSUPPORTED;
        size_t at = p->tok.start;
        while (p->tok.kind == TOK_WORD && !is_word(p, "LIKE") && !is_word(p, "WHERE") &&
               !is_word(p, "FROM") && !is_word(p, "IN")) {
            next(p);
        }
        size_t end = p->tok.kind == TOK_END ? p->len : p->tok.start;
        while (end > at && isspace((unsigned char)p->src[end - 1])) {
            end--;
        }
        char *what = dup_range(p->src + at, end - at);
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
        fail(p, p->tok.start, "unsupported SHOW statement");
        return;
    }
    if (accept_word(p, "LIKE")) {
        if (p->tok.kind != TOK_STRING) {
            fail(p, p->tok.start, "expected a quoted pattern after LIKE");
            return;
        }
        st->like = take(p);
    } else if (accept_word(p, "WHERE")) {
        parse_where(p, st);
    }
    if (!p->bad) {
        expect_end(p);
    }
}

/* ------------------------------------------------------------ statements */

/* SAVEPOINT, RELEASE SAVEPOINT, ROLLBACK TO: a name, accepted (the admin handler has no
 * transactions to keep savepoints of). */
static void parse_savepoint_name(parser *p) {
    if (p->tok.kind != TOK_WORD && p->tok.kind != TOK_QUOTED) {
        fail(p, p->tok.start, "expected a savepoint name");
        return;
    }
    next(p);
}

int nn_sql_parse(const char *sql, size_t len, nn_sql_stmt *out, size_t *err_pos, nn_err *err) {
    memset(out, 0, sizeof(*out));
    parser p = {.src = sql, .len = len, .err = err};
    next(&p);
    if (p.tok.kind == TOK_END || is_punct(&p, ';')) {
        out->kind = NN_SQL_EMPTY;
        out->limit = -1;
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
        if (accept_word(&p, "TO")) {
            /* ROLLBACK TO [SAVEPOINT] name */
            accept_word(&p, "SAVEPOINT");
            parse_savepoint_name(&p);
        } else {
            /* [AND [NO] CHAIN] [[NO] RELEASE] */
            if (accept_word(&p, "AND")) {
                accept_word(&p, "NO");
                expect_word(&p, "CHAIN");
            }
            if (!accept_word(&p, "RELEASE") && accept_word(&p, "NO")) {
                expect_word(&p, "RELEASE");
            }
        }
        expect_end(&p);
    } else if (accept_word(&p, "SAVEPOINT")) {
        out->kind = NN_SQL_TRANSACTION;
        parse_savepoint_name(&p);
        expect_end(&p);
    } else if (accept_word(&p, "RELEASE")) {
        out->kind = NN_SQL_TRANSACTION;
        if (expect_word(&p, "SAVEPOINT")) {
            parse_savepoint_name(&p);
            expect_end(&p);
        }
    } else if (accept_word(&p, "DO")) {
        /* DO e[, e]: evaluated for its effects (none here but errors), answered OK */
        out->kind = NN_SQL_DO;
        do {
            if (out->item_count == NN_SQL_MAX_ITEMS) {
                fail(&p, p.tok.start, "too many expressions");
                break;
            }
            parse_expr(&p, &out->items[out->item_count++]);
        } while (!p.bad && accept_punct(&p, ','));
        expect_end(&p);
    } else if (accept_word(&p, "START")) {
        out->kind = NN_SQL_TRANSACTION;
        if (expect_word(&p, "TRANSACTION")) {
            /* WITH CONSISTENT SNAPSHOT, READ ONLY, READ WRITE: nothing to keep */
            while (p.tok.kind == TOK_WORD || is_punct(&p, ',')) {
                next(&p);
            }
            expect_end(&p);
        }
    } else {
        fail(&p, p.tok.start, "unsupported statement");
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
        expr_clear(&st->items[i]);
    }
    for (size_t i = 0; i < st->assign_count; i++) {
        free(st->assigns[i].name);
        expr_clear(&st->assigns[i].value);
        free(st->assigns[i].collation);
    }
    if (st->where != NULL) {
        expr_clear(st->where);
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
