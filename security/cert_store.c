/* security/cert_store.c: certificate store snapshots.
 *
 * A store snapshot (nn_sec_store) is built from the files in one go, checked (key matches
 * certificate, chain verifies against the CA, inside its validity), turned into two
 * SSL_CTXs (server and client role), and never changed afterwards; streams hold a
 * reference to the snapshot they started with. Swapping snapshots is security.c's job.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "security/security_internal.h"

/* Bigger than any sane CA bundle or CRL; keeps a wrong path (a log, a disk image) from being
 * read. */
#define MAX_PEM_BYTES (4u << 20)
/* TLS 1.2 when the config names no list: forward secrecy (ECDHE) and AEAD only, strongest
 * first, so that a scanner finds no CBC suite (LUCKY13), no static RSA key exchange (no
 * forward secrecy, ROBOT) and no 3DES; the server's order decides. TLS 1.3 suites are all
 * AEAD and not configurable in BoringSSL. */
#define DEFAULT_TLS12_CIPHERS                                                                      \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define EXPIRY_WARN_DAYS 30

/* Store serials: the client-verification cache of each worker is keyed by them. */
static _Atomic uint64_t next_serial = 1;

/* ------------------------------------------------------------ small helpers */

int64_t nn_sec_asn1_time_unix(const ASN1_TIME *t) {
    if (t == NULL) {
        return 0;
    }
    ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
    if (epoch == NULL) {
        return 0;
    }
    int days = 0;
    int secs = 0;
    int ok = ASN1_TIME_diff(&days, &secs, epoch, t);
    ASN1_TIME_free(epoch);
    if (!ok) {
        return 0;
    }
    return (int64_t)days * 86400 + secs;
}

void nn_sec_time_format(int64_t unix_seconds, char *out, size_t cap) {
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, cap, "@%lld", (long long)unix_seconds);
    }
}

static void append_san(char *sans, size_t cap, const char *tag, const char *value) {
    if (strchr(value, ',') != NULL) {
        return; /* would break the list's format; no node name has a comma */
    }
    size_t used = strlen(sans);
    size_t need = (used > 0 ? 1 : 0) + strlen(tag) + 1 + strlen(value);
    if (used + need >= cap) {
        return; /* whole entries only: a cut one ("DNS:n1" of "DNS:n12") would name another */
    }
    snprintf(sans + used, cap - used, "%s%s:%s", used > 0 ? "," : "", tag, value);
}

/* X509_NAME_oneline, made unambiguous: a '/' inside a value is written "\/", so that a value
 * holding "/OU=x" never reads as one more RDN. REQUIRE SUBJECT/ISSUER and tool_subjects
 * compare these strings: without the escape, a CA-signed CN of "app/OU=ops" would pass for
 * '/CN=app/OU=ops'. A name with no '/' in any value comes out exactly as X509_NAME_oneline
 * writes it; one that does not fit comes out empty (it names nothing), never cut. */
static void name_oneline(const X509_NAME *name, char *out, size_t cap) {
    out[0] = '\0';
    int count = X509_NAME_entry_count(name);
    bool slash = false;
    for (int i = 0; i < count; i++) {
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
        int n = ASN1_STRING_length(v);
        if (n > 0 && memchr(ASN1_STRING_get0_data(v), '/', (size_t)n) != NULL) {
            slash = true;
        }
    }
    if (!slash) {
        X509_NAME_oneline(name, out, (int)cap);
        return;
    }
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        /* Each RDN on its own, in X509_NAME_oneline's form ("/CN=app/OU=ops"). */
        X509_NAME *one = X509_NAME_new();
        if (one == NULL || !X509_NAME_add_entry(one, X509_NAME_get_entry(name, i), -1, 0)) {
            X509_NAME_free(one);
            out[0] = '\0';
            return;
        }
        char piece[512];
        X509_NAME_oneline(one, piece, sizeof(piece));
        X509_NAME_free(one);
        for (size_t k = 0; piece[k] != '\0'; k++) {
            bool escape = k > 0 && piece[k] == '/';
            if (used + (escape ? 2 : 1) >= cap) {
                out[0] = '\0';
                return;
            }
            if (escape) {
                out[used++] = '\\';
            }
            out[used++] = piece[k];
        }
    }
    out[used] = '\0';
}

