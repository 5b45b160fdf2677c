/* unit_timer_heap.c: the event loops' timer heap (src/core/timer_heap.h)
   on its own, with no loop, clock or thread: timers come out in due order
   whatever order they were scheduled in; a cancelled one never comes out,
   from any slot (first, last, middle, the only one); a rescheduled one
   comes out once, at its new time, earlier or later; timers due at the
   same time all come out; and many timers under a long random mix of the
   three operations agree with a brute-force model, the heap's shape and
   every timer's slot checked after each step. */
#include "unit.h"
#include "timer_heap.h"

#include <stdlib.h>
#include <string.h>

#define MANY 2000

static struct fm_timer *heap[MANY + 1];
static size_t len;
static struct fm_timer timers[MANY];

static uint64_t rng = 88172645463325252ull;
static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Every parent due no later than its children, every timer in the slot it
   believes it is in. */
static bool heap_ok(void)
{
    for (size_t i = 1; i <= len; i++) {
        if (heap[i]->heap_index != i)
            return false;
        if (i > 1 && heap[i / 2]->due > heap[i]->due)
            return false;
    }
    return true;
}

static void reset(void)
{
    len = 0;
    memset(heap, 0, sizeof(heap));
    memset(timers, 0, sizeof(timers));
}

static void schedule(struct fm_timer *t, uint64_t due)
{
    if (t->heap_index)
        fm_timer_heap_remove(heap, &len, t);
    t->due = due;
    fm_timer_heap_push(heap, &len, t);
}

static void cancel(struct fm_timer *t)
{
    if (t->heap_index)
        fm_timer_heap_remove(heap, &len, t);
}

/* The earliest timer out of the heap, as the loop's run_timers takes it. */
static struct fm_timer *pop(void)
{
    if (!len)
        return NULL;
    struct fm_timer *t = heap[1];
    fm_timer_heap_remove(heap, &len, t);
    return t;
}

static void test_order(void)
{
    reset();
    static const uint64_t dues[] = {50, 10, 40, 30, 20, 60, 0, 70, 5, 45};
    size_t n = sizeof(dues) / sizeof(dues[0]);
    for (size_t i = 0; i < n; i++) {
        schedule(&timers[i], dues[i]);
        EXPECT(heap_ok());
        EXPECT(timers[i].heap_index != 0);
    }
    EXPECT(len == n);
    uint64_t last = 0;
    for (size_t i = 0; i < n; i++) {
        struct fm_timer *t = pop();
        EXPECT(t && t->due >= last && t->heap_index == 0);
        last = t ? t->due : last;
        EXPECT(heap_ok());
    }
    EXPECT(len == 0 && pop() == NULL);
}

static void test_cancel(void)
{
    /* Cancel from each slot in turn of a heap of 7 (three full levels). */
    for (size_t victim = 1; victim <= 7; victim++) {
        reset();
        for (size_t i = 0; i < 7; i++)
            schedule(&timers[i], 10 * (i + 1));
        struct fm_timer *t = heap[victim];
        uint64_t gone = t->due;
        cancel(t);
        EXPECT(t->heap_index == 0 && len == 6 && heap_ok());
        cancel(t); /* twice: nothing more happens */
        EXPECT(len == 6 && heap_ok());
        uint64_t last = 0;
        struct fm_timer *p;
        while ((p = pop())) {
            EXPECT(p != t && p->due != gone && p->due >= last);
            last = p->due;
        }
    }
    /* The only timer. */
    reset();
    schedule(&timers[0], 5);
    cancel(&timers[0]);
    EXPECT(len == 0 && timers[0].heap_index == 0 && pop() == NULL);
    /* A cancelled timer can be scheduled again. */
    schedule(&timers[0], 7);
    EXPECT(len == 1 && pop() == &timers[0]);
}

static void test_reschedule(void)
{
    reset();
    for (size_t i = 0; i < 5; i++)
        schedule(&timers[i], 100 + i);
    /* Later: from first to last; earlier: from last to first. */
    schedule(&timers[0], 1000);
    EXPECT(len == 5 && heap_ok() && heap[1] != &timers[0]);
    schedule(&timers[4], 1);
    EXPECT(len == 5 && heap_ok() && heap[1] == &timers[4]);
    /* To the same time: still once. */
    schedule(&timers[2], 102);
    EXPECT(len == 5 && heap_ok());
    static const size_t want[] = {4, 1, 2, 3, 0};
    for (size_t i = 0; i < 5; i++)
        EXPECT(pop() == &timers[want[i]]);
    EXPECT(pop() == NULL);
}

static void test_equal_deadlines(void)
{
    reset();
    for (size_t i = 0; i < 100; i++)
        schedule(&timers[i], i % 2 ? 42 : 7);
    EXPECT(heap_ok());
    bool seen[100] = {false};
    for (size_t i = 0; i < 100; i++) {
        struct fm_timer *t = pop();
        if (!t) {
            unit_failures++;
            break;
        }
        size_t k = (size_t) (t - timers);
        EXPECT(!seen[k]);
        seen[k] = true;
        EXPECT(t->due == (i < 50 ? 7 : 42));
        EXPECT(heap_ok());
    }
    EXPECT(len == 0);
}

/* Many timers, a long random mix of schedule, reschedule, cancel and
   taking the earliest, against a model that keeps each timer's due time
   and finds the earliest by looking at all of them. */
static void test_many(void)
{
    reset();
    static uint64_t model[MANY]; /* due time, or UINT64_MAX: not scheduled */
    for (size_t i = 0; i < MANY; i++)
        model[i] = UINT64_MAX;
    size_t scheduled = 0;
    int bad = 0;
    for (long step = 0; step < 100000 && bad < 5; step++) {
        uint64_t r = next_random();
        size_t k = (size_t) (r % MANY);
        switch ((r >> 32) % 4) {
        case 0:
        case 1: { /* schedule or reschedule, on a coarse clock so ties happen */
            uint64_t due = (next_random() % 1000) * 10;
            if (model[k] == UINT64_MAX)
                scheduled++;
            schedule(&timers[k], due);
            model[k] = due;
            break;
        }
        case 2:
            if (model[k] != UINT64_MAX)
                scheduled--;
            cancel(&timers[k]);
            model[k] = UINT64_MAX;
            break;
        case 3: {
            uint64_t min = UINT64_MAX;
            for (size_t i = 0; i < MANY; i++)
                if (model[i] < min)
                    min = model[i];
            struct fm_timer *t = pop();
            if (min == UINT64_MAX) {
                if (t)
                    bad++;
                break;
            }
            size_t got = t ? (size_t) (t - timers) : 0;
            if (!t || t->due != min || model[got] != min) {
                bad++;
                break;
            }
            model[got] = UINT64_MAX;
            scheduled--;
            break;
        }
        }
        if (len != scheduled || (step % 997 == 0 && !heap_ok()))
            bad++;
    }
    EXPECT(bad == 0);
    EXPECT(heap_ok());
    /* Drain: what is left comes out in order, exactly the model's. */
    uint64_t last = 0;
    struct fm_timer *t;
    while ((t = pop())) {
        size_t k = (size_t) (t - timers);
        EXPECT(t->due >= last && model[k] == t->due);
        model[k] = UINT64_MAX;
        last = t->due;
    }
    size_t left = 0;
    for (size_t i = 0; i < MANY; i++)
        left += model[i] != UINT64_MAX;
    EXPECT(left == 0);
}

int main(void)
{
    test_order();
    test_cancel();
    test_reschedule();
    test_equal_deadlines();
    test_many();
    UNIT_DONE();
}
