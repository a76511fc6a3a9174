/* The cluster config: libcyaml reads cluster.yaml against a declared schema into a raw
 * form, then the checks libcyaml cannot express (ranges, uniqueness, files, contradictions)
 * turn it into an nn_config with absolute paths. libcyaml reports its mistakes through its
 * log callback as a message plus a backtrace; we capture both and rewrite them as one
 * "file: key.path: reason" line. */
#include <arpa/inet.h>
#include <cyaml/cyaml.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/node.h"

/* A config is a few kilobytes; a bound keeps a wrong path (a log, a device) cheap. */
#define CONFIG_MAX_BYTES (1u << 20)

/* ------------------------------------------------------------- raw schema */

typedef struct raw_node {
    char *name;
    char *host;
    int64_t *mysql_port;
    int64_t *rpc_port;
    int64_t *metrics_port;
} raw_node;

typedef struct raw_cluster {
    char *name;
    int64_t id;
} raw_cluster;

typedef struct raw_security {
    char *ca_file;
    char *cert_file;
    char *key_file;
    char *wallet_dir;
    int *mysql_tls;
    int *require_secure_transport;
    int *rpc_tls;
    int *tls_min_version;
    int *rpc_tls_min_version;
    char *crl_file;
    char *ciphers;
    char **tool_subjects;
    unsigned tool_subjects_count;
    char *admin_cert_file;
    char *admin_key_file;
    int64_t *cert_warn_days;
    int *metrics_tls;
} raw_security;

typedef struct raw_node_section {
    int64_t *workers;
    char *data_dir;
    int64_t *max_connections;
    int64_t *handshake_timeout_ms;
    int64_t *idle_timeout_ms;
    int64_t *call_timeout_ms;
    int64_t *heartbeat_ms;
    int64_t *max_peer_queue_bytes;
    int64_t *peer_stall_timeout_ms;
    int64_t *max_frame_bytes;
    int64_t *max_packet_bytes;
    int *log_level;
    int *default_authentication_plugin;
} raw_node_section;

typedef struct raw_config {
    raw_cluster *cluster;
    raw_node *nodes;
    unsigned nodes_count;
    raw_security *security;
    raw_node_section *node;
} raw_config;

/* YAML 1.1 booleans as the design writes them ("mysql_tls: on"). libcyaml 1.3's own BOOL
 * takes any unknown word as true ("maybe" -> true), so booleans are a strict enum. */