void nn_sec_cert_describe(X509 *cert, char *subject, size_t subject_cap, char *issuer,
                          size_t issuer_cap, char *cn, size_t cn_cap, char *sans, size_t sans_cap,
                          int64_t *not_before, int64_t *not_after) {
    if (subject != NULL && subject_cap > 0) {
        subject[0] = '\0';
        name_oneline(X509_get_subject_name(cert), subject, subject_cap);
    }
    if (issuer != NULL && issuer_cap > 0) {
        issuer[0] = '\0';
        name_oneline(X509_get_issuer_name(cert), issuer, issuer_cap);
    }
    if (cn != NULL && cn_cap > 0) {
        cn[0] = '\0';
        int n =
            X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, (int)cn_cap);
        /* A CN with a NUL inside ("n1\0x") or one cut to fit would compare equal to a name
         * it is not: such a CN names nothing. */
        if (n < 0 || (size_t)n >= cn_cap || strlen(cn) != (size_t)n) {
            cn[0] = '\0';
        }
    }
    if (sans != NULL && sans_cap > 0) {
        sans[0] = '\0';
        GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
        for (size_t i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
            const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
            if (gn->type == GEN_DNS) {
                const ASN1_STRING *s = gn->d.dNSName;
                char value[256];
                int n = ASN1_STRING_length(s);
                if (n <= 0 || (size_t)n >= sizeof(value) ||
                    memchr(ASN1_STRING_get0_data(s), '\0', (size_t)n) != NULL) {
                    continue;
                }
                memcpy(value, ASN1_STRING_get0_data(s), (size_t)n);
                value[n] = '\0';
                append_san(sans, sans_cap, "DNS", value);
            } else if (gn->type == GEN_IPADD) {
                const ASN1_OCTET_STRING *ip = gn->d.iPAddress;
                char value[INET6_ADDRSTRLEN];
                int n = ASN1_STRING_length(ip);
                int family = n == 4 ? AF_INET : (n == 16 ? AF_INET6 : 0);
                if (family != 0 &&
                    inet_ntop(family, ASN1_STRING_get0_data(ip), value, sizeof(value)) != NULL) {
                    append_san(sans, sans_cap, "IP", value);
                }
            }
        }
        GENERAL_NAMES_free(names);
    }
    if (not_before != NULL) {
        *not_before = nn_sec_asn1_time_unix(X509_get0_notBefore(cert));
    }
    if (not_after != NULL) {
        *not_after = nn_sec_asn1_time_unix(X509_get0_notAfter(cert));
    }
}

void nn_sec_ssl_error_text(char *out, size_t cap) {
    uint32_t code = ERR_get_error();
    ERR_clear_error();
    const char *reason = code != 0 ? ERR_reason_error_string(code) : NULL;
    if (reason == NULL) {
        snprintf(out, cap, "unknown error");
        return;
    }
    size_t i = 0;
    for (; reason[i] != '\0' && i + 1 < cap; i++) {
        char c = reason[i];
        out[i] = c == '_' ? ' ' : (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    }
    out[i] = '\0';
}

/* Reads a whole PEM file into memory (size-checked). */
static int read_file(const char *path, const char *key, uint8_t **out, size_t *out_len,
                     nn_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return nn_err_set(err, e, "%s: %s: cannot open: %s", key, path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return nn_err_set(err, EINVAL, "%s: %s: not a regular file", key, path);
    }
    if ((uint64_t)st.st_size > MAX_PEM_BYTES) {
        close(fd);
        return nn_err_set(err, EFBIG, "%s: %s: %lld bytes, more than a PEM file may hold (%u)", key,
                          path, (long long)st.st_size, MAX_PEM_BYTES);
    }
    size_t cap = (size_t)st.st_size;
    uint8_t *data = malloc(cap + 1);
    if (data == NULL) {
        close(fd);
        return nn_err_set(err, ENOMEM, "%s: %s: out of memory", key, path);
    }
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int e = errno;
            free(data);
            close(fd);
            return nn_err_set(err, e, "%s: %s: read: %s", key, path, strerror(e));
        }
        if (n == 0) {
            break; /* shrank under us: parse what is there */
        }
        len += (size_t)n;
    }
    close(fd);
    *out = data;
    *out_len = len;
    return 0;
}

