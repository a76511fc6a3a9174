/* mysql/conn.c: one MySQL client connection: the connection phase (greeting, SSLRequest,
 * TLS, HandshakeResponse41, auth plugins and switch, the SSL requirement) and the command
 * phase (commands, answers, result sets).
 *
 * States (one function per transition):
 *   GREETING_SENT --SSLRequest--> TLS_HANDSHAKE --EV_SECURE--> AUTH_RESPONSE
 *   GREETING_SENT / AUTH_RESPONSE --HandshakeResponse41--> [AUTH_SWITCH] [AUTH_FULL]
 *   --password and SSL requirement ok--> COMMAND <--answer-- COMMAND_PENDING
 *   any --error / quit / deadline--> CLOSED
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/session_internal.h"

/* Handshake packets are small; connection attributes are bounded by 64 KiB in MySQL. */
#define AUTH_PHASE_MAX_PACKET (128u * 1024u)

#define SERVER_CAPS                                                                                \
    (NN_CLIENT_LONG_PASSWORD | NN_CLIENT_FOUND_ROWS | NN_CLIENT_LONG_FLAG |                        \
     NN_CLIENT_CONNECT_WITH_DB | NN_CLIENT_NO_SCHEMA | NN_CLIENT_PROTOCOL_41 |                     \
     NN_CLIENT_INTERACTIVE | NN_CLIENT_TRANSACTIONS | NN_CLIENT_SECURE_CONNECTION |                \
     NN_CLIENT_MULTI_RESULTS | NN_CLIENT_PS_MULTI_RESULTS | NN_CLIENT_PLUGIN_AUTH |                \
     NN_CLIENT_CONNECT_ATTRS | NN_CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |                          \
     NN_CLIENT_DEPRECATE_EOF | NN_CLIENT_MULTI_STATEMENTS | NN_CLIENT_SESSION_TRACK |              \
     NN_CLIENT_COMPRESS | NN_CLIENT_ZSTD_COMPRESSION | NN_CLIENT_QUERY_ATTRIBUTES)

/* Connection attributes are bounded by 64 KiB, as MySQL bounds them. */
#define MAX_ATTRS_BYTES 65536u

static const char *state_name(conn_state st) {
    static const char *names[] = {"greeting_sent", "tls_handshake",   "auth_response",
                                  "auth_switch",   "auth_full",       "auth_rsa",
                                  "command",       "command_pending", "closed"};
    return names[st];
}

/* --------------------------------------------------------------- lifetime */

static void session_free(nn_mysql_session *ses) {
    const nn_mysql_server *srv = ses->srv;
    if (srv->handler != NULL && srv->handler->session_end != NULL && ses->logged_in) {
        srv->handler->session_end(srv->handler_arg, ses);
    }
    if (ses->users != NULL) {
        nn_mysql_users_unref(ses->users);
    }
    nn_mysql_session_reset_state(ses);
    nn_mysql_session_qattrs_clear(ses);
    nn_mysql_z_free(ses);
    nn_buf_free(&ses->scratch);
    nn_buf_free(&ses->out);
    nn_buf_free(&ses->wire);
    free(ses->vars);
    free(ses->cols);
    free(ses->attrs);
    free(ses->multi_sql);
    free(ses->facts_cache);
    free(ses);
}

void nn_mysql_session_hold(nn_mysql_session *ses) {
    ses->holds++;
}

void nn_mysql_session_release(nn_mysql_session *ses) {
    if (--ses->holds == 0 && ses->stream == NULL) {
        session_free(ses);
    }
}

static void conn_close(nn_mysql_session *ses, int reason, const char *why) {
    if (ses->state == ST_CLOSED && ses->stream == NULL) {
        return;
    }
    ses->state = ST_CLOSED;
    if (ses->changing_user) {
        /* COM_CHANGE_USER failed: its command will never be answered. The caller (input
         * processing, a deadline) still holds the session, so this never frees it. */
        ses->changing_user = false;
        nn_mysql_session_release(ses);
    }
    if (ses->stream != NULL) {
        nn_mysql_reply_flush(ses); /* the last error packet goes out before the close */
        if (ses->stream != NULL) {
            nn_stream_close(ses->stream, reason, why);
        }
    }
}

void nn_mysql_conn_close(nn_mysql_session *ses, int reason, const char *why) {
    conn_close(ses, reason, why);
}

/* An error that ends the connection (connection phase, protocol violations). */
static void fail_and_close(nn_mysql_session *ses, uint16_t code, const char *sqlstate,
                           const char *msg, const char *log_reason) {
    /* A client can make these at will: rate-limited (20 lines/s, then a summary). */
    static nn_log_limit limit = NN_LOG_LIMIT_INIT(20, 1000);
    nn_log_limited(&limit, NN_LOG_INFO, "mysql.conn.error",
                   "conn=%llu host=%s user=%s state=%s code=%u reason=\"%s\"",
                   (unsigned long long)ses->id, ses->host, ses->user_log[0] ? ses->user_log : "-",
                   state_name(ses->state), code, log_reason ? log_reason : msg);
    nn_mysql_conn_send_error(ses, code, sqlstate, msg);
    conn_close(ses, NN_CLOSE_LOCAL, log_reason ? log_reason : msg);
}

