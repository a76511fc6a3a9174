/* security/tls_engine.c: one TLS session over memory, BoringSSL underneath.
 *
 * A custom BIO connects BoringSSL to the engine: its read side hands out the input slice
 * the caller gave to nn_tls_engine_input() (no copy into a memory BIO first) and says
 * "retry" when it is used up; its write side passes ciphertext straight to io->send (the
 * stream's output). BoringSSL keeps partial records in its own read buffer, so every input
 * byte is taken in one call. Nothing here blocks or touches a socket.
 *
 * States: HANDSHAKE -> OPEN -> CLOSED (peer's close_notify), any -> FAILED.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "security/security_internal.h"

/* One TLS record's worth of plaintext: what SSL_read can return at once. */
#define READ_CHUNK 16384
/* SSL_write takes an int; larger writes go in slices. */
#define WRITE_SLICE (1u << 20)
/* The most plaintext one TLS record carries (RFC 8446 5.1): queued writes are sealed in
 * records this full, and a queue this full is sealed at once. */
#define RECORD_PLAINTEXT 16384
/* The queue's first allocation: a typical round's replies fit without a realloc. */
#define QUEUE_FIRST_CAP 2048

struct nn_tls_engine {
    nn_tls_engine_state state;
    nn_tls_role role;
    bool shutdown_sent;
    bool send_failed;
    SSL *ssl;
    nn_sec_store *store;
    char *peer_key;
    nn_tls_engine_io io;
    void *io_arg;
    const uint8_t *in; /* the slice the BIO reads from, during nn_tls_engine_input() */
    size_t in_len;
    /* Plaintext not sealed yet: written before the handshake completed (any amount), or
     * queued by nn_tls_engine_queue() since the last flush (under one record). */
    uint8_t *pending;
    size_t pending_len;
    size_t pending_cap;
    struct nn_tls_peer *peer; /* MySQL port: what the facts say of the client certificate */
    char failure[320];
};

/* ------------------------------------------------------------ the BIO */

static BIO_METHOD *engine_bio_method;
static pthread_once_t engine_bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *bio, const char *data, int len) {
    nn_tls_engine *e = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (len <= 0) {
        return 0;
    }
    if (e->io.send(e->io_arg, (const uint8_t *)data, (size_t)len) < 0) {
        e->send_failed = true;
        return -1;
    }
    return len;
}

static int bio_read(BIO *bio, char *out, int len) {
    nn_tls_engine *e = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (len <= 0) {
        return 0;
    }
    if (e->in_len == 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    size_t n = e->in_len < (size_t)len ? e->in_len : (size_t)len;
    memcpy(out, e->in, n);
    e->in += n;
    e->in_len -= n;
    return (int)n;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr) {
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* output is already with the caller */
}

static int bio_create(BIO *bio) {
    BIO_set_init(bio, 1);
    return 1;
}

static void bio_method_init(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "nodenet-tls");
    if (m != NULL) {
        BIO_meth_set_write(m, bio_write);
        BIO_meth_set_read(m, bio_read);
        BIO_meth_set_ctrl(m, bio_ctrl);
        BIO_meth_set_create(m, bio_create);
    }
    engine_bio_method = m;
}

/* ------------------------------------------------------------ the client certificate */

/* The MySQL port keeps what the facts say of the client's certificate, not the certificate:
 * each established session would otherwise hold the parsed X509 (about 5 KB of small blocks)
 * and its DER for the life of the connection, when the policy reads a few strings of it once
 * (REQUIRE X509/SUBJECT/ISSUER at login). BoringSSL is asked to keep only the hash
 * (SSL_set_retain_only_sha256_of_client_certs: the certificate is dropped when the handshake
 * ends, so SSL_get_peer_certificate() is NULL after it), and the strings are taken here while
 * the handshake still has it.
 * Not on the RPC port: a session that keeps only the hash also puts only the hash in its
 * tickets, so a resumed channel would have no certificate to check the node's identity
 * against (BoringSSL serializes the leaf only when no hash stands for it). */
struct nn_tls_peer {
    int64_t not_before;
    int64_t not_after;
    const char *issuer; /* into text, like cn and sans */
    const char *cn;
    const char *sans;
    char text[]; /* subject, issuer, cn, sans: each NUL-terminated */
};

