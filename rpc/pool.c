/* rpc/pool.c: per-worker caches of small blocks for the objects every call makes (the call,
 * the request, the decoded envelope), so that a mesh in its steady state allocates
 * nothing per call.
 *
 * A block belongs to the worker that first malloc'd it. Only that worker touches its free
 * lists; a block freed on another thread goes back through the owner's MPSC return queue,
 * which the owner drains when a free list runs dry. Off the workers (a database thread, the
 * tool client's caller) blocks are plain malloc/free: those callers pay a malloc, the
 * workers do not. */
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

/* Every block starts with this header; 16 bytes keep the payload aligned for anything. */
typedef struct rpc_block {
    union {
        nn_qnode node;          /* on a return queue */
        struct rpc_block *next; /* on a free list */
    } link;
    uint32_t owner; /* worker index + 1; 0 = not pooled (malloc'd off the workers or big) */
    uint32_t cls;
} rpc_block;

_Static_assert(sizeof(rpc_block) == 16, "the block header keeps payloads 16-aligned");

#define SMALLEST_CLASS 64u
/* The cap per class bounds what an idle worker keeps: 256 KiB per class at most. */
#define CLASS_KEEP_BYTES (256u * 1024u)

static size_t class_bytes(uint32_t cls) {
    return (size_t)SMALLEST_CLASS << cls;
}

/* The class that holds `total` bytes, or NN_RPC_POOL_CLASSES when it is too big to pool. */
static uint32_t class_of(size_t total) {
    uint32_t cls = 0;
    while (cls < NN_RPC_POOL_CLASSES && class_bytes(cls) < total) {
        cls++;
    }
    return cls;
}

/* The pool of the calling thread when it is one of rpc's workers, else NULL. */
static rpc_pool *current_pool(nn_rpc *rpc, uint32_t *index) {
    nn_loop *loop = nn_loop_current();
    if (loop == NULL || nn_loop_server(loop) != rpc->srv) {
        return NULL;
    }
    uint32_t i = nn_loop_index(loop);
    if (i >= rpc->loop_count) {
        return NULL;
    }
    *index = i;
    return &rpc->loops[i].pool;
}

static void keep_or_free(rpc_pool *pool, rpc_block *b) {
    if (pool->free_count[b->cls] * class_bytes(b->cls) >= CLASS_KEEP_BYTES) {
        free(b);
        return;
    }
    b->link.next = pool->free[b->cls];
    pool->free[b->cls] = b;
    pool->free_count[b->cls]++;
}

static void drain_returns(rpc_pool *pool) {
    nn_qnode *node;
    while ((node = nn_mpsc_pop(&pool->returns)) != NULL) {
        keep_or_free(pool, (rpc_block *)node);
    }
}

void *nn_rpc_pool_alloc(nn_rpc *rpc, size_t size) {
    size_t total = size + sizeof(rpc_block);
    uint32_t cls = class_of(total);
    uint32_t index = 0;
    rpc_pool *pool = cls < NN_RPC_POOL_CLASSES ? current_pool(rpc, &index) : NULL;
    rpc_block *b = NULL;
    if (pool == NULL) {
        b = malloc(total);
        if (b == NULL) {
            return NULL;
        }
        b->owner = 0;
        b->cls = 0;
        return b + 1;
    }
    if (pool->free[cls] == NULL) {
        drain_returns(pool);
    }
    b = pool->free[cls];
    if (b != NULL) {
        pool->free[cls] = b->link.next;
        pool->free_count[cls]--;
        atomic_fetch_add_explicit(&pool->reused, 1, memory_order_relaxed);
    } else {
        b = malloc(class_bytes(cls));
        if (b == NULL) {
            return NULL;
        }
        b->owner = index + 1;
        b->cls = cls;
        atomic_fetch_add_explicit(&pool->fresh, 1, memory_order_relaxed);
    }
    return b + 1;
}

void *nn_rpc_pool_calloc(nn_rpc *rpc, size_t size) {
    void *p = nn_rpc_pool_alloc(rpc, size);
    if (p != NULL) {
        memset(p, 0, size);
    }
    return p;
}

void nn_rpc_pool_free(nn_rpc *rpc, void *ptr) {
    if (ptr == NULL) {
        return;
    }
    rpc_block *b = (rpc_block *)ptr - 1;
    if (b->owner == 0) {
        free(b);
        return;
    }
    uint32_t index = 0;
    rpc_pool *here = current_pool(rpc, &index);
    rpc_pool *owner = &rpc->loops[b->owner - 1].pool;
    if (here == owner) {
        keep_or_free(owner, b);
        return;
    }
    /* No wake-up: the owner looks at its returns when it next runs short. */
    nn_mpsc_push(&owner->returns, &b->link.node);
}

void nn_rpc_pool_init(rpc_pool *pool) {
    memset(pool, 0, sizeof(*pool));
    nn_mpsc_init(&pool->returns);
}

void nn_rpc_pool_destroy(rpc_pool *pool) {
    drain_returns(pool);
    for (uint32_t cls = 0; cls < NN_RPC_POOL_CLASSES; cls++) {
        while (pool->free[cls] != NULL) {
            rpc_block *b = pool->free[cls];
            pool->free[cls] = b->link.next;
            free(b);
        }
        pool->free_count[cls] = 0;
    }
}

void nn_rpc_pool_stats(nn_rpc *rpc, uint64_t *fresh, uint64_t *reused) {
    *fresh = 0;
    *reused = 0;
    for (uint32_t i = 0; i < rpc->loop_count; i++) {
        *fresh += atomic_load_explicit(&rpc->loops[i].pool.fresh, memory_order_relaxed);
        *reused += atomic_load_explicit(&rpc->loops[i].pool.reused, memory_order_relaxed);
    }
}
