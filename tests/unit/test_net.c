/* Unit tests of net/'s building blocks: buffers, the timer heap, the MPSC queue, errors. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

static void buf_append_consume_keeps_order(void) {
    nn_buf b = {0};
    char chunk[100];
    size_t total = 0;
    for (int i = 0; i < 1000; i++) {
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        CU_ASSERT_EQUAL_FATAL(nn_buf_append(&b, chunk, sizeof(chunk)), 0);
        total += sizeof(chunk);
        if (i % 3 == 0) {
            nn_buf_consume(&b, 50);
            total -= 50;
        }
    }
    CU_ASSERT_EQUAL(b.len, total);
    /* The last byte is the last chunk's letter. */
    CU_ASSERT_EQUAL(nn_buf_begin(&b)[b.len - 1], 'a' + 999 % 26);
    nn_buf_consume(&b, b.len);
    CU_ASSERT_EQUAL(b.len, 0);
    nn_buf_free(&b);
    CU_ASSERT_PTR_NULL(b.data);
}

static void buf_tail_commit_and_slide(void) {
    nn_buf b = {0};
    uint8_t *t = nn_buf_tail(&b, 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    memcpy(t, "0123456789", 10);
    nn_buf_commit(&b, 10);
    nn_buf_consume(&b, 8);
    CU_ASSERT_EQUAL(b.len, 2);
    CU_ASSERT_EQUAL(memcmp(nn_buf_begin(&b), "89", 2), 0);
    size_t cap = b.cap;
    /* Room is made by sliding, not growing, when the buffer is mostly consumed. */
    CU_ASSERT_EQUAL(nn_buf_reserve(&b, cap - 2), 0);
    CU_ASSERT_EQUAL(b.cap, cap);
    CU_ASSERT_EQUAL(memcmp(nn_buf_begin(&b), "89", 2), 0);
    CU_ASSERT_EQUAL(nn_buf_reserve(&b, SIZE_MAX - 1), -ENOMEM);
    nn_buf_free(&b);
}

static int fired_order[64];
static int fired_count;

static void record_fire(nn_timer *t) {
    fired_order[fired_count++] = (int)(intptr_t)t->arg;
}

static void timer_heap_pops_in_deadline_order(void) {
    nn_timer_heap h;
    nn_timer_heap_init(&h);
    nn_timer timers[50];
    for (int i = 0; i < 50; i++) {
        nn_timer_init(&timers[i], record_fire, (void *)(intptr_t)i);
        /* Deadlines in a scrambled order: (i * 37) % 50. */
        CU_ASSERT_EQUAL(nn_timer_heap_arm(&h, &timers[i], (uint64_t)((i * 37) % 50) + 1), 0);
    }
    nn_timer_heap_cancel(&h, &timers[3]);
    CU_ASSERT_FALSE(nn_timer_armed(&timers[3]));
    nn_timer_heap_cancel(&h, &timers[3]); /* idempotent */
    /* Re-arm one later than everything else. */
    CU_ASSERT_EQUAL(nn_timer_heap_arm(&h, &timers[0], 1000), 0);
    fired_count = 0;
    CU_ASSERT_PTR_NULL(nn_timer_heap_pop_expired(&h, 0));
    nn_timer *t;
    uint64_t last = 0;
    while ((t = nn_timer_heap_pop_expired(&h, 100)) != NULL) {
        CU_ASSERT_TRUE(t->deadline_ns >= last);
        last = t->deadline_ns;
        t->fire(t);
    }
    CU_ASSERT_EQUAL(fired_count, 48); /* 50 minus the cancelled one minus the re-armed one */
    CU_ASSERT_PTR_EQUAL(nn_timer_heap_peek(&h), &timers[0]);
    CU_ASSERT_PTR_EQUAL(nn_timer_heap_pop_expired(&h, 1000), &timers[0]);
    CU_ASSERT_PTR_NULL(nn_timer_heap_peek(&h));
    nn_timer_heap_free(&h);
}

typedef struct item {
    nn_qnode node;
    int producer;
    int seq;
} item;

#define PRODUCERS 4
#define PER_PRODUCER 20000

static nn_mpsc queue;
static item *items;

static void *produce(void *arg) {
    int p = (int)(intptr_t)arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        item *it = &items[p * PER_PRODUCER + i];
        it->producer = p;
        it->seq = i;
        nn_mpsc_push(&queue, &it->node);
    }
    return NULL;
}

static void mpsc_delivers_every_item_once_in_producer_order(void) {
    items = calloc(PRODUCERS * PER_PRODUCER, sizeof(item));
    nn_mpsc_init(&queue);
    CU_ASSERT_PTR_NULL(nn_mpsc_pop(&queue));
    pthread_t threads[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        pthread_create(&threads[p], NULL, produce, (void *)(intptr_t)p);
    }
    int next_seq[PRODUCERS] = {0};
    int got = 0;
    while (got < PRODUCERS * PER_PRODUCER) {
        nn_qnode *n = nn_mpsc_pop(&queue);
        if (n == NULL) {
            continue; /* empty, or a producer is mid-push */
        }
        item *it = (item *)n;
        /* Each producer's items arrive in the order it pushed them. */
        CU_ASSERT_EQUAL_FATAL(it->seq, next_seq[it->producer]);
        next_seq[it->producer]++;
        got++;
    }
    for (int p = 0; p < PRODUCERS; p++) {
        pthread_join(threads[p], NULL);
        CU_ASSERT_EQUAL(next_seq[p], PER_PRODUCER);
    }
    CU_ASSERT_PTR_NULL(nn_mpsc_pop(&queue));
    free(items);
}

static void err_set_and_prefix_compose_one_line(void) {
    nn_err err;
    nn_err_clear(&err);
    CU_ASSERT_EQUAL(nn_err_set(&err, ENOENT, "%s: no such file", "certs/n1-cert.pem"), -ENOENT);
    nn_err_prefix(&err, "security.cert_file");
    nn_err_prefix(&err, "%s", "cluster.yaml");
    CU_ASSERT_STRING_EQUAL(err.msg, "cluster.yaml: security.cert_file: certs/n1-cert.pem: no such file");
    CU_ASSERT_EQUAL(err.code, ENOENT);
    CU_ASSERT_EQUAL(nn_err_set(NULL, EINVAL, "ignored"), -EINVAL);
    nn_log_level level;
    CU_ASSERT_EQUAL(nn_log_level_parse("warn", &level), 0);
    CU_ASSERT_EQUAL(level, NN_LOG_WARN);
    CU_ASSERT_EQUAL(nn_log_level_parse("loud", &level), -EINVAL);
}

int main(void) {
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("net", NULL, NULL);
    CU_add_test(s, "buf_append_consume_keeps_order", buf_append_consume_keeps_order);
    CU_add_test(s, "buf_tail_commit_and_slide", buf_tail_commit_and_slide);
    CU_add_test(s, "timer_heap_pops_in_deadline_order", timer_heap_pops_in_deadline_order);
    CU_add_test(s, "mpsc_delivers_every_item_once_in_producer_order",
                mpsc_delivers_every_item_once_in_producer_order);
    CU_add_test(s, "err_set_and_prefix_compose_one_line", err_set_and_prefix_compose_one_line);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
