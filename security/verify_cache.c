/* security/verify_cache.c: client certificate chains that already verified, per worker thread.
 *
 * A MySQL client that presents a certificate (REQUIRE X509/ISSUER/SUBJECT) costs the server a
 * signature check of that certificate by its CA, the chain building and the CRL lookup at every
 * login, on top of the handshake's own CertificateVerify (which proves the client holds the
 * key, and always runs). The same client logs in again and again with the same chain, so the
 * verdict is remembered:
 *   - only successes, so every refusal is computed afresh and reads exactly as before (the
 *     verify result, the alert, the log line);
 *   - keyed by the SHA-256 of every certificate the client presented, in order, and by the
 *     store snapshot that verified them: a reload (new CA, new CRL, new certificate) builds a
 *     new snapshot with a new serial, so nothing verified under the old trust is reused;
 *   - until the earliest notAfter of the verified chain, the CRL's nextUpdate, or a fixed
 *     bound, whichever comes first (time is the one input of the verdict that moves);
 *   - per thread: a worker looks up without a lock, and a chain is verified at most once per
 *     worker. The table is small and fixed: a new chain replaces the oldest entry.
 * The SSL requirement of the account (issuer, subject) is still checked at every login, from
 * the session's facts.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>
#include <openssl/x509.h>

#include "security/security_internal.h"

#define SLOTS 32
/* A remembered verdict is trusted this long at most, even with a far CRL and certificates
 * valid for years: a wrong clock that jumps back finds it gone soon. */
#define MAX_AGE_SECONDS 600

typedef struct verify_slot {
    uint64_t store_serial; /* 0 = empty */
    int64_t until;         /* unix seconds: valid while now < until */
    uint8_t key[SHA256_DIGEST_LENGTH];
} verify_slot;

typedef struct verify_cache {
    verify_slot slot[SLOTS];
    unsigned next; /* round robin: the oldest entry goes */
} verify_cache;

static _Thread_local verify_cache cache;
static _Atomic uint64_t hits;
static _Atomic uint64_t misses;

/* SHA-256 over the DER of every certificate presented, leaf first. */
static bool chain_key(X509_STORE_CTX *sctx, uint8_t key[SHA256_DIGEST_LENGTH]) {
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(sctx);
    X509 *leaf = X509_STORE_CTX_get0_cert(sctx);
    size_t n = chain != NULL ? sk_X509_num(chain) : 0;
    if (leaf == NULL) {
        return false;
    }
    SHA256_CTX sha;
    SHA256_Init(&sha);
    for (size_t i = 0; i < (n > 0 ? n : 1); i++) {
        X509 *cert = n > 0 ? sk_X509_value(chain, i) : leaf;
        uint8_t *der = NULL;
        int len = i2d_X509(cert, &der);
        if (len <= 0) {
            return false;
        }
        /* The length first, so that no two different lists hash alike. */
        uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                         (uint8_t)len};
        SHA256_Update(&sha, be, sizeof(be));
        SHA256_Update(&sha, der, (size_t)len);
        OPENSSL_free(der);
    }
    /* With a chain, BoringSSL passes the leaf as its first element; anything else (never
     * seen) is not cached rather than trusted on a guess. */
    if (n > 0 && sk_X509_value(chain, 0) != leaf) {
        return false;
    }
    SHA256_Final(key, &sha);
    return true;
}

static verify_slot *lookup(uint64_t serial, const uint8_t *key) {
    for (int i = 0; i < SLOTS; i++) {
        verify_slot *s = &cache.slot[i];
        if (s->store_serial == serial && memcmp(s->key, key, sizeof(s->key)) == 0) {
            return s;
        }
    }
    return NULL;
}

/* The earliest notAfter of the verified chain (leaf, intermediates, anchor). */
static int64_t chain_until(X509_STORE_CTX *sctx, int64_t now) {
    int64_t until = now + MAX_AGE_SECONDS;
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(sctx);
    for (size_t i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
        int64_t not_after = nn_sec_asn1_time_unix(X509_get0_notAfter(sk_X509_value(chain, i)));
        if (not_after == 0) {
            return now; /* unreadable: do not remember it */
        }
        if (not_after < until) {
            until = not_after;
        }
    }
    return until;
}

static int verify_cb(X509_STORE_CTX *sctx, void *arg) {
    const nn_sec_store *store = arg;
    uint8_t key[SHA256_DIGEST_LENGTH];
    bool keyed = chain_key(sctx, key);
    int64_t now = (int64_t)time(NULL);
    if (keyed) {
        verify_slot *s = lookup(store->serial, key);
        if (s != NULL && now < s->until) {
            atomic_fetch_add_explicit(&hits, 1, memory_order_relaxed);
            X509_STORE_CTX_set_error(sctx, X509_V_OK);
            return 1;
        }
    }
    atomic_fetch_add_explicit(&misses, 1, memory_order_relaxed);
    int ok = X509_verify_cert(sctx);
    if (ok != 1 || !keyed) {
        return ok;
    }
    int64_t until = chain_until(sctx, now);
    int64_t crl_next = store->info.crl_next_update;
    if (crl_next != 0 && crl_next < until) {
        until = crl_next;
    }
    if (until <= now) {
        return ok;
    }
    verify_slot *s = lookup(store->serial, key);
    if (s == NULL) {
        s = &cache.slot[cache.next];
        cache.next = (cache.next + 1) % SLOTS;
    }
    s->store_serial = store->serial;
    s->until = until;
    memcpy(s->key, key, sizeof(s->key));
    return ok;
}

void nn_sec_verify_cache_install(SSL_CTX *ctx, nn_sec_store *store) {
    SSL_CTX_set_cert_verify_callback(ctx, verify_cb, store);
}

void nn_sec_verify_cache_stats(uint64_t *out_hits, uint64_t *out_misses) {
    *out_hits = atomic_load_explicit(&hits, memory_order_relaxed);
    *out_misses = atomic_load_explicit(&misses, memory_order_relaxed);
}
