/* security/security.h: the one face of security/.
 *
 * TLS over BoringSSL as a layer on net/'s streams (BoringSSL never touches a socket),
 * certificate stores with live reload, the facts of a TLS session, the per-user SSL
 * requirement of MySQL accounts, and node identity for the RPC mesh. Protocol code
 * (mysql/, rpc/) reads TLS facts from here and never calls BoringSSL itself.
 */
#ifndef NODENET_SECURITY_H
#define NODENET_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"

/* ---------------------------------------------------------------- TLS facts */

/* What the protocol layers may know about a stream's TLS session. */
typedef struct nn_tls_facts {
    bool encrypted;              /* a TLS session is established on the stream */
    char version[16];            /* "TLSv1.3", as SSL_get_version prints it */
    char cipher[64];             /* as SSL_get_cipher prints it: "TLS_AES_128_GCM_SHA256" */
    bool session_reused;         /* resumed from a ticket */
    bool peer_cert_presented;    /* the peer sent a certificate */
    bool peer_cert_verified;     /* ... and it verified against the CA */
    long verify_result;          /* X509_V_OK (0) or the X509_V_ERR_* code */
    char peer_subject[512];      /* X509_NAME_oneline form: "/C=CN/O=acme/CN=app" */
    char peer_issuer[512];       /* same form, of the issuer */
    char peer_cn[256];           /* the subject's commonName, "" if none */
    char peer_sans[512];         /* DNS/IP subjectAltNames joined by ',', "" if none:
                                    "DNS:n1,DNS:localhost,IP:127.0.0.1" */
    int64_t peer_not_before;     /* unix seconds; 0 without a peer certificate */
    int64_t peer_not_after;
    int64_t local_not_before;    /* our own certificate's validity, for Ssl_server_not_* */
    int64_t local_not_after;
} nn_tls_facts;

/* Fills out with the facts of s. Without a TLS layer, out->encrypted is false and the
 * rest is zero. Returns 0. The facts are read from the TLS session on each call (on s's
 * loop), so a connection need not keep a copy of them (about 2 KB): protocols ask when they
 * need them (the login, SHOW STATUS, the hello) and keep only what they use often. */
int nn_tls_facts_get(const nn_stream *s, nn_tls_facts *out);

/* The version and cipher names of s's established TLS session ("TLSv1.3",
 * "TLS_AES_128_GCM_SHA256"), the same strings as nn_tls_facts' version and cipher. They
 * are static strings that stay valid for the life of the process, so a session may keep
 * the pointers instead of a copy of the facts, and other threads may read them. Both are
 * NULL without TLS or before the handshake completes. */
void nn_tls_names(const nn_stream *s, const char **version, const char **cipher);

/* The ciphers the stream's TLS session could have used, OpenSSL names joined by ':' (MySQL's
 * Ssl_cipher_list); "" without TLS. Returns the length it needed, like snprintf. */
size_t nn_tls_cipher_list(const nn_stream *s, char *out, size_t cap);

/* ------------------------------------------------ per-user SSL requirement */

/* MySQL's ssl_type of an account (mysql.user.ssl_type). */
typedef enum nn_ssl_type {
    NN_SSL_NONE = 0,      /* REQUIRE NONE */
    NN_SSL_ANY = 1,       /* REQUIRE SSL */
    NN_SSL_X509 = 2,      /* REQUIRE X509 */
    NN_SSL_SPECIFIED = 3, /* REQUIRE CIPHER/ISSUER/SUBJECT, any combination */
} nn_ssl_type;

typedef struct nn_ssl_require {
    nn_ssl_type type;
    char *cipher;  /* owned; NULL when not required (SPECIFIED only) */
    char *issuer;  /* owned; NULL when not required */
    char *subject; /* owned; NULL when not required */
} nn_ssl_require;

/* Parses the text after the REQUIRE keyword: NONE | SSL | X509 | one or more of
 * CIPHER 'c', ISSUER 'i', SUBJECT 's' separated by optional AND, each at most once,
 * keywords case-insensitive, quoted strings with '' and backslash escapes as MySQL
 * reads them. Stops at the end of the clause; *consumed (may be NULL) says how many
 * bytes were read. Returns 0, or -EINVAL with err saying what was expected where. */
int nn_ssl_require_parse(const char *text, size_t len, nn_ssl_require *out, size_t *consumed,
                         nn_err *err);
/* Prints the clause as SHOW CREATE USER does: "REQUIRE NONE", "REQUIRE SSL",
 * "REQUIRE X509", "REQUIRE SUBJECT '...' ISSUER '...' CIPHER '...'". Returns the
 * length written (like snprintf; the output is truncated to cap). */
