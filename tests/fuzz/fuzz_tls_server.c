/* The TLS server as a hostile client sees it, in the spirit of BoringSSL's fuzz/server.cc:
 * arbitrary client bytes into a server-role nn_tls_engine (the memory-BIO path every MySQL
 * and RPC connection takes), split into reads of varying sizes as the network would deliver
 * them; then the protocol writes, flushes and shuts down as it would.
 *
 * Input: byte 0 picks the policy (bit 0: the MySQL port, client certificate optional, or
 * the RPC port, required); byte 1 seeds the read sizes; the rest is what the client sends.
 * The seeds are real ClientHellos (openssl s_client: TLS 1.3, 1.2, CBC-only, TLS 1.0 only,
 * SNI + ALPN) behind those two bytes.
 *
 * The certificates come from deploy/gen-certs, made once per process in a temp dir (the
 * openssl CLI is needed, as for the unit tests). Without BoringSSL's unsafe fuzzer mode the
 * fuzzer cannot forge the client's Finished, so this covers everything before it: record
 * layer, ClientHello and extension parsing, version and cipher negotiation, alerts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "security/security_internal.h"

static nn_security *server_sec;
static uint8_t sink[16384];

static int io_send(void *arg, const uint8_t *data, size_t len) {
    (void)arg;
    (void)data;
    (void)len;
    return 0; /* the server's flight goes nowhere: the fuzzer plays a client that ignores it */
}

static uint8_t *io_space(void *arg, size_t want) {
    (void)arg;
    return want <= sizeof(sink) ? sink : NULL;
}

static void io_commit(void *arg, size_t n) {
    (void)arg;
    (void)n;
}

static const nn_tls_engine_io fuzz_io = {
    .send = io_send, .deliver_space = io_space, .deliver_commit = io_commit};

static void setup(void) {
    char dir[] = "/tmp/nn-fuzz-tls-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        abort();
    }
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/deploy/gen-certs %s n1 >/dev/null 2>&1", NN_SOURCE_DIR, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "fuzz_tls_server: cannot make certificates: %s\n", cmd);
        abort();
    }
    char ca[128], cert[128], key[128];
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(cert, sizeof(cert), "%s/n1-cert.pem", dir);
    snprintf(key, sizeof(key), "%s/n1-key.pem", dir);
    nn_security_config c = {.node_name = "n1",
                            .ca_file = ca,
                            .cert_file = cert,
                            .key_file = key,
                            .rpc_min_version = "1.2", /* reach the TLS 1.2 paths on both */
                            .watch_interval_ms = UINT32_MAX};
    nn_err err;
    nn_err_clear(&err);
    nn_log_set_level(NN_LOG_ERROR);
    server_sec = nn_security_new(&c, &err);
    /* The store holds everything in memory now. */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "fuzz_tls_server: could not remove %s\n", dir);
    }
    if (server_sec == NULL) {
        fprintf(stderr, "fuzz_tls_server: %s\n", err.msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (server_sec == NULL) {
        setup();
    }
    if (size < 2) {
        return 0;
    }
    bool rpc = (data[0] & 1) != 0;
    uint32_t rng = data[1] * 2654435761u + 1;
    data += 2;
    size -= 2;

    nn_sec_store *store = nn_sec_store_acquire(server_sec);
    nn_err err;
    nn_tls_engine *e = nn_tls_engine_new(
        store, rpc ? NN_TLS_RPC_SERVER : NN_TLS_SERVER,
        rpc ? NN_TLS_PEER_CERT_REQUIRED : NN_TLS_PEER_CERT_OPTIONAL, NULL, &fuzz_io, NULL, &err);
    nn_sec_store_unref(store);
    if (e == NULL) {
        abort();
    }
    nn_tls_engine_start(e, &err);
    /* Reads of 1 byte to a whole segment, as TCP may cut them. */
    while (size > 0 && nn_tls_engine_state_get(e) != NN_TLS_ENGINE_FAILED) {
        rng = rng * 1103515245u + 12345u;
        size_t n = 1 + (rng >> 16) % 1500;
        if (n > size) {
            n = size;
        }
        nn_tls_engine_input(e, data, n, &err);
        data += n;
        size -= n;
    }
    /* A protocol's reply, queued and flushed, then the close: must be safe in any state. */
    static const uint8_t reply[] = "\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00";
    struct iovec iov = {.iov_base = (void *)reply, .iov_len = sizeof(reply) - 1};
    nn_tls_engine_queue(e, &iov, 1, &err);
    nn_tls_engine_flush(e, &err);
    nn_tls_facts facts;
    nn_tls_engine_facts(e, &facts);
    nn_tls_engine_shutdown(e);
    nn_tls_engine_free(e);
    return 0;
}