static void peer_take(nn_tls_engine *e, X509 *cert) {
    nn_tls_facts f; /* the facts' own forms and limits */
    nn_sec_cert_describe(cert, f.peer_subject, sizeof(f.peer_subject), f.peer_issuer,
                         sizeof(f.peer_issuer), f.peer_cn, sizeof(f.peer_cn), f.peer_sans,
                         sizeof(f.peer_sans), &f.peer_not_before, &f.peer_not_after);
    size_t ls = strlen(f.peer_subject) + 1;
    size_t li = strlen(f.peer_issuer) + 1;
    size_t lc = strlen(f.peer_cn) + 1;
    size_t ln = strlen(f.peer_sans) + 1;
    struct nn_tls_peer *p = malloc(sizeof(*p) + ls + li + lc + ln);
    if (p == NULL) {
        return; /* fails closed: the facts then say no certificate was presented */
    }
    p->not_before = f.peer_not_before;
    p->not_after = f.peer_not_after;
    memcpy(p->text, f.peer_subject, ls);
    memcpy(p->text + ls, f.peer_issuer, li);
    memcpy(p->text + ls + li, f.peer_cn, lc);
    memcpy(p->text + ls + li + lc, f.peer_sans, ln);
    p->issuer = p->text + ls;
    p->cn = p->issuer + li;
    p->sans = p->cn + lc;
    e->peer = p;
}

/* BoringSSL's info callback runs at every step of the handshake: the first step that finds
 * the client's certificate (parsed from its Certificate message) takes its strings. A certificate
 * that then fails to verify fails the handshake, and facts are only given out after a handshake
 * that completed. */
static void engine_info(const SSL *ssl, int type, int value) {
    if ((type & SSL_CB_LOOP) == 0) {
        return;
    }
    BIO *bio = SSL_get_rbio(ssl);
    nn_tls_engine *e = bio != NULL ? BIO_get_data(bio) : NULL;
    if (e == NULL || e->peer != NULL) {
        return;
    }
    X509 *cert = SSL_get_peer_certificate(ssl);
    if (cert != NULL) {
        peer_take(e, cert);
        X509_free(cert);
    }
}

static void peer_facts(const struct nn_tls_peer *p, nn_tls_facts *out) {
    snprintf(out->peer_subject, sizeof(out->peer_subject), "%s", p->text);
    snprintf(out->peer_issuer, sizeof(out->peer_issuer), "%s", p->issuer);
    snprintf(out->peer_cn, sizeof(out->peer_cn), "%s", p->cn);
    snprintf(out->peer_sans, sizeof(out->peer_sans), "%s", p->sans);
    out->peer_not_before = p->not_before;
    out->peer_not_after = p->not_after;
}

/* ------------------------------------------------------------ failures */

static int engine_fail(nn_tls_engine *e, int ssl_error, nn_err *err) {
    char reason[200];
    if (e->send_failed) {
        snprintf(reason, sizeof(reason), "out of memory for output");
        ERR_clear_error();
    } else if (ssl_error == SSL_ERROR_SSL) {
        nn_sec_ssl_error_text(reason, sizeof(reason));
        long verify = SSL_get_verify_result(e->ssl);
        if (verify != X509_V_OK && strstr(reason, "certificate verify failed") != NULL) {
            size_t used = strlen(reason);
            snprintf(reason + used, sizeof(reason) - used, ": %s",
                     X509_verify_cert_error_string(verify));
        }
    } else if (ssl_error == SSL_ERROR_ZERO_RETURN) {
        snprintf(reason, sizeof(reason), "peer closed the session during the handshake");
    } else {
        snprintf(reason, sizeof(reason), "%s",
                 SSL_error_description(ssl_error) != NULL ? SSL_error_description(ssl_error)
                                                          : "unknown error");
        ERR_clear_error();
    }
    snprintf(e->failure, sizeof(e->failure), "tls: %s", reason);
    e->state = NN_TLS_ENGINE_FAILED;
    return nn_err_set(err, EPROTO, "%s", e->failure);
}

/* ------------------------------------------------------------ lifecycle */

int nn_tls_engine_new_session_cb(SSL *ssl, SSL_SESSION *session) {
    /* The engine is the BIO's data: SSL_set_app_data would cost every SSL an ex_data stack. */
    BIO *bio = SSL_get_rbio(ssl);
    nn_tls_engine *e = bio != NULL ? BIO_get_data(bio) : NULL;
    if (e != NULL && e->peer_key != NULL) {
        nn_sec_store_session_put(e->store, e->peer_key, session);
    }
    return 0; /* the cache took its own reference */
}

