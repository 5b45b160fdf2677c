/* loop.c: the event loops. A small fixed pool of threads (FM_LOOP_THREADS,
   default one per online CPU but one, at least 1 and at most 4), each
   started on first use,
   each with its own epoll descriptor, eventfd for wake-ups, binary min-heap
   of timers and queue of posted work. An object (endpoint, connection,
   protocol instance) picks one loop when it is made and uses it for all of
   its watches, timers and posts, so everything of one object runs on one
   thread, in order, and needs no lock of its own against itself. Callbacks
   run with no lock of the loop held. This file is the only place that knows
   epoll; another POSIX system would provide its own copy of these
   functions. */
#include "core.h"
#include "timer_heap.h" /* the timers' min-heap, pure so that it is unit-tested */

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_EVENTS 64
#define LOOPS_MAX 64
#define LOOPS_DEFAULT_MAX 4

struct posted {
    void (*fn)(void *);
    void *arg;
};

struct fm_loop {
    struct fm_mutex lock;
    pthread_cond_t idle; /* signalled after each callback */
    pthread_t thread;
    int epfd;
    int wakefd;
    atomic_bool started;
    atomic_int watches;  /* registered descriptors: the load fm_loop_pick weighs */
    atomic_int reserved; /* picked for a watch not added yet: weighed too */
    bool stopping;
    struct fm_timer **heap; /* 1-based */
    size_t heap_len, heap_cap;
    struct posted *posts;     /* posts[posts_head, posts_len) wait to run */
    size_t posts_head, posts_len, posts_cap;
    bool sleeping;            /* in epoll_wait (set and read under lock) */
    bool woken;               /* and a post has written the wake-up already */
    struct epoll_event batch[MAX_EVENTS];
    int batch_len, batch_pos;
    uint64_t batch_seq;
    bool in_batch;
    const void *current; /* watch or timer whose callback runs now */
};

static struct {
    pthread_once_t once;
    pthread_mutex_t start_lock; /* starting and stopping threads */
    int count;
    atomic_uint next;           /* where fm_loop_pick starts looking */
    struct fm_loop loops[LOOPS_MAX];
} pool = {.once = PTHREAD_ONCE_INIT, .start_lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local struct fm_loop *self; /* the loop this thread runs */

static void *loop_main(void *arg);

/* The core's event words (core.h) and epoll's. */
static uint32_t to_epoll(uint32_t events)
{
    return ((events & FM_EV_IN) ? (uint32_t) EPOLLIN : 0) |
           ((events & FM_EV_OUT) ? (uint32_t) EPOLLOUT : 0) |
           ((events & FM_EV_RDHUP) ? (uint32_t) EPOLLRDHUP : 0);
}

static uint32_t from_epoll(uint32_t revents)
{
    return ((revents & EPOLLIN) ? FM_EV_IN : 0) | ((revents & EPOLLOUT) ? FM_EV_OUT : 0) |
           ((revents & EPOLLERR) ? FM_EV_ERR : 0) |
           ((revents & (EPOLLHUP | EPOLLRDHUP)) ? FM_EV_HUP : 0);
}

/* One loop per CPU but one, which the application's own threads need: a
   loop that shares its CPU with them, or with another loop, is preempted
   for whole scheduler slices, and every connection it serves waits that
   long (a REP server with 100 clients on two CPUs: p99 3.5 ms with two
   loops, 2.3 ms with one, at a higher rate). More than four rarely pays:
   the application's threads do the sending and most of the delivery
   themselves. The tests run the cross-loop paths with FM_LOOP_THREADS set. */
static void pool_init(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cpus < 3 ? 1 : cpus - 1 > LOOPS_DEFAULT_MAX ? LOOPS_DEFAULT_MAX : (int) cpus - 1;
    const char *env = getenv("FM_LOOP_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1)
            n = v > LOOPS_MAX ? LOOPS_MAX : (int) v;
    }
    pool.count = n;
    for (int i = 0; i < n; i++) {
        struct fm_loop *l = &pool.loops[i];
        fm_mutex_init(&l->lock);
        pthread_cond_init(&l->idle, NULL);
        l->epfd = l->wakefd = -1;
    }
}

static bool try_start(struct fm_loop *l);

struct fm_loop *fm_loop_pick(void)
{
    pthread_once(&pool.once, pool_init);
    /* The loop with the fewest descriptors, ties broken round robin so that
       timers-only objects spread too. */
    unsigned start = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed);
    struct fm_loop *best = NULL, *running = NULL;
    int best_load = 0;
    for (int k = 0; k < pool.count; k++) {
        struct fm_loop *l = &pool.loops[(start + (unsigned) k) % (unsigned) pool.count];
        int load = atomic_load_explicit(&l->watches, memory_order_relaxed) +
                   atomic_load_explicit(&l->reserved, memory_order_relaxed);
        if (!best || load < best_load) {
            best = l;
            best_load = load;
        }
        if (!running && atomic_load_explicit(&l->started, memory_order_acquire))
            running = l;
    }
    if (try_start(best))
        return best;
    if (running)
        return running; /* out of descriptors for another: share one */
    abort(); /* out of descriptors at library start: nothing can work */
}

