/* mysql/server.c: the server object, its settings and their live reconfiguration. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/mysql_internal.h"

#define DEFAULT_MAX_PACKET (64u * 1024u * 1024u)

static nn_mysql_settings *settings_new(const nn_mysql_config *cfg) {
    nn_mysql_settings *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->tls = cfg->tls;
    s->require_secure_transport = cfg->require_secure_transport;
    s->max_allowed_packet = cfg->max_allowed_packet ? cfg->max_allowed_packet : DEFAULT_MAX_PACKET;
    s->handshake_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 10000;
    s->idle_timeout_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : 28800000;
    s->default_plugin = cfg->native_password_default ? NN_PLUGIN_NATIVE : NN_PLUGIN_SHA2;
    s->output_limit = cfg->output_limit_bytes ? cfg->output_limit_bytes : 1024u * 1024u;
    s->max_prepared_stmts = cfg->max_prepared_stmts ? cfg->max_prepared_stmts : 1024;
    s->max_cursor_bytes = cfg->max_cursor_bytes ? cfg->max_cursor_bytes : 64u * 1024u * 1024u;
    return s;
}

nn_mysql_server *nn_mysql_server_new(const nn_mysql_config *cfg, nn_security *sec, nn_err *err) {
    if (cfg == NULL || cfg->data_dir == NULL || cfg->data_dir[0] == '\0') {
        nn_err_set(err, EINVAL, "mysql: data_dir is required");
        return NULL;
    }
    nn_mysql_server *srv = calloc(1, sizeof(*srv));
    nn_mysql_settings *s = settings_new(cfg);
    if (srv == NULL || s == NULL) {
        free(srv);
        free(s);
        nn_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&srv->settings, s);
    pthread_mutex_init(&srv->reconfigure_lock, NULL);
    pthread_mutex_init(&srv->process_lock, NULL);
    srv->sec = sec;
    snprintf(srv->server_version, sizeof(srv->server_version), "%s",
             cfg->server_version ? cfg->server_version : "8.0.36-nodenet");
    snprintf(srv->data_dir, sizeof(srv->data_dir), "%s", cfg->data_dir);
    srv->started_ns = nn_now_ns();
    srv->catalog = nn_mysql_catalog_open(cfg->data_dir, err);
    if (srv->catalog == NULL) {
        nn_err_prefix(err, "mysql: user catalog");
        nn_mysql_server_free(srv);
        return NULL;
    }
    srv->rsa = nn_mysql_rsa_new(err);
    if (srv->rsa == NULL) {
        nn_err_prefix(err, "mysql");
        nn_mysql_server_free(srv);
        return NULL;
    }
    if (cfg->tls && sec == NULL) {
        nn_log(NN_LOG_WARN, "mysql.config",
               "reason=\"mysql_tls is on but no certificates: TLS "
               "is not offered\"");
    }
    return srv;
}

int nn_mysql_server_listener(nn_mysql_server *srv, const char *host, uint16_t port,
                             nn_listener_config *out) {
    memset(out, 0, sizeof(*out));
    out->name = "mysql";
    out->host = host;
    out->port = port;
    out->handler = nn_mysql_conn_handler();
    out->handler_arg = srv;
    return 0;
}

int nn_mysql_server_reconfigure(nn_mysql_server *srv, const nn_mysql_config *cfg, nn_err *err) {
    nn_mysql_settings *s = settings_new(cfg);
    if (s == NULL) {
        return nn_err_set(err, ENOMEM, "out of memory");
    }
    /* Sessions keep a pointer to the settings they were accepted with, so older copies
     * live until the server is freed (a reconfigure is rare; each copy is tiny). */
    pthread_mutex_lock(&srv->reconfigure_lock);
    s->older = atomic_load(&srv->settings);
    atomic_store_explicit(&srv->settings, s, memory_order_release);
    pthread_mutex_unlock(&srv->reconfigure_lock);
    nn_log(NN_LOG_INFO, "mysql.reconfigure", "tls=%s require_secure_transport=%s",
           s->tls && srv->sec ? "on" : "off", s->require_secure_transport ? "on" : "off");
    return 0;
}

void nn_mysql_server_set_handler(nn_mysql_server *srv, const nn_mysql_handler *h, void *arg) {
    srv->handler = h;
    srv->handler_arg = arg;
}

void nn_mysql_server_set_catalog_listener(nn_mysql_server *srv, const char *origin,
                                          nn_mysql_catalog_listener fn, void *arg) {
    nn_mysql_catalog_set_listener(srv->catalog, origin, fn, arg);
}

int nn_mysql_server_catalog_apply(nn_mysql_server *srv, const uint8_t *bytes, size_t len,
                                  nn_mysql_catalog_apply_fn done, void *arg, nn_err *err) {
    if (bytes == NULL && len != 0) {
        return nn_err_set(err, EINVAL, "catalog change: no bytes");
    }
    if (done == NULL) {
        return nn_err_set(err, EINVAL, "catalog change: no completion callback");
    }
    if (nn_mysql_catalog_merge_submit(srv->catalog, bytes ? bytes : (const uint8_t *)"", len, done,
                                      arg) < 0) {
        return nn_err_set(err, ENOMEM, "out of memory");
    }
    return 0;
}

int nn_mysql_server_catalog_snapshot(nn_mysql_server *srv, nn_mysql_catalog_snapshot_fn done,
                                     void *arg) {
    return nn_mysql_catalog_export_submit(srv->catalog, done, arg);
}

void nn_mysql_server_catalog_digest(nn_mysql_server *srv, nn_mysql_catalog_digest *out) {
    nn_mysql_catalog_digest_get(srv->catalog, out);
}

void nn_mysql_server_free(nn_mysql_server *srv) {
    if (srv == NULL) {
        return;
    }
    nn_mysql_catalog_close(srv->catalog);
    nn_mysql_rsa_free(srv->rsa);
    nn_mysql_settings *s = atomic_load(&srv->settings);
    while (s != NULL) {
        nn_mysql_settings *older = s->older;
        free(s);
        s = older;
    }
    pthread_mutex_destroy(&srv->reconfigure_lock);
    pthread_mutex_destroy(&srv->process_lock);
    free(srv);
}
