/* mysql/admin_eval.c: expressions of the SQL subset, evaluated with MySQL's types and
 * rules: BIGINT arithmetic with overflow errors, exact DECIMAL (to 38 digits, then DOUBLE),
 * DOUBLE for exponents and strings, three-valued logic, _ci comparisons, the session's
 * variables and functions, and the parameters of a prepared statement. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mysql/admin_internal.h"

/* ---------------------------------------------------------- expressions */

int nn_sql_eval_fail(nn_sql_eval_ctx *c, uint16_t code, const char *sqlstate, const char *fmt,
                     ...) {
    if (!c->failed) {
        c->failed = true;
        c->code = code;
        c->sqlstate = sqlstate;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->message, sizeof(c->message), fmt, ap);
        va_end(ap);
    }
    return -1;
}

void nn_sql_val_free(nn_sql_val *v) {
    free(v->owned);
    v->owned = NULL;
}

static void val_null(nn_sql_val *v, nn_mysql_type type) {
    memset(v, 0, sizeof(*v));
    v->kind = NN_SQL_VAL_NULL;
    v->type = type;
}

static void val_int(nn_sql_val *v, int64_t i) {
    memset(v, 0, sizeof(*v));
    v->kind = NN_SQL_VAL_INT;
    v->type = NN_MYSQL_TYPE_LONGLONG;
    v->i = i;
}

static void val_double(nn_sql_val *v, double d) {
    memset(v, 0, sizeof(*v));
    v->kind = NN_SQL_VAL_DOUBLE;
    v->type = NN_MYSQL_TYPE_DOUBLE;
    v->d = d;
}

/* Borrows s (NUL-terminated, alive for the statement). */
static void val_string(nn_sql_val *v, const char *s, size_t len) {
    memset(v, 0, sizeof(*v));
    v->kind = NN_SQL_VAL_STRING;
    v->type = NN_MYSQL_TYPE_VAR_STRING;
    v->s = s;
    v->len = len;
}

/* Takes a copy of s[0, len). */
static int val_string_copy(nn_sql_eval_ctx *c, nn_sql_val *v, const char *s, size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return nn_sql_eval_fail(c, NN_ER_UNKNOWN_ERROR, "HY000", "out of memory");
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    val_string(v, copy, len);
    v->owned = copy;
    return 0;
}

static __int128 pow10_128(int n) {
    __int128 r = 1;
    n = n > 38 ? 38 : n; /* callers stay below; 10^38 still fits */
    while (n-- > 0) {
        r *= 10;
    }
    return r;
}

/* 10^38: past it a decimal does not fit (MySQL's DECIMAL has 65 digits; ours 38, then DOUBLE). */
static bool dec_fits(__int128 v) {
    __int128 limit = pow10_128(38);
    return v < limit && v > -limit;
}

static void val_decimal(nn_sql_val *v, __int128 dec, int scale) {
    memset(v, 0, sizeof(*v));
    v->kind = NN_SQL_VAL_DECIMAL;
    v->type = NN_MYSQL_TYPE_NEWDECIMAL;
    v->dec = dec;
    v->scale = scale;
}

/* A numeric literal as MySQL types it. */
static void val_number(nn_sql_val *v, const char *text) {
    bool negative = text[0] == '-';
    const char *digits = negative ? text + 1 : text;
    if (strpbrk(digits, "eE") != NULL) {
        val_double(v, strtod(text, NULL));
        return;
    }
    __int128 dec = 0;
    int scale = 0;
    bool point = false;
    for (const char *p = digits; *p; p++) {
        if (*p == '.') {
            point = true;
            continue;
        }
        if (*p < '0' || *p > '9' || dec >= pow10_128(37)) {
            val_double(v, strtod(text, NULL)); /* hex, or too many digits */
            return;
        }
        dec = dec * 10 + (*p - '0');
        scale += point;
    }
    if (negative) {
        dec = -dec;
    }
    if (point || dec > (__int128)UINT64_MAX || dec < (__int128)INT64_MIN) {
        val_decimal(v, dec, scale);
    } else if (dec > INT64_MAX) {
        memset(v, 0, sizeof(*v));
        v->kind = NN_SQL_VAL_UINT;
        v->type = NN_MYSQL_TYPE_LONGLONG;
        v->u = (uint64_t)dec;
    } else {
        val_int(v, (int64_t)dec);
    }
}

static double val_to_double(const nn_sql_val *v) {
    switch (v->kind) {
    case NN_SQL_VAL_INT:
        return (double)v->i;
    case NN_SQL_VAL_UINT:
        return (double)v->u;
    case NN_SQL_VAL_DOUBLE:
        return v->d;
    case NN_SQL_VAL_DECIMAL:
        return (double)v->dec / (double)pow10_128(v->scale);
    case NN_SQL_VAL_STRING:
        return strtod(v->s, NULL); /* MySQL: the numeric prefix, 0 if none */
    case NN_SQL_VAL_NULL:
        break;
    }
    return 0;
}

