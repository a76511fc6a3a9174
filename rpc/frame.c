/* rpc/frame.c: the frame codec (fixed header + protobuf-c Envelope) and the bounded
 * allocator that protobuf-c unpacks into. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
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

/* A payload left in place carries in front, instead of a size, this bit with the size of
 * the block it lies in, then the block's address (see nn_rpc_frame_decode_in_place). No
 * budget size has it: the budget's limit is far below. */
#define IN_PLACE_MARK ((size_t)1 << (sizeof(size_t) * 8 - 1))

static void budget_free(void *data, void *ptr) {
    nn_rpc_budget *b = data;
    if (ptr == NULL) {
        return;
    }
    uint8_t *p = (uint8_t *)ptr - BUDGET_HDR;
    size_t size;
    memcpy(&size, p, sizeof(size));
    if (size & IN_PLACE_MARK) {
        /* The receive storage, counted against the budget while the envelope lived: kept
         * for the stream's next input (the larger of two), else freed. */
        void *block;
        memcpy(&block, p + sizeof(size), sizeof(block));
        size_t cap = size & ~IN_PLACE_MARK;
        b->used -= cap;
        if (b->spare != NULL && b->spare_cap >= cap) {
            free(block);
            return;
        }
        free(b->spare);
        b->spare = block;
        b->spare_cap = cap;
        b->spare_ns = nn_now_ns();
        return;
    }
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

/* Unpacks len bytes of a frame of `body` bytes under the budget: 0 with *out, or the
 * error the frame is refused with. */
static int unpack_envelope(nn_rpc_budget *b, const uint8_t *bytes, size_t len, uint32_t body,
                           Nnrpc__Envelope **out, nn_err *err) {
    size_t refused_before = b->refused;
    *out = nnrpc__envelope__unpack(&b->pa, len, bytes);
    if (*out != NULL) {
        return 0;
    }
    if (b->refused != refused_before) {
        return nn_err_set(err, ENOBUFS,
                          "RPC frame of %u bytes needs more than the connection's decode "
                          "budget of %zu bytes",
                          body, b->limit);
    }
    return nn_err_set(err, EPROTO, "RPC frame of %u bytes is not a valid envelope", body);
}

static int not_canonical(uint32_t body, nn_err *err) {
    return nn_err_set(err, EPROTO,
                      "RPC frame of %u bytes is not canonical protobuf (a string with a NUL "
                      "byte, or a repeated field)",
                      body);
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
    Nnrpc__Envelope *env = NULL;
    rc = unpack_envelope(b, data + NN_RPC_FRAME_HEADER, body, body, &env, err);
    if (rc < 0) {
        return rc;
    }
    /* protobuf-c hands strings up as C strings: a method name with a NUL inside would be
     * read as a shorter one. Every encoder we talk to writes canonical protobuf, so a body
     * that does not re-pack to its own size hides something and is refused. */
    if (nnrpc__envelope__get_packed_size(env) != body) {
        nnrpc__envelope__free_unpacked(env, &b->pa);
        return not_canonical(body, err);
    }
    *out = env;
    *consumed = NN_RPC_FRAME_HEADER + body;
    return 1;
}

/* Reads a protobuf varint at *at (< end); false when it is cut short or over 64 bits. */
static bool read_varint(const uint8_t **at, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64 && *at < end; shift += 7) {
        uint8_t byte = *(*at)++;
        r |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

size_t nn_rpc_frame_payload_tail(const uint8_t *frame, size_t frame_len, size_t min,
                                 size_t *key_at) {
    enum { PAYLOAD_FIELD = 8, WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };
    if (frame_len <= NN_RPC_FRAME_HEADER) {
        return 0;
    }
    const uint8_t *at = frame + NN_RPC_FRAME_HEADER;
    const uint8_t *end = frame + frame_len;
    /* Walk the top-level fields only: an envelope has a handful. Anything odd is left to
     * protobuf-c, which refuses it with the usual message. */
    while (at < end) {
        const uint8_t *field = at;
        uint64_t key;
        uint64_t v;
        if (!read_varint(&at, end, &key)) {
            return 0;
        }
        switch (key & 7) {
        case WIRE_VARINT:
            if (!read_varint(&at, end, &v)) {
                return 0;
            }
            break;
        case WIRE_I64:
        case WIRE_I32: {
            size_t n = (key & 7) == WIRE_I64 ? 8 : 4;
            if ((size_t)(end - at) < n) {
                return 0;
            }
            at += n;
            break;
        }
        case WIRE_LEN:
            if (!read_varint(&at, end, &v) || v > (uint64_t)(end - at)) {
                return 0;
            }
            if (key >> 3 == PAYLOAD_FIELD && at + v == end) {
                size_t off = (size_t)(at - frame);
                if (v < min || off < BUDGET_HDR) {
                    return 0;
                }
                *key_at = (size_t)(field - frame);
                return off;
            }
            at += v;
            break;
        default:
            return 0;
        }
    }
    return 0;
}

int nn_rpc_frame_decode_in_place(uint8_t *frame, size_t frame_len, void *block, size_t block_cap,
                                 uint32_t max_frame, nn_rpc_budget *b, Nnrpc__Envelope **out,
                                 nn_err *err) {
    uint32_t body = 0;
    size_t key_at = 0;
    size_t payload_at = 0;
    int rc = nn_rpc_frame_header_parse(frame, frame_len, max_frame, &body, err);
    if (rc == 1 && (NN_RPC_FRAME_HEADER + (size_t)body != frame_len ||
                    (payload_at = nn_rpc_frame_payload_tail(frame, frame_len, 0, &key_at)) == 0)) {
        rc = nn_err_set(err, EINVAL, "RPC frame: no payload to leave in place");
    }
    if (rc != 1) {
        free(block);
        return rc < 0 ? rc : nn_err_set(err, EINVAL, "RPC frame: incomplete");
    }
    size_t payload_len = frame_len - payload_at;
    /* The envelope without its payload is everything before the payload's key. */
    const uint8_t *body_start = frame + NN_RPC_FRAME_HEADER;
    size_t rest = key_at - NN_RPC_FRAME_HEADER;
    Nnrpc__Envelope *env = NULL;
    rc = unpack_envelope(b, body_start, rest, body, &env, err);
    if (rc < 0) {
        free(block);
        return rc;
    }
    if (env->payload.data != NULL || env->payload.len != 0) {
        /* A second payload field before the last: not canonical (the usual decode refuses
         * it too, by its size). */
        nnrpc__envelope__free_unpacked(env, &b->pa);
        free(block);
        return not_canonical(body, err);
    }
    /* The block stays ours as long as the envelope lives (a request until its reply): it
     * counts against the budget as protobuf-c's copy of the payload did, so that a peer
     * cannot pin bulk frames without bound (rel 24-26). */
    block_cap &= ~IN_PLACE_MARK;
    if (block_cap > b->limit || b->used > b->limit - block_cap) {
        b->refused++;
        nnrpc__envelope__free_unpacked(env, &b->pa);
        free(block);
        return nn_err_set(err, ENOBUFS,
                          "RPC frame of %u bytes needs more than the connection's decode "
                          "budget of %zu bytes",
                          body, b->limit);
    }
    b->used += block_cap;
    /* The envelope is decoded (protobuf-c copied what it keeps): the 16 bytes before the
     * payload are free to carry the note budget_free() reads. */
    uint8_t *payload = frame + payload_at;
    size_t mark = IN_PLACE_MARK | block_cap;
    memcpy(payload - BUDGET_HDR, &mark, sizeof(mark));
    memcpy(payload - BUDGET_HDR + sizeof(mark), &block, sizeof(block));
    env->payload.data = payload;
    env->payload.len = payload_len;
    if (nnrpc__envelope__get_packed_size(env) != body) {
        nnrpc__envelope__free_unpacked(env, &b->pa); /* gives the block back through the note */
        return not_canonical(body, err);
    }
    *out = env;
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
