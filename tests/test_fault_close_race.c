/* test_fault_close_race.c: nn_close racing with nn_send, nn_recv, nn_poll
   and nn_device in other threads, thousands of times, over inproc and tcp.
   Each round builds a few connected sockets, starts threads that block in
   (or busily loop on) the calls, and closes the sockets from the main
   thread at a random moment: before the threads got going, while they
   block, or in the middle of traffic. Every call must return (a thread
   that has not returned within 10 s is a hang: the test reports it and
   aborts rather than wait forever), with EBADF once its socket is gone
   (nn_poll may instead report the socket readable or nothing), and
   nothing may crash; ASan/TSan builds check the rest. Blocking calls here
   have no timeout: a lost wake-up shows as a hang. FM_SOAK=1: ten times
   the rounds. nn_term races are in test_fault_term_race.c; a closed
   socket's descriptor numbers handed to new sockets while nn_poll or
   nn_device still hold them, in test_fault_poll_close.c. */
#include "testutil.h"

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/reqrep.h>

#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_THREADS 6
#define MAX_SOCKS 6

enum op { OP_RECV, OP_SEND, OP_POLL_IN, OP_POLL_OUT, OP_DEVICE, OP_BUSY_SEND, OP_BUSY_RECV };
static const char *const op_names[] = {"nn_recv",     "nn_send",      "nn_poll(IN)", "nn_poll(OUT)",
                                       "nn_device",   "busy nn_send", "busy nn_recv"};

struct call {
    enum op op;
    int s, s2;
    atomic_int started, done;
    int rc, err;
    pthread_t th;
};

struct round {
    int socks[MAX_SOCKS];
    int nsocks;
    struct call calls[MAX_THREADS];
    int ncalls;
};

static atomic_long returned_ebadf, returned_other, poll_returns;

static void *call_main(void *arg)
{
    struct call *c = arg;
    char buf[64];
    atomic_store(&c->started, 1);
    errno = 0;
    switch (c->op) {
    case OP_RECV:
        /* Whatever arrives is taken; then it blocks until the close. */
        while ((c->rc = nn_recv(c->s, buf, sizeof(buf), 0)) >= 0)
            ;
        break;
    case OP_SEND:
        /* Until it blocks (the peer does not read) and then fails. */
        while ((c->rc = nn_send(c->s, "0123456789abcdef", 16, 0)) >= 0)
            ;
        break;
    case OP_POLL_IN:
    case OP_POLL_OUT: {
        /* Again and again until the socket is gone. */
        struct nn_pollfd pf = {.fd = c->s, .events = c->op == OP_POLL_IN ? NN_POLLIN : NN_POLLOUT};
        for (;;) {
            c->rc = nn_poll(&pf, 1, -1);
            atomic_fetch_add(&poll_returns, 1);
            if (c->rc < 0)
                break;
            if (c->rc > 0 && c->op == OP_POLL_IN &&
                nn_recv(c->s, buf, sizeof(buf), NN_DONTWAIT) < 0 && errno == EBADF)
                break;
            if (c->rc > 0 && c->op == OP_POLL_OUT &&
                nn_send(c->s, "p", 1, NN_DONTWAIT) < 0 && errno == EBADF)
                break;
        }
        break;
    }
    case OP_DEVICE:
        c->rc = nn_device(c->s, c->s2);
        break;
    case OP_BUSY_SEND:
        while ((c->rc = nn_send(c->s, "busy", 4, NN_DONTWAIT)) >= 0 || errno == EAGAIN)
            ;
        break;
    case OP_BUSY_RECV:
        while ((c->rc = nn_recv(c->s, buf, sizeof(buf), NN_DONTWAIT)) >= 0 || errno == EAGAIN)
            ;
        break;
    }
    c->err = errno;
    atomic_store(&c->done, 1);
    return NULL;
}

static void start(struct round *r, enum op op, int s, int s2)
{
    struct call *c = &r->calls[r->ncalls++];
    c->op = op;
    c->s = s;
    c->s2 = s2;
    atomic_init(&c->started, 0);
    atomic_init(&c->done, 0);
    CHECK(pthread_create(&c->th, NULL, call_main, c) == 0);
}