struct fm_loop *fm_loop_pick_reserving(void)
{
    struct fm_loop *l = fm_loop_pick();
    atomic_fetch_add_explicit(&l->reserved, 1, memory_order_relaxed);
    return l;
}

void fm_loop_reserved_done(struct fm_loop *loop)
{
    atomic_fetch_sub_explicit(&loop->reserved, 1, memory_order_relaxed);
}

/* false when the descriptors or the thread cannot be had (a process at
   its descriptor limit): fm_loop_pick then takes a running loop. */
static bool loop_start(struct fm_loop *l)
{
    if (l->epfd < 0) {
        int epfd = epoll_create1(EPOLL_CLOEXEC);
        int wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (epfd < 0 || wakefd < 0) {
            if (epfd >= 0)
                close(epfd);
            if (wakefd >= 0)
                close(wakefd);
            return false;
        }
        l->epfd = epfd;
        l->wakefd = wakefd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev);
    }
    /* The loop threads take no signals: they belong to the application's
       threads, where a blocked nn_recv must see EINTR. All but a fault's
       own: one raised while blocked kills the process with no handler run,
       so a crash handler (or a sanitizer) would never report it. */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&l->thread, NULL, loop_main, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return false;
    atomic_store_explicit(&l->started, true, memory_order_release);
    return true;
}

static bool try_start(struct fm_loop *l)
{
    if (atomic_load_explicit(&l->started, memory_order_acquire))
        return true;
    pthread_mutex_lock(&pool.start_lock);
    bool ok = atomic_load_explicit(&l->started, memory_order_relaxed) || loop_start(l);
    pthread_mutex_unlock(&pool.start_lock);
    return ok;
}

static void ensure_started(struct fm_loop *l)
{
    if (!try_start(l))
        abort(); /* only fm_loop_pick hands out loops, and it starts them */
}

static bool on_loop_thread(const struct fm_loop *l) { return self == l; }

bool fm_loop_is_current(const struct fm_loop *l) { return on_loop_thread(l); }

static void wake(struct fm_loop *l)
{
    uint64_t one = 1;
    ssize_t n = write(l->wakefd, &one, sizeof(one));
    (void) n; /* EAGAIN means a wake-up is already pending */
}

void fm_timer_init(struct fm_timer *t, struct fm_loop *loop, void (*cb)(void *), void *arg)
{
    memset(t, 0, sizeof(*t));
    t->loop = loop;
    t->cb = cb;
    t->arg = arg;
}

void fm_timer_schedule(struct fm_timer *t, uint64_t delay_ms)
{
    struct fm_loop *l = t->loop;
    ensure_started(l);
    fm_mutex_lock(&l->lock);
    if (t->heap_index)
        fm_timer_heap_remove(l->heap, &l->heap_len, t);
    if (l->heap_len + 1 >= l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        struct fm_timer **h = realloc(l->heap, cap * sizeof(*h));
        if (!h) {
            fm_mutex_unlock(&l->lock);
            return; /* the timer stays unscheduled; callers re-arm on use */
        }
        l->heap = h;
        l->heap_cap = cap;
    }
    t->due = fm_now_ms() + delay_ms;
    fm_timer_heap_push(l->heap, &l->heap_len, t);
    bool earliest = l->heap[1] == t;
    fm_mutex_unlock(&l->lock);
    if (earliest && !on_loop_thread(l))
        wake(l);
}

