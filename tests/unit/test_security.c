/* tests/unit/test_security.c: security/ without sockets.
 *
 * A throwaway PKI (tests/unit/pki/mkpki.sh over deploy/gen-certs) is made once in a temp
 * dir. TLS runs between two engines (or an engine and a bare BoringSSL client, for a
 * client without a certificate or capped at TLS 1.2) by pumping bytes in memory.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "security/security.h"
#include "security/security_internal.h"

static char pki[256];

static const char *pk(const char *rel) {
    static char paths[16][512];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 512, "%s/%s", pki, rel);
    return p;
}

static nn_security_config cfg_for(const char *dir, const char *node) {
    static char ca[512], cert[512], key[512];
    snprintf(ca, sizeof(ca), "%s/%s/ca.pem", pki, dir);
    snprintf(cert, sizeof(cert), "%s/%s/%%n-cert.pem", pki, dir);
    snprintf(key, sizeof(key), "%s/%s/%%n-key.pem", pki, dir);
    nn_security_config c = {.node_name = node,
                            .ca_file = ca,
                            .cert_file = cert,
                            .key_file = key,
                            .watch_interval_ms = UINT32_MAX};
    return c;
}

static nn_security *sec_new(const char *dir, const char *node) {
    nn_security_config c = cfg_for(dir, node);
    nn_err err;
    nn_err_clear(&err);
    nn_security *sec = nn_security_new(&c, &err);
    if (sec == NULL) {
        fprintf(stderr, "nn_security_new(%s, %s): %s\n", dir, node, err.msg);
    }
    return sec;
}

/* ------------------------------------------------------------ endpoints */

typedef struct bytes {
    uint8_t *data;
    size_t len;
    size_t cap;
} bytes;

static uint8_t *bytes_tail(bytes *b, size_t want) {
    if (b->len + want > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + want) {
            cap *= 2;
        }
        b->data = realloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->len;
}

static void bytes_append(bytes *b, const void *data, size_t len) {
    memcpy(bytes_tail(b, len), data, len);
    b->len += len;
}

typedef struct endpoint {
    nn_tls_engine *engine; /* or a bare SSL: */
    SSL_CTX *raw_ctx;
    SSL *raw;
    BIO *raw_in;
    BIO *raw_out;
    bool raw_done;
    bytes out;   /* ciphertext toward the other side */
    bytes plain; /* plaintext received */
    int secure_events;
    int peer_closes;
    bool failed;
    char why[512];
} endpoint;

static int ep_send(void *arg, const uint8_t *data, size_t len) {
    bytes_append(&((endpoint *)arg)->out, data, len);
    return 0;
}
static uint8_t *ep_space(void *arg, size_t want) {
    return bytes_tail(&((endpoint *)arg)->plain, want);
}
static void ep_commit(void *arg, size_t n) {
    ((endpoint *)arg)->plain.len += n;
}
static void ep_secure(void *arg) {
    ((endpoint *)arg)->secure_events++;
}
static void ep_peer_close(void *arg) {
    ((endpoint *)arg)->peer_closes++;
}
static const nn_tls_engine_io test_io = {ep_send, ep_space, ep_commit, ep_secure, ep_peer_close};

static void ep_engine(endpoint *ep, nn_security *sec, nn_tls_role role, nn_tls_peer_cert pc,
                      const char *peer_key) {
    memset(ep, 0, sizeof(*ep));
    nn_sec_store *store = nn_sec_store_acquire(sec);
    nn_err err;
    ep->engine = nn_tls_engine_new(store, role, pc, peer_key, &test_io, ep, &err);
    nn_sec_store_unref(store);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ep->engine);
    CU_ASSERT_EQUAL(nn_tls_engine_start(ep->engine, &err), 0);
}

/* A bare BoringSSL client: cert/key may be NULL; max_version 0 = TLS 1.3; session (may be
 * NULL) is offered for resumption. */
static void ep_raw_client_session(endpoint *ep, const char *ca, const char *cert, const char *key,
                                  uint16_t max_version, const char *ciphers, SSL_SESSION *session) {
    memset(ep, 0, sizeof(*ep));
    ep->raw_ctx = SSL_CTX_new(TLS_method());
    SSL_CTX_set_max_proto_version(ep->raw_ctx, max_version ? max_version : TLS1_3_VERSION);
    if (ciphers != NULL) {
        CU_ASSERT_FATAL(SSL_CTX_set_strict_cipher_list(ep->raw_ctx, ciphers) == 1);
    }
    if (ca != NULL) {
        CU_ASSERT_FATAL(SSL_CTX_load_verify_locations(ep->raw_ctx, ca, NULL) == 1);
    }
    SSL_CTX_set_verify(ep->raw_ctx, ca != NULL ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (cert != NULL) {
        CU_ASSERT_FATAL(SSL_CTX_use_certificate_chain_file(ep->raw_ctx, cert) == 1);
        CU_ASSERT_FATAL(SSL_CTX_use_PrivateKey_file(ep->raw_ctx, key, SSL_FILETYPE_PEM) == 1);
    }
    ep->raw = SSL_new(ep->raw_ctx);
    ep->raw_in = BIO_new(BIO_s_mem());
    ep->raw_out = BIO_new(BIO_s_mem());
    SSL_set_bio(ep->raw, ep->raw_in, ep->raw_out);
    SSL_set_connect_state(ep->raw);
    if (session != NULL) {
        SSL_set_session(ep->raw, session);
    }
    SSL_do_handshake(ep->raw);
}

static void ep_raw_client(endpoint *ep, const char *ca, const char *cert, const char *key,
                          uint16_t max_version, const char *ciphers) {
    ep_raw_client_session(ep, ca, cert, key, max_version, ciphers, NULL);
}

static void raw_collect(endpoint *ep) {
    char buf[4096];
    int n;
    while ((n = BIO_read(ep->raw_out, buf, sizeof(buf))) > 0) {
        bytes_append(&ep->out, buf, (size_t)n);
    }
}

static void ep_input(endpoint *ep, const uint8_t *data, size_t len) {
    if (ep->failed) {
        return;
    }
    if (ep->engine != NULL) {
        nn_err err;
        nn_err_clear(&err);
        if (nn_tls_engine_input(ep->engine, data, len, &err) < 0) {
            ep->failed = true;
            snprintf(ep->why, sizeof(ep->why), "%s", err.msg);
        }
        return;
    }
    BIO_write(ep->raw_in, data, (int)len);
    if (!ep->raw_done) {
        int r = SSL_do_handshake(ep->raw);
        if (r == 1) {
            ep->raw_done = true;
            ep->secure_events++;
        } else if (SSL_get_error(ep->raw, r) != SSL_ERROR_WANT_READ) {
            ep->failed = true;
            snprintf(ep->why, sizeof(ep->why), "raw: %s",
                     ERR_reason_error_string(ERR_peek_error()));
            ERR_clear_error();
        }
    }
    while (ep->raw_done) {
        uint8_t *space = bytes_tail(&ep->plain, 16384);
        int r = SSL_read(ep->raw, space, 16384);
        if (r <= 0) {
            int code = SSL_get_error(ep->raw, r);
            if (code == SSL_ERROR_ZERO_RETURN) {
                ep->peer_closes++;
            } else if (code != SSL_ERROR_WANT_READ) {
                ep->failed = true;
                snprintf(ep->why, sizeof(ep->why), "raw: %s",
                         ERR_reason_error_string(ERR_peek_error()));
            }
            ERR_clear_error();
            break;
        }
        ep->plain.len += (size_t)r;
    }
    raw_collect(ep);
}

static void ep_write(endpoint *ep, const void *data, size_t len) {
    if (ep->engine != NULL) {
        struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
        nn_err err;
        CU_ASSERT_EQUAL(nn_tls_engine_write(ep->engine, &iov, 1, &err), 0);
        return;
    }
    CU_ASSERT_EQUAL(SSL_write(ep->raw, data, (int)len), (int)len);
    raw_collect(ep);
}

static bool ep_open(const endpoint *ep) {
    if (ep->engine != NULL) {
        return nn_tls_engine_state_get(ep->engine) == NN_TLS_ENGINE_OPEN;
    }
    return ep->raw_done && !ep->failed;
}

/* Moves bytes both ways until neither side has anything to say (bounded). */
static void pump(endpoint *a, endpoint *b) {
    if (a->raw != NULL) {
        raw_collect(a);
    }
    for (int round = 0; round < 64 && (a->out.len > 0 || b->out.len > 0); round++) {
        bytes chunk = a->out;
        memset(&a->out, 0, sizeof(a->out));
        ep_input(b, chunk.data, chunk.len);
        free(chunk.data);
        chunk = b->out;
        memset(&b->out, 0, sizeof(b->out));
        ep_input(a, chunk.data, chunk.len);
        free(chunk.data);
    }
}

/* The same, one byte per input call: records arrive in pieces. */
static void pump_bytewise(endpoint *a, endpoint *b) {
    for (int round = 0; round < 64 && (a->out.len > 0 || b->out.len > 0); round++) {
        endpoint *from[2] = {a, b};
        endpoint *to[2] = {b, a};
        for (int k = 0; k < 2; k++) {
            bytes chunk = from[k]->out;
            memset(&from[k]->out, 0, sizeof(from[k]->out));
            for (size_t i = 0; i < chunk.len; i++) {
                ep_input(to[k], chunk.data + i, 1);
            }
            free(chunk.data);
        }
    }
}

static void ep_free(endpoint *ep) {
    nn_tls_engine_free(ep->engine);
    SSL_free(ep->raw);
    SSL_CTX_free(ep->raw_ctx);
    free(ep->out.data);
    free(ep->plain.data);
    memset(ep, 0, sizeof(*ep));
}

static nn_tls_facts facts_of(endpoint *ep) {
    nn_tls_facts f;
    nn_tls_engine_facts(ep->engine, &f);
    return f;
}

/* ------------------------------------------------------------ policy */

typedef struct facts_case {
    const char *name;
    nn_tls_facts f;
} facts_case;

static nn_tls_facts make_facts(bool encrypted, bool presented, long verify, const char *cipher,
                               const char *subject, const char *issuer) {
    nn_tls_facts f;
    memset(&f, 0, sizeof(f));
    f.encrypted = encrypted;
    if (encrypted) {
        snprintf(f.version, sizeof(f.version), "TLSv1.3");
        snprintf(f.cipher, sizeof(f.cipher), "%s", cipher);
    }
    f.peer_cert_presented = presented;
    f.verify_result = verify;
    f.peer_cert_verified = presented && verify == X509_V_OK;
    if (presented) {
        snprintf(f.peer_subject, sizeof(f.peer_subject), "%s", subject);
        snprintf(f.peer_issuer, sizeof(f.peer_issuer), "%s", issuer);
    }
    return f;
}

static void test_require_check_matrix(void) {
    const char *subj = "/C=CN/O=nodenet/CN=mysql-client";
    const char *iss = "/C=CN/O=nodenet/CN=nodenet-ca";
    const char *ciph = "TLS_AES_128_GCM_SHA256";
    enum {
        PLAIN,
        TLS_NOCERT,
        TLS_BADCERT,
        TLS_GOOD,
        TLS_OTHER_SUBJ,
        TLS_OTHER_ISS,
        TLS_OTHER_CIPHER,
        NFACTS
    };
    nn_tls_facts facts[NFACTS] = {
        [PLAIN] = make_facts(false, false, 0, "", "", ""),
        [TLS_NOCERT] = make_facts(true, false, X509_V_OK, ciph, "", ""),
        [TLS_BADCERT] = make_facts(true, true, X509_V_ERR_CERT_HAS_EXPIRED, ciph, subj, iss),
        [TLS_GOOD] = make_facts(true, true, X509_V_OK, ciph, subj, iss),
        [TLS_OTHER_SUBJ] = make_facts(true, true, X509_V_OK, ciph, "/C=CN/O=nodenet/CN=other", iss),
        [TLS_OTHER_ISS] = make_facts(true, true, X509_V_OK, ciph, subj, "/C=CN/O=evil/CN=ca"),
        [TLS_OTHER_CIPHER] =
            make_facts(true, true, X509_V_OK, "TLS_CHACHA20_POLY1305_SHA256", subj, iss),
    };
    typedef struct {
        nn_ssl_require req;
        bool allow[NFACTS];
    } row;
    char subj_lower[64];
    snprintf(subj_lower, sizeof(subj_lower), "/c=cn/o=nodenet/cn=mysql-client");
    row rows[] = {
        {{NN_SSL_NONE, NULL, NULL, NULL}, {1, 1, 1, 1, 1, 1, 1}},
        {{NN_SSL_ANY, NULL, NULL, NULL}, {0, 1, 1, 1, 1, 1, 1}},
        {{NN_SSL_X509, NULL, NULL, NULL}, {0, 0, 0, 1, 1, 1, 1}},
        /* CIPHER alone still needs a verified certificate (MySQL) */
        {{NN_SSL_SPECIFIED, (char *)ciph, NULL, NULL}, {0, 0, 0, 1, 1, 1, 0}},
        {{NN_SSL_SPECIFIED, NULL, (char *)iss, NULL}, {0, 0, 0, 1, 1, 0, 1}},
        {{NN_SSL_SPECIFIED, NULL, NULL, (char *)subj}, {0, 0, 0, 1, 0, 1, 1}},
        {{NN_SSL_SPECIFIED, (char *)ciph, (char *)iss, (char *)subj}, {0, 0, 0, 1, 0, 0, 0}},
        /* case-sensitive */
        {{NN_SSL_SPECIFIED, NULL, NULL, subj_lower}, {0, 0, 0, 0, 0, 0, 0}},
        {{NN_SSL_SPECIFIED, NULL, NULL, NULL}, {0, 0, 0, 1, 1, 1, 1}},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        for (int f = 0; f < NFACTS; f++) {
            char why[256] = "unset";
            int rc = nn_ssl_require_check(&rows[r].req, &facts[f], why, sizeof(why));
            if ((rc == 0) != rows[r].allow[f]) {
                fprintf(stderr, "row %zu facts %d: rc=%d why=%s\n", r, f, rc, why);
            }
            CU_ASSERT_EQUAL(rc == 0, rows[r].allow[f]);
            if (rc != 0) {
                CU_ASSERT_EQUAL(rc, -EACCES);
                CU_ASSERT(strlen(why) > 0);
            }
        }
    }
    char why[256];
    nn_ssl_require x = {NN_SSL_X509, NULL, NULL, NULL};
    nn_ssl_require_check(&x, &facts[TLS_BADCERT], why, sizeof(why));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "certificate has expired"));
}

