/* timer_heap.h: the binary min-heap of timers that each event loop keeps,
   ordered by due time. Kept apart from loop.c so that it can be tested on
   its own (tests/unit/unit_timer_heap.c): it is pure, with no lock, clock
   or allocation; loop.c owns the array, its growth and the loop lock that
   guards it. The array is 1-based (slot 0 unused) and each timer knows its
   slot (heap_index, 0 when not in a heap), so a timer is removed from
   anywhere without a search. Timers due at the same time come out in no
   particular order. */
#ifndef FM_TIMER_HEAP_H
#define FM_TIMER_HEAP_H

#include "core.h"

#include <assert.h>

static inline void fm_timer_heap_set(struct fm_timer **heap, size_t i, struct fm_timer *t)
{
    heap[i] = t;
    t->heap_index = i;
}

static inline void fm_timer_heap_up(struct fm_timer **heap, size_t i)
{
    struct fm_timer *t = heap[i];
    while (i > 1 && heap[i / 2]->due > t->due) {
        fm_timer_heap_set(heap, i, heap[i / 2]);
        i /= 2;
    }
    fm_timer_heap_set(heap, i, t);
}

static inline void fm_timer_heap_down(struct fm_timer **heap, size_t len, size_t i)
{
    struct fm_timer *t = heap[i];
    for (;;) {
        size_t c = i * 2;
        if (c > len)
            break;
        if (c + 1 <= len && heap[c + 1]->due < heap[c]->due)
            c++;
        if (heap[c]->due >= t->due)
            break;
        fm_timer_heap_set(heap, i, heap[c]);
        i = c;
    }
    fm_timer_heap_set(heap, i, t);
}

/* Add t, which is in no heap; the array has room for slot *len + 1. */
static inline void fm_timer_heap_push(struct fm_timer **heap, size_t *len, struct fm_timer *t)
{
    assert(t->heap_index == 0);
    ++*len;
    fm_timer_heap_set(heap, *len, t);
    fm_timer_heap_up(heap, *len);
}

/* Take t, which is in this heap, out of it. */
static inline void fm_timer_heap_remove(struct fm_timer **heap, size_t *len, struct fm_timer *t)
{
    size_t i = t->heap_index;
    assert(i >= 1 && i <= *len && heap[i] == t);
    struct fm_timer *last = heap[(*len)--];
    t->heap_index = 0;
    if (last == t)
        return;
    fm_timer_heap_set(heap, i, last);
    fm_timer_heap_up(heap, i);
    fm_timer_heap_down(heap, *len, last->heap_index);
}

#endif
