/* rpc/frame.c: the frame codec (fixed header + protobuf-c Envelope) and the bounded
 * allocator that protobuf-c unpacks into. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

/* Each block carries its size in front so that free() can give the budget back; 16 keeps
 * the payload aligned for any type protobuf-c stores. */
#define BUDGET_HDR 16u

static void *budget_alloc(void *data, size_t size) {
    nn_rpc_budget *b = data;
    if (size > b->limit || b->used > b->limit - size) {
        b->refused++;
        return NULL;
    }
    uint8_t *p =
        b->rpc != NULL ? nn_rpc_pool_alloc(b->rpc, size + BUDGET_HDR) : malloc(size + BUDGET_HDR);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &size, sizeof(size));
    b->used += size;
    return p + BUDGET_HDR;
}

static void budget_free(void *data, void *ptr) {
    nn_rpc_budget *b = data;
    if (ptr == NULL) {
        return;
    }
    uint8_t *p = (uint8_t *)ptr - BUDGET_HDR;
    size_t size;
    memcpy(&size, p, sizeof(size));
    b->used -= size;
    if (b->rpc != NULL) {
        nn_rpc_pool_free(b->rpc, p);
    } else {
        free(p);
    }
}

void nn_rpc_budget_init(nn_rpc_budget *b, size_t limit) {
    memset(b, 0, sizeof(*b));
    b->limit = limit;
    b->pa.alloc = budget_alloc;
    b->pa.free = budget_free;
    b->pa.allocator_data = b;
}

size_t nn_rpc_budget_for(uint32_t max_frame) {
    /* A well-formed envelope decodes to about its own size plus a few structs; a frame of
     * tiny unknown fields can decode to ten times its size, which this bound refuses. */
    return (size_t)max_frame * 2u + 64u * 1024u;
}

void nn_rpc_frame_header_write(uint8_t out[NN_RPC_FRAME_HEADER], uint32_t body_len) {
    memcpy(out, NN_RPC_FRAME_MAGIC, 4);
    out[4] = NN_RPC_FRAME_VERSION;
    out[5] = 0;
    out[6] = 0;
    out[7] = 0;
    uint32_t be = htonl(body_len);
    memcpy(out + 8, &be, 4);
}

int nn_rpc_frame_header_parse(const uint8_t *data, size_t len, uint32_t max_frame,
                              uint32_t *body_len, nn_err *err) {
    /* Refuse a wrong magic as soon as its bytes are here: a TLS record or a MySQL client
     * on the RPC port is told at once, not after 12 bytes that may never come. */
    size_t n = len < 4 ? len : 4;
    if (memcmp(data, NN_RPC_FRAME_MAGIC, n) != 0) {
        return nn_err_set(err, EPROTO, "not an RPC frame (bad magic %02x%02x%02x%02x)", data[0],
                          n > 1 ? data[1] : 0, n > 2 ? data[2] : 0, n > 3 ? data[3] : 0);
    }
    if (len < NN_RPC_FRAME_HEADER) {
        return 0;
    }
    if (data[4] != NN_RPC_FRAME_VERSION) {
        return nn_err_set(err, EPROTO, "RPC frame version %u, this node speaks %u", data[4],
                          NN_RPC_FRAME_VERSION);
    }
    uint32_t be;
    memcpy(&be, data + 8, 4);
    uint32_t body = ntohl(be);
    if (body == 0) {
        /* Every frame we send has flags set, so an empty body is never ours (rel 24). */
        return nn_err_set(err, EPROTO, "empty RPC frame (length 0)");
    }
    if (body > max_frame) {
        return nn_err_set(err, EMSGSIZE, "RPC frame of %u bytes is over max_frame_bytes %u", body,
                          max_frame);
    }
    *body_len = body;
    return 1;
}

int nn_rpc_frame_decode(const uint8_t *data, size_t len, uint32_t max_frame, nn_rpc_budget *b,
                        Nnrpc__Envelope **out, size_t *consumed, nn_err *err) {
    uint32_t body = 0;
    int rc = nn_rpc_frame_header_parse(data, len, max_frame, &body, err);
    if (rc <= 0) {
        return rc;
    }
    if (len - NN_RPC_FRAME_HEADER < body) {
        return 0;
    }
    size_t refused_before = b->refused;
    Nnrpc__Envelope *env = nnrpc__envelope__unpack(&b->pa, body, data + NN_RPC_FRAME_HEADER);
    if (env == NULL) {
        if (b->refused != refused_before) {
            return nn_err_set(err, ENOBUFS,
                              "RPC frame of %u bytes needs more than the connection's decode "
                              "budget of %zu bytes",
                              body, b->limit);
        }
        return nn_err_set(err, EPROTO, "RPC frame of %u bytes is not a valid envelope", body);
    }
    /* protobuf-c hands strings up as C strings: a method name with a NUL inside would be
     * read as a shorter one. Every encoder we talk to writes canonical protobuf, so a body
     * that does not re-pack to its own size hides something and is refused. */
    if (nnrpc__envelope__get_packed_size(env) != body) {
        nnrpc__envelope__free_unpacked(env, &b->pa);
        return nn_err_set(err, EPROTO,
                          "RPC frame of %u bytes is not canonical protobuf (a string with a "
                          "NUL byte, or a repeated field)",
                          body);
    }
    *out = env;
    *consumed = NN_RPC_FRAME_HEADER + body;
    return 1;
}

void nn_rpc_envelope_free(Nnrpc__Envelope *env, nn_rpc_budget *b) {
    if (env != NULL) {
        nnrpc__envelope__free_unpacked(env, &b->pa);
    }
}

int nn_rpc_frame_encode(nn_buf *out, const Nnrpc__Envelope *env, uint32_t max_frame, nn_err *err) {
    size_t body = nnrpc__envelope__get_packed_size(env);
    if (body > max_frame) {
        return nn_err_set(err, EMSGSIZE, "RPC frame of %zu bytes is over max_frame_bytes %u", body,
                          max_frame);
    }
    uint8_t *p = nn_buf_tail(out, NN_RPC_FRAME_HEADER + body);
    if (p == NULL) {
        return nn_err_set(err, ENOMEM, "out of memory for an RPC frame of %zu bytes", body);
    }
    nn_rpc_frame_header_write(p, (uint32_t)body);
    size_t packed = nnrpc__envelope__pack(env, p + NN_RPC_FRAME_HEADER);
    nn_buf_commit(out, NN_RPC_FRAME_HEADER + packed);
    return 0;
}