static int keep_attrs(nn_mysql_session *ses, nn_mysql_cursor *c);

/* AuthSwitchRequest: the plugin the account uses, with the connection's scramble. */
static void send_auth_switch(nn_mysql_session *ses, const char *plugin) {
    nn_mysql_put_u8(&ses->out, 0xfe);
    nn_mysql_put_str_nul(&ses->out, plugin);
    nn_buf_append(&ses->out, ses->scramble, NN_MYSQL_SCRAMBLE_LEN);
    nn_mysql_put_u8(&ses->out, 0);
    nn_mysql_conn_send_out(ses);
    ses->state = ST_AUTH_SWITCH;
}

/* --------------------------------------------------------------- greeting */

static int send_greeting(nn_mysql_session *ses) {
    nn_buf *b = &ses->out;
    uint32_t caps = SERVER_CAPS | (ses->tls_offered ? NN_CLIENT_SSL : 0);
    nn_mysql_put_u8(b, 10);
    nn_mysql_put_str_nul(b, ses->srv->server_version);
    nn_mysql_put_u32(b, (uint32_t)ses->id);
    nn_buf_append(b, ses->scramble, 8);
    nn_mysql_put_u8(b, 0);
    nn_mysql_put_u16(b, (uint16_t)caps);
    nn_mysql_put_u8(b, 45); /* utf8mb4_general_ci: every client we serve knows it */
    nn_mysql_put_u16(b, NN_SERVER_STATUS_AUTOCOMMIT);
    nn_mysql_put_u16(b, (uint16_t)(caps >> 16));
    nn_mysql_put_u8(b, NN_MYSQL_SCRAMBLE_LEN + 1);
    static const uint8_t reserved[10] = {0};
    nn_buf_append(b, reserved, sizeof(reserved));
    nn_buf_append(b, ses->scramble + 8, NN_MYSQL_SCRAMBLE_LEN - 8);
    nn_mysql_put_u8(b, 0);
    nn_mysql_put_str_nul(b, ses->settings->default_plugin);
    return nn_mysql_conn_send_out(ses);
}

/* -------------------------------------------------------------------- auth */

static void auth_done(nn_mysql_session *ses) {
    if (ses->users != NULL) {
        nn_mysql_users_unref(ses->users);
        ses->users = NULL;
    }
    ses->account = NULL;
}

static void deny(nn_mysql_session *ses, const char *reason) {
    char msg[512];
    snprintf(msg, sizeof(msg), "Access denied for user '%s'@'%s' (using password: %s)", ses->user,
             ses->host, ses->used_password ? "YES" : "NO");
    /* A wrong-password flood must not flood the log (nor stall workers on stderr). */
    static nn_log_limit limit = NN_LOG_LIMIT_INIT(20, 1000);
    nn_log_limited(&limit, NN_LOG_WARN, "mysql.login.denied",
                   "conn=%llu user=%s host=%s tls=%s reason=\"%s\"", (unsigned long long)ses->id,
                   ses->user_log, ses->host, ses->secure ? ses->tls_version : "off", reason);
    nn_mysql_stats_login_denied(ses, reason);
    auth_done(ses);
    nn_mysql_conn_send_error(ses, NN_ER_ACCESS_DENIED, "28000", msg);
    conn_close(ses, NN_CLOSE_LOCAL, "access denied");
}

static void login_ok(nn_mysql_session *ses) {
    char why[256] = "";
    nn_tls_facts facts; /* read once, for this check only: the session keeps no copy */
    nn_mysql_session_tls_facts(ses, &facts);
    if (nn_ssl_require_check(&ses->account->require, &facts, why, sizeof(why)) < 0) {
        char reason[320];
        snprintf(reason, sizeof(reason), "SSL requirement not met: %s", why);
        nn_mysql_stats_require_denied(ses, &facts);
        deny(ses, reason);
        return;
    }
    nn_mysql_stats_login_ok(ses);
    snprintf(ses->account_host, sizeof(ses->account_host), "%s", ses->account->host);
    nn_log(NN_LOG_INFO, "mysql.login",
           "conn=%llu user=%s host=%s account_host=%s tls=%s cipher=%s peer_cert=%s",
           (unsigned long long)ses->id, ses->user_log, ses->host, ses->account_host,
           ses->secure ? ses->tls_version : "off", ses->secure ? ses->tls_cipher : "-",
           facts.peer_cert_verified ? "verified" : "none");
    auth_done(ses);
    /* The connection phase's payload builder is not used again until a COM_CHANGE_USER. */
    nn_buf_free(&ses->out);
    if (ses->changing_user) {
        ses->changing_user = false;
        nn_mysql_command_change_user_done(ses);
        return;
    }
    ses->state = ST_COMMAND;
    ses->logged_in = true;
    nn_mysql_process_add(ses);
    nn_mysql_conn_send_ok(ses, 0x00, 0, 0, NULL);
    if (ses->z_want != 0) {
        /* The login's OK is the last uncompressed packet. */
        nn_mysql_reply_flush(ses);
        if (nn_mysql_z_start(ses, (nn_mysql_zalgo)ses->z_want, ses->z_want_level) < 0) {
            conn_close(ses, NN_CLOSE_LOCAL, "out of memory");
            return;
        }
    }
    uint64_t idle = ses->settings->idle_timeout_ms;
    nn_stream_set_deadline(ses->stream, nn_now_ns() + NN_MS(idle));
}

