/* loop.c: the event loop. One background thread (started on first use)
   waits in epoll for file-descriptor watches, an eventfd for wake-ups, and
   the earliest timer of a binary min-heap. Callbacks run on that thread with
   no lock of the loop held. This file is the only place that knows epoll;
   another POSIX system would provide its own copy of these functions. */
#include "core.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_EVENTS 64

struct posted {
    void (*fn)(void *);
    void *arg;
};

static struct {
    pthread_once_t once;
    pthread_mutex_t lock;
    pthread_cond_t idle; /* signalled after each callback */
    pthread_t thread;
    int epfd;
    int wakefd;
    atomic_bool started;
    bool stopping;
    struct fm_timer **heap; /* 1-based */
    size_t heap_len, heap_cap;
    struct posted *posts;
    size_t posts_len, posts_cap;
    struct epoll_event batch[MAX_EVENTS];
    int batch_len, batch_pos;
    uint64_t batch_seq;
    bool in_batch;
    const void *current; /* watch or timer whose callback runs now */
} loop = {.once = PTHREAD_ONCE_INIT,
          .lock = PTHREAD_MUTEX_INITIALIZER,
          .idle = PTHREAD_COND_INITIALIZER};

static void *loop_main(void *arg);

static void loop_start(void)
{
    loop.epfd = epoll_create1(EPOLL_CLOEXEC);
    loop.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop.epfd < 0 || loop.wakefd < 0)
        abort(); /* out of descriptors at library start: nothing can work */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(loop.epfd, EPOLL_CTL_ADD, loop.wakefd, &ev);
    /* The loop thread takes no signals: they belong to the application's
       threads, where a blocked nn_recv must see EINTR. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&loop.thread, NULL, loop_main, NULL) != 0)
        abort();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    atomic_store(&loop.started, true);
}

static void ensure_started(void) { pthread_once(&loop.once, loop_start); }

static bool on_loop_thread(void)
{
    return atomic_load(&loop.started) && pthread_equal(pthread_self(), loop.thread);
}

static void wake(void)
{
    uint64_t one = 1;
    ssize_t n = write(loop.wakefd, &one, sizeof(one));
    (void) n; /* EAGAIN means a wake-up is already pending */
}

/* ---------------------------------------------------------------- heap */
static void heap_set(size_t i, struct fm_timer *t)
{
    loop.heap[i] = t;
    t->heap_index = i;
}

static void heap_up(size_t i)
{
    struct fm_timer *t = loop.heap[i];
    while (i > 1 && loop.heap[i / 2]->due > t->due) {
        heap_set(i, loop.heap[i / 2]);
        i /= 2;
    }
    heap_set(i, t);
}

static void heap_down(size_t i)
{
    struct fm_timer *t = loop.heap[i];
    for (;;) {
        size_t c = i * 2;
        if (c > loop.heap_len)
            break;
        if (c + 1 <= loop.heap_len && loop.heap[c + 1]->due < loop.heap[c]->due)
            c++;
        if (loop.heap[c]->due >= t->due)
            break;
        heap_set(i, loop.heap[c]);
        i = c;
    }
    heap_set(i, t);
}

static void heap_remove(struct fm_timer *t)
{
    size_t i = t->heap_index;
    struct fm_timer *last = loop.heap[loop.heap_len--];
    t->heap_index = 0;
    if (last == t)
        return;
    heap_set(i, last);
    heap_up(i);
    heap_down(last->heap_index);
}

void fm_timer_init(struct fm_timer *t, void (*cb)(void *), void *arg)
{
    memset(t, 0, sizeof(*t));
    t->cb = cb;
    t->arg = arg;
}

void fm_timer_schedule(struct fm_timer *t, uint64_t delay_ms)
{
    ensure_started();
    pthread_mutex_lock(&loop.lock);
    if (t->heap_index)
        heap_remove(t);
    if (loop.heap_len + 1 >= loop.heap_cap) {
        size_t cap = loop.heap_cap ? loop.heap_cap * 2 : 64;
        struct fm_timer **h = realloc(loop.heap, cap * sizeof(*h));
        if (!h) {
            pthread_mutex_unlock(&loop.lock);
            return; /* the timer stays unscheduled; callers re-arm on use */
        }
        loop.heap = h;
        loop.heap_cap = cap;
    }
    t->due = fm_now_ms() + delay_ms;
    loop.heap_len++;
    heap_set(loop.heap_len, t);
    heap_up(loop.heap_len);
    bool earliest = loop.heap[1] == t;
    pthread_mutex_unlock(&loop.lock);
    if (earliest && !on_loop_thread())
        wake();
}

void fm_timer_cancel(struct fm_timer *t)
{
    pthread_mutex_lock(&loop.lock);
    if (t->heap_index)
        heap_remove(t);
    pthread_mutex_unlock(&loop.lock);
}

void fm_timer_cancel_sync(struct fm_timer *t)
{
    pthread_mutex_lock(&loop.lock);
    /* A callback running now may re-arm its timer: repeat until it is
       neither scheduled nor running. */
    do {
        if (t->heap_index)
            heap_remove(t);
        if (on_loop_thread())
            break;
        while (loop.current == t)
            pthread_cond_wait(&loop.idle, &loop.lock);
    } while (t->heap_index);
    pthread_mutex_unlock(&loop.lock);
}

