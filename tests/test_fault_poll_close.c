/* test_fault_poll_close.c: nn_close while nn_poll or nn_device in another
   thread holds the socket's descriptor numbers, and new descriptors are
   opened right after the close (plain eventfds: the kernel hands out the
   lowest free numbers, so they take those of the closed socket, while no
   socket id is reused), as any other thread of a program may do at any
   time. A call that waits on a number it read before the close would then
   wait on a descriptor nothing signals: it must instead notice the close
   and return.
     - nn_poll: two threads poll a busy socket (a peer keeps sending, so
       they loop through nn_poll all the time) with no timeout;
     - nn_device: a device is started on two raw sockets and they are
       closed at once, while it may still be looking up their descriptors.
   A call still running 10 s after the close is reported as a hang and the
   test aborts (a core shows where). FM_SOAK=1: ten times the rounds. */
#include "testutil.h"

#include <nanomsg/pair.h>
#include <nanomsg/reqrep.h>

#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <stdbool.h>

struct call {
    int kind; /* 0 nn_poll loop, 1 busy sender, 2 nn_device */
    int s, s2;
    atomic_int started;
    int rc, err;
    pthread_t th;
};

static void *call_main(void *arg)
{
    struct call *c = arg;
    char buf[16];
    atomic_store(&c->started, 1);
    errno = 0;
    if (c->kind == 0) {
        struct nn_pollfd pf = {.fd = c->s, .events = NN_POLLIN};
        for (;;) {
            c->rc = nn_poll(&pf, 1, -1);
            if (c->rc < 0 || (nn_recv(c->s, buf, sizeof(buf), NN_DONTWAIT) < 0 && errno == EBADF))
                break;
        }
    } else if (c->kind == 1) {
        while ((c->rc = nn_send(c->s, "x", 1, NN_DONTWAIT)) >= 0 || errno == EAGAIN)
            ;
    } else {
        c->rc = nn_device(c->s, c->s2);
    }
    c->err = errno;
    return NULL;
}

static void start(struct call *c, int kind, int s, int s2)
{
    c->kind = kind;
    c->s = s;
    c->s2 = s2;
    atomic_init(&c->started, 0);
    CHECK(pthread_create(&c->th, NULL, call_main, c) == 0);
}

static void join_all(struct call *c, int n, const char *what, long round)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += 10;
    for (int i = 0; i < n; i++)
        if (pthread_timedjoin_np(c[i].th, NULL, &end) != 0) {
            fprintf(stderr,
                    "HANG (round %ld): %s still running 10 s after nn_close of its socket; "
                    "new descriptors had taken its socket's descriptor numbers\n",
                    round, what);
            abort();
        }
}

static void fresh_fds(int *fresh, int n)
{
    for (int i = 0; i < n; i++)
        fresh[i] = eventfd(0, EFD_CLOEXEC);
}

static void close_fds(const int *fd, int n)
{
    for (int i = 0; i < n; i++)
        if (fd[i] >= 0)
            close(fd[i]);
}

static void poll_round(long round, unsigned x)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "inproc://poll-close-%ld", round);
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    CHECK(nn_bind(a, addr) >= 0 && nn_connect(b, addr) >= 0);
    struct call c[3];
    start(&c[0], 0, a, -1);
    start(&c[1], 0, a, -1);
    start(&c[2], 1, b, -1);
    for (int i = 0; i < 3; i++)
        while (!atomic_load(&c[i].started))
            sched_yield();
    struct timespec ts = {0, (long) (x % 500) * 1000};
    nanosleep(&ts, NULL); /* a random moment */
    CHECK(nn_close(a) == 0);
    int fresh[4];
    fresh_fds(fresh, 4);
    CHECK(nn_close(b) == 0);
    join_all(c, 3, "nn_poll", round);
    close_fds(fresh, 4);
}

static void device_round(long round, unsigned x)
{
    int r1 = nn_socket(AF_SP_RAW, NN_REP), r2 = nn_socket(AF_SP_RAW, NN_REQ);
    struct call c[1];
    start(&c[0], 2, r1, r2);
    if (x % 2)
        while (!atomic_load(&c[0].started))
            sched_yield();
    CHECK(nn_close(r1) == 0);
    CHECK(nn_close(r2) == 0);
    int fresh[4];
    fresh_fds(fresh, 4);
    join_all(c, 1, "nn_device", round);
    if (c[0].rc != -1 || c[0].err != EBADF)
        fprintf(stderr, "nn_device returned %d, errno %d (%s)\n", c[0].rc, c[0].err,
                nn_strerror(c[0].err));
    CHECK(c[0].rc == -1 && c[0].err == EBADF);
    close_fds(fresh, 4);
}

int main(void)
{
    long rounds = soak() ? 20000 : 2000;
    /* A poll round waits for its pollers to leave: slow under sanitizers. */
    long poll_rounds = soak() ? 10000 : under_sanitizer() ? 300 : 1000;
    unsigned rng = 12345;
    double t0 = tu_now();
    for (long i = 0; i < rounds; i++) {
        rng = rng * 1103515245u + 12345u;
        device_round(i, rng >> 8);
    }
    double t1 = tu_now();
    printf("  %ld nn_device rounds (%.1f s): every call returned\n", rounds, t1 - t0);
    fflush(stdout);
    for (long i = 0; i < poll_rounds; i++) {
        rng = rng * 1103515245u + 12345u;
        poll_round(i, rng >> 8);
    }
    printf("  %ld nn_poll rounds (%.1f s): every call returned\n", poll_rounds, tu_now() - t1);
    TEST_DONE();
}
