/* lib/api.c: the parts of the public API (include/nodenet/) that are not a module's own
 * function under the same name: handles and accessors over internal structs, settings
 * built in code, and the protobuf-c conveniences. The exported names are listed in
 * lib/exports.txt; everything else in libnodenet is local. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nodenet/version.h>
#include <protobuf-c/protobuf-c.h>

#include "lib/lib_internal.h"
#include "node/node.h"

#define NN_API __attribute__((visibility("default")))

/* Public-only types (the public headers are not included here: their opaque declarations
 * of internal structs would clash with the internal definitions). */
typedef struct nn_node_settings nn_node_settings;

/* ------------------------------------------------------------------ version */

NN_API unsigned nn_version(void) {
    return NN_VERSION_NUMBER;
}

NN_API const char *nn_version_string(void) {
    return NN_VERSION_STRING;
}

/* ------------------------------------------------------------------ logging */

NN_API int nn_set_log_level(const char *level) {
    nn_log_level parsed;
    if (level == NULL || nn_log_level_parse(level, &parsed) < 0) {
        return -EINVAL;
    }
    nn_log_set_level(parsed);
    return 0;
}

/* ------------------------------------------------------------------- errors */

NN_API nn_err *nn_err_new(void) {
    return calloc(1, sizeof(nn_err));
}

NN_API void nn_err_free(nn_err *err) {
    free(err);
}

NN_API int nn_err_code(const nn_err *err) {
    return err != NULL ? err->code : 0;
}

NN_API const char *nn_err_message(const nn_err *err) {
    return err != NULL ? err->msg : "";
}

/* ----------------------------------------------------------------- settings */

typedef struct settings_node {
    char *name;
    char *host;
    uint16_t mysql_port;
    uint16_t rpc_port;
} settings_node;

struct nn_node_settings {
    char *cluster_name;
    uint64_t cluster_id;
    settings_node *nodes;
    size_t node_count;
    char *ca_file;
    char *cert_file;
    char *key_file;
    int mysql_tls; /* -1 = the default */
    bool require_secure_transport;
    char *rpc_tls;
    char *tls_min_version;
    char *data_dir;
    uint32_t workers;
    uint64_t call_timeout_ms;
};

NN_API nn_node_settings *nn_node_settings_new(const char *cluster_name, uint64_t cluster_id) {
    if (cluster_name == NULL) {
        return NULL;
    }
    nn_node_settings *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->cluster_name = strdup(cluster_name);
    if (s->cluster_name == NULL) {
        free(s);
        return NULL;
    }
    s->cluster_id = cluster_id;
    s->mysql_tls = -1;
    return s;
}

NN_API void nn_node_settings_free(nn_node_settings *s) {
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->node_count; i++) {
        free(s->nodes[i].name);
        free(s->nodes[i].host);
    }
    free(s->nodes);
    free(s->cluster_name);
    free(s->ca_file);
    free(s->cert_file);
    free(s->key_file);
    free(s->rpc_tls);
    free(s->tls_min_version);
    free(s->data_dir);
    free(s);
}

/* Relative paths are taken against the working directory now, not against the directory
 * the rendered file lands in. */
