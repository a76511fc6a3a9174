/* Errors, logging and the clock: the small things every module leans on. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"

int nn_err_set(nn_err *err, int code, const char *fmt, ...) {
    if (code <= 0) {
        code = code < 0 ? -code : EIO;
    }
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -code;
}

void nn_err_prefix(nn_err *err, const char *fmt, ...) {
    if (err == NULL) {
        return;
    }
    char context[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof(context), fmt, ap);
    va_end(ap);
    /* Build into a larger scratch so the compiler can see the bound, then truncate. */
    char joined[sizeof(context) + sizeof(err->msg) + 2];
    snprintf(joined, sizeof(joined), "%s: %s", context, err->msg);
    size_t n = strnlen(joined, sizeof(err->msg) - 1);
    memcpy(err->msg, joined, n);
    err->msg[n] = '\0';
}

void nn_err_clear(nn_err *err) {
    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

static _Atomic int log_level = NN_LOG_INFO;

void nn_log_set_level(nn_log_level level) {
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

bool nn_log_enabled(nn_log_level level) {
    return (int)level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

int nn_log_level_parse(const char *name, nn_log_level *out) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (nn_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

static void log_line(nn_log_level level, const char *event, const char *fields_fmt, va_list ap) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level & 3], event);
    if (n < 0) {
        return;
    }
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fields_fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }
    line[len++] = '\n';
    /* One write per line so that lines from several threads never interleave. */
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc;
}

void nn_log(nn_log_level level, const char *event, const char *fields_fmt, ...) {
    if (!nn_log_enabled(level)) {
        return;
    }
    va_list ap;
    va_start(ap, fields_fmt);
    log_line(level, event, fields_fmt, ap);
    va_end(ap);
}

void nn_log_limited(nn_log_limit *limit, nn_log_level level, const char *event,
                    const char *fields_fmt, ...) {
    if (!nn_log_enabled(level)) {
        return;
    }
    uint64_t now = nn_now_ns();
    uint64_t start = atomic_load_explicit(&limit->period_start_ns, memory_order_relaxed);
    if (start == 0 || now - start >= NN_MS(limit->period_ms)) {
        /* One thread opens the new period; a line that races with it may be counted
         * against the old one, which errs on the side of writing less. */
        if (atomic_compare_exchange_strong(&limit->period_start_ns, &start, now)) {
            atomic_store(&limit->written, 0);
            uint64_t dropped = atomic_exchange(&limit->suppressed, 0);
            if (dropped > 0) {
                nn_log(level, "log.suppressed", "event=%s lines=%llu", event,
                       (unsigned long long)dropped);
            }
        }
    }
    if (atomic_fetch_add(&limit->written, 1) >= limit->burst) {
        atomic_fetch_add(&limit->suppressed, 1);
        return;
    }
    va_list ap;
    va_start(ap, fields_fmt);
    log_line(level, event, fields_fmt, ap);
    va_end(ap);
}

uint64_t nn_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