/* COM_CHANGE_USER: user, auth response, database, [charset], [plugin], [attributes]. The new
 * account is authenticated from scratch: an AuthSwitchRequest to its plugin, then the
 * password, then the SSL requirement against this session's TLS facts, as at login. The
 * scramble stays the connection's: clients (libmariadb, libmysql) answer a switch during a
 * change of user with it, as MySQL's server expects. A failure is 1045 and the end of the
 * session, as MySQL does. */
int nn_mysql_change_user_parse(const uint8_t *p, size_t len, uint32_t client_caps,
                               nn_mysql_change_user_req *out) {
    memset(out, 0, sizeof(*out));
    nn_mysql_cursor c;
    nn_mysql_cursor_init(&c, p, len);
    out->user = nn_mysql_get_str_nul(&c, &out->user_len);
    if (client_caps & NN_CLIENT_SECURE_CONNECTION) {
        nn_mysql_get_bytes(&c, nn_mysql_get_u8(&c));
    } else {
        nn_mysql_get_str_nul(&c, NULL);
    }
    out->db = nn_mysql_get_str_nul(&c, &out->db_len);
    if (c.bad) {
        return -EPROTO;
    }
    if (c.left >= 2) {
        nn_mysql_get_u16(&c); /* charset: utf8mb4 regardless */
    }
    if ((client_caps & NN_CLIENT_PLUGIN_AUTH) && c.left > 0) {
        nn_mysql_get_str_nul(&c, NULL);
    }
    if ((client_caps & NN_CLIENT_CONNECT_ATTRS) && c.left > 0 && !c.bad) {
        uint64_t attrs = nn_mysql_get_lenenc(&c);
        if (!c.bad && attrs <= c.left) {
            out->attrs = c.p;
            out->attrs_len = (size_t)attrs;
        }
    }
    return 0;
}

void nn_mysql_conn_change_user(nn_mysql_session *ses, const uint8_t *p, size_t len) {
    nn_mysql_change_user_req req;
    /* From here a close releases the command's hold (conn_close): it gets no answer. */
    ses->changing_user = true;
    /* Out of the process list while its user changes (a listing reads these strings). */
    nn_mysql_process_remove(ses);
    if (nn_mysql_change_user_parse(p, len, ses->client_caps, &req) < 0 ||
        req.user_len >= sizeof(ses->user)) {
        ses->state = ST_COMMAND; /* so fail_and_close names the phase */
        fail_and_close(ses, NN_ER_HANDSHAKE, "08S01", "Bad handshake", "malformed COM_CHANGE_USER");
        return;
    }
    if (req.attrs != NULL) {
        nn_mysql_cursor ac;
        nn_mysql_cursor_init(&ac, req.attrs, req.attrs_len);
        (void)keep_attrs(ses, &ac);
    }
    const char *user = req.user;
    size_t user_len = req.user_len;
    const char *db = req.db;
    size_t db_len = req.db_len;
    memcpy(ses->user, user, user_len);
    ses->user[user_len] = '\0';
    for (size_t i = 0; i <= user_len; i++) {
        unsigned char ch = (unsigned char)ses->user[i];
        ses->user_log[i] = (ch == 0 || (ch > 0x20 && ch < 0x7f && ch != '"')) ? (char)ch : '?';
    }
    nn_mysql_session_set_database(ses, db, db_len);
    ses->account_host[0] = '\0';
    ses->used_password = true;
    nn_stream_set_deadline(ses->stream, nn_now_ns() + NN_MS(ses->settings->handshake_timeout_ms));
    nn_mysql_users *users = nn_mysql_catalog_users_get0(ses->srv->catalog, ses->loop);
    nn_mysql_users_ref(users);
    ses->users = users;
    ses->account = nn_mysql_users_match(users, ses->user, ses->host);
    send_auth_switch(ses, ses->account ? ses->account->plugin : ses->settings->default_plugin);
}

static void cache_sha2(nn_mysql_session *ses, const char *pw, size_t pw_len) {
    nn_mysql_account *a = (nn_mysql_account *)ses->account;
    uint8_t *stage2 = malloc(32);
    if (stage2 == NULL) {
        return;
    }
    nn_mysql_sha2_stage2(pw, pw_len, stage2);
    uint8_t *expected = NULL;
    if (!atomic_compare_exchange_strong(&a->sha2_cache, &expected, stage2)) {
        free(stage2); /* another worker cached it first: same value */
    }
}

