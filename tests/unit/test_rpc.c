/* Unit tests of rpc/: the frame codec, the bounded allocator, the call table and the
 * per-worker block pools (on real workers without listeners: no network). */
#include <CUnit/Basic.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

#define MAX_FRAME 4096u

static nn_buf encode_request_max(uint64_t call_id, const char *method, const void *payload,
                                 size_t len, uint32_t max_frame) {
    Nnrpc__Envelope env = NNRPC__ENVELOPE__INIT;
    env.call_id = call_id;
    env.method = (char *)method;
    env.flags = NNRPC__FLAG__FLAG_REQUEST;
    env.timeout_ms = 250;
    env.payload.data = (uint8_t *)payload;
    env.payload.len = len;
    nn_buf out = {0};
    nn_err err = {0};
    CU_ASSERT_EQUAL_FATAL(nn_rpc_frame_encode(&out, &env, max_frame, &err), 0);
    return out;
}

static nn_buf encode_request(uint64_t call_id, const char *method, const void *payload,
                             size_t len) {
    return encode_request_max(call_id, method, payload, len, MAX_FRAME);
}

static void round_trip_decodes_every_field(void) {
    nn_buf b = encode_request(42, "echo", "hello", 5);
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(MAX_FRAME));
    Nnrpc__Envelope *env = NULL;
    size_t used = 0;
    nn_err err = {0};
    CU_ASSERT_EQUAL(
        nn_rpc_frame_decode(nn_buf_begin(&b), b.len, MAX_FRAME, &budget, &env, &used, &err), 1);
    CU_ASSERT_EQUAL(used, b.len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    CU_ASSERT_EQUAL(env->call_id, 42);
    CU_ASSERT_STRING_EQUAL(env->method, "echo");
    CU_ASSERT_EQUAL(env->flags, NNRPC__FLAG__FLAG_REQUEST);
    CU_ASSERT_EQUAL(env->timeout_ms, 250);
    CU_ASSERT_EQUAL(env->payload.len, 5);
    CU_ASSERT_EQUAL(memcmp(env->payload.data, "hello", 5), 0);
    CU_ASSERT(budget.used > 0);
    nn_rpc_envelope_free(env, &budget);
    CU_ASSERT_EQUAL(budget.used, 0);
    nn_buf_free(&b);
}

static void truncated_frame_needs_more_at_every_length(void) {
    nn_buf b = encode_request(7, "ping", "abcdefgh", 8);
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(MAX_FRAME));
    for (size_t n = 0; n < b.len; n++) {
        Nnrpc__Envelope *env = NULL;
        size_t used = 0;
        nn_err err = {0};
        CU_ASSERT_EQUAL(
            nn_rpc_frame_decode(nn_buf_begin(&b), n, MAX_FRAME, &budget, &env, &used, &err), 0);
        CU_ASSERT_PTR_NULL(env);
    }
    CU_ASSERT_EQUAL(budget.used, 0);
    nn_buf_free(&b);
}

static void oversized_frame_is_refused_from_its_header(void) {
    uint8_t hdr[NN_RPC_FRAME_HEADER];
    nn_rpc_frame_header_write(hdr, MAX_FRAME + 1);
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(MAX_FRAME));
    Nnrpc__Envelope *env = NULL;
    size_t used = 0;
    nn_err err = {0};
    /* Only the header is here: the refusal must not wait for (or allocate) the body. */
    CU_ASSERT_EQUAL(nn_rpc_frame_decode(hdr, sizeof(hdr), MAX_FRAME, &budget, &env, &used, &err),
                    -EMSGSIZE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "over max_frame_bytes 4096"));
    CU_ASSERT_EQUAL(budget.used, 0);

    /* Encoding refuses too. */
    uint8_t *big = calloc(1, MAX_FRAME);
    Nnrpc__Envelope e = NNRPC__ENVELOPE__INIT;
    e.payload.data = big;
    e.payload.len = MAX_FRAME;
    nn_buf out = {0};
    CU_ASSERT_EQUAL(nn_rpc_frame_encode(&out, &e, MAX_FRAME, &err), -EMSGSIZE);
    CU_ASSERT_EQUAL(out.len, 0);
    free(big);
    nn_buf_free(&out);
}