static void expect_roundtrip(const char *text, nn_ssl_type type, const char *printed) {
    nn_ssl_require req;
    nn_err err;
    size_t consumed = 0;
    int rc = nn_ssl_require_parse(text, strlen(text), &req, &consumed, &err);
    if (rc != 0) {
        fprintf(stderr, "parse(%s): %s\n", text, err.msg);
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(req.type, type);
    char out[512];
    size_t n = nn_ssl_require_print(&req, out, sizeof(out));
    CU_ASSERT_EQUAL(n, strlen(out));
    if (strcmp(out, printed) != 0) {
        fprintf(stderr, "print(%s) = [%s], want [%s]\n", text, out, printed);
    }
    CU_ASSERT_STRING_EQUAL(out, printed);
    /* print -> parse -> print is stable, and copy keeps everything */
    nn_ssl_require again;
    CU_ASSERT_EQUAL_FATAL(nn_ssl_require_parse(out + 8, strlen(out + 8), &again, NULL, &err), 0);
    nn_ssl_require copy;
    CU_ASSERT_EQUAL_FATAL(nn_ssl_require_copy(&copy, &again), 0);
    char out2[512];
    nn_ssl_require_print(&copy, out2, sizeof(out2));
    CU_ASSERT_STRING_EQUAL(out2, printed);
    nn_ssl_require_clear(&req);
    nn_ssl_require_clear(&again);
    nn_ssl_require_clear(&copy);
}

static void test_require_parse_print(void) {
    expect_roundtrip("NONE", NN_SSL_NONE, "REQUIRE NONE");
    expect_roundtrip("  ssl", NN_SSL_ANY, "REQUIRE SSL");
    expect_roundtrip("x509", NN_SSL_X509, "REQUIRE X509");
    expect_roundtrip("CIPHER 'ECDHE-RSA-AES128-GCM-SHA256'", NN_SSL_SPECIFIED,
                     "REQUIRE CIPHER 'ECDHE-RSA-AES128-GCM-SHA256'");
    expect_roundtrip("cipher 'c' AND issuer \"/CN=i\" and subject '/CN=s'", NN_SSL_SPECIFIED,
                     "REQUIRE SUBJECT '/CN=s' ISSUER '/CN=i' CIPHER 'c'");
    expect_roundtrip("ISSUER '/CN=i' SUBJECT '/CN=s'", NN_SSL_SPECIFIED,
                     "REQUIRE SUBJECT '/CN=s' ISSUER '/CN=i'");
    expect_roundtrip("SUBJECT '/O=O''Brien/CN=a\\\\b\\'c'", NN_SSL_SPECIFIED,
                     "REQUIRE SUBJECT '/O=O\\'Brien/CN=a\\\\b\\'c'");

    /* values and where the clause ends */
    nn_ssl_require req;
    nn_err err;
    size_t consumed;
    const char *t = "SUBJECT '/O=O''Brien' WITH MAX_QUERIES_PER_HOUR 1";
    CU_ASSERT_EQUAL_FATAL(nn_ssl_require_parse(t, strlen(t), &req, &consumed, &err), 0);
    CU_ASSERT_STRING_EQUAL(req.subject, "/O=O'Brien");
    CU_ASSERT_PTR_NULL(req.cipher);
    CU_ASSERT_EQUAL(consumed, strlen("SUBJECT '/O=O''Brien'"));
    nn_ssl_require_clear(&req);
    t = "SSL;";
    CU_ASSERT_EQUAL_FATAL(nn_ssl_require_parse(t, strlen(t), &req, &consumed, &err), 0);
    CU_ASSERT_EQUAL(consumed, 3);
    /* only `len` bytes count */
    CU_ASSERT_EQUAL(nn_ssl_require_parse("X509 garbage", 4, &req, &consumed, &err), 0);
    CU_ASSERT_EQUAL(req.type, NN_SSL_X509);

    /* truncated print behaves like snprintf */
    nn_ssl_require s = {NN_SSL_SPECIFIED, NULL, NULL, (char *)"/CN=abc"};
    char small[10];
    size_t n = nn_ssl_require_print(&s, small, sizeof(small));
    CU_ASSERT_EQUAL(n, strlen("REQUIRE SUBJECT '/CN=abc'"));
    CU_ASSERT_STRING_EQUAL(small, "REQUIRE S");

    struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"", "expected NONE, SSL, X509, CIPHER, ISSUER or SUBJECT at end of input"},
        {"FOO", "expected NONE, SSL, X509, CIPHER, ISSUER or SUBJECT at offset 0 near 'FOO'"},
        {"CIPHER", "expected a quoted string after CIPHER at end of input"},
        {"CIPHER abc", "expected a quoted string after CIPHER at offset 7"},
        {"CIPHER 'abc", "unterminated string after CIPHER"},
        {"CIPHER 'a' AND", "expected CIPHER, ISSUER or SUBJECT at end of input"},
        {"CIPHER 'a' AND NONE", "expected CIPHER, ISSUER or SUBJECT at offset 15"},
        {"CIPHER 'a' CIPHER 'b'", "CIPHER given twice"},
        {"SSL AND X509", "SSL cannot be combined"},
        {"NONE CIPHER 'a'", "NONE cannot be combined"},
        {"SUBJECT 'a\\0b'", "NUL byte"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nn_err_clear(&err);
        int rc = nn_ssl_require_parse(bad[i].text, strlen(bad[i].text), &req, NULL, &err);
        CU_ASSERT_EQUAL(rc, -EINVAL);
        if (strstr(err.msg, bad[i].msg) == NULL) {
            fprintf(stderr, "parse(%s): got [%s], want [%s]\n", bad[i].text, err.msg, bad[i].msg);
        }
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].msg));
        CU_ASSERT_PTR_NULL(req.cipher); /* nothing leaks on failure */
    }
}

