/* RPC frames from a hostile peer: header parse, then decode under the per-connection
 * allocation budget; whatever decodes is re-encoded and must decode again. Every complete
 * frame whose envelope ends with a payload is also decoded in place (the bulk path, from a
 * malloc'd copy as the stream would hand it over): it must agree with the usual decode. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

/* rc and env: what the usual decode gave for the same frame of frame_len bytes. */
static void check_in_place(const uint8_t *frame, size_t frame_len, uint32_t max_frame, int rc,
                           const Nnrpc__Envelope *env) {
    size_t key_at = 0;
    if (nn_rpc_frame_payload_tail(frame, frame_len, 0, &key_at) == 0) {
        return;
    }
    uint8_t *block = malloc(frame_len);
    if (block == NULL) {
        return;
    }
    memcpy(block, frame, frame_len);
    /* The block counts against the budget where the usual decode counts the payload: room
     * for the frame's bytes more, so that both refuse the same frames. */
    nn_rpc_budget b;
    nn_rpc_budget_init(&b, nn_rpc_budget_for(max_frame) + frame_len);
    Nnrpc__Envelope *got = NULL;
    nn_err err;
    int r =
        nn_rpc_frame_decode_in_place(block, frame_len, block, frame_len, max_frame, &b, &got, &err);
    if (rc == 1 &&
        (r != 1 || got->call_id != env->call_id || got->payload.len != env->payload.len ||
         memcmp(got->payload.data, env->payload.data, env->payload.len) != 0)) {
        abort(); /* the bulk path must read what the usual one reads */
    }
    if (rc == -EPROTO && r == 1) {
        abort(); /* nor accept what it refuses */
    }
    if (r == 1) {
        nn_rpc_envelope_free(got, &b); /* the block becomes b's spare */
    }
    free(b.spare);
    if (b.used != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint32_t max_frame = 1u << 16;
    uint32_t body_len;
    nn_err err;
    (void)nn_rpc_frame_header_parse(data, size, max_frame, &body_len, &err);
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(max_frame));
    size_t off = 0;
    while (off < size) {
        Nnrpc__Envelope *env = NULL;
        size_t consumed = 0;
        int rc =
            nn_rpc_frame_decode(data + off, size - off, max_frame, &budget, &env, &consumed, &err);
        uint32_t body = 0;
        if (rc != 0 &&
            nn_rpc_frame_header_parse(data + off, size - off, max_frame, &body, &err) == 1 &&
            size - off - NN_RPC_FRAME_HEADER >= body) {
            check_in_place(data + off, NN_RPC_FRAME_HEADER + body, max_frame, rc, env);
        }
        if (rc <= 0) {
            break;
        }
        nn_buf out = {0};
        if (nn_rpc_frame_encode(&out, env, max_frame, &err) == 0) {
            Nnrpc__Envelope *again = NULL;
            size_t used = 0;
            nn_rpc_budget b2;
            nn_rpc_budget_init(&b2, nn_rpc_budget_for(max_frame));
            if (nn_rpc_frame_decode(nn_buf_begin(&out), out.len, max_frame, &b2, &again, &used,
                                    &err) != 1 ||
                used != out.len || again->call_id != env->call_id) {
                abort(); /* what we encode we must be able to read back */
            }
            nn_rpc_envelope_free(again, &b2);
        }
        nn_buf_free(&out);
        nn_rpc_envelope_free(env, &budget);
        if (budget.used != 0) {
            abort(); /* every byte the budget lent must come back */
        }
        off += consumed;
    }
    return 0;
}