static void bad_magic_and_version_are_refused(void) {
    nn_err err = {0};
    uint32_t body = 0;
    /* A TLS ClientHello's first byte is enough to tell. */
    const uint8_t tls[] = {0x16, 0x03, 0x01};
    CU_ASSERT_EQUAL(nn_rpc_frame_header_parse(tls, 1, MAX_FRAME, &body, &err), -EPROTO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bad magic"));
    const uint8_t partial[] = {'N', 'N'};
    CU_ASSERT_EQUAL(nn_rpc_frame_header_parse(partial, 2, MAX_FRAME, &body, &err), 0);
    uint8_t hdr[NN_RPC_FRAME_HEADER];
    nn_rpc_frame_header_write(hdr, 10);
    hdr[4] = 9;
    CU_ASSERT_EQUAL(nn_rpc_frame_header_parse(hdr, sizeof(hdr), MAX_FRAME, &body, &err), -EPROTO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "version 9"));
}

static void garbage_body_is_refused(void) {
    uint8_t frame[NN_RPC_FRAME_HEADER + 3];
    nn_rpc_frame_header_write(frame, 3);
    /* Field 1 with wire type 7 does not exist in protobuf. */
    frame[NN_RPC_FRAME_HEADER] = 0x0f;
    frame[NN_RPC_FRAME_HEADER + 1] = 0xff;
    frame[NN_RPC_FRAME_HEADER + 2] = 0xff;
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(MAX_FRAME));
    Nnrpc__Envelope *env = NULL;
    size_t used = 0;
    nn_err err = {0};
    CU_ASSERT_EQUAL(
        nn_rpc_frame_decode(frame, sizeof(frame), MAX_FRAME, &budget, &env, &used, &err), -EPROTO);
    CU_ASSERT_PTR_NULL(env);
    CU_ASSERT_EQUAL(budget.used, 0);
}

static void method_name_with_a_nul_byte_is_refused(void) {
    /* Field 2 (method), length 6: "echo\0x". Read as a C string it would be "echo". */
    const uint8_t body[] = {0x12, 0x06, 'e', 'c', 'h', 'o', 0x00, 'x'};
    uint8_t frame[NN_RPC_FRAME_HEADER + sizeof(body)];
    nn_rpc_frame_header_write(frame, sizeof(body));
    memcpy(frame + NN_RPC_FRAME_HEADER, body, sizeof(body));
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(MAX_FRAME));
    Nnrpc__Envelope *env = NULL;
    size_t used = 0;
    nn_err err = {0};
    CU_ASSERT_EQUAL(
        nn_rpc_frame_decode(frame, sizeof(frame), MAX_FRAME, &budget, &env, &used, &err), -EPROTO);
    CU_ASSERT_PTR_NULL(env);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not canonical"));
    CU_ASSERT_EQUAL(budget.used, 0);
}

/* Appends field `num` as a varint of value 1. */
static size_t put_varint_field(uint8_t *p, uint32_t num) {
    size_t n = 0;
    uint32_t key = num << 3;
    while (key >= 0x80) {
        p[n++] = (uint8_t)(key | 0x80);
        key >>= 7;
    }
    p[n++] = (uint8_t)key;
    p[n++] = 1;
    return n;
}

static void unknown_fields_are_skipped_within_budget(void) {
    /* A newer peer's extra fields decode and are ignored. */
    uint8_t frame[64];
    size_t body = 0;
    uint8_t *p = frame + NN_RPC_FRAME_HEADER;
    body += put_varint_field(p + body, 1); /* call_id = 1 */
    body += put_varint_field(p + body, 100);
    body += put_varint_field(p + body, 2000);
    nn_rpc_frame_header_write(frame, (uint32_t)body);
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(MAX_FRAME));
    Nnrpc__Envelope *env = NULL;
    size_t used = 0;
    nn_err err = {0};
    CU_ASSERT_EQUAL(nn_rpc_frame_decode(frame, NN_RPC_FRAME_HEADER + body, MAX_FRAME, &budget, &env,
                                        &used, &err),
                    1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    CU_ASSERT_EQUAL(env->call_id, 1);
    CU_ASSERT_EQUAL(env->base.n_unknown_fields, 2);
    nn_rpc_envelope_free(env, &budget);
    CU_ASSERT_EQUAL(budget.used, 0);
}