static int path_set(char **slot, const char *path) {
    if (path == NULL || path[0] == '\0') {
        return -EINVAL;
    }
    char *copy;
    if (path[0] == '/') {
        copy = strdup(path);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            return -errno;
        }
        size_t len = strlen(cwd) + 1 + strlen(path) + 1;
        copy = malloc(len);
        if (copy != NULL) {
            snprintf(copy, len, "%s/%s", cwd, path);
        }
    }
    if (copy == NULL) {
        return -ENOMEM;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

static int text_set(char **slot, const char *text) {
    if (text == NULL) {
        return -EINVAL;
    }
    char *copy = strdup(text);
    if (copy == NULL) {
        return -ENOMEM;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

NN_API int nn_node_settings_add_node(nn_node_settings *s, const char *name, const char *host,
                                     uint16_t mysql_port, uint16_t rpc_port) {
    if (s == NULL || name == NULL || host == NULL) {
        return -EINVAL;
    }
    settings_node *nodes = realloc(s->nodes, (s->node_count + 1) * sizeof(*nodes));
    if (nodes == NULL) {
        return -ENOMEM;
    }
    s->nodes = nodes;
    settings_node *n = &nodes[s->node_count];
    n->name = strdup(name);
    n->host = strdup(host);
    if (n->name == NULL || n->host == NULL) {
        free(n->name);
        free(n->host);
        return -ENOMEM;
    }
    n->mysql_port = mysql_port;
    n->rpc_port = rpc_port;
    s->node_count++;
    return 0;
}

NN_API int nn_node_settings_set_certificates(nn_node_settings *s, const char *ca_file,
                                             const char *cert_file, const char *key_file) {
    if (s == NULL) {
        return -EINVAL;
    }
    int rc = path_set(&s->ca_file, ca_file);
    if (rc == 0) {
        rc = path_set(&s->cert_file, cert_file);
    }
    if (rc == 0) {
        rc = path_set(&s->key_file, key_file);
    }
    return rc;
}

NN_API int nn_node_settings_set_mysql_tls(nn_node_settings *s, bool offer,
                                          bool require_secure_transport) {
    if (s == NULL) {
        return -EINVAL;
    }
    s->mysql_tls = offer ? 1 : 0;
    s->require_secure_transport = require_secure_transport;
    return 0;
}

NN_API int nn_node_settings_set_rpc_tls(nn_node_settings *s, const char *mode) {
    if (s == NULL || mode == NULL ||
        (strcmp(mode, "off") != 0 && strcmp(mode, "prefer") != 0 && strcmp(mode, "require") != 0)) {
        return -EINVAL;
    }
    return text_set(&s->rpc_tls, mode);
}

NN_API int nn_node_settings_set_tls_min_version(nn_node_settings *s, const char *version) {
    if (s == NULL || version == NULL ||
        (strcmp(version, "1.2") != 0 && strcmp(version, "1.3") != 0)) {
        return -EINVAL;
    }
    return text_set(&s->tls_min_version, version);
}

NN_API int nn_node_settings_set_data_dir(nn_node_settings *s, const char *dir) {
    return s == NULL ? -EINVAL : path_set(&s->data_dir, dir);
}

NN_API int nn_node_settings_set_workers(nn_node_settings *s, uint32_t workers) {
    if (s == NULL) {
        return -EINVAL;
    }
    s->workers = workers;
    return 0;
}

NN_API int nn_node_settings_set_call_timeout_ms(nn_node_settings *s, uint64_t ms) {
    if (s == NULL) {
        return -EINVAL;
    }
    s->call_timeout_ms = ms;
    return 0;
}

/* A YAML double-quoted scalar: every string the settings hold goes through here, so that
 * no value can add a key. */
static void yaml_str(FILE *out, const char *text) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(out, "\\%c", *p);
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(out, "\\x%02x", *p);
        } else {
            fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* The settings become the cluster.yaml the node reads: one schema and one validator for
 * both, errors that name the same keys, and a file that nn_node_reload() re-reads and
 * that nodenet-admin --config can use. */
static int settings_render(const nn_node_settings *s, FILE *out) {
    fprintf(out, "# Rendered by libnodenet from nn_node_settings; rewritten at each start.\n");
    fprintf(out, "cluster: { name: ");
    yaml_str(out, s->cluster_name);
    fprintf(out, ", id: %llu }\nnodes:\n", (unsigned long long)s->cluster_id);
    for (size_t i = 0; i < s->node_count; i++) {
        fprintf(out, "  - { name: ");
        yaml_str(out, s->nodes[i].name);
        fprintf(out, ", host: ");
        yaml_str(out, s->nodes[i].host);
        fprintf(out, ", mysql_port: %u, rpc_port: %u }\n", s->nodes[i].mysql_port,
                s->nodes[i].rpc_port);
    }
    fprintf(out, "security:\n");
    if (s->ca_file != NULL) {
        fprintf(out, "  ca_file: ");
        yaml_str(out, s->ca_file);
        fprintf(out, "\n  cert_file: ");
        yaml_str(out, s->cert_file);
        fprintf(out, "\n  key_file: ");
        yaml_str(out, s->key_file);
        fprintf(out, "\n");
    }
    if (s->mysql_tls >= 0) {
        fprintf(out, "  mysql_tls: %s\n", s->mysql_tls ? "on" : "off");
    }
    fprintf(out, "  require_secure_transport: %s\n", s->require_secure_transport ? "on" : "off");
    fprintf(out, "  rpc_tls: %s\n", s->rpc_tls != NULL ? s->rpc_tls : "off");
    if (s->tls_min_version != NULL) {
        fprintf(out, "  tls_min_version: \"%s\"\n", s->tls_min_version);
    }
    fprintf(out, "node:\n  workers: %u\n", s->workers);
    if (s->data_dir != NULL) {
        fprintf(out, "  data_dir: ");
        yaml_str(out, s->data_dir);
        fprintf(out, "\n");
    }
    if (s->call_timeout_ms != 0) {
        fprintf(out, "  call_timeout_ms: %llu\n", (unsigned long long)s->call_timeout_ms);
    }
    return ferror(out) ? -EIO : 0;
}

/* data_dir with %n replaced by the node's name. */
static int data_dir_of(const nn_node_settings *s, const char *node_name, char *out, size_t cap) {
    char cwd[PATH_MAX];
    const char *pattern = s->data_dir;
    char fallback[PATH_MAX + 16];
    if (pattern == NULL) {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            return -errno;
        }
        snprintf(fallback, sizeof(fallback), "%s/data/%%n", cwd);
        pattern = fallback;
    }
    size_t used = 0;
    for (const char *p = pattern; *p != '\0'; p++) {
        const char *piece = p;
        size_t piece_len = 1;
        if (p[0] == '%' && p[1] == 'n') {
            piece = node_name;
            piece_len = strlen(node_name);
            p++;
        }
        if (used + piece_len >= cap) {
            return -ENAMETOOLONG;
        }
        memcpy(out + used, piece, piece_len);
        used += piece_len;
    }
    out[used] = '\0';
    return 0;
}

NN_API nn_node *nn_node_new_from_settings(const nn_node_settings *s, const char *node_name,
                                          nn_err *err) {
    if (s == NULL || node_name == NULL || strchr(node_name, '/') != NULL) {
        nn_err_set(err, EINVAL, "settings and a node name are needed");
        return NULL;
    }
    char dir[PATH_MAX];
    if (data_dir_of(s, node_name, dir, sizeof(dir)) < 0) {
        nn_err_set(err, ENAMETOOLONG, "node.data_dir: path too long");
        return NULL;
    }
    if (nn_node_dir_make(dir, err) < 0) {
        nn_err_prefix(err, "node.data_dir");
        return NULL;
    }
    char path[PATH_MAX + 16];
    char tmp[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/cluster.yaml", dir);
    snprintf(tmp, sizeof(tmp), "%s/.cluster.yaml.%ld", dir, (long)getpid());
    unlink(tmp); /* left by a process that crashed here with our pid */
    FILE *out = fopen(tmp, "wx");
    if (out == NULL) {
        nn_err_set(err, errno, "%s: %s", tmp, strerror(errno));
        return NULL;
    }
    fchmod(fileno(out), 0600);
    int rc = settings_render(s, out);
    if (fclose(out) != 0 || rc < 0) {
        unlink(tmp);
        nn_err_set(err, EIO, "%s: cannot write", tmp);
        return NULL;
    }
    /* Renamed into place so that a reload never reads a half-written file. */
    if (rename(tmp, path) != 0) {
        nn_err_set(err, errno, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return NULL;
    }
    return nn_node_new(path, node_name, err);
}

/* --------------------------------------------------------------------- node */

NN_API const char *nn_node_name(const nn_node *node) {
    return nn_config_self(nn_node_config(node))->name;
}

NN_API const char *nn_node_cluster_name(const nn_node *node) {
    return nn_node_config(node)->cluster_name;
}

NN_API size_t nn_node_peer_count(const nn_node *node) {
    return nn_node_config(node)->node_count - 1;
}

NN_API const char *nn_node_peer_name(const nn_node *node, size_t i) {
    const nn_config *cfg = nn_node_config(node);
    if (i >= cfg->node_count - 1) {
        return NULL;
    }
    return cfg->nodes[i < cfg->self ? i : i + 1].name;
}

/* ------------------------------------------------------------------- events */

NN_API nn_event_kind nn_event_get_kind(const nn_event *event) {
    return event->kind;
}

NN_API const char *nn_event_peer(const nn_event *event) {
    return event->peer;
}

NN_API const char *nn_event_reason(const nn_event *event) {
    return event->reason != NULL ? event->reason : "";
}

NN_API uint64_t nn_event_cert_generation(const nn_event *event) {
    return event->generation;
}

/* --------------------------------------------------------------------- rpc */

NN_API nn_rpc_status nn_rpc_result_status(const nn_rpc_result *result) {
    return result->status;
}

NN_API uint32_t nn_rpc_result_remote_code(const nn_rpc_result *result) {
    return result->status == NN_RPC_E_REMOTE ? result->remote_code : 0;
}

NN_API const char *nn_rpc_result_error(const nn_rpc_result *result) {
    return result->error != NULL ? result->error : "";
}

NN_API const uint8_t *nn_rpc_result_payload(const nn_rpc_result *result, size_t *len) {
    if (len != NULL) {
        *len = result->payload_len;
    }
    return result->payload;
}

NN_API ProtobufCMessage *nn_rpc_result_unpack(const nn_rpc_result *result,
                                              const ProtobufCMessageDescriptor *desc) {
    if (result->status != NN_RPC_OK || desc == NULL) {
        return NULL;
    }
    return protobuf_c_message_unpack(desc, NULL, result->payload_len, result->payload);
}

/* Packs into a stack buffer when small, the heap otherwise. */
static uint8_t *message_pack(const ProtobufCMessage *msg, uint8_t *small, size_t small_cap,
                             size_t *len) {
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = *len <= small_cap ? small : malloc(*len ? *len : 1);
    if (buf != NULL) {
        protobuf_c_message_pack(msg, buf);
    }
    return buf;
}

NN_API int nn_rpc_call_message(nn_rpc *rpc, const char *peer, const char *method,
                               const ProtobufCMessage *request, uint64_t timeout_ms,
                               nn_rpc_call_fn done, void *arg) {
    uint8_t small[512] = {0};
    size_t len = 0;
    uint8_t *buf = request != NULL ? message_pack(request, small, sizeof(small), &len) : small;
    if (buf == NULL) {
        nn_rpc_result res = {.status = NN_RPC_E_INVALID, .error = "out of memory"};
        done(&res, arg);
        return -ENOMEM;
    }
    int rc = nn_rpc_call(rpc, peer, method, buf, len, timeout_ms, done, arg);
    if (buf != small) {
        free(buf);
    }
    return rc;
}

NN_API void nn_rpc_reply_message(nn_rpc_request *req, const ProtobufCMessage *reply) {
    uint8_t small[512] = {0};
    size_t len = 0;
    uint8_t *buf = reply != NULL ? message_pack(reply, small, sizeof(small), &len) : small;
    if (buf == NULL) {
        nn_rpc_reply_error(req, ENOMEM, "out of memory packing the reply");
        return;
    }
    nn_rpc_reply(req, buf, len);
    if (buf != small) {
        free(buf);
    }
}

NN_API int nn_rpc_protobuf_method_name(const ProtobufCServiceDescriptor *desc,
                                       unsigned method_index, char *out, size_t cap) {
    if (desc == NULL || method_index >= desc->n_methods) {
        return -EINVAL;
    }
    int n = snprintf(out, cap, "%s.%s", desc->name, desc->methods[method_index].name);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : n;
}

static void pb_closure(const ProtobufCMessage *output, void *closure_data) {
    nn_rpc_request *req = closure_data;
    if (output == NULL) {
        nn_rpc_reply_error(req, 1, "%s: the service failed", nn_rpc_request_method(req));
        return;
    }
    nn_rpc_reply_message(req, output);
}

/* arg is the service; the method is found from the name called ("<package.Service>.<Method>"),
 * so a registration allocates nothing that would outlive the node. */
static void pb_handler(nn_rpc_request *req, void *arg) {
    ProtobufCService *service = arg;
    const char *called = nn_rpc_request_method(req);
    const char *dot = strrchr(called, '.');
    const ProtobufCMethodDescriptor *md =
        dot != NULL ? protobuf_c_service_descriptor_get_method_by_name(service->descriptor, dot + 1)
                    : NULL;
    if (md == NULL) {
        nn_rpc_reply_error(req, EINVAL, "%s: no such method in %s", called,
                           service->descriptor->name);
        return;
    }
    size_t len = 0;
    const uint8_t *payload = nn_rpc_request_payload(req, &len);
    ProtobufCMessage *input = protobuf_c_message_unpack(md->input, NULL, len, payload);
    if (input == NULL) {
        nn_rpc_reply_error(req, EINVAL, "%s: the request is not a %s", called, md->input->name);
        return;
    }
    service->invoke(service, (unsigned)(md - service->descriptor->methods), input, pb_closure, req);
    protobuf_c_message_free_unpacked(input, NULL);
}

NN_API int nn_rpc_service_register_protobuf(nn_rpc *rpc, ProtobufCService *service) {
    if (rpc == NULL || service == NULL || service->descriptor == NULL || service->invoke == NULL) {
        return -EINVAL;
    }
    const ProtobufCServiceDescriptor *desc = service->descriptor;
    for (unsigned i = 0; i < desc->n_methods; i++) {
        char name[256];
        if (nn_rpc_protobuf_method_name(desc, i, name, sizeof(name)) < 0) {
            return -ENAMETOOLONG;
        }
        int rc = nn_rpc_service_register(rpc, name, pb_handler, service);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- security */

NN_API bool nn_node_tls_configured(const nn_node *node) {
    return nn_node_security((nn_node *)node) != NULL;
}

NN_API uint64_t nn_node_cert_generation(const nn_node *node) {
    nn_security *sec = nn_node_security((nn_node *)node);
    return sec != NULL ? nn_security_generation(sec) : 0;
}

NN_API int64_t nn_node_cert_not_after(const nn_node *node) {
    nn_security *sec = nn_node_security((nn_node *)node);
    nn_security_info info;
    if (sec == NULL || nn_security_info_get(sec, &info) < 0) {
        return 0;
    }
    return info.not_after;
}

static size_t copy_out(const char *text, char *out, size_t cap) {
    size_t len = strlen(text);
    if (cap > 0) {
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(out, text, n);
        out[n] = '\0';
    }
    return len;
}

NN_API size_t nn_node_cert_subject(const nn_node *node, char *out, size_t cap) {
    nn_security *sec = nn_node_security((nn_node *)node);
    nn_security_info info;
    if (sec == NULL || nn_security_info_get(sec, &info) < 0) {
        return copy_out("", out, cap);
    }
    return copy_out(info.subject, out, cap);
}

NN_API size_t nn_node_cert_issuer(const nn_node *node, char *out, size_t cap) {
    nn_security *sec = nn_node_security((nn_node *)node);
    nn_security_info info;
    if (sec == NULL || nn_security_info_get(sec, &info) < 0) {
        return copy_out("", out, cap);
    }
    return copy_out(info.issuer, out, cap);
}

NN_API bool nn_tls_facts_encrypted(const nn_tls_facts *f) {
    return f != NULL && f->encrypted;
}

NN_API const char *nn_tls_facts_version(const nn_tls_facts *f) {
    return f != NULL && f->encrypted ? f->version : "";
}

NN_API const char *nn_tls_facts_cipher(const nn_tls_facts *f) {
    return f != NULL && f->encrypted ? f->cipher : "";
}

NN_API bool nn_tls_facts_peer_verified(const nn_tls_facts *f) {
    return f != NULL && f->peer_cert_presented && f->peer_cert_verified;
}

NN_API const char *nn_tls_facts_peer_subject(const nn_tls_facts *f) {
    return f != NULL ? f->peer_subject : "";
}

NN_API const char *nn_tls_facts_peer_issuer(const nn_tls_facts *f) {
    return f != NULL ? f->peer_issuer : "";
}

NN_API const char *nn_tls_facts_peer_cn(const nn_tls_facts *f) {
    return f != NULL ? f->peer_cn : "";
}

NN_API int64_t nn_tls_facts_peer_not_after(const nn_tls_facts *f) {
    return f != NULL ? f->peer_not_after : 0;
}

/* ------------------------------------------------------------------- mysql */

NN_API void nn_node_set_mysql_handler(nn_node *node, const nn_mysql_handler *h, void *arg) {
    nn_mysql_server_set_handler(nn_node_mysql(node), h, arg);
}

typedef struct session_task {
    nn_task task; /* first: the loop hands back this pointer */
    nn_mysql_session *ses;
    void (*fn)(void *arg, nn_mysql_session *ses);
    void *arg;
} session_task;

static void session_task_run(nn_task *task) {
    session_task *t = (session_task *)task;
    t->fn(t->arg, t->ses);
    free(t);
}

NN_API int nn_mysql_session_run(nn_mysql_session *ses, void (*fn)(void *arg, nn_mysql_session *ses),
                                void *arg) {
    if (ses == NULL || fn == NULL) {
        return -EINVAL;
    }
    session_task *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    t->task.fn = session_task_run;
    t->ses = ses;
    t->fn = fn;
    t->arg = arg;
    int rc = nn_loop_post(nn_mysql_session_loop(ses), &t->task);
    if (rc < 0) {
        free(t);
    }
    return rc;
}