nn_tls_engine *nn_tls_engine_new(nn_sec_store *store, nn_tls_role role, nn_tls_peer_cert peer_cert,
                                 const char *peer_key, const nn_tls_engine_io *io, void *io_arg,
                                 nn_err *err) {
    pthread_once(&engine_bio_once, bio_method_init);
    if (engine_bio_method == NULL) {
        nn_err_set(err, ENOMEM, "tls: cannot create the BIO method");
        return NULL;
    }
    nn_tls_engine *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        nn_err_set(err, ENOMEM, "tls: out of memory");
        return NULL;
    }
    e->state = NN_TLS_ENGINE_HANDSHAKE;
    e->role = role;
    e->io = *io;
    e->io_arg = io_arg;
    if (peer_key != NULL && role == NN_TLS_CLIENT && (e->peer_key = strdup(peer_key)) == NULL) {
        free(e);
        nn_err_set(err, ENOMEM, "tls: out of memory");
        return NULL;
    }
    SSL_CTX *ctx = role == NN_TLS_SERVER       ? store->server_ctx
                   : role == NN_TLS_RPC_SERVER ? store->rpc_server_ctx
                                               : store->client_ctx;
    e->ssl = SSL_new(ctx);
    BIO *bio = e->ssl != NULL ? BIO_new(engine_bio_method) : NULL;
    if (bio == NULL) {
        SSL_free(e->ssl);
        free(e->peer_key);
        free(e);
        ERR_clear_error();
        nn_err_set(err, ENOMEM, "tls: out of memory");
        return NULL;
    }
    nn_sec_store_ref(store);
    e->store = store;
    BIO_set_data(bio, e);
    SSL_set_bio(e->ssl, bio, bio); /* one reference, owned by the SSL */
    /* An established session keeps what it negotiated but not the copy of the context's
     * settings (cipher and group lists, verify parameters, certificate): about 1 KB less per
     * idle connection. Nothing here reads that configuration after the handshake. */
    SSL_set_shed_handshake_config(e->ssl, 1);
    if (role != NN_TLS_CLIENT) {
        int mode = SSL_VERIFY_PEER;
        if (peer_cert == NN_TLS_PEER_CERT_REQUIRED) {
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        }
        SSL_set_verify(e->ssl, mode, NULL);
        if (role == NN_TLS_SERVER) {
            SSL_set_retain_only_sha256_of_client_certs(e->ssl, 1);
            SSL_set_info_callback(e->ssl, engine_info);
        }
        SSL_set_accept_state(e->ssl);
    } else {
        SSL_set_verify(e->ssl, SSL_VERIFY_PEER, NULL);
        SSL_set_connect_state(e->ssl);
        if (e->peer_key != NULL) {
            SSL_SESSION *session = nn_sec_store_session_get(store, e->peer_key);
            if (session != NULL) {
                SSL_set_session(e->ssl, session); /* a stale one just means a full handshake */
                SSL_SESSION_free(session);
            }
        }
    }
    return e;
}

void nn_tls_engine_free(nn_tls_engine *e) {
    if (e == NULL) {
        return;
    }
    SSL_free(e->ssl);
    nn_sec_store_unref(e->store);
    free(e->peer_key);
    free(e->pending);
    free(e->peer);
    free(e);
}

nn_tls_engine_state nn_tls_engine_state_get(const nn_tls_engine *e) {
    return e->state;
}

