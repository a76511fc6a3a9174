/* security/tls_stream.c: the TLS engine as a layer of net/'s streams.
 *
 * Thin glue: the engine's ciphertext goes to the stream's output (nn_stream_layer_send),
 * its plaintext is written in place into the stream's input (deliver_space/commit), and
 * the end of the handshake becomes NN_STREAM_EV_SECURE. A failure returned from the input
 * hook makes net/ close the stream with NN_CLOSE_LAYER and the engine's "tls: ..." why.
 * The protocol's writes are queued and sealed when net/ flushes (end of the callback round),
 * so a round's many small frames or MySQL packets travel in one record, not one each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "security/security_internal.h"

typedef struct tls_layer {
    nn_stream *stream;
    nn_tls_engine *engine;
    nn_tls_role role;
} tls_layer;

static int io_send(void *arg, const uint8_t *data, size_t len) {
    tls_layer *l = arg;
    return nn_stream_layer_send(l->stream, data, len);
}

static uint8_t *io_deliver_space(void *arg, size_t want) {
    tls_layer *l = arg;
    return nn_stream_layer_deliver_space(l->stream, want);
}

static void io_deliver_commit(void *arg, size_t n) {
    tls_layer *l = arg;
    nn_stream_layer_deliver_commit(l->stream, n);
}

static void io_on_secure(void *arg) {
    tls_layer *l = arg;
    nn_stream_layer_event(l->stream, NN_STREAM_EV_SECURE);
}

/* The peer's close_notify: answer with ours. The stream itself closes on the TCP FIN that
 * follows (net/ reports NN_CLOSE_PEER), so that the plaintext delivered just before still
 * reaches the protocol; nothing the peer sends after close_notify is delivered. */
static void io_on_peer_close(void *arg) {
    tls_layer *l = arg;
    nn_tls_engine_shutdown(l->engine);
}

static const nn_tls_engine_io stream_io = {
    .send = io_send,
    .deliver_space = io_deliver_space,
    .deliver_commit = io_deliver_commit,
    .on_secure = io_on_secure,
    .on_peer_close = io_on_peer_close,
};

static int layer_input(void *layer, nn_stream *s, const uint8_t *data, size_t len, nn_err *err) {
    tls_layer *l = layer;
    bool was_failed = nn_tls_engine_state_get(l->engine) == NN_TLS_ENGINE_FAILED;
    int rc = nn_tls_engine_input(l->engine, data, len, err);
    if (rc < 0 && !was_failed) {
        /* Peer-caused, so info; the operator still sees who failed and why. */
        nn_log(NN_LOG_INFO, "tls.failed", "stream=%llu peer=%s:%u role=%s why=\"%s\"",
               (unsigned long long)nn_stream_id(s), nn_stream_peer_host(s),
               (unsigned)nn_stream_peer_port(s), l->role == NN_TLS_CLIENT ? "client" : "server",
               err != NULL ? err->msg : "");
        /* A graceful close rather than an error return: net/ drops queued output on a layer
         * error, and the queued output holds the alert that tells the peer why (a MySQL
         * client then prints "tlsv1 alert unknown ca", not "unexpected eof"). */
        nn_stream_close(s, NN_CLOSE_LAYER, err != NULL ? err->msg : "tls: failed");
        return 0;
    }
    return rc;
}

static int layer_write(void *layer, nn_stream *s, const struct iovec *iov, int iovcnt,
                       nn_err *err) {
    tls_layer *l = layer;
    if (nn_tls_engine_state_get(l->engine) == NN_TLS_ENGINE_CLOSED) {
        /* The peer closed its side and ours answered: a late write ends the stream
         * gracefully, so that the close_notify already queued is still sent. */
        nn_stream_close(s, NN_CLOSE_PEER, "tls: the peer sent close_notify");
        return 0;
    }
    return nn_tls_engine_queue(l->engine, iov, iovcnt, err);
}

/* net/ is about to send: seal what this round queued (one record for many small writes). */
static int layer_flush(void *layer, nn_stream *s, nn_err *err) {
    tls_layer *l = layer;
    return nn_tls_engine_flush(l->engine, err);
}

static void layer_shutdown(void *layer, nn_stream *s) {
    tls_layer *l = layer;
    nn_tls_engine_shutdown(l->engine);
}

static void layer_free(void *layer) {
    tls_layer *l = layer;
    nn_tls_engine_free(l->engine);
    free(l);
}

static const nn_stream_layer_ops tls_layer_ops = {
    .name = "tls",
    .input = layer_input,
    .write = layer_write,
    .shutdown = layer_shutdown,
    .flush = layer_flush,
    .free = layer_free,
};