static int sock(struct round *r, int domain, int type)
{
    int s = nn_socket(domain, type);
    CHECK(s >= 0);
    r->socks[r->nsocks++] = s;
    int zero = 0;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &zero, sizeof(zero));
    return s;
}

/* Addresses: inproc names are unique per round; tcp reuses one port per
   endpoint slot (our listener is closed before the next round binds). */
static int tcp_port[2];
static void addr_of(char *addr, bool tcp, int slot, long round)
{
    if (tcp)
        snprintf(addr, NN_SOCKADDR_MAX, "tcp://127.0.0.1:%d", tcp_port[slot]);
    else
        snprintf(addr, NN_SOCKADDR_MAX, "inproc://close-race-%ld-%d", round, slot);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(in);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *) &in, sizeof(in)) == 0 &&
        getsockname(fd, (struct sockaddr *) &in, &len) == 0)
        port = ntohs(in.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int bind_slot(int s, bool tcp, int slot, long round)
{
    char addr[NN_SOCKADDR_MAX];
    for (int tries = 0; tries < 50; tries++) {
        addr_of(addr, tcp, slot, round);
        int eid = nn_bind(s, addr);
        if (eid >= 0 || !tcp || errno != EADDRINUSE)
            return eid;
        tcp_port[slot] = free_port(); /* someone else took it: move on */
    }
    return -1;
}

static void link_socks(int b, int c, bool tcp, int slot, long round)
{
    char addr[NN_SOCKADDR_MAX];
    CHECK(bind_slot(b, tcp, slot, round) >= 0);
    addr_of(addr, tcp, slot, round);
    CHECK(nn_connect(c, addr) >= 0);
}

/* Build one of the scenarios. */
static void setup(struct round *r, int kind, bool tcp, long n)
{
    switch (kind) {
    case 0: { /* blocked receivers and pollers on both ends of a pair */
        int a = sock(r, AF_SP, NN_PAIR), b = sock(r, AF_SP, NN_PAIR);
        link_socks(a, b, tcp, 0, n);
        start(r, OP_RECV, a, -1);
        start(r, OP_RECV, b, -1);
        start(r, OP_POLL_IN, a, -1);
        start(r, OP_POLL_IN, b, -1);
        break;
    }
    case 1: { /* blocked senders: a PUSH with nobody pulling, a pair whose
                 other end never reads, and a poller for room */
        int lone = sock(r, AF_SP, NN_PUSH);
        int a = sock(r, AF_SP, NN_PAIR), b = sock(r, AF_SP, NN_PAIR);
        int small = 1024;
        nn_setsockopt(a, NN_SOL_SOCKET, NN_SNDBUF, &small, sizeof(small));
        nn_setsockopt(b, NN_SOL_SOCKET, NN_RCVBUF, &small, sizeof(small));
        link_socks(b, a, tcp, 0, n);
        start(r, OP_SEND, lone, -1);
        start(r, OP_SEND, a, -1);
        start(r, OP_POLL_OUT, a, -1);
        break;
    }
    case 2: { /* a device between raw REP and raw REQ, with traffic */
        int front = sock(r, AF_SP_RAW, NN_REP), back = sock(r, AF_SP_RAW, NN_REQ);
        int req = sock(r, AF_SP, NN_REQ), rep = sock(r, AF_SP, NN_REP);
        link_socks(front, req, tcp, 0, n);
        link_socks(back, rep, tcp, 1, n);
        start(r, OP_DEVICE, front, back);
        start(r, OP_RECV, rep, -1);
        nn_send(req, "through", 7, NN_DONTWAIT);
        start(r, OP_RECV, req, -1);
        break;
    }
    case 3: { /* busy traffic both ways while the sockets go */
        int a = sock(r, AF_SP, NN_PAIR), b = sock(r, AF_SP, NN_PAIR);
        link_socks(a, b, tcp, 0, n);
        start(r, OP_BUSY_SEND, a, -1);
        start(r, OP_BUSY_RECV, b, -1);
        start(r, OP_BUSY_SEND, b, -1);
        start(r, OP_BUSY_RECV, a, -1);
        break;
    }
    case 4: { /* a device on one raw socket looping back, and a pipeline */
        int bus = sock(r, AF_SP_RAW, NN_PAIR), peer = sock(r, AF_SP, NN_PAIR);
        int push = sock(r, AF_SP, NN_PUSH), pull = sock(r, AF_SP, NN_PULL);
        link_socks(bus, peer, tcp, 0, n);
        link_socks(pull, push, tcp, 1, n);
        start(r, OP_DEVICE, bus, -1);
        start(r, OP_BUSY_SEND, peer, -1);
        start(r, OP_BUSY_SEND, push, -1);
        start(r, OP_RECV, pull, -1);
        start(r, OP_POLL_IN, pull, -1);
        break;
    }
    }
}

static void finish(struct round *r, int kind, bool tcp)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += 10;
    for (int i = 0; i < r->ncalls; i++) {
        struct call *c = &r->calls[i];
        if (pthread_timedjoin_np(c->th, NULL, &end) != 0) {
            fprintf(stderr,
                    "HANG: %s on socket %d (scenario %d, %s) did not return 10 s after "
                    "nn_close\n",
                    op_names[c->op], c->s, kind, tcp ? "tcp" : "inproc");
            abort(); /* a core dump shows where it is stuck */
        }
        bool poll_op = c->op == OP_POLL_IN || c->op == OP_POLL_OUT;
        if (c->rc == -1 && c->err == EBADF)
            atomic_fetch_add(&returned_ebadf, 1);
        else {
            atomic_fetch_add(&returned_other, 1);
            if (!poll_op) {
                fprintf(stderr, "%s on a closed socket returned %d, errno %d (%s)\n",
                        op_names[c->op], c->rc, c->err, nn_strerror(c->err));
                CHECK(!"call on a closed socket did not fail with EBADF");
            }
        }
    }
}