static void unknown_field_flood_hits_the_budget(void) {
    /* Tiny unknown fields cost a struct each when decoded: a frame within max_frame_bytes
     * that would decode to many times its size is refused by the bounded allocator. */
    const uint32_t max = 65536; /* the 64 KiB slack of the budget is small beside it */
    size_t body = max - 8;
    uint8_t *frame = malloc(NN_RPC_FRAME_HEADER + body);
    size_t n = 0;
    while (n + 4 <= body) {
        n += put_varint_field(frame + NN_RPC_FRAME_HEADER + n, 100);
    }
    nn_rpc_frame_header_write(frame, (uint32_t)n);
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(max));
    Nnrpc__Envelope *env = NULL;
    size_t used = 0;
    nn_err err = {0};
    CU_ASSERT_EQUAL(
        nn_rpc_frame_decode(frame, NN_RPC_FRAME_HEADER + n, max, &budget, &env, &used, &err),
        -ENOBUFS);
    CU_ASSERT_PTR_NULL(env);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "decode budget"));
    CU_ASSERT_EQUAL(budget.used, 0);
    CU_ASSERT(budget.refused > 0);
    free(frame);
}

static void budget_counts_and_refuses(void) {
    nn_rpc_budget b;
    nn_rpc_budget_init(&b, 100);
    void *x = b.pa.alloc(b.pa.allocator_data, 60);
    CU_ASSERT_PTR_NOT_NULL(x);
    CU_ASSERT_EQUAL(b.used, 60);
    CU_ASSERT_PTR_NULL(b.pa.alloc(b.pa.allocator_data, 41));
    CU_ASSERT_PTR_NULL(b.pa.alloc(b.pa.allocator_data, SIZE_MAX));
    void *y = b.pa.alloc(b.pa.allocator_data, 40);
    CU_ASSERT_PTR_NOT_NULL(y);
    b.pa.free(b.pa.allocator_data, x);
    b.pa.free(b.pa.allocator_data, y);
    b.pa.free(b.pa.allocator_data, NULL);
    CU_ASSERT_EQUAL(b.used, 0);
    CU_ASSERT_EQUAL(b.refused, 2);
}

static void two_frames_in_one_read_decode_in_order(void) {
    nn_buf a = encode_request(1, "a", "x", 1);
    nn_buf b = encode_request(2, "b", "yy", 2);
    nn_buf_append(&a, nn_buf_begin(&b), b.len);
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(MAX_FRAME));
    size_t off = 0;
    for (uint64_t want = 1; want <= 2; want++) {
        Nnrpc__Envelope *env = NULL;
        size_t used = 0;
        nn_err err = {0};
        CU_ASSERT_EQUAL_FATAL(nn_rpc_frame_decode(nn_buf_begin(&a) + off, a.len - off, MAX_FRAME,
                                                  &budget, &env, &used, &err),
                              1);
        CU_ASSERT_EQUAL(env->call_id, want);
        off += used;
        nn_rpc_envelope_free(env, &budget);
    }
    CU_ASSERT_EQUAL(off, a.len);
    nn_buf_free(&a);
    nn_buf_free(&b);
}

static void call_table_puts_gets_and_takes(void) {
    nn_rpc_call_table t;
    nn_rpc_call_table_init(&t);
    static int vals[5000];
    for (uint64_t i = 1; i <= 5000; i++) {
        CU_ASSERT_EQUAL_FATAL(nn_rpc_call_table_put(&t, i, &vals[i - 1]), 0);
    }
    CU_ASSERT_EQUAL(nn_rpc_call_table_put(&t, 77, &vals[0]), -EEXIST);
    CU_ASSERT_EQUAL(nn_rpc_call_table_put(&t, 0, &vals[0]), -EINVAL);
    CU_ASSERT_EQUAL(t.len, 5000);
    /* Take every odd id; the even ones must still be found after the backward shifts. */
    for (uint64_t i = 1; i <= 5000; i += 2) {
        CU_ASSERT_PTR_EQUAL(nn_rpc_call_table_take(&t, i), &vals[i - 1]);
    }
    CU_ASSERT_PTR_NULL(nn_rpc_call_table_take(&t, 1));
    for (uint64_t i = 2; i <= 5000; i += 2) {
        CU_ASSERT_PTR_EQUAL_FATAL(nn_rpc_call_table_get(&t, i), &vals[i - 1]);
    }
    CU_ASSERT_PTR_NULL(nn_rpc_call_table_get(&t, 5001));
    size_t popped = 0;
    while (nn_rpc_call_table_pop_any(&t) != NULL) {
        popped++;
    }
    CU_ASSERT_EQUAL(popped, 2500);
    CU_ASSERT_EQUAL(t.len, 0);
    nn_rpc_call_table_free(&t);
}