/* The client's scramble for the account's plugin (first response or after a switch). */
static void verify_response(nn_mysql_session *ses, const uint8_t *data, size_t len) {
    const nn_mysql_account *a = ses->account;
    if (a == NULL && strcmp(ses->settings->default_plugin, NN_PLUGIN_NATIVE) == 0) {
        deny(ses, "no such account"); /* as a wrong mysql_native_password is answered */
        return;
    }
    if (a == NULL) {
        /* Answer as for a caching_sha2 account that is not cached, as MySQL does with its
         * stand-in account, so that replies do not tell which user names exist; the
         * denial comes once the password has been sent. */
        if (len == 0 || (len == 1 && data[0] == 0) || len != 32) {
            deny(ses, "no such account");
            return;
        }
        nn_mysql_put_u8(&ses->out, 0x01);
        nn_mysql_put_u8(&ses->out, 0x04);
        nn_mysql_conn_send_out(ses);
        ses->state = ST_AUTH_FULL;
        return;
    }
    if (strcmp(a->plugin, NN_PLUGIN_NATIVE) == 0) {
        if (nn_mysql_native_verify(a->auth_string, ses->scramble, data, len)) {
            login_ok(ses);
        } else {
            deny(ses, "wrong password (mysql_native_password)");
        }
        return;
    }
    /* caching_sha2_password */
    if (len == 0 || (len == 1 && data[0] == 0)) {
        if (a->auth_string[0] == '\0') {
            login_ok(ses);
        } else {
            deny(ses, "empty password given");
        }
        return;
    }
    if (len != 32) {
        deny(ses, "malformed caching_sha2_password response");
        return;
    }
    if (a->auth_string[0] == '\0') {
        deny(ses, "account has an empty password");
        return;
    }
    const uint8_t *stage2 = atomic_load(&((nn_mysql_account *)a)->sha2_cache);
    if (stage2 != NULL) {
        if (nn_mysql_sha2_verify_fast(stage2, ses->scramble, data, len)) {
            nn_mysql_put_u8(&ses->out, 0x01);
            nn_mysql_put_u8(&ses->out, 0x03); /* fast_auth_success, then OK */
            nn_mysql_conn_send_out(ses);
            login_ok(ses);
        } else {
            deny(ses, "wrong password (caching_sha2_password fast path)");
        }
        return;
    }
    /* Not cached: ask for the cleartext password (perform_full_authentication). */
    nn_mysql_put_u8(&ses->out, 0x01);
    nn_mysql_put_u8(&ses->out, 0x04);
    nn_mysql_conn_send_out(ses);
    ses->state = ST_AUTH_FULL;
}

static void on_full_auth(nn_mysql_session *ses, const uint8_t *data, size_t len) {
    if (len == 1 && data[0] == 0x02 && !ses->secure) {
        /* No TLS: the client asks for our RSA public key to encrypt the password with. */
        size_t pem_len = 0;
        const char *pem = nn_mysql_rsa_public_pem(ses->srv->rsa, &pem_len);
        nn_mysql_put_u8(&ses->out, 0x01);
        nn_buf_append(&ses->out, pem, pem_len);
        nn_mysql_conn_send_out(ses);
        ses->state = ST_AUTH_RSA;
        return;
    }
    if (!ses->secure) {
        deny(ses, "cleartext password sent without TLS; refused");
        return;
    }
    size_t pw_len = len;
    if (pw_len > 0 && data[pw_len - 1] == 0) {
        pw_len--;
    }
    if (ses->account == NULL) {
        deny(ses, "no such account");
        return;
    }
    if (nn_mysql_sha2_check(ses->account->auth_string, (const char *)data, pw_len)) {
        cache_sha2(ses, (const char *)data, pw_len);
        login_ok(ses);
    } else {
        deny(ses, "wrong password (caching_sha2_password full auth)");
    }
}

static void on_rsa_password(nn_mysql_session *ses, const uint8_t *data, size_t len) {
    char pw[512];
    size_t pw_len = 0;
    if (nn_mysql_rsa_decrypt_password(ses->srv->rsa, ses->scramble, data, len, pw, sizeof(pw),
                                      &pw_len) < 0) {
        deny(ses, "RSA-encrypted password did not decrypt");
        return;
    }
    bool ok = ses->account != NULL && nn_mysql_sha2_check(ses->account->auth_string, pw, pw_len);
    if (ok) {
        cache_sha2(ses, pw, pw_len);
    }
    memset(pw, 0, sizeof(pw));
    if (ok) {
        login_ok(ses);
    } else {
        deny(ses, ses->account == NULL ? "no such account"
                                       : "wrong password (caching_sha2_password full auth, RSA)");
    }
}