int nn_tls_engine_peer_recheck(const nn_tls_engine *e, nn_sec_store *store, nn_err *err) {
    if (e->state != NN_TLS_ENGINE_OPEN && e->state != NN_TLS_ENGINE_CLOSED) {
        return 0;
    }
    X509 *leaf = SSL_get_peer_certificate(e->ssl);
    if (leaf == NULL && e->peer != NULL) {
        /* The MySQL port keeps only the hash of a client certificate: nothing to check. */
        return nn_err_set(err, ENOTSUP,
                          "tls: the client certificate was not kept (only its "
                          "hash is, on the MySQL port): cannot check it again");
    }
    if (leaf == NULL) {
        return 0; /* none presented, which the role allowed (MySQL) */
    }
    /* The chain as the peer sent it, checked as BoringSSL checks a handshake's: the same
     * trust store (CAs, CRLs, flags) of this role, the purpose of the peer's role. */
    SSL_CTX *ctx = e->role == NN_TLS_SERVER       ? store->server_ctx
                   : e->role == NN_TLS_RPC_SERVER ? store->rpc_server_ctx
                                                  : store->client_ctx;
    X509_STORE_CTX *vctx = X509_STORE_CTX_new();
    int rc = 0;
    if (vctx == NULL ||
        !X509_STORE_CTX_init(vctx, SSL_CTX_get_cert_store(ctx), leaf,
                             SSL_get_peer_cert_chain(e->ssl)) ||
        !X509_STORE_CTX_set_default(vctx, e->role == NN_TLS_CLIENT ? "ssl_server" : "ssl_client")) {
        rc = nn_err_set(err, ENOMEM, "tls: cannot set up a certificate check");
    } else if (X509_verify_cert(vctx) != 1) {
        int verr = X509_STORE_CTX_get_error(vctx);
        rc = nn_err_set(err, verr == X509_V_ERR_CERT_REVOKED ? EKEYREVOKED : EACCES,
                        "certificate verify failed: %s", X509_verify_cert_error_string(verr));
    }
    ERR_clear_error();
    X509_STORE_CTX_free(vctx);
    X509_free(leaf);
    return rc;
}

/* ------------------------------------------------------------ data flow */

static int write_now(nn_tls_engine *e, const uint8_t *data, size_t len, nn_err *err) {
    while (len > 0) {
        int n = len > WRITE_SLICE ? (int)WRITE_SLICE : (int)len;
        int r = SSL_write(e->ssl, data, n);
        if (r <= 0) {
            return engine_fail(e, SSL_get_error(e->ssl, r), err);
        }
        data += r;
        len -= (size_t)r;
    }
    return 0;
}

static int read_all(nn_tls_engine *e, nn_err *err) {
    while (e->state == NN_TLS_ENGINE_OPEN) {
        uint8_t *space = e->io.deliver_space(e->io_arg, READ_CHUNK);
        if (space == NULL) {
            e->state = NN_TLS_ENGINE_FAILED;
            snprintf(e->failure, sizeof(e->failure), "tls: out of memory for input");
            return nn_err_set(err, ENOMEM, "%s", e->failure);
        }
        int r = SSL_read(e->ssl, space, READ_CHUNK);
        if (r > 0) {
            e->io.deliver_commit(e->io_arg, (size_t)r);
            continue;
        }
        e->io.deliver_commit(e->io_arg, 0);
        int code = SSL_get_error(e->ssl, r);
        if (code == SSL_ERROR_WANT_READ) {
            return 0;
        }
        if (code == SSL_ERROR_ZERO_RETURN) {
            e->state = NN_TLS_ENGINE_CLOSED;
            if (e->io.on_peer_close != NULL) {
                e->io.on_peer_close(e->io_arg);
            }
            return 0;
        }
        return engine_fail(e, code, err);
    }
    return 0;
}

static int handshake(nn_tls_engine *e, nn_err *err) {
    int r = SSL_do_handshake(e->ssl);
    if (r != 1) {
        int code = SSL_get_error(e->ssl, r);
        if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
            return 0;
        }
        return engine_fail(e, code, err);
    }
    e->state = NN_TLS_ENGINE_OPEN;
    if (e->pending_len > 0) {
        int rc = write_now(e, e->pending, e->pending_len, err);
        free(e->pending);
        e->pending = NULL;
        e->pending_len = e->pending_cap = 0;
        if (rc < 0) {
            return rc;
        }
    }
    /* Last: the protocol may write, or even close, from inside its event. */
    if (e->io.on_secure != NULL) {
        e->io.on_secure(e->io_arg);
    }
    return 0;
}

int nn_tls_engine_start(nn_tls_engine *e, nn_err *err) {
    if (e->state == NN_TLS_ENGINE_FAILED) {
        return nn_err_set(err, EPROTO, "%s", e->failure);
    }
    if (e->role == NN_TLS_CLIENT && e->state == NN_TLS_ENGINE_HANDSHAKE) {
        return handshake(e, err); /* sends the ClientHello */
    }
    return 0;
}

