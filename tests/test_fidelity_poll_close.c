/* test_fidelity_poll_close.c: nn_poll(3) on a socket that another thread
   closes while nn_poll waits on it. The page promises that such a socket
   is reported ready in each direction asked for (the next call on it then
   fails with EBADF); nn_poll must never return 0, which says "timed out"
   and means nothing to a caller that waits without limit.
     - deterministic rounds: the poller is seen inside the poll system
       call before nn_close, so the result must be 1 with revents equal to
       the events asked for;
     - racing rounds (thousands): nn_close at a random moment; the poller
       either got in first (1, revents as asked) or found the socket gone
       (-1 EBADF); never 0, never a hang;
     - two sockets, one closed: only the closed one is reported.
   FM_SOAK=1: ten times the rounds. */
#include "test_api_util.h"

#include <stdbool.h>

struct poller {
    int s;
    short events;
    atomic_int tid;
    atomic_int done;
    int rc, err;
    short revents;
    pthread_t th;
};

static void *poll_main(void *arg)
{
    struct poller *p = arg;
    struct nn_pollfd pf = {.fd = p->s, .events = p->events};
    atomic_store(&p->tid, (int) ta_gettid());
    errno = 0;
    p->rc = nn_poll(&pf, 1, -1);
    p->err = errno;
    p->revents = pf.revents;
    atomic_store(&p->done, 1);
    return NULL;
}

/* True when thread tid is inside poll() or ppoll() right now. */
static bool in_poll_syscall(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int) tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    long nr = -1;
    int n = fscanf(f, "%ld", &nr);
    fclose(f);
    return n == 1 && (nr == SYS_poll || nr == SYS_ppoll);
}

/* Join within 10 s or report the hang and abort (a core shows where). */
static void join_or_abort(struct poller *p, long round)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += 10;
    if (pthread_timedjoin_np(p->th, NULL, &end) != 0) {
        fprintf(stderr, "HANG (round %ld): nn_poll still waiting 10 s after nn_close\n", round);
        abort();
    }
}

static const short event_sets[] = {NN_POLLIN, NN_POLLOUT, NN_POLLIN | NN_POLLOUT};

/* One round; returns 1 when the poller was inside nn_poll at the close
   (ready reported), 0 when the close came first (EBADF). */
static int round_close(long round, bool wait_inside, unsigned x)
{
    struct poller p = {.events = event_sets[x % 3]};
    /* An unconnected PAIR: neither direction is ever ready by itself. */
    p.s = nn_socket(AF_SP, NN_PAIR);
    CHECK(p.s >= 0);
    atomic_init(&p.tid, 0);
    atomic_init(&p.done, 0);
    CHECK(pthread_create(&p.th, NULL, poll_main, &p) == 0);
    if (wait_inside) {
        bool inside = WAIT_FOR(atomic_load(&p.tid) && in_poll_syscall(atomic_load(&p.tid)), 10);
        CHECK(inside);
    } else {
        while (!atomic_load(&p.tid))
            sched_yield();
        for (unsigned i = 0; i < (x >> 4) % 2000; i++)
            __asm__ __volatile__("" ::: "memory");
    }
    CHECK(nn_close(p.s) == 0);
    join_or_abort(&p, round);
    if (p.rc == 1) {
        if (p.revents != p.events)
            fprintf(stderr, "round %ld: asked %d, revents %d\n", round, p.events, p.revents);
        CHECK(p.revents == p.events);
        return 1;
    }
    if (wait_inside || p.rc != -1 || p.err != EBADF)
        fprintf(stderr, "round %ld (%s): nn_poll returned %d, errno %d (%s), revents %d\n",
                round, wait_inside ? "poller inside" : "racing", p.rc, p.err,
                nn_strerror(p.err), p.revents);
    CHECK(!wait_inside && p.rc == -1 && p.err == EBADF);
    return 0;
}

struct two {
    int a, b;
    atomic_int tid;
    int rc;
    struct nn_pollfd pf[2];
};

static void *poll_two(void *arg)
{
    struct two *t = arg;
    atomic_store(&t->tid, (int) ta_gettid());
    t->rc = nn_poll(t->pf, 2, -1);
    return NULL;
}

/* Of two polled sockets, only the closed one is reported. */
static void two_sockets(void)
{
    struct two t;
    t.a = nn_socket(AF_SP, NN_PAIR);
    t.b = nn_socket(AF_SP, NN_PAIR);
    atomic_init(&t.tid, 0);
    t.pf[0] = (struct nn_pollfd){.fd = t.a, .events = NN_POLLIN | NN_POLLOUT};
    t.pf[1] = (struct nn_pollfd){.fd = t.b, .events = NN_POLLIN};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, poll_two, &t) == 0);
    CHECK(WAIT_FOR(atomic_load(&t.tid) && in_poll_syscall(atomic_load(&t.tid)), 10));
    CHECK(nn_close(t.b) == 0);
    struct poller fake = {.th = th};
    join_or_abort(&fake, -1);
    CHECK(t.rc == 1);
    CHECK(t.pf[0].revents == 0);
    CHECK(t.pf[1].revents == NN_POLLIN);
    char buf[4];
    CHECK_ERR(nn_recv(t.b, buf, sizeof(buf), NN_DONTWAIT), EBADF);
    CHECK(nn_close(t.a) == 0);
}

int main(void)
{
    long deterministic = soak() ? 2000 : 200;
    long racing = soak() ? 30000 : 3000;
    unsigned rng = 4242;
    for (long i = 0; i < deterministic; i++) {
        rng = rng * 1103515245u + 12345u;
        round_close(i, true, rng >> 8);
    }
    long inside = 0;
    for (long i = 0; i < racing; i++) {
        rng = rng * 1103515245u + 12345u;
        inside += round_close(deterministic + i, false, rng >> 8);
    }
    printf("  %ld rounds with the poller inside nn_poll, %ld racing (%ld of them "
           "inside at the close): never 0, never a hang\n",
           deterministic, racing, inside);
    two_sockets();
    TEST_DONE();
}