/* INT, UINT or DECIMAL as a decimal. */
static void val_to_dec(const nn_sql_val *v, __int128 *dec, int *scale) {
    *scale = v->kind == NN_SQL_VAL_DECIMAL ? v->scale : 0;
    *dec = v->kind == NN_SQL_VAL_DECIMAL ? v->dec
           : v->kind == NN_SQL_VAL_UINT  ? (__int128)v->u
                                         : (__int128)v->i;
}

/* Formats v into buf (numbers) or points at its bytes. *out NULL for SQL NULL. */
void nn_sql_val_text(const nn_sql_val *v, char *buf, size_t cap, const char **out, size_t *len) {
    switch (v->kind) {
    case NN_SQL_VAL_NULL:
        *out = NULL;
        *len = 0;
        return;
    case NN_SQL_VAL_STRING:
        *out = v->s;
        *len = v->len;
        return;
    case NN_SQL_VAL_INT:
        snprintf(buf, cap, "%lld", (long long)v->i);
        break;
    case NN_SQL_VAL_UINT:
        snprintf(buf, cap, "%llu", (unsigned long long)v->u);
        break;
    case NN_SQL_VAL_DOUBLE:
        /* the shortest form that reads back the same, as MySQL prints doubles */
        for (int precision = 1; precision <= 17; precision++) {
            snprintf(buf, cap, "%.*g", precision, v->d);
            if (strtod(buf, NULL) == v->d) {
                break;
            }
        }
        break;
    case NN_SQL_VAL_DECIMAL: {
        unsigned __int128 a = v->dec < 0 ? (unsigned __int128)(-v->dec) : (unsigned __int128)v->dec;
        char digits[64];
        int n = 0;
        do {
            digits[n++] = (char)('0' + (int)(a % 10));
            a /= 10;
        } while (a != 0 || n <= v->scale);
        size_t k = 0;
        if (v->dec < 0 && k + 1 < cap) {
            buf[k++] = '-';
        }
        for (int i = n - 1; i >= 0 && k + 2 < cap; i--) {
            buf[k++] = digits[i];
            if (i == v->scale && i != 0) {
                buf[k++] = '.';
            }
        }
        buf[k] = '\0';
        break;
    }
    }
    *out = buf;
    *len = strlen(buf);
}

/* -1 for NULL, else 0 or 1. */
int nn_sql_val_truth(const nn_sql_val *v) {
    if (v->kind == NN_SQL_VAL_NULL) {
        return -1;
    }
    if (v->kind == NN_SQL_VAL_INT) {
        return v->i != 0;
    }
    if (v->kind == NN_SQL_VAL_UINT) {
        return v->u != 0;
    }
    if (v->kind == NN_SQL_VAL_DECIMAL) {
        return v->dec != 0;
    }
    return val_to_double(v) != 0;
}

int nn_sql_eval(nn_sql_eval_ctx *c, const nn_sql_expr *e, nn_sql_val *out);

/* dec (at scale from) at scale to: rounded half away from zero when to < from; *overflow
 * set (and 0 returned) when it does not fit. */
static __int128 dec_rescale_checked(__int128 dec, int from, int to, bool *overflow) {
    if (to >= from) {
        __int128 r;
        if (__builtin_mul_overflow(dec, pow10_128(to - from), &r) || !dec_fits(r)) {
            *overflow = true;
            return 0;
        }
        return r;
    }
    __int128 div = pow10_128(from - to);
    __int128 q = dec / div;
    __int128 r = dec % div;
    if (r * 2 >= div) {
        q++;
    } else if (r * 2 <= -div) {
        q--;
    }
    return q;
}