int nn_tls_engine_input(nn_tls_engine *e, const uint8_t *data, size_t len, nn_err *err) {
    if (e->state == NN_TLS_ENGINE_FAILED) {
        return nn_err_set(err, EPROTO, "%s", e->failure);
    }
    if (e->state == NN_TLS_ENGINE_CLOSED) {
        return 0; /* after close_notify nothing the peer sends counts */
    }
    e->in = data;
    e->in_len = len;
    int rc = 0;
    if (e->state == NN_TLS_ENGINE_HANDSHAKE) {
        rc = handshake(e, err);
    }
    if (rc == 0 && e->state == NN_TLS_ENGINE_OPEN) {
        rc = read_all(e, err);
    }
    e->in = NULL;
    e->in_len = 0;
    return rc;
}

static int pending_append(nn_tls_engine *e, const uint8_t *data, size_t len, nn_err *err) {
    if (len > SIZE_MAX - e->pending_len) {
        return nn_err_set(err, ENOMEM, "tls: out of memory");
    }
    if (e->pending_len + len > e->pending_cap) {
        size_t cap = e->pending_cap > 0 ? e->pending_cap : QUEUE_FIRST_CAP;
        while (cap < e->pending_len + len) {
            cap = cap > SIZE_MAX / 2 ? e->pending_len + len : cap * 2;
        }
        uint8_t *grown = realloc(e->pending, cap);
        if (grown == NULL) {
            return nn_err_set(err, ENOMEM, "tls: out of memory");
        }
        e->pending = grown;
        e->pending_cap = cap;
    }
    memcpy(e->pending + e->pending_len, data, len);
    e->pending_len += len;
    return 0;
}

/* Seals the queue and releases its storage: an idle session holds none (the full benchmark
 * showed +2 KiB per idle connection while it was kept). */
static int pending_seal(nn_tls_engine *e, nn_err *err) {
    if (e->pending_len == 0) {
        return 0;
    }
    int rc = write_now(e, e->pending, e->pending_len, err);
    free(e->pending);
    e->pending = NULL;
    e->pending_len = 0;
    e->pending_cap = 0;
    return rc;
}

int nn_tls_engine_queue(nn_tls_engine *e, const struct iovec *iov, int iovcnt, nn_err *err) {
    if (e->state != NN_TLS_ENGINE_OPEN || e->shutdown_sent) {
        return nn_tls_engine_write(e, iov, iovcnt, err); /* same errors, same pre-handshake queue */
    }
    for (int i = 0; i < iovcnt; i++) {
        const uint8_t *data = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        while (len > 0) {
            if (e->pending_len == 0 && len >= RECORD_PLAINTEXT) {
                /* Whole records straight from the caller's bytes: no copy into the queue. */
                size_t whole = len - len % RECORD_PLAINTEXT;
                int rc = write_now(e, data, whole, err);
                if (rc < 0) {
                    return rc;
                }
                data += whole;
                len -= whole;
                continue;
            }
            size_t room = RECORD_PLAINTEXT - e->pending_len;
            size_t take = len < room ? len : room;
            int rc = pending_append(e, data, take, err);
            if (rc < 0) {
                return rc;
            }
            data += take;
            len -= take;
            if (e->pending_len == RECORD_PLAINTEXT && (rc = pending_seal(e, err)) < 0) {
                return rc;
            }
        }
    }
    return 0;
}

int nn_tls_engine_flush(nn_tls_engine *e, nn_err *err) {
    /* Before the handshake completes the queue waits for it; after a failure (reported
     * where it happened, and the alert is already queued) nothing more is sealed. */
    if (e->state != NN_TLS_ENGINE_OPEN && e->state != NN_TLS_ENGINE_CLOSED) {
        return 0;
    }
    return pending_seal(e, err);
}

