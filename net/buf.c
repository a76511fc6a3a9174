/* Growable byte buffers. Storage is released when a buffer is freed so that idle
 * connections hold none. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

int nn_buf_reserve(nn_buf *b, size_t extra) {
    if (b->cap - b->off - b->len >= extra) {
        return 0;
    }
    /* Slide the content to the front first when that alone makes room. */
    if (b->off > 0 && b->cap - b->len >= extra && b->off >= b->len) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
        return 0;
    }
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return -ENOMEM;
    }
    size_t need = b->len + extra;
    size_t cap = b->cap < 256 ? 256 : b->cap;
    while (cap < need) {
        cap *= 2;
    }
    uint8_t *data = malloc(cap);
    if (data == NULL) {
        b->failed = true;
        return -ENOMEM;
    }
    if (b->len > 0) {
        memcpy(data, b->data + b->off, b->len);
    }
    free(b->data);
    b->data = data;
    b->off = 0;
    b->cap = cap;
    return 0;
}

uint8_t *nn_buf_tail(nn_buf *b, size_t want) {
    /* At least one byte, so that a zero-length request on an empty buffer is not NULL. */
    if (nn_buf_reserve(b, want > 0 ? want : 1) != 0) {
        return NULL;
    }
    return b->data + b->off + b->len;
}

void nn_buf_commit(nn_buf *b, size_t n) {
    b->len += n;
}

int nn_buf_append(nn_buf *b, const void *data, size_t len) {
    if (len == 0) {
        return 0;
    }
    uint8_t *tail = nn_buf_tail(b, len);
    if (tail == NULL) {
        return -ENOMEM;
    }
    memcpy(tail, data, len);
    b->len += len;
    return 0;
}

void nn_buf_consume(nn_buf *b, size_t n) {
    if (n >= b->len) {
        b->off = 0;
        b->len = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}

void nn_buf_clear(nn_buf *b) {
    b->off = 0;
    b->len = 0;
    b->failed = false;
}

void nn_buf_free(nn_buf *b) {
    free(b->data);
    b->data = NULL;
    b->off = 0;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
}
