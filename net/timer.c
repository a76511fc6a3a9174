/* A binary min-heap of timers keyed by deadline. Each timer knows its slot so that
 * cancel and re-arm are O(log n) without a search. */
#include <errno.h>
#include <stdlib.h>

#include "net/net.h"

void nn_timer_init(nn_timer *t, nn_timer_fn fire, void *arg) {
    t->deadline_ns = 0;
    t->heap_index = SIZE_MAX;
    t->fire = fire;
    t->arg = arg;
}

void nn_timer_heap_init(nn_timer_heap *h) {
    h->items = NULL;
    h->len = 0;
    h->cap = 0;
}

void nn_timer_heap_free(nn_timer_heap *h) {
    /* The timers themselves are not touched: their owners may be gone already (a module
     * freed before the server). */
    free(h->items);
    nn_timer_heap_init(h);
}

static void place(nn_timer_heap *h, size_t i, nn_timer *t) {
    h->items[i] = t;
    t->heap_index = i;
}

static void sift_up(nn_timer_heap *h, size_t i) {
    nn_timer *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->deadline_ns <= t->deadline_ns) {
            break;
        }
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(nn_timer_heap *h, size_t i) {
    nn_timer *t = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len) {
            break;
        }
        if (child + 1 < h->len &&
            h->items[child + 1]->deadline_ns < h->items[child]->deadline_ns) {
            child++;
        }
        if (h->items[child]->deadline_ns >= t->deadline_ns) {
            break;
        }
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, t);
}

static void remove_at(nn_timer_heap *h, size_t i) {
    nn_timer *t = h->items[i];
    t->heap_index = SIZE_MAX;
    h->len--;
    if (i == h->len) {
        return;
    }
    nn_timer *moved = h->items[h->len];
    place(h, i, moved);
    sift_down(h, i);
    sift_up(h, moved->heap_index);
}

int nn_timer_heap_arm(nn_timer_heap *h, nn_timer *t, uint64_t deadline_ns) {
    if (nn_timer_armed(t)) {
        remove_at(h, t->heap_index);
    }
    if (h->len == h->cap) {
        size_t cap = h->cap == 0 ? 64 : h->cap * 2;
        nn_timer **items = realloc(h->items, cap * sizeof(*items));
        if (items == NULL) {
            return -ENOMEM;
        }
        h->items = items;
        h->cap = cap;
    }
    t->deadline_ns = deadline_ns;
    place(h, h->len++, t);
    sift_up(h, h->len - 1);
    return 0;
}

void nn_timer_heap_cancel(nn_timer_heap *h, nn_timer *t) {
    if (nn_timer_armed(t)) {
        remove_at(h, t->heap_index);
    }
}

nn_timer *nn_timer_heap_peek(const nn_timer_heap *h) {
    return h->len > 0 ? h->items[0] : NULL;
}

nn_timer *nn_timer_heap_pop_expired(nn_timer_heap *h, uint64_t now_ns) {
    if (h->len == 0 || h->items[0]->deadline_ns > now_ns) {
        return NULL;
    }
    nn_timer *t = h->items[0];
    remove_at(h, 0);
    return t;
}