static int stream_start(nn_stream *s, nn_security *sec, nn_tls_role role,
                        nn_tls_peer_cert peer_cert, const char *peer_key, nn_err *err) {
    if (s == NULL || sec == NULL) {
        return nn_err_set(err, EINVAL, "tls: no stream or no security context");
    }
    tls_layer *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return nn_err_set(err, ENOMEM, "tls: out of memory");
    }
    l->stream = s;
    l->role = role;
    nn_sec_store *store = nn_sec_store_acquire(sec);
    l->engine = nn_tls_engine_new(store, role, peer_cert, peer_key, &stream_io, l, err);
    nn_sec_store_unref(store); /* the engine holds its own reference */
    if (l->engine == NULL) {
        free(l);
        return -(err != NULL && err->code != 0 ? err->code : ENOMEM);
    }
    /* The server may find the ClientHello already buffered: push_layer feeds it at once. */
    int rc = nn_stream_push_layer(s, &tls_layer_ops, l, err);
    if (rc < 0) {
        if (nn_stream_get0_layer(s, &tls_layer_ops) != l) {
            layer_free(l); /* not pushed: still ours */
        }
        return rc;
    }
    if (role == NN_TLS_CLIENT) {
        rc = nn_tls_engine_start(l->engine, err);
        if (rc < 0) {
            nn_stream_close(s, NN_CLOSE_LAYER, err != NULL ? err->msg : "tls: start failed");
        }
    }
    return rc;
}

int nn_tls_stream_start(nn_stream *s, nn_security *sec, nn_tls_role role,
                        nn_tls_peer_cert peer_cert, nn_err *err) {
    return stream_start(s, sec, role, peer_cert, NULL, err);
}

int nn_tls_stream_start_client(nn_stream *s, nn_security *sec, const char *peer_key, nn_err *err) {
    return stream_start(s, sec, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED, peer_key, err);
}

int nn_tls_peer_recheck(const nn_stream *s, nn_security *sec, nn_err *err) {
    const tls_layer *l = s != NULL ? nn_stream_get0_layer(s, &tls_layer_ops) : NULL;
    if (l == NULL || sec == NULL) {
        return 0;
    }
    nn_sec_store *store = nn_sec_store_acquire(sec);
    int rc = nn_tls_engine_peer_recheck(l->engine, store, err);
    nn_sec_store_unref(store);
    return rc;
}

int nn_tls_facts_get(const nn_stream *s, nn_tls_facts *out) {
    const tls_layer *l = s != NULL ? nn_stream_get0_layer(s, &tls_layer_ops) : NULL;
    if (l == NULL) {
        memset(out, 0, sizeof(*out));
        return 0;
    }
    nn_tls_engine_facts(l->engine, out);
    return 0;
}

void nn_tls_names(const nn_stream *s, const char **version, const char **cipher) {
    const tls_layer *l = s != NULL ? nn_stream_get0_layer(s, &tls_layer_ops) : NULL;
    if (l == NULL) {
        *version = NULL;
        *cipher = NULL;
        return;
    }
    nn_tls_engine_names(l->engine, version, cipher);
}

size_t nn_tls_cipher_list(const nn_stream *s, char *out, size_t cap) {
    const tls_layer *l = s != NULL ? nn_stream_get0_layer(s, &tls_layer_ops) : NULL;
    if (l == NULL) {
        if (cap > 0) {
            out[0] = '\0';
        }
        return 0;
    }
    return nn_tls_engine_cipher_list(l->engine, out, cap);
}

void nn_tls_quiet_close(nn_stream *s) {
    tls_layer *l = s != NULL ? nn_stream_get0_layer(s, &tls_layer_ops) : NULL;
    if (l != NULL) {
        nn_tls_engine_quiet_shutdown(l->engine);
    }
}

/* A TLS connection opens with a handshake record (content type 22) of a 3.x version whose
 * first message is a ClientHello (type 1): RFC 8446 5.1 and 4. Three bytes already rule
 * out every plaintext protocol we serve; the sixth confirms it. */
int nn_tls_sniff(const uint8_t *data, size_t len) {
    static const uint8_t record_handshake = 0x16;
    static const uint8_t client_hello = 0x01;
    if (len < 1) {
        return -EAGAIN;
    }
    if (data[0] != record_handshake) {
        return 0;
    }
    if (len < 2) {
        return -EAGAIN;
    }
    if (data[1] != 0x03) {
        return 0;
    }
    if (len < 3) {
        return -EAGAIN;
    }
    if (data[2] > 0x04) {
        return 0;
    }
    if (len < 6) {
        return -EAGAIN;
    }
    return data[5] == client_hello ? 1 : 0;
}