size_t nn_ssl_require_print(const nn_ssl_require *req, char *out, size_t cap);
/* Deep copy. Returns 0 or -ENOMEM. */
int nn_ssl_require_copy(nn_ssl_require *dst, const nn_ssl_require *src);
void nn_ssl_require_clear(nn_ssl_require *req);

/* MySQL's decision: may a session with these facts log in as an account with this
 * requirement? SSL needs an encrypted session; X509 a verified client certificate;
 * SPECIFIED a verified certificate (CIPHER alone too) and each given field equal to the
 * session's, exact and case-sensitive. Returns 0 to allow, -EACCES to deny with `why`
 * (for the log only; the client sees MySQL's generic error 1045). */
int nn_ssl_require_check(const nn_ssl_require *req, const nn_tls_facts *facts, char *why,
                         size_t why_cap);

/* ------------------------------------------------------ certificate store */

/* Where the certificates are. Paths may hold %n, replaced by node_name. When ca_file,
 * cert_file and key_file are all NULL and wallet_dir is set, OceanBase's wallet layout is
 * used: <wallet_dir>/ca.pem, server-cert.pem, server-key.pem, client-cert.pem,
 * client-key.pem. Strings are copied. */
typedef struct nn_security_config {
    const char *node_name;
    const char *ca_file;          /* trust anchors for peers and clients */
    const char *cert_file;        /* this node's chain (server role) */
    const char *key_file;
    const char *client_cert_file; /* client role (outbound RPC); NULL = cert_file */
    const char *client_key_file;  /* NULL = key_file */
    const char *wallet_dir;
    const char *crl_file;         /* PEM CRL(s) of the CA(s) in ca_file; NULL = no revocation
                                     checking. Every certificate a peer presents must then be
                                     covered by an unexpired CRL of its issuer */
    const char *min_version;      /* MySQL port: "1.2" (default) or "1.3" */
    const char *rpc_min_version;  /* RPC port and outbound RPC: "1.3" (default) or "1.2" */
    const char *ciphers;          /* TLS 1.2 cipher list, OpenSSL names; NULL = ECDHE with
                                     AEAD only (no CBC, no RSA key exchange) */
    uint32_t watch_interval_ms;   /* how often files are checked for changes; 0 = 2000;
                                     UINT32_MAX = never */
} nn_security_config;

/* The security context of a node: the current certificate store snapshot (reference
 * counted, swapped atomically on reload) and the BoringSSL contexts built from it. */
typedef struct nn_security nn_security;

/* Loads and checks everything (key matches certificate, chain verifies against the CA,
 * not expired, not yet valid; each CRL parses, is signed by a CA of ca_file, and is inside
 * its lastUpdate..nextUpdate window; our own certificates are not revoked). Every failure
 * is one line naming the file and the reason. Returns NULL on failure. */
nn_security *nn_security_new(const nn_security_config *config, nn_err *err);
/* Any thread. Builds a new store beside the old one (from `config`, or from the current
 * config when NULL) and swaps it in: streams already started keep theirs, new ones get
 * the new one. On failure the old store stays, err says why, and so does
 * nn_security_info.reload_error until the next successful reload. */
int nn_security_reload(nn_security *sec, const nn_security_config *config, nn_err *err);
/* How many reloads have succeeded (including ones the file watcher made). */
uint64_t nn_security_generation(const nn_security *sec);
/* Called after each successful reload (nn_security_reload() or the file watcher), on the
 * thread that reloaded, with the new generation, under none of sec's locks but the
 * listener's own. It must not block, reload or set the listener. Any thread may set it;
 * NULL removes it. Setting returns once a call in progress has returned (what the old
 * listener used may be freed then). */
typedef void (*nn_security_reload_fn)(void *arg, uint64_t generation);
void nn_security_set_reload_listener(nn_security *sec, nn_security_reload_fn fn, void *arg);
void nn_security_free(nn_security *sec);

/* What an operator wants to know about the current store. */
typedef struct nn_security_info {
    char subject[512];     /* of this node's certificate */
    char issuer[512];
    int64_t not_before;    /* unix seconds */
    int64_t not_after;
    uint64_t generation;
    int64_t crl_next_update; /* the earliest nextUpdate of the loaded CRLs; 0 = no CRL */
    char reload_error[512];  /* why the last reload failed (the old store is in use); "" when
                                the last reload succeeded or none was tried */
} nn_security_info;
int nn_security_info_get(nn_security *sec, nn_security_info *out);

/* ------------------------------------------------------------ TLS on streams */

/* The two ports have different TLS policies, chosen by the role a stream starts in. */
typedef enum nn_tls_role {
    NN_TLS_SERVER = 0,     /* the MySQL port: security.tls_min_version; no session tickets and
                              no session cache (MySQL clients never resume) */
    NN_TLS_CLIENT = 1,     /* outbound RPC (nodes, tool clients): rpc_min_version */
    NN_TLS_RPC_SERVER = 2, /* the RPC port: rpc_min_version; tickets, so channels resume */
} nn_tls_role;

