/* test_fault_term_race.c: nn_term racing with nn_send, nn_recv, nn_poll,
   nn_device and nn_close in other threads, over inproc and tcp. nn_term is
   final for a process, so each race is a child process (this program run
   again): it builds several connected socket sets, starts threads that
   block in or busily loop on those calls (one thread keeps closing and
   reopening sockets of its own), and calls nn_term at a random moment,
   sometimes from a second thread while the main thread runs nn_close on
   the same sockets. Every call must return within 10 s (a hang aborts the
   child, which the parent reports), the blocking ones with EBADF (nn_poll
   may report the socket signalled instead), and nn_socket must then fail
   with ETERM. The parent runs a thousand such children (fewer under
   sanitizers, ten times more with FM_SOAK=1), two at a time. */
#include "testutil.h"

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/reqrep.h>

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_CALLS 24

/* ---------------------------------------------------------- the child */

enum op { OP_RECV, OP_SEND, OP_POLL, OP_DEVICE, OP_BUSY, OP_CHURN };
static const char *const op_names[] = {"nn_recv", "nn_send",    "nn_poll",
                                       "nn_device", "busy send/recv", "socket churn"};

struct call {
    enum op op;
    int s, s2;
    int rc, err;
    pthread_t th;
};

static struct call calls[MAX_CALLS];
static int ncalls;
static int socks[64];
static int nsocks;
static atomic_int running;

static void *call_main(void *arg)
{
    struct call *c = arg;
    char buf[64];
    atomic_fetch_add(&running, 1);
    errno = 0;
    switch (c->op) {
    case OP_RECV:
        while ((c->rc = nn_recv(c->s, buf, sizeof(buf), 0)) >= 0)
            ;
        break;
    case OP_SEND:
        while ((c->rc = nn_send(c->s, "0123456789", 10, 0)) >= 0)
            ;
        break;
    case OP_POLL: {
        struct nn_pollfd pf[2] = {{c->s, NN_POLLIN, 0}, {c->s2, NN_POLLIN, 0}};
        for (;;) {
            c->rc = nn_poll(pf, 2, -1);
            if (c->rc < 0)
                break;
            if (nn_recv(c->s, buf, sizeof(buf), NN_DONTWAIT) < 0 && errno == EBADF)
                break;
            if (nn_recv(c->s2, buf, sizeof(buf), NN_DONTWAIT) < 0 && errno == EBADF)
                break;
        }
        break;
    }
    case OP_DEVICE:
        c->rc = nn_device(c->s, c->s2);
        break;
    case OP_BUSY:
        for (;;) {
            c->rc = nn_send(c->s, "busy", 4, NN_DONTWAIT);
            if (c->rc < 0 && errno != EAGAIN)
                break;
            c->rc = nn_recv(c->s, buf, sizeof(buf), NN_DONTWAIT);
            if (c->rc < 0 && errno != EAGAIN)
                break;
        }
        break;
    case OP_CHURN:
        /* Open, connect, close, until the library says it is terminating. */
        for (int i = 0;; i++) {
            int s = nn_socket(AF_SP, NN_PAIR);
            if (s < 0) {
                c->rc = s;
                break;
            }
            char addr[64];
            snprintf(addr, sizeof(addr), "inproc://term-churn-%d", i % 4);
            nn_connect(s, addr);
            nn_close(s); /* EBADF if nn_term got there first: fine */
        }
        break;
    }
    c->err = errno;
    return NULL;
}

static void start(enum op op, int s, int s2)
{
    struct call *c = &calls[ncalls++];
    c->op = op;
    c->s = s;
    c->s2 = s2;
    if (pthread_create(&c->th, NULL, call_main, c) != 0)
        exit(3);
}

static int sock(int domain, int type)
{
    int s = nn_socket(domain, type);
    if (s < 0)
        exit(3);
    int zero = 0;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_LINGER, &zero, sizeof(zero));
    socks[nsocks++] = s;
    return s;
}

static void link_socks(int b, int c, const char *addr)
{
    if (nn_bind(b, addr) < 0 || nn_connect(c, addr) < 0)
        exit(3);
}

static void *term_main(void *arg)
{
    (void) arg;
    nn_term();
    return NULL;
}