/* -------------------------------------------------------------- watches */
int fm_watch_add(struct fm_watch *w, int fd, uint32_t events,
                 void (*cb)(struct fm_watch *, uint32_t), void *arg)
{
    ensure_started();
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->arg = arg;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    pthread_mutex_lock(&loop.lock);
    int rc = epoll_ctl(loop.epfd, EPOLL_CTL_ADD, fd, &ev);
    w->registered = rc == 0;
    pthread_mutex_unlock(&loop.lock);
    return rc == 0 ? 0 : -errno;
}

int fm_watch_set(struct fm_watch *w, uint32_t events)
{
    /* The common case on every send: nothing changes, so no loop lock. The
       caller serialises its own calls for w (a connection's lock). */
    if (__atomic_load_n(&w->events, __ATOMIC_ACQUIRE) == events)
        return 0;
    pthread_mutex_lock(&loop.lock);
    int rc = 0;
    if (w->registered && w->events != events) {
        struct epoll_event ev = {.events = events, .data.ptr = w};
        rc = epoll_ctl(loop.epfd, EPOLL_CTL_MOD, w->fd, &ev) == 0 ? 0 : -errno;
        if (rc == 0)
            __atomic_store_n(&w->events, events, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&loop.lock);
    return rc;
}

void fm_watch_del(struct fm_watch *w)
{
    pthread_mutex_lock(&loop.lock);
    if (w->registered) {
        epoll_ctl(loop.epfd, EPOLL_CTL_DEL, w->fd, NULL);
        w->registered = false;
    }
    if (on_loop_thread()) {
        /* Events for w may still wait in the current batch. */
        for (int i = loop.batch_pos; i < loop.batch_len; i++)
            if (loop.batch[i].data.ptr == w)
                loop.batch[i].data.ptr = &loop; /* a tombstone */
    } else if (loop.in_batch) {
        uint64_t seq = loop.batch_seq;
        while (loop.in_batch && loop.batch_seq == seq)
            pthread_cond_wait(&loop.idle, &loop.lock);
    }
    pthread_mutex_unlock(&loop.lock);
}

void fm_loop_post(void (*fn)(void *), void *arg)
{
    ensure_started();
    pthread_mutex_lock(&loop.lock);
    if (loop.posts_len == loop.posts_cap) {
        size_t cap = loop.posts_cap ? loop.posts_cap * 2 : 16;
        struct posted *p = realloc(loop.posts, cap * sizeof(*p));
        if (!p) {
            pthread_mutex_unlock(&loop.lock);
            fn(arg); /* better late on this thread than never */
            return;
        }
        loop.posts = p;
        loop.posts_cap = cap;
    }
    loop.posts[loop.posts_len++] = (struct posted){fn, arg};
    pthread_mutex_unlock(&loop.lock);
    wake();
}

void fm_loop_shutdown(void)
{
    if (!atomic_load(&loop.started))
        return;
    pthread_mutex_lock(&loop.lock);
    loop.stopping = true;
    pthread_mutex_unlock(&loop.lock);
    wake();
    pthread_join(loop.thread, NULL);
}

/* ----------------------------------------------------------- the thread */
static void run_posts(void)
{
    while (loop.posts_len) {
        struct posted p = loop.posts[0];
        memmove(loop.posts, loop.posts + 1, --loop.posts_len * sizeof(*loop.posts));
        pthread_mutex_unlock(&loop.lock);
        p.fn(p.arg);
        pthread_mutex_lock(&loop.lock);
    }
}

static void run_timers(void)
{
    uint64_t now = fm_now_ms();
    while (loop.heap_len && loop.heap[1]->due <= now) {
        struct fm_timer *t = loop.heap[1];
        heap_remove(t);
        loop.current = t;
        pthread_mutex_unlock(&loop.lock);
        t->cb(t->arg);
        pthread_mutex_lock(&loop.lock);
        loop.current = NULL;
        pthread_cond_broadcast(&loop.idle);
    }
}

static void *loop_main(void *arg)
{
    (void) arg;
    pthread_mutex_lock(&loop.lock);
    while (!loop.stopping) {
        int timeout = -1;
        if (loop.heap_len) {
            uint64_t now = fm_now_ms(), due = loop.heap[1]->due;
            timeout = due <= now ? 0 : (int) (due - now > 60000 ? 60000 : due - now);
        }
        if (loop.posts_len)
            timeout = 0;
        pthread_mutex_unlock(&loop.lock);
        int n = epoll_wait(loop.epfd, loop.batch, MAX_EVENTS, timeout);
        pthread_mutex_lock(&loop.lock);
        loop.in_batch = true;
        loop.batch_len = n > 0 ? n : 0;
        for (loop.batch_pos = 0; loop.batch_pos < loop.batch_len;) {
            struct epoll_event ev = loop.batch[loop.batch_pos++];
            if (ev.data.ptr == NULL) {
                uint64_t v;
                ssize_t r = read(loop.wakefd, &v, sizeof(v));
                (void) r;
                continue;
            }
            if (ev.data.ptr == &loop)
                continue;
            struct fm_watch *w = ev.data.ptr;
            if (!w->registered)
                continue;
            loop.current = w;
            pthread_mutex_unlock(&loop.lock);
            w->cb(w, ev.events);
            pthread_mutex_lock(&loop.lock);
            loop.current = NULL;
        }
        loop.batch_len = loop.batch_pos = 0;
        run_posts();
        run_timers();
        loop.in_batch = false;
        loop.batch_seq++;
        pthread_cond_broadcast(&loop.idle);
    }
    pthread_mutex_unlock(&loop.lock);
    return NULL;
}