/* Reads every PEM object of a file with read_one (which takes one object from the BIO into
 * `into`, false at the end or on an error), `what` naming the kind in errors. 0, or -1 with
 * err filled: the file unreadable, or a PEM block that is not a `what`. */
static int read_pem_objects(const char *path, const char *key, const char *what,
                            bool (*read_one)(BIO *bio, void *into), void *into, nn_err *err) {
    uint8_t *data;
    size_t len;
    if (read_file(path, key, &data, &len, err) < 0) {
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL) {
        free(data);
        nn_err_set(err, ENOMEM, "%s: %s: out of memory", key, path);
        return -1;
    }
    ERR_clear_error();
    while (read_one(bio, into)) {
    }
    uint32_t last = ERR_peek_last_error();
    bool clean_end =
        ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
    char why[160];
    nn_sec_ssl_error_text(why, sizeof(why));
    BIO_free(bio);
    free(data);
    if (!clean_end && last != 0) {
        nn_err_set(err, EINVAL, "%s: %s: bad PEM %s: %s", key, path, what, why);
        return -1;
    }
    return 0;
}

static bool read_one_cert(BIO *bio, void *into) {
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (cert != NULL && !sk_X509_push(into, cert)) {
        X509_free(cert);
        return false;
    }
    return cert != NULL;
}

static bool read_one_crl(BIO *bio, void *into) {
    X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    if (crl != NULL && !sk_X509_CRL_push(into, crl)) {
        X509_CRL_free(crl);
        return false;
    }
    return crl != NULL;
}

/* Every certificate in a PEM file, in order. */
static STACK_OF(X509) * load_certs(const char *path, const char *key, nn_err *err) {
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (certs == NULL) {
        nn_err_set(err, ENOMEM, "%s: %s: out of memory", key, path);
        return NULL;
    }
    if (read_pem_objects(path, key, "certificate", read_one_cert, certs, err) < 0) {
        sk_X509_pop_free(certs, X509_free);
        return NULL;
    }
    if (sk_X509_num(certs) == 0) {
        sk_X509_free(certs);
        nn_err_set(err, EINVAL, "%s: %s: no PEM certificate in the file", key, path);
        return NULL;
    }
    return certs;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u) {
    return 0; /* encrypted keys are refused rather than prompting on a server's stdin */
}