static int role_child(unsigned seed, int port)
{
    char tcp_a[64], tcp_b[64];
    snprintf(tcp_a, sizeof(tcp_a), "tcp://127.0.0.1:%d", port);
    snprintf(tcp_b, sizeof(tcp_b), "tcp://127.0.0.1:%d", port + 1);
    bool tcp = seed % 3 == 0;

    /* Receivers and a poller on a pair. */
    int a = sock(AF_SP, NN_PAIR), b = sock(AF_SP, NN_PAIR);
    link_socks(a, b, tcp ? tcp_a : "inproc://term-pair");
    start(OP_RECV, a, -1);
    start(OP_RECV, b, -1);
    start(OP_POLL, a, b);
    /* A blocked sender. */
    int lone = sock(AF_SP, NN_PUSH);
    start(OP_SEND, lone, -1);
    /* A device with traffic through it. */
    int front = sock(AF_SP_RAW, NN_REP), back = sock(AF_SP_RAW, NN_REQ);
    int req = sock(AF_SP, NN_REQ), rep = sock(AF_SP, NN_REP);
    link_socks(front, req, "inproc://term-front");
    link_socks(back, rep, tcp ? tcp_b : "inproc://term-back");
    start(OP_DEVICE, front, back);
    start(OP_RECV, rep, -1);
    nn_send(req, "through", 7, NN_DONTWAIT);
    start(OP_RECV, req, -1);
    /* Busy traffic, and a thread opening and closing sockets. */
    int c1 = sock(AF_SP, NN_PAIR), c2 = sock(AF_SP, NN_PAIR);
    link_socks(c1, c2, "inproc://term-busy");
    start(OP_BUSY, c1, -1);
    start(OP_BUSY, c2, -1);
    start(OP_CHURN, -1, -1);

    /* A random moment. */
    unsigned x = seed * 2654435761u;
    if (x % 4) {
        while (atomic_load(&running) < ncalls)
            sched_yield();
        struct timespec ts = {0, (long) ((x >> 8) % 3000) * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_t term;
    bool from_thread = (x >> 4) % 2;
    if (from_thread) {
        /* nn_term in one thread while this one closes some sockets. */
        if (pthread_create(&term, NULL, term_main, NULL) != 0)
            exit(3);
        for (int i = 0; i < nsocks; i += 2)
            nn_close(socks[i]); /* 0, or EBADF when nn_term was first */
        pthread_join(term, NULL);
    } else {
        nn_term();
    }

    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += 10;
    int bad = 0;
    for (int i = 0; i < ncalls; i++) {
        struct call *c = &calls[i];
        if (pthread_timedjoin_np(c->th, NULL, &end) != 0) {
            fprintf(stderr, "HANG (seed %u): %s on socket %d did not return 10 s after nn_term\n",
                    seed, op_names[c->op], c->s);
            abort();
        }
        bool ok = c->op == OP_POLL ? c->rc >= 0 || c->err == EBADF
                  : c->op == OP_CHURN ? c->rc == -1 && c->err == ETERM
                                      : c->rc == -1 && c->err == EBADF;
        if (!ok) {
            fprintf(stderr, "seed %u: %s returned %d errno %d (%s) after nn_term\n", seed,
                    op_names[c->op], c->rc, c->err, nn_strerror(c->err));
            bad++;
        }
    }
    errno = 0;
    if (nn_socket(AF_SP, NN_PAIR) != -1 || errno != ETERM) {
        fprintf(stderr, "seed %u: nn_socket after nn_term: errno %d\n", seed, errno);
        bad++;
    }
    return bad ? 1 : 0;
}

/* --------------------------------------------------------- the parent */

static int free_port_pair(void)
{
    for (int tries = 0; tries < 100; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in in = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(in);
        int port = -1;
        if (bind(fd, (struct sockaddr *) &in, sizeof(in)) == 0 &&
            getsockname(fd, (struct sockaddr *) &in, &len) == 0)
            port = ntohs(in.sin_port);
        close(fd);
        if (port > 0 && port < 65535) {
            /* and the one after it */
            fd = socket(AF_INET, SOCK_STREAM, 0);
            in.sin_port = htons((uint16_t) (port + 1));
            bool ok = bind(fd, (struct sockaddr *) &in, sizeof(in)) == 0;
            close(fd);
            if (ok)
                return port;
        }
    }
    return -1;
}

static pid_t spawn_child(unsigned seed, int port)
{
    char s[16], p[16];
    snprintf(s, sizeof(s), "%u", seed);
    snprintf(p, sizeof(p), "%d", port);
    char *argv[] = {"test_fault_term_race", "--child", s, p, NULL};
    pid_t pid;
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) != 0)
        return -1;
    return pid;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGPIPE, SIG_IGN);
        return role_child((unsigned) strtoul(argv[2], NULL, 10), atoi(argv[3]));
    }
    int children = soak() ? 10000 : under_sanitizer() ? 150 : 1000;
    /* Two slots, each with its own pair of tcp ports. */
    int ports[2] = {free_port_pair(), free_port_pair()};
    CHECK(ports[0] > 0 && ports[1] > 0);
    pid_t slot[2] = {0, 0};
    unsigned seeds[2] = {0, 0};
    int started = 0, finished = 0, failed = 0;
    unsigned base = (unsigned) getpid() * 7919u;
    double t0 = tu_now();
    while (finished < children) {
        for (int i = 0; i < 2; i++)
            if (!slot[i] && started < children) {
                seeds[i] = base + (unsigned) started++;
                slot[i] = spawn_child(seeds[i], ports[i]);
                CHECK(slot[i] > 0);
            }
        int st;
        pid_t pid = wait(&st);
        if (pid < 0)
            break;
        for (int i = 0; i < 2; i++)
            if (slot[i] == pid) {
                slot[i] = 0;
                finished++;
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                    failed++;
                    fprintf(stderr, "child seed %u: %s %d\n", seeds[i],
                            WIFSIGNALED(st) ? "killed by signal" : "exit",
                            WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
                }
            }
    }
    CHECK(failed == 0);
    printf("  %d processes, each nn_term racing %d threads' calls: %d failed, %.1f s\n",
           children, 10, failed, tu_now() - t0);
    TEST_DONE();
}