static void status_and_mode_names(void) {
    CU_ASSERT_STRING_EQUAL(nn_rpc_status_name(NN_RPC_E_PEER_DOWN), "peer_down");
    CU_ASSERT_STRING_EQUAL(nn_rpc_status_name((nn_rpc_status)99), "unknown");
    nn_rpc_tls_mode m;
    CU_ASSERT_EQUAL(nn_rpc_tls_mode_parse("prefer", &m), 0);
    CU_ASSERT_EQUAL(m, NN_RPC_TLS_PREFER);
    CU_ASSERT_EQUAL(nn_rpc_tls_mode_parse("maybe", &m), -EINVAL);
    CU_ASSERT_STRING_EQUAL(nn_rpc_tls_mode_name(NN_RPC_TLS_REQUIRE), "require");
}

/* ------------------------------------------------------------------ pools */

#define POOL_BLOCKS 64

typedef struct pool_step {
    nn_task task;
    nn_rpc *rpc;
    void **blocks;
    size_t size; /* 0 = free the blocks instead */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
} pool_step;

static void pool_step_run(nn_task *task) {
    pool_step *st = (pool_step *)task;
    for (size_t i = 0; i < POOL_BLOCKS; i++) {
        if (st->size != 0) {
            st->blocks[i] = nn_rpc_pool_alloc(st->rpc, st->size);
            memset(st->blocks[i], 0xab, st->size);
        } else {
            nn_rpc_pool_free(st->rpc, st->blocks[i]);
            st->blocks[i] = NULL;
        }
    }
    pthread_mutex_lock(&st->lock);
    st->done = true;
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->lock);
}

/* Runs one alloc (size > 0) or free (size 0) round of POOL_BLOCKS blocks on `loop`. */
static void pool_round(nn_server *srv, uint32_t loop, nn_rpc *rpc, void **blocks, size_t size) {
    pool_step st = {.rpc = rpc, .blocks = blocks, .size = size};
    pthread_mutex_init(&st.lock, NULL);
    pthread_cond_init(&st.cond, NULL);
    st.task.fn = pool_step_run;
    CU_ASSERT_EQUAL_FATAL(nn_loop_post(nn_server_loop(srv, loop), &st.task), 0);
    pthread_mutex_lock(&st.lock);
    while (!st.done) {
        pthread_cond_wait(&st.cond, &st.lock);
    }
    pthread_mutex_unlock(&st.lock);
    pthread_mutex_destroy(&st.lock);
    pthread_cond_destroy(&st.cond);
}