static void test_identity_and_allow_list(void) {
    nn_tls_facts f = make_facts(true, true, X509_V_OK, "x", "/C=CN/O=nodenet/CN=n2",
                                "/C=CN/O=nodenet/CN=nodenet-ca");
    snprintf(f.peer_cn, sizeof(f.peer_cn), "n2");
    snprintf(f.peer_sans, sizeof(f.peer_sans), "DNS:node-two,DNS:localhost,IP:127.0.0.1");
    nn_err err;
    CU_ASSERT_EQUAL(nn_security_identity_check(&f, "n2", &err), 0);
    CU_ASSERT_EQUAL(nn_security_identity_check(&f, "node-two", &err), 0);
    CU_ASSERT_EQUAL(nn_security_identity_check(&f, "n1", &err), -EACCES);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "expected node n1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "CN=n2"));
    CU_ASSERT_EQUAL(nn_security_identity_check(&f, "node", &err), -EACCES); /* no prefixes */
    CU_ASSERT_EQUAL(nn_security_identity_check(&f, "N2", &err), -EACCES);
    CU_ASSERT_EQUAL(nn_security_identity_check(&f, "", &err), -EINVAL);
    f.verify_result = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
    f.peer_cert_verified = false;
    CU_ASSERT_EQUAL(nn_security_identity_check(&f, "n2", &err), -EACCES);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "did not verify"));
    f = make_facts(true, false, X509_V_OK, "x", "", "");
    CU_ASSERT_EQUAL(nn_security_identity_check(&f, "n2", &err), -EACCES);
    f = make_facts(false, false, 0, "", "", "");
    CU_ASSERT_EQUAL(nn_security_identity_check(&f, "n2", &err), -EACCES);

    const char *allowed[] = {"/C=CN/O=nodenet/CN=nodenet-admin", "/CN=ops"};
    CU_ASSERT_TRUE(nn_security_subject_allowed("/CN=ops", allowed, 2));
    CU_ASSERT_TRUE(nn_security_subject_allowed("/C=CN/O=nodenet/CN=nodenet-admin", allowed, 2));
    CU_ASSERT_FALSE(nn_security_subject_allowed("/CN=ops", allowed, 1));
    CU_ASSERT_FALSE(nn_security_subject_allowed("/CN=OPS", allowed, 2));
    CU_ASSERT_FALSE(nn_security_subject_allowed("", allowed, 2));
    CU_ASSERT_FALSE(nn_security_subject_allowed(NULL, allowed, 2));
    CU_ASSERT_FALSE(nn_security_subject_allowed("/CN=ops", NULL, 0));
}

static void test_sniff(void) {
    const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
    CU_ASSERT_EQUAL(nn_tls_sniff(hello, 0), -EAGAIN);
    for (size_t i = 1; i < 6; i++) {
        CU_ASSERT_EQUAL(nn_tls_sniff(hello, i), -EAGAIN);
    }
    CU_ASSERT_EQUAL(nn_tls_sniff(hello, sizeof(hello)), 1);
    const uint8_t plain[] = "NNRP\x01";
    CU_ASSERT_EQUAL(nn_tls_sniff(plain, 1), 0);
    const uint8_t not_tls_version[] = {0x16, 0x02, 0, 0, 0, 1};
    CU_ASSERT_EQUAL(nn_tls_sniff(not_tls_version, 6), 0);
    const uint8_t not_hello[] = {0x16, 0x03, 0x03, 0x00, 0x10, 0x02};
    CU_ASSERT_EQUAL(nn_tls_sniff(not_hello, 6), 0);
    const uint8_t http[] = "GET / HTTP/1.1\r\n";
    CU_ASSERT_EQUAL(nn_tls_sniff(http, sizeof(http) - 1), 0);
}

/* ------------------------------------------------------------ the store */

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(text, fp);
    fclose(fp);
}

static void expect_load_error(nn_security_config c, const char *fragment) {
    nn_err err;
    nn_err_clear(&err);
    nn_security *sec = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NULL(sec);
    nn_security_free(sec);
    if (strstr(err.msg, fragment) == NULL) {
        fprintf(stderr, "load error [%s] lacks [%s]\n", err.msg, fragment);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, fragment));
    CU_ASSERT_PTR_NULL(strchr(err.msg, '\n')); /* one line */
}

