/* bench_aead: the single-core ceiling for bulk TLS, BoringSSL's raw EVP_AEAD speed.
 *
 *   bench_aead [--aead aes-128-gcm|chacha20-poly1305] [--seconds S]
 *
 * Seals and opens 16 KiB records (TLS's largest) in a loop on one thread, as a TLS
 * sender and receiver together would, and prints `ok aead=NAME mib_s=X` where X counts
 * each plaintext record once per seal+open pair: a channel that moves X MiB/s of payload
 * through one core doing both ends could go no faster. cpu_mib_s is the same per second of
 * this process's CPU time: on a shared machine it is the limit of a core of its own, where
 * mib_s (wall clock) also counts the time other processes had the core. Exits 1 if an
 * open fails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/aead.h>

enum { RECORD = 16384 };

static uint64_t clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) {
    return clock_ns(CLOCK_MONOTONIC);
}

int main(int argc, char **argv) {
    const char *name = "aes-128-gcm";
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--aead") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_aead [--aead aes-128-gcm|chacha20-poly1305] "
                            "[--seconds S]\n");
            return 2;
        }
    }
    const EVP_AEAD *aead;
    if (strcmp(name, "aes-128-gcm") == 0) {
        aead = EVP_aead_aes_128_gcm();
    } else if (strcmp(name, "chacha20-poly1305") == 0) {
        aead = EVP_aead_chacha20_poly1305();
    } else {
        fprintf(stderr, "bench_aead: unknown AEAD %s\n", name);
        return 2;
    }
    if (seconds <= 0) {
        fprintf(stderr, "bench_aead: --seconds must be > 0\n");
        return 2;
    }
    uint8_t key[32];
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t)(i * 7 + 1);
    }
    EVP_AEAD_CTX ctx;
    if (!EVP_AEAD_CTX_init(&ctx, aead, key, EVP_AEAD_key_length(aead),
                           EVP_AEAD_DEFAULT_TAG_LENGTH, NULL)) {
        fprintf(stderr, "bench_aead: EVP_AEAD_CTX_init failed\n");
        return 1;
    }
    size_t overhead = EVP_AEAD_max_overhead(aead);
    size_t nonce_len = EVP_AEAD_nonce_length(aead);
    static uint8_t plain[RECORD], sealed[RECORD + 64], opened[RECORD + 64];
    memset(plain, 0x5a, sizeof(plain));
    uint8_t nonce[24] = {0};
    uint8_t ad[13] = {23, 3, 3}; /* a TLS record header's worth of additional data */
    uint64_t records = 0;
    uint64_t t0 = now_ns();
    uint64_t cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t until = t0 + (uint64_t)(seconds * 1e9);
    int rc = 0;
    while (now_ns() < until) {
        /* Check the clock every 64 records; a record takes a few microseconds. */
        for (int k = 0; k < 64; k++) {
            memcpy(nonce, &records, sizeof(records)); /* TLS's per-record sequence number */
            size_t sealed_len = 0, opened_len = 0;
            if (!EVP_AEAD_CTX_seal(&ctx, sealed, &sealed_len, RECORD + overhead, nonce,
                                   nonce_len, plain, RECORD, ad, sizeof(ad)) ||
                !EVP_AEAD_CTX_open(&ctx, opened, &opened_len, sizeof(opened), nonce,
                                   nonce_len, sealed, sealed_len, ad, sizeof(ad)) ||
                opened_len != RECORD) {
                fprintf(stderr, "bench_aead: seal/open failed at record %llu\n",
                        (unsigned long long)records);
                rc = 1;
                break;
            }
            records++;
        }
        if (rc != 0) {
            break;
        }
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    double cpu = (double)(clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / 1e9;
    EVP_AEAD_CTX_cleanup(&ctx);
    if (rc == 0) {
        if (memcmp(opened, plain, RECORD) != 0) {
            fprintf(stderr, "bench_aead: opened record differs from the plaintext\n");
            return 1;
        }
        printf("ok aead=%s records=%llu mib_s=%.1f cpu_mib_s=%.1f\n", name,
               (unsigned long long)records, (double)records * RECORD / elapsed / (1024.0 * 1024.0),
               (double)records * RECORD / (cpu > 0 ? cpu : elapsed) / (1024.0 * 1024.0));
    }
    return rc;
}
