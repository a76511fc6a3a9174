/* mysql/sql_internal.h: the SQL subset's tokenizer and the parts of its parser that its
 * files share (sql_lex.c: tokens; sql_expr.c: expressions; sql.c: statements). Private to
 * the parser. */
#ifndef NODENET_MYSQL_SQL_INTERNAL_H
#define NODENET_MYSQL_SQL_INTERNAL_H

#include "mysql/mysql_internal.h"

typedef enum nn_sql_tok_kind {
    NN_SQL_TOK_END,
    NN_SQL_TOK_WORD,   /* identifier or keyword */
    NN_SQL_TOK_QUOTED, /* `identifier` */
    NN_SQL_TOK_STRING, /* '...' or "..." */
    NN_SQL_TOK_NUMBER,
    NN_SQL_TOK_SYSVAR,  /* @@name (value = name, may hold "session.x") */
    NN_SQL_TOK_USERVAR, /* @name */
    NN_SQL_TOK_PUNCT,   /* one character */
} nn_sql_tok_kind;

typedef struct nn_sql_token {
    nn_sql_tok_kind kind;
    size_t start; /* byte offsets into the statement */
    size_t end;
    char *value; /* owned: unescaped text (not for NN_SQL_TOK_PUNCT) */
    char punct;
} nn_sql_token;

typedef struct nn_sql_parser {
    const char *src;
    size_t len;
    size_t pos;       /* where the next token starts scanning */
    nn_sql_token tok; /* the current token */
    bool bad;
    size_t err_pos;
    nn_err *err;
    bool oom;
    int depth;            /* of the expression being parsed */
    uint32_t param_count; /* '?' seen so far */
    size_t first_param_at;
} nn_sql_parser;

/* A malloc'd copy of s[0, n) with a NUL, or NULL. */
char *nn_sql_dup_range(const char *s, size_t n);
/* Marks the parse failed at byte at (the first failure wins), err says why. */
void nn_sql_fail(nn_sql_parser *p, size_t at, const char *why);
/* Moves to the next token (TOK_END once failed or at the end). */
void nn_sql_next(nn_sql_parser *p);
bool nn_sql_is_word(const nn_sql_parser *p, const char *kw);
bool nn_sql_accept_word(nn_sql_parser *p, const char *kw);
bool nn_sql_expect_word(nn_sql_parser *p, const char *kw);
bool nn_sql_is_punct(const nn_sql_parser *p, char c);
bool nn_sql_accept_punct(nn_sql_parser *p, char c);
/* The statement must end here (an optional ';'). */
void nn_sql_expect_end(nn_sql_parser *p);
/* Takes the current token's value (the caller owns it) and advances. */
char *nn_sql_take(nn_sql_parser *p);
void nn_sql_lower(char *s);

/* "session.x", "local.x", "global.x": strips the prefix and says which scope it named. */
nn_sql_scope nn_sql_scope_prefix(char **name);
void nn_sql_expr_clear(nn_sql_expr *e);
/* An expression at the lowest precedence (OR), into e. */
void nn_sql_parse_or(nn_sql_parser *p, nn_sql_expr *e);
/* A select item's expression, labelled with its text as written (MySQL's column name). */
void nn_sql_parse_expr(nn_sql_parser *p, nn_sql_expr *e);
/* A literal, variable, call, parenthesized expression or name. */
void nn_sql_parse_primary(nn_sql_parser *p, nn_sql_expr *e);
/* Whether the current word ends an item (FROM, WHERE, AND ...) rather than naming an alias. */
bool nn_sql_is_clause_word(const nn_sql_parser *p);

#endif