static void pool_reuses_blocks_freed_on_any_thread(void) {
    nn_err err = {0};
    nn_server_config sc = {.workers = 2};
    nn_server *srv = nn_server_new(&sc, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    CU_ASSERT_EQUAL_FATAL(nn_server_start(srv, &err), 0);
    nn_rpc_node nodes[] = {{"n1", "127.0.0.1", 1}, {"n2", "127.0.0.1", 2}};
    nn_rpc_config cfg = {.cluster_id = 7,
                         .cluster_name = "t",
                         .self = "n1",
                         .nodes = nodes,
                         .node_count = 2,
                         .tls = NN_RPC_TLS_OFF};
    nn_rpc *rpc = nn_rpc_new(&cfg, srv, NULL, &err); /* never started: no connection */
    CU_ASSERT_PTR_NOT_NULL_FATAL(rpc);
    void *blocks[POOL_BLOCKS];
    uint64_t fresh = 0, reused = 0;

    pool_round(srv, 0, rpc, blocks, 200);
    nn_rpc_pool_stats(rpc, &fresh, &reused);
    CU_ASSERT_EQUAL(fresh, POOL_BLOCKS);
    CU_ASSERT_EQUAL(reused, 0);

    /* Half go back on their own worker, half from the other worker (the return queue). A
     * round frees POOL_BLOCKS pointers; the NULL tail of each half is a no-op. */
    void *first[POOL_BLOCKS] = {0};
    void *second[POOL_BLOCKS] = {0};
    for (size_t i = 0; i < POOL_BLOCKS / 2; i++) {
        first[i] = blocks[i];
        second[i] = blocks[POOL_BLOCKS / 2 + i];
    }
    pool_round(srv, 0, rpc, first, 0);
    pool_round(srv, 1, rpc, second, 0);

    /* The same worker allocates again: every block is a reused one, none is malloc'd. */
    pool_round(srv, 0, rpc, blocks, 150);
    nn_rpc_pool_stats(rpc, &fresh, &reused);
    CU_ASSERT_EQUAL(fresh, POOL_BLOCKS);
    CU_ASSERT_EQUAL(reused, POOL_BLOCKS);

    /* Off the workers, and over the largest class, blocks are plain malloc'd. */
    void *off = nn_rpc_pool_alloc(rpc, 100);
    CU_ASSERT_PTR_NOT_NULL(off);
    nn_rpc_pool_free(rpc, off);
    void *big[POOL_BLOCKS];
    pool_round(srv, 1, rpc, big, 8000);
    pool_round(srv, 0, rpc, big, 0);
    nn_rpc_pool_stats(rpc, &fresh, &reused);
    CU_ASSERT_EQUAL(fresh, POOL_BLOCKS);
    CU_ASSERT_EQUAL(reused, POOL_BLOCKS);

    /* Blocks still out when the workers stop go back through the return queue and are
     * freed with the rpc (ASan's leak check holds us to it). */
    pool_round(srv, 1, rpc, blocks, 0);
    nn_server_stop(srv, 0);
    nn_server_wait(srv);
    nn_rpc_free(rpc);
    nn_server_free(srv);
}

/* ------------------------------------------------------- payloads left in place */

#define BULK_FRAME (1u << 20)

/* A frame as the stream would hold it: in a malloc'd block, `lead` bytes in. */
static uint8_t *frame_in_block(const nn_buf *frame, size_t lead, void **block) {
    uint8_t *b = malloc(lead + frame->len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    memset(b, 0xee, lead);
    memcpy(b + lead, nn_buf_begin(frame), frame->len);
    *block = b;
    return b + lead;
}

static void bulk_payload_is_decoded_in_place(void) {
    size_t len = 100000;
    uint8_t *payload = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    for (size_t i = 0; i < len; i++) {
        payload[i] = (uint8_t)(i * 7);
    }
    nn_buf b = encode_request_max(9, "echo", payload, len, BULK_FRAME);
    size_t key_at = 0;
    size_t at =
        nn_rpc_frame_payload_tail(nn_buf_begin(&b), b.len, NN_RPC_PAYLOAD_IN_PLACE_MIN, &key_at);
    CU_ASSERT_EQUAL(at, b.len - len);
    CU_ASSERT(key_at > NN_RPC_FRAME_HEADER && key_at < at);
    void *block = NULL;
    uint8_t *frame = frame_in_block(&b, 37, &block);
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(BULK_FRAME));
    Nnrpc__Envelope *env = NULL;
    nn_err err = {0};
    CU_ASSERT_EQUAL_FATAL(nn_rpc_frame_decode_in_place(frame, b.len, block, 37 + b.len, BULK_FRAME,
                                                       &budget, &env, &err),
                          1);
    CU_ASSERT_EQUAL(env->call_id, 9);
    CU_ASSERT_STRING_EQUAL(env->method, "echo");
    CU_ASSERT_EQUAL(env->flags, NNRPC__FLAG__FLAG_REQUEST);
    CU_ASSERT_EQUAL(env->timeout_ms, 250);
    /* Not copied: the payload is the frame's own bytes; the block it lies in counts against
     * the budget while the envelope lives. */
    CU_ASSERT_PTR_EQUAL(env->payload.data, frame + at);
    CU_ASSERT_EQUAL(env->payload.len, len);
    CU_ASSERT_EQUAL(memcmp(env->payload.data, payload, len), 0);
    CU_ASSERT(budget.used > 37 + b.len && budget.used < 37 + b.len + 1024);
    /* Freed, the block becomes the budget's spare (the stream's next input). */
    nn_rpc_envelope_free(env, &budget);
    CU_ASSERT_EQUAL(budget.used, 0);
    CU_ASSERT_PTR_EQUAL(budget.spare, block);
    CU_ASSERT_EQUAL(budget.spare_cap, 37 + b.len);
    /* A second one, smaller, is freed rather than kept (ASan: no leak, no double free). */
    void *block2 = NULL;
    uint8_t *frame2 = frame_in_block(&b, 0, &block2);
    CU_ASSERT_EQUAL_FATAL(
        nn_rpc_frame_decode_in_place(frame2, b.len, block2, b.len, BULK_FRAME, &budget, &env, &err),
        1);
    nn_rpc_envelope_free(env, &budget);
    CU_ASSERT_PTR_EQUAL(budget.spare, block);
    free(budget.spare);
    nn_buf_free(&b);
    free(payload);
}

/* Requests live until their reply: bulk frames left in place must not pin memory beyond
 * the connection's budget, as payloads copied by protobuf-c could not (rel 24-26). */
static void bulk_payloads_in_place_stay_within_the_budget(void) {
    size_t len = 100000;
    uint8_t *payload = calloc(1, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    nn_buf b = encode_request_max(9, "echo", payload, len, BULK_FRAME);
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(BULK_FRAME));
    enum { MAX_HELD = 64 }; /* 64 x 100 kB: well over the 2 MiB budget of a 1 MiB frame */
    Nnrpc__Envelope *held[MAX_HELD] = {0};
    size_t n = 0;
    int rc = 1;
    nn_err err = {0};
    while (n < MAX_HELD && rc == 1) {
        void *block = NULL;
        uint8_t *frame = frame_in_block(&b, 0, &block);
        rc = nn_rpc_frame_decode_in_place(frame, b.len, block, b.len, BULK_FRAME, &budget, &held[n],
                                          &err);
        if (rc == 1) {
            n++;
        }
    }
    CU_ASSERT_EQUAL(rc, -ENOBUFS);
    CU_ASSERT(n * b.len <= budget.limit);
    CU_ASSERT(budget.used <= budget.limit);
    for (size_t i = 0; i < n; i++) {
        nn_rpc_envelope_free(held[i], &budget);
    }
    CU_ASSERT_EQUAL(budget.used, 0);
    free(budget.spare);
    nn_buf_free(&b);
    free(payload);
}

static void small_or_inner_payload_is_left_to_the_usual_decode(void) {
    size_t key_at = 0;
    /* Under the threshold. */
    nn_buf small = encode_request(1, "echo", "hello", 5);
    CU_ASSERT_EQUAL(nn_rpc_frame_payload_tail(nn_buf_begin(&small), small.len,
                                              NN_RPC_PAYLOAD_IN_PLACE_MIN, &key_at),
                    0);
    CU_ASSERT(nn_rpc_frame_payload_tail(nn_buf_begin(&small), small.len, 0, &key_at) > 0);
    nn_buf_free(&small);
    /* Not the last field: remote_code (field 9) is packed after it. */
    static uint8_t big[70000];
    Nnrpc__Envelope env = NNRPC__ENVELOPE__INIT;
    env.call_id = 3;
    env.flags = NNRPC__FLAG__FLAG_RESPONSE;
    env.remote_code = 12;
    env.payload.data = big;
    env.payload.len = sizeof(big);
    nn_buf out = {0};
    nn_err err = {0};
    CU_ASSERT_EQUAL_FATAL(nn_rpc_frame_encode(&out, &env, BULK_FRAME, &err), 0);
    CU_ASSERT_EQUAL(nn_rpc_frame_payload_tail(nn_buf_begin(&out), out.len, 0, &key_at), 0);
    /* Told to anyway, it refuses and frees the block. */
    void *block = NULL;
    uint8_t *frame = frame_in_block(&out, 0, &block);
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(BULK_FRAME));
    Nnrpc__Envelope *got = NULL;
    CU_ASSERT_EQUAL(nn_rpc_frame_decode_in_place(frame, out.len, block, out.len, BULK_FRAME,
                                                 &budget, &got, &err),
                    -EINVAL);
    CU_ASSERT_PTR_NULL(got);
    nn_buf_free(&out);
}