static void test_store_good(void) {
    nn_security *sec = sec_new("a", "n1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    nn_security_info info;
    CU_ASSERT_EQUAL(nn_security_info_get(sec, &info), 0);
    CU_ASSERT_STRING_EQUAL(info.subject, "/C=CN/O=nodenet/CN=n1");
    CU_ASSERT_STRING_EQUAL(info.issuer, "/C=CN/O=nodenet/CN=nodenet-ca");
    int64_t now = time(NULL);
    CU_ASSERT(info.not_before <= now && info.not_before > now - 3600);
    CU_ASSERT(info.not_after > now + 800LL * 86400);
    CU_ASSERT_EQUAL(info.generation, 0);
    CU_ASSERT_EQUAL(nn_security_generation(sec), 0);
    /* the lock-free path hands out the same snapshot until a reload */
    nn_sec_store *s1 = nn_sec_store_acquire(sec);
    nn_sec_store *s2 = nn_sec_store_acquire(sec);
    CU_ASSERT_PTR_EQUAL(s1, s2);
    nn_sec_store_unref(s1);
    nn_sec_store_unref(s2);
    nn_security_free(sec);

    /* OceanBase wallet layout */
    char wallet[512];
    snprintf(wallet, sizeof(wallet), "%s/wallet", pki);
    nn_security_config c = {.wallet_dir = wallet, .watch_interval_ms = UINT32_MAX};
    nn_err err;
    sec = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    nn_security_info_get(sec, &info);
    CU_ASSERT_STRING_EQUAL(info.subject, "/C=CN/O=nodenet/CN=n1");
    nn_sec_store *st = nn_sec_store_acquire(sec);
    CU_ASSERT(st->client_not_after > 0);
    nn_sec_store_unref(st);
    nn_security_free(sec);

    /* explicit client pair, min version and cipher list */
    c = cfg_for("a", "n1");
    c.client_cert_file = pk("a/admin-cert.pem");
    c.client_key_file = pk("a/admin-key.pem");
    c.min_version = "1.3";
    c.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
    sec = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL(sec);
    nn_security_free(sec);
}

static void test_store_bad(void) {
    nn_security_config c = cfg_for("a", "n9");
    expect_load_error(c, "security.cert_file: ");
    expect_load_error(c, "/a/n9-cert.pem: cannot open: No such file or directory");

    /* the certificate of another CA */
    c = cfg_for("a", "n1");
    c.cert_file = pk("b/n1-cert.pem");
    c.key_file = pk("b/n1-key.pem");
    expect_load_error(c, "does not verify against security.ca_file");
    expect_load_error(c, "unable to get local issuer certificate");

    c = cfg_for("expired", "n1");
    expect_load_error(c, "security.cert_file: ");
    expect_load_error(c, "/expired/n1-cert.pem: certificate expired on 20");
    c = cfg_for("future", "n1");
    expect_load_error(c,
                      "/future/n1-cert.pem: certificate is not valid before 2040-01-01T00:00:00Z");

    c = cfg_for("a", "n1");
    c.key_file = pk("a/n2-key.pem");
    expect_load_error(c, "security.key_file: ");
    expect_load_error(c, "n2-key.pem: the private key does not match the certificate");

    c = cfg_for("a", "n1");
    c.ca_file = pk("a/n1-key.pem");
    expect_load_error(c, "security.ca_file: ");
    expect_load_error(c, "no PEM certificate in the file");
    write_text(pk("broken-ca.pem"),
               "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
    c.ca_file = pk("broken-ca.pem");
    expect_load_error(c, "broken-ca.pem: bad PEM certificate: ");
    c = cfg_for("a", "n1");
    c.key_file = pk("a/n1-cert.pem");
    expect_load_error(c, "no usable PEM private key");
    c = cfg_for("a", "n1");
    c.ca_file = pki; /* a directory */
    expect_load_error(c, "not a regular file");

    c = cfg_for("a", "n1");
    c.min_version = "1.1";
    expect_load_error(c, "security.tls_min_version: '1.1': expected \"1.2\" or \"1.3\"");
    c = cfg_for("a", "n1");
    c.ciphers = "NOT-A-CIPHER";
    expect_load_error(c, "security.ciphers: 'NOT-A-CIPHER'");
    c = cfg_for("a", "n1");
    c.key_file = NULL;
    expect_load_error(c, "security.key_file: not set");
    c = cfg_for("a", NULL);
    expect_load_error(c, "uses %n but no node name is set");
    c = cfg_for("a", "n1");
    c.client_cert_file = pk("a/admin-cert.pem");
    expect_load_error(c, "set both client_cert_file and client_key_file");
    c.client_key_file = pk("a/client-key.pem");
    expect_load_error(c, "security.client_key_file: ");
    expect_load_error(c, "does not match");
    char wallet[512];
    snprintf(wallet, sizeof(wallet), "%s/nowhere", pki);
    nn_security_config w = {.wallet_dir = wallet, .watch_interval_ms = UINT32_MAX};
    expect_load_error(w, "security.wallet_dir: ");
    expect_load_error(w, "/nowhere/ca.pem: cannot open");
}

/* ------------------------------------------------------------ TLS */

static void test_tls_mutual_node_to_node(void) {
    nn_security *s1 = sec_new("a", "n1");
    nn_security *s2 = sec_new("a", "n2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
    endpoint srv, cli;
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_engine(&cli, s2, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED, NULL);
    /* written before the handshake: sent after it */
    ep_write(&cli, "hello-early", 11);
    nn_tls_facts f = facts_of(&cli);
    CU_ASSERT_FALSE(f.encrypted);
    pump(&cli, &srv);
    CU_ASSERT_FALSE(srv.failed);
    CU_ASSERT_FALSE(cli.failed);
    CU_ASSERT_TRUE(ep_open(&srv));
    CU_ASSERT_TRUE(ep_open(&cli));
    CU_ASSERT_EQUAL(srv.secure_events, 1);
    CU_ASSERT_EQUAL(cli.secure_events, 1);
    CU_ASSERT_EQUAL(srv.plain.len, 11);
    CU_ASSERT(srv.plain.len == 11 && memcmp(srv.plain.data, "hello-early", 11) == 0);

    f = facts_of(&srv);
    CU_ASSERT_TRUE(f.encrypted);
    CU_ASSERT_STRING_EQUAL(f.version, "TLSv1.3");
    CU_ASSERT_EQUAL(strncmp(f.cipher, "TLS_", 4), 0);
    CU_ASSERT_FALSE(f.session_reused);
    CU_ASSERT_TRUE(f.peer_cert_presented);
    CU_ASSERT_TRUE(f.peer_cert_verified);
    CU_ASSERT_EQUAL(f.verify_result, X509_V_OK);
    CU_ASSERT_STRING_EQUAL(f.peer_subject, "/C=CN/O=nodenet/CN=n2");
    CU_ASSERT_STRING_EQUAL(f.peer_issuer, "/C=CN/O=nodenet/CN=nodenet-ca");
    CU_ASSERT_STRING_EQUAL(f.peer_cn, "n2");
    CU_ASSERT_STRING_EQUAL(f.peer_sans, "DNS:n2,DNS:localhost,IP:127.0.0.1");
    CU_ASSERT(f.peer_not_before > 0 && f.peer_not_after > f.peer_not_before);
    nn_security_info info;
    nn_security_info_get(s1, &info);
    CU_ASSERT_EQUAL(f.local_not_before, info.not_before);
    CU_ASSERT_EQUAL(f.local_not_after, info.not_after);
    nn_err err;
    CU_ASSERT_EQUAL(nn_security_identity_check(&f, "n2", &err), 0);
    CU_ASSERT_EQUAL(nn_security_identity_check(&f, "n1", &err), -EACCES);
    nn_tls_facts fc = facts_of(&cli);
    CU_ASSERT_STRING_EQUAL(fc.peer_cn, "n1");
    CU_ASSERT_STRING_EQUAL(fc.cipher, f.cipher);
    CU_ASSERT_EQUAL(nn_security_identity_check(&fc, "n1", &err), 0);

    /* a large write both ways, split into many records */
    size_t big = 200000;
    uint8_t *data = malloc(big);
    for (size_t i = 0; i < big; i++) {
        data[i] = (uint8_t)(i * 7);
    }
    ep_write(&srv, data, big);
    ep_write(&cli, data, big);
    pump(&srv, &cli);
    CU_ASSERT_EQUAL(cli.plain.len, big);
    CU_ASSERT(cli.plain.len == big && memcmp(cli.plain.data, data, big) == 0);
    CU_ASSERT_EQUAL(srv.plain.len, 11 + big);
    free(data);

    /* close_notify */
    nn_tls_engine_shutdown(cli.engine);
    nn_tls_engine_shutdown(cli.engine); /* once */
    pump(&cli, &srv);
    CU_ASSERT_EQUAL(srv.peer_closes, 1);
    CU_ASSERT_EQUAL(nn_tls_engine_state_get(srv.engine), NN_TLS_ENGINE_CLOSED);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    CU_ASSERT_EQUAL(nn_tls_engine_write(cli.engine, &iov, 1, &err), -EPIPE);
    ep_free(&srv);
    ep_free(&cli);
    nn_security_free(s1);
    nn_security_free(s2);
}

static void test_tls_records_in_single_bytes(void) {
    nn_security *s1 = sec_new("a", "n1");
    nn_security *s2 = sec_new("a", "n2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
    endpoint srv, cli;
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_engine(&cli, s2, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_write(&cli, "abc", 3);
    pump_bytewise(&cli, &srv);
    CU_ASSERT_TRUE(ep_open(&srv));
    CU_ASSERT_TRUE(ep_open(&cli));
    CU_ASSERT(srv.plain.len == 3 && memcmp(srv.plain.data, "abc", 3) == 0);
    ep_write(&srv, "0123456789", 10);
    pump_bytewise(&srv, &cli);
    CU_ASSERT(cli.plain.len == 10 && memcmp(cli.plain.data, "0123456789", 10) == 0);
    ep_free(&srv);
    ep_free(&cli);
    nn_security_free(s1);
    nn_security_free(s2);
}

static void test_tls_mysql_client_without_cert(void) {
    nn_security *s1 = sec_new("a", "n1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    endpoint srv, cli;
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), NULL, NULL, 0, NULL);
    pump(&cli, &srv);
    CU_ASSERT_TRUE(ep_open(&srv));
    CU_ASSERT_TRUE(ep_open(&cli));
    nn_tls_facts f = facts_of(&srv);
    CU_ASSERT_TRUE(f.encrypted);
    CU_ASSERT_FALSE(f.peer_cert_presented);
    CU_ASSERT_FALSE(f.peer_cert_verified);
    CU_ASSERT_STRING_EQUAL(f.peer_subject, "");
    nn_ssl_require ssl = {NN_SSL_ANY, NULL, NULL, NULL};
    nn_ssl_require x509 = {NN_SSL_X509, NULL, NULL, NULL};
    CU_ASSERT_EQUAL(nn_ssl_require_check(&ssl, &f, NULL, 0), 0);
    CU_ASSERT_EQUAL(nn_ssl_require_check(&x509, &f, NULL, 0), -EACCES);
    ep_write(&cli, "SELECT 1", 8);
    pump(&cli, &srv);
    CU_ASSERT(srv.plain.len == 8 && memcmp(srv.plain.data, "SELECT 1", 8) == 0);
    ep_free(&srv);
    ep_free(&cli);

    /* with the MySQL client certificate: X509 and SUBJECT pass */
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), pk("a/client-cert.pem"), pk("a/client-key.pem"), 0, NULL);
    pump(&cli, &srv);
    CU_ASSERT_TRUE(ep_open(&srv));
    f = facts_of(&srv);
    CU_ASSERT_TRUE(f.peer_cert_verified);
    CU_ASSERT_STRING_EQUAL(f.peer_subject, "/C=CN/O=nodenet/CN=mysql-client");
    CU_ASSERT_STRING_EQUAL(f.peer_sans, "");
    nn_ssl_require subj = {NN_SSL_SPECIFIED, NULL, (char *)"/C=CN/O=nodenet/CN=nodenet-ca",
                           (char *)"/C=CN/O=nodenet/CN=mysql-client"};
    CU_ASSERT_EQUAL(nn_ssl_require_check(&x509, &f, NULL, 0), 0);
    CU_ASSERT_EQUAL(nn_ssl_require_check(&subj, &f, NULL, 0), 0);
    ep_free(&srv);
    ep_free(&cli);

    /* The MySQL port keeps only the certificate's hash in BoringSSL and the strings in the
     * engine (taken during the handshake): the same facts, over TLS 1.2 as well. */
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), pk("a/client-cert.pem"), pk("a/client-key.pem"),
                  TLS1_2_VERSION, NULL);
    pump(&cli, &srv);
    CU_ASSERT_TRUE(ep_open(&srv));
    f = facts_of(&srv);
    CU_ASSERT_STRING_EQUAL(f.version, "TLSv1.2");
    CU_ASSERT_TRUE(f.peer_cert_presented);
    CU_ASSERT_TRUE(f.peer_cert_verified);
    CU_ASSERT_STRING_EQUAL(f.peer_subject, "/C=CN/O=nodenet/CN=mysql-client");
    CU_ASSERT_STRING_EQUAL(f.peer_issuer, "/C=CN/O=nodenet/CN=nodenet-ca");
    CU_ASSERT_STRING_EQUAL(f.peer_cn, "mysql-client");
    CU_ASSERT(f.peer_not_before > 0 && f.peer_not_after > f.peer_not_before);
    CU_ASSERT_EQUAL(nn_ssl_require_check(&subj, &f, NULL, 0), 0);
    /* with only the hash kept, the certificate cannot be checked again after a reload */
    nn_sec_store *now = nn_sec_store_acquire(s1);
    nn_err rerr;
    CU_ASSERT_EQUAL(nn_tls_engine_peer_recheck(srv.engine, now, &rerr), -ENOTSUP);
    nn_sec_store_unref(now);
    ep_free(&srv);
    ep_free(&cli);

    /* RPC role: a certificate is required */
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), NULL, NULL, 0, NULL);
    pump(&cli, &srv);
    CU_ASSERT_TRUE(srv.failed);
    CU_ASSERT_STRING_EQUAL(srv.why, "tls: peer did not return a certificate");
    CU_ASSERT_EQUAL(nn_tls_engine_state_get(srv.engine), NN_TLS_ENGINE_FAILED);
    /* a failed engine stays failed with the same reason */
    nn_err err;
    CU_ASSERT_EQUAL(nn_tls_engine_input(srv.engine, (const uint8_t *)"x", 1, &err), -EPROTO);
    CU_ASSERT_STRING_EQUAL(err.msg, srv.why);
    ep_free(&srv);
    ep_free(&cli);
    nn_security_free(s1);
}