static int arith(nn_sql_eval_ctx *c, nn_sql_op op, const nn_sql_val *a, const nn_sql_val *b,
                 nn_sql_val *out) {
    if (a->kind == NN_SQL_VAL_NULL || b->kind == NN_SQL_VAL_NULL) {
        val_null(out, NN_MYSQL_TYPE_NULL);
        return 0;
    }
    bool as_double = a->kind == NN_SQL_VAL_DOUBLE || b->kind == NN_SQL_VAL_DOUBLE ||
                     a->kind == NN_SQL_VAL_STRING || b->kind == NN_SQL_VAL_STRING;
    if (as_double) {
        double x = val_to_double(a);
        double y = val_to_double(b);
        switch (op) {
        case NN_OP_ADD:
            val_double(out, x + y);
            break;
        case NN_OP_SUB:
            val_double(out, x - y);
            break;
        case NN_OP_MUL:
            val_double(out, x * y);
            break;
        case NN_OP_DIV:
            y == 0 ? val_null(out, NN_MYSQL_TYPE_DOUBLE) : val_double(out, x / y);
            break;
        case NN_OP_MOD:
            if (y == 0) {
                val_null(out, NN_MYSQL_TYPE_DOUBLE);
            } else {
                /* fmod without libm (the library links none): exact while x/y fits */
                double q = x / y;
                val_double(out, fabs(q) < 9.0e18 ? x - y * (double)(int64_t)q : 0.0);
            }
            break;
        default: /* DIV */
            if (y == 0) {
                val_null(out, NN_MYSQL_TYPE_LONGLONG);
            } else if (!(fabs(x / y) < 9.2e18)) { /* also NaN */
                return nn_sql_eval_fail(c, NN_ER_DATA_OUT_OF_RANGE, "22003",
                                        "BIGINT value is out of range");
            } else {
                val_int(out, (int64_t)(x / y));
            }
            break;
        }
        if (out->kind == NN_SQL_VAL_DOUBLE && !isfinite(out->d)) {
            return nn_sql_eval_fail(c, NN_ER_DATA_OUT_OF_RANGE, "22003",
                                    "DOUBLE value is out of range");
        }
        return 0;
    }
    if (a->kind == NN_SQL_VAL_INT && b->kind == NN_SQL_VAL_INT && op != NN_OP_DIV) {
        int64_t x = a->i;
        int64_t y = b->i;
        int64_t r = 0;
        bool overflow = false;
        switch (op) {
        case NN_OP_ADD:
            overflow = __builtin_add_overflow(x, y, &r);
            break;
        case NN_OP_SUB:
            overflow = __builtin_sub_overflow(x, y, &r);
            break;
        case NN_OP_MUL:
            overflow = __builtin_mul_overflow(x, y, &r);
            break;
        default: /* DIV, MOD: by zero is NULL */
            if (y == 0) {
                val_null(out, NN_MYSQL_TYPE_LONGLONG);
                return 0;
            }
            if (x == INT64_MIN && y == -1) {
                overflow = op == NN_OP_INTDIV;
                r = 0;
            } else {
                r = op == NN_OP_INTDIV ? x / y : x % y;
            }
            break;
        }
        if (overflow) {
            return nn_sql_eval_fail(c, NN_ER_DATA_OUT_OF_RANGE, "22003",
                                    "BIGINT value is out of range");
        }
        val_int(out, r);
        return 0;
    }
    __int128 x;
    __int128 y;
    int sx;
    int sy;
    val_to_dec(a, &x, &sx);
    val_to_dec(b, &y, &sy);
    __int128 r = 0;
    int scale = sx > sy ? sx : sy;
    bool overflow = false;
    switch (op) {
    case NN_OP_ADD:
    case NN_OP_SUB:
        x = dec_rescale_checked(x, sx, scale, &overflow);
        y = dec_rescale_checked(y, sy, scale, &overflow);
        overflow = overflow || (op == NN_OP_ADD ? __builtin_add_overflow(x, y, &r)
                                                : __builtin_sub_overflow(x, y, &r));
        break;
    case NN_OP_MUL:
        overflow = __builtin_mul_overflow(x, y, &r);
        scale = sx + sy;
        if (scale > NN_SQL_DECIMAL_MAX_SCALE) {
            r = dec_rescale_checked(r, scale, NN_SQL_DECIMAL_MAX_SCALE, &overflow);
            scale = NN_SQL_DECIMAL_MAX_SCALE;
        }
        break;
    case NN_OP_DIV:
    case NN_OP_INTDIV:
    case NN_OP_MOD:
        if (y == 0) {
            val_null(out, op == NN_OP_DIV ? NN_MYSQL_TYPE_NEWDECIMAL : NN_MYSQL_TYPE_LONGLONG);
            return 0;
        }
        if (op == NN_OP_MOD) {
            x = dec_rescale_checked(x, sx, scale, &overflow);
            y = dec_rescale_checked(y, sy, scale, &overflow);
            r = overflow || y == 0 ? 0 : x % y;
            break;
        }
        if (op == NN_OP_INTDIV) {
            x = dec_rescale_checked(x, sx, scale, &overflow);
            y = dec_rescale_checked(y, sy, scale, &overflow);
            r = overflow || y == 0 ? 0 : x / y;
            if (overflow || r > INT64_MAX || r < INT64_MIN) {
                return nn_sql_eval_fail(c, NN_ER_DATA_OUT_OF_RANGE, "22003",
                                        "BIGINT value is out of range");
            }
            val_int(out, (int64_t)r);
            return 0;
        }
        /* a / b keeps a's scale plus div_precision_increment (4) digits, rounded */
        scale = sx + 4 > NN_SQL_DECIMAL_MAX_SCALE ? NN_SQL_DECIMAL_MAX_SCALE : sx + 4;
        {
            __int128 num;
            overflow = __builtin_mul_overflow(x, pow10_128(sy + scale - sx + 1), &num);
            if (!overflow) {
                __int128 q = num / y; /* one extra digit, for the rounding */
                r = q >= 0 ? (q + 5) / 10 : (q - 5) / 10;
            }
        }
        break;
    default:
        break;
    }
    if (overflow || !dec_fits(r)) {
        val_double(out, 0); /* past 38 digits: MySQL's DECIMAL is wider; ours goes DOUBLE */
        as_double = true;
        double xd = val_to_double(a);
        double yd = val_to_double(b);
        out->d = op == NN_OP_ADD   ? xd + yd
                 : op == NN_OP_SUB ? xd - yd
                 : op == NN_OP_MUL ? xd * yd
                                   : xd / yd;
        return 0;
    }
    val_decimal(out, r, scale);
    return 0;
}

