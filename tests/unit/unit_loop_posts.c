/* unit_loop_posts.c: an event loop (src/core/loop.c) that is posted work
   without pause still gets to its descriptors and timers. A task that posts
   itself again every time it runs stands for a publisher whose connections
   post a flush as soon as their last one ran; while it runs, a timer due
   in 1 ms must fire, a readable descriptor's watch must be called, and
   fm_watch_del from another thread (which waits for the loop's current
   batch to end) must return. Before run_posts ran only what was queued
   when it started, none of the three ever happened. This one has the
   loop's own thread, so it waits on conditions (with a generous deadline)
   like the socket tests do, not on time. */
#include "unit.h"
#include "core.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 20000

static struct fm_loop *loop;
static atomic_bool reposting = true;
static atomic_long task_runs;
static atomic_bool timer_fired, watch_called;

static void repost(void *arg)
{
    atomic_fetch_add(&task_runs, 1);
    if (atomic_load(&reposting))
        fm_loop_post(loop, repost, arg);
}

static void on_timer(void *arg)
{
    (void) arg;
    atomic_store(&timer_fired, true);
}

static void on_readable(struct fm_watch *w, uint32_t ev)
{
    (void) ev;
    uint64_t v;
    if (read(w->fd, &v, sizeof(v)) == (ssize_t) sizeof(v))
        atomic_store(&watch_called, true);
}

static void pause_briefly(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

/* Polls a flag until it is set or the deadline passes. */
static bool wait_flag(atomic_bool *flag)
{
    for (int ms = 0; ms < DEADLINE_MS; ms++) {
        if (atomic_load(flag))
            return true;
        pause_briefly();
    }
    return false;
}

static bool wait_runs(long more_than)
{
    for (int ms = 0; ms < DEADLINE_MS; ms++) {
        if (atomic_load(&task_runs) > more_than)
            return true;
        pause_briefly();
    }
    return false;
}

int main(void)
{
    loop = fm_loop_pick();
    fm_loop_post(loop, repost, NULL);
    EXPECT(wait_runs(1000)); /* the loop is busy with it */

    struct fm_timer timer;
    fm_timer_init(&timer, loop, on_timer, NULL);
    fm_timer_schedule(&timer, 1);
    EXPECT(wait_flag(&timer_fired));

    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    EXPECT(efd >= 0);
    struct fm_watch watch;
    EXPECT(fm_watch_add(&watch, loop, efd, FM_EV_IN, on_readable, NULL) == 0);
    uint64_t one = 1;
    EXPECT(write(efd, &one, sizeof(one)) == (ssize_t) sizeof(one));
    EXPECT(wait_flag(&watch_called));

    /* Returns only once the batch it may overlap has ended. */
    fm_watch_del(&watch);
    close(efd);

    /* The task kept running all along: the loop shared its time. */
    long runs = atomic_load(&task_runs);
    EXPECT(wait_runs(runs));
    atomic_store(&reposting, false);
    fm_timer_cancel_sync(&timer);
    fm_loop_shutdown();
    UNIT_DONE();
}
