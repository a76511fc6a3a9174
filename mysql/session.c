/* mysql/session.c: the session's facts and variables as handlers read and set them
 * (answers are in result.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql/session_internal.h"

/* ------------------------------------------------------------------ accessors */

const char *nn_mysql_session_user(const nn_mysql_session *ses) {
    return ses->user;
}

const char *nn_mysql_session_host(const nn_mysql_session *ses) {
    return ses->host;
}

const char *nn_mysql_session_account_host(const nn_mysql_session *ses) {
    return ses->account_host;
}

const char *nn_mysql_session_database(const nn_mysql_session *ses) {
    return ses->database;
}

uint64_t nn_mysql_session_id(const nn_mysql_session *ses) {
    return ses->id;
}

void nn_mysql_session_tls_facts(const nn_mysql_session *ses, nn_tls_facts *out) {
    if (ses->stream != NULL) {
        nn_tls_facts_get(ses->stream, out);
        return;
    }
    memset(out, 0, sizeof(*out));
    if (ses->secure) {
        out->encrypted = true;
        snprintf(out->version, sizeof(out->version), "%s", ses->tls_version);
        snprintf(out->cipher, sizeof(out->cipher), "%s", ses->tls_cipher);
    }
}

const nn_tls_facts *nn_mysql_session_tls(const nn_mysql_session *ses) {
    /* Only embedders ask (for a pointer that lives as long as the session): the copy is
     * made on their first call, so sessions nobody asks about hold none. The facts do not
     * change once the handshake is done, so later calls return the same copy. */
    static const nn_tls_facts none;
    if (ses->facts_cache == NULL) {
        nn_tls_facts *f = malloc(sizeof(*f));
        if (f == NULL) {
            return &none;
        }
        nn_mysql_session_tls_facts(ses, f);
        ((nn_mysql_session *)ses)->facts_cache = f; /* a cache: the session is not const */
    }
    return ses->facts_cache;
}

nn_loop *nn_mysql_session_loop(const nn_mysql_session *ses) {
    return ses->loop;
}

void nn_mysql_session_set_user_data(nn_mysql_session *ses, void *data) {
    ses->user_data = data;
}

void *nn_mysql_session_user_data(const nn_mysql_session *ses) {
    return ses->user_data;
}

nn_mysql_server *nn_mysql_session_server(const nn_mysql_session *ses) {
    return ses->srv;
}

bool nn_mysql_session_may_manage_users(nn_mysql_session *ses) {
    nn_mysql_users *u = nn_mysql_catalog_users_get0(ses->srv->catalog, ses->loop);
    const nn_mysql_account *a = nn_mysql_users_find(u, ses->user, ses->account_host);
    /* The bootstrap root has the flag; a name alone grants nothing ('root'@'10.0.0.9'
     * made later is an ordinary account). */
    return a != NULL && a->admin;
}

const char *nn_mysql_session_var(const nn_mysql_session *ses, const char *name) {
    for (size_t i = 0; i < ses->var_count; i++) {
        if (strcmp(ses->vars[i].name, name) == 0) {
            return ses->vars[i].value;
        }
    }
    return NULL;
}

/* Whether a change of name is reported to a client that tracks system variables: those
 * listed in the session's session_track_system_variables ('*' = all), by default MySQL's
 * time_zone, autocommit and the character sets. */
static bool tracked(const nn_mysql_session *ses, const char *name) {
    if (!(ses->caps & NN_CLIENT_SESSION_TRACK) || name[0] == '@') {
        return false;
    }
    const char *list = nn_mysql_session_var(ses, "session_track_system_variables");
    if (list == NULL) {
        list = "time_zone,autocommit,character_set_client,character_set_results,"
               "character_set_connection";
    }
    size_t n = strlen(name);
    for (const char *p = list; *p != '\0';) {
        while (*p == ',' || *p == ' ') {
            p++;
        }
        const char *end = p;
        while (*end != '\0' && *end != ',') {
            end++;
        }
        size_t len = (size_t)(end - p);
        while (len > 0 && p[len - 1] == ' ') {
            len--;
        }
        if ((len == 1 && *p == '*') || (len == n && strncasecmp(p, name, n) == 0)) {
            return true;
        }
        p = end;
    }
    return false;
}