static void start_tls(nn_mysql_session *ses) {
    nn_err err;
    nn_err_clear(&err);
    ses->state = ST_TLS_HANDSHAKE;
    atomic_fetch_add_explicit(&ses->srv->ssl_accepts, 1, memory_order_relaxed);
    if (nn_tls_stream_start(ses->stream, ses->srv->sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL,
                            &err) < 0) {
        nn_log(NN_LOG_WARN, "mysql.tls.error", "conn=%llu host=%s reason=\"%s\"",
               (unsigned long long)ses->id, ses->host, err.msg);
        conn_close(ses, NN_CLOSE_LAYER, "cannot start TLS");
    }
}

/* Connection attributes: lenenc key, lenenc value pairs, kept as "key\0value\0". Keys or
 * values with a NUL are refused rather than cut. */
static int keep_attrs(nn_mysql_session *ses, nn_mysql_cursor *c) {
    if (c->left > MAX_ATTRS_BYTES) {
        return -EINVAL;
    }
    char *blob = malloc(c->left + 1);
    if (blob == NULL) {
        return -ENOMEM;
    }
    size_t len = 0;
    size_t count = 0;
    while (c->left > 0 && !c->bad) {
        for (int part = 0; part < 2; part++) {
            size_t n = (size_t)nn_mysql_get_lenenc(c);
            const uint8_t *p = nn_mysql_get_bytes(c, n);
            if (p == NULL || memchr(p, 0, n) != NULL) {
                free(blob);
                return -EINVAL;
            }
            memcpy(blob + len, p, n);
            len += n;
            blob[len++] = '\0';
        }
        count++;
    }
    if (c->bad) {
        free(blob);
        return -EINVAL;
    }
    free(ses->attrs);
    ses->attrs = blob;
    ses->attrs_len = len;
    ses->attr_count = count;
    return 0;
}