static EVP_PKEY *load_key(const char *path, const char *key, nn_err *err) {
    uint8_t *data;
    size_t len;
    if (read_file(path, key, &data, &len, err) < 0) {
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *pkey = NULL;
    if (bio != NULL) {
        ERR_clear_error();
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    }
    char why[160];
    nn_sec_ssl_error_text(why, sizeof(why));
    BIO_free(bio);
    OPENSSL_cleanse(data, len);
    free(data);
    if (pkey == NULL) {
        nn_err_set(err, EINVAL, "%s: %s: no usable PEM private key: %s", key, path, why);
    }
    return pkey;
}

/* Every CRL in a PEM file, each checked: signed by a CA of `cas`, inside its
 * lastUpdate..nextUpdate window. A stale or unreadable CRL refuses the whole store (fail
 * closed): with an old CRL a certificate revoked since would pass. *next_update gets the
 * earliest nextUpdate (0 when no CRL says one). */
static STACK_OF(X509_CRL) * load_crls(const char *path, const char *key, const STACK_OF(X509) * cas,
                                      int64_t now, int64_t *next_update, nn_err *err) {
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
    if (crls == NULL) {
        nn_err_set(err, ENOMEM, "%s: %s: out of memory", key, path);
        return NULL;
    }
    if (read_pem_objects(path, key, "CRL", read_one_crl, crls, err) < 0) {
        goto fail;
    }
    if (sk_X509_CRL_num(crls) == 0) {
        nn_err_set(err, EINVAL, "%s: %s: no PEM CRL (X509 CRL) in the file", key, path);
        goto fail;
    }
    *next_update = 0;
    for (size_t i = 0; i < sk_X509_CRL_num(crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(crls, i);
        char issuer[256] = "";
        X509_NAME_oneline(X509_CRL_get_issuer(crl), issuer, sizeof(issuer));
        bool signed_by_ca = false;
        for (size_t j = 0; !signed_by_ca && j < sk_X509_num(cas); j++) {
            X509 *ca = sk_X509_value(cas, j);
            if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) != 0) {
                continue;
            }
            EVP_PKEY *ca_key = X509_get_pubkey(ca);
            signed_by_ca = ca_key != NULL && X509_CRL_verify(crl, ca_key) == 1;
            EVP_PKEY_free(ca_key);
        }
        ERR_clear_error();
        if (!signed_by_ca) {
            nn_err_set(err, EINVAL,
                       "%s: %s: CRL %zu (issuer %s) is not signed by a CA of security.ca_file", key,
                       path, i + 1, issuer);
            goto fail;
        }
        int64_t this_update = nn_sec_asn1_time_unix(X509_CRL_get0_lastUpdate(crl));
        const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
        int64_t next_at = nn_sec_asn1_time_unix(next);
        char when[40];
        if (this_update > now) {
            nn_sec_time_format(this_update, when, sizeof(when));
            nn_err_set(err, EKEYEXPIRED, "%s: %s: CRL %zu (issuer %s) is not valid before %s", key,
                       path, i + 1, issuer, when);
            goto fail;
        }
        if (next != NULL && next_at < now) {
            nn_sec_time_format(next_at, when, sizeof(when));
            nn_err_set(err, EKEYEXPIRED,
                       "%s: %s: CRL %zu (issuer %s) is stale: its nextUpdate was %s; refusing to "
                       "check revocation against it (publish a fresh CRL)",
                       key, path, i + 1, issuer, when);
            goto fail;
        }
        if (next != NULL && (*next_update == 0 || next_at < *next_update)) {
            *next_update = next_at;
        }
    }
    /* A CA without a CRL is allowed (an intermediate's root needs none), but every
     * certificate it issued directly is refused: say so once, here. */
    for (size_t j = 0; j < sk_X509_num(cas); j++) {
        X509 *ca = sk_X509_value(cas, j);
        bool covered = false;
        for (size_t i = 0; !covered && i < sk_X509_CRL_num(crls); i++) {
            covered = X509_NAME_cmp(X509_CRL_get_issuer(sk_X509_CRL_value(crls, i)),
                                    X509_get_subject_name(ca)) == 0;
        }
        if (!covered) {
            char subject[256] = "";
            X509_NAME_oneline(X509_get_subject_name(ca), subject, sizeof(subject));
            nn_log(NN_LOG_WARN, "security.crl_missing",
                   "file=%s ca=\"%s\" effect=\"certificates this CA issues are refused\"", path,
                   subject);
        }
    }
    return crls;

fail:
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    return NULL;
}

/* Revocation: every chain's leaf is checked against its issuer's CRL. */
static int trust_add_crls(X509_STORE *trust, const STACK_OF(X509_CRL) * crls) {
    if (crls == NULL) {
        return 1;
    }
    for (size_t i = 0; i < sk_X509_CRL_num(crls); i++) {
        if (!X509_STORE_add_crl(trust, sk_X509_CRL_value(crls, i))) {
            return 0;
        }
    }
    return X509_STORE_set_flags(trust, X509_V_FLAG_CRL_CHECK);
}

