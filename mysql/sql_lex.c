/* mysql/sql_lex.c: the SQL subset's tokenizer: words, `names`, 'strings' with MySQL's
 * escapes, numbers, @@system and @user variables, punctuation; comments skipped. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/sql_internal.h"

char *nn_sql_dup_range(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void skip_space(nn_sql_parser *p) {
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

void nn_sql_fail(nn_sql_parser *p, size_t at, const char *why) {
    if (!p->bad) {
        p->bad = true;
        p->err_pos = at;
        nn_err_set(p->err, EINVAL, "%s", why);
    }
}

/* Reads a quoted string starting at p->pos (the quote), MySQL's escapes included. */
static char *read_quoted(nn_sql_parser *p, char quote, size_t *end) {
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
    nn_sql_fail(p, p->pos, "unterminated quoted string");
    return NULL;
}

void nn_sql_next(nn_sql_parser *p) {
    free(p->tok.value);
    memset(&p->tok, 0, sizeof(p->tok));
    if (p->bad) {
        p->tok.kind = NN_SQL_TOK_END;
        p->tok.start = p->tok.end = p->len;
        return;
    }
    skip_space(p);
    p->tok.start = p->pos;
    if (p->pos >= p->len) {
        p->tok.kind = NN_SQL_TOK_END;
        p->tok.end = p->len;
        return;
    }
    char c = p->src[p->pos];
    size_t end = p->pos + 1;
    if (c == '\'' || c == '"' || c == '`') {
        p->tok.value = read_quoted(p, c, &end);
        if (p->tok.value == NULL) {
            p->tok.kind = NN_SQL_TOK_END;
            return;
        }
        p->tok.kind = c == '`' ? NN_SQL_TOK_QUOTED : NN_SQL_TOK_STRING;
    } else if (c == '@') {
        bool sys = p->pos + 1 < p->len && p->src[p->pos + 1] == '@';
        size_t name = p->pos + (sys ? 2 : 1);
        end = name;
        while (end < p->len && (word_char(p->src[end]) || (sys && p->src[end] == '.'))) {
            end++;
        }
        if (end == name) {
            p->tok.kind = NN_SQL_TOK_PUNCT; /* 'u'@'h': the '@' of an account */
            p->tok.punct = '@';
            end = p->pos + 1;
        } else {
            p->tok.kind = sys ? NN_SQL_TOK_SYSVAR : NN_SQL_TOK_USERVAR;
            p->tok.value = nn_sql_dup_range(p->src + name, end - name);
        }
    } else if (isdigit((unsigned char)c) ||
               (c == '.' && p->pos + 1 < p->len && isdigit((unsigned char)p->src[p->pos + 1]))) {
        while (end < p->len && (isalnum((unsigned char)p->src[end]) || p->src[end] == '.')) {
            end++;
        }
        p->tok.kind = NN_SQL_TOK_NUMBER;
        p->tok.value = nn_sql_dup_range(p->src + p->pos, end - p->pos);
    } else if (word_char(c)) {
        while (end < p->len && word_char(p->src[end])) {
            end++;
        }
        p->tok.kind = NN_SQL_TOK_WORD;
        p->tok.value = nn_sql_dup_range(p->src + p->pos, end - p->pos);
    } else {
        p->tok.kind = NN_SQL_TOK_PUNCT;
        p->tok.punct = c;
    }
    if (p->tok.kind != NN_SQL_TOK_PUNCT && p->tok.value == NULL) {
        p->oom = true;
        p->bad = true;
    }
    p->tok.end = end;
    p->pos = end;
}

bool nn_sql_is_word(const nn_sql_parser *p, const char *kw) {
    return p->tok.kind == NN_SQL_TOK_WORD && strcasecmp(p->tok.value, kw) == 0;
}

bool nn_sql_accept_word(nn_sql_parser *p, const char *kw) {
    if (nn_sql_is_word(p, kw)) {
        nn_sql_next(p);
        return true;
    }
    return false;
}

bool nn_sql_expect_word(nn_sql_parser *p, const char *kw) {
    if (nn_sql_accept_word(p, kw)) {
        return true;
    }
    nn_sql_fail(p, p->tok.start, "unexpected token");
    return false;
}

bool nn_sql_is_punct(const nn_sql_parser *p, char c) {
    return p->tok.kind == NN_SQL_TOK_PUNCT && p->tok.punct == c;
}

bool nn_sql_accept_punct(nn_sql_parser *p, char c) {
    if (nn_sql_is_punct(p, c)) {
        nn_sql_next(p);
        return true;
    }
    return false;
}

/* The statement must end here (an optional ';'). */
void nn_sql_expect_end(nn_sql_parser *p) {
    nn_sql_accept_punct(p, ';');
    if (p->tok.kind != NN_SQL_TOK_END) {
        nn_sql_fail(p, p->tok.start, "unexpected text after the statement");
    }
}

/* Takes the current token's value (caller owns it) and advances. */
char *nn_sql_take(nn_sql_parser *p) {
    char *v = p->tok.value;
    p->tok.value = NULL;
    nn_sql_next(p);
    return v;
}

void nn_sql_lower(char *s) {
    for (; *s; s++) {
        *s = (char)tolower((unsigned char)*s);
    }
}