/* Case-insensitive comparison of two strings (the default nn_mysql_collations are _ci). */
static int compare_ci(const char *a, size_t alen, const char *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++) {
        int x = tolower((unsigned char)a[i]);
        int y = tolower((unsigned char)b[i]);
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    /* trailing spaces do not count (PAD SPACE) */
    const char *rest = alen > blen ? a + n : b + n;
    size_t rest_len = alen > blen ? alen - n : blen - n;
    for (size_t i = 0; i < rest_len; i++) {
        if (rest[i] != ' ') {
            return alen > blen ? 1 : -1;
        }
    }
    return 0;
}

/* -1, 0, 1; both non-NULL. */
static int compare(const nn_sql_val *a, const nn_sql_val *b) {
    if (a->kind == NN_SQL_VAL_STRING && b->kind == NN_SQL_VAL_STRING) {
        return compare_ci(a->s, a->len, b->s, b->len);
    }
    if (a->kind == NN_SQL_VAL_INT && b->kind == NN_SQL_VAL_INT) {
        return a->i < b->i ? -1 : a->i > b->i;
    }
    if (a->kind != NN_SQL_VAL_STRING && b->kind != NN_SQL_VAL_STRING &&
        a->kind != NN_SQL_VAL_DOUBLE && b->kind != NN_SQL_VAL_DOUBLE) {
        __int128 x;
        __int128 y;
        int sx;
        int sy;
        val_to_dec(a, &x, &sx);
        val_to_dec(b, &y, &sy);
        int s = sx > sy ? sx : sy;
        bool overflow = false;
        x = dec_rescale_checked(x, sx, s, &overflow);
        y = dec_rescale_checked(y, sy, s, &overflow);
        if (!overflow) {
            return x < y ? -1 : x > y;
        }
    }
    double x = val_to_double(a);
    double y = val_to_double(b);
    return x < y ? -1 : x > y;
}

/* The value as a NUL-terminated string in buf or borrowed; NULL for SQL NULL. */
const char *nn_sql_val_cstr(const nn_sql_val *v, char *buf, size_t cap, size_t *len) {
    const char *out;
    size_t n;
    nn_sql_val_text(v, buf, cap, &out, &n);
    if (len != NULL) {
        *len = n;
    }
    return out;
}

static int eval_binary(nn_sql_eval_ctx *c, const nn_sql_expr *e, nn_sql_val *out) {
    nn_sql_val a;
    nn_sql_val b;
    if (nn_sql_eval(c, &e->args[0], &a) < 0) {
        return -1;
    }
    /* AND / OR short-circuit like MySQL (FALSE AND x, TRUE OR x) */
    if (e->op == NN_OP_AND || e->op == NN_OP_OR) {
        int ta = nn_sql_val_truth(&a);
        nn_sql_val_free(&a);
        if ((e->op == NN_OP_AND && ta == 0) || (e->op == NN_OP_OR && ta == 1)) {
            val_int(out, ta);
            return 0;
        }
        if (nn_sql_eval(c, &e->args[1], &b) < 0) {
            return -1;
        }
        int tb = nn_sql_val_truth(&b);
        nn_sql_val_free(&b);
        if (e->op == NN_OP_AND) {
            tb == 0            ? val_int(out, 0)
            : ta < 0 || tb < 0 ? val_null(out, NN_MYSQL_TYPE_LONGLONG)
                               : val_int(out, 1);
        } else {
            tb == 1            ? val_int(out, 1)
            : ta < 0 || tb < 0 ? val_null(out, NN_MYSQL_TYPE_LONGLONG)
                               : val_int(out, 0);
        }
        return 0;
    }
    if (nn_sql_eval(c, &e->args[1], &b) < 0) {
        nn_sql_val_free(&a);
        return -1;
    }
    int rc = 0;
    switch (e->op) {
    case NN_OP_ADD:
    case NN_OP_SUB:
    case NN_OP_MUL:
    case NN_OP_DIV:
    case NN_OP_INTDIV:
    case NN_OP_MOD:
        rc = arith(c, e->op, &a, &b, out);
        break;
    case NN_OP_NULLSAFE_EQ:
        if (a.kind == NN_SQL_VAL_NULL || b.kind == NN_SQL_VAL_NULL) {
            val_int(out, a.kind == b.kind);
        } else {
            val_int(out, compare(&a, &b) == 0);
        }
        break;
    case NN_OP_XOR: {
        int ta = nn_sql_val_truth(&a);
        int tb = nn_sql_val_truth(&b);
        ta < 0 || tb < 0 ? val_null(out, NN_MYSQL_TYPE_LONGLONG) : val_int(out, ta != tb);
        break;
    }
    case NN_OP_LIKE: {
        char abuf[64];
        char bbuf[64];
        const char *text = nn_sql_val_cstr(&a, abuf, sizeof(abuf), NULL);
        const char *pattern = nn_sql_val_cstr(&b, bbuf, sizeof(bbuf), NULL);
        if (text == NULL || pattern == NULL) {
            val_null(out, NN_MYSQL_TYPE_LONGLONG);
        } else {
            val_int(out, nn_sql_like(pattern, text) != e->negated);
        }
        break;
    }
    default: /* comparisons */
        if (a.kind == NN_SQL_VAL_NULL || b.kind == NN_SQL_VAL_NULL) {
            val_null(out, NN_MYSQL_TYPE_LONGLONG);
            break;
        }
        int cmp = compare(&a, &b);
        bool r = e->op == NN_OP_EQ   ? cmp == 0
                 : e->op == NN_OP_NE ? cmp != 0
                 : e->op == NN_OP_LT ? cmp < 0
                 : e->op == NN_OP_LE ? cmp <= 0
                 : e->op == NN_OP_GT ? cmp > 0
                                     : cmp >= 0;
        val_int(out, r);
        break;
    }
    nn_sql_val_free(&a);
    nn_sql_val_free(&b);
    return rc;
}

