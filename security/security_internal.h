/* security/security_internal.h: what security/'s own files (and its unit tests) share.
 *
 * Three pieces, from the bottom up:
 *   nn_sec_store   one immutable certificate-store snapshot: the BoringSSL contexts built
 *                  from one load of the files, reference counted (cert_store.c);
 *   nn_tls_engine  a TLS session over memory: raw bytes in, plaintext out and the reverse,
 *                  through a small I/O table, never a socket (tls_engine.c);
 *   the stream layer glue that plugs an engine into net/'s nn_stream (tls_stream.c).
 * The engine knows nothing about net/'s streams, so tests pump bytes between two engines.
 */
#ifndef NODENET_SECURITY_INTERNAL_H
#define NODENET_SECURITY_INTERNAL_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "security/security.h"

/* ------------------------------------------------------------ store snapshot */

/* Client sessions remembered per peer so that reconnects resume (TLS tickets). Lives in
 * the snapshot: a reload (new CA, new certificate) starts with an empty cache, so no
 * session negotiated under the old trust is resumed under the new. */
#define NN_SEC_SESSION_SLOTS 64

typedef struct nn_sec_session_slot {
    char peer[128];
    SSL_SESSION *session; /* owned */
    uint64_t used;        /* LRU clock */
} nn_sec_session_slot;

typedef struct nn_sec_store {
    _Atomic uint64_t refs;
    uint64_t generation;
    uint64_t serial;           /* process-unique (generations restart per nn_security) */
    SSL_CTX *server_ctx;       /* NN_TLS_SERVER: the MySQL port */
    SSL_CTX *rpc_server_ctx;   /* NN_TLS_RPC_SERVER: the RPC port */
    SSL_CTX *client_ctx;       /* NN_TLS_CLIENT: outbound RPC */
    nn_security_info info;     /* of the server certificate */
    int64_t client_not_before; /* of the client-role certificate */
    int64_t client_not_after;
    /* Outbound connects only (rare, never per packet): a mutex is fine here. */
    pthread_mutex_t session_lock;
    uint64_t session_clock;
    nn_sec_session_slot sessions[NN_SEC_SESSION_SLOTS];
} nn_sec_store;

/* ------------------------------------------------------------ store build */

/* The files of a store, in the order they are checked. */
enum {
    NN_SEC_F_CA,
    NN_SEC_F_CERT,
    NN_SEC_F_KEY,
    NN_SEC_F_CLIENT_CERT,
    NN_SEC_F_CLIENT_KEY,
    NN_SEC_F_CRL, /* optional: path NULL when security.crl_file is not set */
    NN_SEC_F_COUNT
};

/* What a store is built from: resolved paths (no %n left) and the TLS settings. */
typedef struct nn_sec_settings {
    char *node_name;
    char *path[NN_SEC_F_COUNT];
    const char *key_name[NN_SEC_F_COUNT]; /* the config key for messages: "security.cert_file" */
    int min_version;                      /* MySQL port: TLS1_2_VERSION or TLS1_3_VERSION */
    int rpc_min_version;                  /* RPC, both directions */
    char *ciphers;
    uint32_t watch_interval_ms;
} nn_sec_settings;

/* Loads and checks every file and builds both SSL_CTXs: a new snapshot with one reference,
 * or NULL with err = "<config key>: <file>: <reason>". */
nn_sec_store *nn_sec_store_build(const nn_sec_settings *st, uint64_t generation, nn_err *err);

/* The current snapshot with a reference taken (release with nn_sec_store_unref). Lock-free
 * unless a reload happened since this thread last asked. */
nn_sec_store *nn_sec_store_acquire(nn_security *sec);
void nn_sec_store_ref(nn_sec_store *store);
void nn_sec_store_unref(nn_sec_store *store);
/* Client session cache of a snapshot: get returns a new reference or NULL. */
SSL_SESSION *nn_sec_store_session_get(nn_sec_store *store, const char *peer);
void nn_sec_store_session_put(nn_sec_store *store, const char *peer, SSL_SESSION *session);

/* Client-certificate verification of the MySQL port through a per-thread cache of chains that
 * verified under this store (verify_cache.c): installed on store->server_ctx. */
void nn_sec_verify_cache_install(SSL_CTX *ctx, nn_sec_store *store);
/* Process-wide counts of the cache's verdicts: hits, and chains verified in full. */
void nn_sec_verify_cache_stats(uint64_t *hits, uint64_t *misses);

/* The first reason on BoringSSL's error queue, lower-cased with spaces as OpenSSL prints
 * it ("certificate verify failed"); clears the queue. */
void nn_sec_ssl_error_text(char *out, size_t cap);

/* X509 time -> unix seconds; 0 when it cannot be read. */
int64_t nn_sec_asn1_time_unix(const ASN1_TIME *t);
/* unix seconds -> "2025-01-01T00:00:00Z". */
void nn_sec_time_format(int64_t unix_seconds, char *out, size_t cap);
/* Fills subject/issuer/CN/SANs/validity of a certificate in nn_tls_facts' forms. */
void nn_sec_cert_describe(X509 *cert, char *subject, size_t subject_cap, char *issuer,
                          size_t issuer_cap, char *cn, size_t cn_cap, char *sans, size_t sans_cap,
                          int64_t *not_before, int64_t *not_after);