/* HandshakeResponse41 or SSLRequest. Returns true if TLS must start after consuming. */
static bool on_handshake_response(nn_mysql_session *ses, const uint8_t *p, size_t len) {
    nn_mysql_cursor c;
    nn_mysql_cursor_init(&c, p, len);
    uint32_t caps = nn_mysql_get_u32(&c);
    nn_mysql_get_u32(&c); /* max packet: the client's own limit */
    nn_mysql_get_u8(&c);  /* charset: utf8mb4 regardless */
    nn_mysql_get_bytes(&c, 23);
    if (c.bad || !(caps & NN_CLIENT_PROTOCOL_41)) {
        fail_and_close(ses, NN_ER_HANDSHAKE, "08S01", "Bad handshake",
                       "handshake response too short or not protocol 4.1");
        return false;
    }
    if (c.left == 0 && (caps & NN_CLIENT_SSL)) {
        /* SSLRequest: exactly the fixed 32 bytes. */
        if (!ses->tls_offered || ses->state != ST_GREETING_SENT) {
            fail_and_close(ses, NN_ER_HANDSHAKE, "08S01", "Bad handshake",
                           ses->tls_offered ? "second SSLRequest" : "SSLRequest but TLS is off");
            return false;
        }
        return true;
    }
    if ((caps & NN_CLIENT_SSL) && !ses->secure) {
        fail_and_close(ses, NN_ER_HANDSHAKE, "08S01", "Bad handshake",
                       "client claims SSL without an SSLRequest");
        return false;
    }
    ses->client_caps = caps;
    ses->caps = caps & (SERVER_CAPS | NN_CLIENT_SSL);
    size_t user_len = 0;
    const char *user = nn_mysql_get_str_nul(&c, &user_len);
    const uint8_t *auth = NULL;
    size_t auth_len = 0;
    if (caps & NN_CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
        auth_len = (size_t)nn_mysql_get_lenenc(&c);
        auth = nn_mysql_get_bytes(&c, auth_len);
    } else if (caps & NN_CLIENT_SECURE_CONNECTION) {
        auth_len = nn_mysql_get_u8(&c);
        auth = nn_mysql_get_bytes(&c, auth_len);
    } else {
        auth = (const uint8_t *)nn_mysql_get_str_nul(&c, &auth_len);
    }
    if (c.bad || user_len >= sizeof(ses->user)) {
        fail_and_close(ses, NN_ER_HANDSHAKE, "08S01", "Bad handshake",
                       "malformed user name or auth response");
        return false;
    }
    memcpy(ses->user, user, user_len);
    ses->user[user_len] = '\0';
    for (size_t i = 0; i <= user_len; i++) {
        unsigned char ch = (unsigned char)ses->user[i];
        ses->user_log[i] = (ch == 0 || (ch > 0x20 && ch < 0x7f && ch != '"')) ? (char)ch : '?';
    }
    if ((caps & NN_CLIENT_CONNECT_WITH_DB) && c.left > 0) {
        size_t db_len = 0;
        const char *db = nn_mysql_get_str_nul(&c, &db_len);
        if (db != NULL) {
            nn_mysql_session_set_database(ses, db, db_len);
        }
    }
    char plugin[64] = NN_PLUGIN_NATIVE;
    if ((caps & NN_CLIENT_PLUGIN_AUTH) && c.left > 0 && !c.bad) {
        /* Some clients end the packet without the plugin name's NUL. */
        const uint8_t *nul = memchr(c.p, 0, c.left);
        size_t n = nul ? (size_t)(nul - c.p) : c.left;
        if (n < sizeof(plugin)) {
            memcpy(plugin, c.p, n);
            plugin[n] = '\0';
        }
        nn_mysql_get_bytes(&c, nul ? n + 1 : n);
    }
    if ((caps & NN_CLIENT_CONNECT_ATTRS) && c.left > 0) {
        uint64_t attrs = nn_mysql_get_lenenc(&c);
        if (c.bad || attrs > c.left) {
            fail_and_close(ses, NN_ER_HANDSHAKE, "08S01", "Bad handshake",
                           "connection attributes overrun the packet");
            return false;
        }
        nn_mysql_cursor ac;
        nn_mysql_cursor_init(&ac, c.p, (size_t)attrs);
        nn_mysql_get_bytes(&c, (size_t)attrs);
        if (keep_attrs(ses, &ac) < 0) {
            fail_and_close(ses, NN_ER_HANDSHAKE, "08S01", "Bad handshake",
                           "malformed connection attributes");
            return false;
        }
    }
    /* zstd's level byte follows the attributes; with both flags MySQL uses zlib. */
    if (ses->caps & NN_CLIENT_ZSTD_COMPRESSION) {
        ses->z_want = NN_MYSQL_Z_ZSTD;
        ses->z_want_level = c.left > 0 ? nn_mysql_get_u8(&c) : 3;
    }
    if (ses->caps & NN_CLIENT_COMPRESS) {
        ses->z_want = NN_MYSQL_Z_ZLIB;
        ses->z_want_level = 6;
    }
    if (c.bad) {
        fail_and_close(ses, NN_ER_HANDSHAKE, "08S01", "Bad handshake", "malformed packet");
        return false;
    }
    ses->used_password = auth_len > 0;
    if (ses->settings->require_secure_transport && !ses->secure) {
        fail_and_close(ses, NN_ER_SECURE_TRANSPORT_REQUIRED, "HY000",
                       "Connections using insecure transport are prohibited while "
                       "--require_secure_transport=ON.",
                       "plaintext login refused: require_secure_transport=ON");
        return false;
    }
    nn_mysql_users *users = nn_mysql_catalog_users_get0(ses->srv->catalog, ses->loop);
    nn_mysql_users_ref(users);
    ses->users = users;
    ses->account = nn_mysql_users_match(users, ses->user, ses->host);
    /* An unknown user is answered as an account of the default plugin would be. */
    const char *want = ses->account ? ses->account->plugin : ses->settings->default_plugin;
    if (strcmp(want, plugin) != 0 ||
        (strcmp(plugin, NN_PLUGIN_NATIVE) != 0 && strcmp(plugin, NN_PLUGIN_SHA2) != 0)) {
        if (!(caps & NN_CLIENT_PLUGIN_AUTH)) {
            fail_and_close(ses, NN_ER_NOT_SUPPORTED_AUTH_MODE, "08004",
                           "Client does not support authentication protocol requested by "
                           "server; consider upgrading MySQL client",
                           "client cannot switch auth plugin");
            return false;
        }
        send_auth_switch(ses, want);
        return false;
    }
    verify_response(ses, auth, auth_len);
    return false;
}

/* --------------------------------------------------------------- the input */

/* Whether the client's next command may be read: not while the replies it has not read
 * are over the session's output limit (a client that pipelines and never reads costs that
 * limit, not the sum of its replies). Reading resumes once half has drained. */
static bool output_has_room(nn_mysql_session *ses) {
    if (nn_mysql_reply_pending(ses) < nn_mysql_reply_limit(ses)) {
        return true;
    }
    if (!ses->input_paused) {
        ses->input_paused = true;
        nn_mysql_reply_flush(ses);
        if (ses->stream != NULL) {
            nn_stream_pause_reading(ses->stream, true);
            nn_stream_want_writable(ses->stream, nn_mysql_reply_limit(ses) / 2);
        }
    }
    return false;
}