void fm_timer_cancel(struct fm_timer *t)
{
    struct fm_loop *l = t->loop;
    fm_mutex_lock(&l->lock);
    if (t->heap_index)
        fm_timer_heap_remove(l->heap, &l->heap_len, t);
    fm_mutex_unlock(&l->lock);
}

void fm_timer_cancel_sync(struct fm_timer *t)
{
    struct fm_loop *l = t->loop;
    fm_mutex_lock(&l->lock);
    /* A callback running now may re-arm its timer: repeat until it is
       neither scheduled nor running. */
    do {
        if (t->heap_index)
            fm_timer_heap_remove(l->heap, &l->heap_len, t);
        if (on_loop_thread(l))
            break;
        while (l->current == t)
            fm_cond_wait(&l->idle, &l->lock);
    } while (t->heap_index);
    fm_mutex_unlock(&l->lock);
}

/* -------------------------------------------------------------- watches */
int fm_watch_add(struct fm_watch *w, struct fm_loop *loop, int fd, uint32_t events,
                 void (*cb)(struct fm_watch *, uint32_t), void *arg)
{
    ensure_started(loop);
    w->loop = loop;
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->arg = arg;
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = w};
    fm_mutex_lock(&loop->lock);
    int rc = epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
    w->registered = rc == 0;
    fm_mutex_unlock(&loop->lock);
    if (rc == 0)
        atomic_fetch_add_explicit(&loop->watches, 1, memory_order_relaxed);
    return rc == 0 ? 0 : -errno;
}

int fm_watch_set(struct fm_watch *w, uint32_t events)
{
    /* The common case on every send: nothing changes, so no loop lock. The
       caller serialises its own calls for w (a connection's lock). */
    if (__atomic_load_n(&w->events, __ATOMIC_ACQUIRE) == events)
        return 0;
    struct fm_loop *l = w->loop;
    fm_mutex_lock(&l->lock);
    int rc = 0;
    if (w->registered && w->events != events) {
        struct epoll_event ev = {.events = to_epoll(events), .data.ptr = w};
        rc = epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) == 0 ? 0 : -errno;
        if (rc == 0)
            __atomic_store_n(&w->events, events, __ATOMIC_RELEASE);
    }
    fm_mutex_unlock(&l->lock);
    return rc;
}

void fm_watch_del(struct fm_watch *w)
{
    struct fm_loop *l = w->loop;
    if (!l)
        return; /* never added */
    fm_mutex_lock(&l->lock);
    if (w->registered) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
        w->registered = false;
        atomic_fetch_sub_explicit(&l->watches, 1, memory_order_relaxed);
    }
    if (on_loop_thread(l)) {
        /* Events for w may still wait in the current batch. */
        for (int i = l->batch_pos; i < l->batch_len; i++)
            if (l->batch[i].data.ptr == w)
                l->batch[i].data.ptr = l; /* a tombstone */
    } else if (l->in_batch) {
        uint64_t seq = l->batch_seq;
        while (l->in_batch && l->batch_seq == seq)
            fm_cond_wait(&l->idle, &l->lock);
    }
    fm_mutex_unlock(&l->lock);
}

void fm_loop_post(struct fm_loop *l, void (*fn)(void *), void *arg)
{
    ensure_started(l);
    fm_mutex_lock(&l->lock);
    if (l->posts_len == l->posts_cap) {
        size_t cap = l->posts_cap ? l->posts_cap * 2 : 16;
        struct posted *p = realloc(l->posts, cap * sizeof(*p));
        if (!p) {
            fm_mutex_unlock(&l->lock);
            fn(arg); /* better late on this thread than never */
            return;
        }
        l->posts = p;
        l->posts_cap = cap;
    }
    l->posts[l->posts_len++] = (struct posted){fn, arg};
    /* One wake-up per sleep, however many posts: a loop that is not in
       epoll_wait sees the posts before it waits again (a fan-out posts to
       hundreds of connections of one loop per message). */
    bool need = l->sleeping && !l->woken;
    l->woken |= need;
    fm_mutex_unlock(&l->lock);
    if (need)
        wake(l);
}

/* Stops every running loop thread (from a thread that is not one of them);
   a later use starts them again. Nothing is lost: watches, timers and
   posts stay with their loop. */
