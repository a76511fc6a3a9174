/* mysql/auth.c: the two password schemes' arithmetic (hashing only; no TLS here). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "mysql/mysql_internal.h"

/* Iterations of the stored caching_sha2_password hash: MySQL's own default round count
 * for its sha256-crypt strings, so a full auth costs about what it costs there. */
#define SHA2_ITERATIONS 5000
#define SHA2_SALT_LEN 16

static void hex_encode(const uint8_t *in, size_t n, char *out, bool upper) {
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool hex_decode(const char *in, size_t n_bytes, uint8_t *out) {
    for (size_t i = 0; i < n_bytes; i++) {
        int hi = hex_value(in[2 * i]);
        int lo = hi < 0 ? -1 : hex_value(in[2 * i + 1]);
        if (lo < 0) {
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

void nn_mysql_native_scramble(const char *pw, size_t pw_len, const uint8_t *scramble,
                              uint8_t out[20]) {
    uint8_t stage1[20];
    uint8_t stage2[20];
    SHA1((const uint8_t *)pw, pw_len, stage1);
    SHA1(stage1, 20, stage2);
    SHA_CTX ctx;
    SHA1_Init(&ctx);
    SHA1_Update(&ctx, scramble, NN_MYSQL_SCRAMBLE_LEN);
    SHA1_Update(&ctx, stage2, 20);
    uint8_t mask[20];
    SHA1_Final(mask, &ctx);
    for (int i = 0; i < 20; i++) {
        out[i] = stage1[i] ^ mask[i];
    }
}

void nn_mysql_native_auth_string(const char *pw, size_t pw_len, char out[42]) {
    if (pw_len == 0) {
        out[0] = '\0';
        return;
    }
    uint8_t stage1[20];
    uint8_t stage2[20];
    SHA1((const uint8_t *)pw, pw_len, stage1);
    SHA1(stage1, 20, stage2);
    out[0] = '*';
    hex_encode(stage2, 20, out + 1, true);
}

bool nn_mysql_native_verify(const char *auth_string, const uint8_t *scramble, const uint8_t *reply,
                            size_t reply_len) {
    if (auth_string[0] == '\0') {
        return reply_len == 0;
    }
    uint8_t stage2[20];
    if (reply_len != 20 || strlen(auth_string) != 41 || auth_string[0] != '*' ||
        !hex_decode(auth_string + 1, 20, stage2)) {
        return false;
    }
    /* reply XOR SHA1(scramble || stage2) gives back SHA1(pw), whose SHA1 is stage2. */
    SHA_CTX ctx;
    SHA1_Init(&ctx);
    SHA1_Update(&ctx, scramble, NN_MYSQL_SCRAMBLE_LEN);
    SHA1_Update(&ctx, stage2, 20);
    uint8_t mask[20];
    SHA1_Final(mask, &ctx);
    uint8_t stage1[20];
    for (int i = 0; i < 20; i++) {
        stage1[i] = reply[i] ^ mask[i];
    }
    uint8_t check[20];
    SHA1(stage1, 20, check);
    return CRYPTO_memcmp(check, stage2, 20) == 0;
}

void nn_mysql_sha2_stage2(const char *pw, size_t pw_len, uint8_t out[32]) {
    uint8_t stage1[32];
    SHA256((const uint8_t *)pw, pw_len, stage1);
    SHA256(stage1, 32, out);
}

static void sha2_mask(const uint8_t stage2[32], const uint8_t *nonce, uint8_t mask[32]) {
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, stage2, 32);
    SHA256_Update(&ctx, nonce, NN_MYSQL_SCRAMBLE_LEN);
    SHA256_Final(mask, &ctx);
}

void nn_mysql_sha2_scramble(const char *pw, size_t pw_len, const uint8_t *nonce, uint8_t out[32]) {
    uint8_t stage1[32];
    uint8_t stage2[32];
    SHA256((const uint8_t *)pw, pw_len, stage1);
    SHA256(stage1, 32, stage2);
    uint8_t mask[32];
    sha2_mask(stage2, nonce, mask);
    for (int i = 0; i < 32; i++) {
        out[i] = stage1[i] ^ mask[i];
    }
}

bool nn_mysql_sha2_verify_fast(const uint8_t stage2[32], const uint8_t *nonce, const uint8_t *reply,
                               size_t reply_len) {
    if (reply_len != 32) {
        return false;
    }
    uint8_t mask[32];
    sha2_mask(stage2, nonce, mask);
    uint8_t stage1[32];
    for (int i = 0; i < 32; i++) {
        stage1[i] = reply[i] ^ mask[i];
    }
    uint8_t check[32];
    SHA256(stage1, 32, check);
    return CRYPTO_memcmp(check, stage2, 32) == 0;
}

static int pbkdf2(const char *pw, size_t pw_len, const uint8_t *salt, size_t salt_len,
                  unsigned iterations, uint8_t out[32]) {
    return PKCS5_PBKDF2_HMAC(pw, pw_len, salt, salt_len, iterations, EVP_sha256(), 32, out) ? 0
                                                                                            : -EIO;
}

int nn_mysql_sha2_auth_string(const char *pw, size_t pw_len, char out[128]) {
    if (pw_len == 0) {
        out[0] = '\0';
        return 0;
    }
    uint8_t salt[SHA2_SALT_LEN];
    uint8_t hash[32];
    if (RAND_bytes(salt, sizeof(salt)) != 1 ||
        pbkdf2(pw, pw_len, salt, sizeof(salt), SHA2_ITERATIONS, hash) < 0) {
        return -EIO;
    }
    char salt_hex[2 * SHA2_SALT_LEN + 1];
    char hash_hex[65];
    hex_encode(salt, sizeof(salt), salt_hex, false);
    hex_encode(hash, sizeof(hash), hash_hex, false);
    snprintf(out, 128, "$P$%d$%s$%s", SHA2_ITERATIONS, salt_hex, hash_hex);
    return 0;
}

/* The check runs on a worker before login, so the cost an unauthenticated client can
 * ask for is bounded: at most twice the iterations we store ourselves. */
#define SHA2_MAX_ITERATIONS (2 * SHA2_ITERATIONS)

/* Splits "$P$<iterations>$<salt hex>$<hash hex>"; false when the form is wrong. */
static bool sha2_parse(const char *auth_string, unsigned long *iterations, uint8_t *salt,
                       uint8_t *hash) {
    if (strncmp(auth_string, "$P$", 3) != 0) {
        return false;
    }
    char *end = NULL;
    *iterations = strtoul(auth_string + 3, &end, 10);
    if (end == NULL || *end != '$' || *iterations == 0 || *iterations > SHA2_MAX_ITERATIONS) {
        return false;
    }
    const char *salt_hex = end + 1;
    const char *dollar = strchr(salt_hex, '$');
    if (dollar == NULL || (size_t)(dollar - salt_hex) != 2 * SHA2_SALT_LEN ||
        strlen(dollar + 1) != 64) {
        return false;
    }
    return hex_decode(salt_hex, SHA2_SALT_LEN, salt) && hex_decode(dollar + 1, 32, hash);
}

bool nn_mysql_sha2_auth_string_valid(const char *auth_string) {
    unsigned long iterations;
    uint8_t salt[SHA2_SALT_LEN];
    uint8_t hash[32];
    return auth_string[0] == '\0' || sha2_parse(auth_string, &iterations, salt, hash);
}

bool nn_mysql_sha2_check(const char *auth_string, const char *pw, size_t pw_len) {
    if (auth_string[0] == '\0') {
        return pw_len == 0;
    }
    unsigned long iterations;
    uint8_t salt[SHA2_SALT_LEN];
    uint8_t want[32];
    uint8_t got[32];
    if (!sha2_parse(auth_string, &iterations, salt, want) ||
        pbkdf2(pw, pw_len, salt, sizeof(salt), (unsigned)iterations, got) < 0) {
        return false;
    }
    return CRYPTO_memcmp(want, got, 32) == 0;
}

int nn_mysql_scramble_new(uint8_t *out, size_t n) {
    if (RAND_bytes(out, n) != 1) {
        return -EIO;
    }
    /* Clients treat the scramble as a C string in places: keep it 7-bit, no NUL, no '$'. */
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(out[i] & 0x7f);
        if (out[i] == 0 || out[i] == '$') {
            out[i] = (uint8_t)(out[i] + 1);
        }
    }
    return 0;
}

/* ------------------------------------------- RSA key exchange (no TLS) */

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

struct nn_mysql_rsa {
    RSA *key;
    char *public_pem;
    size_t public_pem_len;
};

nn_mysql_rsa *nn_mysql_rsa_new(nn_err *err) {
    nn_mysql_rsa *r = calloc(1, sizeof(*r));
    BIGNUM *e = BN_new();
    BIO *bio = BIO_new(BIO_s_mem());
    const uint8_t *pem = NULL;
    size_t pem_len = 0;
    if (r == NULL || e == NULL || bio == NULL || !BN_set_word(e, RSA_F4) ||
        (r->key = RSA_new()) == NULL || !RSA_generate_key_ex(r->key, 2048, e, NULL) ||
        !PEM_write_bio_RSA_PUBKEY(bio, r->key) || !BIO_mem_contents(bio, &pem, &pem_len) ||
        (r->public_pem = malloc(pem_len + 1)) == NULL) {
        nn_err_set(err, EIO, "cannot make the RSA key for caching_sha2_password");
        BN_free(e);
        BIO_free(bio);
        nn_mysql_rsa_free(r);
        return NULL;
    }
    memcpy(r->public_pem, pem, pem_len);
    r->public_pem[pem_len] = '\0';
    r->public_pem_len = pem_len;
    BN_free(e);
    BIO_free(bio);
    return r;
}

void nn_mysql_rsa_free(nn_mysql_rsa *r) {
    if (r == NULL) {
        return;
    }
    RSA_free(r->key);
    free(r->public_pem);
    free(r);
}

const char *nn_mysql_rsa_public_pem(const nn_mysql_rsa *r, size_t *len) {
    *len = r->public_pem_len;
    return r->public_pem;
}

int nn_mysql_rsa_decrypt_password(const nn_mysql_rsa *r, const uint8_t *scramble, const uint8_t *in,
                                  size_t in_len, char *out, size_t cap, size_t *out_len) {
    if (in_len != RSA_size(r->key) || cap < in_len) {
        return -EINVAL;
    }
    int n = RSA_private_decrypt((int)in_len, in, (uint8_t *)out, r->key, RSA_PKCS1_OAEP_PADDING);
    if (n <= 0) {
        return -EINVAL;
    }
    /* The client XORs "password\0" with the scramble, repeated, before encrypting. */
    for (int i = 0; i < n; i++) {
        out[i] = (char)(out[i] ^ scramble[i % NN_MYSQL_SCRAMBLE_LEN]);
    }
    size_t len = (size_t)n;
    if (len > 0 && out[len - 1] == '\0') {
        len--;
    }
    *out_len = len;
    return 0;
}
