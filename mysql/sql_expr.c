/* mysql/sql_expr.c: expressions of the SQL subset, by recursive descent with MySQL's
 * precedence (OR/XOR, AND, NOT, comparisons/IS/LIKE/IN, + -, * / DIV MOD, unary), calls
 * with arguments, placeholders; nesting is bounded (NN_SQL_MAX_DEPTH). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/sql_internal.h"
/* ------------------------------------------------------------ expressions */

nn_sql_scope nn_sql_scope_prefix(char **name) {
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

void nn_sql_expr_clear(nn_sql_expr *e) {
    for (size_t i = 0; i < e->arg_count; i++) {
        nn_sql_expr_clear(&e->args[i]);
    }
    free(e->args);
    free(e->text);
    free(e->label);
    memset(e, 0, sizeof(*e));
}

/* Appends a zeroed argument to e; NULL (and p->bad) when out of memory or past the bound. */
static nn_sql_expr *expr_push(nn_sql_parser *p, nn_sql_expr *e) {
    if (e->arg_count == NN_SQL_MAX_ARGS) {
        nn_sql_fail(p, p->tok.start, "too many arguments");
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
static nn_sql_expr *expr_wrap(nn_sql_parser *p, nn_sql_expr *e, nn_sql_expr_kind kind,
                              nn_sql_op op) {
    nn_sql_expr left = *e;
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->op = op;
    nn_sql_expr *a = expr_push(p, e);
    if (a == NULL) {
        nn_sql_expr_clear(&left);
        return NULL;
    }
    *a = left;
    return kind == NN_EXPR_IS_NULL ? a : expr_push(p, e);
}

/* Words that end an expression or a select item instead of naming a column or an alias. */
bool nn_sql_is_clause_word(const nn_sql_parser *p) {
    static const char *const words[] = {"FROM",    "WHERE", "LIMIT", "ORDER", "GROUP", "HAVING",
                                        "UNION",   "INTO",  "FOR",   "AND",   "OR",    "XOR",
                                        "NOT",     "IS",    "LIKE",  "IN",    "DIV",   "MOD",
                                        "COLLATE", "AS",    "LOCK",  "WINDOW"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (nn_sql_is_word(p, words[i])) {
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

void nn_sql_parse_primary(nn_sql_parser *p, nn_sql_expr *e) {
    if (p->tok.kind == NN_SQL_TOK_NUMBER) {
        e->kind = NN_EXPR_NUMBER;
        e->text = nn_sql_take(p);
    } else if (p->tok.kind == NN_SQL_TOK_STRING) {
        e->kind = NN_EXPR_STRING;
        e->text = nn_sql_take(p);
        /* 'a' 'b' is one string, as in MySQL */
        while (e->text != NULL && p->tok.kind == NN_SQL_TOK_STRING) {
            char *more = nn_sql_take(p);
            char *joined = more ? malloc(strlen(e->text) + strlen(more) + 1) : NULL;
            if (joined != NULL) {
                strcpy(joined, e->text);
                strcat(joined, more);
            }
            free(more);
            free(e->text);
            e->text = joined;
        }
    } else if (nn_sql_is_word(p, "NULL")) {
        e->kind = NN_EXPR_NULL;
        nn_sql_next(p);
        return;
    } else if (nn_sql_is_word(p, "TRUE") || nn_sql_is_word(p, "FALSE")) {
        e->kind = NN_EXPR_NUMBER;
        e->text = strdup(nn_sql_is_word(p, "TRUE") ? "1" : "0");
        nn_sql_next(p);
    } else if (p->tok.kind == NN_SQL_TOK_SYSVAR) {
        e->kind = NN_EXPR_SYSVAR;
        e->text = nn_sql_take(p);
        if (e->text != NULL) {
            e->scope = nn_sql_scope_prefix(&e->text);
            nn_sql_lower(e->text);
        }
    } else if (p->tok.kind == NN_SQL_TOK_USERVAR) {
        e->kind = NN_EXPR_USERVAR;
        e->text = nn_sql_take(p);
        if (e->text != NULL) {
            nn_sql_lower(e->text);
        }
    } else if (nn_sql_is_punct(p, '?')) {
        e->kind = NN_EXPR_PARAM;
        if (p->param_count == 0) {
            p->first_param_at = p->tok.start;
        }
        e->param = p->param_count++;
        nn_sql_next(p);
        return;
    } else if (nn_sql_accept_punct(p, '(')) {
        nn_sql_parse_or(p, e);
        if (!p->bad && !nn_sql_accept_punct(p, ')')) {
            nn_sql_fail(p, p->tok.start, "expected ')'");
        }
        return;
    } else if (p->tok.kind == NN_SQL_TOK_WORD || p->tok.kind == NN_SQL_TOK_QUOTED) {
        bool quoted = p->tok.kind == NN_SQL_TOK_QUOTED;
        e->kind = NN_EXPR_IDENT;
        e->text = nn_sql_take(p);
        if (e->text == NULL) {
            p->oom = p->bad = true;
            return;
        }
        if (!quoted && nn_sql_accept_punct(p, '(')) {
            e->kind = NN_EXPR_FUNC;
            nn_sql_lower(e->text);
            if (!nn_sql_accept_punct(p, ')')) {
                do {
                    nn_sql_expr *a = expr_push(p, e);
                    if (a == NULL) {
                        return;
                    }
                    nn_sql_parse_or(p, a);
                } while (!p->bad && nn_sql_accept_punct(p, ','));
                if (!p->bad && !nn_sql_accept_punct(p, ')')) {
                    nn_sql_fail(p, p->tok.start, "expected ')' after the arguments");
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
            nn_sql_lower(name);
            if (bare_function(name)) {
                e->kind = NN_EXPR_FUNC;
                free(e->text);
                e->text = name;
                return;
            }
            free(name);
        }
        /* schema.table.column: kept as written */
        while (nn_sql_is_punct(p, '.') && !p->bad) {
            nn_sql_next(p);
            if (p->tok.kind != NN_SQL_TOK_WORD && p->tok.kind != NN_SQL_TOK_QUOTED) {
                nn_sql_fail(p, p->tok.start, "expected a name after '.'");
                return;
            }
            char *part = nn_sql_take(p);
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
        nn_sql_fail(p, p->tok.start, "expected an expression");
        return;
    }
    if (e->text == NULL && !p->bad) {
        p->oom = p->bad = true;
    }
}

static void parse_unary(nn_sql_parser *p, nn_sql_expr *e) {
    if (++p->depth > NN_SQL_MAX_DEPTH) {
        nn_sql_fail(p, p->tok.start, "expression nested too deeply");
        return;
    }
    if (nn_sql_is_punct(p, '-') || nn_sql_is_punct(p, '+') || nn_sql_is_punct(p, '!') ||
        nn_sql_is_punct(p, '~')) {
        char op = p->tok.punct;
        size_t at = p->tok.end;
        nn_sql_next(p);
        if (op == '-' && p->tok.kind == NN_SQL_TOK_NUMBER && p->tok.start == at) {
            /* -2.5 is one literal (its column is named "-2.5") */
            char *num = nn_sql_take(p);
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
        nn_sql_parse_primary(p, e);
    }
    p->depth--;
}

static void parse_mul(nn_sql_parser *p, nn_sql_expr *e) {
    parse_unary(p, e);
    while (!p->bad) {
        nn_sql_op op = NN_OP_NONE;
        if (nn_sql_is_punct(p, '*')) {
            op = NN_OP_MUL;
        } else if (nn_sql_is_punct(p, '/')) {
            op = NN_OP_DIV;
        } else if (nn_sql_is_punct(p, '%') || nn_sql_is_word(p, "MOD")) {
            op = NN_OP_MOD;
        } else if (nn_sql_is_word(p, "DIV")) {
            op = NN_OP_INTDIV;
        } else {
            return;
        }
        nn_sql_next(p);
        nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_BINARY, op);
        if (r == NULL) {
            return;
        }
        parse_unary(p, r);
    }
}

static void parse_add(nn_sql_parser *p, nn_sql_expr *e) {
    parse_mul(p, e);
    while (!p->bad && (nn_sql_is_punct(p, '+') || nn_sql_is_punct(p, '-'))) {
        nn_sql_op op = nn_sql_is_punct(p, '+') ? NN_OP_ADD : NN_OP_SUB;
        nn_sql_next(p);
        nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_BINARY, op);
        if (r == NULL) {
            return;
        }
        parse_mul(p, r);
    }
}

/* A comparison operator at the current token (one or two punctuation tokens), or NONE. */
static nn_sql_op comparison(nn_sql_parser *p) {
    if (p->tok.kind != NN_SQL_TOK_PUNCT) {
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
    nn_sql_next(p);
    return op;
}

static void parse_cmp(nn_sql_parser *p, nn_sql_expr *e) {
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
        if (nn_sql_accept_word(p, "IS")) {
            bool negated = nn_sql_accept_word(p, "NOT");
            if (!nn_sql_expect_word(p, "NULL")) {
                return;
            }
            if (expr_wrap(p, e, NN_EXPR_IS_NULL, NN_OP_NONE) == NULL) {
                return;
            }
            e->negated = negated;
            continue;
        }
        bool negated = false;
        if (nn_sql_is_word(p, "NOT")) {
            /* a NOT here belongs to LIKE or IN; anything else ends the comparison */
            size_t save_pos = p->pos;
            nn_sql_token save = p->tok;
            p->tok.value = NULL;
            nn_sql_next(p);
            if (!nn_sql_is_word(p, "LIKE") && !nn_sql_is_word(p, "IN")) {
                free(p->tok.value);
                p->tok = save;
                p->pos = save_pos;
                return;
            }
            free(save.value);
            negated = true;
        }
        if (nn_sql_accept_word(p, "LIKE")) {
            nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_BINARY, NN_OP_LIKE);
            if (r == NULL) {
                return;
            }
            e->negated = negated;
            parse_add(p, r);
        } else if (nn_sql_accept_word(p, "IN")) {
            if (!nn_sql_accept_punct(p, '(')) {
                nn_sql_fail(p, p->tok.start, "expected '(' after IN");
                return;
            }
            nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_IN, NN_OP_NONE);
            if (r == NULL) {
                return;
            }
            e->negated = negated;
            nn_sql_parse_or(p, r);
            while (!p->bad && nn_sql_accept_punct(p, ',')) {
                r = expr_push(p, e);
                if (r == NULL) {
                    return;
                }
                nn_sql_parse_or(p, r);
            }
            if (!p->bad && !nn_sql_accept_punct(p, ')')) {
                nn_sql_fail(p, p->tok.start, "expected ')' after the IN list");
            }
        } else {
            return;
        }
    }
}

static void parse_not(nn_sql_parser *p, nn_sql_expr *e) {
    if (nn_sql_is_word(p, "NOT")) {
        if (++p->depth > NN_SQL_MAX_DEPTH) {
            nn_sql_fail(p, p->tok.start, "expression nested too deeply");
            return;
        }
        nn_sql_next(p);
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

static bool is_double_punct(const nn_sql_parser *p, char c) {
    return nn_sql_is_punct(p, c) && p->tok.end < p->len && p->src[p->tok.end] == c;
}

static void parse_and(nn_sql_parser *p, nn_sql_expr *e) {
    parse_not(p, e);
    while (!p->bad && (nn_sql_is_word(p, "AND") || is_double_punct(p, '&'))) {
        if (nn_sql_is_word(p, "AND")) {
            nn_sql_next(p);
        } else {
            p->pos = p->tok.end + 1;
            nn_sql_next(p);
        }
        nn_sql_expr *r = expr_wrap(p, e, NN_EXPR_BINARY, NN_OP_AND);
        if (r == NULL) {
            return;
        }
        parse_not(p, r);
    }
}

void nn_sql_parse_or(nn_sql_parser *p, nn_sql_expr *e) {
    if (++p->depth > NN_SQL_MAX_DEPTH) {
        nn_sql_fail(p, p->tok.start, "expression nested too deeply");
        return;
    }
    parse_and(p, e);
    while (!p->bad &&
           (nn_sql_is_word(p, "OR") || nn_sql_is_word(p, "XOR") || is_double_punct(p, '|'))) {
        nn_sql_op op = nn_sql_is_word(p, "XOR") ? NN_OP_XOR : NN_OP_OR;
        if (p->tok.kind == NN_SQL_TOK_WORD) {
            nn_sql_next(p);
        } else {
            p->pos = p->tok.end + 1; /* || is OR (sql_mode without PIPES_AS_CONCAT) */
            nn_sql_next(p);
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
void nn_sql_parse_expr(nn_sql_parser *p, nn_sql_expr *e) {
    size_t start = p->tok.start;
    nn_sql_parse_or(p, e);
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
        e->label = nn_sql_dup_range(p->src + start, end - start);
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