static int check_validity(X509 *cert, const char *key, const char *path, const char *what,
                          int64_t now, nn_err *err) {
    int64_t not_before = nn_sec_asn1_time_unix(X509_get0_notBefore(cert));
    int64_t not_after = nn_sec_asn1_time_unix(X509_get0_notAfter(cert));
    char when[40];
    if (not_after != 0 && not_after < now) {
        nn_sec_time_format(not_after, when, sizeof(when));
        return nn_err_set(err, EKEYEXPIRED, "%s: %s: %s expired on %s", key, path, what, when);
    }
    if (not_before > now) {
        nn_sec_time_format(not_before, when, sizeof(when));
        return nn_err_set(err, EKEYEXPIRED, "%s: %s: %s is not valid before %s", key, path, what,
                          when);
    }
    return 0;
}

/* One role's certificate chain and key, checked against the CA. */
typedef struct role_creds {
    STACK_OF(X509) * chain; /* [0] is the leaf */
    EVP_PKEY *key;
} role_creds;

static void role_creds_free(role_creds *rc) {
    if (rc->chain != NULL) {
        sk_X509_pop_free(rc->chain, X509_free);
    }
    EVP_PKEY_free(rc->key);
    memset(rc, 0, sizeof(*rc));
}

static int load_role(const nn_sec_settings *st, int cert_i, int key_i, X509_STORE *trust,
                     const char *role, role_creds *out, nn_err *err) {
    const char *cert_path = st->path[cert_i];
    const char *cert_key = st->key_name[cert_i];
    out->chain = load_certs(cert_path, cert_key, err);
    if (out->chain == NULL) {
        return -(err != NULL ? err->code : EINVAL);
    }
    out->key = load_key(st->path[key_i], st->key_name[key_i], err);
    if (out->key == NULL) {
        role_creds_free(out);
        return -EINVAL;
    }
    X509 *leaf = sk_X509_value(out->chain, 0);
    ERR_clear_error();
    if (!X509_check_private_key(leaf, out->key)) {
        ERR_clear_error();
        role_creds_free(out);
        return nn_err_set(err, EINVAL, "%s: %s: the private key does not match the certificate %s",
                          st->key_name[key_i], st->path[key_i], cert_path);
    }
    int64_t now = (int64_t)time(NULL);
    int rc = check_validity(leaf, cert_key, cert_path, "certificate", now, err);
    if (rc < 0) {
        role_creds_free(out);
        return rc;
    }

    /* The chain as a peer will check it: leaf + the file's intermediates up to our CA. */
    X509_STORE_CTX *vctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_dup(out->chain);
    if (vctx == NULL || untrusted == NULL || !X509_STORE_CTX_init(vctx, trust, leaf, untrusted)) {
        X509_STORE_CTX_free(vctx);
        sk_X509_free(untrusted);
        role_creds_free(out);
        return nn_err_set(err, ENOMEM, "%s: %s: out of memory", cert_key, cert_path);
    }
    int ok = X509_verify_cert(vctx);
    int verr = X509_STORE_CTX_get_error(vctx);
    X509_STORE_CTX_free(vctx);
    sk_X509_free(untrusted);
    ERR_clear_error();
    if (ok != 1 && (verr == X509_V_ERR_CERT_REVOKED || verr == X509_V_ERR_UNABLE_TO_GET_CRL) &&
        st->path[NN_SEC_F_CRL] != NULL) {
        rc = nn_err_set(err, EINVAL, "%s: %s: %s (%s %s)", cert_key, cert_path,
                        verr == X509_V_ERR_CERT_REVOKED ? "certificate revoked"
                                                        : "no CRL of its issuer",
                        st->key_name[NN_SEC_F_CRL], st->path[NN_SEC_F_CRL]);
        role_creds_free(out);
        return rc;
    }
    if (ok != 1) {
        rc = nn_err_set(err, EINVAL, "%s: %s: does not verify against %s %s: %s", cert_key,
                        cert_path, st->key_name[NN_SEC_F_CA], st->path[NN_SEC_F_CA],
                        X509_verify_cert_error_string(verr));
        role_creds_free(out);
        return rc;
    }

    char subject[512];
    char until[40];
    int64_t not_after = nn_sec_asn1_time_unix(X509_get0_notAfter(leaf));
    nn_sec_cert_describe(leaf, subject, sizeof(subject), NULL, 0, NULL, 0, NULL, 0, NULL, NULL);
    nn_sec_time_format(not_after, until, sizeof(until));
    long long days_left = (long long)((not_after - now) / 86400);
    nn_log(days_left < EXPIRY_WARN_DAYS ? NN_LOG_WARN : NN_LOG_INFO, "security.cert",
           "role=%s file=%s subject=%s not_after=%s days_left=%lld", role, cert_path, subject,
           until, days_left);
    return 0;
}

