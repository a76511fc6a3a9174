/* tests/integration/catalog_tool_probe.c: a tool client (the admin certificate) that tries
 * the catalog services, which are for peers only.
 *   catalog_tool_probe PORT CA CERT KEY NODE
 * Exits 0 when every catalog.* call is refused with "denied" (and "ping", a tool service,
 * still answers: the refusal is about the method, not the connection). */
#include <stdio.h>
#include <stdlib.h>

#include "rpc/rpc.h"

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s PORT CA CERT KEY NODE\n", argv[0]);
        return 2;
    }
    nn_err err;
    nn_err_clear(&err);
    nn_security_config sc = {
        .node_name = argv[5],
        .ca_file = argv[2],
        .cert_file = argv[3],
        .key_file = argv[4],
        .watch_interval_ms = UINT32_MAX,
    };
    nn_security *sec = nn_security_new(&sc, &err);
    if (sec == NULL) {
        fprintf(stderr, "security: %s\n", err.msg);
        return 1;
    }
    nn_rpc_tool_config tc = {
        .host = "127.0.0.1",
        .port = (uint16_t)atoi(argv[1]),
        .sec = sec,
        .expect_node = argv[5],
    };
    nn_rpc_tool *tool = nn_rpc_tool_connect(&tc, &err);
    if (tool == NULL) {
        fprintf(stderr, "connect: %s\n", err.msg);
        nn_security_free(sec);
        return 1;
    }
    int failures = 0;
    static const char *const methods[] = {"catalog.apply", "catalog.digest", "catalog.snapshot"};
    static const uint8_t change[] = {0x0a, 0x00}; /* an empty row: never reaches the catalog */
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        uint8_t *out = NULL;
        size_t out_len = 0;
        nn_err_clear(&err);
        nn_rpc_status st =
            nn_rpc_tool_call(tool, methods[i], change, sizeof(change), 3000, &out, &out_len, &err);
        free(out);
        printf("%s: %s (%s)\n", methods[i], nn_rpc_status_name(st), err.msg);
        if (st != NN_RPC_E_DENIED) {
            failures++;
        }
    }
    uint8_t *out = NULL;
    size_t out_len = 0;
    nn_rpc_status st = nn_rpc_tool_call(tool, "ping", NULL, 0, 3000, &out, &out_len, &err);
    free(out);
    printf("ping: %s\n", nn_rpc_status_name(st));
    if (st != NN_RPC_OK) {
        failures++;
    }
    nn_rpc_tool_close(tool);
    nn_security_free(sec);
    return failures == 0 ? 0 : 1;
}