/* ------------------------------------------------------------ functions */

/* NOW() and friends: the wall clock in UTC (system_time_zone), moved by a session
 * time_zone of the form +hh:mm. */
static struct tm session_now(nn_sql_eval_ctx *c) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t t = ts.tv_sec;
    const char *tz = nn_mysql_session_var(c->ses, "time_zone");
    int h = 0;
    int m = 0;
    char sign = 0;
    if (tz != NULL && sscanf(tz, "%c%d:%d", &sign, &h, &m) == 3 && (sign == '+' || sign == '-') &&
        h <= 14 && m < 60) {
        t += (sign == '-' ? -1 : 1) * (h * 3600 + m * 60);
    }
    struct tm tm;
    gmtime_r(&t, &tm);
    return tm;
}

static int call_time(nn_sql_eval_ctx *c, const char *f, nn_sql_val *out, char *buf, size_t cap) {
    struct tm tm = session_now(c);
    nn_mysql_type type = NN_MYSQL_TYPE_DATETIME;
    const char *format = "%Y-%m-%d %H:%M:%S";
    if (strcmp(f, "curdate") == 0 || strcmp(f, "current_date") == 0 || strcmp(f, "utc_date") == 0) {
        type = NN_MYSQL_TYPE_DATE;
        format = "%Y-%m-%d";
    } else if (strcmp(f, "curtime") == 0 || strcmp(f, "current_time") == 0 ||
               strcmp(f, "utc_time") == 0) {
        type = NN_MYSQL_TYPE_TIME;
        format = "%H:%M:%S";
    }
    size_t n = strftime(buf, cap, format, &tm);
    if (val_string_copy(c, out, buf, n) < 0) {
        return -1;
    }
    out->type = type;
    return 0;
}