void nn_mysql_conn_process_input(nn_mysql_session *ses) {
    if (ses->in_input) {
        return;
    }
    ses->in_input = true;
    nn_mysql_session_hold(ses);
    while (ses->stream != NULL) {
        conn_state st = ses->state;
        if (st == ST_TLS_HANDSHAKE || st == ST_COMMAND_PENDING || st == ST_CLOSED) {
            break;
        }
        bool command = st == ST_COMMAND;
        if (command && !output_has_room(ses)) {
            break;
        }
        size_t in_len = 0;
        const uint8_t *in = NULL;
        /* Where this packet came from: compression may start while it is handled (the
         * login), and then what follows is compressed, not this packet. */
        bool from_z = ses->z != NULL;
        if (from_z) {
            const char *why = NULL;
            int zrc = nn_mysql_z_input(ses, &in, &in_len, &why);
            if (zrc < 0) {
                ses->seq = 1;
                fail_and_close(ses, zrc == -EMSGSIZE ? NN_ER_NET_PACKET_TOO_LARGE : 1157, "08S01",
                               zrc == -EMSGSIZE
                                   ? "Got a packet bigger than 'max_allowed_packet' bytes"
                                   : "Couldn't uncompress communication packet",
                               why);
                break;
            }
        } else {
            in = nn_stream_input(ses->stream, &in_len);
        }
        if (in_len == 0) {
            break;
        }
        uint8_t expected = command ? 0 : ses->seq;
        size_t max = command ? ses->settings->max_allowed_packet : AUTH_PHASE_MAX_PACKET;
        nn_mysql_packet pkt;
        size_t consumed = 0;
        int rc = nn_mysql_packet_read(in, in_len, expected, max, &ses->scratch, &pkt, &consumed);
        if (rc == 0) {
            break;
        }
        if (rc == -EMSGSIZE) {
            ses->seq = (uint8_t)(expected + 1);
            fail_and_close(ses, NN_ER_NET_PACKET_TOO_LARGE, "08S01",
                           "Got a packet bigger than 'max_allowed_packet' bytes",
                           "packet larger than max_allowed_packet");
            break;
        }
        if (rc == -EPROTO) {
            char why[96];
            snprintf(why, sizeof(why), "wrong sequence id %u, expected %u", pkt.bad_seq, expected);
            ses->seq = (uint8_t)(pkt.bad_seq + 1);
            fail_and_close(ses, NN_ER_NET_PACKETS_OUT_OF_ORDER, "08S01", "Got packets out of order",
                           why);
            break;
        }
        if (rc < 0) {
            conn_close(ses, NN_CLOSE_LOCAL, "out of memory");
            break;
        }
        ses->seq = pkt.next_seq;
        bool tls = false;
        switch (st) {
        case ST_GREETING_SENT:
        case ST_AUTH_RESPONSE:
            tls = on_handshake_response(ses, pkt.payload, pkt.len);
            break;
        case ST_AUTH_SWITCH:
            verify_response(ses, pkt.payload, pkt.len);
            break;
        case ST_AUTH_FULL:
            on_full_auth(ses, pkt.payload, pkt.len);
            break;
        case ST_AUTH_RSA:
            on_rsa_password(ses, pkt.payload, pkt.len);
            break;
        case ST_COMMAND:
            nn_mysql_command_dispatch(ses, pkt.payload, pkt.len);
            break;
        default:
            break;
        }
        if (ses->stream == NULL) {
            break;
        }
        /* Consume before TLS starts: everything after the SSLRequest is TLS input. */
        if (from_z) {
            nn_mysql_z_consume(ses, consumed);
        } else {
            nn_stream_consume(ses->stream, consumed);
        }
        if (tls) {
            start_tls(ses);
        }
    }
    ses->in_input = false;
    nn_mysql_session_release(ses);
}

/* ---------------------------------------------------------- stream handler */

static int on_open(nn_stream *s, void *arg) {
    nn_mysql_server *srv = arg;
    nn_mysql_session *ses = calloc(1, sizeof(*ses));
    if (ses == NULL) {
        return -ENOMEM;
    }
    ses->srv = srv;
    ses->stream = s;
    ses->loop = nn_stream_loop(s);
    ses->id = nn_stream_id(s);
    ses->settings = atomic_load_explicit(&srv->settings, memory_order_acquire);
    ses->tls_offered = ses->settings->tls && srv->sec != NULL;
    snprintf(ses->host, sizeof(ses->host), "%s", nn_stream_peer_host(s));
    if (nn_mysql_scramble_new(ses->scramble, sizeof(ses->scramble)) < 0) {
        free(ses);
        return -EIO;
    }
    ses->holds = 0;
    nn_stream_set_user(s, ses);
    atomic_fetch_add(&srv->connections, 1);
    atomic_fetch_add(&srv->threads_connected, 1);
    nn_stream_set_deadline(s, nn_now_ns() + NN_MS(ses->settings->handshake_timeout_ms));
    ses->state = ST_GREETING_SENT;
    ses->seq = 0;
    send_greeting(ses);
    return 0;
}

static void on_readable(nn_stream *s) {
    nn_mysql_session *ses = nn_stream_user(s);
    if (ses != NULL) {
        nn_mysql_conn_process_input(ses);
    }
}

