/* rpc/call_table.c: calls in flight on one connection, by call id (open addressing with
 * linear probing and backward-shift deletion, so lookups stay short without tombstones). */
#include <errno.h>
#include <stdlib.h>

#include "rpc/rpc_internal.h"

static size_t slot_of(uint64_t key, size_t cap) {
    /* Call ids are sequential; a multiplicative hash spreads them over the table. */
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 7) & (cap - 1);
}

void nn_rpc_call_table_init(nn_rpc_call_table *t) {
    t->keys = NULL;
    t->vals = NULL;
    t->cap = 0;
    t->len = 0;
}

void nn_rpc_call_table_free(nn_rpc_call_table *t) {
    free(t->keys);
    free(t->vals);
    nn_rpc_call_table_init(t);
}

static int grow(nn_rpc_call_table *t) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    uint64_t *keys = calloc(cap, sizeof(*keys));
    void **vals = calloc(cap, sizeof(*vals));
    if (keys == NULL || vals == NULL) {
        free(keys);
        free(vals);
        return -ENOMEM;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (t->keys[i] != 0) {
            size_t j = slot_of(t->keys[i], cap);
            while (keys[j] != 0) {
                j = (j + 1) & (cap - 1);
            }
            keys[j] = t->keys[i];
            vals[j] = t->vals[i];
        }
    }
    free(t->keys);
    free(t->vals);
    t->keys = keys;
    t->vals = vals;
    t->cap = cap;
    return 0;
}

int nn_rpc_call_table_put(nn_rpc_call_table *t, uint64_t call_id, void *call) {
    if (call_id == 0 || call == NULL) {
        return -EINVAL;
    }
    /* Keep the load under 3/4 so probes stay short. */
    if ((t->len + 1) * 4 > t->cap * 3) {
        int rc = grow(t);
        if (rc < 0) {
            return rc;
        }
    }
    size_t i = slot_of(call_id, t->cap);
    while (t->keys[i] != 0) {
        if (t->keys[i] == call_id) {
            return -EEXIST;
        }
        i = (i + 1) & (t->cap - 1);
    }
    t->keys[i] = call_id;
    t->vals[i] = call;
    t->len++;
    return 0;
}

static size_t find_slot(const nn_rpc_call_table *t, uint64_t call_id) {
    if (t->cap == 0 || call_id == 0) {
        return SIZE_MAX;
    }
    size_t i = slot_of(call_id, t->cap);
    while (t->keys[i] != 0) {
        if (t->keys[i] == call_id) {
            return i;
        }
        i = (i + 1) & (t->cap - 1);
    }
    return SIZE_MAX;
}

void *nn_rpc_call_table_get(const nn_rpc_call_table *t, uint64_t call_id) {
    size_t i = find_slot(t, call_id);
    return i == SIZE_MAX ? NULL : t->vals[i];
}

void *nn_rpc_call_table_take(nn_rpc_call_table *t, uint64_t call_id) {
    size_t i = find_slot(t, call_id);
    if (i == SIZE_MAX) {
        return NULL;
    }
    void *val = t->vals[i];
    size_t mask = t->cap - 1;
    /* Backward shift: move later members of the probe run into the hole when their home
     * slot does not lie cyclically in (hole, j]. */
    size_t hole = i;
    size_t j = (i + 1) & mask;
    while (t->keys[j] != 0) {
        size_t home = slot_of(t->keys[j], t->cap);
        bool stays = (hole <= j) ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            t->keys[hole] = t->keys[j];
            t->vals[hole] = t->vals[j];
            hole = j;
        }
        j = (j + 1) & mask;
    }
    t->keys[hole] = 0;
    t->vals[hole] = NULL;
    t->len--;
    return val;
}

void *nn_rpc_call_table_pop_any(nn_rpc_call_table *t) {
    for (size_t i = 0; i < t->cap && t->len > 0; i++) {
        if (t->keys[i] != 0) {
            return nn_rpc_call_table_take(t, t->keys[i]);
        }
    }
    return NULL;
}
