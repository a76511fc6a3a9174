/* An intrusive MPSC queue after Dmitry Vyukov's design: producers exchange the head,
 * then link the previous head to their node; the single consumer walks from the tail. */
#include <stddef.h>

#include "net/net.h"

void nn_mpsc_init(nn_mpsc *q) {
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->head, &q->stub, memory_order_relaxed);
    q->tail = &q->stub;
}

void nn_mpsc_push(nn_mpsc *q, nn_qnode *node) {
    atomic_store_explicit(&node->next, NULL, memory_order_relaxed);
    nn_qnode *prev = atomic_exchange_explicit(&q->head, node, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, node, memory_order_release);
}

nn_qnode *nn_mpsc_pop(nn_mpsc *q) {
    nn_qnode *tail = q->tail;
    nn_qnode *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (next == NULL) {
            return NULL;
        }
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next != NULL) {
        q->tail = next;
        return tail;
    }
    nn_qnode *head = atomic_load_explicit(&q->head, memory_order_acquire);
    if (tail != head) {
        /* A producer swapped the head but has not linked it yet. */
        return NULL;
    }
    /* tail is the last node: put the stub behind it so that tail can be handed out. */
    nn_mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next != NULL) {
        q->tail = next;
        return tail;
    }
    return NULL;
}
