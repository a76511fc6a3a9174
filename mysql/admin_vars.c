/* mysql/admin_vars.c: the administrative handler's system variables, and MySQL 8.0's
 * character sets and collations (SHOW CHARACTER SET / COLLATION, SET NAMES). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mysql/admin_internal.h"

/* ----------------------------------------------------------- variables */

/* Sorted by name (SHOW VARIABLES lists them in this order, as MySQL does). */
const nn_mysql_sysvar nn_mysql_sysvars[] = {
    {"auto_increment_increment", NN_MYSQL_VAR_INT, "1"},
    {"auto_increment_offset", NN_MYSQL_VAR_INT, "1"},
    {"autocommit", NN_MYSQL_VAR_BOOL, "1"},
    {"character_set_client", NN_MYSQL_VAR_CHARSET, "utf8mb4"},
    {"character_set_connection", NN_MYSQL_VAR_CHARSET, "utf8mb4"},
    {"character_set_database", NN_MYSQL_VAR_CHARSET, "utf8mb4"},
    {"character_set_filesystem", NN_MYSQL_VAR_CHARSET, "binary"},
    {"character_set_results", NN_MYSQL_VAR_CHARSET, "utf8mb4"},
    {"character_set_server", NN_MYSQL_VAR_CHARSET, "utf8mb4"},
    {"character_set_system", NN_MYSQL_VAR_CHARSET, "utf8mb3"},
    {"collation_connection", NN_MYSQL_VAR_COLLATION, "utf8mb4_general_ci"},
    {"collation_database", NN_MYSQL_VAR_COLLATION, "utf8mb4_general_ci"},
    {"collation_server", NN_MYSQL_VAR_COLLATION, "utf8mb4_general_ci"},
    {"connect_timeout", NN_MYSQL_VAR_INT, "10"},
    {"default_authentication_plugin", NN_MYSQL_VAR_STR, NULL},
    {"div_precision_increment", NN_MYSQL_VAR_INT, "4"},
    {"error_count", NN_MYSQL_VAR_INT, "0"},
    {"foreign_key_checks", NN_MYSQL_VAR_BOOL, "1"},
    {"have_openssl", NN_MYSQL_VAR_STR, NULL},
    {"have_ssl", NN_MYSQL_VAR_STR, NULL},
    {"init_connect", NN_MYSQL_VAR_STR, ""},
    {"interactive_timeout", NN_MYSQL_VAR_INT, NULL},
    {"license", NN_MYSQL_VAR_STR, "Apache-2.0"},
    {"lower_case_table_names", NN_MYSQL_VAR_INT, "0"},
    {"max_allowed_packet", NN_MYSQL_VAR_INT, NULL},
    {"max_execution_time", NN_MYSQL_VAR_INT, "0"},
    {"net_buffer_length", NN_MYSQL_VAR_INT, "16384"},
    {"net_read_timeout", NN_MYSQL_VAR_INT, "30"},
    {"net_write_timeout", NN_MYSQL_VAR_INT, "60"},
    {"performance_schema", NN_MYSQL_VAR_BOOL, "0"},
    {"protocol_version", NN_MYSQL_VAR_INT, "10"},
    {"query_cache_size", NN_MYSQL_VAR_INT, "0"},
    {"query_cache_type", NN_MYSQL_VAR_STR, "OFF"},
    {"require_secure_transport", NN_MYSQL_VAR_BOOL, NULL},
    {"session_track_gtids", NN_MYSQL_VAR_STR, "OFF"},
    {"session_track_schema", NN_MYSQL_VAR_BOOL, "1"},
    {"session_track_state_change", NN_MYSQL_VAR_BOOL, "0"},
    {"session_track_system_variables", NN_MYSQL_VAR_STR,
     "time_zone,autocommit,character_set_client,character_set_results,character_set_connection"},
    {"session_track_transaction_info", NN_MYSQL_VAR_STR, "OFF"},
    {"sql_auto_is_null", NN_MYSQL_VAR_BOOL, "0"},
    {"sql_mode", NN_MYSQL_VAR_STR,
     "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
     "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"},
    {"sql_safe_updates", NN_MYSQL_VAR_BOOL, "0"},
    {"sql_select_limit", NN_MYSQL_VAR_INT, "18446744073709551615"},
    {"system_time_zone", NN_MYSQL_VAR_STR, "UTC"},
    {"time_zone", NN_MYSQL_VAR_STR, "SYSTEM"},
    {"tls_version", NN_MYSQL_VAR_STR, "TLSv1.2,TLSv1.3"},
    {"transaction_isolation", NN_MYSQL_VAR_STR, "REPEATABLE-READ"},
    {"transaction_read_only", NN_MYSQL_VAR_BOOL, "0"},
    {"tx_isolation", NN_MYSQL_VAR_STR, "REPEATABLE-READ"},
    {"tx_read_only", NN_MYSQL_VAR_BOOL, "0"},
    {"unique_checks", NN_MYSQL_VAR_BOOL, "1"},
    {"version", NN_MYSQL_VAR_STR, NULL},
    {"version_comment", NN_MYSQL_VAR_STR, "nodenet"},
    {"version_compile_machine", NN_MYSQL_VAR_STR, "x86_64"},
    {"version_compile_os", NN_MYSQL_VAR_STR, "Linux"},
    {"wait_timeout", NN_MYSQL_VAR_INT, NULL},
    {"warning_count", NN_MYSQL_VAR_INT, "0"},
};
_Static_assert(sizeof(nn_mysql_sysvars) / sizeof(nn_mysql_sysvars[0]) == NN_MYSQL_SYSVAR_COUNT,
               "NN_MYSQL_SYSVAR_COUNT in admin_internal.h");

