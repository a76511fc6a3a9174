/* mysql/admin.c: nodenet's administrative SQL handler.
 *
 * User management (writes go to the catalog thread and are answered once committed),
 * SHOW STATUS / VARIABLES with the session's real TLS facts, SELECT of literals,
 * @@variables and session functions, SET, and what the standard clients send on connect.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* How a variable's value reads: SELECT @@x gives a number for INT and BOOL (BOOL shows as
 * ON/OFF in SHOW VARIABLES); CHARSET and COLLATION values are checked against the tables
 * below when SET. */
typedef enum var_kind { VAR_STR, VAR_INT, VAR_BOOL, VAR_CHARSET, VAR_COLLATION } var_kind;

typedef struct sysvar {
    const char *name;
    var_kind kind;
    const char *value; /* static value, or NULL: computed by sysvar_value() */
} sysvar;

/* Sorted by name (SHOW VARIABLES lists them in this order, as MySQL does). */
static const sysvar sysvars[] = {
    {"auto_increment_increment", VAR_INT, "1"},
    {"auto_increment_offset", VAR_INT, "1"},
    {"autocommit", VAR_BOOL, "1"},
    {"character_set_client", VAR_CHARSET, "utf8mb4"},
    {"character_set_connection", VAR_CHARSET, "utf8mb4"},
    {"character_set_database", VAR_CHARSET, "utf8mb4"},
    {"character_set_filesystem", VAR_CHARSET, "binary"},
    {"character_set_results", VAR_CHARSET, "utf8mb4"},
    {"character_set_server", VAR_CHARSET, "utf8mb4"},
    {"character_set_system", VAR_CHARSET, "utf8mb3"},
    {"collation_connection", VAR_COLLATION, "utf8mb4_general_ci"},
    {"collation_database", VAR_COLLATION, "utf8mb4_general_ci"},
    {"collation_server", VAR_COLLATION, "utf8mb4_general_ci"},
    {"connect_timeout", VAR_INT, "10"},
    {"default_authentication_plugin", VAR_STR, "caching_sha2_password"},
    {"div_precision_increment", VAR_INT, "4"},
    {"error_count", VAR_INT, "0"},
    {"foreign_key_checks", VAR_BOOL, "1"},
    {"have_openssl", VAR_STR, NULL},
    {"have_ssl", VAR_STR, NULL},
    {"init_connect", VAR_STR, ""},
    {"interactive_timeout", VAR_INT, NULL},
    {"license", VAR_STR, "Apache-2.0"},
    {"lower_case_table_names", VAR_INT, "0"},
    {"max_allowed_packet", VAR_INT, NULL},
    {"max_execution_time", VAR_INT, "0"},
    {"net_buffer_length", VAR_INT, "16384"},
    {"net_read_timeout", VAR_INT, "30"},
    {"net_write_timeout", VAR_INT, "60"},
    {"performance_schema", VAR_BOOL, "0"},
    {"protocol_version", VAR_INT, "10"},
    {"query_cache_size", VAR_INT, "0"},
    {"query_cache_type", VAR_STR, "OFF"},
    {"require_secure_transport", VAR_BOOL, NULL},
    {"session_track_gtids", VAR_STR, "OFF"},
    {"session_track_schema", VAR_BOOL, "1"},
    {"session_track_state_change", VAR_BOOL, "0"},
    {"session_track_system_variables", VAR_STR,
     "time_zone,autocommit,character_set_client,character_set_results,character_set_connection"},
    {"session_track_transaction_info", VAR_STR, "OFF"},
    {"sql_auto_is_null", VAR_BOOL, "0"},
    {"sql_mode", VAR_STR,
     "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
     "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"},
    {"sql_safe_updates", VAR_BOOL, "0"},
    {"sql_select_limit", VAR_INT, "18446744073709551615"},
    {"system_time_zone", VAR_STR, "UTC"},
    {"time_zone", VAR_STR, "SYSTEM"},
    {"tls_version", VAR_STR, "TLSv1.2,TLSv1.3"},
    {"transaction_isolation", VAR_STR, "REPEATABLE-READ"},
    {"transaction_read_only", VAR_BOOL, "0"},
    {"tx_isolation", VAR_STR, "REPEATABLE-READ"},
    {"tx_read_only", VAR_BOOL, "0"},
    {"unique_checks", VAR_BOOL, "1"},
    {"version", VAR_STR, NULL},
    {"version_comment", VAR_STR, "nodenet"},
    {"version_compile_machine", VAR_STR, "x86_64"},
    {"version_compile_os", VAR_STR, "Linux"},
    {"wait_timeout", VAR_INT, NULL},
    {"warning_count", VAR_INT, "0"},
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
        return s->require_secure_transport ? "1" : "0";
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

/* character_set_results may be NULL (no conversion of results); the session store keeps
 * strings only, so NULL is kept as "" (never a valid character set name). */
static bool sysvar_is_null(const sysvar *v, const char *value) {
    return v->kind == VAR_CHARSET && value[0] == '\0';
}

/* ------------------------------------------------- character sets, collations */

/* MySQL 8.0's rows (SHOW CHARACTER SET / SHOW COLLATION), so that drivers that map ids to
 * character sets find the ones they know. Every character set with its default collation,
 * plus the other collations drivers commonly name. */
typedef struct charset {
    const char *name;
    const char *description;
    const char *default_collation;
    int maxlen;
} charset;

static const charset charsets[] = {
    {"armscii8", "ARMSCII-8 Armenian", "armscii8_general_ci", 1},
    {"ascii", "US ASCII", "ascii_general_ci", 1},
    {"big5", "Big5 Traditional Chinese", "big5_chinese_ci", 2},
    {"binary", "Binary pseudo charset", "binary", 1},
    {"cp1250", "Windows Central European", "cp1250_general_ci", 1},
    {"cp1251", "Windows Cyrillic", "cp1251_general_ci", 1},
    {"cp1256", "Windows Arabic", "cp1256_general_ci", 1},
    {"cp1257", "Windows Baltic", "cp1257_general_ci", 1},
    {"cp850", "DOS West European", "cp850_general_ci", 1},
    {"cp852", "DOS Central European", "cp852_general_ci", 1},
    {"cp866", "DOS Russian", "cp866_general_ci", 1},
    {"cp932", "SJIS for Windows Japanese", "cp932_japanese_ci", 2},
    {"dec8", "DEC West European", "dec8_swedish_ci", 1},
    {"eucjpms", "UJIS for Windows Japanese", "eucjpms_japanese_ci", 3},
    {"euckr", "EUC-KR Korean", "euckr_korean_ci", 2},
    {"gb18030", "China National Standard GB18030", "gb18030_chinese_ci", 4},
    {"gb2312", "GB2312 Simplified Chinese", "gb2312_chinese_ci", 2},
    {"gbk", "GBK Simplified Chinese", "gbk_chinese_ci", 2},
    {"geostd8", "GEOSTD8 Georgian", "geostd8_general_ci", 1},
    {"greek", "ISO 8859-7 Greek", "greek_general_ci", 1},
    {"hebrew", "ISO 8859-8 Hebrew", "hebrew_general_ci", 1},
    {"hp8", "HP West European", "hp8_english_ci", 1},
    {"keybcs2", "DOS Kamenicky Czech-Slovak", "keybcs2_general_ci", 1},
    {"koi8r", "KOI8-R Relcom Russian", "koi8r_general_ci", 1},
    {"koi8u", "KOI8-U Ukrainian", "koi8u_general_ci", 1},
    {"latin1", "cp1252 West European", "latin1_swedish_ci", 1},
    {"latin2", "ISO 8859-2 Central European", "latin2_general_ci", 1},
    {"latin5", "ISO 8859-9 Turkish", "latin5_turkish_ci", 1},
    {"latin7", "ISO 8859-13 Baltic", "latin7_general_ci", 1},
    {"macce", "Mac Central European", "macce_general_ci", 1},
    {"macroman", "Mac West European", "macroman_general_ci", 1},
    {"sjis", "Shift-JIS Japanese", "sjis_japanese_ci", 2},
    {"swe7", "7bit Swedish", "swe7_swedish_ci", 1},
    {"tis620", "TIS620 Thai", "tis620_thai_ci", 1},
    {"ucs2", "UCS-2 Unicode", "ucs2_general_ci", 2},
    {"ujis", "EUC-JP Japanese", "ujis_japanese_ci", 3},
    {"utf16", "UTF-16 Unicode", "utf16_general_ci", 4},
    {"utf16le", "UTF-16LE Unicode", "utf16le_general_ci", 4},
    {"utf32", "UTF-32 Unicode", "utf32_general_ci", 4},
    {"utf8mb3", "UTF-8 Unicode", "utf8mb3_general_ci", 3},
    {"utf8mb4", "UTF-8 Unicode", "utf8mb4_0900_ai_ci", 4},
};
#define CHARSET_COUNT (sizeof(charsets) / sizeof(charsets[0]))

typedef struct collation {
    const char *name;
    const char *charset;
    int id;
    int sortlen;
    bool no_pad;
} collation;

/* In id order, as SHOW COLLATION's rows are compared by drivers' tables. */
static const collation collations[] = {
    {"big5_chinese_ci", "big5", 1, 1, false},
    {"dec8_swedish_ci", "dec8", 3, 1, false},
    {"cp850_general_ci", "cp850", 4, 1, false},
    {"hp8_english_ci", "hp8", 6, 1, false},
    {"koi8r_general_ci", "koi8r", 7, 1, false},
    {"latin1_swedish_ci", "latin1", 8, 1, false},
    {"latin2_general_ci", "latin2", 9, 1, false},
    {"swe7_swedish_ci", "swe7", 10, 1, false},
    {"ascii_general_ci", "ascii", 11, 1, false},
    {"ujis_japanese_ci", "ujis", 12, 1, false},
    {"sjis_japanese_ci", "sjis", 13, 1, false},
    {"hebrew_general_ci", "hebrew", 16, 1, false},
    {"tis620_thai_ci", "tis620", 18, 4, false},
    {"euckr_korean_ci", "euckr", 19, 1, false},
    {"koi8u_general_ci", "koi8u", 22, 1, false},
    {"gb2312_chinese_ci", "gb2312", 24, 1, false},
    {"greek_general_ci", "greek", 25, 1, false},
    {"cp1250_general_ci", "cp1250", 26, 1, false},
    {"gbk_chinese_ci", "gbk", 28, 1, false},
    {"latin5_turkish_ci", "latin5", 30, 1, false},
    {"latin1_german2_ci", "latin1", 31, 2, false},
    {"armscii8_general_ci", "armscii8", 32, 1, false},
    {"utf8mb3_general_ci", "utf8mb3", 33, 1, false},
    {"ucs2_general_ci", "ucs2", 35, 1, false},
    {"cp866_general_ci", "cp866", 36, 1, false},
    {"keybcs2_general_ci", "keybcs2", 37, 1, false},
    {"macce_general_ci", "macce", 38, 1, false},
    {"macroman_general_ci", "macroman", 39, 1, false},
    {"cp852_general_ci", "cp852", 40, 1, false},
    {"latin7_general_ci", "latin7", 41, 1, false},
    {"utf8mb4_general_ci", "utf8mb4", 45, 1, false},
    {"utf8mb4_bin", "utf8mb4", 46, 1, false},
    {"latin1_bin", "latin1", 47, 1, false},
    {"latin1_general_ci", "latin1", 48, 1, false},
    {"cp1251_general_ci", "cp1251", 51, 1, false},
    {"utf16_general_ci", "utf16", 54, 1, false},
    {"utf16le_general_ci", "utf16le", 56, 1, false},
    {"cp1256_general_ci", "cp1256", 57, 1, false},
    {"cp1257_general_ci", "cp1257", 59, 1, false},
    {"utf32_general_ci", "utf32", 60, 1, false},
    {"binary", "binary", 63, 1, true},
    {"ascii_bin", "ascii", 65, 1, false},
    {"utf8mb3_bin", "utf8mb3", 83, 1, false},
    {"geostd8_general_ci", "geostd8", 92, 1, false},
    {"cp932_japanese_ci", "cp932", 95, 1, false},
    {"eucjpms_japanese_ci", "eucjpms", 97, 1, false},
    {"utf8mb3_unicode_ci", "utf8mb3", 192, 8, false},
    {"utf8mb4_unicode_ci", "utf8mb4", 224, 8, false},
    {"utf8mb4_unicode_520_ci", "utf8mb4", 246, 8, false},
    {"gb18030_chinese_ci", "gb18030", 248, 2, false},
    {"utf8mb4_0900_ai_ci", "utf8mb4", 255, 0, true},
    {"utf8mb4_0900_as_cs", "utf8mb4", 278, 0, true},
    {"utf8mb4_0900_as_ci", "utf8mb4", 305, 0, true},
    {"utf8mb4_0900_bin", "utf8mb4", 309, 1, true},
};
#define COLLATION_COUNT (sizeof(collations) / sizeof(collations[0]))

/* "utf8" is MySQL 8's alias of utf8mb3 (and utf8_* of utf8mb3_*). */
static const charset *charset_find(const char *name) {
    if (strcasecmp(name, "utf8") == 0) {
        name = "utf8mb3";
    }
    for (size_t i = 0; i < CHARSET_COUNT; i++) {
        if (strcasecmp(charsets[i].name, name) == 0) {
            return &charsets[i];
        }
    }
    return NULL;
}

static const collation *collation_find(const char *name) {
    char alias[96];
    if (strncasecmp(name, "utf8_", 5) == 0 && strlen(name) < sizeof(alias) - 3) {
        snprintf(alias, sizeof(alias), "utf8mb3_%s", name + 5);
        name = alias;
    }
    for (size_t i = 0; i < COLLATION_COUNT; i++) {
        if (strcasecmp(collations[i].name, name) == 0) {
            return &collations[i];
        }
    }
    return NULL;
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

/* ---------------------------------------------------------- expressions */

/* A value while evaluating: MySQL's result types for literals and arithmetic (integers are
 * BIGINT, a literal with a point and '/' are DECIMAL, an exponent or a string operand makes
 * DOUBLE), kept exact where MySQL is exact. */
typedef enum val_kind { V_NULL, V_INT, V_UINT, V_DOUBLE, V_DECIMAL, V_STRING } val_kind;

#define DECIMAL_MAX_SCALE 30

typedef struct val {
    val_kind kind;
    nn_mysql_type type; /* the column type it shows as */
    int64_t i;
    uint64_t u;
    double d;
    __int128 dec; /* V_DECIMAL: dec / 10^scale */
    int scale;
    const char *s; /* V_STRING: s[0, len), NUL-terminated; owned when s == owned */
    size_t len;
    char *owned;
} val;

typedef struct eval_ctx {
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
} eval_ctx;

#define ER_NOT_SUPPORTED_YET 1235
#define ER_BAD_FIELD 1054
#define ER_DATA_OUT_OF_RANGE 1690
#define ER_WRONG_PARAMCOUNT 1582
#define ER_WRONG_VALUE_FOR_VAR 1231
#define ER_WRONG_TYPE_FOR_VAR 1232
#define ER_UNKNOWN_CHARACTER_SET 1115
#define ER_UNKNOWN_COLLATION 1273
#define ER_COLLATION_CHARSET_MISMATCH 1253
#define ER_TOO_BIG_FOR_PACKET 1301

static int eval_fail(eval_ctx *c, uint16_t code, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int eval_fail(eval_ctx *c, uint16_t code, const char *sqlstate, const char *fmt, ...) {
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

static void val_free(val *v) {
    free(v->owned);
    v->owned = NULL;
}

static void val_null(val *v, nn_mysql_type type) {
    memset(v, 0, sizeof(*v));
    v->kind = V_NULL;
    v->type = type;
}

static void val_int(val *v, int64_t i) {
    memset(v, 0, sizeof(*v));
    v->kind = V_INT;
    v->type = NN_MYSQL_TYPE_LONGLONG;
    v->i = i;
}

static void val_double(val *v, double d) {
    memset(v, 0, sizeof(*v));
    v->kind = V_DOUBLE;
    v->type = NN_MYSQL_TYPE_DOUBLE;
    v->d = d;
}

/* Borrows s (NUL-terminated, alive for the statement). */
static void val_string(val *v, const char *s, size_t len) {
    memset(v, 0, sizeof(*v));
    v->kind = V_STRING;
    v->type = NN_MYSQL_TYPE_VAR_STRING;
    v->s = s;
    v->len = len;
}

/* Takes a copy of s[0, len). */
static int val_string_copy(eval_ctx *c, val *v, const char *s, size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return eval_fail(c, ER_UNKNOWN_ERROR, "HY000", "out of memory");
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

static void val_decimal(val *v, __int128 dec, int scale) {
    memset(v, 0, sizeof(*v));
    v->kind = V_DECIMAL;
    v->type = NN_MYSQL_TYPE_NEWDECIMAL;
    v->dec = dec;
    v->scale = scale;
}

/* A numeric literal as MySQL types it. */
static void val_number(val *v, const char *text) {
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
        v->kind = V_UINT;
        v->type = NN_MYSQL_TYPE_LONGLONG;
        v->u = (uint64_t)dec;
    } else {
        val_int(v, (int64_t)dec);
    }
}

static double val_to_double(const val *v) {
    switch (v->kind) {
    case V_INT:
        return (double)v->i;
    case V_UINT:
        return (double)v->u;
    case V_DOUBLE:
        return v->d;
    case V_DECIMAL:
        return (double)v->dec / (double)pow10_128(v->scale);
    case V_STRING:
        return strtod(v->s, NULL); /* MySQL: the numeric prefix, 0 if none */
    case V_NULL:
        break;
    }
    return 0;
}

/* INT, UINT or DECIMAL as a decimal. */
static void val_to_dec(const val *v, __int128 *dec, int *scale) {
    *scale = v->kind == V_DECIMAL ? v->scale : 0;
    *dec = v->kind == V_DECIMAL ? v->dec : v->kind == V_UINT ? (__int128)v->u : (__int128)v->i;
}

/* Formats v into buf (numbers) or points at its bytes. *out NULL for SQL NULL. */
static void val_text(const val *v, char *buf, size_t cap, const char **out, size_t *len) {
    switch (v->kind) {
    case V_NULL:
        *out = NULL;
        *len = 0;
        return;
    case V_STRING:
        *out = v->s;
        *len = v->len;
        return;
    case V_INT:
        snprintf(buf, cap, "%lld", (long long)v->i);
        break;
    case V_UINT:
        snprintf(buf, cap, "%llu", (unsigned long long)v->u);
        break;
    case V_DOUBLE:
        /* the shortest form that reads back the same, as MySQL prints doubles */
        for (int precision = 1; precision <= 17; precision++) {
            snprintf(buf, cap, "%.*g", precision, v->d);
            if (strtod(buf, NULL) == v->d) {
                break;
            }
        }
        break;
    case V_DECIMAL: {
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
static int val_truth(const val *v) {
    if (v->kind == V_NULL) {
        return -1;
    }
    if (v->kind == V_INT) {
        return v->i != 0;
    }
    if (v->kind == V_UINT) {
        return v->u != 0;
    }
    if (v->kind == V_DECIMAL) {
        return v->dec != 0;
    }
    return val_to_double(v) != 0;
}

static int eval(eval_ctx *c, const nn_sql_expr *e, val *out);

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

static int arith(eval_ctx *c, nn_sql_op op, const val *a, const val *b, val *out) {
    if (a->kind == V_NULL || b->kind == V_NULL) {
        val_null(out, NN_MYSQL_TYPE_NULL);
        return 0;
    }
    bool as_double =
        a->kind == V_DOUBLE || b->kind == V_DOUBLE || a->kind == V_STRING || b->kind == V_STRING;
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
                return eval_fail(c, ER_DATA_OUT_OF_RANGE, "22003", "BIGINT value is out of range");
            } else {
                val_int(out, (int64_t)(x / y));
            }
            break;
        }
        if (out->kind == V_DOUBLE && !isfinite(out->d)) {
            return eval_fail(c, ER_DATA_OUT_OF_RANGE, "22003", "DOUBLE value is out of range");
        }
        return 0;
    }
    if (a->kind == V_INT && b->kind == V_INT && op != NN_OP_DIV) {
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
            return eval_fail(c, ER_DATA_OUT_OF_RANGE, "22003", "BIGINT value is out of range");
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
        if (scale > DECIMAL_MAX_SCALE) {
            r = dec_rescale_checked(r, scale, DECIMAL_MAX_SCALE, &overflow);
            scale = DECIMAL_MAX_SCALE;
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
                return eval_fail(c, ER_DATA_OUT_OF_RANGE, "22003", "BIGINT value is out of range");
            }
            val_int(out, (int64_t)r);
            return 0;
        }
        /* a / b keeps a's scale plus div_precision_increment (4) digits, rounded */
        scale = sx + 4 > DECIMAL_MAX_SCALE ? DECIMAL_MAX_SCALE : sx + 4;
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

/* Case-insensitive comparison of two strings (the default collations are _ci). */
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
static int compare(const val *a, const val *b) {
    if (a->kind == V_STRING && b->kind == V_STRING) {
        return compare_ci(a->s, a->len, b->s, b->len);
    }
    if (a->kind == V_INT && b->kind == V_INT) {
        return a->i < b->i ? -1 : a->i > b->i;
    }
    if (a->kind != V_STRING && b->kind != V_STRING && a->kind != V_DOUBLE && b->kind != V_DOUBLE) {
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
static const char *val_cstr(const val *v, char *buf, size_t cap, size_t *len) {
    const char *out;
    size_t n;
    val_text(v, buf, cap, &out, &n);
    if (len != NULL) {
        *len = n;
    }
    return out;
}

static int eval_binary(eval_ctx *c, const nn_sql_expr *e, val *out) {
    val a;
    val b;
    if (eval(c, &e->args[0], &a) < 0) {
        return -1;
    }
    /* AND / OR short-circuit like MySQL (FALSE AND x, TRUE OR x) */
    if (e->op == NN_OP_AND || e->op == NN_OP_OR) {
        int ta = val_truth(&a);
        val_free(&a);
        if ((e->op == NN_OP_AND && ta == 0) || (e->op == NN_OP_OR && ta == 1)) {
            val_int(out, ta);
            return 0;
        }
        if (eval(c, &e->args[1], &b) < 0) {
            return -1;
        }
        int tb = val_truth(&b);
        val_free(&b);
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
    if (eval(c, &e->args[1], &b) < 0) {
        val_free(&a);
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
        if (a.kind == V_NULL || b.kind == V_NULL) {
            val_int(out, a.kind == b.kind);
        } else {
            val_int(out, compare(&a, &b) == 0);
        }
        break;
    case NN_OP_XOR: {
        int ta = val_truth(&a);
        int tb = val_truth(&b);
        ta < 0 || tb < 0 ? val_null(out, NN_MYSQL_TYPE_LONGLONG) : val_int(out, ta != tb);
        break;
    }
    case NN_OP_LIKE: {
        char abuf[64];
        char bbuf[64];
        const char *text = val_cstr(&a, abuf, sizeof(abuf), NULL);
        const char *pattern = val_cstr(&b, bbuf, sizeof(bbuf), NULL);
        if (text == NULL || pattern == NULL) {
            val_null(out, NN_MYSQL_TYPE_LONGLONG);
        } else {
            val_int(out, nn_sql_like(pattern, text) != e->negated);
        }
        break;
    }
    default: /* comparisons */
        if (a.kind == V_NULL || b.kind == V_NULL) {
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
    val_free(&a);
    val_free(&b);
    return rc;
}

/* ------------------------------------------------------------ functions */

/* NOW() and friends: the wall clock in UTC (system_time_zone), moved by a session
 * time_zone of the form +hh:mm. */
static struct tm session_now(eval_ctx *c) {
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

static int call_time(eval_ctx *c, const char *f, val *out, char *buf, size_t cap) {
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
static int call_session(eval_ctx *c, const char *f, val *out) {
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
        out->kind = V_UINT;
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
static int call_concat(eval_ctx *c, const nn_sql_expr *e, bool ws, val *args, val *out) {
    size_t cap = atomic_load(&nn_mysql_session_server(c->ses)->settings)->max_allowed_packet;
    char sepbuf[64];
    size_t sep_len = 0;
    const char *sep = "";
    size_t first = 0;
    if (ws) {
        sep = val_cstr(&args[0], sepbuf, sizeof(sepbuf), &sep_len);
        if (sep == NULL) {
            val_null(out, NN_MYSQL_TYPE_VAR_STRING);
            return 0;
        }
        first = 1;
    }
    size_t total = 0;
    for (size_t i = first; i < e->arg_count; i++) {
        if (args[i].kind == V_NULL) {
            if (!ws) {
                val_null(out, NN_MYSQL_TYPE_VAR_STRING);
                return 0;
            }
            continue;
        }
        char nb[64];
        size_t n;
        val_cstr(&args[i], nb, sizeof(nb), &n);
        total += n + sep_len;
    }
    if (total > cap) {
        return eval_fail(c, ER_TOO_BIG_FOR_PACKET, "HY000",
                         "Result of %s() was larger than max_allowed_packet (%zu) - truncated",
                         e->text, cap);
    }
    char *joined = malloc(total + 1);
    if (joined == NULL) {
        return eval_fail(c, ER_UNKNOWN_ERROR, "HY000", "out of memory");
    }
    size_t k = 0;
    bool any = false;
    for (size_t i = first; i < e->arg_count; i++) {
        if (args[i].kind == V_NULL) {
            continue;
        }
        if (ws && any) {
            memcpy(joined + k, sep, sep_len);
            k += sep_len;
        }
        char nb[64];
        size_t n;
        const char *piece = val_cstr(&args[i], nb, sizeof(nb), &n);
        memcpy(joined + k, piece, n);
        k += n;
        any = true;
    }
    joined[k] = '\0';
    val_string(out, joined, k);
    out->owned = joined;
    return 0;
}

static int call_function(eval_ctx *c, const nn_sql_expr *e, val *out) {
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
        return eval_fail(c, ER_NOT_SUPPORTED_YET, "42000",
                         "This version of nodenet doesn't yet support '%s()' (the "
                         "administrative handler's functions are a subset)",
                         f);
    }
    if (e->arg_count < known[k].min || e->arg_count > known[k].max) {
        return eval_fail(c, 1582, "42000",
                         "Incorrect parameter count in the call to native function '%s'", f);
    }
    val args[NN_SQL_MAX_ARGS];
    size_t evaluated = 0;
    int rc = 0;
    for (; evaluated < e->arg_count; evaluated++) {
        if (eval(c, &e->args[evaluated], &args[evaluated]) < 0) {
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
            while (pick + 1 < e->arg_count && args[pick].kind == V_NULL) {
                pick++;
            }
            *out = args[pick];
            memset(&args[pick], 0, sizeof(args[pick])); /* ownership moves to out */
        } else if (strcmp(f, "nullif") == 0) {
            if (args[0].kind != V_NULL && args[1].kind != V_NULL &&
                compare(&args[0], &args[1]) == 0) {
                val_null(out, args[0].type);
            } else {
                *out = args[0];
                memset(&args[0], 0, sizeof(args[0]));
            }
        } else if (strcmp(f, "if") == 0) {
            size_t pick = val_truth(&args[0]) == 1 ? 1 : 2;
            *out = args[pick];
            memset(&args[pick], 0, sizeof(args[pick]));
        } else if (strcmp(f, "isnull") == 0) {
            val_int(out, args[0].kind == V_NULL);
        } else if (args[0].kind == V_NULL) {
            val_null(out, NN_MYSQL_TYPE_VAR_STRING);
        } else if (strcmp(f, "abs") == 0) {
            if (args[0].kind == V_INT && args[0].i != INT64_MIN) {
                val_int(out, args[0].i < 0 ? -args[0].i : args[0].i);
            } else if (args[0].kind == V_DECIMAL) {
                val_decimal(out, args[0].dec < 0 ? -args[0].dec : args[0].dec, args[0].scale);
            } else if (args[0].kind == V_UINT) {
                *out = args[0];
            } else {
                val_double(out, fabs(val_to_double(&args[0])));
            }
        } else {
            const char *s = val_cstr(&args[0], nb, sizeof(nb), &n);
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
        val_free(&args[i]);
    }
    return rc;
}

/* ---------------------------------------------------------- evaluation */

static int eval_sysvar(eval_ctx *c, const nn_sql_expr *e, val *out) {
    const sysvar *v = sysvar_find(e->text);
    if (v == NULL) {
        return eval_fail(c, NN_ER_UNKNOWN_SYSTEM_VARIABLE, "HY000", "Unknown system variable '%s'",
                         e->text);
    }
    var_ctx vctx = {.ses = c->ses};
    const char *value = sysvar_value(&vctx, v, e->scope);
    if (sysvar_is_null(v, value)) {
        val_null(out, NN_MYSQL_TYPE_VAR_STRING);
        return 0;
    }
    if (v->kind == VAR_INT || v->kind == VAR_BOOL) {
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
static int eval_uservar(eval_ctx *c, const nn_sql_expr *e, val *out) {
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

static int eval_param(eval_ctx *c, const nn_sql_expr *e, val *out) {
    if (c->params == NULL || e->param >= c->param_count) {
        return eval_fail(c, 1210, "HY000", "Incorrect arguments to EXECUTE");
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
        out->kind = V_UINT;
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

static int eval(eval_ctx *c, const nn_sql_expr *e, val *out) {
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
        return eval_fail(c, ER_BAD_FIELD, "42S22", "Unknown column '%s' in '%s'", e->text,
                         c->row_width ? "where clause" : "field list");
    case NN_EXPR_UNARY: {
        val a;
        if (eval(c, &e->args[0], &a) < 0) {
            return -1;
        }
        int rc = 0;
        if (e->op == NN_OP_NOT) {
            int t = val_truth(&a);
            t < 0 ? val_null(out, NN_MYSQL_TYPE_LONGLONG) : val_int(out, !t);
        } else if (a.kind == V_NULL) {
            val_null(out, NN_MYSQL_TYPE_NULL);
        } else if (e->op == NN_OP_BITNOT) {
            memset(out, 0, sizeof(*out));
            out->kind = V_UINT;
            out->type = NN_MYSQL_TYPE_LONGLONG;
            double d = val_to_double(&a);
            out->u = a.kind == V_UINT   ? ~a.u
                     : a.kind == V_INT  ? ~(uint64_t)a.i
                     : fabs(d) < 9.2e18 ? ~(uint64_t)(int64_t)d
                                        : 0; /* MySQL saturates; out of range here is 0 */
        } else {
            val zero;
            val_int(&zero, 0);
            rc = arith(c, NN_OP_SUB, &zero, &a, out);
        }
        val_free(&a);
        return rc;
    }
    case NN_EXPR_BINARY:
        return eval_binary(c, e, out);
    case NN_EXPR_IS_NULL: {
        val a;
        if (eval(c, &e->args[0], &a) < 0) {
            return -1;
        }
        val_int(out, (a.kind == V_NULL) != e->negated);
        val_free(&a);
        return 0;
    }
    case NN_EXPR_IN: {
        val a;
        if (eval(c, &e->args[0], &a) < 0) {
            return -1;
        }
        bool found = false;
        bool saw_null = a.kind == V_NULL;
        for (size_t i = 1; i < e->arg_count && !found && a.kind != V_NULL; i++) {
            val b;
            if (eval(c, &e->args[i], &b) < 0) {
                val_free(&a);
                return -1;
            }
            if (b.kind == V_NULL) {
                saw_null = true;
            } else {
                found = compare(&a, &b) == 0;
            }
            val_free(&b);
        }
        val_free(&a);
        if (!found && saw_null) {
            val_null(out, NN_MYSQL_TYPE_LONGLONG);
        } else {
            val_int(out, found != e->negated);
        }
        return 0;
    }
    }
    return eval_fail(c, ER_UNKNOWN_ERROR, "HY000", "unknown expression");
}

static void answer_eval_error(nn_mysql_session *ses, const eval_ctx *c) {
    nn_mysql_session_error(ses, c->code, c->sqlstate, "%s", c->message);
}

/* Whether a SHOW row passes LIKE (on its first column) or WHERE. -1 on an error (answered). */
static int row_matches(nn_mysql_session *ses, const nn_sql_stmt *st, const eval_ctx *base,
                       const char *const *names, const char *const *values, size_t width) {
    if (st->like != NULL) {
        return nn_sql_like(st->like, values[0]);
    }
    if (st->where == NULL) {
        return 1;
    }
    eval_ctx c = *base;
    c.row_names = names;
    c.row_values = values;
    c.row_width = width;
    val v;
    if (eval(&c, st->where, &v) < 0) {
        answer_eval_error(ses, &c);
        return -1;
    }
    int t = val_truth(&v);
    val_free(&v);
    return t == 1;
}

/* ------------------------------------------------------------- SELECT */

static void run_select(nn_mysql_session *ses, const nn_sql_stmt *st, const eval_ctx *base) {
    if (st->from != NULL) {
        nn_mysql_session_error(ses, ER_NOT_SUPPORTED_YET, "42000",
                               "This version of nodenet doesn't yet support 'SELECT ... FROM %s' "
                               "(the administrative handler has no tables)",
                               st->from);
        return;
    }
    eval_ctx c = *base;
    val vals[NN_SQL_MAX_ITEMS];
    size_t done = 0;
    for (; done < st->item_count; done++) {
        if (eval(&c, &st->items[done], &vals[done]) < 0) {
            break;
        }
    }
    bool row = true;
    if (!c.failed && st->where != NULL) {
        val w;
        if (eval(&c, st->where, &w) == 0) {
            row = val_truth(&w) == 1;
            val_free(&w);
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
            val_text(&vals[i], bufs[i], sizeof(bufs[i]), &values[i], &lens[i]);
        }
        if (row) {
            nn_mysql_session_result_row(ses, values, lens);
        }
        nn_mysql_session_result_end(ses);
    }
    for (size_t i = 0; i < done; i++) {
        val_free(&vals[i]);
    }
}

static void run_do(nn_mysql_session *ses, const nn_sql_stmt *st, const eval_ctx *base) {
    eval_ctx c = *base;
    for (size_t i = 0; i < st->item_count; i++) {
        val v;
        if (eval(&c, &st->items[i], &v) < 0) {
            answer_eval_error(ses, &c);
            return;
        }
        val_free(&v);
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

static int pending_add(eval_ctx *c, pending_set *ps, const char *name, const char *value,
                       size_t len) {
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return eval_fail(c, ER_UNKNOWN_ERROR, "HY000", "out of memory");
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

static int check_names(eval_ctx *c, const nn_sql_assign *a, pending_set *ps) {
    const char *name = a->value.text;
    const charset *cs = strcmp(name, "default") == 0 ? charset_find("utf8mb4") : charset_find(name);
    if (cs == NULL) {
        return eval_fail(c, ER_UNKNOWN_CHARACTER_SET, "42000", "Unknown character set: '%s'", name);
    }
    const char *coll = cs->default_collation;
    if (a->collation != NULL) {
        const collation *co = collation_find(a->collation);
        if (co == NULL) {
            return eval_fail(c, ER_UNKNOWN_COLLATION, "HY000", "Unknown collation: '%s'",
                             a->collation);
        }
        if (strcmp(co->charset, cs->name) != 0) {
            return eval_fail(c, ER_COLLATION_CHARSET_MISMATCH, "42000",
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

static int check_sysvar(eval_ctx *c, const nn_sql_assign *a, pending_set *ps) {
    const sysvar *v = sysvar_find(a->name);
    if (v == NULL) {
        return eval_fail(c, NN_ER_UNKNOWN_SYSTEM_VARIABLE, "HY000", "Unknown system variable '%s'",
                         a->name);
    }
    if (a->scope == NN_SCOPE_GLOBAL) {
        return eval_fail(c, NN_ER_SPECIFIC_ACCESS_DENIED, "42000",
                         "Access denied; you need (at least one of) the SUPER or "
                         "SYSTEM_VARIABLES_ADMIN privilege(s) for this operation");
    }
    if (a->value.kind == NN_EXPR_IDENT && strcasecmp(a->value.text, "DEFAULT") == 0) {
        var_ctx vctx = {.ses = c->ses};
        const char *def = sysvar_value(&vctx, v, NN_SCOPE_GLOBAL);
        return pending_add(c, ps, v->name, def, strlen(def));
    }
    val value;
    if (eval(c, &a->value, &value) < 0) {
        return -1;
    }
    char buf[64];
    size_t len;
    const char *text = val_cstr(&value, buf, sizeof(buf), &len);
    int rc = 0;
    if (text == NULL) {
        rc = strcmp(v->name, "character_set_results") == 0
                 ? pending_add(c, ps, v->name, "", 0)
                 : eval_fail(c, ER_WRONG_VALUE_FOR_VAR, "42000",
                             "Variable '%s' can't be set to the value of 'NULL'", v->name);
    } else if (v->kind == VAR_BOOL) {
        int on = -1;
        if (value.kind == V_INT && (value.i == 0 || value.i == 1)) {
            on = (int)value.i;
        } else if (value.kind == V_STRING) {
            on = strcasecmp(text, "ON") == 0 || strcasecmp(text, "TRUE") == 0     ? 1
                 : strcasecmp(text, "OFF") == 0 || strcasecmp(text, "FALSE") == 0 ? 0
                                                                                  : -1;
        }
        rc = on < 0 ? eval_fail(c, ER_WRONG_VALUE_FOR_VAR, "42000",
                                "Variable '%s' can't be set to the value of '%.64s'", v->name, text)
                    : pending_add(c, ps, v->name, on ? "1" : "0", 1);
    } else if (v->kind == VAR_INT) {
        rc = value.kind != V_INT && value.kind != V_UINT
                 ? eval_fail(c, ER_WRONG_TYPE_FOR_VAR, "42000",
                             "Incorrect argument type to variable '%s'", v->name)
                 : pending_add(c, ps, v->name, text, len);
    } else if (v->kind == VAR_CHARSET) {
        const charset *cs = charset_find(text);
        rc = cs == NULL ? eval_fail(c, ER_UNKNOWN_CHARACTER_SET, "42000",
                                    "Unknown character set: '%.64s'", text)
                        : pending_add(c, ps, v->name, cs->name, strlen(cs->name));
    } else if (v->kind == VAR_COLLATION) {
        const collation *co = collation_find(text);
        if (co == NULL) {
            rc = eval_fail(c, ER_UNKNOWN_COLLATION, "HY000", "Unknown collation: '%.64s'", text);
        } else {
            rc = pending_add(c, ps, v->name, co->name, strlen(co->name));
            if (rc == 0 && strcmp(v->name, "collation_connection") == 0) {
                rc = pending_add(c, ps, "character_set_connection", co->charset,
                                 strlen(co->charset));
            }
        }
    } else if (len > SYSVAR_VALUE_MAX) {
        rc = eval_fail(c, ER_WRONG_VALUE_FOR_VAR, "42000",
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
    if (rc == 0 && v->kind == VAR_BOOL) {
        const char *twin = strcmp(v->name, "transaction_read_only") == 0 ? "tx_read_only"
                           : strcmp(v->name, "tx_read_only") == 0        ? "transaction_read_only"
                                                                         : NULL;
        if (twin != NULL) {
            rc = pending_add(c, ps, twin, ps->values[ps->count - 1], 1);
        }
    }
    val_free(&value);
    return rc;
}

static int check_uservar(eval_ctx *c, const nn_sql_assign *a, pending_set *ps) {
    val value;
    c->set_context = false; /* SET @x = word: a column name, which we have none of */
    int rc = eval(c, &a->value, &value);
    c->set_context = true;
    if (rc < 0) {
        return -1;
    }
    char buf[64];
    size_t len;
    const char *text = val_cstr(&value, buf, sizeof(buf), &len);
    if (len > USERVAR_VALUE_MAX) {
        val_free(&value);
        return eval_fail(c, ER_UNKNOWN_ERROR, "HY000",
                         "user variable '%s' cannot hold more than %d bytes", a->name + 1,
                         USERVAR_VALUE_MAX);
    }
    char tag = value.kind == V_NULL     ? 'n'
               : value.kind == V_STRING ? 's'
               : value.kind == V_DOUBLE ? 'd'
                                        : 'm'; /* integers and decimals read back as literals */
    char *tagged = malloc(len + 2);
    if (tagged == NULL) {
        val_free(&value);
        return eval_fail(c, ER_UNKNOWN_ERROR, "HY000", "out of memory");
    }
    tagged[0] = tag;
    if (text != NULL) {
        memcpy(tagged + 1, text, len);
    }
    tagged[text ? len + 1 : 1] = '\0';
    val_free(&value);
    ps->names[ps->count] = a->name;
    ps->values[ps->count++] = tagged;
    return 0;
}

static void run_set(nn_mysql_session *ses, const nn_sql_stmt *st, const eval_ctx *base) {
    /* Check and evaluate everything first: SET is all or nothing. */
    eval_ctx c = *base;
    c.set_context = true;
    pending_set *ps = calloc(st->assign_count ? st->assign_count : 1, sizeof(*ps));
    if (ps == NULL) {
        nn_mysql_session_error(ses, ER_UNKNOWN_ERROR, "HY000", "out of memory");
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
            nn_mysql_session_error(ses, ER_UNKNOWN_ERROR, "HY000", "too many session variables");
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

static void show_status(nn_mysql_session *ses, const nn_sql_stmt *st, const eval_ctx *base) {
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
static const char *sysvar_show(const sysvar *v, const char *value) {
    if (v->kind == VAR_BOOL) {
        return strcmp(value, "1") == 0 || strcasecmp(value, "ON") == 0 ? "ON" : "OFF";
    }
    return value;
}

static void show_variables(nn_mysql_session *ses, const nn_sql_stmt *st, const eval_ctx *base) {
    static const char *const names[] = {"Variable_name", "Value"};
    bool pass[SYSVAR_COUNT];
    for (size_t i = 0; i < SYSVAR_COUNT; i++) {
        var_ctx ctx = {.ses = ses};
        const char *row[2] = {sysvars[i].name,
                              sysvar_show(&sysvars[i], sysvar_value(&ctx, &sysvars[i], st->scope))};
        int m = row_matches(ses, st, base, names, row, 2);
        if (m < 0) {
            return;
        }
        pass[i] = m;
    }
    two_column_result(ses, names[0], names[1]);
    for (size_t i = 0; i < SYSVAR_COUNT; i++) {
        if (pass[i]) {
            var_ctx ctx = {.ses = ses};
            const char *row[2] = {
                sysvars[i].name,
                sysvar_show(&sysvars[i], sysvar_value(&ctx, &sysvars[i], st->scope))};
            nn_mysql_session_result_row(ses, row, NULL);
        }
    }
    nn_mysql_session_result_end(ses);
}

/* SHOW COLLATION: MySQL 8.0's columns and rows. */
static void show_collation(nn_mysql_session *ses, const nn_sql_stmt *st, const eval_ctx *base) {
    static const char *const names[] = {"Collation", "Charset", "Id",           "Default",
                                        "Compiled",  "Sortlen", "Pad_attribute"};
    bool pass[COLLATION_COUNT];
    char ids[COLLATION_COUNT][8];
    char sortlens[COLLATION_COUNT][8];
    const char *rows[COLLATION_COUNT][7];
    for (size_t i = 0; i < COLLATION_COUNT; i++) {
        const collation *co = &collations[i];
        snprintf(ids[i], sizeof(ids[i]), "%d", co->id);
        snprintf(sortlens[i], sizeof(sortlens[i]), "%d", co->sortlen);
        const charset *cs = charset_find(co->charset);
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
    for (size_t i = 0; i < COLLATION_COUNT; i++) {
        if (pass[i]) {
            nn_mysql_session_result_row(ses, rows[i], NULL);
        }
    }
    nn_mysql_session_result_end(ses);
}

/* SHOW CHARACTER SET: MySQL 8.0's columns and rows. */
static void show_charset(nn_mysql_session *ses, const nn_sql_stmt *st, const eval_ctx *base) {
    static const char *const names[] = {"Charset", "Description", "Default collation", "Maxlen"};
    bool pass[CHARSET_COUNT];
    char maxlens[CHARSET_COUNT][4];
    const char *rows[CHARSET_COUNT][4];
    for (size_t i = 0; i < CHARSET_COUNT; i++) {
        const charset *cs = &charsets[i];
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
    for (size_t i = 0; i < CHARSET_COUNT; i++) {
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
    eval_ctx base = {.ses = ses, .params = params, .param_count = n};
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
        nn_mysql_session_error(ses, ER_NOT_SUPPORTED_YET, "42000",
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
        nn_mysql_session_ok(ses, 0, 0, NULL);
        break;
    }
    nn_sql_stmt_clear(&st);
}

void nn_mysql_admin_init_db(nn_mysql_session *ses, const char *db, size_t len) {
    nn_mysql_session_set_database(ses, db, len);
    nn_mysql_session_ok(ses, 0, 0, NULL);
}