int nn_mysql_session_var_set(nn_mysql_session *ses, const char *name, const char *value) {
    if (tracked(ses, name)) {
        nn_mysql_session_track_variable(ses, name, value);
    }
    char *v = strdup(value);
    if (v == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < ses->var_count; i++) {
        if (strcmp(ses->vars[i].name, name) == 0) {
            free(ses->vars[i].value);
            ses->vars[i].value = v;
            return 0;
        }
    }
    if (ses->var_count >= 256) {
        free(v);
        return -ENOSPC; /* a bound on what one client can make us hold */
    }
    session_var *more = realloc(ses->vars, (ses->var_count + 1) * sizeof(*more));
    char *n = strdup(name);
    if (more == NULL || n == NULL) {
        free(n);
        free(v);
        if (more != NULL) {
            ses->vars = more;
        }
        return -ENOMEM;
    }
    ses->vars = more;
    ses->vars[ses->var_count].name = n;
    ses->vars[ses->var_count].value = v;
    ses->var_count++;
    return 0;
}

void nn_mysql_session_set_database(nn_mysql_session *ses, const char *db, size_t len) {
    if (len >= sizeof(ses->database)) {
        len = sizeof(ses->database) - 1;
    }
    nn_mysql_process_set_database(ses, db, len);
    if (ses->caps & NN_CLIENT_SESSION_TRACK) {
        /* SESSION_TRACK_SCHEMA: type, then the entry's length, then the name. */
        nn_buf entry = {0};
        nn_mysql_put_lenenc_str(&entry, ses->database, len);
        nn_mysql_put_u8(&ses->track, NN_SESSION_TRACK_SCHEMA);
        nn_mysql_put_lenenc_str(&ses->track, nn_buf_begin(&entry), entry.len);
        nn_buf_free(&entry);
    }
}

void nn_mysql_session_track_variable(nn_mysql_session *ses, const char *name, const char *value) {
    if (!(ses->caps & NN_CLIENT_SESSION_TRACK) || ses->track.len > 4096) {
        return; /* a bound on what one session can make us hold */
    }
    nn_buf entry = {0};
    nn_mysql_put_lenenc_str(&entry, name, strlen(name));
    nn_mysql_put_lenenc_str(&entry, value, strlen(value));
    nn_mysql_put_u8(&ses->track, NN_SESSION_TRACK_SYSTEM_VARIABLES);
    nn_mysql_put_lenenc_str(&ses->track, nn_buf_begin(&entry), entry.len);
    nn_buf_free(&entry);
}

const char *nn_mysql_session_attr(const nn_mysql_session *ses, const char *key) {
    const char *k = NULL;
    const char *v = NULL;
    for (size_t i = 0; nn_mysql_session_attr_at(ses, i, &k, &v); i++) {
        if (strcmp(k, key) == 0) {
            return v;
        }
    }
    return NULL;
}

bool nn_mysql_session_attr_at(const nn_mysql_session *ses, size_t i, const char **key,
                              const char **value) {
    if (i >= ses->attr_count) {
        return false;
    }
    const char *p = ses->attrs;
    for (size_t n = 0; n < i; n++) {
        p += strlen(p) + 1;
        p += strlen(p) + 1;
    }
    *key = p;
    *value = p + strlen(p) + 1;
    return true;
}

const nn_mysql_value *nn_mysql_session_query_attr(const nn_mysql_session *ses, const char *name) {
    for (uint32_t i = 0; i < ses->qattr_count; i++) {
        if (ses->qattr_names[i] != NULL && strcmp(ses->qattr_names[i], name) == 0) {
            return &ses->qattrs[i];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------- statements */

uint32_t nn_mysql_stmt_id(const nn_mysql_stmt *stmt) {
    return stmt->id;
}

uint32_t nn_mysql_stmt_param_count(const nn_mysql_stmt *stmt) {
    return stmt->param_count;
}

const char *nn_mysql_stmt_sql(const nn_mysql_stmt *stmt, size_t *len) {
    if (len != NULL) {
        *len = stmt->sql_len;
    }
    return stmt->sql;
}

void nn_mysql_stmt_set_user_data(nn_mysql_stmt *stmt, void *data) {
    stmt->user_data = data;
}

void *nn_mysql_stmt_user_data(const nn_mysql_stmt *stmt) {
    return stmt->user_data;
}

const char *nn_mysql_session_compression(const nn_mysql_session *ses, int *level) {
    *level = nn_mysql_z_level(ses);
    return nn_mysql_z_name(ses);
}

void nn_mysql_session_cipher_list(const nn_mysql_session *ses, char *out, size_t cap) {
    if (ses->stream == NULL || !ses->secure) {
        out[0] = '\0';
        return;
    }
    nn_tls_cipher_list(ses->stream, out, cap);
}

void nn_mysql_session_set_in_transaction(nn_mysql_session *ses, bool in_transaction) {
    ses->in_transaction = in_transaction;
}
