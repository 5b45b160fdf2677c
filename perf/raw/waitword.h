/* waitword.h: how the in-process baselines wait for the other thread: spin
   briefly (the peer usually answers within microseconds), yielding the CPU
   now and then in case the peer waits for it (an oversubscribed machine),
   then sleep in the kernel on the word itself (futex). The waker makes the
   futex call only when the waiter announced it sleeps. One waiter per
   word. */
#ifndef PERF_WAITWORD_H
#define PERF_WAITWORD_H

#include "../common.h"

#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WAITWORD_SPIN_NS 50000

struct waitword {
    _Alignas(64) atomic_uint value;
    atomic_uint sleeping;
};

static inline void ww_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Wait until done(value) holds. */
static inline unsigned ww_wait(struct waitword *w, int (*done)(unsigned v, void *arg), void *arg)
{
    uint64_t t0 = 0;
    for (unsigned i = 0;; i++) {
        unsigned v = atomic_load_explicit(&w->value, memory_order_acquire);
        if (done(v, arg))
            return v;
        ww_relax();
        if ((i & 63) == 63) {
            sched_yield();
            uint64_t now = perf_now_ns();
            if (!t0)
                t0 = now;
            else if (now - t0 > WAITWORD_SPIN_NS)
                break;
        }
    }
    for (;;) {
        atomic_store(&w->sleeping, 1);
        unsigned v = atomic_load(&w->value);
        if (done(v, arg)) {
            atomic_store(&w->sleeping, 0);
            return v;
        }
        syscall(SYS_futex, &w->value, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
        atomic_store(&w->sleeping, 0);
    }
}

static inline void ww_set(struct waitword *w, unsigned v)
{
    atomic_store(&w->value, v);
    if (atomic_load(&w->sleeping))
        syscall(SYS_futex, &w->value, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

#endif