static bool is_time_function(const char *f) {
    static const char *const names[] = {
        "now",      "current_timestamp", "localtime",    "localtimestamp",
        "sysdate",  "utc_timestamp",     "curdate",      "current_date",
        "utc_date", "curtime",           "current_time", "utc_time"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(f, names[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Functions of the session without arguments. 1 if f is one (answered in out), 0 if not. */
static int call_session(nn_sql_eval_ctx *c, const char *f, nn_sql_val *out) {
    nn_mysql_session *ses = c->ses;
    char buf[512];
    if (strcmp(f, "current_user") == 0) {
        int n = snprintf(buf, sizeof(buf), "%s@%s", nn_mysql_session_user(ses),
                         nn_mysql_session_account_host(ses));
        return val_string_copy(c, out, buf, (size_t)n) < 0 ? -1 : 1;
    }
    if (strcmp(f, "user") == 0 || strcmp(f, "session_user") == 0 || strcmp(f, "system_user") == 0) {
        int n = snprintf(buf, sizeof(buf), "%s@%s", nn_mysql_session_user(ses),
                         nn_mysql_session_host(ses));
        return val_string_copy(c, out, buf, (size_t)n) < 0 ? -1 : 1;
    }
    if (strcmp(f, "connection_id") == 0) {
        memset(out, 0, sizeof(*out));
        out->kind = NN_SQL_VAL_UINT;
        out->type = NN_MYSQL_TYPE_LONGLONG;
        out->u = nn_mysql_session_id(ses);
        return 1;
    }
    if (strcmp(f, "version") == 0) {
        const char *v = nn_mysql_session_server(ses)->server_version;
        return val_string_copy(c, out, v, strlen(v)) < 0 ? -1 : 1;
    }
    if (strcmp(f, "database") == 0 || strcmp(f, "schema") == 0) {
        const char *db = nn_mysql_session_database(ses);
        if (db[0] == '\0') {
            val_null(out, NN_MYSQL_TYPE_VAR_STRING);
            return 1;
        }
        return val_string_copy(c, out, db, strlen(db)) < 0 ? -1 : 1;
    }
    if (strcmp(f, "last_insert_id") == 0 || strcmp(f, "row_count") == 0 ||
        strcmp(f, "found_rows") == 0) {
        val_int(out, 0);
        return 1;
    }
    if (strcmp(f, "unix_timestamp") == 0) {
        val_int(out, (int64_t)time(NULL));
        return 1;
    }
    if (is_time_function(f)) {
        return call_time(c, f, out, buf, sizeof(buf)) < 0 ? -1 : 1;
    }
    return 0;
}

/* concat(), concat_ws(): the pieces joined, bounded by max_allowed_packet. */
static int call_concat(nn_sql_eval_ctx *c, const nn_sql_expr *e, bool ws, nn_sql_val *args,
                       nn_sql_val *out) {
    size_t cap = atomic_load(&nn_mysql_session_server(c->ses)->settings)->max_allowed_packet;
    char sepbuf[64];
    size_t sep_len = 0;
    const char *sep = "";
    size_t first = 0;
    if (ws) {
        sep = nn_sql_val_cstr(&args[0], sepbuf, sizeof(sepbuf), &sep_len);
        if (sep == NULL) {
            val_null(out, NN_MYSQL_TYPE_VAR_STRING);
            return 0;
        }
        first = 1;
    }
    size_t total = 0;
    for (size_t i = first; i < e->arg_count; i++) {
        if (args[i].kind == NN_SQL_VAL_NULL) {
            if (!ws) {
                val_null(out, NN_MYSQL_TYPE_VAR_STRING);
                return 0;
            }
            continue;
        }
        char nb[64];
        size_t n;
        nn_sql_val_cstr(&args[i], nb, sizeof(nb), &n);
        total += n + sep_len;
    }
    if (total > cap) {
        return nn_sql_eval_fail(
            c, NN_ER_TOO_BIG_FOR_PACKET, "HY000",
            "Result of %s() was larger than max_allowed_packet (%zu) - truncated", e->text, cap);
    }
    char *joined = malloc(total + 1);
    if (joined == NULL) {
        return nn_sql_eval_fail(c, NN_ER_UNKNOWN_ERROR, "HY000", "out of memory");
    }
    size_t k = 0;
    bool any = false;
    for (size_t i = first; i < e->arg_count; i++) {
        if (args[i].kind == NN_SQL_VAL_NULL) {
            continue;
        }
        if (ws && any) {
            memcpy(joined + k, sep, sep_len);
            k += sep_len;
        }
        char nb[64];
        size_t n;
        const char *piece = nn_sql_val_cstr(&args[i], nb, sizeof(nb), &n);
        memcpy(joined + k, piece, n);
        k += n;
        any = true;
    }
    joined[k] = '\0';
    val_string(out, joined, k);
    out->owned = joined;
    return 0;
}

static int call_function(nn_sql_eval_ctx *c, const nn_sql_expr *e, nn_sql_val *out) {
    const char *f = e->text;
    if (e->arg_count == 0 || (is_time_function(f) && e->arg_count == 1)) {
        /* NOW(6): the fractional-seconds precision is accepted, whole seconds are given */
        int rc = call_session(c, f, out);
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }
    }
    struct {
        const char *name;
        size_t min;
        size_t max;
    } const known[] = {
        {"concat", 1, NN_SQL_MAX_ARGS},
        {"concat_ws", 2, NN_SQL_MAX_ARGS},
        {"ifnull", 2, 2},
        {"coalesce", 1, NN_SQL_MAX_ARGS},
        {"nullif", 2, 2},
        {"if", 3, 3},
        {"lower", 1, 1},
        {"lcase", 1, 1},
        {"upper", 1, 1},
        {"ucase", 1, 1},
        {"length", 1, 1},
        {"octet_length", 1, 1},
        {"char_length", 1, 1},
        {"character_length", 1, 1},
        {"abs", 1, 1},
        {"isnull", 1, 1},
    };
    size_t k = 0;
    while (k < sizeof(known) / sizeof(known[0]) && strcmp(known[k].name, f) != 0) {
        k++;
    }
    if (k == sizeof(known) / sizeof(known[0])) {
        return nn_sql_eval_fail(c, NN_ER_NOT_SUPPORTED_YET, "42000",
                                "This version of nodenet doesn't yet support '%s()' (the "
                                "administrative handler's functions are a subset)",
                                f);
    }
    if (e->arg_count < known[k].min || e->arg_count > known[k].max) {
        return nn_sql_eval_fail(c, 1582, "42000",
                                "Incorrect parameter count in the call to native function '%s'", f);
    }
    nn_sql_val args[NN_SQL_MAX_ARGS];
    size_t evaluated = 0;
    int rc = 0;
    for (; evaluated < e->arg_count; evaluated++) {
        if (nn_sql_eval(c, &e->args[evaluated], &args[evaluated]) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0) {
        char nb[64];
        size_t n;
        if (strcmp(f, "concat") == 0 || strcmp(f, "concat_ws") == 0) {
            rc = call_concat(c, e, f[6] == '_', args, out);
        } else if (strcmp(f, "ifnull") == 0 || strcmp(f, "coalesce") == 0) {
            size_t pick = 0;
            while (pick + 1 < e->arg_count && args[pick].kind == NN_SQL_VAL_NULL) {
                pick++;
            }
            *out = args[pick];
            memset(&args[pick], 0, sizeof(args[pick])); /* ownership moves to out */
        } else if (strcmp(f, "nullif") == 0) {
            if (args[0].kind != NN_SQL_VAL_NULL && args[1].kind != NN_SQL_VAL_NULL &&
                compare(&args[0], &args[1]) == 0) {
                val_null(out, args[0].type);
            } else {
                *out = args[0];
                memset(&args[0], 0, sizeof(args[0]));
            }
        } else if (strcmp(f, "if") == 0) {
            size_t pick = nn_sql_val_truth(&args[0]) == 1 ? 1 : 2;
            *out = args[pick];
            memset(&args[pick], 0, sizeof(args[pick]));
        } else if (strcmp(f, "isnull") == 0) {
            val_int(out, args[0].kind == NN_SQL_VAL_NULL);
        } else if (args[0].kind == NN_SQL_VAL_NULL) {
            val_null(out, NN_MYSQL_TYPE_VAR_STRING);
        } else if (strcmp(f, "abs") == 0) {
            if (args[0].kind == NN_SQL_VAL_INT && args[0].i != INT64_MIN) {
                val_int(out, args[0].i < 0 ? -args[0].i : args[0].i);
            } else if (args[0].kind == NN_SQL_VAL_DECIMAL) {
                val_decimal(out, args[0].dec < 0 ? -args[0].dec : args[0].dec, args[0].scale);
            } else if (args[0].kind == NN_SQL_VAL_UINT) {
                *out = args[0];
            } else {
                val_double(out, fabs(val_to_double(&args[0])));
            }
        } else {
            const char *s = nn_sql_val_cstr(&args[0], nb, sizeof(nb), &n);
            if (strcmp(f, "length") == 0 || strcmp(f, "octet_length") == 0) {
                val_int(out, (int64_t)n);
            } else if (strcmp(f, "char_length") == 0 || strcmp(f, "character_length") == 0) {
                int64_t chars = 0;
                for (size_t i = 0; i < n; i++) {
                    chars += ((unsigned char)s[i] & 0xc0) != 0x80; /* UTF-8 lead bytes */
                }
                val_int(out, chars);
            } else if ((rc = val_string_copy(c, out, s, n)) == 0) {
                bool up = f[0] == 'u'; /* upper, ucase */
                for (size_t i = 0; i < n; i++) {
                    out->owned[i] = (char)(up ? toupper((unsigned char)out->owned[i])
                                              : tolower((unsigned char)out->owned[i]));
                }
            }
        }
    }
    for (size_t i = 0; i < evaluated; i++) {
        nn_sql_val_free(&args[i]);
    }
    return rc;
}

/* ---------------------------------------------------------- evaluation */

static int eval_sysvar(nn_sql_eval_ctx *c, const nn_sql_expr *e, nn_sql_val *out) {
    const nn_mysql_sysvar *v = nn_mysql_sysvar_find(e->text);
    if (v == NULL) {
        return nn_sql_eval_fail(c, NN_ER_UNKNOWN_SYSTEM_VARIABLE, "HY000",
                                "Unknown system variable '%s'", e->text);
    }
    nn_mysql_var_ctx vctx = {.ses = c->ses};
    const char *value = nn_mysql_sysvar_value(&vctx, v, e->scope);
    if (nn_mysql_sysvar_is_null(v, value)) {
        val_null(out, NN_MYSQL_TYPE_VAR_STRING);
        return 0;
    }
    if (v->kind == NN_MYSQL_VAR_INT || v->kind == NN_MYSQL_VAR_BOOL) {
        if (strcasecmp(value, "ON") == 0 || strcasecmp(value, "OFF") == 0) {
            val_int(out, strcasecmp(value, "ON") == 0);
        } else {
            val_number(out, value);
        }
        out->type = NN_MYSQL_TYPE_LONGLONG;
        return 0;
    }
    return val_string_copy(c, out, value, strlen(value));
}

/* User variables keep their type: the session store holds "<tag><text>", the tag one of
 * i (integer), u, m (decimal), d (double), s (string), n (NULL). */
static int eval_uservar(nn_sql_eval_ctx *c, const nn_sql_expr *e, nn_sql_val *out) {
    char name[160];
    snprintf(name, sizeof(name), "@%s", e->text);
    const char *stored = nn_mysql_session_var(c->ses, name);
    if (stored == NULL || stored[0] == 'n' || stored[0] == '\0') {
        val_null(out, NN_MYSQL_TYPE_VAR_STRING); /* never set: NULL, as in MySQL */
        return 0;
    }
    if (stored[0] == 's') {
        return val_string_copy(c, out, stored + 1, strlen(stored + 1));
    }
    if (stored[0] == 'd') {
        val_double(out, strtod(stored + 1, NULL));
        return 0;
    }
    val_number(out, stored + 1);
    return 0;
}

static int eval_param(nn_sql_eval_ctx *c, const nn_sql_expr *e, nn_sql_val *out) {
    if (c->params == NULL || e->param >= c->param_count) {
        return nn_sql_eval_fail(c, 1210, "HY000", "Incorrect arguments to EXECUTE");
    }
    const nn_sql_param *p = &c->params[e->param];
    switch (p->kind) {
    case NN_SQL_PARAM_NULL:
        val_null(out, NN_MYSQL_TYPE_NULL);
        return 0;
    case NN_SQL_PARAM_INT:
        val_int(out, p->i);
        return 0;
    case NN_SQL_PARAM_UINT:
        memset(out, 0, sizeof(*out));
        out->kind = NN_SQL_VAL_UINT;
        out->type = NN_MYSQL_TYPE_LONGLONG;
        out->u = p->u;
        return 0;
    case NN_SQL_PARAM_DOUBLE:
        val_double(out, p->d);
        return 0;
    case NN_SQL_PARAM_STRING:
        break;
    }
    return val_string_copy(c, out, p->s, p->len);
}

int nn_sql_eval(nn_sql_eval_ctx *c, const nn_sql_expr *e, nn_sql_val *out) {
    memset(out, 0, sizeof(*out));
    switch (e->kind) {
    case NN_EXPR_STRING:
        val_string(out, e->text, strlen(e->text));
        return 0;
    case NN_EXPR_NUMBER:
        val_number(out, e->text);
        return 0;
    case NN_EXPR_NULL:
        val_null(out, NN_MYSQL_TYPE_NULL);
        return 0;
    case NN_EXPR_SYSVAR:
        return eval_sysvar(c, e, out);
    case NN_EXPR_USERVAR:
        return eval_uservar(c, e, out);
    case NN_EXPR_PARAM:
        return eval_param(c, e, out);
    case NN_EXPR_FUNC:
        return call_function(c, e, out);
    case NN_EXPR_IDENT:
        for (size_t i = 0; i < c->row_width; i++) {
            if (strcasecmp(c->row_names[i], e->text) == 0) {
                if (c->row_values[i] == NULL) {
                    val_null(out, NN_MYSQL_TYPE_VAR_STRING);
                } else {
                    val_string(out, c->row_values[i], strlen(c->row_values[i]));
                }
                return 0;
            }
        }
        if (c->set_context) {
            val_string(out, e->text, strlen(e->text));
            return 0;
        }
        return nn_sql_eval_fail(c, NN_ER_BAD_FIELD, "42S22", "Unknown column '%s' in '%s'", e->text,
                                c->row_width ? "where clause" : "field list");
    case NN_EXPR_UNARY: {
        nn_sql_val a;
        if (nn_sql_eval(c, &e->args[0], &a) < 0) {
            return -1;
        }
        int rc = 0;
        if (e->op == NN_OP_NOT) {
            int t = nn_sql_val_truth(&a);
            t < 0 ? val_null(out, NN_MYSQL_TYPE_LONGLONG) : val_int(out, !t);
        } else if (a.kind == NN_SQL_VAL_NULL) {
            val_null(out, NN_MYSQL_TYPE_NULL);
        } else if (e->op == NN_OP_BITNOT) {
            memset(out, 0, sizeof(*out));
            out->kind = NN_SQL_VAL_UINT;
            out->type = NN_MYSQL_TYPE_LONGLONG;
            double d = val_to_double(&a);
            out->u = a.kind == NN_SQL_VAL_UINT  ? ~a.u
                     : a.kind == NN_SQL_VAL_INT ? ~(uint64_t)a.i
                     : fabs(d) < 9.2e18         ? ~(uint64_t)(int64_t)d
                                                : 0; /* MySQL saturates; out of range here is 0 */
        } else {
            nn_sql_val zero;
            val_int(&zero, 0);
            rc = arith(c, NN_OP_SUB, &zero, &a, out);
        }
        nn_sql_val_free(&a);
        return rc;
    }
    case NN_EXPR_BINARY:
        return eval_binary(c, e, out);
    case NN_EXPR_IS_NULL: {
        nn_sql_val a;
        if (nn_sql_eval(c, &e->args[0], &a) < 0) {
            return -1;
        }
        val_int(out, (a.kind == NN_SQL_VAL_NULL) != e->negated);
        nn_sql_val_free(&a);
        return 0;
    }
    case NN_EXPR_IN: {
        nn_sql_val a;
        if (nn_sql_eval(c, &e->args[0], &a) < 0) {
            return -1;
        }
        bool found = false;
        bool saw_null = a.kind == NN_SQL_VAL_NULL;
        for (size_t i = 1; i < e->arg_count && !found && a.kind != NN_SQL_VAL_NULL; i++) {
            nn_sql_val b;
            if (nn_sql_eval(c, &e->args[i], &b) < 0) {
                nn_sql_val_free(&a);
                return -1;
            }
            if (b.kind == NN_SQL_VAL_NULL) {
                saw_null = true;
            } else {
                found = compare(&a, &b) == 0;
            }
            nn_sql_val_free(&b);
        }
        nn_sql_val_free(&a);
        if (!found && saw_null) {
            val_null(out, NN_MYSQL_TYPE_LONGLONG);
        } else {
            val_int(out, found != e->negated);
        }
        return 0;
    }
    }
    return nn_sql_eval_fail(c, NN_ER_UNKNOWN_ERROR, "HY000", "unknown expression");
}