static void on_event(nn_stream *s, int event) {
    nn_mysql_session *ses = nn_stream_user(s);
    if (ses == NULL || event != NN_STREAM_EV_SECURE || ses->state != ST_TLS_HANDSHAKE) {
        return;
    }
    nn_tls_names(s, &ses->tls_version, &ses->tls_cipher);
    ses->secure = ses->tls_version != NULL;
    atomic_fetch_add_explicit(&ses->srv->ssl_finished_accepts, 1, memory_order_relaxed);
    ses->state = ST_AUTH_RESPONSE; /* HandshakeResponse41 comes next, seq 2, inside TLS */
    nn_mysql_conn_process_input(ses);
}

static void on_close(nn_stream *s, int reason, const char *why) {
    nn_mysql_session *ses = nn_stream_user(s);
    if (ses == NULL) {
        return;
    }
    nn_log(NN_LOG_DEBUG, "mysql.conn.close", "conn=%llu host=%s state=%s reason=%d why=\"%s\"",
           (unsigned long long)ses->id, ses->host, state_name(ses->state), reason, why ? why : "");
    atomic_fetch_sub(&ses->srv->threads_connected, 1);
    nn_mysql_process_remove(ses);
    ses->stream = NULL;
    auth_done(ses);
    if (ses->changing_user) {
        /* The client left in the middle of COM_CHANGE_USER: that command will never be
         * answered, so its hold goes here (the check below frees the session). */
        ses->changing_user = false;
        ses->holds--;
    }
    if (ses->writable_fn != NULL) {
        /* An engine waiting for room learns (rows say -ECANCELED) that none will come. */
        nn_mysql_session_on_writable(ses, ses->writable_fn, ses->writable_arg);
    }
    if (ses->holds == 0) {
        session_free(ses);
    }
}

static void on_refuse(nn_stream *s, void *arg) {
    /* Error packet in place of the greeting, sequence id 0. */
    static const char msg[] = "Too many connections";
    uint8_t pkt[4 + 9 + sizeof(msg) - 1];
    size_t len = 9 + sizeof(msg) - 1;
    pkt[0] = (uint8_t)len;
    pkt[1] = 0;
    pkt[2] = 0;
    pkt[3] = 0;
    pkt[4] = 0xff;
    pkt[5] = (uint8_t)(NN_ER_CON_COUNT & 0xff);
    pkt[6] = (uint8_t)(NN_ER_CON_COUNT >> 8);
    pkt[7] = '#';
    memcpy(pkt + 8, "08004", 5);
    memcpy(pkt + 13, msg, sizeof(msg) - 1);
    nn_stream_write(s, pkt, sizeof(pkt));
    nn_log(NN_LOG_WARN, "mysql.refused", "host=%s reason=max_connections", nn_stream_peer_host(s));
}

static void on_drain(nn_stream *s) {
    nn_mysql_session *ses = nn_stream_user(s);
    if (ses == NULL) {
        nn_stream_close(s, NN_CLOSE_SHUTDOWN, "server stopping");
        return;
    }
    ses->draining = true;
    if (ses->state != ST_COMMAND_PENDING) {
        conn_close(ses, NN_CLOSE_SHUTDOWN, "server stopping");
    }
}

static void on_writable(nn_stream *s) {
    nn_mysql_session *ses = nn_stream_user(s);
    if (ses == NULL) {
        return;
    }
    nn_mysql_session_hold(ses);
    nn_mysql_session_writable_fire(ses);
    if (ses->input_paused && ses->stream != NULL) {
        ses->input_paused = false;
        nn_stream_pause_reading(ses->stream, false);
        nn_mysql_conn_process_input(ses);
    }
    nn_mysql_session_release(ses);
}

static void on_flush(nn_stream *s) {
    nn_mysql_session *ses = nn_stream_user(s);
    if (ses != NULL) {
        nn_mysql_reply_flush(ses);
    }
}

static void on_deadline(nn_stream *s) {
    nn_mysql_session *ses = nn_stream_user(s);
    const char *what = "idle timeout";
    if (ses != NULL && ses->state != ST_COMMAND) {
        what = "handshake/auth timeout";
    }
    /* Thousands of stalled clients all hit their deadline together: rate-limited. */
    static nn_log_limit limit = NN_LOG_LIMIT_INIT(20, 1000);
    nn_log_limited(&limit, NN_LOG_INFO, "mysql.deadline",
                   "conn=%llu host=%s state=%s reason=\"%s\"",
                   ses ? (unsigned long long)ses->id : 0ull, nn_stream_peer_host(s),
                   ses ? state_name(ses->state) : "-", what);
    if (ses != NULL) {
        conn_close(ses, NN_CLOSE_DEADLINE, what);
    } else {
        nn_stream_close(s, NN_CLOSE_DEADLINE, what);
    }
}

static const nn_stream_handler conn_handler = {
    .on_open = on_open,
    .on_readable = on_readable,
    .on_event = on_event,
    .on_close = on_close,
    .on_refuse = on_refuse,
    .on_drain = on_drain,
    .on_deadline = on_deadline,
    .on_writable = on_writable,
    .on_flush = on_flush,
};

const nn_stream_handler *nn_mysql_conn_handler(void) {
    return &conn_handler;
}