static void second_payload_field_is_refused_in_place(void) {
    /* call_id 5, then a 3-byte payload, then the real one: valid protobuf (the last wins)
     * but never what an encoder writes. */
    size_t len = 70000;
    size_t body = 2 + 5 + 1 + 3 + len;
    uint8_t *frame = calloc(1, NN_RPC_FRAME_HEADER + body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(frame);
    uint8_t *p = frame + NN_RPC_FRAME_HEADER;
    *p++ = 0x08; /* field 1, varint */
    *p++ = 5;
    *p++ = 0x42; /* field 8, length-delimited */
    *p++ = 3;
    memcpy(p, "abc", 3);
    p += 3;
    *p++ = 0x42;
    *p++ = (uint8_t)(0x80 | (len & 0x7f));
    *p++ = (uint8_t)(0x80 | ((len >> 7) & 0x7f));
    *p++ = (uint8_t)(len >> 14);
    nn_rpc_frame_header_write(frame, (uint32_t)body);
    size_t key_at = 0;
    CU_ASSERT_EQUAL(nn_rpc_frame_payload_tail(frame, NN_RPC_FRAME_HEADER + body, 0, &key_at),
                    NN_RPC_FRAME_HEADER + body - len);
    nn_rpc_budget budget;
    nn_rpc_budget_init(&budget, nn_rpc_budget_for(BULK_FRAME));
    Nnrpc__Envelope *env = NULL;
    nn_err err = {0};
    CU_ASSERT_EQUAL(nn_rpc_frame_decode_in_place(frame, NN_RPC_FRAME_HEADER + body, frame,
                                                 NN_RPC_FRAME_HEADER + body, BULK_FRAME, &budget,
                                                 &env, &err),
                    -EPROTO);
    CU_ASSERT_PTR_NULL(env);
    CU_ASSERT_EQUAL(budget.used, 0);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    CU_pSuite s = CU_add_suite("rpc", NULL, NULL);
    CU_add_test(s, "round_trip_decodes_every_field", round_trip_decodes_every_field);
    CU_add_test(s, "truncated_frame_needs_more_at_every_length",
                truncated_frame_needs_more_at_every_length);
    CU_add_test(s, "oversized_frame_is_refused_from_its_header",
                oversized_frame_is_refused_from_its_header);
    CU_add_test(s, "bad_magic_and_version_are_refused", bad_magic_and_version_are_refused);
    CU_add_test(s, "garbage_body_is_refused", garbage_body_is_refused);
    CU_add_test(s, "method_name_with_a_nul_byte_is_refused",
                method_name_with_a_nul_byte_is_refused);
    CU_add_test(s, "unknown_fields_are_skipped_within_budget",
                unknown_fields_are_skipped_within_budget);
    CU_add_test(s, "unknown_field_flood_hits_the_budget", unknown_field_flood_hits_the_budget);
    CU_add_test(s, "budget_counts_and_refuses", budget_counts_and_refuses);
    CU_add_test(s, "two_frames_in_one_read_decode_in_order",
                two_frames_in_one_read_decode_in_order);
    CU_add_test(s, "bulk_payload_is_decoded_in_place", bulk_payload_is_decoded_in_place);
    CU_add_test(s, "bulk_payloads_in_place_stay_within_the_budget",
                bulk_payloads_in_place_stay_within_the_budget);
    CU_add_test(s, "small_or_inner_payload_is_left_to_the_usual_decode",
                small_or_inner_payload_is_left_to_the_usual_decode);
    CU_add_test(s, "second_payload_field_is_refused_in_place",
                second_payload_field_is_refused_in_place);
    CU_add_test(s, "call_table_puts_gets_and_takes", call_table_puts_gets_and_takes);
    CU_add_test(s, "status_and_mode_names", status_and_mode_names);
    CU_add_test(s, "pool_reuses_blocks_freed_on_any_thread",
                pool_reuses_blocks_freed_on_any_thread);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}
