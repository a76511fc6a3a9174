/* security/cert_info.c: what an operator reads about certificate files (nodenet-admin
 * certs, metrics gauges, expiry warnings), without building a store. Blocking file I/O:
 * never on a worker. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "security/security_internal.h"

static void serial_hex(X509 *cert, char *out, size_t cap) {
    out[0] = '\0';
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    if (hex != NULL) {
        snprintf(out, cap, "%s", hex);
        OPENSSL_free(hex);
    }
    BN_free(bn);
}

int nn_cert_file_info(const char *path, nn_cert_info *out, size_t cap, size_t *count, nn_err *err) {
    *count = 0;
    BIO *bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        ERR_clear_error();
        return nn_err_set(err, errno != 0 ? errno : EIO, "%s: %s", path,
                          strerror(errno != 0 ? errno : EIO));
    }
    X509 *cert;
    while (*count < cap && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        nn_cert_info *ci = &out[*count];
        memset(ci, 0, sizeof(*ci));
        nn_sec_cert_describe(cert, ci->subject, sizeof(ci->subject), ci->issuer, sizeof(ci->issuer),
                             NULL, 0, NULL, 0, &ci->not_before, &ci->not_after);
        serial_hex(cert, ci->serial, sizeof(ci->serial));
        X509_free(cert);
        (*count)++;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (*count == 0) {
        return nn_err_set(err, EINVAL, "%s: no PEM certificate in it", path);
    }
    return 0;
}