/* ------------------------------------------------------------ SSL_CTX build */

static SSL_CTX *ctx_build(const nn_sec_settings *st, const STACK_OF(X509) * cas,
                          const STACK_OF(X509_CRL) * crls, const role_creds *creds,
                          nn_tls_role role, nn_err *err) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL) {
        nn_err_set(err, ENOMEM, "security: cannot create a TLS context");
        return NULL;
    }
    bool server = role != NN_TLS_CLIENT;
    int min_version = role == NN_TLS_SERVER ? st->min_version : st->rpc_min_version;
    char why[160];
    if (!SSL_CTX_set_min_proto_version(ctx, (uint16_t)min_version) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
        goto fail_ssl;
    }
    /* No compression and no renegotiation need no option: BoringSSL has neither (a server
     * never renegotiates, a client refuses by default). */
    if (server) {
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }
    const char *ciphers = st->ciphers != NULL ? st->ciphers : DEFAULT_TLS12_CIPHERS;
    if (!SSL_CTX_set_strict_cipher_list(ctx, ciphers)) {
        nn_sec_ssl_error_text(why, sizeof(why));
        nn_err_set(err, EINVAL, "security.ciphers: '%s': %s (OpenSSL cipher names, TLS 1.2)",
                   st->ciphers, why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (!SSL_CTX_use_certificate(ctx, sk_X509_value(creds->chain, 0)) ||
        !SSL_CTX_use_PrivateKey(ctx, creds->key)) {
        goto fail_ssl;
    }
    for (size_t i = 1; i < sk_X509_num(creds->chain); i++) {
        if (!SSL_CTX_add1_chain_cert(ctx, sk_X509_value(creds->chain, i))) {
            goto fail_ssl;
        }
    }
    X509_STORE *trust = SSL_CTX_get_cert_store(ctx);
    for (size_t i = 0; i < sk_X509_num(cas); i++) {
        X509 *ca = sk_X509_value(cas, i);
        if (!X509_STORE_add_cert(trust, ca)) {
            goto fail_ssl;
        }
        if (server && !SSL_CTX_add_client_CA(ctx, ca)) {
            goto fail_ssl;
        }
    }
    if (!trust_add_crls(trust, crls)) {
        goto fail_ssl;
    }
    /* Each SSL sets its own verify mode (peer certificate optional or required). */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (role == NN_TLS_SERVER) {
        /* MySQL clients never resume: a ticket (TLS 1.3 sends two after every handshake) or a
         * cached session would be bytes and memory for nothing. */
        if (!SSL_CTX_set_num_tickets(ctx, 0)) {
            goto fail_ssl;
        }
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    } else if (role == NN_TLS_RPC_SERVER) {
        /* Resumption with client certificates needs a session id context (tickets too). A
         * channel's dialler keeps one session per peer (nn_sec_store_session_put: the newest
         * replaces the older), so of TLS 1.3's default two tickets per handshake the second
         * only cost a record, a ticket sealed here and a session copied there. */
        static const uint8_t sid_ctx[] = "nodenet";
        if (!SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) ||
            !SSL_CTX_set_num_tickets(ctx, 1)) {
            goto fail_ssl;
        }
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    } else {
        /* Sessions go to the per-peer cache of the snapshot, never an internal one. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_sess_set_new_cb(ctx, nn_tls_engine_new_session_cb);
    }
    return ctx;

fail_ssl:
    nn_sec_ssl_error_text(why, sizeof(why));
    nn_err_set(err, EINVAL, "security: cannot set up the TLS context: %s", why);
    SSL_CTX_free(ctx);
    return NULL;
}

static void store_free(nn_sec_store *store) {
    SSL_CTX_free(store->server_ctx);
    SSL_CTX_free(store->rpc_server_ctx);
    SSL_CTX_free(store->client_ctx);
    for (int i = 0; i < NN_SEC_SESSION_SLOTS; i++) {
        SSL_SESSION_free(store->sessions[i].session);
    }
    pthread_mutex_destroy(&store->session_lock);
    free(store);
}

nn_sec_store *nn_sec_store_build(const nn_sec_settings *st, uint64_t generation, nn_err *err) {
    STACK_OF(X509) *cas = load_certs(st->path[NN_SEC_F_CA], st->key_name[NN_SEC_F_CA], err);
    if (cas == NULL) {
        return NULL;
    }
    nn_sec_store *store = NULL;
    role_creds server = {0};
    role_creds client = {0};
    STACK_OF(X509_CRL) *crls = NULL;
    int64_t crl_next_update = 0;
    int64_t now = (int64_t)time(NULL);
    X509_STORE *trust = X509_STORE_new();
    if (trust == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < sk_X509_num(cas); i++) {
        if (check_validity(sk_X509_value(cas, i), st->key_name[NN_SEC_F_CA], st->path[NN_SEC_F_CA],
                           "CA certificate", now, err) < 0) {
            goto out;
        }
        if (!X509_STORE_add_cert(trust, sk_X509_value(cas, i))) {
            nn_err_set(err, ENOMEM, "%s: %s: cannot add CA certificate %zu to the trust store",
                       st->key_name[NN_SEC_F_CA], st->path[NN_SEC_F_CA], i + 1);
            goto out;
        }
    }
    if (st->path[NN_SEC_F_CRL] != NULL) {
        crls = load_crls(st->path[NN_SEC_F_CRL], st->key_name[NN_SEC_F_CRL], cas, now,
                         &crl_next_update, err);
        if (crls == NULL) {
            goto out;
        }
        /* Our own certificates go through the same check: a revoked node does not start. */
        if (!trust_add_crls(trust, crls)) {
            nn_err_set(err, ENOMEM, "%s: %s: cannot add the CRLs to the trust store",
                       st->key_name[NN_SEC_F_CRL], st->path[NN_SEC_F_CRL]);
            goto out;
        }
    }
    if (load_role(st, NN_SEC_F_CERT, NN_SEC_F_KEY, trust, "server", &server, err) < 0) {
        goto out;
    }
    bool same_client = strcmp(st->path[NN_SEC_F_CLIENT_CERT], st->path[NN_SEC_F_CERT]) == 0 &&
                       strcmp(st->path[NN_SEC_F_CLIENT_KEY], st->path[NN_SEC_F_KEY]) == 0;
    if (!same_client && load_role(st, NN_SEC_F_CLIENT_CERT, NN_SEC_F_CLIENT_KEY, trust, "client",
                                  &client, err) < 0) {
        goto out;
    }
    const role_creds *client_creds = same_client ? &server : &client;

    store = calloc(1, sizeof(*store));
    if (store == NULL) {
        nn_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    atomic_init(&store->refs, 1);
    store->generation = generation;
    store->serial = atomic_fetch_add_explicit(&next_serial, 1, memory_order_relaxed);
    pthread_mutex_init(&store->session_lock, NULL);
    store->server_ctx = ctx_build(st, cas, crls, &server, NN_TLS_SERVER, err);
    store->rpc_server_ctx = store->server_ctx != NULL
                                ? ctx_build(st, cas, crls, &server, NN_TLS_RPC_SERVER, err)
                                : NULL;
    store->client_ctx = store->rpc_server_ctx != NULL
                            ? ctx_build(st, cas, crls, client_creds, NN_TLS_CLIENT, err)
                            : NULL;
    if (store->client_ctx == NULL) {
        store_free(store);
        store = NULL;
        goto out;
    }
    /* MySQL clients log in again and again with the same certificate (REQUIRE X509). */
    nn_sec_verify_cache_install(store->server_ctx, store);
    X509 *leaf = sk_X509_value(server.chain, 0);
    nn_sec_cert_describe(leaf, store->info.subject, sizeof(store->info.subject), store->info.issuer,
                         sizeof(store->info.issuer), NULL, 0, NULL, 0, &store->info.not_before,
                         &store->info.not_after);
    store->info.generation = generation;
    store->info.crl_next_update = crl_next_update;
    nn_sec_cert_describe(sk_X509_value(client_creds->chain, 0), NULL, 0, NULL, 0, NULL, 0, NULL, 0,
                         &store->client_not_before, &store->client_not_after);
out:
    if (crls != NULL) {
        sk_X509_CRL_pop_free(crls, X509_CRL_free);
    }
    X509_STORE_free(trust);
    sk_X509_pop_free(cas, X509_free);
    role_creds_free(&server);
    role_creds_free(&client);
    return store;
}

void nn_sec_store_ref(nn_sec_store *store) {
    atomic_fetch_add_explicit(&store->refs, 1, memory_order_relaxed);
}

void nn_sec_store_unref(nn_sec_store *store) {
    if (store != NULL && atomic_fetch_sub_explicit(&store->refs, 1, memory_order_acq_rel) == 1) {
        store_free(store);
    }
}

SSL_SESSION *nn_sec_store_session_get(nn_sec_store *store, const char *peer) {
    SSL_SESSION *found = NULL;
    pthread_mutex_lock(&store->session_lock);
    for (int i = 0; i < NN_SEC_SESSION_SLOTS; i++) {
        nn_sec_session_slot *slot = &store->sessions[i];
        if (slot->session != NULL && strcmp(slot->peer, peer) == 0) {
            found = slot->session;
            SSL_SESSION_up_ref(found);
            slot->used = ++store->session_clock;
            break;
        }
    }
    pthread_mutex_unlock(&store->session_lock);
    return found;
}

void nn_sec_store_session_put(nn_sec_store *store, const char *peer, SSL_SESSION *session) {
    if (strlen(peer) >= sizeof(store->sessions[0].peer)) {
        return; /* a key that long is a caller bug; resumption is only an optimisation */
    }
    pthread_mutex_lock(&store->session_lock);
    nn_sec_session_slot *victim = &store->sessions[0];
    for (int i = 0; i < NN_SEC_SESSION_SLOTS; i++) {
        nn_sec_session_slot *slot = &store->sessions[i];
        if (slot->session != NULL && strcmp(slot->peer, peer) == 0) {
            victim = slot; /* the newest ticket for a peer replaces the older one */
            break;
        }
        if (slot->session == NULL || slot->used < victim->used) {
            victim = slot;
        }
    }
    SSL_SESSION_free(victim->session);
    SSL_SESSION_up_ref(session);
    victim->session = session;
    snprintf(victim->peer, sizeof(victim->peer), "%s", peer);
    victim->used = ++store->session_clock;
    pthread_mutex_unlock(&store->session_lock);
}