static void test_tls_foreign_ca_fails_handshake(void) {
    nn_security *s1 = sec_new("a", "n1");
    nn_security *sb = sec_new("b", "n1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sb);
    endpoint srv, cli;
    /* a client certificate from another CA (same subject!) */
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), pk("b/n1-cert.pem"), pk("b/n1-key.pem"), 0, NULL);
    pump(&cli, &srv);
    CU_ASSERT_TRUE(srv.failed);
    CU_ASSERT_STRING_EQUAL(
        srv.why, "tls: certificate verify failed: unable to get local issuer certificate");
    ep_free(&srv);
    ep_free(&cli);
    /* an expired client certificate */
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), pk("expired/n1-cert.pem"), pk("expired/n1-key.pem"), 0,
                  NULL);
    pump(&cli, &srv);
    CU_ASSERT_STRING_EQUAL(srv.why, "tls: certificate verify failed: certificate has expired");
    ep_free(&srv);
    ep_free(&cli);
    /* a not-yet-valid one */
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), pk("future/n1-cert.pem"), pk("future/n1-key.pem"), 0, NULL);
    pump(&cli, &srv);
    CU_ASSERT_STRING_EQUAL(srv.why, "tls: certificate verify failed: certificate is not yet valid");
    ep_free(&srv);
    ep_free(&cli);
    /* our client engine refuses a server from another CA */
    ep_engine(&srv, sb, NN_TLS_SERVER, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_engine(&cli, s1, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED, "n1");
    pump(&cli, &srv);
    CU_ASSERT_TRUE(cli.failed);
    CU_ASSERT_STRING_EQUAL(
        cli.why, "tls: certificate verify failed: unable to get local issuer certificate");
    CU_ASSERT_TRUE(srv.failed); /* it got the alert */
    CU_ASSERT_PTR_NOT_NULL(strstr(srv.why, "tls: "));
    ep_free(&srv);
    ep_free(&cli);
    /* plaintext where a ClientHello belongs fails, it does not hang */
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
    const char *junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ep_input(&srv, (const uint8_t *)junk, strlen(junk));
    CU_ASSERT_TRUE(srv.failed);
    CU_ASSERT_EQUAL(strncmp(srv.why, "tls: ", 5), 0);
    CU_ASSERT_EQUAL(srv.plain.len, 0);
    ep_free(&srv);
    nn_security_free(s1);
    nn_security_free(sb);
}

static void test_tls12_cipher_and_rsa(void) {
    nn_security_config c = cfg_for("a", "n1");
    c.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";
    nn_err err;
    nn_security *s1 = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    endpoint srv, cli;
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), NULL, NULL, TLS1_2_VERSION,
                  "ECDHE-ECDSA-AES256-GCM-SHA384");
    pump(&cli, &srv);
    CU_ASSERT_TRUE(ep_open(&srv));
    nn_tls_facts f = facts_of(&srv);
    CU_ASSERT_STRING_EQUAL(f.version, "TLSv1.2");
    CU_ASSERT_STRING_EQUAL(f.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
    ep_free(&srv);
    ep_free(&cli);
    /* a TLS 1.2 client offering only ciphers outside the list */
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), NULL, NULL, TLS1_2_VERSION,
                  "ECDHE-ECDSA-AES128-GCM-SHA256");
    pump(&cli, &srv);
    CU_ASSERT_TRUE(srv.failed);
    CU_ASSERT_STRING_EQUAL(srv.why, "tls: no shared cipher");
    ep_free(&srv);
    ep_free(&cli);
    nn_security_free(s1);

    /* RSA certificate */
    c = cfg_for("rsa", "n1");
    c.ca_file = pk("a/ca.pem");
    nn_security *sr = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sr);
    ep_engine(&srv, sr, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), NULL, NULL, TLS1_2_VERSION, NULL);
    pump(&cli, &srv);
    f = facts_of(&srv);
    CU_ASSERT_STRING_EQUAL(f.version, "TLSv1.2");
    CU_ASSERT_EQUAL(strncmp(f.cipher, "ECDHE-RSA-", 10), 0);
    ep_free(&srv);
    ep_free(&cli);
    nn_security_free(sr);

    /* min version 1.3 refuses a TLS 1.2 client */
    c = cfg_for("a", "n1");
    c.min_version = "1.3";
    nn_security *s13 = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s13);
    ep_engine(&srv, s13, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), NULL, NULL, TLS1_2_VERSION, NULL);
    pump(&cli, &srv);
    CU_ASSERT_TRUE(srv.failed);
    CU_ASSERT_STRING_EQUAL(srv.why, "tls: unsupported protocol");
    ep_free(&srv);
    ep_free(&cli);
    nn_security_free(s13);
}