void fm_loop_shutdown(void)
{
    FM_ASSERT(self == NULL); /* a loop cannot join itself */
    pthread_once(&pool.once, pool_init);
    pthread_mutex_lock(&pool.start_lock);
    for (int i = 0; i < pool.count; i++) {
        struct fm_loop *l = &pool.loops[i];
        if (!atomic_load(&l->started))
            continue;
        fm_mutex_lock(&l->lock);
        l->stopping = true;
        fm_mutex_unlock(&l->lock);
        wake(l);
        pthread_join(l->thread, NULL);
        l->stopping = false;
        atomic_store(&l->started, false);
    }
    pthread_mutex_unlock(&pool.start_lock);
}

/* ----------------------------------------------------------- the thread */
/* Loop thread only, lock held (dropped around each callback). Runs the
   posts queued when it is called; those posted meanwhile wait for the next
   turn, after the loop has polled its descriptors and run its timers. A
   publisher posts again as soon as its last post has run: drained to the
   end, the queue never emptied, and connections still in their handshake,
   timers and off-loop fm_watch_del waited for ever (PUB to 1,000 tcp
   subscribers: a few of them never got past the SP header). */
static void run_posts(struct fm_loop *l)
{
    FM_ASSERT_ON_LOOP(l);
    FM_ASSERT_LOCKED(&l->lock);
    size_t end = l->posts_len;
    while (l->posts_head < end) {
        struct posted p = l->posts[l->posts_head++];
        fm_mutex_unlock(&l->lock);
        p.fn(p.arg);
        fm_mutex_lock(&l->lock);
    }
    if (l->posts_len > end)
        memmove(l->posts, l->posts + end, (l->posts_len - end) * sizeof(*l->posts));
    l->posts_len -= end;
    l->posts_head = 0;
}

static void run_timers(struct fm_loop *l)
{
    FM_ASSERT_ON_LOOP(l);
    FM_ASSERT_LOCKED(&l->lock);
    uint64_t now = fm_now_ms();
    while (l->heap_len && l->heap[1]->due <= now) {
        struct fm_timer *t = l->heap[1];
        fm_timer_heap_remove(l->heap, &l->heap_len, t);
        l->current = t;
        fm_mutex_unlock(&l->lock);
        t->cb(t->arg);
        fm_mutex_lock(&l->lock);
        l->current = NULL;
        pthread_cond_broadcast(&l->idle);
    }
}

static void *loop_main(void *arg)
{
    struct fm_loop *l = arg;
    self = l;
    char name[16];
    snprintf(name, sizeof(name), "fm-loop-%d", (int) (l - pool.loops));
    pthread_setname_np(pthread_self(), name); /* for top -H, gdb, /proc */
    fm_mutex_lock(&l->lock);
    while (!l->stopping) {
        int timeout = -1;
        if (l->heap_len) {
            uint64_t now = fm_now_ms(), due = l->heap[1]->due;
            timeout = due <= now ? 0 : (int) (due - now > 60000 ? 60000 : due - now);
        }
        if (l->posts_len)
            timeout = 0;
        l->sleeping = true;
        fm_mutex_unlock(&l->lock);
        int n = epoll_wait(l->epfd, l->batch, MAX_EVENTS, timeout);
        fm_mutex_lock(&l->lock);
        l->sleeping = l->woken = false;
        l->in_batch = true;
        l->batch_len = n > 0 ? n : 0;
        for (l->batch_pos = 0; l->batch_pos < l->batch_len;) {
            struct epoll_event ev = l->batch[l->batch_pos++];
            if (ev.data.ptr == NULL) {
                uint64_t v;
                ssize_t r = read(l->wakefd, &v, sizeof(v));
                (void) r;
                continue;
            }
            if (ev.data.ptr == l)
                continue;
            struct fm_watch *w = ev.data.ptr;
            if (!w->registered)
                continue;
            l->current = w;
            fm_mutex_unlock(&l->lock);
            w->cb(w, from_epoll(ev.events));
            fm_mutex_lock(&l->lock);
            l->current = NULL;
        }
        l->batch_len = l->batch_pos = 0;
        run_posts(l);
        run_timers(l);
        l->in_batch = false;
        l->batch_seq++;
        pthread_cond_broadcast(&l->idle);
    }
    fm_mutex_unlock(&l->lock);
    self = NULL;
    return NULL;
}