typedef enum nn_tls_peer_cert {
    NN_TLS_PEER_CERT_OPTIONAL = 0, /* MySQL: ask; verify if sent; absent is fine */
    NN_TLS_PEER_CERT_REQUIRED = 1, /* RPC: the peer must present a verifying certificate */
} nn_tls_peer_cert;

/* Pushes a TLS layer onto s with the current store snapshot (on s's loop). Any input
 * already buffered on s is TLS input from here on. The protocol gets on_event
 * (NN_STREAM_EV_SECURE) when the handshake completes; a failed handshake closes s with
 * NN_CLOSE_LAYER and a why that says what failed. Plaintext written before the handshake
 * completes is sent after it. Returns 0 or negative with err filled. In the client role
 * peer_cert is moot: the server's certificate must always verify against the CA. The
 * stream keeps its store snapshot until it is freed, so a stream may outlive a reload (and
 * nn_security_free()); nn_security_free() stops and joins the file watcher. */
int nn_tls_stream_start(nn_stream *s, nn_security *sec, nn_tls_role role,
                        nn_tls_peer_cert peer_cert, nn_err *err);

/* nn_tls_stream_start() in the client role, naming the peer ("n2", "127.0.0.1:2882") in the
 * client session cache: when an earlier connection to the same peer_key under the same
 * store got a session ticket, this one offers it and resumes (facts.session_reused). The
 * cache belongs to the store snapshot, so it starts empty after a reload. peer_key NULL =
 * no resumption. The server certificate must verify against the CA (identity is checked by
 * the caller with nn_security_identity_check()). */
int nn_tls_stream_start_client(nn_stream *s, nn_security *sec, const char *peer_key,
                               nn_err *err);

/* The peer ended the session (MySQL's COM_QUIT): the stream's close sends no close_notify, as
 * MySQL and MariaDB servers close theirs. A MySQL client has closed its socket by then, so the
 * alert would only cost a send and draw a reset, and the protocol frames every packet, so
 * there is no truncation to detect. No effect without a TLS layer. */
void nn_tls_quiet_close(nn_stream *s);

/* Sniffs the first bytes of a connection: 1 if they open a TLS handshake record, 0 if
 * not, -EAGAIN if more bytes are needed to tell. */
int nn_tls_sniff(const uint8_t *data, size_t len);

/* Verifies the certificate the peer of s presented in its TLS handshake again, against the
 * current store of sec (CAs, CRLs), as a new handshake in the same role would: for sessions
 * that outlive a reload which revoked or stopped trusting it (the handshake checked it
 * against the store of its time only). 0 when it still verifies, or when s has no TLS
 * session or the peer presented no certificate; otherwise err = "certificate verify failed:
 * <reason>" and -EKEYREVOKED when a CRL revokes it ("certificate revoked"), -EACCES for any
 * other reason ("unable to get local issuer certificate", "certificate has expired" ...);
 * -ENOMEM; -ENOTSUP for a MySQL-port session with a client certificate, of which only the
 * hash is kept after the handshake (never a reason to cut the session). On s's loop; no
 * I/O. */
int nn_tls_peer_recheck(const nn_stream *s, nn_security *sec, nn_err *err);

/* ----------------------------------------------------------- node identity */

/* The RPC rule: the peer presented a certificate that verified against the cluster CA,
 * and its CN or one of its SANs equals node_name exactly. Returns 0, or -EACCES with err
 * naming what the certificate says instead. */
int nn_security_identity_check(const nn_tls_facts *facts, const char *node_name, nn_err *err);

/* The RPC tool-client allow-list: true when subject (X509_NAME_oneline form, e.g. from
 * nn_tls_facts.peer_subject of a verified certificate) equals one of allowed[0..n)
 * exactly. NULL or "" never matches. Pure: the caller checks peer_cert_verified. */
bool nn_security_subject_allowed(const char *subject, const char *const *allowed, size_t n);

/* ------------------------------------------------------- certificate files */

/* What nodenet-admin certs and the metrics show of one certificate. */
typedef struct nn_cert_info {
    char subject[512]; /* X509_NAME_oneline form */
    char issuer[512];
    char serial[128];   /* hex */
    int64_t not_before; /* unix seconds */
    int64_t not_after;
} nn_cert_info;

/* Reads up to cap certificates of a PEM file (a chain or a CA bundle, in file order) into
 * out; *count gets how many. Blocking (reads the file): not on a worker. Returns 0, or
 * negative with err naming the file when it cannot be read or holds no certificate. */
int nn_cert_file_info(const char *path, nn_cert_info *out, size_t cap, size_t *count, nn_err *err);

#endif
