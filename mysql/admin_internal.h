/* mysql/admin_internal.h: what the administrative handler's files share (admin.c answers
 * statements; admin_vars.c holds the system variables, character sets and collations;
 * admin_eval.c evaluates expressions with MySQL's types). Private to mysql/. */
#ifndef NODENET_MYSQL_ADMIN_INTERNAL_H
#define NODENET_MYSQL_ADMIN_INTERNAL_H

#include "mysql/mysql_internal.h"

/* ------------------------------------------------------------ variables */

typedef struct nn_mysql_var_ctx {
    nn_mysql_session *ses;
    const nn_mysql_settings *settings;
    char buf[128];
} nn_mysql_var_ctx;

/* How a variable's value reads: SELECT @@x gives a number for INT and BOOL (BOOL shows as
 * ON/OFF in SHOW VARIABLES); CHARSET and COLLATION values are checked against the tables
 * below when SET. */
typedef enum nn_mysql_var_kind {
    NN_MYSQL_VAR_STR,
    NN_MYSQL_VAR_INT,
    NN_MYSQL_VAR_BOOL,
    NN_MYSQL_VAR_CHARSET,
    NN_MYSQL_VAR_COLLATION
} nn_mysql_var_kind;

typedef struct nn_mysql_sysvar {
    const char *name;
    nn_mysql_var_kind kind;
    const char *value; /* static value, or NULL: computed by nn_mysql_sysvar_value() */
} nn_mysql_sysvar;

typedef struct nn_mysql_charset {
    const char *name;
    const char *description;
    const char *default_collation;
    int maxlen;
} nn_mysql_charset;

typedef struct nn_mysql_collation {
    const char *name;
    const char *charset;
    int id;
    int sortlen;
    bool no_pad;
} nn_mysql_collation;

#define NN_MYSQL_SYSVAR_COUNT 57
#define NN_MYSQL_CHARSET_COUNT 41
#define NN_MYSQL_COLLATION_COUNT 54

/* Sorted by name (SHOW VARIABLES lists them in this order). */
extern const nn_mysql_sysvar nn_mysql_sysvars[NN_MYSQL_SYSVAR_COUNT];
/* MySQL 8.0's character sets (every one) and the collations drivers name, in id order. */
extern const nn_mysql_charset nn_mysql_charsets[NN_MYSQL_CHARSET_COUNT];
extern const nn_mysql_collation nn_mysql_collations[NN_MYSQL_COLLATION_COUNT];

/* The variable called name (lower case), or NULL. */
const nn_mysql_sysvar *nn_mysql_sysvar_find(const char *name);
/* Its value for ctx->ses: the session's own first unless scope is GLOBAL. The string is
 * borrowed (static, the session's, or ctx->buf). */
const char *nn_mysql_sysvar_value(nn_mysql_var_ctx *ctx, const nn_mysql_sysvar *v,
                                  nn_sql_scope scope);
/* Whether value stands for NULL (a character set variable keeps NULL as ""). */
bool nn_mysql_sysvar_is_null(const nn_mysql_sysvar *v, const char *value);
/* By name, case-insensitive; "utf8" is utf8mb3, as in MySQL 8 (and utf8_* is utf8mb3_*). */
const nn_mysql_charset *nn_mysql_charset_find(const char *name);
const nn_mysql_collation *nn_mysql_collation_find(const char *name);

/* ---------------------------------------------------------- expressions */

/* A value while evaluating: MySQL's result types for literals and arithmetic (integers are
 * BIGINT, a literal with a point and '/' are DECIMAL, an exponent or a string operand makes
 * DOUBLE), kept exact where MySQL is exact. */
typedef enum nn_sql_val_kind {
    NN_SQL_VAL_NULL,
    NN_SQL_VAL_INT,
    NN_SQL_VAL_UINT,
    NN_SQL_VAL_DOUBLE,
    NN_SQL_VAL_DECIMAL,
    NN_SQL_VAL_STRING
} nn_sql_val_kind;

#define NN_SQL_DECIMAL_MAX_SCALE 30

typedef struct nn_sql_val {
    nn_sql_val_kind kind;
    nn_mysql_type type; /* the column type it shows as */
    int64_t i;
    uint64_t u;
    double d;
    __int128 dec; /* NN_SQL_VAL_DECIMAL: dec / 10^scale */
    int scale;
    const char *s; /* NN_SQL_VAL_STRING: s[0, len), NUL-terminated; owned when s == owned */
    size_t len;
    char *owned;
} nn_sql_val;

typedef struct nn_sql_eval_ctx {
    nn_mysql_session *ses;
    const nn_sql_param *params;
    size_t param_count;
    /* SHOW ... WHERE: the row's columns by name */
    const char *const *row_names;
    const char *const *row_values;
    size_t row_width;
    bool set_context; /* SET x = word: a bare word is its name as a string */
    /* the error, once failed */
    bool failed;
    uint16_t code;
    const char *sqlstate;
    char message[256];
} nn_sql_eval_ctx;

/* MySQL error codes the admin handler answers with (besides mysql_internal.h's). */
#define NN_ER_UNKNOWN_ERROR 1105
#define NN_ER_BAD_FIELD 1054
#define NN_ER_DATA_OUT_OF_RANGE 1690
#define NN_ER_WRONG_PARAMCOUNT 1582
#define NN_ER_WRONG_VALUE_FOR_VAR 1231
#define NN_ER_WRONG_TYPE_FOR_VAR 1232
#define NN_ER_UNKNOWN_CHARACTER_SET 1115
#define NN_ER_UNKNOWN_COLLATION 1273
#define NN_ER_COLLATION_CHARSET_MISMATCH 1253
#define NN_ER_TOO_BIG_FOR_PACKET 1301

/* Evaluates e into out (which then owns what it points at: nn_sql_val_free()). Returns 0, or
 * -1 with c->failed and the MySQL error in c (code, sqlstate, message). */
int nn_sql_eval(nn_sql_eval_ctx *c, const nn_sql_expr *e, nn_sql_val *out);
/* Records an error in c (the first one wins); returns -1. */
int nn_sql_eval_fail(nn_sql_eval_ctx *c, uint16_t code, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void nn_sql_val_free(nn_sql_val *v);
/* The value as text: numbers formatted into buf, strings borrowed; *out NULL for NULL. */
void nn_sql_val_text(const nn_sql_val *v, char *buf, size_t cap, const char **out, size_t *len);
/* The same, NUL-terminated (NULL for SQL NULL). */
const char *nn_sql_val_cstr(const nn_sql_val *v, char *buf, size_t cap, size_t *len);
/* -1 for NULL, else 0 or 1 (MySQL's truth of a number, or of a string as a number). */
int nn_sql_val_truth(const nn_sql_val *v);

#endif