int nn_tls_engine_write(nn_tls_engine *e, const struct iovec *iov, int iovcnt, nn_err *err) {
    if (e->state == NN_TLS_ENGINE_FAILED) {
        return nn_err_set(err, EPROTO, "%s", e->failure);
    }
    if (e->state == NN_TLS_ENGINE_CLOSED || e->shutdown_sent) {
        return nn_err_set(err, EPIPE, "tls: the session is closed");
    }
    if (e->state == NN_TLS_ENGINE_OPEN) {
        int rc = pending_seal(e, err); /* what was queued goes first */
        if (rc < 0) {
            return rc;
        }
    }
    for (int i = 0; i < iovcnt; i++) {
        const uint8_t *data = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        if (len == 0) {
            continue;
        }
        int rc = e->state == NN_TLS_ENGINE_OPEN ? write_now(e, data, len, err)
                                                 : pending_append(e, data, len, err);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

void nn_tls_engine_shutdown(nn_tls_engine *e) {
    if (e->shutdown_sent) {
        return;
    }
    e->shutdown_sent = true;
    /* close_notify only means something on an established session; mid-handshake or after
     * a failure the stream just closes. What was queued goes before it. */
    if (e->state == NN_TLS_ENGINE_OPEN || e->state == NN_TLS_ENGINE_CLOSED) {
        if (pending_seal(e, NULL) < 0) {
            return;
        }
        SSL_shutdown(e->ssl);
        ERR_clear_error();
    }
}

void nn_tls_engine_quiet_shutdown(nn_tls_engine *e) {
    SSL_set_quiet_shutdown(e->ssl, 1);
}

void nn_tls_engine_facts(const nn_tls_engine *e, nn_tls_facts *out) {
    memset(out, 0, sizeof(*out));
    if (e->state != NN_TLS_ENGINE_OPEN && e->state != NN_TLS_ENGINE_CLOSED) {
        return;
    }
    SSL *ssl = e->ssl;
    out->encrypted = true;
    snprintf(out->version, sizeof(out->version), "%s", SSL_get_version(ssl));
    const char *cipher = SSL_get_cipher(ssl);
    snprintf(out->cipher, sizeof(out->cipher), "%s", cipher != NULL ? cipher : "");
    out->session_reused = SSL_session_reused(ssl) == 1;
    out->verify_result = SSL_get_verify_result(ssl);
    X509 *peer = SSL_get_peer_certificate(ssl);
    if (peer != NULL) {
        out->peer_cert_presented = true;
        out->peer_cert_verified = out->verify_result == X509_V_OK;
        nn_sec_cert_describe(peer, out->peer_subject, sizeof(out->peer_subject), out->peer_issuer,
                             sizeof(out->peer_issuer), out->peer_cn, sizeof(out->peer_cn),
                             out->peer_sans, sizeof(out->peer_sans), &out->peer_not_before,
                             &out->peer_not_after);
        X509_free(peer);
    } else if (e->peer != NULL) {
        out->peer_cert_presented = true;
        out->peer_cert_verified = out->verify_result == X509_V_OK;
        peer_facts(e->peer, out);
    }
    if (e->role != NN_TLS_CLIENT) {
        out->local_not_before = e->store->info.not_before;
        out->local_not_after = e->store->info.not_after;
    } else {
        out->local_not_before = e->store->client_not_before;
        out->local_not_after = e->store->client_not_after;
    }
}

void nn_tls_engine_names(const nn_tls_engine *e, const char **version, const char **cipher) {
    *version = NULL;
    *cipher = NULL;
    if (e->state != NN_TLS_ENGINE_OPEN && e->state != NN_TLS_ENGINE_CLOSED) {
        return;
    }
    /* Both point into BoringSSL's static tables (version names, the cipher suite table). */
    *version = SSL_get_version(e->ssl);
    const SSL_CIPHER *c = SSL_get_current_cipher(e->ssl);
    *cipher = c != NULL ? SSL_CIPHER_get_name(c) : "";
}

size_t nn_tls_engine_cipher_list(const nn_tls_engine *e, char *out, size_t cap) {
    size_t at = 0;
    if (cap > 0) {
        out[0] = '\0';
    }
    if (e->state != NN_TLS_ENGINE_OPEN && e->state != NN_TLS_ENGINE_CLOSED) {
        return 0;
    }
    /* The context's list: the session's own copy is shed after the handshake. */
    STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(SSL_get_SSL_CTX(e->ssl));
    for (size_t i = 0; ciphers != NULL && i < sk_SSL_CIPHER_num(ciphers); i++) {
        const char *name = SSL_CIPHER_get_name(sk_SSL_CIPHER_value(ciphers, i));
        int n = snprintf(out + at, at < cap ? cap - at : 0, "%s%s", at ? ":" : "", name);
        if (n < 0) {
            break;
        }
        at += (size_t)n;
    }
    return at;
}
