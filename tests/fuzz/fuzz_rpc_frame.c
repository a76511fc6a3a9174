/* RPC frames from a hostile peer: header parse, then decode under the per-connection
 * allocation budget; whatever decodes is re-encoded and must decode again. */
#include <stdint.h>
#include <stdlib.h>

#include "rpc/rpc_internal.h"

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
        int rc = nn_rpc_frame_decode(data + off, size - off, max_frame, &budget, &env,
                                     &consumed, &err);
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