static bool connect_pair(nn_security *ss, nn_security *cs, const char *peer_key,
                         nn_tls_facts *srv_facts, nn_tls_facts *cli_facts) {
    endpoint srv, cli;
    ep_engine(&srv, ss, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_engine(&cli, cs, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED, peer_key);
    pump(&cli, &srv);
    /* TLS 1.3 tickets come after the handshake: one round of data makes sure they landed */
    ep_write(&srv, "ping", 4);
    pump(&srv, &cli);
    bool ok = ep_open(&srv) && ep_open(&cli) && cli.plain.len == 4;
    *srv_facts = facts_of(&srv);
    *cli_facts = facts_of(&cli);
    ep_free(&srv);
    ep_free(&cli);
    return ok;
}

static void test_session_resumption(void) {
    nn_security *s1 = sec_new("a", "n1");
    nn_security *s2 = sec_new("a", "n2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
    nn_tls_facts fs, fc;
    CU_ASSERT_TRUE(connect_pair(s1, s2, "n1", &fs, &fc));
    CU_ASSERT_FALSE(fc.session_reused);
    CU_ASSERT_TRUE(connect_pair(s1, s2, "n1", &fs, &fc));
    CU_ASSERT_TRUE(fc.session_reused);
    CU_ASSERT_TRUE(fs.session_reused);
    /* a resumed session still carries the verified peer certificate */
    CU_ASSERT_TRUE(fs.peer_cert_verified);
    CU_ASSERT_STRING_EQUAL(fs.peer_cn, "n2");
    CU_ASSERT_STRING_EQUAL(fc.peer_cn, "n1");
    nn_err err;
    CU_ASSERT_EQUAL(nn_security_identity_check(&fc, "n1", &err), 0);
    /* another peer key has no session; no key never resumes */
    CU_ASSERT_TRUE(connect_pair(s1, s2, "127.0.0.1:2882", &fs, &fc));
    CU_ASSERT_FALSE(fc.session_reused);
    CU_ASSERT_TRUE(connect_pair(s1, s2, NULL, &fs, &fc));
    CU_ASSERT_FALSE(fc.session_reused);
    /* a reload of the client's store starts a fresh cache */
    CU_ASSERT_EQUAL(nn_security_reload(s2, NULL, &err), 0);
    CU_ASSERT_TRUE(connect_pair(s1, s2, "n1", &fs, &fc));
    CU_ASSERT_FALSE(fc.session_reused);
    CU_ASSERT_TRUE(connect_pair(s1, s2, "n1", &fs, &fc));
    CU_ASSERT_TRUE(fc.session_reused);
    nn_security_free(s1);
    nn_security_free(s2);

    /* TLS 1.2 resumes too, where the RPC port allows it */
    nn_security_config c = cfg_for("a", "n1");
    c.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
    c.rpc_min_version = "1.2";
    s1 = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    endpoint srv, cli;
    SSL_SESSION *session = NULL;
    for (int i = 0; i < 2; i++) {
        ep_engine(&srv, s1, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
        ep_raw_client_session(&cli, pk("a/ca.pem"), NULL, NULL, TLS1_2_VERSION, NULL, session);
        pump(&cli, &srv);
        CU_ASSERT_TRUE(ep_open(&srv));
        nn_tls_facts f = facts_of(&srv);
        CU_ASSERT_STRING_EQUAL(f.version, "TLSv1.2");
        CU_ASSERT_EQUAL(f.session_reused, i == 1);
        if (session == NULL) {
            session = SSL_get1_session(cli.raw);
        }
        ep_free(&srv);
        ep_free(&cli);
    }
    SSL_SESSION_free(session);
    nn_security_free(s1);
}

static int tickets_seen;

static int count_ticket(SSL *ssl, SSL_SESSION *session) {
    (void)ssl;
    (void)session;
    tickets_seen++;
    return 0; /* not kept */
}

/* The RPC port issues one TLS 1.3 ticket per handshake (a channel keeps one session per
 * peer), the MySQL port none. */
static void test_rpc_one_ticket(void) {
    nn_security *s1 = sec_new("a", "n1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    nn_tls_role roles[2] = {NN_TLS_RPC_SERVER, NN_TLS_SERVER};
    int want[2] = {1, 0};
    for (int i = 0; i < 2; i++) {
        endpoint srv, cli;
        ep_engine(&srv, s1, roles[i], NN_TLS_PEER_CERT_OPTIONAL, NULL);
        ep_raw_client(&cli, pk("a/ca.pem"), NULL, NULL, TLS1_3_VERSION, NULL);
        SSL_CTX_set_session_cache_mode(cli.raw_ctx, SSL_SESS_CACHE_CLIENT);
        SSL_CTX_sess_set_new_cb(cli.raw_ctx, count_ticket);
        tickets_seen = 0;
        pump(&cli, &srv);
        ep_write(&srv, "ping", 4); /* the client reads the tickets before the data */
        pump(&srv, &cli);
        CU_ASSERT_TRUE(ep_open(&srv) && cli.plain.len == 4);
        CU_ASSERT_EQUAL(tickets_seen, want[i]);
        ep_free(&srv);
        ep_free(&cli);
    }
    nn_security_free(s1);
}

static void test_reload_swaps_and_old_session_lives(void) {
    nn_security *s1 = sec_new("a", "n1");
    nn_security *s2 = sec_new("a", "n2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
    endpoint srv, cli;
    ep_engine(&srv, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_engine(&cli, s2, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED, NULL);
    pump(&cli, &srv);
    CU_ASSERT_TRUE_FATAL(ep_open(&srv));
    nn_sec_store *before = nn_sec_store_acquire(s1);

    /* n1's server now uses the RSA certificate */
    nn_security_config c = cfg_for("rsa", "n1");
    c.ca_file = pk("a/ca.pem");
    nn_err err;
    CU_ASSERT_EQUAL_FATAL(nn_security_reload(s1, &c, &err), 0);
    CU_ASSERT_EQUAL(nn_security_generation(s1), 1);
    nn_security_info info;
    nn_security_info_get(s1, &info);
    CU_ASSERT_EQUAL(info.generation, 1);
    nn_sec_store *after = nn_sec_store_acquire(s1);
    CU_ASSERT_PTR_NOT_EQUAL(before, after);
    nn_sec_store_unref(before);
    nn_sec_store_unref(after);

    /* the session that started before keeps working on its snapshot */
    ep_write(&cli, "still here", 10);
    ep_write(&srv, "yes", 3);
    pump(&cli, &srv);
    CU_ASSERT(srv.plain.len == 10 && memcmp(srv.plain.data, "still here", 10) == 0);
    CU_ASSERT(cli.plain.len == 3 && memcmp(cli.plain.data, "yes", 3) == 0);

    /* a failed reload keeps the current store and says why */
    c = cfg_for("expired", "n1");
    nn_err_clear(&err);
    CU_ASSERT_EQUAL(nn_security_reload(s1, &c, &err), -EKEYEXPIRED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "certificate expired on"));
    CU_ASSERT_EQUAL(nn_security_generation(s1), 1);

    /* new sessions get the RSA certificate (TLS 1.2 shows it in the cipher) */
    endpoint srv2, raw;
    ep_engine(&srv2, s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
    ep_raw_client(&raw, pk("a/ca.pem"), NULL, NULL, TLS1_2_VERSION, NULL);
    pump(&raw, &srv2);
    nn_tls_facts f = facts_of(&srv2);
    CU_ASSERT_EQUAL(strncmp(f.cipher, "ECDHE-RSA-", 10), 0);
    ep_write(&srv, "old one too", 11);
    pump(&srv, &cli);
    CU_ASSERT_EQUAL(cli.plain.len, 3 + 11);
    ep_free(&srv2);
    ep_free(&raw);
    ep_free(&srv);
    ep_free(&cli);
    nn_security_free(s1);
    nn_security_free(s2);
}

static void copy_file(const char *from, const char *to) {
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s.tmp' && mv '%s.tmp' '%s'", from, to, to, to);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static bool wait_generation(nn_security *sec, uint64_t want) {
    for (int i = 0; i < 500; i++) { /* bounded: 5 s */
        if (nn_security_generation(sec) >= want) {
            return true;
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void test_watcher_notices_new_files(void) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/watch", pki);
    mkdir(dir, 0700);
    char ca[600], cert[600], key[600];
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(cert, sizeof(cert), "%s/n1-cert.pem", dir);
    snprintf(key, sizeof(key), "%s/n1-key.pem", dir);
    copy_file(pk("a/ca.pem"), ca);
    copy_file(pk("a/n1-cert.pem"), cert);
    copy_file(pk("a/n1-key.pem"), key);
    nn_security_config c = {.node_name = "n1",
                            .ca_file = ca,
                            .cert_file = cert,
                            .key_file = key,
                            .watch_interval_ms = 20};
    nn_err err;
    nn_security *sec = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    /* key first, then certificate: the watcher may see the mismatch in between, fail,
     * keep the old store, and succeed on the next change */
    copy_file(pk("rsa/n1-key.pem"), key);
    copy_file(pk("rsa/n1-cert.pem"), cert);
    CU_ASSERT_TRUE(wait_generation(sec, 1));
    nn_security_info info;
    nn_security_info_get(sec, &info);
    CU_ASSERT_STRING_EQUAL(info.subject, "/C=CN/O=nodenet/CN=n1");
    nn_sec_store *st = nn_sec_store_acquire(sec);
    X509 *leaf = SSL_CTX_get0_certificate(st->server_ctx);
    EVP_PKEY *pub = X509_get_pubkey(leaf);
    CU_ASSERT_EQUAL(EVP_PKEY_id(pub), EVP_PKEY_RSA);
    EVP_PKEY_free(pub);
    nn_sec_store_unref(st);
    /* a broken file: the reload fails, the store in use stays */
    uint64_t gen = nn_security_generation(sec);
    write_text(cert, "not a certificate\n");
    CU_ASSERT_EQUAL(nn_security_reload(sec, NULL, &err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "n1-cert.pem: no PEM certificate in the file"));
    CU_ASSERT_EQUAL(nn_security_generation(sec), gen);
    nn_security_free(sec); /* joins the watcher */
}

typedef struct race {
    nn_security *sec;
    _Atomic bool stop;
    uint64_t acquired;
} race;

static void *acquire_loop(void *arg) {
    race *r = arg;
    while (!atomic_load(&r->stop)) {
        nn_sec_store *st = nn_sec_store_acquire(r->sec);
        /* a snapshot is complete and usable while held, whatever reloads do meanwhile */
        SSL *ssl = SSL_new(st->server_ctx);
        if (ssl == NULL || st->info.subject[0] == '\0') {
            SSL_free(ssl);
            nn_sec_store_unref(st);
            return NULL;
        }
        SSL_free(ssl);
        nn_sec_store_unref(st);
        r->acquired++;
    }
    return r;
}

static void test_acquire_races_reload(void) {
    race r = {.sec = sec_new("a", "n1")};
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.sec);
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, acquire_loop, &r), 0);
    nn_err err;
    for (int i = 0; i < 10; i++) {
        CU_ASSERT_EQUAL(nn_security_reload(r.sec, NULL, &err), 0);
    }
    atomic_store(&r.stop, true);
    void *ok = NULL;
    pthread_join(t, &ok);
    CU_ASSERT_PTR_EQUAL(ok, &r);
    CU_ASSERT_EQUAL(nn_security_generation(r.sec), 10);
    nn_security_free(r.sec);
}

/* The node clears its listener at shutdown and then frees what the listener uses (the
 * rpc): a watcher reload already inside the listener must have left it by then. */
typedef struct slow_listener {
    _Atomic int started;
    _Atomic int done;
} slow_listener;

static void slow_listener_fn(void *arg, uint64_t generation) {
    slow_listener *l = arg;
    atomic_store(&l->started, 1);
    usleep(200 * 1000);
    atomic_store(&l->done, 1);
}

static void *reload_in_thread(void *arg) {
    nn_err err;
    nn_err_clear(&err);
    return nn_security_reload(arg, NULL, &err) == 0 ? arg : NULL;
}

static void test_listener_cleared_waits_for_a_call_in_progress(void) {
    nn_security *sec = sec_new("a", "n1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    slow_listener l = {0};
    nn_security_set_reload_listener(sec, slow_listener_fn, &l);
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, reload_in_thread, sec), 0);
    while (!atomic_load(&l.started)) {
        usleep(1000);
    }
    nn_security_set_reload_listener(sec, NULL, NULL);
    CU_ASSERT_EQUAL(atomic_load(&l.done), 1);
    void *ok = NULL;
    pthread_join(t, &ok);
    CU_ASSERT_PTR_EQUAL(ok, sec);
    nn_security_free(sec);
}

static void *acquire_in_thread(void *arg) {
    nn_sec_store *st = nn_sec_store_acquire(arg);
    nn_sec_store_unref(st);
    return st; /* the thread's cached reference is dropped when it exits */
}

static void test_thread_cache_released_at_exit(void) {
    nn_security *sec = sec_new("a", "n1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    nn_sec_store *mine = nn_sec_store_acquire(sec);
    pthread_t t;
    void *theirs = NULL;
    pthread_create(&t, NULL, acquire_in_thread, sec);
    pthread_join(t, &theirs);
    CU_ASSERT_PTR_EQUAL(mine, theirs);
    /* refs: sec's current, this thread's cache, `mine` -- the other thread's is gone */
    CU_ASSERT_EQUAL(atomic_load(&mine->refs), 3);
    nn_sec_store_unref(mine);
    nn_security_free(sec);
}

/* ------------------------------------------------------------ hardening (issue 13) */

/* A raw TLS client against a server engine of `role` on sec: did the handshake complete?
 * why gets the server's reason when not. */
static bool raw_handshake(nn_security *sec, nn_tls_role role, nn_tls_peer_cert pc, const char *cert,
                          const char *key, uint16_t max_version, const char *ciphers,
                          nn_tls_facts *facts, char *why, size_t why_cap) {
    endpoint srv, cli;
    ep_engine(&srv, sec, role, pc, NULL);
    ep_raw_client(&cli, pk("a/ca.pem"), cert, key, max_version, ciphers);
    SSL_set_min_proto_version(cli.raw, TLS1_VERSION);
    pump(&cli, &srv);
    bool ok = ep_open(&srv) && ep_open(&cli);
    if (facts != NULL) {
        *facts = facts_of(&srv);
    }
    if (why != NULL) {
        snprintf(why, why_cap, "%s", srv.why);
    }
    ep_free(&srv);
    ep_free(&cli);
    return ok;
}

/* rel_09 in memory: TLS 1.2 with ECDHE and AEAD only, in the server's order; old versions,
 * CBC and static-RSA suites get an alert. */
static void test_rel_09_defaults_ecdhe_aead_server_order(void) {
    nn_security *sec = sec_new("a", "n1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    char why[512];
    nn_tls_facts f;
    const nn_tls_role roles[2] = {NN_TLS_SERVER, NN_TLS_RPC_SERVER};
    /* TLS 1.0 and 1.1 only: refused on both ports */
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_FALSE(raw_handshake(sec, roles[i], NN_TLS_PEER_CERT_OPTIONAL, NULL, NULL,
                                      TLS1_1_VERSION, NULL, NULL, why, sizeof(why)));
        CU_ASSERT_STRING_EQUAL(why, "tls: unsupported protocol");
    }
    /* CBC suites and static RSA key exchange are not offered */
    const char *refused[] = {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",
                             "ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256", "AES128-SHA"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        CU_ASSERT_FALSE(raw_handshake(sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL, NULL,
                                      TLS1_2_VERSION, refused[i], NULL, why, sizeof(why)));
        CU_ASSERT_STRING_EQUAL(why, "tls: no shared cipher");
    }
    /* the server's order wins over a client that prefers ChaCha20 */
    CU_ASSERT_TRUE(raw_handshake(sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL, NULL,
                                 TLS1_2_VERSION,
                                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                 "ECDHE-ECDSA-AES128-GCM-SHA256",
                                 &f, NULL, 0));
    CU_ASSERT_STRING_EQUAL(f.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
    /* MySQL port: TLS 1.2 is fine; RPC port: TLS 1.3 only by default */
    CU_ASSERT_TRUE(raw_handshake(sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL, NULL,
                                 TLS1_2_VERSION, NULL, &f, NULL, 0));
    CU_ASSERT_STRING_EQUAL(f.version, "TLSv1.2");
    CU_ASSERT_FALSE(raw_handshake(sec, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL, NULL,
                                  TLS1_2_VERSION, NULL, NULL, why, sizeof(why)));
    CU_ASSERT_STRING_EQUAL(why, "tls: unsupported protocol");
    CU_ASSERT_TRUE(raw_handshake(sec, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL, NULL, 0,
                                 NULL, &f, NULL, 0));
    CU_ASSERT_STRING_EQUAL(f.version, "TLSv1.3");
    nn_security_free(sec);

    /* rpc_tls_min_version "1.2" lets the RPC port speak TLS 1.2 (still ECDHE + AEAD) */
    nn_security_config c = cfg_for("a", "n1");
    c.rpc_min_version = "1.2";
    nn_err err;
    sec = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    CU_ASSERT_TRUE(raw_handshake(sec, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL, NULL,
                                 TLS1_2_VERSION, NULL, &f, NULL, 0));
    CU_ASSERT_STRING_EQUAL(f.version, "TLSv1.2");
    CU_ASSERT_FALSE(raw_handshake(sec, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL, NULL,
                                  TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA", NULL, why,
                                  sizeof(why)));
    nn_security_free(sec);
    c.rpc_min_version = "1.1";
    expect_load_error(c, "security.rpc_tls_min_version: '1.1': expected \"1.2\" or \"1.3\"");
}

/* The MySQL port issues no session tickets (MySQL clients never resume); RPC does. */
static void test_mysql_port_issues_no_tickets(void) {
    nn_security *s1 = sec_new("a", "n1");
    nn_security *s2 = sec_new("a", "n2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
    const nn_tls_role roles[2] = {NN_TLS_SERVER, NN_TLS_RPC_SERVER};
    for (int r = 0; r < 2; r++) {
        bool reused = false;
        for (int i = 0; i < 2; i++) {
            endpoint srv, cli;
            ep_engine(&srv, s1, roles[r], NN_TLS_PEER_CERT_REQUIRED, NULL);
            ep_engine(&cli, s2, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED,
                      r == 0 ? "mysql-port" : "rpc-port");
            pump(&cli, &srv);
            ep_write(&srv, "ping", 4);
            pump(&srv, &cli);
            CU_ASSERT_TRUE(ep_open(&srv) && cli.plain.len == 4);
            reused = facts_of(&cli).session_reused;
            ep_free(&srv);
            ep_free(&cli);
        }
        CU_ASSERT_EQUAL(reused, roles[r] == NN_TLS_RPC_SERVER);
    }
    nn_security_free(s1);
    nn_security_free(s2);
}

static nn_security_config cfg_crl(const char *dir, const char *node, const char *crl) {
    nn_security_config c = cfg_for(dir, node);
    c.ca_file = pk("a/ca.pem");
    c.crl_file = crl;
    return c;
}

/* rel_17 in memory: with a CRL, a revoked client certificate fails the handshake on the
 * MySQL port (MySQL's ssl-crl behaviour: verification fails, the client gets an alert);
 * a revoked node is refused on the RPC port, and a node refuses to dial a revoked one. */
static void test_rel_17_revoked_certificates_are_refused(void) {
    nn_security_config c = cfg_crl("a", "n1", pk("a/crl.pem"));
    nn_err err;
    nn_err_clear(&err);
    nn_security *s1 = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    nn_security_info info;
    nn_security_info_get(s1, &info);
    CU_ASSERT(info.crl_next_update > (int64_t)time(NULL) + 29LL * 86400);
    CU_ASSERT_STRING_EQUAL(info.reload_error, "");
    char why[512];
    /* MySQL port */
    CU_ASSERT_FALSE(raw_handshake(s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL,
                                  pk("revoked/client-cert.pem"), pk("revoked/client-key.pem"), 0,
                                  NULL, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "certificate revoked"));
    CU_ASSERT_TRUE(raw_handshake(s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL,
                                 pk("a/client-cert.pem"), pk("a/client-key.pem"), 0, NULL, NULL,
                                 NULL, 0));
    /* a client of the same CA that is not revoked, with no certificate at all: fine */
    CU_ASSERT_TRUE(raw_handshake(s1, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL, NULL, 0, NULL,
                                 NULL, NULL, 0));

    /* RPC: n3 is revoked; n2 is not */
    nn_security *s3 = sec_new("revoked", "n3"); /* no CRL of its own */
    nn_security *s2 = sec_new("a", "n2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
    endpoint srv, cli;
    ep_engine(&srv, s1, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_engine(&cli, s3, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED, NULL);
    pump(&cli, &srv);
    CU_ASSERT_TRUE(srv.failed);
    CU_ASSERT_PTR_NOT_NULL(strstr(srv.why, "certificate revoked"));
    CU_ASSERT_FALSE(ep_open(&cli));
    ep_free(&srv);
    ep_free(&cli);
    ep_engine(&srv, s3, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_engine(&cli, s1, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED, NULL);
    pump(&cli, &srv);
    CU_ASSERT_TRUE(cli.failed);
    CU_ASSERT_PTR_NOT_NULL(strstr(cli.why, "certificate revoked"));
    ep_free(&srv);
    ep_free(&cli);
    ep_engine(&srv, s1, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_engine(&cli, s2, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED, NULL);
    pump(&cli, &srv);
    CU_ASSERT_TRUE(ep_open(&srv) && ep_open(&cli));
    ep_free(&srv);
    ep_free(&cli);
    nn_security_free(s3);
    nn_security_free(s2);

    /* a node whose own certificate is revoked does not load */
    c = cfg_crl("revoked", "n3", pk("a/crl.pem"));
    expect_load_error(c, "certificate revoked");
    nn_security_free(s1);
}

/* A session's peer certificate checked again against a later store (what rpc/ does for the
 * connections that outlive a reload): revoked by the new CRL, no longer under its CAs, or
 * still fine; both roles. */
static void test_peer_recheck_against_a_new_store(void) {
    nn_security *plain = sec_new("a", "n1"); /* no CRL: n3 gets in */
    nn_security *n3 = sec_new("revoked", "n3");
    nn_security *other_ca = sec_new("b", "n1");
    nn_security_config c = cfg_crl("a", "n1", pk("a/crl.pem"));
    nn_err err;
    nn_err_clear(&err);
    nn_security *with_crl = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other_ca);
    CU_ASSERT_PTR_NOT_NULL_FATAL(with_crl);
    endpoint srv, cli;
    ep_engine(&srv, plain, NN_TLS_RPC_SERVER, NN_TLS_PEER_CERT_REQUIRED, NULL);
    ep_engine(&cli, n3, NN_TLS_CLIENT, NN_TLS_PEER_CERT_REQUIRED, NULL);
    nn_sec_store *store = nn_sec_store_acquire(with_crl);
    CU_ASSERT_EQUAL(nn_tls_engine_peer_recheck(srv.engine, store, &err), 0); /* no session yet */
    pump(&cli, &srv);
    CU_ASSERT_FATAL(ep_open(&srv) && ep_open(&cli));
    nn_err_clear(&err);
    CU_ASSERT_EQUAL(nn_tls_engine_peer_recheck(srv.engine, store, &err), -EKEYREVOKED);
    CU_ASSERT_STRING_EQUAL(err.msg, "certificate verify failed: certificate revoked");
    nn_sec_store_unref(store);
    store = nn_sec_store_acquire(other_ca);
    nn_err_clear(&err);
    CU_ASSERT_EQUAL(nn_tls_engine_peer_recheck(srv.engine, store, &err), -EACCES);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unable to get local issuer certificate"));
    /* The client's view of the server (n1, not revoked): untrusted under B, fine under A. */
    nn_err_clear(&err);
    CU_ASSERT_EQUAL(nn_tls_engine_peer_recheck(cli.engine, store, &err), -EACCES);
    nn_sec_store_unref(store);
    store = nn_sec_store_acquire(with_crl);
    CU_ASSERT_EQUAL(nn_tls_engine_peer_recheck(cli.engine, store, &err), 0);
    nn_sec_store_unref(store);
    store = nn_sec_store_acquire(plain);
    CU_ASSERT_EQUAL(nn_tls_engine_peer_recheck(srv.engine, store, &err), 0);
    nn_sec_store_unref(store);
    ep_free(&srv);
    ep_free(&cli);
    nn_security_free(plain);
    nn_security_free(n3);
    nn_security_free(other_ca);
    nn_security_free(with_crl);
}

/* rel_17: a stale, unreadable, foreign or empty CRL fails closed, at load and on reload. */
static void test_rel_17_bad_crl_fails_closed(void) {
    nn_security_config c = cfg_crl("a", "n1", pk("stale/crl.pem"));
    expect_load_error(c, "security.crl_file: ");
    expect_load_error(c, "stale/crl.pem: CRL 1 (issuer /C=CN/O=nodenet/CN=nodenet-ca) is stale: "
                         "its nextUpdate was ");
    c.crl_file = pk("a/no-such-crl.pem");
    expect_load_error(c, "security.crl_file: ");
    expect_load_error(c, "no-such-crl.pem: cannot open: No such file or directory");
    c.crl_file = pk("b/crl.pem");
    expect_load_error(c, "b/crl.pem: CRL 1 (issuer /C=CN/O=nodenet/CN=nodenet-ca) is not signed "
                         "by a CA of security.ca_file");
    c.crl_file = pk("a/ca.pem");
    expect_load_error(c, "a/ca.pem: no PEM CRL (X509 CRL) in the file");
    /* a PEM block that does not decode: refused, naming the kind */
    write_text(pk("broken-crl.pem"), "-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n");
    c.crl_file = pk("broken-crl.pem");
    expect_load_error(c, "broken-crl.pem: bad PEM CRL: ");
    /* two CAs trusted, a CRL for only one: our own certificate's issuer has none */
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > '%s'", pk("a/ca.pem"), pk("b/ca.pem"),
             pk("ab-ca.pem"));
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    c.ca_file = pk("ab-ca.pem");
    c.crl_file = pk("b/crl.pem");
    expect_load_error(c, "security.cert_file: ");
    expect_load_error(c, "n1-cert.pem: no CRL of its issuer (security.crl_file ");
    c.ca_file = pk("a/ca.pem");

    /* reload: the old store stays, and the status says why until a reload succeeds */
    c.crl_file = pk("a/crl.pem");
    nn_err err;
    nn_security *sec = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    c.crl_file = pk("stale/crl.pem");
    CU_ASSERT_EQUAL(nn_security_reload(sec, &c, &err), -EKEYEXPIRED);
    CU_ASSERT_EQUAL(nn_security_generation(sec), 0);
    nn_security_info info;
    nn_security_info_get(sec, &info);
    CU_ASSERT_PTR_NOT_NULL(strstr(info.reload_error, "is stale"));
    char why[512];
    CU_ASSERT_FALSE(raw_handshake(sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL,
                                  pk("revoked/client-cert.pem"), pk("revoked/client-key.pem"), 0,
                                  NULL, NULL, why, sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "certificate revoked"));
    c.crl_file = pk("a/no-such-crl.pem");
    CU_ASSERT(nn_security_reload(sec, &c, &err) < 0);
    nn_security_info_get(sec, &info);
    CU_ASSERT_PTR_NOT_NULL(strstr(info.reload_error, "cannot open"));
    c.crl_file = pk("a/crl.pem");
    CU_ASSERT_EQUAL(nn_security_reload(sec, &c, &err), 0);
    nn_security_info_get(sec, &info);
    CU_ASSERT_STRING_EQUAL(info.reload_error, "");
    CU_ASSERT_EQUAL(info.generation, 1);
    nn_security_free(sec);
}

/* rel_18 in memory: a client certificate whose extended key usage is serverAuth only. */
static void test_rel_18_wrong_eku_or_key_usage_is_refused(void) {
    nn_security *sec = sec_new("a", "n1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    char why[512];
    CU_ASSERT_FALSE(raw_handshake(sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL,
                                  pk("eku/eku-cert.pem"), pk("eku/eku-key.pem"), 0, NULL, NULL, why,
                                  sizeof(why)));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "certificate verify failed"));
    /* The key-usage case (keyEncipherment only on an EC key) needs a client that will send
     * such a certificate; BoringSSL will not (KEY_USAGE_BIT_INCORRECT), so
     * tests/integration/tls_hardening_test.sh sends it with openssl s_client. */
    nn_security_free(sec);
}

/* The MySQL port remembers client chains that verified (security/verify_cache.c): a client
 * that logs in again is not verified again, a refusal is never remembered, and a CRL reload
 * revokes a certificate that had logged in before. */
static void test_verify_cache_and_crl_reload(void) {
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cp -r '%s/a' '%s/vcache'", pki, pki);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    nn_security_config c = cfg_for("vcache", "n1");
    c.crl_file = pk("vcache/crl.pem");
    nn_err err;
    nn_err_clear(&err);
    nn_security *sec = nn_security_new(&c, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    uint64_t hits0, misses0, hits, misses;
    nn_sec_verify_cache_stats(&hits0, &misses0);
    nn_tls_facts facts;
    char why[512];
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_TRUE(raw_handshake(sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL,
                                     pk("vcache/client-cert.pem"), pk("vcache/client-key.pem"), 0,
                                     NULL, &facts, NULL, 0));
        CU_ASSERT_TRUE(facts.peer_cert_verified);
        CU_ASSERT_EQUAL(facts.verify_result, X509_V_OK);
        CU_ASSERT_STRING_EQUAL(facts.peer_subject, "/C=CN/O=nodenet/CN=mysql-client");
    }
    nn_sec_verify_cache_stats(&hits, &misses);
    CU_ASSERT_EQUAL(misses - misses0, 1); /* verified once ... */
    CU_ASSERT_EQUAL(hits - hits0, 2);     /* ... remembered twice */
    /* Refusals are computed each time, with the same reason. */
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_FALSE(raw_handshake(sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL,
                                      pk("revoked/client-cert.pem"), pk("revoked/client-key.pem"),
                                      0, NULL, NULL, why, sizeof(why)));
        CU_ASSERT_PTR_NOT_NULL(strstr(why, "certificate revoked"));
        CU_ASSERT_FALSE(raw_handshake(sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL,
                                      pk("b/n1-cert.pem"), pk("b/n1-key.pem"), 0, NULL, NULL, why,
                                      sizeof(why)));
        CU_ASSERT_PTR_NOT_NULL(strstr(why, "certificate verify failed"));
    }
    nn_sec_verify_cache_stats(&hits, &misses);
    CU_ASSERT_EQUAL(hits - hits0, 2);
    /* The client that logged in is revoked; the new CRL is loaded: refused from then on. */
    snprintf(
        cmd, sizeof(cmd),
        "'%s/deploy/gen-certs' '%s/vcache' --revoke '%s/vcache/client-cert.pem' >/dev/null 2>&1",
        NN_SOURCE_DIR, pki, pki);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    CU_ASSERT_EQUAL(nn_security_reload(sec, NULL, &err), 0);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_FALSE(raw_handshake(sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL,
                                      pk("vcache/client-cert.pem"), pk("vcache/client-key.pem"), 0,
                                      NULL, NULL, why, sizeof(why)));
        CU_ASSERT_PTR_NOT_NULL(strstr(why, "certificate revoked"));
    }
    /* Another client of the CA still gets in under the new store. */
    CU_ASSERT_TRUE(raw_handshake(sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL,
                                 pk("vcache/admin-cert.pem"), pk("vcache/admin-key.pem"), 0, NULL,
                                 &facts, NULL, 0));
    CU_ASSERT_TRUE(facts.peer_cert_verified);
    nn_security_free(sec);
}

/* COM_QUIT on the MySQL port: the server's close sends no close_notify (as MySQL's and
 * MariaDB's servers do), but what it queued before still goes out; any other close sends one. */
static void test_mysql_quit_sends_no_close_notify(void) {
    nn_security *sec = sec_new("a", "n1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sec);
    for (int quiet = 0; quiet < 2; quiet++) {
        endpoint srv, cli;
        ep_engine(&srv, sec, NN_TLS_SERVER, NN_TLS_PEER_CERT_OPTIONAL, NULL);
        ep_raw_client(&cli, pk("a/ca.pem"), NULL, NULL, 0, NULL);
        pump(&cli, &srv);
        CU_ASSERT_FATAL(ep_open(&srv) && ep_open(&cli));
        CU_ASSERT_EQUAL(srv.out.len, 0);
        nn_err err;
        struct iovec iov = {.iov_base = "bye", .iov_len = 3};
        CU_ASSERT_EQUAL(nn_tls_engine_queue(srv.engine, &iov, 1, &err), 0);
        if (quiet) {
            nn_tls_engine_quiet_shutdown(srv.engine);
        }
        nn_tls_engine_shutdown(srv.engine);
        /* One application record (5 + 3 + 1 + 16 bytes), then close_notify's record (5 + 2 +
         * 1 + 16) unless quiet. */
        CU_ASSERT_EQUAL(srv.out.len, quiet ? 25u : 49u);
        pump(&srv, &cli);
        CU_ASSERT_EQUAL(cli.plain.len, 3);
        ep_free(&srv);
        ep_free(&cli);
    }
    nn_security_free(sec);
}

int main(void) {
    snprintf(pki, sizeof(pki), "/tmp/nn-test-security-XXXXXX");
    if (mkdtemp(pki) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/tests/unit/pki/mkpki.sh %s/deploy/gen-certs %s", NN_SOURCE_DIR,
             NN_SOURCE_DIR, pki);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot make the test PKI: %s\n", cmd);
        return 1;
    }
    nn_log_set_level(NN_LOG_ERROR);
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    CU_pSuite s = CU_add_suite("security", NULL, NULL);
    CU_add_test(s, "require_check_matrix", test_require_check_matrix);
    CU_add_test(s, "require_parse_print", test_require_parse_print);
    CU_add_test(s, "identity_and_allow_list", test_identity_and_allow_list);
    CU_add_test(s, "sniff", test_sniff);
    CU_add_test(s, "store_good", test_store_good);
    CU_add_test(s, "store_bad_files_are_refused_with_one_line", test_store_bad);
    CU_add_test(s, "tls_mutual_node_to_node", test_tls_mutual_node_to_node);
    CU_add_test(s, "tls_records_in_single_bytes", test_tls_records_in_single_bytes);
    CU_add_test(s, "tls_mysql_client_without_cert", test_tls_mysql_client_without_cert);
    CU_add_test(s, "tls_foreign_ca_expired_future_fail_handshake",
                test_tls_foreign_ca_fails_handshake);
    CU_add_test(s, "tls12_cipher_and_rsa", test_tls12_cipher_and_rsa);
    CU_add_test(s, "session_resumption", test_session_resumption);
    CU_add_test(s, "rpc_one_ticket", test_rpc_one_ticket);
    CU_add_test(s, "reload_swaps_and_old_session_lives", test_reload_swaps_and_old_session_lives);
    CU_add_test(s, "watcher_notices_new_files", test_watcher_notices_new_files);
    CU_add_test(s, "thread_cache_released_at_exit", test_thread_cache_released_at_exit);
    CU_add_test(s, "acquire_races_reload", test_acquire_races_reload);
    CU_add_test(s, "listener_cleared_waits_for_a_call_in_progress",
                test_listener_cleared_waits_for_a_call_in_progress);
    CU_add_test(s, "rel_09_defaults_ecdhe_aead_server_order",
                test_rel_09_defaults_ecdhe_aead_server_order);
    CU_add_test(s, "mysql_port_issues_no_tickets", test_mysql_port_issues_no_tickets);
    CU_add_test(s, "rel_17_revoked_certificates_are_refused",
                test_rel_17_revoked_certificates_are_refused);
    CU_add_test(s, "peer_recheck_against_a_new_store", test_peer_recheck_against_a_new_store);
    CU_add_test(s, "rel_17_bad_crl_fails_closed", test_rel_17_bad_crl_fails_closed);
    CU_add_test(s, "rel_18_wrong_eku_or_key_usage_is_refused",
                test_rel_18_wrong_eku_or_key_usage_is_refused);
    CU_add_test(s, "verify_cache_and_crl_reload", test_verify_cache_and_crl_reload);
    CU_add_test(s, "mysql_quit_sends_no_close_notify", test_mysql_quit_sends_no_close_notify);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", pki);
    }
    return failed == 0 ? 0 : 1;
}
