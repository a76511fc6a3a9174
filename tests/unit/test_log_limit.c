/* Unit tests of net/'s log rate limit (nn_log_limited): stderr goes to a temp file while a
 * case runs, and the case counts the lines that came out. */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"

static int saved_stderr = -1;
static FILE *captured;

static void capture_begin(void) {
    fflush(stderr);
    captured = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(captured);
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(captured), STDERR_FILENO);
}

/* Ends the capture; returns the number of lines that contain `needle`, and the value of
 * `lines=` on the last log.suppressed line in *suppressed (0 if none). */
static int capture_end(const char *needle, unsigned long long *suppressed) {
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    rewind(captured);
    char line[4096];
    int count = 0;
    *suppressed = 0;
    while (fgets(line, sizeof(line), captured) != NULL) {
        if (strstr(line, needle) != NULL && strstr(line, "log.suppressed") == NULL) {
            count++;
        }
        const char *s = strstr(line, "log.suppressed event=test.limited lines=");
        if (s != NULL) {
            *suppressed =
                strtoull(s + strlen("log.suppressed event=test.limited lines="), NULL, 10);
        }
    }
    fclose(captured);
    return count;
}

static void burst_then_summary_when_the_period_turns(void) {
    static nn_log_limit limit = NN_LOG_LIMIT_INIT(5, 60000);
    unsigned long long suppressed = 0;
    capture_begin();
    for (int i = 0; i < 100; i++) {
        nn_log_limited(&limit, NN_LOG_WARN, "test.limited", "i=%d", i);
    }
    CU_ASSERT_EQUAL(capture_end("test.limited i=", &suppressed), 5);
    CU_ASSERT_EQUAL(suppressed, 0); /* the period has not turned: no summary yet */

    /* Pretend the period is over: the next line comes after a summary of the 95. */
    atomic_store(&limit.period_start_ns, nn_now_ns() - NN_MS(60001));
    capture_begin();
    nn_log_limited(&limit, NN_LOG_WARN, "test.limited", "i=%d", 100);
    CU_ASSERT_EQUAL(capture_end("test.limited i=100", &suppressed), 1);
    CU_ASSERT_EQUAL(suppressed, 95);
}

static nn_log_limit shared_limit = NN_LOG_LIMIT_INIT(7, 60000);

static void *flood(void *arg) {
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        nn_log_limited(&shared_limit, NN_LOG_WARN, "test.limited", "flood=%d", i);
    }
    return NULL;
}

static void threads_together_write_at_most_the_burst(void) {
    unsigned long long suppressed = 0;
    capture_begin();
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, flood, NULL), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    CU_ASSERT_EQUAL(capture_end("test.limited flood=", &suppressed), 7);
    CU_ASSERT_EQUAL(atomic_load(&shared_limit.suppressed), 4 * 20000 - 7);
}

static void below_the_level_nothing_is_counted(void) {
    static nn_log_limit limit = NN_LOG_LIMIT_INIT(1, 60000);
    unsigned long long suppressed = 0;
    capture_begin();
    nn_log_limited(&limit, NN_LOG_DEBUG, "test.limited", "debug=%d", 1);
    CU_ASSERT_EQUAL(capture_end("test.limited debug=", &suppressed), 0);
    CU_ASSERT_EQUAL(atomic_load(&limit.suppressed), 0);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    CU_pSuite s = CU_add_suite("log_limit", NULL, NULL);
    CU_add_test(s, "burst_then_summary_when_the_period_turns",
                burst_then_summary_when_the_period_turns);
    CU_add_test(s, "threads_together_write_at_most_the_burst",
                threads_together_write_at_most_the_burst);
    CU_add_test(s, "below_the_level_nothing_is_counted", below_the_level_nothing_is_counted);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