static void one_round(long n, unsigned *rng, bool tcp)
{
    struct round r;
    memset(&r, 0, sizeof(r));
    *rng = *rng * 1103515245u + 12345u;
    unsigned x = *rng >> 8;
    int kind = (int) (x % 5);
    setup(&r, kind, tcp, n);
    /* When to close: at once, once every thread runs, or a little later. */
    switch ((x >> 4) % 4) {
    case 0:
        break;
    case 1:
        for (int i = 0; i < r.ncalls; i++)
            while (!atomic_load(&r.calls[i].started))
                sched_yield();
        break;
    default: {
        for (int i = 0; i < r.ncalls; i++)
            while (!atomic_load(&r.calls[i].started))
                sched_yield();
        struct timespec ts = {0, (long) ((x >> 8) % 2000) * 1000};
        nanosleep(&ts, NULL); /* a random moment, not a synchronisation */
        break;
    }
    }
    /* Close in a random order. */
    for (int i = r.nsocks - 1; i > 0; i--) {
        int j = (int) ((x >> (i + 10)) % (unsigned) (i + 1));
        int t = r.socks[i];
        r.socks[i] = r.socks[j];
        r.socks[j] = t;
    }
    for (int i = 0; i < r.nsocks; i++)
        CHECK(nn_close(r.socks[i]) == 0);
    finish(&r, kind, tcp);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    long inproc_rounds = soak() ? 30000 : under_sanitizer() ? 600 : 1200;
    long tcp_rounds = soak() ? 10000 : under_sanitizer() ? 300 : 500;
    tcp_port[0] = free_port();
    tcp_port[1] = free_port();
    unsigned rng = (unsigned) getpid();
    double t0 = tu_now();
    for (long n = 0; n < inproc_rounds; n++)
        one_round(n, &rng, false);
    double t1 = tu_now();
    for (long n = 0; n < tcp_rounds; n++)
        one_round(n, &rng, true);
    double t2 = tu_now();
    printf("  %ld inproc rounds in %.1f s, %ld tcp rounds in %.1f s; %ld calls released with "
           "EBADF, %ld polls returned otherwise, %ld nn_poll returns\n",
           inproc_rounds, t1 - t0, tcp_rounds, t2 - t1, (long) atomic_load(&returned_ebadf),
           (long) atomic_load(&returned_other), (long) atomic_load(&poll_returns));
    TEST_DONE();
}