const nn_mysql_sysvar *nn_mysql_sysvar_find(const char *name) {
    for (size_t i = 0; i < NN_MYSQL_SYSVAR_COUNT; i++) {
        if (strcmp(nn_mysql_sysvars[i].name, name) == 0) {
            return &nn_mysql_sysvars[i];
        }
    }
    return NULL;
}

/* The value a variable has for this session (session settings first). */
const char *nn_mysql_sysvar_value(nn_mysql_var_ctx *ctx, const nn_mysql_sysvar *v,
                                  nn_sql_scope scope) {
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
    if (strcmp(v->name, "default_authentication_plugin") == 0) {
        return s->default_plugin;
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
bool nn_mysql_sysvar_is_null(const nn_mysql_sysvar *v, const char *value) {
    return v->kind == NN_MYSQL_VAR_CHARSET && value[0] == '\0';
}

/* ------------------------------------------------- character sets, nn_mysql_collations */

/* MySQL 8.0's rows (SHOW CHARACTER SET / SHOW COLLATION), so that drivers that map ids to
 * character sets find the ones they know. Every character set with its default collation,
 * plus the other nn_mysql_collations drivers commonly name. */

const nn_mysql_charset nn_mysql_charsets[] = {
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
_Static_assert(sizeof(nn_mysql_charsets) / sizeof(nn_mysql_charsets[0]) == NN_MYSQL_CHARSET_COUNT,
               "NN_MYSQL_CHARSET_COUNT in admin_internal.h");

/* In id order, as SHOW COLLATION's rows are compared by drivers' tables. */
const nn_mysql_collation nn_mysql_collations[] = {
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
_Static_assert(sizeof(nn_mysql_collations) / sizeof(nn_mysql_collations[0]) ==
                   NN_MYSQL_COLLATION_COUNT,
               "NN_MYSQL_COLLATION_COUNT in admin_internal.h");

/* "utf8" is MySQL 8's alias of utf8mb3 (and utf8_* of utf8mb3_*). */
const nn_mysql_charset *nn_mysql_charset_find(const char *name) {
    if (strcasecmp(name, "utf8") == 0) {
        name = "utf8mb3";
    }
    for (size_t i = 0; i < NN_MYSQL_CHARSET_COUNT; i++) {
        if (strcasecmp(nn_mysql_charsets[i].name, name) == 0) {
            return &nn_mysql_charsets[i];
        }
    }
    return NULL;
}

const nn_mysql_collation *nn_mysql_collation_find(const char *name) {
    char alias[96];
    if (strncasecmp(name, "utf8_", 5) == 0 && strlen(name) < sizeof(alias) - 3) {
        snprintf(alias, sizeof(alias), "utf8mb3_%s", name + 5);
        name = alias;
    }
    for (size_t i = 0; i < NN_MYSQL_COLLATION_COUNT; i++) {
        if (strcasecmp(nn_mysql_collations[i].name, name) == 0) {
            return &nn_mysql_collations[i];
        }
    }
    return NULL;
}