/* ------------------------------------------------------------- TLS engine */

/* Where an engine's bytes go. All callbacks run inside engine calls, on its thread. */
typedef struct nn_tls_engine_io {
    /* Raw (ciphertext) bytes toward the peer. Return 0 or -ENOMEM. */
    int (*send)(void *arg, const uint8_t *data, size_t len);
    /* Room for up to `want` plaintext bytes toward the protocol, then commit n of them. */
    uint8_t *(*deliver_space)(void *arg, size_t want);
    void (*deliver_commit)(void *arg, size_t n);
    /* The handshake completed (facts are readable). */
    void (*on_secure)(void *arg);
    /* The peer sent close_notify: no more plaintext will come. */
    void (*on_peer_close)(void *arg);
} nn_tls_engine_io;

typedef struct nn_tls_engine nn_tls_engine;

typedef enum nn_tls_engine_state {
    NN_TLS_ENGINE_HANDSHAKE = 0, /* handshake in progress */
    NN_TLS_ENGINE_OPEN = 1,      /* established: application data flows */
    NN_TLS_ENGINE_CLOSED = 2,    /* close_notify sent or received */
    NN_TLS_ENGINE_FAILED = 3,    /* a fatal error; err said why */
} nn_tls_engine_state;

/* Takes a reference on store. peer_key (client role, may be NULL) names the peer in the
 * session cache, e.g. "n2" or "127.0.0.1:2882": a later engine with the same key offers
 * the remembered session. The client sends its ClientHello in nn_tls_engine_start(). */
nn_tls_engine *nn_tls_engine_new(nn_sec_store *store, nn_tls_role role, nn_tls_peer_cert peer_cert,
                                 const char *peer_key, const nn_tls_engine_io *io, void *io_arg,
                                 nn_err *err);
int nn_tls_engine_start(nn_tls_engine *e, nn_err *err);
/* The session's possible ciphers, ':'-separated (snprintf-like return). */
size_t nn_tls_engine_cipher_list(const nn_tls_engine *e, char *out, size_t cap);
/* Verifies the peer certificate of an established session again, against `store` (a
 * newer snapshot than the engine's): 0 when it still verifies or none was presented,
 * -EKEYREVOKED (a CRL revokes it) or -EACCES (any other reason) with err = "certificate
 * verify failed: <reason>", or -ENOMEM; -ENOTSUP on the MySQL port when the client
 * presented a certificate (only its hash is kept after the handshake). */
int nn_tls_engine_peer_recheck(const nn_tls_engine *e, nn_sec_store *store, nn_err *err);
/* Raw bytes from the peer; all of them are taken (BoringSSL buffers partial records).
 * Returns 0, or negative with err = "tls: <reason>" once the session has failed. */
int nn_tls_engine_input(nn_tls_engine *e, const uint8_t *data, size_t len, nn_err *err);
/* Plaintext from the protocol; queued until the handshake completes. */
int nn_tls_engine_write(nn_tls_engine *e, const struct iovec *iov, int iovcnt, nn_err *err);
/* Plaintext from the protocol, sealed later: the queue is sealed by nn_tls_engine_flush(),
 * by nn_tls_engine_write() or nn_tls_engine_shutdown() (it goes first), or at once when it
 * holds a full record, so many small writes share records and the queue never holds more
 * than one record's plaintext (16 KiB). Whole records of a large write are sealed straight
 * from the caller's bytes. Before the handshake completes it behaves as nn_tls_engine_write(). */
int nn_tls_engine_queue(nn_tls_engine *e, const struct iovec *iov, int iovcnt, nn_err *err);
/* Seals what nn_tls_engine_queue() holds (nothing before the handshake completes or after a
 * failure, which was reported where it happened). 0, or negative if sealing fails. */
int nn_tls_engine_flush(nn_tls_engine *e, nn_err *err);
/* Sends close_notify (once), after whatever was queued. */
void nn_tls_engine_shutdown(nn_tls_engine *e);
/* From now on nn_tls_engine_shutdown() seals what was queued but sends no close_notify. */
void nn_tls_engine_quiet_shutdown(nn_tls_engine *e);
nn_tls_engine_state nn_tls_engine_state_get(const nn_tls_engine *e);
void nn_tls_engine_facts(const nn_tls_engine *e, nn_tls_facts *out);
/* nn_tls_names() of the engine's session. */
void nn_tls_engine_names(const nn_tls_engine *e, const char **version, const char **cipher);
void nn_tls_engine_free(nn_tls_engine *e);
/* The client SSL_CTX's new-session callback: files the ticket under the engine's peer key. */
int nn_tls_engine_new_session_cb(SSL *ssl, SSL_SESSION *session);

#endif