static const cyaml_strval_t bool_strings[] = {
    {"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0}, {"on", 1}, {"off", 0},
};
static const cyaml_strval_t rpc_tls_strings[] = {
    {"off", NN_CONFIG_RPC_TLS_OFF},
    {"prefer", NN_CONFIG_RPC_TLS_PREFER},
    {"require", NN_CONFIG_RPC_TLS_REQUIRE},
};
static const cyaml_strval_t tls_version_strings[] = {{"1.2", 12}, {"1.3", 13}};
/* 1 = mysql_native_password (nn_config.node.native_password_default). */
static const cyaml_strval_t auth_plugin_strings[] = {
    {"caching_sha2_password", 0},
    {"mysql_native_password", 1},
};
static const cyaml_strval_t log_level_strings[] = {
    {"debug", NN_LOG_DEBUG},
    {"info", NN_LOG_INFO},
    {"warn", NN_LOG_WARN},
    {"error", NN_LOG_ERROR},
};

#define OPT CYAML_FLAG_OPTIONAL
#define STRICT (CYAML_FLAG_STRICT | CYAML_FLAG_CASE_INSENSITIVE)

static const cyaml_schema_field_t node_fields[] = {
    CYAML_FIELD_STRING_PTR("name", CYAML_FLAG_POINTER, raw_node, name, 0, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("host", CYAML_FLAG_POINTER, raw_node, host, 0, CYAML_UNLIMITED),
    CYAML_FIELD_INT_PTR("mysql_port", OPT, raw_node, mysql_port),
    CYAML_FIELD_INT_PTR("rpc_port", OPT, raw_node, rpc_port),
    CYAML_FIELD_INT_PTR("metrics_port", OPT, raw_node, metrics_port),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t node_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, raw_node, node_fields),
};

static const cyaml_schema_field_t cluster_fields[] = {
    CYAML_FIELD_STRING_PTR("name", CYAML_FLAG_POINTER, raw_cluster, name, 0, CYAML_UNLIMITED),
    CYAML_FIELD_INT("id", CYAML_FLAG_DEFAULT, raw_cluster, id),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t subject_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t security_fields[] = {
    CYAML_FIELD_STRING_PTR("ca_file", CYAML_FLAG_POINTER | OPT, raw_security, ca_file, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("cert_file", CYAML_FLAG_POINTER | OPT, raw_security, cert_file, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("key_file", CYAML_FLAG_POINTER | OPT, raw_security, key_file, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("wallet_dir", CYAML_FLAG_POINTER | OPT, raw_security, wallet_dir, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_ENUM_PTR("mysql_tls", OPT | STRICT, raw_security, mysql_tls, bool_strings,
                         CYAML_ARRAY_LEN(bool_strings)),
    CYAML_FIELD_ENUM_PTR("require_secure_transport", OPT | STRICT, raw_security,
                         require_secure_transport, bool_strings, CYAML_ARRAY_LEN(bool_strings)),
    CYAML_FIELD_ENUM_PTR("rpc_tls", OPT | STRICT, raw_security, rpc_tls, rpc_tls_strings,
                         CYAML_ARRAY_LEN(rpc_tls_strings)),
    CYAML_FIELD_ENUM_PTR("tls_min_version", OPT | STRICT, raw_security, tls_min_version,
                         tls_version_strings, CYAML_ARRAY_LEN(tls_version_strings)),
    CYAML_FIELD_ENUM_PTR("rpc_tls_min_version", OPT | STRICT, raw_security, rpc_tls_min_version,
                         tls_version_strings, CYAML_ARRAY_LEN(tls_version_strings)),
    CYAML_FIELD_STRING_PTR("crl_file", CYAML_FLAG_POINTER | OPT, raw_security, crl_file, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("ciphers", CYAML_FLAG_POINTER | OPT, raw_security, ciphers, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_SEQUENCE("tool_subjects", CYAML_FLAG_POINTER | OPT, raw_security, tool_subjects,
                         &subject_entry, 0, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("admin_cert_file", CYAML_FLAG_POINTER | OPT, raw_security,
                           admin_cert_file, 0, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("admin_key_file", CYAML_FLAG_POINTER | OPT, raw_security, admin_key_file,
                           0, CYAML_UNLIMITED),
    CYAML_FIELD_INT_PTR("cert_warn_days", OPT, raw_security, cert_warn_days),
    CYAML_FIELD_ENUM_PTR("metrics_tls", OPT | STRICT, raw_security, metrics_tls, bool_strings,
                         CYAML_ARRAY_LEN(bool_strings)),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t node_section_fields[] = {
    CYAML_FIELD_INT_PTR("workers", OPT, raw_node_section, workers),
    CYAML_FIELD_STRING_PTR("data_dir", CYAML_FLAG_POINTER | OPT, raw_node_section, data_dir, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_INT_PTR("max_connections", OPT, raw_node_section, max_connections),
    CYAML_FIELD_INT_PTR("handshake_timeout_ms", OPT, raw_node_section, handshake_timeout_ms),
    CYAML_FIELD_INT_PTR("idle_timeout_ms", OPT, raw_node_section, idle_timeout_ms),
    CYAML_FIELD_INT_PTR("call_timeout_ms", OPT, raw_node_section, call_timeout_ms),
    CYAML_FIELD_INT_PTR("heartbeat_ms", OPT, raw_node_section, heartbeat_ms),
    CYAML_FIELD_INT_PTR("max_peer_queue_bytes", OPT, raw_node_section, max_peer_queue_bytes),
    CYAML_FIELD_INT_PTR("peer_stall_timeout_ms", OPT, raw_node_section, peer_stall_timeout_ms),
    CYAML_FIELD_INT_PTR("max_frame_bytes", OPT, raw_node_section, max_frame_bytes),
    CYAML_FIELD_INT_PTR("max_packet_bytes", OPT, raw_node_section, max_packet_bytes),
    CYAML_FIELD_ENUM_PTR("log_level", OPT | STRICT, raw_node_section, log_level, log_level_strings,
                         CYAML_ARRAY_LEN(log_level_strings)),
    CYAML_FIELD_ENUM_PTR("default_authentication_plugin", OPT | STRICT, raw_node_section,
                         default_authentication_plugin, auth_plugin_strings,
                         CYAML_ARRAY_LEN(auth_plugin_strings)),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t top_fields[] = {
    CYAML_FIELD_MAPPING_PTR("cluster", CYAML_FLAG_DEFAULT, raw_config, cluster, cluster_fields),
    CYAML_FIELD_SEQUENCE("nodes", CYAML_FLAG_POINTER, raw_config, nodes, &node_entry, 1,
                         CYAML_UNLIMITED),
    CYAML_FIELD_MAPPING_PTR("security", OPT, raw_config, security, security_fields),
    CYAML_FIELD_MAPPING_PTR("node", OPT, raw_config, node, node_section_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t top_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, raw_config, top_fields),
};

/* ------------------------------------------- libcyaml's messages, rewritten */

#define MAX_FRAMES 16

typedef enum frame_kind { FRAME_FIELD, FRAME_ENTRY, FRAME_MAPPING } frame_kind;

typedef struct cyaml_frame {
    frame_kind kind;
    char name[64];  /* field key, or the 1-based entry number */
    unsigned line;
} cyaml_frame;

/* What libcyaml said about the first error: its message and the backtrace frames,
 * innermost first. */
typedef struct cyaml_capture {
    char pending[512]; /* a line being assembled across log calls */
    size_t pending_len;
    char message[256];
    bool have_message;
    cyaml_frame frames[MAX_FRAMES];
    size_t frame_count;
} cyaml_capture;

static void capture_line(cyaml_capture *cap, const char *line) {
    while (*line == ' ') {
        line++;
    }
    if (strncmp(line, "Load: ", 6) == 0) {
        line += 6;
    }
    if (strcmp(line, "Backtrace:") == 0 || *line == '\0') {
        return;
    }
    if (strncmp(line, "in ", 3) == 0) {
        if (!cap->have_message || cap->frame_count == MAX_FRAMES) {
            return;
        }
        cyaml_frame *f = &cap->frames[cap->frame_count];
        const char *mark = strstr(line, "(line: ");
        f->line = mark != NULL ? (unsigned)strtoul(mark + 7, NULL, 10) : 0;
        f->name[0] = '\0';
        const char *q = strchr(line, '\'');
        const char *q2 = q != NULL ? strchr(q + 1, '\'') : NULL;
        if (q != NULL && q2 != NULL) {
            size_t n = (size_t)(q2 - q - 1);
            if (n >= sizeof(f->name)) {
                n = sizeof(f->name) - 1;
            }
            memcpy(f->name, q + 1, n);
            f->name[n] = '\0';
        }
        if (strncmp(line, "in mapping field", 16) == 0) {
            f->kind = FRAME_FIELD;
        } else if (strncmp(line, "in sequence entry", 17) == 0) {
            f->kind = FRAME_ENTRY;
        } else {
            f->kind = FRAME_MAPPING;
        }
        cap->frame_count++;
        return;
    }
    if (!cap->have_message) {
        snprintf(cap->message, sizeof(cap->message), "%s", line);
        cap->have_message = true;
    }
}

static void capture_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args) {
    cyaml_capture *cap = ctx;
    char chunk[512];
    int n = vsnprintf(chunk, sizeof(chunk), fmt, args);
    if (n < 0) {
        return;
    }
    /* libcyaml may split a line over several calls; a line ends at '\n'. */
    for (const char *c = chunk; *c != '\0'; c++) {
        if (*c == '\n') {
            cap->pending[cap->pending_len] = '\0';
            capture_line(cap, cap->pending);
            cap->pending_len = 0;
        } else if (cap->pending_len + 1 < sizeof(cap->pending)) {
            cap->pending[cap->pending_len++] = *c;
        }
    }
}

/* What a value of each enum key may be, for "invalid value" messages. */
static const char *expected_values(const char *key) {
    if (strcmp(key, "rpc_tls") == 0) {
        return "off, prefer or require";
    }
    if (strcmp(key, "tls_min_version") == 0 || strcmp(key, "rpc_tls_min_version") == 0) {
        return "\"1.2\" or \"1.3\"";
    }
    if (strcmp(key, "log_level") == 0) {
        return "debug, info, warn or error";
    }
    if (strcmp(key, "default_authentication_plugin") == 0) {
        return "caching_sha2_password or mysql_native_password";
    }
    if (strcmp(key, "mysql_tls") == 0 || strcmp(key, "require_secure_transport") == 0 ||
        strcmp(key, "metrics_tls") == 0) {
        return "true or false; yes/no and on/off also work";
    }
    return "a known value";
}

static const char *describe_schema_type(const char *type, const char *key) {
    if (strcmp(type, "INT") == 0) {
        return "an integer";
    }
    if (strcmp(type, "STRING") == 0) {
        return "a string";
    }
    if (strcmp(type, "SEQUENCE") == 0) {
        return "a list";
    }
    if (strcmp(type, "MAPPING") == 0) {
        return "a mapping";
    }
    if (strcmp(type, "ENUM") == 0) {
        return expected_values(key);
    }
    return type;
}

static const char *describe_event(const char *event) {
    if (strncmp(event, "MAPPING_START", 13) == 0) {
        return "a mapping";
    }
    if (strncmp(event, "SEQUENCE_START", 14) == 0) {
        return "a list";
    }
    if (strncmp(event, "SCALAR", 6) == 0) {
        return "a single value";
    }
    return event;
}

/* Appends the path of frames [from, count) (outermost last in the array) to out. */
static void path_build(const cyaml_capture *cap, size_t from, char *out, size_t cap_len) {
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = cap->frame_count; i > from; i--) {
        const cyaml_frame *f = &cap->frames[i - 1];
        int n = 0;
        if (f->kind == FRAME_FIELD) {
            n = snprintf(out + len, cap_len - len, "%s%s", len > 0 ? "." : "", f->name);
        } else if (f->kind == FRAME_ENTRY) {
            unsigned long index = strtoul(f->name, NULL, 10);
            n = snprintf(out + len, cap_len - len, "[%lu]", index > 0 ? index - 1 : 0);
        }
        if (n < 0 || (size_t)n >= cap_len - len) {
            return;
        }
        len += (size_t)n;
    }
}

static void path_append(char *path, size_t cap_len, const char *key) {
    size_t len = strlen(path);
    snprintf(path + len, cap_len - len, "%s%s", len > 0 ? "." : "", key);
}

/* Turns the capture into err: "<file>: <path>: <reason> (line N)". */
static int capture_to_err(const cyaml_capture *cap, cyaml_err_t code, const char *file,
                          nn_err *err) {
    char path[256];
    char reason[320];
    const char *msg = cap->message;
    size_t from = 0;
    char word[128];
    char word2[64];

    if (!cap->have_message) {
        path[0] = '\0';
        snprintf(reason, sizeof(reason), "%s", cyaml_strerror(code));
    } else if (sscanf(msg, "Unexpected key: %127[^\n]", word) == 1) {
        path_build(cap, 0, path, sizeof(path));
        path_append(path, sizeof(path), word);
        snprintf(reason, sizeof(reason), "unknown key");
    } else if (sscanf(msg, "Missing required mapping field: %127[^\n]", word) == 1) {
        /* The innermost frame is a stale field of the mapping that lacks the key. */
        from = cap->frame_count > 0 && cap->frames[0].kind == FRAME_FIELD ? 1 : 0;
        path_build(cap, from, path, sizeof(path));
        path_append(path, sizeof(path), word);
        snprintf(reason, sizeof(reason), "missing required key");
    } else if (sscanf(msg, "Mapping field already seen: %127[^\n]", word) == 1) {
        path_build(cap, 0, path, sizeof(path));
        snprintf(reason, sizeof(reason), "duplicate key");
    } else if (sscanf(msg, "Invalid ENUM value: %127[^\n]", word) == 1) {
        path_build(cap, 0, path, sizeof(path));
        const char *key = cap->frame_count > 0 ? cap->frames[0].name : "";
        snprintf(reason, sizeof(reason), "invalid value '%s' (expected %s)", word,
                 expected_values(key));
    } else if (sscanf(msg, "Invalid INT value: '%127[^']'", word) == 1) {
        path_build(cap, 0, path, sizeof(path));
        snprintf(reason, sizeof(reason), "invalid value '%s' (expected an integer)", word);
    } else if (sscanf(msg, "Expecting %63s got event: %127s", word2, word) == 2) {
        word2[strcspn(word2, ",")] = '\0';
        path_build(cap, 0, path, sizeof(path));
        const char *key = cap->frame_count > 0 ? cap->frames[0].name : "";
        snprintf(reason, sizeof(reason), "wrong type: expected %s, got %s",
                 describe_schema_type(word2, key), describe_event(word));
    } else if (strncmp(msg, "Insufficient entries", 20) == 0) {
        from = cap->frame_count > 0 && cap->frames[0].kind == FRAME_ENTRY ? 1 : 0;
        path_build(cap, from, path, sizeof(path));
        snprintf(reason, sizeof(reason), "must list at least one entry");
    } else if (strncmp(msg, "libyaml: ", 9) == 0) {
        path[0] = '\0';
        snprintf(reason, sizeof(reason), "YAML syntax error: %s", msg + 9);
    } else {
        path_build(cap, 0, path, sizeof(path));
        snprintf(reason, sizeof(reason), "%s", msg);
    }

    unsigned line = from < cap->frame_count ? cap->frames[from].line : 0;
    char where[32] = "";
    if (line > 0) {
        snprintf(where, sizeof(where), " (line %u)", line);
    }
    int errcode = code == CYAML_ERR_OOM ? ENOMEM : EINVAL;
    if (path[0] != '\0') {
        return nn_err_set(err, errcode, "%s: %s: %s%s", file, path, reason, where);
    }
    return nn_err_set(err, errcode, "%s: %s%s", file, reason, where);
}

/* ------------------------------------------------------------ the checks */

typedef struct loader {
    const char *file;   /* as given, for messages */
    char dir[PATH_MAX]; /* the file's directory, absolute */
    nn_err *err;
} loader;

static int fail(loader *ld, const char *key_path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(loader *ld, const char *key_path, const char *fmt, ...) {
    char reason[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return nn_err_set(ld->err, EINVAL, "%s: %s: %s", ld->file, key_path, reason);
}

static int range_get(loader *ld, const char *key_path, const int64_t *value, int64_t min,
                     int64_t max, int64_t fallback, int64_t *out) {
    if (value == NULL) {
        *out = fallback;
        return 0;
    }
    if (*value < min || *value > max) {
        return fail(ld, key_path, "%lld is out of range (%lld to %lld)", (long long)*value,
                    (long long)min, (long long)max);
    }
    *out = *value;
    return 0;
}

/* Node names become certificate names and path pieces (%n): keep them to a safe set. */
static bool name_is_valid(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > 63) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static bool host_is_numeric(const char *host) {
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* Expands %n (node name; kept as "%n" when node is NULL) and %%, then makes the path
 * absolute against the config's directory. Returns a malloc'd string or NULL with err. */
static char *path_resolve(loader *ld, const char *key_path, const char *template,
                          const char *node) {
    if (template[0] == '\0') {
        fail(ld, key_path, "must not be empty");
        return NULL;
    }
    char expanded[PATH_MAX];
    size_t len = 0;
    if (template[0] != '/') {
        len = (size_t)snprintf(expanded, sizeof(expanded), "%s/", ld->dir);
    }
    for (const char *c = template; *c != '\0'; c++) {
        const char *piece = NULL;
        char one[2] = {*c, '\0'};
        if (*c == '%') {
            if (c[1] == 'n') {
                piece = node != NULL ? node : "%n";
            } else if (c[1] == '%') {
                piece = "%";
            } else {
                fail(ld, key_path, "unknown placeholder '%%%c' in '%s' (only %%n and %%%% are known)",
                     c[1] != '\0' ? c[1] : ' ', template);
                return NULL;
            }
            c++;
        } else {
            piece = one;
        }
        size_t plen = strlen(piece);
        if (len + plen + 1 > sizeof(expanded)) {
            fail(ld, key_path, "path too long");
            return NULL;
        }
        memcpy(expanded + len, piece, plen);
        len += plen;
    }
    expanded[len] = '\0';
    char *out = strdup(expanded);
    if (out == NULL) {
        nn_err_set(ld->err, ENOMEM, "out of memory");
    }
    return out;
}

/* path_resolve() with a node's name substituted, into a stack buffer, for file checks. */
static int file_check(loader *ld, const char *key_path, const char *template, const char *node,
                      bool want_dir) {
    char *path = path_resolve(ld, key_path, template, node);
    if (path == NULL) {
        return -EINVAL;
    }
    struct stat st;
    int rc = 0;
    if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
        rc = fail(ld, key_path, "%s: %s", path, strerror(errno));
    } else if (want_dir && !S_ISDIR(st.st_mode)) {
        rc = fail(ld, key_path, "%s: not a directory", path);
    } else if (!want_dir && !S_ISREG(st.st_mode)) {
        rc = fail(ld, key_path, "%s: not a regular file", path);
    }
    free(path);
    return rc;
}

static int wallet_check(loader *ld, const char *wallet, const char *node) {
    static const char *const files[] = {"ca.pem", "server-cert.pem", "server-key.pem"};
    int rc = file_check(ld, "security.wallet_dir", wallet, node, true);
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        char inside[PATH_MAX];
        snprintf(inside, sizeof(inside), "%s/%s", wallet, files[i]);
        rc = file_check(ld, "security.wallet_dir", inside, node, false);
    }
    return rc;
}

/* The files one node needs to serve: its certificate, key and CA, or its wallet. */
static int node_files_check(loader *ld, const raw_security *s, const char *node) {
    if (s->wallet_dir != NULL) {
        return wallet_check(ld, s->wallet_dir, node);
    }
    int rc = file_check(ld, "security.ca_file", s->ca_file, node, false);
    if (rc == 0) {
        rc = file_check(ld, "security.cert_file", s->cert_file, node, false);
    }
    if (rc == 0) {
        rc = file_check(ld, "security.key_file", s->key_file, node, false);
    }
    return rc;
}

static int opt_path(loader *ld, const char *key_path, const char *template, const char *node,
                    char **out) {
    *out = NULL;
    if (template == NULL) {
        return 0;
    }
    *out = path_resolve(ld, key_path, template, node);
    return *out != NULL ? 0 : -EINVAL;
}

static char *dup_or_fail(loader *ld, const char *s) {
    char *copy = strdup(s);
    if (copy == NULL) {
        nn_err_set(ld->err, ENOMEM, "out of memory");
    }
    return copy;
}

static int cluster_convert(loader *ld, const raw_config *raw, nn_config *cfg) {
    if (!name_is_valid(raw->cluster->name)) {
        return fail(ld, "cluster.name", "'%s' is not a valid name (1-63 of A-Z a-z 0-9 . _ -)",
                    raw->cluster->name);
    }
    if (raw->cluster->id <= 0) {
        return fail(ld, "cluster.id", "%lld is out of range (1 to %lld)",
                    (long long)raw->cluster->id, (long long)INT64_MAX);
    }
    cfg->cluster_id = (uint64_t)raw->cluster->id;
    cfg->cluster_name = dup_or_fail(ld, raw->cluster->name);
    return cfg->cluster_name != NULL ? 0 : -ENOMEM;
}

static int nodes_convert(loader *ld, const raw_config *raw, const char *node_name,
                         nn_config *cfg) {
    cfg->nodes = calloc(raw->nodes_count, sizeof(*cfg->nodes));
    if (cfg->nodes == NULL) {
        return nn_err_set(ld->err, ENOMEM, "out of memory");
    }
    cfg->node_count = raw->nodes_count;
    cfg->self = SIZE_MAX;
    for (size_t i = 0; i < raw->nodes_count; i++) {
        const raw_node *rn = &raw->nodes[i];
        nn_config_node *n = &cfg->nodes[i];
        char key[64];
        int64_t port = 0;
        snprintf(key, sizeof(key), "nodes[%zu].name", i);
        if (!name_is_valid(rn->name)) {
            return fail(ld, key, "'%s' is not a valid node name (1-63 of A-Z a-z 0-9 . _ -)",
                        rn->name);
        }
        snprintf(key, sizeof(key), "nodes[%zu].host", i);
        if (!host_is_numeric(rn->host)) {
            return fail(ld, key, "'%s' is not a numeric IPv4 or IPv6 address", rn->host);
        }
        snprintf(key, sizeof(key), "nodes[%zu].mysql_port", i);
        if (range_get(ld, key, rn->mysql_port, 1, 65535, NN_CONFIG_DEFAULT_MYSQL_PORT, &port) <
            0) {
            return -EINVAL;
        }
        n->mysql_port = (uint16_t)port;
        snprintf(key, sizeof(key), "nodes[%zu].rpc_port", i);
        if (range_get(ld, key, rn->rpc_port, 1, 65535, NN_CONFIG_DEFAULT_RPC_PORT, &port) < 0) {
            return -EINVAL;
        }
        n->rpc_port = (uint16_t)port;
        snprintf(key, sizeof(key), "nodes[%zu].metrics_port", i);
        if (range_get(ld, key, rn->metrics_port, 1, 65535, 0, &port) < 0) {
            return -EINVAL;
        }
        n->metrics_port = (uint16_t)port;
        n->name = dup_or_fail(ld, rn->name);
        n->host = dup_or_fail(ld, rn->host);
        if (n->name == NULL || n->host == NULL) {
            return -ENOMEM;
        }
        if (n->mysql_port == n->rpc_port) {
            snprintf(key, sizeof(key), "nodes[%zu]", i);
            return fail(ld, key, "mysql_port and rpc_port are both %u", n->mysql_port);
        }
        if (n->metrics_port != 0 &&
            (n->metrics_port == n->mysql_port || n->metrics_port == n->rpc_port)) {
            snprintf(key, sizeof(key), "nodes[%zu].metrics_port", i);
            return fail(ld, key, "%u is also its mysql_port or rpc_port", n->metrics_port);
        }
        for (size_t j = 0; j < i; j++) {
            const nn_config_node *o = &cfg->nodes[j];
            snprintf(key, sizeof(key), "nodes[%zu]", i);
            if (strcmp(o->name, n->name) == 0) {
                return fail(ld, key, "duplicate node name '%s' (also nodes[%zu])", n->name, j);
            }
            if (strcmp(o->host, n->host) != 0) {
                continue;
            }
            uint16_t mine[2] = {n->mysql_port, n->rpc_port};
            uint16_t theirs[2] = {o->mysql_port, o->rpc_port};
            for (int a = 0; a < 2; a++) {
                for (int b = 0; b < 2; b++) {
                    if (mine[a] == theirs[b]) {
                        return fail(ld, key, "%s:%u is also used by nodes[%zu] (%s)", n->host,
                                    mine[a], j, o->name);
                    }
                }
            }
        }
        if (node_name != NULL && strcmp(n->name, node_name) == 0) {
            cfg->self = i;
        }
    }
    if (node_name != NULL && cfg->self == SIZE_MAX) {
        char names[256] = "";
        size_t len = 0;
        for (size_t i = 0; i < cfg->node_count && len < sizeof(names); i++) {
            int n = snprintf(names + len, sizeof(names) - len, "%s%s", i > 0 ? ", " : "",
                             cfg->nodes[i].name);
            len += n > 0 ? (size_t)n : 0;
        }
        return fail(ld, "nodes", "no node named '%s' (the config has %s)", node_name, names);
    }
    return 0;
}

static int security_convert(loader *ld, const raw_config *raw, nn_config_purpose purpose,
                            nn_config *cfg) {
    static const raw_security empty;
    const raw_security *s = raw->security != NULL ? raw->security : &empty;
    const char *self = cfg->self != SIZE_MAX ? cfg->nodes[cfg->self].name : NULL;
    bool any_file = s->ca_file != NULL || s->cert_file != NULL || s->key_file != NULL;

    if (any_file && s->wallet_dir != NULL) {
        return fail(ld, "security.wallet_dir",
                    "set either wallet_dir or ca_file/cert_file/key_file, not both");
    }
    if (any_file) {
        const char *names[3] = {"ca_file", "cert_file", "key_file"};
        const char *values[3] = {s->ca_file, s->cert_file, s->key_file};
        for (int i = 0; i < 3; i++) {
            if (values[i] == NULL) {
                char key[64];
                snprintf(key, sizeof(key), "security.%s", names[i]);
                return fail(ld, key, "missing (ca_file, cert_file and key_file go together)");
            }
        }
    }
    cfg->security.certificates = any_file || s->wallet_dir != NULL;

    if (opt_path(ld, "security.ca_file", s->ca_file, self, &cfg->security.ca_file) < 0 ||
        opt_path(ld, "security.cert_file", s->cert_file, self, &cfg->security.cert_file) < 0 ||
        opt_path(ld, "security.key_file", s->key_file, self, &cfg->security.key_file) < 0 ||
        opt_path(ld, "security.wallet_dir", s->wallet_dir, self, &cfg->security.wallet_dir) <
            0 ||
        opt_path(ld, "security.crl_file", s->crl_file, self, &cfg->security.crl_file) < 0 ||
        opt_path(ld, "security.admin_cert_file", s->admin_cert_file, self,
                 &cfg->security.admin_cert_file) < 0 ||
        opt_path(ld, "security.admin_key_file", s->admin_key_file, self,
                 &cfg->security.admin_key_file) < 0) {
        return -EINVAL;
    }

    cfg->security.mysql_tls = s->mysql_tls != NULL ? *s->mysql_tls != 0
                                                   : cfg->security.certificates;
    cfg->security.require_secure_transport =
        s->require_secure_transport != NULL && *s->require_secure_transport != 0;
    int64_t warn_days = 0;
    if (range_get(ld, "security.cert_warn_days", s->cert_warn_days, 0, 3650, 30, &warn_days) < 0) {
        return -EINVAL;
    }
    cfg->security.cert_warn_days = (uint32_t)warn_days;
    cfg->security.metrics_tls = s->metrics_tls != NULL && *s->metrics_tls != 0;
    cfg->security.rpc_tls =
        s->rpc_tls != NULL ? (nn_config_rpc_tls)*s->rpc_tls : NN_CONFIG_RPC_TLS_OFF;
    const char *version = s->tls_min_version != NULL && *s->tls_min_version == 13 ? "1.3" : "1.2";
    cfg->security.tls_min_version = dup_or_fail(ld, version);
    if (cfg->security.tls_min_version == NULL) {
        return -ENOMEM;
    }
    /* Both ends of an RPC link are nodenet: nothing needs TLS 1.2 there. */
    const char *rpc_version =
        s->rpc_tls_min_version != NULL && *s->rpc_tls_min_version == 12 ? "1.2" : "1.3";
    cfg->security.rpc_tls_min_version = dup_or_fail(ld, rpc_version);
    if (cfg->security.rpc_tls_min_version == NULL) {
        return -ENOMEM;
    }
    if (s->crl_file != NULL && !cfg->security.certificates) {
        return fail(ld, "security.crl_file",
                    "needs certificates (ca_file, cert_file and key_file, or wallet_dir)");
    }
    if (s->ciphers != NULL) {
        if (s->ciphers[0] == '\0') {
            return fail(ld, "security.ciphers", "must not be empty (leave it out for the default)");
        }
        cfg->security.ciphers = dup_or_fail(ld, s->ciphers);
        if (cfg->security.ciphers == NULL) {
            return -ENOMEM;
        }
    }

    const char *no_certs = "needs certificates (ca_file, cert_file and key_file, or wallet_dir)";
    if (cfg->security.mysql_tls && !cfg->security.certificates) {
        return fail(ld, "security.mysql_tls", "on %s", no_certs);
    }
    if (cfg->security.metrics_tls && !cfg->security.certificates) {
        return fail(ld, "security.metrics_tls", "on %s", no_certs);
    }
    if (cfg->security.require_secure_transport && !cfg->security.mysql_tls) {
        return fail(ld, "security.require_secure_transport", "on needs mysql_tls on");
    }
    if (cfg->security.rpc_tls != NN_CONFIG_RPC_TLS_OFF && !cfg->security.certificates) {
        return fail(ld, "security.rpc_tls", "%s %s",
                    cfg->security.rpc_tls == NN_CONFIG_RPC_TLS_PREFER ? "prefer" : "require",
                    no_certs);
    }
    if ((s->admin_cert_file == NULL) != (s->admin_key_file == NULL)) {
        return fail(ld,
                    s->admin_cert_file == NULL ? "security.admin_cert_file"
                                               : "security.admin_key_file",
                    "missing (admin_cert_file and admin_key_file go together)");
    }

    if (s->tool_subjects_count > 0) {
        cfg->security.tool_subjects = calloc(s->tool_subjects_count, sizeof(char *));
        if (cfg->security.tool_subjects == NULL) {
            return nn_err_set(ld->err, ENOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < s->tool_subjects_count; i++) {
        if (s->tool_subjects[i][0] != '/') {
            char key[64];
            snprintf(key, sizeof(key), "security.tool_subjects[%zu]", i);
            return fail(ld, key, "'%s' is not a subject in /C=../O=../CN=.. form",
                        s->tool_subjects[i]);
        }
        cfg->security.tool_subjects[i] = dup_or_fail(ld, s->tool_subjects[i]);
        if (cfg->security.tool_subjects[i] == NULL) {
            return -ENOMEM;
        }
        cfg->security.tool_subject_count++;
    }

    /* The files, last: a config that is wrong in its shape says so before it says that a
     * file is missing. */
    if (cfg->security.certificates) {
        if (purpose == NN_CONFIG_FOR_NODE && self != NULL) {
            return node_files_check(ld, s, self);
        }
        if (purpose == NN_CONFIG_FOR_NODE) {
            for (size_t i = 0; i < cfg->node_count; i++) {
                if (node_files_check(ld, s, cfg->nodes[i].name) < 0) {
                    return -EINVAL;
                }
            }
            return 0;
        }
    }
    if (purpose == NN_CONFIG_FOR_TOOL && cfg->security.rpc_tls != NN_CONFIG_RPC_TLS_OFF) {
        if (s->admin_cert_file == NULL) {
            return fail(ld, "security.admin_cert_file",
                        "missing (nodenet-admin needs a certificate when rpc_tls is %s)",
                        cfg->security.rpc_tls == NN_CONFIG_RPC_TLS_PREFER ? "prefer"
                                                                          : "require");
        }
        if (s->wallet_dir != NULL) {
            char ca[PATH_MAX];
            snprintf(ca, sizeof(ca), "%s/ca.pem", s->wallet_dir);
            if (file_check(ld, "security.wallet_dir", ca, self, false) < 0) {
                return -EINVAL;
            }
        } else if (file_check(ld, "security.ca_file", s->ca_file, self, false) < 0) {
            return -EINVAL;
        }
        if (file_check(ld, "security.admin_cert_file", s->admin_cert_file, self, false) < 0 ||
            file_check(ld, "security.admin_key_file", s->admin_key_file, self, false) < 0) {
            return -EINVAL;
        }
    }
    return 0;
}

static int node_section_convert(loader *ld, const raw_config *raw, nn_config *cfg) {
    static const raw_node_section empty;
    const raw_node_section *n = raw->node != NULL ? raw->node : &empty;
    const char *self = cfg->self != SIZE_MAX ? cfg->nodes[cfg->self].name : NULL;
    int64_t v = 0;
    const uint64_t day_ms = 86400000ull;

    if (range_get(ld, "node.workers", n->workers, 0, 1024, 0, &v) < 0) {
        return -EINVAL;
    }
    cfg->node.workers = (uint32_t)v;
    if (range_get(ld, "node.max_connections", n->max_connections, 0, 10000000, 10000, &v) < 0) {
        return -EINVAL;
    }
    cfg->node.max_connections = (uint32_t)v;
    if (range_get(ld, "node.handshake_timeout_ms", n->handshake_timeout_ms, 1, 3600000, 10000,
                  &v) < 0) {
        return -EINVAL;
    }
    cfg->node.handshake_timeout_ms = (uint64_t)v;
    /* MySQL's wait_timeout: 8 h by default, at most a year. */
    if (range_get(ld, "node.idle_timeout_ms", n->idle_timeout_ms, 1, (int64_t)(365 * day_ms),
                  28800000, &v) < 0) {
        return -EINVAL;
    }
    cfg->node.idle_timeout_ms = (uint64_t)v;
    if (range_get(ld, "node.call_timeout_ms", n->call_timeout_ms, 1, 3600000, 5000, &v) < 0) {
        return -EINVAL;
    }
    cfg->node.call_timeout_ms = (uint64_t)v;
    if (range_get(ld, "node.heartbeat_ms", n->heartbeat_ms, 10, 600000, 1000, &v) < 0) {
        return -EINVAL;
    }
    cfg->node.heartbeat_ms = (uint64_t)v;
    /* What one peer that stops reading may cost: at least 64 KiB, at most 64 GiB. The
     * default leaves room for a burst of calls made in one loop round (64 x 1 MiB in the
     * benchmarks) beside a frame of the default max_frame_bytes. */
    if (range_get(ld, "node.max_peer_queue_bytes", n->max_peer_queue_bytes, 65536, (int64_t)1 << 36,
                  128 << 20, &v) < 0) {
        return -EINVAL;
    }
    cfg->node.max_peer_queue_bytes = (uint64_t)v;
    if (range_get(ld, "node.peer_stall_timeout_ms", n->peer_stall_timeout_ms, 100, 3600000, 10000,
                  &v) < 0) {
        return -EINVAL;
    }
    cfg->node.peer_stall_timeout_ms = (uint64_t)v;
    /* MySQL's max_allowed_packet tops out at 1 GiB; frames follow the same bound. */
    if (range_get(ld, "node.max_frame_bytes", n->max_frame_bytes, 1024, 1 << 30, 64 << 20, &v) <
        0) {
        return -EINVAL;
    }
    cfg->node.max_frame_bytes = (uint32_t)v;
    if (range_get(ld, "node.max_packet_bytes", n->max_packet_bytes, 1024, 1 << 30, 64 << 20,
                  &v) < 0) {
        return -EINVAL;
    }
    cfg->node.max_packet_bytes = (uint32_t)v;
    cfg->node.log_level = n->log_level != NULL ? *n->log_level : -1;
    cfg->node.native_password_default =
        n->default_authentication_plugin != NULL && *n->default_authentication_plugin == 1;
    cfg->node.data_dir =
        path_resolve(ld, "node.data_dir", n->data_dir != NULL ? n->data_dir : "data/%n", self);
    return cfg->node.data_dir != NULL ? 0 : -EINVAL;
}

/* Reads the whole file (bounded) so that open/read errors are ours to word. */
static int file_read(const char *path, uint8_t **out, size_t *out_len, nn_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return nn_err_set(err, errno, "%s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return nn_err_set(err, EINVAL, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > CONFIG_MAX_BYTES) {
        close(fd);
        return nn_err_set(err, EFBIG, "%s: larger than %u bytes", path, CONFIG_MAX_BYTES);
    }
    uint8_t *data = malloc((size_t)st.st_size + 1);
    if (data == NULL) {
        close(fd);
        return nn_err_set(err, ENOMEM, "%s: out of memory", path);
    }
    size_t len = 0;
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, data + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int code = n < 0 ? errno : EIO;
            free(data);
            close(fd);
            return nn_err_set(err, code, "%s: read failed: %s", path, strerror(code));
        }
        len += (size_t)n;
    }
    close(fd);
    *out = data;
    *out_len = len;
    return 0;
}

int nn_config_load(const char *path, const char *node_name, nn_config_purpose purpose,
                   nn_config *out, nn_err *err) {
    memset(out, 0, sizeof(*out));
    out->self = SIZE_MAX;
    loader ld = {.file = path, .err = err};
    char real[PATH_MAX];
    if (realpath(path, real) == NULL) {
        return nn_err_set(err, errno, "%s: %s", path, strerror(errno));
    }
    char *slash = strrchr(real, '/');
    if (slash == real) {
        snprintf(ld.dir, sizeof(ld.dir), "/");
    } else {
        *slash = '\0';
        snprintf(ld.dir, sizeof(ld.dir), "%s", real);
    }

    uint8_t *data = NULL;
    size_t len = 0;
    int rc = file_read(path, &data, &len, err);
    if (rc < 0) {
        return rc;
    }
    cyaml_capture cap;
    memset(&cap, 0, sizeof(cap));
    const cyaml_config_t yaml_cfg = {
        .log_fn = capture_log,
        .log_ctx = &cap,
        .mem_fn = cyaml_mem,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_DEFAULT,
    };
    raw_config *raw = NULL;
    cyaml_err_t code = cyaml_load_data(data, len, &yaml_cfg, &top_schema, (cyaml_data_t **)&raw,
                                       NULL);
    free(data);
    if (code != CYAML_OK) {
        if (cap.pending_len > 0) {
            cap.pending[cap.pending_len] = '\0';
            capture_line(&cap, cap.pending);
        }
        return capture_to_err(&cap, code, path, err);
    }
    if (raw == NULL) {
        return nn_err_set(err, EINVAL, "%s: empty document (expected cluster, nodes, ...)",
                          path);
    }

    out->path = strdup(path);
    rc = out->path != NULL ? 0 : nn_err_set(err, ENOMEM, "out of memory");
    if (rc == 0) {
        rc = cluster_convert(&ld, raw, out);
    }
    if (rc == 0) {
        rc = nodes_convert(&ld, raw, node_name, out);
    }
    if (rc == 0) {
        rc = node_section_convert(&ld, raw, out);
    }
    if (rc == 0) {
        rc = security_convert(&ld, raw, purpose, out);
    }
    cyaml_free(&yaml_cfg, &top_schema, raw, 0);
    if (rc < 0) {
        nn_config_free(out);
        return rc;
    }
    return 0;
}

void nn_config_free(nn_config *cfg) {
    if (cfg == NULL) {
        return;
    }
    free(cfg->path);
    free(cfg->cluster_name);
    for (size_t i = 0; cfg->nodes != NULL && i < cfg->node_count; i++) {
        free(cfg->nodes[i].name);
        free(cfg->nodes[i].host);
    }
    free(cfg->nodes);
    free(cfg->security.ca_file);
    free(cfg->security.cert_file);
    free(cfg->security.key_file);
    free(cfg->security.wallet_dir);
    free(cfg->security.tls_min_version);
    free(cfg->security.rpc_tls_min_version);
    free(cfg->security.crl_file);
    free(cfg->security.ciphers);
    for (size_t i = 0; i < cfg->security.tool_subject_count; i++) {
        free(cfg->security.tool_subjects[i]);
    }
    free(cfg->security.tool_subjects);
    free(cfg->security.admin_cert_file);
    free(cfg->security.admin_key_file);
    free(cfg->node.data_dir);
    memset(cfg, 0, sizeof(*cfg));
    cfg->self = SIZE_MAX;
}

const nn_config_node *nn_config_self(const nn_config *cfg) {
    return cfg->self < cfg->node_count ? &cfg->nodes[cfg->self] : NULL;
}

const nn_config_node *nn_config_node_find(const nn_config *cfg, const char *name) {
    for (size_t i = 0; i < cfg->node_count; i++) {
        if (strcmp(cfg->nodes[i].name, name) == 0) {
            return &cfg->nodes[i];
        }
    }
    return NULL;
}

static bool str_differs(const char *a, const char *b) {
    if (a == NULL || b == NULL) {
        return a != b;
    }
    return strcmp(a, b) != 0;
}

static void restart_note(nn_config_diff *d, const char *key) {
    size_t len = strlen(d->restart);
    snprintf(d->restart + len, sizeof(d->restart) - len, "%s%s", len > 0 ? ", " : "", key);
}

void nn_config_diff_get(const nn_config *o, const nn_config *n, nn_config_diff *d) {
    memset(d, 0, sizeof(*d));
    d->mysql_changed = o->security.mysql_tls != n->security.mysql_tls ||
                       o->security.require_secure_transport !=
                           n->security.require_secure_transport;
    d->security_changed = o->security.certificates != n->security.certificates ||
                          str_differs(o->security.ca_file, n->security.ca_file) ||
                          str_differs(o->security.cert_file, n->security.cert_file) ||
                          str_differs(o->security.key_file, n->security.key_file) ||
                          str_differs(o->security.wallet_dir, n->security.wallet_dir) ||
                          str_differs(o->security.tls_min_version, n->security.tls_min_version) ||
                          str_differs(o->security.rpc_tls_min_version,
                                      n->security.rpc_tls_min_version) ||
                          str_differs(o->security.crl_file, n->security.crl_file) ||
                          str_differs(o->security.ciphers, n->security.ciphers);
    d->rpc_changed = o->security.rpc_tls != n->security.rpc_tls ||
                     o->security.tool_subject_count != n->security.tool_subject_count;
    for (size_t i = 0; !d->rpc_changed && i < n->security.tool_subject_count; i++) {
        d->rpc_changed = strcmp(o->security.tool_subjects[i], n->security.tool_subjects[i]) != 0;
    }

    if (str_differs(o->cluster_name, n->cluster_name) || o->cluster_id != n->cluster_id) {
        restart_note(d, "cluster");
    }
    bool nodes_differ = o->node_count != n->node_count;
    for (size_t i = 0; !nodes_differ && i < n->node_count; i++) {
        const nn_config_node *a = &o->nodes[i];
        const nn_config_node *b = &n->nodes[i];
        nodes_differ = strcmp(a->name, b->name) != 0 || strcmp(a->host, b->host) != 0 ||
                       a->mysql_port != b->mysql_port || a->rpc_port != b->rpc_port ||
                       a->metrics_port != b->metrics_port;
    }
    if (nodes_differ) {
        restart_note(d, "nodes");
    }
    if (o->node.workers != n->node.workers) {
        restart_note(d, "node.workers");
    }
    if (str_differs(o->node.data_dir, n->node.data_dir)) {
        restart_note(d, "node.data_dir");
    }
    d->node_changed = o->node.max_connections != n->node.max_connections ||
                      o->node.log_level != n->node.log_level ||
                      o->security.cert_warn_days != n->security.cert_warn_days ||
                      o->security.metrics_tls != n->security.metrics_tls;
    if (o->node.handshake_timeout_ms != n->node.handshake_timeout_ms ||
        o->node.idle_timeout_ms != n->node.idle_timeout_ms ||
        o->node.max_packet_bytes != n->node.max_packet_bytes ||
        o->node.native_password_default != n->node.native_password_default) {
        /* mysql's reconfigure carries these too, but only for new connections; say so. */
        d->mysql_changed = true;
    }
    if (o->node.call_timeout_ms != n->node.call_timeout_ms ||
        o->node.heartbeat_ms != n->node.heartbeat_ms ||
        o->node.max_frame_bytes != n->node.max_frame_bytes ||
        o->node.max_peer_queue_bytes != n->node.max_peer_queue_bytes ||
        o->node.peer_stall_timeout_ms != n->node.peer_stall_timeout_ms) {
        d->rpc_changed = true;
    }
}
